"""The review queue page over real HTTP (a real uvicorn server, a real warehouse): what it
shows, the decisions it writes to ``reviews`` (as ``review decide`` writes them, source
``web``), undo, bad input, CSRF, a document decided meanwhile, blind second reviews, and
escaping of a hostile document."""

from __future__ import annotations

import html
import re
from pathlib import Path

import httpx
import pytest

from admedtagger.cleaning.review import overlap_share, pending, record
from admedtagger.cleaning.votes import document_votes
from admedtagger.labeling.registry import build_lfs
from admedtagger.warehouse import NONE_LABEL, connect, last_ok_run, load_config, review_decision
from admedtagger.web import ServeSettings, create_app
from webserver import flag_first, queue_of, rows, running

NAMES = ["Radiology", "Oncology", "Cardiology", "Hypertension", "Pathology"]


def name(label: int | None) -> str:
    return "none" if label == NONE_LABEL else NAMES[label]


XSS = '<script>alert(1)</script> "><img src=x onerror=alert(1)> Rak płuca.'


def csrf_of(page: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', page).group(1)


def shown(page: str) -> tuple[str, str]:
    """(doc_id, task) of the document a queue page shows."""
    doc_id = re.search(r'name="doc_id" value="([^"]*)"', page).group(1)
    task = re.search(r'name="task" value="([^"]*)"', page).group(1)
    return html.unescape(doc_id), task


def flash(page: str) -> str:
    found = re.search(r'<div class="flash[^"]*" role="status">([^<]*)</div>', page)
    return html.unescape(found.group(1)) if found else ""


class Reviewer:
    """A browser-like client with a name in its session."""

    def __init__(self, base: str, name: str):
        self.client = httpx.Client(base_url=base, follow_redirects=False, timeout=60)
        form = self.client.get("/reviewer").text
        self.csrf = csrf_of(form)
        assert self.client.post("/reviewer", data={"csrf": self.csrf, "name": name, "next": "/queue"}).status_code == 303

    def page(self, path: str = "/queue") -> str:
        response = self.client.get(path)
        assert response.status_code == 200, response.text
        return response.text

    def decide(self, doc_id: str, task: str | None = None, **fields) -> httpx.Response:
        data = {"csrf": self.csrf, "doc_id": doc_id, **fields}
        if task is not None:
            data["task"] = task
        return self.client.post("/queue/decide", data=data)

    def follow(self, response: httpx.Response) -> str:
        assert response.status_code == 303, response.text
        return self.page(response.headers["location"])

    def close(self):
        self.client.close()


@pytest.fixture
def served(flagged_project):
    with running(create_app(ServeSettings(config=flagged_project, lock_wait=2))) as base:
        yield base


@pytest.fixture
def anna(served):
    reviewer = Reviewer(served, "Anna")
    yield reviewer
    reviewer.close()


def reviews(config) -> list[tuple]:
    return rows(config, "SELECT doc_id, decision, label, reviewer, source, undoes FROM reviews ORDER BY created_at, review_id")


def test_the_queue_asks_for_a_name_first(served):
    with httpx.Client(base_url=served, follow_redirects=False, timeout=60) as client:
        answer = client.get("/queue")
        assert answer.status_code == 303 and answer.headers["location"] == "/reviewer?next=/queue"


def test_the_first_item_in_queue_order(anna, flagged_project):
    expected = queue_of(flagged_project, "Anna")
    page = anna.page()
    assert shown(page) == (expected[0].doc_id, "review")
    assert re.search(rf'id="queue-size">{len(expected)}<', page)
    assert f'id="given"><strong>{name(expected[0].given_label)}</strong>' in page
    assert f'id="reason">{html.escape(expected[0].reason)}<' in page


def test_an_item_shows_its_votes_posterior_and_keyword_marks(anna, flagged_project):
    con = connect(flagged_project.db_path(), read_only=True)
    try:
        queue = pending(con, reviewer="Anna", overlap=overlap_share(flagged_project.section("review")))
        votes = document_votes(con, [i.doc_id for i in queue])
        # a document with votes cast and abstains, so that both are shown
        item = next(i for i in queue if {label >= 0 for _, label, _ in votes[i.doc_id]} == {True, False})
        votes = votes[item.doc_id]
        keyword = build_lfs(con, flagged_project, kinds=["keyword"])
        weak_run = con.execute("SELECT json_extract_string(params, '$.weak_label_run') FROM runs WHERE run_id = ?",
                               [last_ok_run(con, "flag")]).fetchall()[0][0]
        probs = con.execute("SELECT probs FROM weak_labels WHERE run_id = ? AND doc_id = ?",
                            [weak_run, item.doc_id]).fetchall()[0][0]
    finally:
        con.close()
    page = anna.page(f"/queue?doc={item.doc_id}")
    assert shown(page) == (item.doc_id, "review")
    votes_table = page[page.index('id="votes"'):page.index("</table>", page.index('id="votes"'))]
    cast = [(lf, label, confidence) for lf, label, confidence in votes if label >= 0]
    assert len(re.findall(r"<tr><td>", votes_table)) == len(cast)
    for lf, label, confidence in cast:
        assert f'<td><a href="/lfs/{lf}">{lf}</a></td><td>{NAMES[label]}</td><td class="num">{confidence:.2f}</td>' \
            in votes_table
    abstained = [lf for lf, label, _ in votes if label < 0]
    assert re.search(r'id="abstained">abstained: ([^<]*)<', page).group(1) == ", ".join(abstained)
    posterior = page[page.index('id="posterior"'):page.index("</table>", page.index('id="posterior"'))]
    shown_probs = [float(p) for p in re.findall(r'<td class="num">([0-9.]+)</td>', posterior)]
    assert len(shown_probs) == len(NAMES) + 1 and shown_probs == pytest.approx(probs, abs=6e-4)
    # The keyword mentions the LFs counted are marked, each naming its LF, and nothing else is.
    matcher, names = keyword[0].matcher, {lf.column: lf.name for lf in keyword}
    counted = {(s.start, s.end): names[s.column] for s in matcher.spans(item.text) if s.kind == "mention"}
    text_html = page[page.index('id="doc-text"'):page.index("</div>", page.index('id="doc-text"'))]
    marks = re.findall(r'<mark class="kw" title="([^"]*)">([^<]*)</mark>', text_html)
    assert len(marks) == len(counted) > 0
    for (start, end), lf in counted.items():
        assert any(html.unescape(text) == item.text[start:end] and lf in title for title, text in marks)


def test_accept_relabel_none_skip_are_written_as_the_cli_writes_them(anna, flagged_project):
    queue = queue_of(flagged_project, "Anna")
    page = anna.page()
    outcomes = []
    for choice in ("accept", "relabel", "none", "skip"):
        doc_id, task = shown(page)
        item = next(i for i in queue if i.doc_id == doc_id)
        if choice == "relabel":
            other = (item.given_label + 1) % len(NAMES)
            response = anna.decide(doc_id, task, label=str(other))
            outcomes.append((doc_id, "relabel", other))
        elif choice == "none":
            response = anna.decide(doc_id, task, choice="none")
            outcomes.append((doc_id, "reject", NONE_LABEL))
        else:
            response = anna.decide(doc_id, task, choice=choice)
            given = item.given_label if choice == "accept" else None
            outcomes.append((doc_id, review_decision(given, given) if given is not None else choice, given))
        assert re.fullmatch(r"/queue\?saved=r[0-9a-f]{15}", response.headers["location"])
        page = anna.follow(response)
        assert flash(page).startswith(f"saved: {outcomes[-1][1]}") and doc_id in flash(page)
        assert shown(page)[0] != doc_id, "the next GET shows the next document"
    assert [(d, c, l, r, s) for d, c, l, r, s, _ in reviews(flagged_project)] == [
        (doc_id, decision, label, "Anna", "web") for doc_id, decision, label in outcomes]
    assert [i.doc_id for i in queue[:3]] == [o[0] for o in outcomes[:3]], "in queue order"
    assert re.search(r'id="decided">4<', page), "decided by you this session, the skip included"
    assert shown(page)[0] == queue[4].doc_id


def test_undo_cancels_the_latest_decision_and_shows_the_document_again(anna, flagged_project):
    first, _ = shown(anna.page())
    anna.follow(anna.decide(first, "review", choice="accept"))
    second, _ = shown(anna.page())
    anna.follow(anna.decide(second, "review", choice="none"))
    undone = anna.client.post("/queue/undo", data={"csrf": anna.csrf})
    assert undone.status_code == 303
    page = anna.follow(undone)
    assert shown(page)[0] == second and flash(page).startswith(f"undone: reject none on {second}")
    written = reviews(flagged_project)
    assert len(written) == 3 and written[2][1] == "undo" and written[2][0] == second
    undo_of = rows(flagged_project, "SELECT review_id FROM reviews WHERE doc_id = ? AND decision = 'reject'", [second])
    assert written[2][5] == undo_of[0][0] and written[2][3:5] == ("Anna", "web")
    assert rows(flagged_project, "SELECT count(*) FROM review_decisions")[0][0] == 1
    # Undo again, then once more with nothing left: a note, not an error.
    anna.follow(anna.client.post("/queue/undo", data={"csrf": anna.csrf}))
    nothing = anna.follow(anna.client.post("/queue/undo", data={"csrf": anna.csrf}))
    assert "nothing to undo" in flash(nothing) and len(reviews(flagged_project)) == 4


@pytest.mark.parametrize("fields, message", [
    ({"label": "99"}, "unknown category '99'"),
    ({"label": "Dermatology"}, "unknown category 'Dermatology'"),
    ({"choice": "maybe"}, "a decision is choice=accept|none|skip or label=CATEGORY"),
    ({"choice": "accept", "label": "1"}, "a decision is choice=accept|none|skip or label=CATEGORY"),
    ({}, "a decision is choice=accept|none|skip or label=CATEGORY"),
    ({"choice": "accept", "task": "approve"}, "task must be one of"),
    ({"choice": "accept", "doc_id": "no-such-doc"}, "document 'no-such-doc' is not in your review queue"),
])
def test_bad_input_is_a_one_line_400_that_writes_nothing(anna, flagged_project, fields, message):
    doc_id, _ = shown(anna.page())
    response = anna.client.post("/queue/decide", data={"csrf": anna.csrf, "doc_id": doc_id, **fields})
    assert response.status_code == 400
    error = re.search(r'<p class="error">([^<]*)</p>', response.text).group(1)
    assert message in html.unescape(error) and "\n" not in error
    assert reviews(flagged_project) == []


def test_without_the_csrf_token_nothing_is_written(anna, flagged_project):
    doc_id, task = shown(anna.page())
    for data in ({"doc_id": doc_id, "choice": "accept"}, {"doc_id": doc_id, "choice": "accept", "csrf": "forged"}):
        assert anna.client.post("/queue/decide", data=data).status_code == 403
    assert anna.client.post("/queue/undo", data={}).status_code == 403
    other_site = anna.client.post("/queue/decide", data={"csrf": anna.csrf, "doc_id": doc_id, "choice": "accept"},
                                  headers={"Origin": "http://evil.example"})
    assert other_site.status_code == 403
    assert reviews(flagged_project) == []


def test_a_decision_without_a_name_is_refused(served, flagged_project):
    with httpx.Client(base_url=served, follow_redirects=False, timeout=60) as client:
        csrf = csrf_of(client.get("/reviewer").text)
        refused = client.post("/queue/decide", data={"csrf": csrf, "doc_id": "x", "choice": "accept"})
        assert refused.status_code == 400 and "say who you are first" in refused.text
    assert reviews(flagged_project) == []


def test_a_document_decided_meanwhile_is_not_decided_twice(anna, flagged_project):
    """As the terminal reviewer does: check before writing, say who decided it."""
    doc_id, task = shown(anna.page())
    con = connect(flagged_project.db_path())  # another process would do this, e.g. `review decide`
    try:
        record(con, doc_id, "reject", NONE_LABEL, "Bartek", source="cli")
    finally:
        con.close()
    response = anna.decide(doc_id, task, choice="accept")
    assert response.headers["location"].startswith("/queue?elsewhere=")
    page = anna.follow(response)
    assert f"not saved: {doc_id} was decided meanwhile by Bartek (reject none)" in flash(page)
    assert shown(page)[0] != doc_id
    assert [r[3] for r in reviews(flagged_project)] == ["Bartek"]
    # A double submission of one page: the second finds the document decided (by Anna herself).
    next_doc, next_task = shown(page)
    anna.decide(next_doc, next_task, choice="accept")
    again = anna.follow(anna.decide(next_doc, next_task, choice="accept"))
    assert "was decided meanwhile by Anna" in flash(again)
    assert rows(flagged_project, "SELECT count(*) FROM reviews WHERE doc_id = ?", [next_doc])[0][0] == 1


@pytest.fixture
def overlap_everything(flagged_project):
    """Every document gets a second review ([review] overlap = 1)."""
    path = Path(flagged_project.path)
    path.write_text(path.read_text(encoding="utf-8") + "\n[review]\noverlap = 1.0\n", encoding="utf-8")
    return load_config(path)


def test_a_second_review_is_blind_and_a_disagreement_comes_back_for_adjudication(overlap_everything):
    config = overlap_everything
    with running(create_app(ServeSettings(config=config, lock_wait=2))) as base:
        anna, bartek, celina = Reviewer(base, "Anna"), Reviewer(base, "Bartek"), Reviewer(base, "Celina")
        doc_id, task = shown(anna.page())
        assert task == "review"
        anna.follow(anna.decide(doc_id, task, label="0"))  # Radiology
        page = bartek.page()
        assert shown(page) == (doc_id, "second_review")
        assert "Second opinion" in page and "Anna" not in page, "blind: the first decision is not shown"
        # Celina decides it too, differently, while Bartek's page is open: now it is disputed.
        celina_page = celina.page()
        assert shown(celina_page) == (doc_id, "second_review")
        celina.follow(celina.decide(doc_id, "second_review", label="1"))  # Oncology
        stale = bartek.follow(bartek.decide(doc_id, "second_review", label="2"))
        assert "changed since it was shown" in flash(stale)
        assert shown(stale) == (doc_id, "adjudicate")
        assert re.search(r"The reviewers disagree:</strong>\s*Anna: <strong>Radiology</strong> · "
                         r"Celina: <strong>Oncology</strong>", stale)
        settled = bartek.follow(bartek.decide(doc_id, "adjudicate", label="1"))
        assert "an adjudication" in flash(settled)
        for reviewer in (anna, bartek, celina):
            reviewer.close()
    decided = rows(config, "SELECT reviewer, label, adjudication FROM reviews WHERE doc_id = ? ORDER BY created_at",
                   [doc_id])
    assert decided == [("Anna", 0, False), ("Celina", 1, False), ("Bartek", 1, True)]
    assert rows(config, "SELECT label, reviewer FROM review_decisions WHERE doc_id = ?", [doc_id]) == [(1, "Bartek")]


def test_a_hostile_document_is_shown_as_text(anna, flagged_project):
    doc_id = 'xss-"><b>bold</b>'
    flag_first(flagged_project, doc_id, XSS)
    page = anna.page()
    assert shown(page)[0] == doc_id
    assert "<script>" not in page.split("<script>\n// Keyboard shortcuts")[0]
    assert page.count("<script>") == 1, "only the page's own shortcut script"
    assert "<img" not in page and "<b>bold</b>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "&#34;&gt;&lt;img src=x onerror=alert(1)&gt;" in page
    assert '<mark class="kw" title="kw_oncology: counts">Rak płuca</mark>' in page
    saved = anna.follow(anna.decide(doc_id, "review", choice="accept"))
    assert f"saved: accept Oncology for {doc_id}" in flash(saved) and "<b>bold</b>" not in saved
    assert rows(flagged_project, "SELECT label FROM reviews WHERE doc_id = ?", [doc_id]) == [(1,)]



@pytest.mark.slow
def test_sql_and_status_work_while_reviewers_decide(served, flagged_project):
    """The server never blocks the CLI: while four reviewers keep deciding (writes) and
    reading pages, `sql` and `status` from another process succeed, and every decision
    the reviewers got a redirect for is in `reviews`."""
    import subprocess
    import sys
    import threading

    exe = Path(sys.executable).parent / "admedtagger"
    stop = threading.Event()
    saved: list[int] = []

    def review(name: str) -> None:
        reviewer = Reviewer(served, name)
        try:
            while not stop.is_set():
                doc_id, task = shown(reviewer.page())
                if reviewer.decide(doc_id, task, choice="skip").status_code == 303:
                    saved.append(1)
        finally:
            reviewer.close()

    threads = [threading.Thread(target=review, args=(f"r{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    try:
        for args in (["sql", "select count(*) from reviews", "--format", "csv"], ["status"],
                     ["sql", "select count(*) from documents", "--format", "csv"]):
            done = subprocess.run([str(exe), *args], capture_output=True, text=True, timeout=120,
                                  cwd=flagged_project.path.parent)
            assert done.returncode == 0, done.stderr
    finally:
        stop.set()
        for thread in threads:
            thread.join(60)
    assert saved and len(reviews(flagged_project)) == len(saved)
