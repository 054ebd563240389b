"""The command line through typer's CliRunner, and once as a real console script."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from admedtagger.cli import app

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, list(args), catch_exceptions=False)


def test_init_ingest_sql_status_export(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ADMEDTAGGER_DB", raising=False)
    assert invoke("init").exit_code == 0
    assert (tmp_path / "admedtagger.toml").exists() and (tmp_path / "admedtagger.duckdb").exists()
    data = tmp_path / "a.jsonl"
    data.write_text(
        json.dumps({"text": "RR 160/95 mmHg, nadciśnienie tętnicze."}) + "\n" + "{broken\n", encoding="utf-8"
    )
    result = invoke("ingest", str(data))
    assert result.exit_code == 0, result.output
    assert "ingested 1 new documents" in result.output and "rejected 1" in result.output
    result = invoke("sql", "select count(*) as n from documents", "--format", "json")
    assert json.loads(result.output.strip()) == {"n": 1}
    refused = invoke("sql", "delete from documents")
    assert refused.exit_code == 2 and "read-only" in refused.output
    assert json.loads(invoke("sql", "select count(*) as n from documents", "-f", "json").output) == {"n": 1}
    csv_out = tmp_path / "cats.csv"
    assert invoke("sql", "select * from categories", "-f", "csv", "--out", str(csv_out)).exit_code == 0
    assert csv_out.read_text().startswith("label,name")
    status = invoke("status")
    assert "documents" in status.output and "Radiology" in status.output and "ingest" in status.output
    assert invoke("export", str(tmp_path / "pq")).exit_code == 0
    assert (tmp_path / "pq" / "documents.parquet").exists()


def test_errors_are_one_line(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = invoke("ingest", "nothere.csv")
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == ["error: nothere.csv: no such file or folder"]
    (tmp_path / "bad.jsonl").write_text("{oops\n")
    result = invoke("ingest", str(tmp_path / "bad.jsonl"))
    assert result.exit_code == 1 and "no row could be ingested" in result.output


def test_console_script_runs_for_real(tmp_path):
    exe = Path(sys.executable).parent / "admedtagger"  # installed beside the interpreter
    db = tmp_path / "w.duckdb"
    subprocess.run([exe, "--db", str(db), "init", str(tmp_path)], check=True, capture_output=True, cwd=tmp_path)
    done = subprocess.run(
        [exe, "--db", str(db), "sql", "select count(*) as n from categories", "-f", "csv"],
        check=True, capture_output=True, text=True, cwd=tmp_path,
    )
    assert done.stdout.splitlines() == ["n", "5"]
