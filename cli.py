"""The ``admedtagger`` command line: parse arguments, call a stage function, print.

Each command is a thin shell over a library function in ``warehouse``, ``labeling``,
``cleaning`` or ``students``; nothing here is worth testing without the CLI. Errors a
user can fix (:class:`UserError`) print as one line and exit with status 2.
"""

from __future__ import annotations

import json
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Annotated, Iterator, Optional

import pyarrow as pa
import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from admedtagger.warehouse import CONFIG_NAME, Config, UserError, load_config
from admedtagger.warehouse import query
from admedtagger.warehouse.paths import output_file, output_folder
from admedtagger.warehouse.project import init_project, open_warehouse

app = typer.Typer(
    help="Weak-supervision labelling of medical texts: LLM and keyword labelling functions, "
    "a label model, a review queue and small student classifiers, all in one DuckDB file.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
# Piped output (logs, CI) gets wide tables instead of rich's 80-column default.
_WIDTH = None if sys.stdout.isatty() else 160
console = Console(width=_WIDTH)
err_console = Console(stderr=True, width=_WIDTH)


class OutputFormat(str, Enum):
    table = "table"
    csv = "csv"
    json = "json"
    parquet = "parquet"


# The output options every command that prints a table shares (see :func:`emit`).
FormatOption = Annotated[OutputFormat, typer.Option("--format", "-f", help="table, csv, json (lines) or parquet.")]
OutOption = Annotated[Optional[Path], typer.Option("--out", help="Write to this file (csv, json or parquet) instead of printing.")]


@dataclass
class State:
    config: Config
    db_override: Optional[Path]

    @property
    def db_path(self) -> Path:
        return self.config.db_path(self.db_override)

    def connection(self, write: bool = False, create: bool = False, lock_wait: Optional[float] = None):
        """The project's warehouse for one command (see :func:`open_warehouse`)."""
        return open_warehouse(self.config, self.db_override, write=write, create=create, lock_wait=lock_wait)


def state(ctx: typer.Context) -> State:
    return ctx.ensure_object(State)


@contextmanager
def user_errors() -> Iterator[None]:
    try:
        yield
    except UserError as exc:
        err_console.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False, soft_wrap=True)
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
    if out is not None:
        output_file(out)
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


# --- project and warehouse: init, ingest, sql, export, status


@app.command()
def init(
    ctx: typer.Context,
    folder: Path = typer.Argument(Path("."), help="Project folder (created if missing)."),
    language: str = typer.Option("pl", help="Language pack: pl or en."),
    force: bool = typer.Option(False, help="Overwrite an existing admedtagger.toml."),
) -> None:
    """Write admedtagger.toml (taxonomy, language, paths) and create the warehouse."""
    with user_errors():
        result = init_project(folder, language, force=force, db=state(ctx).db_override)
    config = result.config
    err_console.print(f"wrote {config.path}" if result.config_written else
                      f"{config.path} exists; kept it (use --force to overwrite)", markup=False, highlight=False)
    err_console.print(f"warehouse ready at {result.db_path}", markup=False, highlight=False)
    enabled = config.section("label").get("python")
    err_console.print(
        f"Python LFs enabled in {CONFIG_NAME}: [label] python = {json.dumps(enabled)}" if enabled is not None else
        f"Python LFs are code and never run unless enabled: to run lfs.py, add [label] python = [\"lfs.py\"] "
        f"to {CONFIG_NAME}", markup=False, highlight=False, soft_wrap=True)


@app.command()
def ingest(
    ctx: typer.Context,
    paths: list[Path] = typer.Argument(..., help="Files (.jsonl, .csv, .tsv, .parquet) or folders: each .txt in them "
                                       "is a document, files of those formats are read too, others are listed as skipped."),
    text_col: str = typer.Option("text", help="Column holding the text."),
    id_col: Optional[str] = typer.Option(None, help="Column holding your document id (default: hash of the text)."),
    label_col: Optional[str] = typer.Option(None, help="Column of known labels: stored as imported gold, not shown to LFs."),
    batch_size: int = typer.Option(20_000, min=1, help="Rows per committed batch."),
) -> None:
    """Load texts into `documents`; bad rows go to `ingest_rejects` with file, line and reason."""
    from admedtagger.warehouse.ingest import plan_ingest, run_ingest

    st = state(ctx)
    with user_errors():
        # Missing files or columns, unreadable Parquet: refused before the warehouse is touched.
        plan = plan_ingest(paths, text_col=text_col, id_col=id_col, label_col=label_col)
        with st.connection(write=True, create=True) as con, progress_bar() as bar:
            task = bar.add_task("ingest", total=None, info="")
            stats = run_ingest(
                con, plan, max_text_chars=st.config.max_text_chars, batch_size=batch_size,
                on_progress=lambda n: bar.update(task, completed=n, info=f"{n:,} rows"),
            )
    console.print(
        f"ingested {stats.inserted:,} new documents from {stats.rows_read:,} rows in {stats.seconds:.1f} s "
        f"({stats.already_present:,} already present, {stats.duplicates:,} duplicates, "
        f"{stats.rejected:,} rejected, {stats.gold_imported:,} gold labels)"
    )
    for phrase, count in stats.reject_summary():
        console.print(f"  rejected {count:,}: {phrase}", highlight=False, markup=False)
    if stats.rejected:
        console.print("  details: admedtagger sql \"select * from ingest_rejects\"")
    if stats.files_skipped:
        console.print(f"  skipped {stats.files_skipped:,} file{'' if stats.files_skipped == 1 else 's'}:",
                      highlight=False)
        for path, why in stats.skipped[:20]:
            console.print(f"    {path}: {why}", highlight=False, markup=False, soft_wrap=True)
        if stats.files_skipped > 20:
            console.print(f"    … and {stats.files_skipped - 20:,} more (all listed in the run's metrics, table runs)")
    if stats.rejected and not (stats.inserted or stats.already_present or stats.duplicates):
        err_console.print("[red]error:[/red] no row could be ingested")
        raise typer.Exit(1)


@app.command()
def sql(
    ctx: typer.Context,
    statement: str = typer.Argument(..., help="One SQL query (read-only)."),
    format: FormatOption = OutputFormat.table,
    out: OutOption = None,
    allow_file_access: bool = typer.Option(
        False, "--allow-file-access",
        help="Let the query read your files (read_csv, read_parquet, glob, ...). Still read-only, one statement, "
        "no ATTACH, no extensions."),
) -> None:
    """Run one read-only query against the warehouse; it sees the warehouse and nothing else.

    COPY, EXPORT, ATTACH, INSTALL/LOAD, SET/PRAGMA settings, several statements and reading
    files are refused; write results with --format and --out.
    """
    with user_errors():
        if allow_file_access:
            err_console.print("warning: --allow-file-access: this query may read any file you can read "
                              "(the warehouse stays read-only)", highlight=False, soft_wrap=True)
        emit(query.run_sql(state(ctx).db_path, statement, allow_file_access=allow_file_access), format, out)


@app.command()
def export(ctx: typer.Context, folder: Path = typer.Argument(..., help="Output folder.")) -> None:
    """Write every table and view as Parquet (large tables partitioned)."""
    with user_errors(), state(ctx).connection() as con:
        written = query.export_parquet(con, output_folder(folder))
    emit(pa.table({"name": [w[0] for w in written], "rows": [w[1] for w in written], "path": [w[2] for w in written]}))


@app.command()
def status(
    ctx: typer.Context,
    format: FormatOption = OutputFormat.table,
) -> None:
    """Counts per table, the categories and the latest runs."""
    with user_errors():
        st = state(ctx)
        with st.connection() as con:
            counts, cats, runs = query.table_counts(con), query.category_table(con), query.latest_runs(con)
    if format is OutputFormat.table:
        console.print(f"warehouse: {st.db_path}  (config: {st.config.path or 'defaults'}, language {st.config.language})")
        console.print(rich_table(counts, "tables"))
        console.print(rich_table(cats, "categories"))
        console.print(rich_table(runs, "latest runs"))
    else:
        emit(counts, format)


# --- labelling functions: label


class LFKind(str, Enum):
    keyword = "keyword"
    llm = "llm"
    embedding = "embedding"
    python = "python"


class LLMBackend(str, Enum):
    transformers = "transformers"
    vllm = "vllm"
    openai = "openai"


class LLMEngine(str, Enum):
    local = "local"
    ray = "ray"


@app.command()
def label(
    ctx: typer.Context,
    lf: Optional[list[str]] = typer.Option(None, "--lf", help="Run only this LF (repeat), e.g. kw_oncology."),
    kind: Optional[list[LFKind]] = typer.Option(
        None, "--kind",
        help="Run the LFs of this kind (repeat). Default: \\[label] kinds in admedtagger.toml, else keyword, python and embedding; "
        "llm runs only when asked for, because LLM labelling is slow on a CPU."),
    backend: Optional[LLMBackend] = typer.Option(None, help="LLM backend for --kind llm (default: the config's, else transformers)."),
    model: Optional[str] = typer.Option(None, help="LLM id or folder (default: the bundled SmolLM2-135M-Instruct)."),
    base_url: Optional[list[str]] = typer.Option(None, "--base-url", help="OpenAI-compatible server URL (repeat to spread the load)."),
    engine: Optional[LLMEngine] = typer.Option(
        None, help="Where the LLM backend runs: local (this process) or ray (replicas on a Ray cluster; "
        "pip install 'admedtagger[ray]'). Default: the config's, else local."),
    ray_address: Optional[str] = typer.Option(None, help="Ray cluster to join with --engine ray (default: this machine's)."),
    replicas: Optional[str] = typer.Option(None, help="Copies of the backend with --engine ray: N, or MIN-MAX to autoscale (default 1)."),
    max_prompt_tokens: Optional[int] = typer.Option(None, min=16, help="Token budget per text in LLM prompts (longer texts are truncated)."),
    limit: Optional[int] = typer.Option(
        None, min=1, help="Only the first N documents in a fixed pseudo-random order (md5 of doc_id): a reproducible sample; "
        "a larger N later extends the same sample."),
    batch_size: Optional[int] = typer.Option(None, min=1, help="Documents per committed batch (default: set by the slowest LF kind)."),
) -> None:
    """Apply labelling functions to the documents that lack a vote from their current version.

    Votes are committed batch by batch: an interrupted run keeps what it finished and a rerun
    continues; a changed lexicon, prompt or function gets new votes everywhere.
    """
    from admedtagger.labeling.registry import build_lfs
    from admedtagger.labeling.runner import apply_lfs

    st = state(ctx)
    options = {k: v for k, v in {"base_url": base_url, "max_prompt_tokens": max_prompt_tokens,
                                 "engine": engine.value if engine else None, "ray_address": ray_address,
                                 "replicas": replicas}.items() if v}
    with user_errors():
        with st.connection(write=True) as con:
            with progress_bar() as bar:
                task = bar.add_task("building LFs", total=None, info="")
                lfs = build_lfs(
                    con, st.config, kinds=[k.value for k in kind or []], names=lf or None,
                    backend=backend.value if backend else None, model=model, options=options,
                )

                def show(p) -> None:
                    eta = "?" if p.eta_seconds is None else time.strftime("%H:%M:%S", time.gmtime(p.eta_seconds))
                    bar.update(task, description="labelling", completed=p.done, total=p.total,
                               info=f"{p.texts_per_s:,.1f} texts/s · ETA {eta} · abstain {p.abstain_rate:.0%}")

                bar.update(task, description=f"{len(lfs)} LFs: finding work")
                params = {"kinds": sorted({x.kind for x in lfs}), "backend": backend.value if backend else None,
                          "model": model, "options": options}
                result = apply_lfs(con, lfs, limit=limit, batch_size=batch_size, params=params, on_progress=show)
    if not result.documents:
        console.print(f"run {result.run_id}: nothing to do, every selected LF has voted on every document "
                      f"({len(result.lfs)} LFs)")
        return
    rows = []
    for name, m in result.lfs.items():
        texts = m["texts"]
        rows.append({
            "lf": name, "kind": m["kind"], "texts": texts,
            "coverage": f"{m['votes'] / texts:.1%}" if texts else "",
            "abstain": f"{m['abstain_rate']:.1%}" if texts else "",
            "texts/s": f"{m['texts_per_s']:,.1f}" if m.get("texts_per_s") else "",
            "model calls": m.get("model_calls"), "cache hits": m.get("cache_hits"),
        })
    console.print(f"run {result.run_id}: {result.documents:,} documents in {result.seconds:.1f} s")
    summary = rich_table(pa.Table.from_pylist(rows), "votes written per LF")
    summary.columns[0].no_wrap = True
    console.print(summary)


# --- label model: label-model, lfs


class LabelModelChoice(str, Enum):
    auto = "auto"
    majority = "majority"
    confidence = "confidence"
    dawid_skene = "dawid_skene"
    snorkel = "snorkel"


@app.command("label-model")
def label_model(
    ctx: typer.Context,
    model: Optional[LabelModelChoice] = typer.Option(
        None, help="Model family; auto picks the best on the dev gold split, without gold the confidence model "
        "unless it lost a category (default: label_model.model in the config, else auto)."),
    lf: Optional[list[str]] = typer.Option(None, "--lf", help="Use only this LF (repeat); default: every LF with current votes."),
    epochs: Optional[list[int]] = typer.Option(None, help="Snorkel epochs to try on dev gold (repeat; default 500, 100, 2000)."),
    lr: Optional[list[float]] = typer.Option(None, help="Snorkel learning rates to try (repeat; default 0.01, 0.003)."),
    prior: Optional[list[str]] = typer.Option(None, help="Class priors to try: uniform, majority, dev (repeat; default all)."),
    tie_break: Optional[str] = typer.Option(None, help="Equal top scores: prior (the corpus' more frequent class) or abstain."),
    seed: Optional[int] = typer.Option(None, help="Random seed (default 0)."),
) -> None:
    """Combine the LFs' votes into weak labels, "none" included (confidence model, majority vote, Dawid-Skene, Snorkel)."""
    from admedtagger.labeling.label_model import fit_label_model
    from admedtagger.labeling.selection import Options

    st = state(ctx)
    with user_errors():
        options = Options.from_config(
            st.config.section("label_model"), model=model.value if model else None, lfs=lf, epochs=epochs, lr=lr,
            priors=prior, tie_break=tie_break, seed=seed,
        )
        with st.connection(write=True) as con:
            with progress_bar() as bar:
                task = bar.add_task("label model", total=None, info="")
                result = fit_label_model(
                    con, options,
                    on_progress=lambda step, done, total: bar.update(task, description=step, completed=done, total=total),
                )
    m = result.metrics
    console.print(f"run {result.run_id}: chosen [bold]{m['chosen']}[/bold] ({m['choice']})")
    console.print(
        f"documents {m['documents']:,}: {m['labelled']:,} labelled with a category, {m['none']:,} none "
        f"({m['all_abstain']:,} where every LF abstained), {m['unvoted']:,} without votes (no weak label); "
        f"{m['report_rule']:,} decided by a report LF"
    )
    console.print("time: " + ", ".join(f"{step} {s:.2f} s" for step, s in m["seconds"].items()), highlight=False)
    if len(result.trials) > 1 or result.trials[0].dev_scores is not None:
        console.print(rich_table(result.candidates_table(), f"candidates on the dev gold split ({m['dev_gold']:,} documents)"))
    if result.test_scores:
        console.print(rich_table(result.chosen_scores_table(), f"{m['chosen']} on the gold test split ({m['test_gold']:,} documents)"))
        console.print(rich_table(result.f1_table(), "F1 on the gold test split: label model and each LF"))
    else:
        console.print("no gold test split: nothing to evaluate against (import gold labels or review documents)")


@app.command()
def lfs(
    ctx: typer.Context,
    lf: Optional[list[str]] = typer.Option(None, "--lf", help="Analyse only this LF (repeat)."),
    long: bool = typer.Option(False, "--long", help="Every stored metric, per category too (the lf_analysis rows)."),
    format: FormatOption = OutputFormat.table,
    out: OutOption = None,
) -> None:
    """Per LF: kind, polarity, coverage, overlaps, conflicts, dev gold accuracy, learned weights."""
    from admedtagger.labeling.analysis import analyse_lfs, summary_table

    with user_errors():
        with state(ctx).connection(write=True) as con:
            run_id, table, analysed = analyse_lfs(con, lf or None)
        emit(table if long else summary_table(table, analysed), format, out, title=f"LF analysis ({run_id})")


# --- cleaning: flag, review, gold


def _say(text: str) -> None:
    """One plain, unwrapped line: ids and paths print as they are, whole, for copying and grepping."""
    console.print(text, markup=False, highlight=False, soft_wrap=True)


@app.command("flag")
def flag_command(
    ctx: typer.Context,
    include_reviewed: bool = typer.Option(False, "--include-reviewed", help="Flag reviewed documents too."),
    folds: Optional[int] = typer.Option(None, min=2, help="Cross-validation folds (default: \\[flag] folds, else 5)."),
    features: Optional[str] = typer.Option(
        None, help="char, word, embeddings or auto (default: \\[flag] features, else auto = char n-grams up to "
        "\\[flag] fast_above documents, word n-grams above)."),
    seed: Optional[int] = typer.Option(None, help="Seed of the fold split and the classifier (default 0)."),
) -> None:
    """Find suspect weak labels: cleanlab on cross-validated probabilities, LF conflicts, unsure label model.

    Writes the flags, worst first, to `label_issues`; `admedtagger review` walks through them.
    """
    from admedtagger.cleaning import FlagSettings, flag_labels

    st = state(ctx)
    steps = {"vectorise": "vectorising texts", "fold": "cross-validation folds"}
    with user_errors():
        settings = FlagSettings.from_config(st.config.section("flag"), folds=folds, features=features, seed=seed)
        with st.connection(write=True) as con:
            with progress_bar() as bar:
                task = bar.add_task("loading weak labels", total=None, info="")
                result = flag_labels(
                    con, settings, include_reviewed=include_reviewed,
                    on_progress=lambda step, done, total: bar.update(
                        task, description=steps[step], completed=done, total=total, info=""),
                )
    m = result.metrics
    _say(
        f"run {result.run_id}: {m['flags']:,} flags among {m['candidates']:,} documents "
        f"({m['reviewed']:,} reviewed{' and included' if include_reviewed else ', not flagged again'}); "
        f"features {m['features']}, cross-validated accuracy against the given labels {m['cv_accuracy']:.1%}"
    )
    _say(
        f"estimated share of wrong weak labels (cleanlab): {m['estimated_wrong_share']:.1%} "
        f"(~{m['estimated_wrong_labels']:,} documents)",
    )
    rows = [{"category": name, "flags": n, "estimated wrong": f"{m['estimated_wrong_share_per_category'][name]:.1%}"}
            for name, n in m["flags_per_category"].items()]
    console.print(rich_table(pa.Table.from_pylist(rows), "flags per category"))
    _say("flags per reason: " + ", ".join(f"{r} {n:,}" for r, n in m["flags_per_reason"].items()))
    _say("time: " + ", ".join(f"{step} {s:.2f} s" for step, s in m["seconds"].items()))
    if m["flags"]:
        _say("next: `admedtagger review` (or `review list`, `review export --format label-studio FILE`)")


review_app = typer.Typer(
    help="Review flagged weak labels. Plain `admedtagger review` starts the terminal reviewer, worst first "
    "(Enter/a accept, 1-K or a name relabel, 0/n none of these, s skip, u undo, note TEXT, q quit; every "
    "decision is saved at once, and answers may be piped in, one per line); the subcommands serve scripts "
    "and Label Studio.",
    invoke_without_command=True,
)
app.add_typer(review_app, name="review")


def _reviewer(st: State, given: Optional[str]) -> str:
    from admedtagger.cleaning import default_reviewer

    return given or default_reviewer(st.config.section("review"))


@review_app.callback()
def review_main(
    ctx: typer.Context,
    reviewer: Optional[str] = typer.Option(None, help="Your name in `reviews` (default: \\[review] reviewer, else $USER)."),
    limit: Optional[int] = typer.Option(None, min=1, help="Review at most N documents."),
) -> None:
    """Start the terminal reviewer unless a subcommand is given."""
    if ctx.invoked_subcommand is not None:
        return
    from admedtagger.cleaning import overlap_share, review_session

    st = state(ctx)
    with user_errors():
        name = _reviewer(st, reviewer)
        section = st.config.section("review")
        max_chars = int(section.get("max_chars", 4000))
        lock_wait = float(section.get("lock_wait", 10))
        try:
            # No connection stays open while the reviewer waits for a key: one per page
            # loaded and per decision written, so other commands can use the warehouse.
            counts = review_session(lambda write: st.connection(write=write, lock_wait=0), name, console,
                                    language=st.config.language, limit=limit, max_chars=max_chars,
                                    lock_wait=lock_wait, overlap=overlap_share(section))
        except KeyboardInterrupt:
            counts = None
            _say("\ninterrupted: every decision made so far is saved")
    if counts:
        _say("this session: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))


@review_app.command("list")
def review_list(
    ctx: typer.Context,
    limit: int = typer.Option(50, min=0, help="At most N rows (0 = all)."),
    reviewer: Optional[str] = typer.Option(None, help="Whose queue (default: \\[review] reviewer, else $USER)."),
    format: FormatOption = OutputFormat.table,
    out: OutOption = None,
) -> None:
    """A reviewer's queue: disputes to adjudicate, second reviews of the overlap share, then the
    flags of the latest flag run nobody decided, worst first."""
    from admedtagger.cleaning import overlap_share, pending_table

    st = state(ctx)
    with user_errors():
        with st.connection() as con:
            table = pending_table(con, limit or None, reviewer=_reviewer(st, reviewer),
                                  overlap=overlap_share(st.config.section("review")))
        emit(table, format, out, title=f"review queue ({table.num_rows} shown)")


@review_app.command("agreement")
def review_agreement(
    ctx: typer.Context,
    format: FormatOption = OutputFormat.table,
    out: OutOption = None,
) -> None:
    """Agreement between reviewers on the documents two of them decided: Cohen's kappa overall,
    per category (one-vs-rest) and per reviewer pair."""
    from admedtagger.cleaning import agreement_table

    with user_errors():
        with state(ctx).connection() as con:
            table = agreement_table(con)
        emit(table, format, out, title=f"reviewer agreement ({table.column('items')[0].as_py()} documents)")


@review_app.command("disputes")
def review_disputes(
    ctx: typer.Context,
    format: FormatOption = OutputFormat.table,
    out: OutOption = None,
) -> None:
    """Documents whose reviewers disagree, one row per reviewer; they wait in the queue for an adjudication."""
    from admedtagger.cleaning import disputes_table

    with user_errors():
        with state(ctx).connection() as con:
            table = disputes_table(con)
        emit(table, format, out, title=f"disputes ({len(set(table.column('doc_id').to_pylist()))} documents)")


@review_app.command("decide")
def review_decide(
    ctx: typer.Context,
    doc_id: str = typer.Argument(..., help="The document's id."),
    accept: bool = typer.Option(False, "--accept", help="The given (weak) label is right."),
    label: Optional[str] = typer.Option(None, "--label", help="The right category (name in any language, or label id)."),
    none: bool = typer.Option(False, "--none", help="The text fits no category."),
    note: Optional[str] = typer.Option(None, help="A note kept with the decision."),
    reviewer: Optional[str] = typer.Option(None, help="Your name (default: \\[review] reviewer, else $USER)."),
) -> None:
    """Record one decision without the interactive reviewer."""
    from admedtagger.cleaning import decide, parse_label

    st = state(ctx)
    with user_errors():
        with st.connection(write=True) as con:
            chosen = parse_label(con, label) if label is not None else None
            saved = decide(con, doc_id, accept=accept, label=chosen, none=none, note=note,
                           reviewer=_reviewer(st, reviewer), source="cli")
    _say(f"saved: {saved.decision} {'' if saved.label is None else saved.label} for {saved.doc_id} "
         f"(review {saved.review_id}{', an adjudication' if saved.adjudication else ''})")


@review_app.command("undo")
def review_undo(
    ctx: typer.Context,
    review_id: Optional[str] = typer.Argument(None, help="The review to cancel (default: your latest decision)."),
    reviewer: Optional[str] = typer.Option(None, help="Your name (default: \\[review] reviewer, else $USER)."),
) -> None:
    """Cancel a decision by appending an 'undo' row (nothing is deleted)."""
    from admedtagger.cleaning import undo

    st = state(ctx)
    with user_errors():
        with st.connection(write=True) as con:
            name = _reviewer(st, reviewer)
            row, undone = undo(con, review_id, None if review_id else name, source="cli")
    _say(f"undone: {undone.decision} on {undone.doc_id} (review {undone.review_id}; undo {row.review_id})")


class ReviewExportFormat(str, Enum):
    label_studio = "label-studio"


@review_app.command("export")
def review_export(
    ctx: typer.Context,
    file: Path = typer.Argument(..., help="Tasks JSON to write (the labelling config goes beside it)."),
    format: ReviewExportFormat = typer.Option(ReviewExportFormat.label_studio, "--format", "-f"),
    limit: Optional[int] = typer.Option(None, min=1, help="At most N tasks, worst first."),
) -> None:
    """Write the pending flags as Label Studio tasks, the weak label as a prediction."""
    from admedtagger.cleaning import export_tasks

    with user_errors():
        with state(ctx).connection() as con:
            n, config = export_tasks(con, output_file(file, "tasks file"), limit)
    _say(f"wrote {n:,} tasks to {file} and the labelling config to {config}")
    _say("in Label Studio: create a project with that config (Settings > Labeling Interface > Code), "
         "import the tasks, annotate, then Export > JSON and `admedtagger review import FILE`")


@review_app.command("import")
def review_import(ctx: typer.Context, file: Path = typer.Argument(..., help="Label Studio's JSON export.")) -> None:
    """Read a Label Studio JSON export into `reviews`; report the tasks that could not be matched."""
    from admedtagger.cleaning import import_annotations

    with user_errors():
        with state(ctx).connection(write=True) as con:
            report = import_annotations(con, file)
    decisions = ", ".join(f"{k} {v}" for k, v in sorted(report.imported.items())) or "none"
    _say(f"{report.tasks:,} tasks: imported {sum(report.imported.values()):,} decisions ({decisions}), "
         f"{report.already:,} imported before, {len(report.unmatched):,} not matched")
    for ref, why in report.unmatched[:20]:
        _say(f"  not matched: {ref}: {why}")
    if len(report.unmatched) > 20:
        _say(f"  ... and {len(report.unmatched) - 20:,} more")
    if report.tasks and not report.imported and not report.already:
        err_console.print("[red]error:[/red] no task could be imported")
        raise typer.Exit(1)


gold_app = typer.Typer(help="The gold set: human labels from reviews and imported files.", no_args_is_help=True)
app.add_typer(gold_app, name="gold")


@gold_app.command("import")
def gold_import(
    ctx: typer.Context,
    file: Path = typer.Argument(..., help="CSV/TSV, JSONL/JSON or Parquet file of known labels."),
    id_col: str = typer.Option("id", "--id-col", help="Column of document ids."),
    label_col: str = typer.Option("label", "--label-col", help="Column of labels (category name or id; other/none = no category)."),
) -> None:
    """Import known labels into `gold_imports` (reviews still override them in `gold`)."""
    from admedtagger.cleaning import import_gold

    with user_errors():
        with state(ctx).connection(write=True) as con:
            report = import_gold(con, file, id_col, label_col)
    _say(f"{report.rows:,} rows: imported {report.imported:,} gold labels ({report.already:,} already there) "
         f"as {report.source}")
    if report.missing:
        _say(f"  skipped {report.missing:,} rows without an id or a label")
    if report.repeated:
        _say(f"  {report.repeated:,} ids repeated in the file: their last row counts")
    if report.unknown_ids:
        shown = ", ".join(report.unknown_ids[:5]) + (" ..." if len(report.unknown_ids) > 5 else "")
        _say(f"  skipped {len(report.unknown_ids):,} unknown document ids: {shown}")
    for name, n in report.unknown_labels.most_common(10):
        _say(f"  skipped {n:,} rows with unknown label {name!r}")
    if report.rows and not report.imported and not report.already:
        err_console.print("[red]error:[/red] no gold label could be imported")
        raise typer.Exit(1)


@gold_app.command("show")
def gold_show(
    ctx: typer.Context,
    split: Optional[str] = typer.Option(None, help="dev or test (default: both)."),
    format: FormatOption = OutputFormat.table,
    out: OutOption = None,
) -> None:
    """The gold set: the latest effective human label per document, with its dev/test split."""
    from admedtagger.cleaning import gold_table

    with user_errors():
        with state(ctx).connection() as con:
            table = gold_table(con, split)
        emit(table, format, out, title=f"gold ({table.num_rows:,} documents)")


# --- students: train, evaluate, compare, predict


class StudentKind(str, Enum):
    tfidf = "tfidf"
    transformer = "transformer"
    embedding = "embedding"


class DevMode(str, Enum):
    auto = "auto"
    holdout = "holdout"
    train = "train"


class Split(str, Enum):
    test = "test"
    dev = "dev"



@app.command()
def train(
    ctx: typer.Context,
    student: StudentKind = typer.Option(StudentKind.tfidf, "--kind", "--student",
                                        help="tfidf (CPU, seconds), embedding (a head on stored e5 vectors, seconds "
                                        "once embedded) or transformer (fine-tuned)."),
    base: Optional[str] = typer.Option(None, help="Transformer: Hugging Face id or local folder (default: the bundled all-MiniLM-L6-v2)."),
    soft: bool = typer.Option(True, "--soft/--hard", help="Train on the label model's probabilities, or on its argmax."),
    epochs: int = typer.Option(3, min=1, help="Transformer: most epochs (early stopping on the held-out dev gold)."),
    exclude_flagged: bool = typer.Option(False, help="Leave out documents flagged by the latest `flag` run and not reviewed yet."),
    dev: DevMode = typer.Option(DevMode.auto, help="Dev gold: auto = reviewed dev labels train, imported ones are held out; "
                                "holdout = no dev document trains; train = every dev label trains (no early stopping)."),
    max_length: int = typer.Option(128, min=8, help="Transformer: tokens per text."),
    batch_size: int = typer.Option(16, min=1, help="Transformer: texts per training step."),
    lr: Optional[float] = typer.Option(None, help="Transformer: learning rate (default 1e-4)."),
    threads: Optional[int] = typer.Option(None, min=1, help="torch CPU threads (default: torch's)."),
) -> None:
    """Train a student on the weak labels (reviewed decisions override them; the gold test split is never used).

    Every student learns the categories and "fits no category" from the weak labels' none probability
    and reviewers' rejects, and says none when that class is the most likely."""
    from admedtagger.students.train import train_student
    from admedtagger.students.registry import models_dir

    st = state(ctx)
    # The embedding student's encoder: [train.embedding], else the embedding LFs' [label.embedding]
    # (the same encoder shares the stored vectors), else the defaults.
    encoder = {**st.config.section("label").get("embedding", {}), **st.config.section("train").get("embedding", {})}
    encoder = {key: value for key, value in encoder.items() if key in ("model", "max_chars", "prefix")}
    with user_errors():
        with st.connection(write=True) as con:
            with progress_bar() as bar:
                task = bar.add_task(f"train {student.value}", total=None, info="")
                result = train_student(
                    con, kind=student.value, models_dir=models_dir(st.config), root=st.config.root, base=base, soft=soft,
                    dev=dev.value, exclude_flagged=exclude_flagged, epochs=epochs, batch_size=batch_size,
                    max_length=max_length, lr=lr, threads=threads, encoder=encoder,
                    on_progress=lambda done, total, info: bar.update(task, completed=done, total=total, info=info),
                    on_note=lambda text: bar.console.print(text, markup=False, highlight=False, soft_wrap=True),
                )
    row, m = result.row, result.row["metrics"]
    console.print(f"trained [bold]{result.model_id}[/bold] in {result.seconds:.1f} s -> {row['path']} "
                  f"({row['size_bytes'] / 1e6:.1f} MB, {row['n_params']:,} parameters)")
    console.print("training data: " + ", ".join(f"{k.replace('_', ' ')} {v:,}" for k, v in result.counts.items()),
                  highlight=False)
    if m.get("dev_docs"):
        console.print(f"held-out dev gold ({m['dev_docs']} documents): macro-F1 {m['dev_macro_f1']:.3f}, "
                      f"says none on {m['dev_none_share']:.0%}")
    else:
        console.print("no held-out dev gold: no early stopping and no dev score")


@app.command()
def evaluate(
    ctx: typer.Context,
    split: Split = typer.Option(Split.test, help="Gold split to score on."),
    details: bool = typer.Option(True, help="Also print precision/recall and the confusion matrix of each student and the label model."),
    format: FormatOption = OutputFormat.table,
    out: OutOption = None,
) -> None:
    """Per-category precision, recall, F1 of every student, the label model and every LF, side by side."""
    import pyarrow.compute as pc

    from admedtagger.evaluation.evaluate import evaluate_on_gold

    st = state(ctx)
    with user_errors():
        with st.connection(write=True) as con:
            with progress_bar() as bar:
                task = bar.add_task("evaluate", total=None, info="")
                result = evaluate_on_gold(con, split=split.value, root=st.config.root,
                                      on_progress=lambda message: bar.update(task, info=message))
        for problem in result.skipped:  # on stderr, so also beside --format csv/json on stdout
            err_console.print(f"[yellow]skipped[/yellow] {problem}", highlight=False, soft_wrap=True)
        if format is not OutputFormat.table:
            emit(result.scores, format, out)
            return
    console.print(rich_table(result.f1_table(), f"F1 on the gold {split.value} split ({result.n_docs} documents), run {result.run_id}"))
    if details:
        for key, matrix in result.confusion.items():
            if key.startswith("lf:"):
                continue
            subject, name = key.split(":", 1)
            scores = result.scores.filter(pc.and_(pc.equal(result.scores["subject"], subject),
                                                  pc.equal(result.scores["name"], name)))
            shown = pa.Table.from_pylist([{k: round(v, 4) if isinstance(v, float) else v for k, v in r.items()}
                                          for r in scores.drop_columns(["subject", "name"]).to_pylist()])
            console.print(rich_table(shown, f"{key}: on the gold {split.value} split"))
            console.print(rich_table(matrix, f"{key}: confusion matrix (rows gold, columns predicted)"))


@app.command()
def compare(
    ctx: typer.Context,
    texts: int = typer.Option(32, min=1, help="Warehouse texts every model labels."),
    model: Optional[list[str]] = typer.Option(None, "--model", help="Student id (repeat; default: the newest of each kind)."),
    teacher_model: Optional[str] = typer.Option(None, help="Teacher LLM (default: the labelling stage's default)."),
    backend: str = typer.Option("transformers", help="Teacher backend."),
    view: Optional[list[str]] = typer.Option(None, "--view", help="Teacher prompt view (repeat; default: all)."),
    quantized: bool = typer.Option(True, help="Also measure transformer students int8-quantised."),
) -> None:
    """Teacher (LLM views) versus students: parameters, size, peak memory, texts/s, with ratios."""
    import functools

    from admedtagger.students.measure import compare_models

    st = state(ctx)
    with user_errors():
        try:
            from admedtagger.labeling.llm import measure_teacher
        except ImportError as exc:
            raise UserError(f"the teacher cannot be measured: admedtagger.labeling.llm has no measure_teacher ({exc})")
        with st.connection(write=True) as con:
            with progress_bar() as bar:
                task = bar.add_task("compare", total=None, info="")
                run_id, table = compare_models(
                    con, functools.partial(measure_teacher, config=st.config), root=st.config.root, n_texts=texts, model_ids=model,
                    teacher_model=teacher_model, backend=backend, views=view, quantized=quantized,
                    on_progress=lambda message: bar.update(task, info=message),
                )
    console.print(rich_table(table, f"teacher vs students on {texts} texts, one machine (run {run_id}); "
                                    "ratios = teacher / student (faster_x = student / teacher)"))
    rows = table.to_pylist()
    for row in rows[1:]:
        console.print(
            f"{row['model']} vs teacher {rows[0]['model']}: {row['fewer_params_x']}x fewer parameters, "
            f"{row['smaller_x']}x smaller on disk, {row['less_memory_x']}x less peak memory, "
            f"{row['faster_x']}x faster", highlight=False, soft_wrap=True)


@app.command()
def predict(
    ctx: typer.Context,
    input: str = typer.Argument(..., help="A .jsonl/.csv/.tsv/.parquet file; a .txt file (one text per line, blank "
                                "lines skipped); a folder of .txt (one text per file); or - for standard input: JSON "
                                "lines if the first non-blank line is a JSON object with the text column, else one "
                                "text per line."),
    model: Optional[str] = typer.Option(None, "--model", help="Student id (default: the newest)."),
    out: Optional[Path] = typer.Option(None, help="Output .jsonl, .csv or .parquet (default: JSON lines on stdout)."),
    store: bool = typer.Option(False, help="Also write `predictions` for texts that are warehouse documents."),
    quantize: bool = typer.Option(False, help="Transformer: int8 dynamic quantisation on CPU."),
    batch_size: int = typer.Option(64, min=1, help="Texts per model call."),
    text_col: str = typer.Option("text", help="Column holding the text."),
    id_col: Optional[str] = typer.Option(None, help="Column holding the id (default: a column named `id` where a "
                                         "row has one, else the warehouse's hash id of the text)."),
) -> None:
    """Label new texts with a student: label name and per-category probabilities.

    Unreadable rows are skipped and counted; exit 1 if rows were read but none labelled.

    --out is written even when there is no text (an empty file)."""
    from admedtagger.students.predict import predict_texts
    from admedtagger.students.registry import load_student

    st = state(ctx)
    with user_errors():
        if out is not None:
            output_file(out)
        with st.connection(write=store) as con, progress_bar() as bar:
            row, student = load_student(con, model, st.config.root, quantize=quantize)
            task = bar.add_task(f"predict {row['model_id']}", total=None, info="")
            stats = predict_texts(
                student, input, out=out, text_col=text_col, id_col=id_col, batch_size=batch_size,
                con=con if store else None, model_id=row["model_id"], run_params={"quantize": quantize},
                on_progress=lambda n: bar.update(task, completed=n, info=f"{n:,} texts"),
            )
    err_console.print(
        f"labelled {stats.texts:,} texts with {row['model_id']} in {stats.seconds:.1f} s ({stats.texts_per_s:.1f} texts/s)"
        + (f", stored {stats.stored:,} predictions" if store else "")
        + (f"; skipped {stats.skipped:,} rows (first: {stats.first_skip})" if stats.skipped else "")
        + (f"; wrote {stats.texts:,} rows to {out}" if out else ""), highlight=False, soft_wrap=True)
    if stats.skipped and not stats.texts:
        err_console.print("[red]error:[/red] no row could be labelled")
        raise typer.Exit(1)


# --- the whole pipeline: report, demo


@app.command()
def report(
    ctx: typer.Context,
    out: Path = typer.Option(Path("report.html"), help="HTML file to write (self-contained)."),
) -> None:
    """Write one self-contained HTML report of every stage that has run."""
    from admedtagger.evaluation.report import write_report

    with user_errors(), state(ctx).connection() as con:
        path = write_report(con, output_file(out))
    console.print(f"wrote {path}")


@app.command()
def serve(
    ctx: typer.Context,
    port: int = typer.Option(8765, min=1, max=65535, help="Port to listen on."),
    host: str = typer.Option("127.0.0.1", help="Address to listen on; anything but loopback needs the access token."),
    token: Optional[str] = typer.Option(None, envvar="ADMEDTAGGER_TOKEN",
                                        help="Access token (default off loopback: a new random one, printed)."),
    lock_wait: float = typer.Option(5.0, min=0, help="Seconds a request waits for a warehouse another command holds."),
) -> None:
    """Serve the review queue, reviewer agreement, LF workbench, document and corpus pages in the browser."""
    from admedtagger.web import ServeSettings, serve as serve_app

    st = state(ctx)
    with user_errors():
        with st.connection():  # the warehouse exists and is readable before anything listens
            pass
        settings = ServeSettings(config=st.config, db=st.db_override, host=host, port=port, token=token,
                                 lock_wait=lock_wait)
        serve_app(settings, announce=lambda url: console.print(
            f"serving {st.db_path} at [bold]{url}[/bold] (Ctrl+C stops)", highlight=False, soft_wrap=True))


@app.command()
def demo(
    folder: Path = typer.Option(Path("demo-project"), help="Project folder for the demo (created if missing)."),
    llm_sample: int = typer.Option(12, min=1, help="Documents the tiny offline LLM labels (all views)."),
) -> None:
    """Run every stage on the bundled Polish demo corpus; leaves report.html in FOLDER."""
    from admedtagger.demo.pipeline import DemoSettings, run_demo

    def invoke(args: list[str]) -> int:
        return app(args, standalone_mode=False) or 0

    def announce(title: str, args: list[str]) -> None:
        console.rule(f"[bold]{title}[/bold]")
        console.print(f"$ admedtagger {' '.join(args)}", style="dim", highlight=False, soft_wrap=True)

    started = time.perf_counter()
    try:
        timings = run_demo(folder, invoke, announce, DemoSettings(llm_sample=llm_sample))
    except RuntimeError as exc:
        err_console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1)
    console.rule("[bold]demo finished[/bold]")
    console.print(rich_table(pa.table({"stage": [t[0] for t in timings],
                                       "seconds": [round(t[1], 1) for t in timings]}), "time per stage"))
    db = folder / "admedtagger.duckdb"
    console.print(f"total {time.perf_counter() - started:.0f} s\nreport:    {folder / 'report.html'}\nwarehouse: {db}\n"
                  "queries worth trying:", highlight=False)
    for sql_text in (
        "select gold_label_name, weak_label_name, count(*) from labelled_corpus group by all order by 3 desc",
        "select lf, count(*) filter (where label >= 0) as votes, round(avg(confidence), 2) as conf from votes group by 1",
        "select name, category, round(f1, 3) as f1 from evaluations where category = 'macro' order by f1 desc",
    ):
        console.print(f'  admedtagger --db {db} sql "{sql_text}"', highlight=False, soft_wrap=True)
    console.print(f"review the flagged labels in the browser (http://127.0.0.1:8765/):\n  admedtagger --db {db} serve",
                  highlight=False, soft_wrap=True)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
