"""The browsing library on a real warehouse (the flagged demo project): the LF workbench's
analysis and examples (labeling/analysis.py), the corpus filter, search and download and
one document's record (warehouse/browse.py), each checked against an independent query."""

from __future__ import annotations

import io
import json

import numpy as np
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
import pytest

from admedtagger.labeling.analysis import (
    EXAMPLE_KINDS, analyse_lfs, category_metrics, latest_analysis, lf_example_count, lf_examples,
)
from admedtagger.labeling.vote_matrix import load_vote_matrix, read_gold, select_lfs
from admedtagger.warehouse import NONE_LABEL, UserError, connect, ingest_files, last_ok_run, record_run
from admedtagger.warehouse.browse import (
    CorpusFilter, corpus_count, corpus_page, document_record, like_pattern, snippet, write_corpus,
)
from factory import insert_rows


@pytest.fixture
def con(flagged_project):
    connection = connect(flagged_project.db_path())
    yield connection
    connection.close()


def _ids(rows) -> list[str]:
    return rows.column("doc_id").to_pylist()


def _all_examples(con, lf: str, kind: str, limit: int = 7) -> list[str]:
    """Every example of ``kind``, page by page."""
    found, offset = [], 0
    while True:
        page = lf_examples(con, lf, kind, limit=limit, offset=offset)
        if not page.rows.num_rows:
            return found
        found += _ids(page.rows)
        offset += limit


def _stored(con, lf: str, metric: str) -> float:
    run = last_ok_run(con, "label-model")
    return con.execute("SELECT value FROM lf_analysis WHERE run_id = ? AND lf = ? AND category IS NULL AND metric = ?",
                       [run, lf, metric]).fetchall()[0][0]


def test_wrong_examples_are_the_votes_that_differ_from_dev_gold(con):
    lfs = [lf for (lf,) in con.execute("SELECT lf FROM current_lfs ORDER BY lf").fetchall()]
    assert len(lfs) == 7
    for lf in lfs:
        # Independently: the raw votes of the LF's current version against the imported labels
        # of the dev split (the demo has no reviews, so gold = the imports).
        expected = {d for (d,) in con.execute("""
            SELECT v.doc_id FROM votes v JOIN current_lfs l ON l.lf = v.lf AND l.version = v.lf_version
            JOIN gold_imports i ON i.doc_id = v.doc_id
            WHERE v.lf = ? AND v.label <> -1 AND v.label <> i.label
              AND v.doc_id IN (SELECT doc_id FROM gold WHERE split = 'dev')""", [lf]).fetchall()}
        found = _all_examples(con, lf, "wrong")
        assert len(found) == len(set(found)) and set(found) == expected
        assert found == sorted(found)
        # ... and exactly the votes the stored dev accuracy counts as wrong.
        assert len(found) == round(_stored(con, lf, "gold_votes") * (1 - _stored(con, lf, "accuracy")))
        assert lf_example_count(con, lf, "wrong") == len(found)


def test_wrong_example_rows_name_the_vote_gold_and_weak_label(con):
    page = lf_examples(con, "kw_cardiology", "wrong", limit=50)
    assert page.total == page.rows.num_rows > 0
    gold = dict(con.execute("SELECT doc_id, label_name FROM gold").fetchall())
    weak = dict(con.execute("SELECT doc_id, coalesce(weak_label_name, 'none') FROM labelled_corpus").fetchall())
    for row in page.rows.to_pylist():
        assert row["vote"] == "Cardiology" and row["gold"] != "Cardiology"
        assert row["gold"] == (gold[row["doc_id"]] or "none")
        assert row["weak_label"] == weak[row["doc_id"]]
        assert len(row["snippet"]) <= 162


def test_conflicting_examples_are_the_documents_behind_the_conflicts_metric(con):
    n = con.execute("SELECT count(DISTINCT doc_id) FROM current_votes").fetchall()[0][0]
    for lf in ("kw_cardiology", "kw_pathology", "kw_radiology_report"):
        expected = {d for (d,) in con.execute("""
            SELECT DISTINCT a.doc_id FROM current_votes a JOIN current_votes b
              ON a.doc_id = b.doc_id AND b.lf <> a.lf AND b.label <> -1 AND b.label <> a.label
            WHERE a.lf = ? AND a.label <> -1""", [lf]).fetchall()}
        found = _all_examples(con, lf, "conflicting", limit=20)
        assert len(found) == len(set(found)) and set(found) == expected
        assert len(found) == round(_stored(con, lf, "conflicts") * n)
    first = lf_examples(con, "kw_cardiology", "conflicting", limit=200).rows.to_pylist()
    # Dev gold first (those say who was right), never test gold.
    known = [row["gold"] is not None for row in first]
    assert known == sorted(known, reverse=True) and any(known) and not all(known)
    test_split = {d for (d,) in con.execute("SELECT doc_id FROM gold WHERE split = 'test'").fetchall()}
    assert all(row["gold"] is None for row in first if row["doc_id"] in test_split)
    assert all(row["other_votes"] and "kw_cardiology" not in row["other_votes"] for row in first)


def test_examples_refuse_unknown_lfs_kinds_and_pages(con):
    with pytest.raises(UserError, match="unknown LF 'nope'"):
        lf_examples(con, "nope", "wrong")
    with pytest.raises(UserError, match="unknown kind of example 'right'"):
        lf_examples(con, "kw_oncology", "right")
    with pytest.raises(UserError, match="offset must be"):
        lf_examples(con, "kw_oncology", "wrong", offset=-1)
    past = lf_examples(con, "kw_oncology", "wrong", offset=10_000)
    assert past.rows.num_rows == 0 and past.total > 0
    assert EXAMPLE_KINDS == ("wrong", "conflicting")


def test_latest_analysis_lists_every_current_lf_from_the_newest_run(con):
    analysis = latest_analysis(con)
    assert analysis.stage == "label-model" and analysis.run_id == last_ok_run(con, "label-model")
    summary = {row["lf"]: row for row in analysis.summary.to_pylist()}
    assert set(summary) == {lf for (lf,) in con.execute("SELECT lf FROM current_lfs").fetchall()}
    for lf, row in summary.items():
        assert row["coverage"] == round(_stored(con, lf, "coverage"), 4)
        assert row["snorkel_accuracy"] == round(_stored(con, lf, "snorkel_accuracy"), 4)
        assert row["analysed"] == "current"
    per_category = category_metrics(analysis.long, "kw_cardiology").to_pylist()
    assert [r["category"] for r in per_category] == ["Cardiology", "Hypertension", "Oncology", "Pathology", "Radiology"]
    assert per_category[0]["votes"] == summary["kw_cardiology"]["votes"] and per_category[1]["votes"] == 0

    # An `lfs` run (lf-analysis) is newer: its rows win. A changed LF (new version, no
    # analysis of it yet) is marked, and an LF that run left out has no metrics.
    run_id, _, _ = analyse_lfs(con, ["kw_oncology", "kw_cardiology"])
    insert_rows(con, "lfs", [{"lf": "kw_oncology", "kind": "keyword", "version": "changed", "spec": "{}"},
                             {"lf": "py_new", "kind": "python", "version": "v1", "spec": "{}"}])
    again = latest_analysis(con)
    assert (again.run_id, again.stage) == (run_id, "lf-analysis")
    state = {row["lf"]: (row["analysed"], row["coverage"]) for row in again.summary.to_pylist()}
    assert state["kw_cardiology"][0] == "current" and state["kw_oncology"][0] == "older version"
    assert state["py_new"] == ("no", None) and state["kw_pathology"] == ("no", None)


def test_latest_analysis_of_a_warehouse_without_one(demo_con):
    analysis = latest_analysis(demo_con)
    assert analysis.run_id is None and analysis.summary.num_rows == 0 and analysis.long.num_rows == 0


# ------------------------------------------------------------------ corpus


def _count(con, sql: str, params=()) -> int:
    return con.execute(sql, list(params)).fetchall()[0][0]


def test_each_filter_selects_what_an_independent_query_counts(con):
    weak_run, flag_run = last_ok_run(con, "label-model"), last_ok_run(con, "flag")
    cases = [
        (CorpusFilter(), "SELECT count(*) FROM documents", []),
        (CorpusFilter(weak_label="cardiology"),
         "SELECT count(*) FROM weak_labels WHERE run_id = ? AND label = 2", [weak_run]),
        (CorpusFilter(weak_label="none"),
         "SELECT count(*) FROM weak_labels WHERE run_id = ? AND label = -1", [weak_run]),
        (CorpusFilter(gold_label="Onkologia"), "SELECT count(*) FROM gold_imports WHERE label = 1", []),
        (CorpusFilter(flagged=True), "SELECT count(*) FROM label_issues WHERE run_id = ?", [flag_run]),
        (CorpusFilter(flagged=False),
         "SELECT count(*) FROM documents WHERE doc_id NOT IN (SELECT doc_id FROM label_issues WHERE run_id = ?)",
         [flag_run]),
        (CorpusFilter(lf="kw_oncology"), "SELECT count(*) FROM votes WHERE lf = 'kw_oncology' AND label <> -1", []),
        (CorpusFilter(lf="kw_oncology", lf_label="none"),
         "SELECT count(*) FROM votes WHERE lf = 'kw_oncology' AND label = -1", []),
        (CorpusFilter(final_source="imported"), "SELECT count(DISTINCT doc_id) FROM gold_imports", []),
        (CorpusFilter(final_source="review"), "SELECT 0", []),
        (CorpusFilter(weak_label="Cardiology", gold_label="Hypertension", flagged=True), """
            SELECT count(*) FROM weak_labels w JOIN gold_imports g USING (doc_id)
            JOIN label_issues f ON f.doc_id = w.doc_id AND f.run_id = ?
            WHERE w.run_id = ? AND w.label = 2 AND g.label = 3""", [flag_run, weak_run]),
        (CorpusFilter(q="SERCA", lf="kw_cardiology", lf_label="Cardiology"), """
            SELECT count(*) FROM documents d JOIN votes v ON v.doc_id = d.doc_id AND v.lf = 'kw_cardiology'
            WHERE v.label = 2 AND lower(d.text) LIKE '%serca%'""", []),
    ]
    for wanted, sql, params in cases:
        expected = _count(con, sql, params)
        assert corpus_count(con, wanted) == expected, wanted
        page = corpus_page(con, wanted, 1, page_size=1000)
        assert page.total == page.rows.num_rows == expected, wanted
    assert corpus_count(con, CorpusFilter(weak_label="Cardiology")) > 50


def test_pages_cover_the_selection_once_in_doc_id_order(con):
    wanted = CorpusFilter(flagged=True)
    total = corpus_count(con, wanted)
    seen = []
    page = corpus_page(con, wanted, 1, page_size=20)
    assert page.pages == -(-total // 20)
    for number in range(1, page.pages + 1):
        seen += _ids(corpus_page(con, wanted, number, page_size=20).rows)
    assert len(seen) == total == len(set(seen)) and seen == sorted(seen)
    assert corpus_page(con, wanted, page.pages + 1, page_size=20).rows.num_rows == 0
    row = page.rows.to_pylist()[0]
    assert row["flagged"] is True and row["flag_reason"] and row["final_source"] == "imported"


def test_search_is_literal_and_case_insensitive(con, tmp_path):
    corpus = tmp_path / "extra.jsonl"
    texts = {"pct": "Rabat 50% na leki", "no-pct": "Rabat 50 na leki", "under": "kod a_b w opisie",
             "no-under": "kod axb w opisie", "slash": r"ścieżka C:\dane\x", "polish": "Pacjent z ŁODZI, ból"}
    corpus.write_text("".join(json.dumps({"id": k, "text": t}) + "\n" for k, t in texts.items()), encoding="utf-8")
    ingest_files(con, [corpus], id_col="id")
    every = con.execute("SELECT doc_id, text FROM documents ORDER BY doc_id").fetchall()
    for query, mine in [("50%", {"pct"}), ("a_b", {"under"}), ("%", {"pct"}), ("_", {"under"}),
                        (r"C:\dane", {"slash"}), ("łodzi", {"polish"}), ("  RABAT 50", {"no-pct", "pct"})]:
        found = _ids(corpus_page(con, CorpusFilter(q=query), 1, page_size=1000).rows)
        # Independently: Python's own substring test over every text.
        assert found == [d for d, text in every if query.strip().lower() in text.lower()], query
        assert mine <= set(found) and not {"no-pct", "no-under"} - mine & set(found), query
    assert like_pattern(r"50%_\x") == r"%50\%\_\\x%"


def test_bad_filter_values_are_one_line_errors(con):
    for wanted, message in [
        (CorpusFilter(weak_label="Dermatology"), "unknown weak label 'Dermatology'"),
        (CorpusFilter(gold_label="7"), "unknown gold label '7'"),
        (CorpusFilter(lf="nope"), "unknown LF 'nope'"),
        (CorpusFilter(lf_label="Oncology"), "needs the LF"),
        (CorpusFilter(lf="kw_oncology", lf_label="x"), "unknown LF vote label 'x'"),
        (CorpusFilter(final_source="guess"), "unknown final source 'guess'"),
    ]:
        with pytest.raises(UserError, match=message) as error:
            corpus_count(con, wanted)
        assert "\n" not in str(error.value)
    for page in (0, -1, "2"):
        with pytest.raises(UserError, match="page must be"):
            corpus_page(con, CorpusFilter(), page)


def test_downloads_hold_every_matching_row_and_column(con):
    wanted = CorpusFilter(gold_label="Cardiology", q="serc")
    expected = corpus_count(con, wanted)
    columns = [c for (c,) in con.execute("SELECT column_name FROM (DESCRIBE labelled_corpus)").fetchall()]
    for format, read in (("csv", pa_csv.read_csv), ("parquet", pq.read_table)):
        sink = io.BytesIO()
        assert write_corpus(con, wanted, sink, format) == expected > 50
        table = read(io.BytesIO(sink.getvalue()))
        assert table.num_rows == expected and table.column_names == columns
        assert all("serc" in text.lower() for text in table.column("text").to_pylist())
    with pytest.raises(UserError, match="unknown download format 'xlsx'"):
        write_corpus(con, wanted, io.BytesIO(), "xlsx")


def test_snippets_show_the_start_or_the_match():
    text = "Początek.\n\n  " + "słowo " * 60 + "TUTAJ szukane miejsce " + "dalej " * 40
    assert snippet(text).startswith("Początek. słowo") and snippet(text).endswith("…")
    around = snippet(text, "tutaj  szukane")
    assert around.startswith("…") and "TUTAJ szukane" in around and len(around) <= 162
    assert snippet("krótki tekst", "tekst") == "krótki tekst"


# ---------------------------------------------------------------- a document


def test_a_document_record_holds_everything_known_about_it(con):
    flag_run = last_ok_run(con, "flag")
    doc_id, reason, given = con.execute(
        "SELECT doc_id, reason, given_label FROM label_issues WHERE run_id = ? AND reason LIKE '%lf_conflict%' "
        "ORDER BY rank LIMIT 1",
        [flag_run]).fetchall()[0]
    # Reviews: a relabel, its undo, then an accept; and two students' predictions.
    insert_rows(con, "reviews", [
        {"review_id": review_id, "doc_id": doc_id, "decision": decision, "label": label, "undoes": undoes,
         "reviewer": reviewer, "source": "web", "created_at": f"2030-01-01 10:0{minute}:00"}
        for minute, (review_id, decision, label, undoes, reviewer) in enumerate([
            ("r1", "relabel", 0, None, "ala"), ("r2", "undo", None, "r1", "ala"), ("r3", "reject", -1, None, "ola")])
    ])
    with record_run(con, "train", {}) as run:
        insert_rows(con, "students", [
            {"model_id": "tfidf-1", "kind": "tfidf", "path": "x", "run_id": run.run_id, "created_at": "2030-01-01"},
            {"model_id": "emb-1", "kind": "embedding", "path": "y", "run_id": run.run_id, "created_at": "2030-01-02"}])
        insert_rows(con, "predictions", [
            {"model_id": "tfidf-1", "doc_id": doc_id, "label": 2, "probs": [0.1, 0.1, 0.6, 0.1, 0.05, 0.05]},
            {"model_id": "emb-1", "doc_id": doc_id, "label": -1, "probs": [0.0, 0.1, 0.1, 0.0, 0.0, 0.8]}])

    record = document_record(con, doc_id)
    assert record.text == con.execute("SELECT text FROM documents WHERE doc_id = ?", [doc_id]).fetchall()[0][0]
    votes = dict(con.execute("SELECT lf, label FROM current_votes WHERE doc_id = ?", [doc_id]).fetchall())
    assert {v.lf: v.label for v in record.votes} == votes and len(votes) == 7
    assert any(v.label == NONE_LABEL for v in record.votes) and any(v.label >= 0 for v in record.votes)

    weak = record.weak_label
    label, probs = con.execute("SELECT label, probs FROM weak_labels WHERE run_id = ? AND doc_id = ?",
                               [last_ok_run(con, "label-model"), doc_id]).fetchall()[0]
    assert [name for name, _ in weak.posterior] == ["Radiology", "Oncology", "Cardiology", "Hypertension",
                                                     "Pathology", "none"]
    assert np.allclose([p for _, p in weak.posterior], probs) and weak.label == label
    assert record.flag.reason == reason and record.flag.run_id == flag_run
    assert record.flag.given == ("none" if given == -1 else weak.name)

    assert [(r.review_id, r.standing, r.effective) for r in record.reviews] == [
        ("r1", False, False), ("r2", False, False), ("r3", True, True)]
    assert record.reviews[0].name == "Radiology" and record.reviews[2].name == "none"
    split = con.execute("SELECT split FROM gold WHERE doc_id = ?", [doc_id]).fetchall()[0][0]
    assert (record.gold.name, record.gold.source, record.gold.split) == ("none", "review:ola", split)
    assert record.imported and record.imported[0].source.endswith("#label")
    assert (record.final_label, record.final_source) == ("none", "review")
    assert [(p.model_id, p.name, p.probability) for p in record.predictions] == [
        ("emb-1", "none", 0.8), ("tfidf-1", "Cardiology", 0.6)]


def test_an_unknown_document_has_no_record(con):
    assert document_record(con, "no such id") is None
    with pytest.raises(UserError, match="a doc_id is a string"):
        document_record(con, 7)


def test_the_analysis_examples_agree_with_the_vote_matrix(con):
    """The wrong examples of every LF, from the numpy matrix the analysis itself reads."""
    lfs, skipped = select_lfs(con)
    matrix, _ = load_vote_matrix(con, lfs, 5, skipped)
    dev = read_gold(con, "dev")
    votes = matrix.for_documents(dev.rowids).labels
    ids = dict(con.execute("SELECT rowid, doc_id FROM documents").fetchall())
    for j, lf in enumerate(matrix.names):
        wrong = (votes[:, j] != NONE_LABEL) & (votes[:, j] != dev.labels)
        assert set(_all_examples(con, lf, "wrong", limit=100)) == {ids[r] for r in dev.rowids[wrong]}


def test_a_disputed_document_says_so(con):
    from admedtagger.cleaning.review import decide
    doc_id = "demo-0002"
    assert not document_record(con, doc_id).disputed
    decide(con, doc_id, label=1, reviewer="ala")
    decide(con, doc_id, label=2, reviewer="ola")
    record = document_record(con, doc_id)
    assert record.disputed and [r.reviewer for r in record.reviews] == ["ala", "ola"]
    assert all(r.standing and not r.effective for r in record.reviews)
