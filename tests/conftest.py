"""Shared fixtures: a real project folder with a real DuckDB warehouse per test."""

from __future__ import annotations

from pathlib import Path

import pytest

from admedtagger.warehouse import connect, load_config, render_config, sync_categories

REPO = Path(__file__).resolve().parents[1]
DEMO_CORPUS = REPO / "demo" / "data" / "demo_pl.jsonl"
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture
def project(tmp_path, monkeypatch):
    """An initialised project folder (Polish, default taxonomy) as the working directory."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ADMEDTAGGER_DB", raising=False)
    (tmp_path / "admedtagger.toml").write_text(render_config("pl"), encoding="utf-8")
    config = load_config(tmp_path / "admedtagger.toml")
    con = connect(config.db_path())
    sync_categories(con, config)
    con.close()
    return config


@pytest.fixture
def con(project):
    """A writable connection to the project's warehouse."""
    connection = connect(project.db_path())
    yield connection
    connection.close()


@pytest.fixture
def shared_data():
    """The real English texts in ../shared/data; skips when absent (a user's fresh clone)."""
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is not present")
    return SHARED_DATA



@pytest.fixture
def demo_con(project):
    """The project's warehouse holding the bundled demo corpus (640 texts, gold from its labels)."""
    from admedtagger.warehouse import ingest_files

    connection = connect(project.db_path())
    ingest_files(connection, [DEMO_CORPUS], id_col="id", label_col="label")
    yield connection
    connection.close()


@pytest.fixture(scope="session")
def _flagged_demo_project(tmp_path_factory):
    """Built once: the demo corpus ingested with its labels as imported gold, keyword
    votes, a label model and a flag run, through the CLI."""
    from typer.testing import CliRunner

    from admedtagger.cli import app

    folder = tmp_path_factory.mktemp("flagged-demo")
    (folder / "admedtagger.toml").write_text(render_config("pl"), encoding="utf-8")
    db = str(folder / "admedtagger.duckdb")
    runner = CliRunner()
    for args in (["ingest", str(DEMO_CORPUS), "--id-col", "id", "--label-col", "label"],
                 ["label", "--kind", "keyword"], ["label-model"], ["flag"]):
        result = runner.invoke(app, ["--db", db, *args], catch_exceptions=False)
        assert result.exit_code == 0, result.output
    return folder


@pytest.fixture
def flagged_project(_flagged_demo_project, tmp_path, monkeypatch):
    """A copy of the flagged demo project (keyword votes, label model, flags, imported gold)
    as the working directory; returns its config."""
    import shutil

    folder = tmp_path / "flagged"
    shutil.copytree(_flagged_demo_project, folder)
    monkeypatch.chdir(folder)
    monkeypatch.delenv("ADMEDTAGGER_DB", raising=False)
    return load_config(folder / "admedtagger.toml")
