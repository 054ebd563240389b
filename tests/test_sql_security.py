"""`admedtagger sql` sees the warehouse and nothing else: every escape is refused, through the real CLI.

Each refusal must be exit status 2 with one line on stderr, and must leave the project
folder byte for byte as it was (no file written, the warehouse unchanged). Two layers
are tested: the statement checks (nothing runs at all) and, under them, the sandboxed
DuckDB connection itself (its locked settings refuse the same things on their own).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from admedtagger.cli import app
from admedtagger.warehouse.query import QueryError, check_statement, open_sandboxed, write_table

from .conftest import DEMO_CORPUS

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, list(args), catch_exceptions=False)


@pytest.fixture
def warehouse(tmp_path, monkeypatch) -> Path:
    """A project folder (the cwd) holding the demo corpus with its gold labels."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ADMEDTAGGER_DB", raising=False)
    assert invoke("init").exit_code == 0
    assert invoke("ingest", str(DEMO_CORPUS), "--id-col", "id", "--label-col", "label").exit_code == 0
    # Bait beside the warehouse: another DuckDB file, a CSV and a Parquet file of the user's.
    other = duckdb.connect(str(tmp_path / "other.duckdb"))
    other.execute("CREATE TABLE t AS SELECT 1 AS a")
    other.close()
    (tmp_path / "mine.csv").write_text("a,b\n1,x\n2,y\n", encoding="utf-8")
    pq.write_table(pa.table({"a": [1, 2]}), tmp_path / "mine.parquet")
    return tmp_path


def snapshot(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` (recursively) and the sha256 of its bytes."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def refused(folder: Path, *args: str) -> str:
    """Run `admedtagger sql ARGS`, assert a one-line refusal that changed nothing; return the line."""
    before = snapshot(folder)
    result = invoke("sql", *args)
    lines = result.stderr.strip().splitlines()
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    error = [line for line in lines if line.startswith("error:")]
    assert len(error) == 1 and lines[-1] == error[0], result.stderr
    assert snapshot(folder) == before, "a refused query changed the project folder"
    return error[0]


ESCAPES = [
    # (query, what the one-line error must name, a file that must not appear)
    ("copy (select * from documents) to 'leak.csv'", "COPY", "leak.csv"),
    ("copy (select 'import os' as x) to 'lfs.py' (header false)", "COPY", "lfs.py"),
    ("copy documents to 'leak.parquet' (format parquet)", "COPY", "leak.parquet"),
    ("export database 'dump'", "EXPORT", "dump"),
    ("attach 'other.duckdb' as o (read_only false)", "ATTACH", None),
    ("attach 'new.duckdb' as n", "ATTACH", "new.duckdb"),
    ("detach other", "DETACH", None),
    ("pragma profiling_output='profile.txt'", "SET", "profile.txt"),
    ("set profiling_output='profile.txt'", "SET", "profile.txt"),
    ("set enable_profiling='json'", "SET", None),
    ("pragma enable_profiling", "PRAGMA enable_profiling", None),
    ("set log_query_path='queries.log'", "SET", "queries.log"),
    ("set enable_external_access=true", "SET", None),
    ("set lock_configuration=false", "SET", None),
    ("reset lock_configuration", "SET", None),
    ("install httpfs", "INSTALL/LOAD", None),
    ("load httpfs", "INSTALL/LOAD", None),
    ("force install httpfs", "INSTALL/LOAD", None),
    ("select 1; copy documents to 'second.csv'", "exactly one statement", "second.csv"),
    ("select 1; select 2", "exactly one statement", None),
    ("attach 'other.duckdb' as o; insert into o.t values (2)", "exactly one statement", None),
    ("explain analyze copy (select 1) to 'explained.csv'", "EXPLAIN", "explained.csv"),
    ("explain analyze (format json) copy (select 1) to 'explained.csv'", "EXPLAIN", "explained.csv"),
    ("/* hidden */ explain analyze copy (select 1) to 'explained.csv'", "EXPLAIN", "explained.csv"),
    ("explain update extensions", "EXPLAIN", None),
    ("call checkpoint()", "CALL", None),
    ("checkpoint", "CALL", None),
    ("copy from database memory to other", "not copy from database", None),
    ("delete from documents", "read-only", None),
    ("create table t as select 1", "read-only", None),
    ("drop view gold", "read-only", None),
    ("use memory", "SET", None),
    ("update extensions", "read-only query", None),
    ("begin transaction", "BEGIN", None),
]


@pytest.mark.parametrize("query, names, target", ESCAPES, ids=[e[0][:40] for e in ESCAPES])
def test_statements_that_escape_the_warehouse_are_refused(warehouse, query, names, target):
    error = refused(warehouse, query)
    assert names in error
    if target is not None:
        assert not (warehouse / target).exists()


@pytest.mark.parametrize("query", [
    "select * from read_text('/etc/passwd')",
    "select * from read_csv('/etc/passwd', sep=':')",
    "select * from read_blob('/etc/passwd')",
    "select * from read_parquet('mine.parquet')",
    "select * from read_csv('mine.csv')",
    "select * from read_json('mine.csv')",
    "select * from glob('/root/*')",
    "select * from glob('*')",
    "select * from sniff_csv('mine.csv')",
    "select * from 'mine.csv'",
])
def test_file_reads_are_refused_and_point_to_the_opt_in(warehouse, query):
    error = refused(warehouse, query)
    assert "--allow-file-access" in error and "root:" not in error


def test_other_duckdb_file_is_untouched_by_attach(warehouse):
    before = hashlib.sha256((warehouse / "other.duckdb").read_bytes()).hexdigest()
    refused(warehouse, "attach 'other.duckdb' as o (read_only false)")
    assert hashlib.sha256((warehouse / "other.duckdb").read_bytes()).hexdigest() == before
    con = duckdb.connect(str(warehouse / "other.duckdb"), read_only=True)
    assert con.execute("SELECT * FROM t").fetchall() == [(1,)]
    con.close()


def test_install_and_load_are_refused_before_anything_runs():
    # The parser refuses them: no connection is opened, so nothing can reach the network.
    for query in ("install httpfs", "load httpfs", "install httpfs from 'https://example.com'", "load 'x.duckdb_extension'"):
        with pytest.raises(QueryError, match="INSTALL/LOAD"):
            check_statement(query)


@pytest.mark.parametrize("query", ["", "   ;  ", "/* just a comment */"])
def test_empty_input_is_a_one_line_error(warehouse, query):
    assert "no SQL statement" in refused(warehouse, query)


def test_syntax_error_is_one_line(warehouse):
    assert "syntax error" in refused(warehouse, "selec 1 from documents")


# --- the sandboxed connection on its own (the statement checks bypassed) -------------------


@pytest.mark.parametrize("allow_file_access", [False, True])
def test_locked_settings_cannot_be_switched_back(warehouse, allow_file_access):
    con = open_sandboxed(warehouse / "admedtagger.duckdb", allow_file_access=allow_file_access)
    try:
        for statement in ("SET enable_external_access = true", "SET lock_configuration = false",
                          "RESET lock_configuration", "SET profiling_output = 'p.txt'", "PRAGMA enable_profiling",
                          "SET autoload_known_extensions = true", "SET allowed_directories = ['/']",
                          "SET python_enable_replacements = true", "SET log_query_path = 'q.log'"):
            with pytest.raises(duckdb.Error, match="locked"):
                con.execute(statement)
        settings = dict(con.execute(
            "SELECT name, value FROM duckdb_settings() WHERE name IN ('enable_external_access', 'lock_configuration', "
            "'autoinstall_known_extensions', 'autoload_known_extensions', 'python_enable_replacements', "
            "'allow_community_extensions', 'access_mode')").fetchall())
    finally:
        con.close()
    assert settings == {
        "enable_external_access": str(allow_file_access).lower(), "lock_configuration": "true",
        "autoinstall_known_extensions": "false", "autoload_known_extensions": "false",
        "python_enable_replacements": "false", "allow_community_extensions": "false", "access_mode": "read_only",
    }
    assert not (warehouse / "p.txt").exists() and not (warehouse / "q.log").exists()


def test_the_connection_alone_refuses_files_attach_and_extensions(warehouse):
    before = snapshot(warehouse)
    con = open_sandboxed(warehouse / "admedtagger.duckdb")
    try:
        for statement in ("COPY documents TO 'leak.csv'", "EXPORT DATABASE 'dump'", "ATTACH 'other.duckdb' AS o",
                          "ATTACH 'new.duckdb' AS n", "INSTALL httpfs", "LOAD httpfs",
                          "SELECT * FROM read_text('/etc/passwd')", "SELECT * FROM read_csv('mine.csv')",
                          "SELECT * FROM read_blob('/etc/passwd')", "SELECT * FROM glob('/root/*')",
                          "SELECT * FROM read_parquet('mine.parquet')"):
            with pytest.raises(duckdb.Error, match="disabled"):
                con.execute(statement).fetchall()
        with pytest.raises(duckdb.Error, match="read-only"):
            con.execute("DELETE FROM documents")
        # Python variables are not scanned either.
        leak = pa.table({"secret": [1]})  # noqa: F841
        with pytest.raises(duckdb.CatalogException):
            con.execute("SELECT * FROM leak").fetchall()
    finally:
        con.close()
    assert snapshot(warehouse) == before


# --- what still works ----------------------------------------------------------------------


def test_ordinary_queries_and_views_work(warehouse):
    def rows(query: str) -> list[dict]:
        result = invoke("sql", query, "--format", "json")
        assert result.exit_code == 0, result.output
        return [json.loads(line) for line in result.stdout.splitlines()]

    assert rows("select count(*) as n from documents") == [{"n": 640}]
    assert rows("from documents select count(*) as n") == [{"n": 640}]
    assert rows("select count(*) as n from labelled_corpus") == [{"n": 640}]
    gold = rows("select split, count(*) as n from gold group by split order by split")
    assert {r["split"] for r in gold} == {"dev", "test"} and sum(r["n"] for r in gold) > 0
    assert rows("with c as (select label from categories) select count(*) as n from c") == [{"n": 5}]
    assert {"documents", "gold", "labelled_corpus"} <= {r["name"] for r in rows("show tables")}
    assert "doc_id" in {r["column_name"] for r in rows("describe documents")}
    assert "doc_id" in {r["name"] for r in rows("pragma table_info('documents')")}
    assert len(rows("summarize categories")) == 7
    assert rows("explain select 1")
    assert rows("select 1 as a;") == [{"a": 1}]


@pytest.mark.parametrize("fmt", ["csv", "json", "parquet"])
def test_results_are_written_with_out(warehouse, fmt):
    out = warehouse / f"cats.{fmt}"
    result = invoke("sql", "select label, name from categories order by label", "--format", fmt, "--out", str(out))
    assert result.exit_code == 0, result.output
    if fmt == "csv":
        assert out.read_text(encoding="utf-8").splitlines()[:2] == ["label,name", "0,Radiology"]
    elif fmt == "json":
        assert json.loads(out.read_text(encoding="utf-8").splitlines()[0]) == {"label": 0, "name": "Radiology"}
    else:
        assert pq.read_table(out).column("name").to_pylist()[0] == "Radiology"


def test_csv_keeps_integers_with_nulls_integers(warehouse):
    query = "select * from (values (1, 'a'), (null, 'b'), (30, null)) t(n, s)"
    printed = invoke("sql", query, "--format", "csv")
    assert printed.exit_code == 0, printed.output
    assert printed.stdout.splitlines() == ["n,s", "1,a", ",b", "30,"]
    out = warehouse / "nulls.csv"
    assert invoke("sql", query, "--format", "csv", "--out", str(out)).exit_code == 0
    assert out.read_text(encoding="utf-8").splitlines() == ["n,s", "1,a", ",b", "30,"]


def test_write_table_csv_types():
    table = pa.table({"n": pa.array([1, None, 3], pa.int64()), "f": [0.5, None, 2.0], "t": ["x,y", 'q"', None]})
    assert write_table(table, "csv", None).splitlines() == ["n,f,t", '1,0.5,"x,y"', ',,"q"""', "3,2.0,"]


# --- the opt-in --------------------------------------------------------------------------


def test_allow_file_access_reads_user_files_with_a_warning(warehouse):
    result = invoke("sql", "select a, b from read_csv('mine.csv') order by a", "--format", "csv", "--allow-file-access")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == ["a,b", "1,x", "2,y"]
    assert "warning: --allow-file-access" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    joined = invoke("sql", "select count(*) as n from documents, read_parquet('mine.parquet')", "-f", "json",
                    "--allow-file-access")
    assert json.loads(joined.stdout) == {"n": 1280}


@pytest.mark.parametrize("query, names, target", [
    ("copy (select 1) to 'lfs.py'", "COPY", "lfs.py"),
    ("export database 'dump'", "EXPORT", "dump"),
    ("attach 'other.duckdb' as o (read_only false)", "ATTACH", None),
    ("install httpfs", "INSTALL/LOAD", None),
    ("load httpfs", "INSTALL/LOAD", None),
    ("set profiling_output='profile.txt'", "SET", "profile.txt"),
    ("select * from read_csv('mine.csv'); copy documents to 'x.csv'", "exactly one statement", "x.csv"),
    ("explain analyze copy (select 1) to 'explained.csv'", "EXPLAIN", "explained.csv"),
    ("delete from documents", "read-only", None),
])
def test_allow_file_access_still_refuses_writes_attach_and_extensions(warehouse, query, names, target):
    error = refused(warehouse, query, "--allow-file-access")
    assert names in error
    if target is not None:
        assert not (warehouse / target).exists()


def test_allow_file_access_does_not_autoload_extensions(warehouse):
    # A URL needs httpfs: with autoinstall and autoload off it is an error, not a download.
    error = refused(warehouse, "select * from read_csv('https://example.com/x.csv')", "--allow-file-access")
    assert "httpfs" in error
