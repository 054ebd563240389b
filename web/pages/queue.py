"""The review queue: one document at a time, with its evidence, and the decision on it.

* ``GET /queue``: the first item of the session reviewer's queue
  (:func:`~admedtagger.cleaning.review.pending`; ``?doc=ID`` shows that document instead
  while the queue holds it): the text with what the keyword LFs saw marked, every LF's
  vote, the label model's posterior, why it was flagged, and the buttons (keyboard:
  a/Enter accept, 1..K relabel, 0/n none, s skip, u undo). A second review does not show
  the first reviewer's decision; an adjudication shows both disagreeing labels.
* ``POST /queue/decide`` (``doc_id`` and ``choice`` = accept | none | skip, or ``label`` =
  a category id or name): one ``reviews`` row through
  :func:`~admedtagger.cleaning.review.decide`, as ``review decide`` writes it, source
  ``web``, then 303 back to the queue with what was saved.
* ``POST /queue/undo``: :func:`~admedtagger.cleaning.review.undo` of the reviewer's latest
  decision, then the queue showing that document again.

A decision is written only while the reviewer's queue still asks something of the document
(:func:`~admedtagger.cleaning.review.current_task`), checked in the same write block: a
document someone settled since the page was shown is not decided twice; the page says who
decided it (the terminal reviewer's rule).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote

import duckdb
from markupsafe import Markup
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse
from starlette.routing import Route

from admedtagger.cleaning.errors import CleaningError
from admedtagger.cleaning.evidence import Evidence, evidence
from admedtagger.cleaning.review import (
    TASKS, QueueItem, current_task, decide, effective_decision, overlap_share, parse_label, pending, queue_size, undo,
)
from admedtagger.warehouse import NONE_LABEL, NONE_NAME, UserError, categories

from ..access import Warehouse
from ..render import keyword_marks, render, warehouse
from ..security import checked_form
from .links import document_url, lf_url
from .reviewer import require_reviewer

SOURCE = "web"
CHOICES = ("accept", "none", "skip")
MAX_DOC_ID = 512


@dataclass(frozen=True)
class Flash:
    """What the last POST did, read back from the warehouse: ``kind`` saved, undone,
    elsewhere (decided by someone else meanwhile) or nothing (no decision to undo)."""

    kind: str
    message: str


@dataclass(frozen=True)
class QueueView:
    """Everything the queue page shows (plain data; the template only lays it out)."""

    item: QueueItem | None
    size: int
    text: Markup | None
    evidence: Evidence | None
    names: list[str]  # category names by label id
    keywords_stale: bool
    flash: Flash | None
    decided: int  # decisions (skips included) by this reviewer on the web since the session began
    overlap: float

    def name(self, label: int | None) -> str:
        if label is None:
            return "-"
        return NONE_NAME if label == NONE_LABEL else self.names[label]

    def cast_votes(self) -> list[tuple[str, int, float | None]]:
        """The LF votes that name a label (abstains left out), by LF."""
        return [vote for vote in self.evidence.votes if vote[1] >= 0] if self.evidence is not None else []

    def abstained(self) -> list[str]:
        """The LFs that abstained on the document."""
        return [vote[0] for vote in self.evidence.votes if vote[1] < 0] if self.evidence is not None else []

    def posterior(self) -> list[tuple[str, float, bool]]:
        """(category name, probability, whether it is the largest) per column, "none" last."""
        probs = self.evidence.probs if self.evidence is not None else None
        if probs is None:
            return []
        top = int(probs.argmax())
        return [(self.names[i] if i < len(self.names) else NONE_NAME, float(p), i == top) for i, p in enumerate(probs)]


def queue_page(request: Request):
    redirect = require_reviewer(request)
    if redirect is not None:
        return redirect
    reviewer = request.session["reviewer"]
    since = request.session.setdefault("queue_since", datetime.now().isoformat())
    wanted = request.query_params.get("doc")
    with warehouse(request).reading() as con:
        view = _view(con, request, reviewer, since, wanted)
    return render(request, "queue.html", view=view, document_url=document_url, lf_url=lf_url)


def _view(con: duckdb.DuckDBPyConnection, request: Request, reviewer: str, since: str, wanted: str | None) -> QueueView:
    overlap = overlap_share(warehouse(request).config.section("review"))
    items = pending(con, reviewer=reviewer, overlap=overlap) if wanted else pending(con, 1, reviewer=reviewer,
                                                                                     overlap=overlap)
    # ?doc= (after an undo, or a link) shows that document while the queue holds it.
    item = next((i for i in items if i.doc_id == wanted), items[0] if items else None)
    names = [c.name for c in categories(con)]
    text = ev = None
    stale = False
    if item is not None:
        text, stale = keyword_marks(request).marked(con, item.text)
        ev = evidence(con, item.doc_id)
    decided = con.execute(
        "SELECT count(*) FROM live_reviews WHERE reviewer = ? AND source = ? AND created_at >= ?::TIMESTAMP",
        [reviewer, SOURCE, since]).fetchall()[0][0]
    return QueueView(item=item, size=queue_size(con, reviewer=reviewer, overlap=overlap), text=text, evidence=ev,
                     names=names, keywords_stale=stale, flash=_flash(con, request, reviewer, names), decided=decided,
                     overlap=overlap)


def _flash(con: duckdb.DuckDBPyConnection, request: Request, reviewer: str, names: list[str]) -> Flash | None:
    """The outcome of the POST that redirected here, read from ``reviews`` by id (the
    reviewer's own rows only: a link cannot show someone else's blind decision)."""
    params = request.query_params

    def show(label: int | None) -> str:
        return "" if label is None else " " + (NONE_NAME if label == NONE_LABEL else names[label])

    if "saved" in params:
        rows = con.execute("SELECT doc_id, decision, label, adjudication FROM reviews "
                           "WHERE review_id = ? AND reviewer = ?", [params["saved"], reviewer]).fetchall()
        if rows:
            doc_id, decision, label, adjudication = rows[0]
            settles = " (an adjudication: it settles the reviewers' disagreement)" if adjudication else ""
            return Flash("saved", f"saved: {decision}{show(label)} for {doc_id} (review {params['saved']}){settles}")
    if "undone" in params:
        rows = con.execute(
            "SELECT u.review_id, d.doc_id, d.decision, d.label FROM reviews u JOIN reviews d ON d.review_id = u.undoes "
            "WHERE u.review_id = ? AND u.decision = 'undo' AND u.reviewer = ?", [params["undone"], reviewer]).fetchall()
        if rows:
            undo_id, doc_id, decision, label = rows[0]
            return Flash("undone", f"undone: {decision}{show(label)} on {doc_id} (undo {undo_id}); it is shown again")
    if "elsewhere" in params:
        other = effective_decision(con, params["elsewhere"])
        if other is not None:
            decision, label, by = other
            return Flash("elsewhere", f"not saved: {params['elsewhere']} was decided meanwhile by {by or 'someone'} "
                                      f"({decision}{show(label)}); here is the next document")
    if "changed" in params:
        return Flash("elsewhere", f"not saved: {params['changed']} changed since it was shown (another reviewer "
                                  "decided it); look at it again and decide")
    if "nothing" in params:
        return Flash("nothing", "nothing to undo: you have no decision that stands")
    return None


async def decide_post(request: Request):
    form = await checked_form(request)
    reviewer = _reviewer(request)
    doc_id = str(form.get("doc_id", ""))
    if not doc_id or len(doc_id) > MAX_DOC_ID:
        raise UserError("a decision needs the doc_id of the document shown")
    choice, label, shown = form.get("choice"), form.get("label"), form.get("task")
    if (choice is None) == (label is None) or (choice is not None and choice not in CHOICES):
        raise UserError(f"a decision is choice=accept|none|skip or label=CATEGORY, got choice={choice!r} "
                        f"label={label!r}")
    if shown is not None and shown not in TASKS:
        raise UserError(f"task must be one of {', '.join(TASKS)}, got {shown!r}")
    overlap = overlap_share(warehouse(request).config.section("review"))
    outcome = await run_in_threadpool(_decide, warehouse(request), doc_id, choice, label, shown, reviewer, overlap)
    return RedirectResponse(outcome, status_code=303)


def _decide(wh: Warehouse, doc_id: str, choice: str | None, label: Any, shown: str | None, reviewer: str,
            overlap: float) -> str:
    """Write one decision unless the document was settled or changed since it was shown
    (``shown``: the task the page showed, checked when given); returns where to go next."""
    with wh.writing() as con:
        task = current_task(con, doc_id, reviewer=reviewer, overlap=overlap)
        if task is None:
            if effective_decision(con, doc_id) is not None:
                return f"/queue?elsewhere={_quoted(doc_id)}"
            raise UserError(f"document {doc_id!r} is not in your review queue (unknown, or not flagged)")
        if shown is not None and task != shown:  # e.g. a second review that became a dispute
            return f"/queue?changed={_quoted(doc_id)}&doc={_quoted(doc_id)}"
        # A bad label or an accept without a given label: CleaningError, a 400 page.
        chosen = parse_label(con, str(label)) if label is not None else None
        saved = decide(con, doc_id, accept=choice == "accept", none=choice == "none", skip=choice == "skip",
                       label=chosen, reviewer=reviewer, source=SOURCE)
    return f"/queue?saved={saved.review_id}"


async def undo_post(request: Request):
    await checked_form(request)
    reviewer = _reviewer(request)
    outcome = await run_in_threadpool(_undo, warehouse(request), reviewer)
    return RedirectResponse(outcome, status_code=303)


def _undo(wh: Warehouse, reviewer: str) -> str:
    with wh.writing() as con:
        try:
            row, undone = undo(con, reviewer=reviewer, source=SOURCE)
        except CleaningError:
            return "/queue?nothing=1"
    return f"/queue?undone={row.review_id}&doc={_quoted(undone.doc_id)}"


def _reviewer(request: Request) -> str:
    name = request.session.get("reviewer")
    if not name:
        raise UserError("say who you are first (/reviewer): every decision carries the reviewer's name")
    return name


def _quoted(value: str) -> str:
    return quote(value, safe="")


routes = [
    Route("/queue", queue_page, methods=["GET"]),
    Route("/queue/decide", decide_post, methods=["POST"]),
    Route("/queue/undo", undo_post, methods=["POST"]),
]
