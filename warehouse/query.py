"""Read-only SQL, status counts and Parquet export.

``run_sql`` runs one query on a sandboxed, read-only connection: the query sees the
warehouse and nothing else. Two layers, each enough on its own for what it covers:

* The statement is parsed first (``duckdb.extract_statements``): exactly one statement,
  and only a query (SELECT and its forms: WITH, FROM-first, VALUES, TABLE, SHOW, DESCRIBE,
  SUMMARIZE, PIVOT with an IN list), EXPLAIN of a query, or a read-only PRAGMA
  (``table_info``, ``show_tables``, ...). COPY, EXPORT, ATTACH/DETACH, INSTALL/LOAD,
  SET/RESET, CALL, writes and DDL are refused by name before anything runs.
* The connection itself is opened read-only with DuckDB's own guards:
  ``enable_external_access = false`` (no file or network access beyond the warehouse file:
  read_csv/read_text/read_blob/read_parquet/glob, COPY, EXPORT, ATTACH and INSTALL all
  fail), ``autoinstall_known_extensions``/``autoload_known_extensions`` off,
  ``allow_community_extensions`` off, ``python_enable_replacements`` off (no scans of
  Python variables), then ``lock_configuration = true``, so no SET, RESET or PRAGMA in the
  query can switch any of this back on (nor set ``profiling_output``/``log_query_path``).

``allow_file_access=True`` (``sql --allow-file-access``) only turns external access on,
so a query may read the user's files (read_csv, read_parquet, ...); the warehouse stays
read-only, the statement checks stay, extensions are still neither installed nor loaded.
Results reach files only through :func:`write_table` (``--out``), never through SQL.
"""

from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from .db import WarehouseError, connect, default_lock_wait, open_file
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

# DuckDB settings of the sql command's connection, fixed before the file is opened.
SANDBOX_SETTINGS = {
    "enable_external_access": False,
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
    "allow_community_extensions": False,
    "python_enable_replacements": False,
}
# PRAGMAs that only read the catalog or the file's metadata.
READ_PRAGMAS = frozenset({
    "table_info", "show", "show_tables", "show_tables_expanded", "show_databases", "database_list",
    "database_size", "storage_info", "metadata_info", "version", "platform", "functions", "collations",
    "user_agent",
})
_T = duckdb.StatementType
# What a refused statement type is called in the error, and what to do instead.
_REFUSED = {
    _T.COPY: ("COPY", "the sql command writes no files: use --format csv|json|parquet --out FILE"),
    _T.COPY_DATABASE: ("COPY FROM DATABASE", "the sql command sees only this warehouse"),
    _T.EXPORT: ("EXPORT DATABASE", "use `admedtagger export FOLDER`"),
    _T.ATTACH: ("ATTACH", "the sql command sees only this warehouse"),
    _T.DETACH: ("DETACH", "the sql command sees only this warehouse"),
    _T.LOAD: ("INSTALL/LOAD", "the sql command installs and loads no extensions"),
    _T.SET: ("SET/RESET/USE", "the sql command's settings are fixed"),
    _T.VARIABLE_SET: ("SET VARIABLE", "the sql command's settings are fixed"),
    _T.CALL: ("CALL", "write SELECT * FROM function(...) instead"),
    _T.MULTI: ("a statement that runs several statements (PIVOT without IN)",
               "list the pivot values: PIVOT ... ON column IN (...)"),
    _T.TRANSACTION: ("BEGIN/COMMIT/ROLLBACK", "the sql command runs one query"),
    _T.PREPARE: ("PREPARE", "the sql command runs one query"),
    _T.EXECUTE: ("EXECUTE", "the sql command runs one query"),
}
_QUERY_TYPES = (_T.SELECT,)
_EXPLAIN = re.compile(r"^\s*explain\s+(?:analy[sz]e\s+)?(?:\([^)]*\)\s*)?(?P<rest>.*)$", re.IGNORECASE | re.DOTALL)
_PRAGMA = re.compile(r"^\s*pragma\s+(?P<name>[a-z_][a-z0-9_]*)\b", re.IGNORECASE)


class QueryError(UserError):
    pass


def run_sql(db_path: str | Path, sql: str, *, allow_file_access: bool = False) -> pa.Table:
    """Run one query on a sandboxed read-only connection; return its result as an Arrow table.

    See the module docstring for what is refused and how; every refusal is a one-line
    :class:`QueryError` raised before the query changes or reads anything outside the
    warehouse.
    """
    check_statement(sql)
    con = open_sandboxed(db_path, allow_file_access=allow_file_access)
    try:
        relation = con.sql(sql)
        return pa.table({}) if relation is None else relation.to_arrow_table()
    except duckdb.Error as exc:
        raise QueryError(_explain_error(exc, allow_file_access)) from exc
    finally:
        con.close()


def check_statement(sql: str) -> None:
    """Refuse anything but exactly one read-only query, naming what was refused."""
    statements = _parse(sql)
    if not statements:
        raise QueryError("no SQL statement given")
    if len(statements) > 1:
        raise QueryError(
            f"refused: the sql command runs exactly one statement, got {len(statements)} "
            f"(the second: {_excerpt(statements[1].query)})"
        )
    _check_one(statements[0])


def _parse(sql: str) -> list:
    try:
        return duckdb.extract_statements(sql)
    except duckdb.Error as exc:
        raise QueryError(_first_line(exc)) from exc


def _kind(statement):
    """The statement's type; None where the Python client has no name for it (UPDATE EXTENSIONS, ...)."""
    try:
        return statement.type
    except ValueError:
        return None


def _check_one(statement) -> None:
    text, kind = statement.query, _kind(statement)
    if kind is None:
        raise QueryError(f"refused: the sql command runs one read-only query, not {_excerpt(text)}")
    if kind in _QUERY_TYPES:
        return
    if kind == _T.EXPLAIN:
        # EXPLAIN ANALYZE runs its statement: only a query may follow.
        match = _EXPLAIN.match(text)
        inner = _parse(match.group("rest")) if match else []
        if len(inner) == 1 and _kind(inner[0]) in _QUERY_TYPES:
            return
        raise QueryError(f"refused: EXPLAIN of anything but a query ({_excerpt(text)})")
    if kind == _T.PRAGMA:
        match = _PRAGMA.match(text)
        if match is None:  # COPY FROM DATABASE parses as a PRAGMA
            raise QueryError(f"refused: the sql command runs one read-only query, not {_excerpt(text)}")
        if match.group("name").lower() in READ_PRAGMAS:
            return
        raise QueryError(
            f"refused: PRAGMA {match.group('name')}: the sql command allows only the read-only PRAGMAs "
            f"({', '.join(sorted(READ_PRAGMAS))})"
        )
    if kind in _REFUSED:
        what, instead = _REFUSED[kind]
        raise QueryError(f"refused: {what}: {instead}")
    raise QueryError(f"refused: the sql command is read-only ({kind.name}: {_excerpt(text)})")


def open_sandboxed(db_path: str | Path, *, allow_file_access: bool = False,
                   lock_wait: float | None = None) -> duckdb.DuckDBPyConnection:
    """A read-only connection to the warehouse that sees nothing else (see the module docstring).

    The guards are connection settings given before the file is opened, then locked. Both
    opens wait ``lock_wait`` seconds (default :func:`~.db.default_lock_wait`) for a file
    another process holds, e.g. ``admedtagger serve`` writing a decision.
    """
    path = Path(db_path)
    wait = default_lock_wait() if lock_wait is None else lock_wait
    # The ordinary read-only open first: it says what is wrong with a missing, foreign,
    # empty or outdated file. Its connection closes before the sandboxed one opens (DuckDB
    # keeps one configuration per open file and process).
    connect(path, read_only=True, lock_wait=wait).close()
    settings = dict(SANDBOX_SETTINGS, enable_external_access=bool(allow_file_access))
    con = open_file(path, read_only=True, lock_wait=wait, config=settings)
    try:
        con.execute("SET enable_progress_bar = false")  # DuckDB's own bar would draw over ours
        con.execute("SET lock_configuration = true")
    except BaseException:
        con.close()
        raise
    return con


def _explain_error(exc: duckdb.Error, allow_file_access: bool) -> str:
    message = _first_line(exc)
    if isinstance(exc, duckdb.PermissionException) and not allow_file_access:
        return (f"refused: the sql command reads only the warehouse ({message}); "
                "to read your own files add --allow-file-access")
    if isinstance(exc, duckdb.PermissionException):
        return f"refused: {message}"
    table = re.search(r'Table with name (\S+) does not exist', message)
    if table and not allow_file_access and any(c in table.group(1) for c in "./"):
        # FROM 'file.csv' looks the name up as a table when files are off.
        return f"{message} (files are not read: to read your own files add --allow-file-access)"
    if "configuration has been locked" in message:
        return f"refused: the sql command's settings are fixed ({message})"
    if "read-only" in message or "read only" in message:
        return f"refused: the sql command is read-only ({message})"
    return message


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def _excerpt(text: str, limit: int = 60) -> str:
    flat = " ".join(text.split()).rstrip(";")
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


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
    """Write a result as csv, json (lines) or parquet to ``out``; return the text if no file.

    CSV and JSON files are written by DuckDB from the Arrow table, so types survive as they
    are: an integer column holding NULLs stays integers (pandas would make it floats).
    """
    if fmt == "parquet":
        if out is None:
            raise QueryError("--format parquet needs --out FILE")
        pq.write_table(table, out)
        return None
    if out is not None:
        _copy_out(table, fmt, Path(out))
        return None
    if fmt == "csv":
        if table.num_columns == 0:
            return ""
        with tempfile.TemporaryDirectory(prefix="admedtagger-sql-") as folder:
            target = Path(folder) / "result.csv"
            _copy_out(table, fmt, target)
            return target.read_text(encoding="utf-8")
    return "\n".join(json.dumps(row, ensure_ascii=False, default=str) for row in table.to_pylist())


def _copy_out(table: pa.Table, fmt: str, target: Path) -> None:
    con = duckdb.connect()
    try:
        con.register("result", table)
        options = "FORMAT csv, HEADER" if fmt == "csv" else "FORMAT json"
        con.execute(f"COPY result TO '{_quote(target)}' ({options})")
    finally:
        con.close()


def _quote(path: Path) -> str:
    return str(path).replace("'", "''")


__all__ = ["QueryError", "WarehouseError", "run_sql", "check_statement", "open_sandboxed", "table_counts", "latest_runs", "export_parquet", "write_table"]
