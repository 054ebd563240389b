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
