"""The ``admedtagger`` command line: parse arguments, call a stage function, print.

Each command is a thin shell over a library function in ``warehouse``, ``labeling``,
``cleaning`` or ``students``; nothing here is worth testing without the CLI. Errors a
user can fix (:class:`UserError`) print as one line and exit with status 2.
"""

from __future__ import annotations

import json
import sys
from contextlib import contextmanager
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Iterator, Optional

import duckdb
import pyarrow as pa
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from admedtagger.warehouse import (
    CONFIG_NAME,
    Config,
    UserError,
    connect,
    ingest as ingest_files,
    load_config,
    record_run,
    render_config,
    sync_categories,
)
from admedtagger.warehouse import query

app = typer.Typer(
    help="Weak-supervision labelling of medical texts: LLM and keyword labelling functions, "
    "a label model, a review queue and small student classifiers, all in one DuckDB file.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
console = Console()
err_console = Console(stderr=True)


class OutputFormat(str, Enum):
    table = "table"
    csv = "csv"
    json = "json"
    parquet = "parquet"


@dataclass
class State:
    config: Config
    db_override: Optional[Path]

    @property
    def db_path(self) -> Path:
        return self.config.db_path(self.db_override)

    def open(self) -> duckdb.DuckDBPyConnection:
        """A writable connection with the schema up to date and the taxonomy stored."""
        con = connect(self.db_path)
        if not con.execute("SELECT count(*) FROM categories").fetchall()[0][0]:
            sync_categories(con, self.config)
        return con


def state(ctx: typer.Context) -> State:
    return ctx.ensure_object(State)


@contextmanager
def user_errors() -> Iterator[None]:
    try:
        yield
    except UserError as exc:
        err_console.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(2)


def progress_bar() -> Progress:
    return Progress(
        SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
        TimeElapsedColumn(), TextColumn("{task.fields[info]}"), console=err_console, transient=True,
    )


def emit(table: pa.Table, fmt: OutputFormat = OutputFormat.table, out: Optional[Path] = None,
         title: Optional[str] = None) -> None:
    """Print or write a result table in the chosen format."""
    if fmt is OutputFormat.table:
        if out is not None:
            raise UserError("--out needs --format csv, json or parquet")
        console.print(rich_table(table, title))
        return
    text = query.write_table(table, fmt.value, out)
    if text is not None:
        sys.stdout.write(text if text.endswith("\n") or not text else text + "\n")
    elif out is not None:
        err_console.print(f"wrote {table.num_rows} rows to {out}")


def rich_table(table: pa.Table, title: Optional[str] = None, max_cell: int = 80) -> Table:
    shown = Table(title=title, title_justify="left", header_style="bold")
    for name in table.column_names:
        shown.add_column(name, overflow="fold")
    for row in table.to_pylist():
        cells = []
        for value in row.values():
            text = "" if value is None else (json.dumps(value, default=str) if isinstance(value, (list, dict)) else str(value))
            cells.append(text if len(text) <= max_cell else text[: max_cell - 1] + "…")
        shown.add_row(*cells)
    return shown


@app.callback()
def main_options(
    ctx: typer.Context,
    db: Optional[Path] = typer.Option(
        None, "--db", help="Warehouse file (default: $ADMEDTAGGER_DB, the config's, ./admedtagger.duckdb)."
    ),
) -> None:
    with user_errors():
        ctx.obj = State(config=load_config(), db_override=db)


# --- foundation: init, ingest, sql, export, status ---------------------------------------


@app.command()
def init(
    ctx: typer.Context,
    folder: Path = typer.Argument(Path("."), help="Project folder (created if missing)."),
    language: str = typer.Option("pl", help="Language pack: pl or en."),
    force: bool = typer.Option(False, help="Overwrite an existing admedtagger.toml."),
) -> None:
    """Write admedtagger.toml (taxonomy, language, paths) and create the warehouse."""
    with user_errors():
        if language not in ("pl", "en"):
            raise UserError(f"--language must be pl or en, got {language!r}")
        folder.mkdir(parents=True, exist_ok=True)
        config_path = folder / CONFIG_NAME
        if config_path.exists() and not force:
            err_console.print(f"{config_path} exists; keeping it (use --force to overwrite)")
        else:
            config_path.write_text(render_config(language), encoding="utf-8")
            err_console.print(f"wrote {config_path}")
        config = load_config(config_path)
        st = State(config=config, db_override=state(ctx).db_override)
        con = connect(st.db_path)
        sync_categories(con, config)
        con.close()
        err_console.print(f"warehouse ready at {st.db_path}")


@app.command()
def ingest(
    ctx: typer.Context,
    paths: list[Path] = typer.Argument(..., help="Files (.jsonl, .csv, .tsv, .parquet) or folders of .txt."),
    text_col: str = typer.Option("text", help="Column holding the text."),
    id_col: Optional[str] = typer.Option(None, help="Column holding your document id (default: hash of the text)."),
    label_col: Optional[str] = typer.Option(None, help="Column of known labels: stored as imported gold, not shown to LFs."),
    batch_size: int = typer.Option(20_000, min=1, help="Rows per committed batch."),
) -> None:
    """Load texts into `documents`; bad rows go to `ingest_rejects` with file, line and reason."""
    st = state(ctx)
    with user_errors():
        con = st.open()
        params = {"paths": [str(p) for p in paths], "text_col": text_col, "id_col": id_col, "label_col": label_col}
        with record_run(con, "ingest", params) as run, progress_bar() as bar:
            task = bar.add_task("ingest", total=None, info="")
            stats = ingest_files(
                con, paths, text_col=text_col, id_col=id_col, label_col=label_col,
                max_text_chars=st.config.max_text_chars, batch_size=batch_size, run_id=run.run_id,
                on_progress=lambda n: bar.update(task, completed=n, info=f"{n:,} rows"),
            )
            run.metrics = stats.as_dict()
        con.close()
    console.print(
        f"ingested {stats.inserted:,} new documents from {stats.rows_read:,} rows in {stats.seconds:.1f} s "
        f"({stats.already_present:,} already present, {stats.duplicates:,} duplicates, "
        f"{stats.rejected:,} rejected, {stats.gold_imported:,} gold labels)"
    )
    for reason, count in sorted(stats.reject_reasons.items(), key=lambda kv: -kv[1]):
        console.print(f"  rejected {count:,}: {reason}")
    if stats.rejected:
        console.print("  details: admedtagger sql \"select * from ingest_rejects\"")
    if stats.rows_read and stats.rejected == stats.rows_read:
        err_console.print("[red]error:[/red] no row could be ingested")
        raise typer.Exit(1)


@app.command()
def sql(
    ctx: typer.Context,
    statement: str = typer.Argument(..., help="One SQL query (read-only)."),
    format: OutputFormat = typer.Option(OutputFormat.table, "--format", "-f"),
    out: Optional[Path] = typer.Option(None, help="Write to this file instead of printing."),
) -> None:
    """Run a read-only SQL query against the warehouse."""
    with user_errors():
        emit(query.run_sql(state(ctx).db_path, statement), format, out)


@app.command()
def export(ctx: typer.Context, folder: Path = typer.Argument(..., help="Output folder.")) -> None:
    """Write every table and view as Parquet (large tables partitioned)."""
    with user_errors():
        con = state(ctx).open()
        written = query.export_parquet(con, folder)
        con.close()
    emit(pa.table({"name": [w[0] for w in written], "rows": [w[1] for w in written], "path": [w[2] for w in written]}))


@app.command()
def status(
    ctx: typer.Context,
    format: OutputFormat = typer.Option(OutputFormat.table, "--format", "-f"),
) -> None:
    """Counts per table, the categories and the latest runs."""
    with user_errors():
        st = state(ctx)
        con = st.open()
        counts, cats, runs = query.table_counts(con), query.category_table(con), query.latest_runs(con)
        con.close()
    if format is OutputFormat.table:
        console.print(f"warehouse: {st.db_path}  (config: {st.config.path or 'defaults'}, language {st.config.language})")
        console.print(rich_table(counts, "tables"))
        console.print(rich_table(cats, "categories"))
        console.print(rich_table(runs, "latest runs"))
    else:
        emit(counts, format)


# --- labeling (issue 3): label ---------------------------------------------------------


# --- label model (issue 4): label-model, lfs --------------------------------------------


# --- cleaning (issue 5): flag, review, gold -----------------------------------------------


# --- students (issue 6): train, evaluate, compare, predict --------------------------------


# --- whole pipeline (issue 7): demo, report, bench ------------------------------------------


def main() -> None:
    app()


if __name__ == "__main__":
    main()
