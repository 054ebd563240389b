"""Schema migrations, read-only SQL, export, runs and config discovery."""

from __future__ import annotations

import duckdb
import pyarrow.parquet as pq
import pytest

from admedtagger.warehouse import WarehouseError, connect, load_config, record_run
from admedtagger.warehouse.config import ConfigError
from admedtagger.warehouse.query import QueryError, export_parquet, run_sql
from admedtagger.warehouse.schema import SCHEMA_VERSION, current_version, migrate


def test_migration_upgrades_an_older_file_in_place(tmp_path):
    path = tmp_path / "old.duckdb"
    old = duckdb.connect(str(path))
    migrate(old, target=1)
    old.execute("INSERT INTO documents (doc_id, text, text_hash) VALUES ('a', 'tekst', 'x')")
    old.close()
    con = connect(path)
    assert current_version(con) == SCHEMA_VERSION > 1
    assert con.execute("SELECT doc_id, text FROM documents").fetchall() == [("a", "tekst")]
    assert con.execute("SELECT count(*) FROM votes").fetchall()[0][0] == 0  # version 2 tables exist
    assert con.execute("SELECT count(*) FROM labelled_corpus").fetchall()[0][0] == 1
    assert [r[0] for r in con.execute("SELECT version FROM schema_version ORDER BY 1").fetchall()] == list(range(1, SCHEMA_VERSION + 1))


def test_newer_file_is_refused(tmp_path):
    path = tmp_path / "new.duckdb"
    con = connect(path)
    con.execute("INSERT INTO schema_version (version) VALUES (?)", [SCHEMA_VERSION + 1])
    con.close()
    with pytest.raises(WarehouseError, match="newer"):
        connect(path)


def test_sql_is_read_only(project):
    con = connect(project.db_path())
    con.execute("INSERT INTO documents (doc_id, text, text_hash) VALUES ('a', 'tekst', 'x')")
    con.close()
    assert run_sql(project.db_path(), "select count(*) AS n from documents").to_pylist() == [{"n": 1}]
    for statement in ("DELETE FROM documents", "DROP TABLE documents", "CREATE TABLE t (a INT)"):
        with pytest.raises(QueryError, match="read-only"):
            run_sql(project.db_path(), statement)
    assert run_sql(project.db_path(), "select count(*) AS n from documents").to_pylist() == [{"n": 1}]
    with pytest.raises(QueryError, match="nosuchtable"):
        run_sql(project.db_path(), "select * from nosuchtable")


def test_record_run_marks_failures(con):
    with record_run(con, "ingest", {"a": 1}) as run:
        run.metrics["rows"] = 3
    with pytest.raises(ValueError):
        with record_run(con, "label"):
            raise ValueError("boom")
    rows = con.execute("SELECT stage, status, metrics->>'rows' FROM runs ORDER BY started_at").fetchall()
    assert rows == [("ingest", "ok", "3"), ("label", "failed", None)]


def test_export_writes_readable_parquet(con, tmp_path):
    con.execute("INSERT INTO documents (doc_id, text, text_hash) VALUES ('a', 'tekst', 'x')")
    written = {name: path for name, _, path in export_parquet(con, tmp_path / "out")}
    assert pq.read_table(written["documents"]).num_rows == 1
    assert pq.read_table(written["categories"]).num_rows == 5
    assert "labelled_corpus" in written


def test_config_found_upward_and_db_precedence(project, tmp_path, monkeypatch):
    sub = tmp_path / "a" / "b"
    sub.mkdir(parents=True)
    monkeypatch.chdir(sub)
    config = load_config()
    assert config.path == tmp_path / "admedtagger.toml"
    assert config.db_path() == tmp_path / "admedtagger.duckdb"
    monkeypatch.setenv("ADMEDTAGGER_DB", str(tmp_path / "env.duckdb"))
    assert config.db_path() == tmp_path / "env.duckdb"
    assert config.db_path("x.duckdb") == sub / "x.duckdb"


def test_bad_config_is_a_one_line_error(tmp_path):
    path = tmp_path / "admedtagger.toml"
    path.write_text("[project]\nlanguage = 'de'\n")
    with pytest.raises(ConfigError, match="language"):
        load_config(path)


def test_final_label_and_the_split_of_reviewed_documents(con):
    """labelled_corpus.final_label (default taxonomy: 0 Radiology, 1 Oncology): the human label
    (review, else imported), else the weak label ("none" included), else the latest
    student's; final_source says which. A document known
    only from reviews is dev gold; one with an imported label keeps its md5 split."""
    from factory import insert_rows, write_weak_labels

    from admedtagger.cleaning import decide

    insert_rows(con, "documents", [{"doc_id": d, "text": f"tekst {d}", "text_hash": d} for d in "abcdefghi"])
    write_weak_labels(con, list("abcd"), [0, 0, -1, 1])
    insert_rows(con, "gold_imports", [{"doc_id": d, "label": 1, "source": "file"} for d in "efgh"])
    insert_rows(con, "students", [{"model_id": "s1", "kind": "tfidf", "path": "x", "created_at": "2026-01-01"}])
    insert_rows(con, "predictions", [{"model_id": "s1", "doc_id": d, "label": 0} for d in "dfgi"])
    decide(con, "a", label=1, reviewer="ann", source="cli")
    decide(con, "e", none=True, reviewer="ann", source="cli")
    rows = con.execute("SELECT doc_id, final_label, final_label_name, final_source FROM labelled_corpus").fetchall()
    assert len(rows) == 9  # one row per document
    final = {d: (label, name, source) for d, label, name, source in rows}
    assert final["a"] == (1, "Oncology", "review")
    assert final["b"] == (0, "Radiology", "weak_label")
    assert final["c"] == (-1, "none", "weak_label")
    assert final["d"] == (1, "Oncology", "weak_label")  # the weak label comes before the student's
    assert final["e"] == (-1, "none", "review")
    assert final["f"] == (1, "Oncology", "imported")
    assert final["h"] == (1, "Oncology", "imported")
    assert final["i"] == (0, "Radiology", "student")
    split = dict(con.execute("SELECT doc_id, split FROM gold").fetchall())
    assert split["a"] == "dev"  # known only from a review
    md5 = dict(con.execute("""SELECT doc_id, CASE WHEN (('0x' || substr(md5(doc_id), 1, 8))::UBIGINT % 10000) < 5000
                              THEN 'dev' ELSE 'test' END FROM documents""").fetchall())
    assert all(split[d] == md5[d] for d in "efgh")  # imported: the md5 split, reviewed or not
