"""The LF workbench, the document page and the corpus browser over real HTTP on a real
uvicorn server, on the flagged demo project; what the pages show is checked against
independent queries of the warehouse."""

from __future__ import annotations

import html
import io
import json
import re
from urllib.parse import quote, unquote

import httpx
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
import pytest
from markupsafe import escape

from admedtagger.warehouse import connect, ingest_files, last_ok_run
from admedtagger.web import ServeSettings, create_app
from webserver import rows, running

pytestmark = pytest.mark.slow  # a server per test

XSS = '<script>alert(1)</script>"><img src=x onerror=alert(1)>'
ODD_ID = "a/b c<é>?#%20..%2F"


@pytest.fixture
def warehouse_copy(flagged_project, tmp_path):
    """The flagged project with three more documents ingested: one whose id and text are
    an XSS attempt, one with an id full of URL syntax, one with % and _ in its text."""
    extra = tmp_path / "extra.jsonl"
    rows = [{"id": XSS, "text": f"Tekst {XSS} koniec"}, {"id": ODD_ID, "text": "Zwykły tekst o sercu"},
            {"id": "literal", "text": "Znak zq%_zq w tekście"}]
    extra.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    con = connect(flagged_project.db_path())
    ingest_files(con, [extra], id_col="id")
    con.close()
    return flagged_project


@pytest.fixture
def client(warehouse_copy):
    with running(create_app(ServeSettings(config=warehouse_copy, lock_wait=2))) as base:
        with httpx.Client(base_url=base, follow_redirects=False, timeout=60) as http:
            yield http


def linked_documents(page: str) -> list[str]:
    """The doc ids of the document links on a page, decoded."""
    return [unquote(html.unescape(href)) for href in re.findall(r'href="/documents/([^"]*)"', page)]


def shown_total(page: str) -> int:
    return int(re.search(r'<p class="pager">(\d+) documents', page).group(1))


# ---------------------------------------------------------------- LF workbench


def test_the_workbench_lists_every_current_lf_with_its_stored_analysis(client, warehouse_copy):
    page = client.get("/lfs")
    assert page.status_code == 200
    run = last_ok_run_of(warehouse_copy, "label-model")
    assert run in page.text
    stored = dict(rows(warehouse_copy, "SELECT lf, value FROM lf_analysis WHERE run_id = ? AND category IS NULL "
                                        "AND metric = 'coverage'", [run]))
    lfs = [lf for (lf,) in rows(warehouse_copy, "SELECT lf FROM current_lfs ORDER BY lf")]
    assert len(lfs) == 7
    for lf in lfs:
        row = re.search(rf'<tr>\s*<td><a href="/lfs/{lf}">{lf}</a></td>(.*?)</tr>', page.text, re.S)
        assert row, lf
        assert f"{stored[lf] * 100:.1f}%" in row.group(1)
    for heading in ("coverage", "overlaps", "conflicts", "dev accuracy", "Snorkel weight"):
        assert f">{heading}</th>" in page.text


def last_ok_run_of(config, stage: str) -> str:
    con = connect(config.db_path(), read_only=True)
    try:
        return last_ok_run(con, stage)
    finally:
        con.close()


def test_an_lfs_wrong_examples_are_really_wrong_against_dev_gold(client, warehouse_copy):
    lf = "kw_cardiology"
    expected = {d for (d,) in rows(warehouse_copy, """
        SELECT v.doc_id FROM current_votes v JOIN gold g USING (doc_id)
        WHERE v.lf = ? AND v.label <> -1 AND g.split = 'dev' AND g.label <> v.label""", [lf])}
    page = client.get(f"/lfs/{lf}")
    assert page.status_code == 200
    assert f"wrong ({len(expected)})" in page.text and "Per category" in page.text
    assert set(linked_documents(page.text)) == expected  # fewer than one page of 50
    first = sorted(expected)[0]
    gold = rows(warehouse_copy, "SELECT label_name FROM gold WHERE doc_id = ?", [first])[0][0]
    row = re.search(rf'<a href="/documents/{first}">{first}</a></td>(.*?)</tr>', page.text, re.S).group(1)
    assert "Cardiology" in row and gold in row


def test_conflicting_examples_are_paginated(client, warehouse_copy):
    lf = "kw_oncology"
    expected = {d for (d,) in rows(warehouse_copy, """
        SELECT DISTINCT a.doc_id FROM current_votes a JOIN current_votes b
          ON a.doc_id = b.doc_id AND b.lf <> a.lf AND b.label <> -1 AND b.label <> a.label
        WHERE a.lf = ? AND a.label <> -1""", [lf])}
    pages = -(-len(expected) // 50)
    assert pages > 1
    first = client.get(f"/lfs/{lf}?show=conflicting")
    assert first.status_code == 200
    assert f"conflicting ({len(expected)})" in first.text and f"page 1 of {pages}" in first.text
    assert 'href="/lfs/kw_oncology?show=conflicting&amp;page=2"' in first.text
    seen = linked_documents(first.text)
    for number in range(2, pages + 1):
        page = client.get(f"/lfs/{lf}?show=conflicting&page={number}")
        assert page.status_code == 200
        seen += linked_documents(page.text)
    assert len(seen) == len(set(seen)) == len(expected) and set(seen) == expected


def test_workbench_errors(client):
    missing = client.get("/lfs/no_such_lf")
    assert missing.status_code == 404 and "no labelling function" in missing.text
    assert client.get("/lfs/kw_oncology?show=right").status_code == 400
    for page in ("0", "-1", "abc", "1e3"):
        bad = client.get(f"/lfs/kw_oncology?page={page}")
        assert bad.status_code == 400 and "page must be a whole number" in bad.text


# ------------------------------------------------------------------ documents


def test_the_document_page_shows_votes_posterior_gold_and_flag(client, warehouse_copy):
    flag_run = last_ok_run_of(warehouse_copy, "flag")
    doc_id, reason = rows(warehouse_copy, "SELECT doc_id, reason FROM label_issues WHERE run_id = ? "
                                           "AND reason LIKE '%lf_conflict%' ORDER BY rank LIMIT 1", [flag_run])[0]
    page = client.get(f"/documents/{quote(doc_id, safe='')}")
    assert page.status_code == 200
    text = page.text
    for lf, label in rows(warehouse_copy, "SELECT lf, label FROM current_votes WHERE doc_id = ?", [doc_id]):
        cell = re.search(rf'<a href="/lfs/{lf}">{lf}</a></td><td>keyword</td>\s*(.*?)</tr>', text, re.S).group(1)
        if label == -1:
            assert "abstain" in cell
        else:
            name = rows(warehouse_copy, "SELECT name FROM categories WHERE label = ?", [label])[0][0]
            assert f"<strong>{name}</strong>" in cell
    probs = rows(warehouse_copy, "SELECT probs FROM weak_labels WHERE run_id = ? AND doc_id = ?",
                  [last_ok_run_of(warehouse_copy, "label-model"), doc_id])[0][0]
    posterior = re.search(r'<table class="posterior">(.*?)</table>', text, re.S).group(1)
    assert [float(p) for p in re.findall(r'<td class="num">([\d.]+)</td>', posterior)] == \
        [round(p, 3) for p in probs]
    assert posterior.count('class="bar"') == 6
    gold_name, split = rows(warehouse_copy, "SELECT label_name, split FROM gold WHERE doc_id = ?", [doc_id])[0]
    gold = re.search(r"<h2>Gold</h2>(.*?)</div>", text, re.S).group(1)
    assert f"<strong>{gold_name or 'none'}</strong>" in gold and split in gold
    assert reason in re.search(r"<h2>Flag</h2>(.*?)</div>", text, re.S).group(1)
    assert "Final label: <strong>" in text and "from imported" in text
    assert '<mark class="kw"' in text  # the keyword LFs' marks


def test_the_document_page_shows_reviews_with_undone_ones_marked(client, warehouse_copy):
    # A reviewer relabels, undoes that, then says "none", through the CLI's library.
    from admedtagger.cleaning.review import decide, undo
    doc_id = rows(warehouse_copy, "SELECT doc_id FROM documents ORDER BY doc_id LIMIT 1")[0][0]
    con = connect(warehouse_copy.db_path())
    try:
        decide(con, doc_id, label=2, reviewer="ala", source="web")
        undo(con, reviewer="ala")
        decide(con, doc_id, none=True, reviewer="ala", source="web")
    finally:
        con.close()
    text = client.get(f"/documents/{doc_id}").text
    reviews = re.search(r'<table class="reviews">(.*?)</table>', text, re.S).group(1)
    assert reviews.count('<tr class="undone">') == 1 and "cancels" in reviews and "<strong>effective</strong>" in reviews
    assert "from review" in text


def test_odd_doc_ids_are_encoded_in_links_and_found(client, warehouse_copy):
    listing = client.get("/corpus", params={"q": "Zwykły tekst o sercu"})
    assert listing.status_code == 200
    href = re.search(r'href="(/documents/[^"]*)"', listing.text).group(1)
    assert "/" not in href[len("/documents/"):] and "?" not in href and "#" not in href and " " not in href
    page = client.get(html.unescape(href))
    assert page.status_code == 200 and str(escape(ODD_ID)) in page.text
    assert "Zwykły tekst o sercu" in page.text


def test_an_unknown_document_is_a_404(client):
    missing = client.get("/documents/" + quote("nie ma/takiego", safe=""))
    assert missing.status_code == 404 and "no document" in missing.text and "nie ma/takiego" in missing.text


def test_xss_in_a_doc_id_and_text_renders_as_text(client):
    escaped = str(escape(XSS))
    for path in (f"/documents/{quote(XSS, safe='')}", "/corpus?q=" + quote("<script>")):
        page = client.get(path)
        assert page.status_code == 200, path
        assert "<script>alert" not in page.text and "<img src=x" not in page.text, path
        assert escaped in page.text, path
    listing = client.get("/corpus?q=" + quote("<script>"))
    assert linked_documents(listing.text) == [XSS] and shown_total(listing.text) == 1
    # The 404 page of an id that does not exist echoes it escaped too.
    missing = client.get(f"/documents/{quote(XSS + 'x', safe='')}")
    assert missing.status_code == 404 and "<script>alert" not in missing.text


# -------------------------------------------------------------------- corpus


def test_corpus_filters_show_what_an_independent_count_says(client, warehouse_copy):
    weak_run, flag_run = last_ok_run_of(warehouse_copy, "label-model"), last_ok_run_of(warehouse_copy, "flag")
    cases = [
        ({}, "SELECT count(*) FROM documents", []),
        ({"weak": "Cardiology"}, "SELECT count(*) FROM weak_labels WHERE run_id = ? AND label = 2", [weak_run]),
        ({"gold": "none"}, "SELECT count(*) FROM gold_imports WHERE label = -1", []),
        ({"flagged": "yes"}, "SELECT count(*) FROM label_issues WHERE run_id = ?", [flag_run]),
        ({"lf": "kw_pathology", "vote": "Pathology"},
         "SELECT count(*) FROM votes WHERE lf = 'kw_pathology' AND label = 4", []),
        ({"source": "weak_label"}, "SELECT count(*) FROM documents WHERE doc_id NOT IN "
                                   "(SELECT doc_id FROM gold_imports) AND doc_id IN "
                                   "(SELECT doc_id FROM weak_labels WHERE run_id = ?)", [weak_run]),
        ({"weak": "Oncology", "flagged": "no", "q": "rak"}, """
            SELECT count(*) FROM weak_labels w JOIN documents d USING (doc_id)
            WHERE w.run_id = ? AND w.label = 1 AND lower(d.text) LIKE '%rak%'
              AND w.doc_id NOT IN (SELECT doc_id FROM label_issues WHERE run_id = ?)""", [weak_run, flag_run]),
    ]
    for params, sql, sql_params in cases:
        expected = rows(warehouse_copy, sql, sql_params)[0][0]
        page = client.get("/corpus", params=params)
        assert page.status_code == 200, params
        assert shown_total(page.text) == expected, params
        assert len(linked_documents(page.text)) == min(expected, 50), params
        if expected > 50:
            assert f"page 1 of {-(-expected // 50)}" in page.text


def test_corpus_pages_cover_every_document_once(client, warehouse_copy):
    expected = [d for (d,) in rows(warehouse_copy, "SELECT doc_id FROM documents ORDER BY doc_id")]
    seen = []
    for number in range(1, -(-len(expected) // 50) + 1):
        seen += linked_documents(client.get("/corpus", params={"page": number}).text)
    assert seen == expected
    past = client.get("/corpus", params={"page": 99})
    assert past.status_code == 200 and linked_documents(past.text) == []


def test_search_treats_percent_and_underscore_literally(client, warehouse_copy):
    for q in ("zq%_zq", "ZQ%_", "%_"):
        page = client.get("/corpus", params={"q": q})
        assert linked_documents(page.text) == ["literal"], q
    assert linked_documents(client.get("/corpus", params={"q": "zq__zq"}).text) == []
    everything = rows(warehouse_copy, "SELECT count(*) FROM documents WHERE text LIKE '%\\%%' ESCAPE '\\'")[0][0]
    assert shown_total(client.get("/corpus", params={"q": "%"}).text) == everything


def test_downloads_hold_the_filters_rows(client, warehouse_copy):
    params = {"gold": "Cardiology", "flagged": "no"}
    expected = shown_total(client.get("/corpus", params=params).text)
    columns = [c for (c,) in rows(warehouse_copy, "SELECT column_name FROM (DESCRIBE labelled_corpus)")]
    for format, read in (("csv", pa_csv.read_csv), ("parquet", pq.read_table)):
        response = client.get(f"/corpus.{format}", params={**params, "page": 2})
        assert response.status_code == 200
        assert response.headers["content-disposition"] == f'attachment; filename="corpus.{format}"'
        table = read(io.BytesIO(response.content))
        assert table.num_rows == expected > 50 and table.column_names == columns
        assert set(table.column("gold_label_name").to_pylist()) == {"Cardiology"}
        assert not any(table.column("flagged").to_pylist())
    listing = client.get("/corpus", params=params).text
    assert 'href="/corpus.csv?gold=Cardiology&amp;flagged=no"' in listing


def test_bad_filter_values_are_a_400_page(client):
    for params, message in [
        ({"weak": "Dermatology"}, "unknown weak label"), ({"gold": "x<b>"}, "unknown gold label"),
        ({"flagged": "maybe"}, "flagged must be yes or no"), ({"lf": "nope"}, "unknown LF"),
        ({"vote": "Oncology"}, "needs the LF"), ({"source": "guess"}, "unknown final source"),
        ({"page": "-1"}, "page must be"), ({"page": "abc"}, "page must be"), ({"page": "0"}, "page must be"),
        ({"page": "9" * 30}, "page must be"),
    ]:
        for path in ("/corpus", "/corpus.csv"):
            if path == "/corpus.csv" and "page" in params:
                continue  # a download ignores the page
            page = client.get(path, params=params)
            assert page.status_code == 400 and message in page.text, (path, params)
            assert "<b>" not in page.text


def test_the_pages_work_before_any_labelling(project):
    """Only ingested: no votes, no weak labels, no flags, no analysis."""
    from conftest import DEMO_CORPUS
    con = connect(project.db_path())
    ingest_files(con, [DEMO_CORPUS], id_col="id")
    con.close()
    with running(create_app(ServeSettings(config=project, lock_wait=2))) as base, \
            httpx.Client(base_url=base, timeout=60) as http:
        lfs = http.get("/lfs")
        assert lfs.status_code == 200 and "No LF analysis yet" in lfs.text
        corpus = http.get("/corpus", params={"q": "serca"})
        assert corpus.status_code == 200 and shown_total(corpus.text) > 0
        document = http.get("/documents/demo-0001")
        assert document.status_code == 200 and "No weak label" in document.text and "No gold label" in document.text
        assert http.get("/corpus", params={"flagged": "yes"}).status_code == 200
