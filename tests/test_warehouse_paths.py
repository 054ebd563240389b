"""Opening warehouses and writing outputs: every bad path or foreign file is one line, exit 2.

Also: commands that only read open the file read-only (they work beside another reader
and never create a warehouse), runs left 'running' by a killed process are marked
'interrupted' by the next writer, and error messages keep their square brackets.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import duckdb
import pytest
from typer.testing import CliRunner

from admedtagger.cli import app
from admedtagger.warehouse import connect
from admedtagger.warehouse.schema import SCHEMA_VERSION, migrate

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


def one_line_error(result, *fragments):
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    return lines[0]


@pytest.fixture
def bare(tmp_path, monkeypatch):
    """An empty folder as the working directory: no config, no warehouse."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ADMEDTAGGER_DB", raising=False)
    return tmp_path


def test_foreign_duckdb_file_is_refused_unchanged(bare):
    foreign = bare / "other.duckdb"
    con = duckdb.connect(str(foreign))
    con.execute("CREATE TABLE documents (x INTEGER)")
    con.execute("INSERT INTO documents VALUES (1)")
    con.close()
    corpus = bare / "corpus.jsonl"
    corpus.write_text('{"text": "RR 150/95 mmHg"}\n', encoding="utf-8")
    for args in (["status"], ["label"], ["sql", "select 1"], ["ingest", corpus]):
        one_line_error(invoke("--db", foreign, *args), "not an admedtagger warehouse", "documents")
    con = duckdb.connect(str(foreign), read_only=True)
    assert con.execute("SELECT table_name FROM information_schema.tables").fetchall() == [("documents",)]
    con.close()


def test_not_a_duckdb_file(bare):
    junk = bare / "junk.duckdb"
    junk.write_bytes(os.urandom(4096))
    one_line_error(invoke("--db", junk, "status"), "cannot open", str(junk))
    one_line_error(invoke("--db", junk, "init"), "cannot open", str(junk))


def test_newer_schema_is_one_line_and_older_says_the_real_command(project):
    db = project.db_path()
    con = duckdb.connect(str(db))
    con.execute("INSERT INTO schema_version (version) VALUES (?)", [SCHEMA_VERSION + 1])
    con.close()
    one_line_error(invoke("status"), "newer than this admedtagger")
    one_line_error(invoke("label"), "newer than this admedtagger")

    old = project.root / "old.duckdb"
    con = duckdb.connect(str(old))
    migrate(con, target=1)
    con.close()
    line = one_line_error(invoke("--db", old, "status"), "schema version 1")
    assert "--upgrade" not in line and "admedtagger init" in line
    assert invoke("--db", old, "init").exit_code == 0  # the advised command upgrades it
    assert invoke("--db", old, "status").exit_code == 0


def test_reading_commands_before_init_create_nothing(bare):
    for args in (["status"], ["label"], ["report", "--out", "r.html"], ["export", "pq"], ["review", "list"],
                 ["gold", "show"], ["lfs"], ["flag"], ["sql", "select 1"]):
        one_line_error(invoke(*args), "no warehouse at", "admedtagger init")
    assert sorted(p.name for p in bare.iterdir()) == []
    one_line_error(invoke("--db", bare / "typo" / "deeper" / "w.duckdb", "ingest", bare / "x.jsonl"))
    one_line_error(invoke("--db", bare / "typo" / "w.duckdb", "status"), "no warehouse at")
    assert not (bare / "typo").exists()


def test_unwritable_db_and_folder_db(bare):
    # /proc refuses new files even to root, which is who runs CI.
    one_line_error(invoke("--db", "/proc/admedtagger.duckdb", "init", bare / "p"), "/proc/admedtagger.duckdb")
    one_line_error(invoke("--db", bare, "status"), "is a folder")


def test_bad_output_paths(project):
    db = project.db_path()
    (project.root / "a_file").write_text("x")
    missing = project.root / "missing" / "out.csv"
    one_line_error(invoke("sql", "select 1 as a", "-f", "csv", "--out", missing), "does not exist")
    one_line_error(invoke("sql", "select 1 as a", "-f", "csv", "--out", project.root), "is a folder")
    one_line_error(invoke("export", project.root / "a_file"), "is a file")
    one_line_error(invoke("export", project.root / "missing" / "deeper"), "does not exist")
    one_line_error(invoke("report", "--out", project.root / "missing" / "r.html"), "does not exist")
    one_line_error(invoke("init", project.root / "a_file"), "is a file")
    one_line_error(invoke("predict", project.root / "a_file", "--out", missing), "does not exist")
    one_line_error(invoke("review", "export", project.root / "missing" / "tasks.json"), "does not exist")
    assert not (project.root / "missing").exists()
    assert db.exists()


def test_square_brackets_survive_in_errors(bare):
    one_line_error(invoke("--db", bare / "x[abc]" / "w.duckdb", "status"), "x[abc]")


def test_reading_commands_work_beside_another_reader(demo_con, project):
    """A read-only connection held by another process blocks any writer but not readers:
    so these commands passing proves they open the file read-only."""
    demo_con.close()
    for args in (["label", "--kind", "keyword"], ["label-model", "--model", "majority"], ["flag", "--folds", "2"]):
        assert invoke(*args).exit_code == 0
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import duckdb, sys, time
            con = duckdb.connect({str(project.db_path())!r}, read_only=True)
            print("holding", flush=True)
            sys.stdin.read()
        """)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "holding"
        for args in (["status"], ["sql", "select count(*) from documents"], ["review", "list"], ["gold", "show"],
                     ["export", project.root / "pq"], ["report", "--out", project.root / "r.html"]):
            result = invoke(*args)
            assert result.exit_code == 0, (args, result.output)
        # A writer is refused with one line naming the file, not a traceback.
        one_line_error(invoke("label"), "cannot open", str(project.db_path()))
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)
    assert (project.root / "pq" / "documents.parquet").exists() and (project.root / "r.html").exists()


def test_killed_run_is_marked_interrupted_by_the_next_writer(project):
    db = project.db_path()
    script = textwrap.dedent(f"""
        import os, signal
        from admedtagger.warehouse import connect, record_run
        con = connect({str(db)!r})
        with record_run(con, "label", {{"doomed": True}}):
            os.kill(os.getpid(), signal.SIGKILL)
    """)
    killed = subprocess.run([sys.executable, "-c", script])
    assert killed.returncode == -signal.SIGKILL

    def statuses():
        con = duckdb.connect(str(db), read_only=True)
        try:
            return con.execute("SELECT stage, status, ended_at IS NOT NULL FROM runs").fetchall()
        finally:
            con.close()

    assert statuses() == [("label", "running", False)]
    assert invoke("status").exit_code == 0  # a reader changes nothing
    assert statuses() == [("label", "running", False)]
    con = connect(db)  # the next writer
    con.close()
    assert statuses() == [("label", "interrupted", True)]


def test_a_live_run_of_this_process_is_not_marked(project):
    from admedtagger.warehouse import record_run

    con = connect(project.db_path())
    with record_run(con, "label") as run:
        other = connect(project.db_path())  # a second writable open in the same process
        other.close()
        status = con.execute("SELECT status FROM runs WHERE run_id = ?", [run.run_id]).fetchall()
        assert status == [("running",)]
    assert con.execute("SELECT status FROM runs").fetchall() == [("ok",)]
    con.close()
