"""Read-only SQL, status counts and Parquet export.

``run_sql`` opens its own read-only connection, so a query can never change the file:
DuckDB refuses any write on it, and that refusal is reported as a one-line error.
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from .db import WarehouseError, connect
from .errors import UserError

# Tables exported by `export` and counted by `status`, in pipeline order.
TABLES = (
    "documents", "ingest_rejects", "gold_imports", "categories", "lfs", "votes", "llm_cache",
    "weak_labels", "lf_analysis", "label_issues", "reviews", "evaluations", "students",
    "predictions", "runs", "settings", "schema_version",
)
VIEWS = ("gold", "labelled_corpus")
# Above this many rows a table is written as a folder of Parquet files, one per bucket.
PARTITION_ROWS = 1_000_000


class QueryError(UserError):
    pass


def run_sql(db_path: str | Path, sql: str) -> pa.Table:
    """Run one query on a read-only connection and return its result as an Arrow table."""
    con = connect(db_path, read_only=True)
    try:
        relation = con.sql(sql)
        return pa.table({}) if relation is None else relation.to_arrow_table()
    except duckdb.Error as exc:
        message = str(exc).strip().splitlines()[0]
        if "read-only" in message or "read only" in message:
            raise QueryError(f"refused: the sql command is read-only ({message})") from exc
        raise QueryError(message) from exc
    finally:
        con.close()


def table_counts(con: duckdb.DuckDBPyConnection) -> pa.Table:
    """Rows per table and view of the contract."""
    names, kinds, counts = [], [], []
    for name in TABLES + VIEWS:
        names.append(name)
        kinds.append("view" if name in VIEWS else "table")
        counts.append(con.execute(f'SELECT count(*) FROM "{name}"').fetchall()[0][0])
    return pa.table({"name": names, "kind": kinds, "rows": counts})


def latest_runs(con: duckdb.DuckDBPyConnection, limit: int = 10) -> pa.Table:
    return con.sql(
        """
        SELECT run_id, stage, status, started_at,
               round(date_diff('millisecond', started_at, ended_at) / 1000.0, 1) AS seconds
        FROM runs ORDER BY started_at DESC LIMIT $limit
        """,
        params={"limit": limit},
    ).to_arrow_table()


def category_table(con: duckdb.DuckDBPyConnection) -> pa.Table:
    return con.sql(
        """
        SELECT c.label, c.name, c.name_pl,
               (SELECT count(*) FROM gold g WHERE g.label = c.label) AS gold
        FROM categories c ORDER BY c.label
        """
    ).to_arrow_table()


def export_parquet(con: duckdb.DuckDBPyConnection, out_dir: str | Path) -> list[tuple[str, int, str]]:
    """Write every table and view as Parquet under ``out_dir``; return (name, rows, path).

    Tables above ``PARTITION_ROWS`` rows become a folder of files split by a hash bucket
    of their first column (Hive layout ``bucket=N/``), which DuckDB, Spark, Polars and
    pandas all read as one dataset.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name in TABLES + VIEWS:
        rows = con.execute(f'SELECT count(*) FROM "{name}"').fetchall()[0][0]
        if rows > PARTITION_ROWS:
            target = out / name
            first = con.execute(f'SELECT * FROM "{name}" LIMIT 0').description[0][0]
            buckets = max(2, rows // PARTITION_ROWS + 1)
            con.execute(
                f"COPY (SELECT *, hash(\"{first}\") % {buckets} AS bucket FROM \"{name}\") "
                f"TO '{_quote(target)}' (FORMAT parquet, PARTITION_BY (bucket), OVERWRITE_OR_IGNORE)"
            )
        else:
            target = out / f"{name}.parquet"
            con.execute(f"COPY (SELECT * FROM \"{name}\") TO '{_quote(target)}' (FORMAT parquet)")
        written.append((name, rows, str(target)))
    return written


def write_table(table: pa.Table, fmt: str, out: str | Path | None) -> str | None:
    """Write a result as csv, json (lines) or parquet to ``out``; return the text if no file."""
    if fmt == "parquet":
        if out is None:
            raise QueryError("--format parquet needs --out FILE")
        pq.write_table(table, out)
        return None
    con = duckdb.connect()
    con.register("result", table)
    if out is not None:
        options = "FORMAT csv, HEADER" if fmt == "csv" else "FORMAT json"
        con.execute(f"COPY result TO '{_quote(Path(out))}' ({options})")
        return None
    if fmt == "csv":
        return table.to_pandas().to_csv(index=False)
    return "\n".join(json.dumps(row, ensure_ascii=False, default=str) for row in table.to_pylist())


def _quote(path: Path) -> str:
    return str(path).replace("'", "''")


__all__ = ["QueryError", "WarehouseError", "run_sql", "table_counts", "latest_runs", "export_parquet", "write_table"]
