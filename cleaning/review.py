"""The review queue and the append-only record of human decisions.

``reviews`` only ever grows. A decision is one row: ``accept`` (the given label is right),
``relabel`` (another category), ``reject`` (fits no category, label -1), ``skip`` (not
now) or ``undo`` (cancels the row whose id is in ``undoes``). Each row is written by one
INSERT in DuckDB's auto-commit mode, i.e. in its own transaction: a decision is on disk
as soon as :func:`record` returns, and a killed reviewer loses nothing it recorded.

Several reviewers, each by name. Each reviewer's current decision on a document is their
latest live accept/relabel/reject (view ``reviewer_decisions``: deciding again corrects
one's own decision). When the reviewers of a document disagree (different labels), the
document is *disputed* (view ``review_disputes``) until someone *adjudicates* it: a
decision recorded while the document is disputed, or after it was adjudicated, is an
adjudication (``reviews.adjudication``, set by :func:`record`). A document's *effective
decision*, the view ``review_decisions`` that ``gold`` builds on (letting reviews override
imported gold), is its latest live adjudication; else none while disputed; else its latest
live decision. Undoing an adjudication brings the dispute back.

A share of the documents, ``[review] overlap`` (:func:`overlap_share`, default 0.1), is
reviewed by two reviewers independently, so that their agreement can be measured
(``cleaning/agreement.py``); which documents is the SQL macro ``in_review_overlap`` (md5
of the doc id), so the sample is stable. The *queue* of a reviewer (:func:`pending`) holds
one *task* per document:

- ``adjudicate``: a disputed document, offered to every reviewer, first;
- ``second_review``: an overlap document that exactly one other reviewer has decided (not
  adjudicated); the first decision is not shown (a blind second opinion);
- ``review``: a flag of the latest ok ``flag`` run that nobody has decided.

Disputes and second reviews stay in the queue whether or not the latest flag run flagged
them again. Within the queue: adjudications, then second reviews, then new documents,
each worst first (by ``rank``); documents skipped since the flag run started go to the
back. Without a reviewer (Label Studio export, scripts) the queue has no second reviews.
"""

from __future__ import annotations

import getpass
import os
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Collection

import duckdb
import pyarrow as pa

from admedtagger.warehouse import NONE_LABEL, label_lookup, last_ok_run, resolve_label, review_decision
from admedtagger.warehouse.rules import flagged_weak_run

from .errors import CleaningError

EFFECTIVE = ("accept", "relabel", "reject")
TASKS = ("adjudicate", "second_review", "review")  # the queue's order
DEFAULT_OVERLAP = 0.1  # [review] overlap: share of documents two reviewers decide independently


@dataclass(frozen=True)
class QueueItem:
    """One document of a reviewer's queue, with what the reviewer needs to see.

    ``rank``, ``quality``, ``suggested_label`` and ``reason`` come from the latest flag run
    and are None for a dispute or a second review that run did not flag again.
    ``disputed_labels`` holds (reviewer, label) of each disagreeing reviewer, oldest first,
    for ``adjudicate`` only: a second review never shows the first decision.
    """

    rank: int | None
    doc_id: str
    text: str
    given_label: int | None  # the flag's given label, else the flag run's weak label
    suggested_label: int | None
    quality: float | None
    reason: str | None
    weak_label: int | None
    weak_confidence: float | None
    skipped: bool  # skipped (by anyone) since the flag run: at the back of the queue
    task: str = "review"  # one of TASKS
    disputed_labels: tuple[tuple[str, int], ...] = ()


@dataclass(frozen=True)
class Review:
    review_id: str
    doc_id: str
    decision: str
    label: int | None
    adjudication: bool = False  # settles a dispute (module doc)


def default_reviewer(section: dict) -> str:
    """The ``[review] reviewer`` setting, else $USER, else the login name."""
    name = section.get("reviewer") or os.environ.get("USER")
    if not name:
        try:
            name = getpass.getuser()
        except (KeyError, OSError):
            name = "unknown"
    return str(name)


def overlap_share(section: dict) -> float:
    """The ``[review] overlap`` setting (validated 0..1 when the config is read), else
    :data:`DEFAULT_OVERLAP`."""
    return float(section.get("overlap", DEFAULT_OVERLAP))


def _check_overlap(overlap: float) -> None:
    if isinstance(overlap, bool) or not isinstance(overlap, (int, float)) or not 0 <= overlap <= 1:
        raise CleaningError(f"overlap must be a share between 0 and 1, got {overlap!r}")


def _queue_sql(limit: int | None, *, exclude: bool = False, reviewer: bool = False, doc: bool = False) -> str:
    """The queue query (module doc). Parameters: ``$run`` the flag run ('' when none),
    ``$weak_run`` the weak-label run it read (``rules.flagged_weak_run``);
    with ``reviewer``: ``$reviewer`` and ``$overlap``; with ``exclude``: ``$exclude``, a
    list of doc_ids to leave out; with ``doc``: ``$doc``, the one document to look at."""
    second = ("UNION SELECT doc_id FROM decided WHERE reviewers = 1 AND NOT mine "
              "AND in_review_overlap(doc_id, $overlap)") if reviewer else ""
    second_task = ("WHEN NOT e.adjudication AND n.reviewers = 1 AND NOT n.mine "
                   "AND in_review_overlap(c.doc_id, $overlap) THEN 'second_review'") if reviewer else ""
    return f"""
        WITH flag_run AS (
            SELECT run_id, started_at, $weak_run AS weak_run
            FROM runs WHERE run_id = $run
        ),
        flags AS (SELECT * FROM label_issues WHERE run_id = $run),
        skipped AS (
            SELECT DISTINCT doc_id FROM live_reviews
            WHERE decision = 'skip'
              AND created_at >= (SELECT started_at FROM flag_run)
        ),
        disputes AS (
            SELECT doc_id, list(reviewer ORDER BY created_at, review_id) AS reviewers,
                   list(label ORDER BY created_at, review_id) AS labels
            FROM review_disputes GROUP BY doc_id
        ),
        decided AS (
            SELECT doc_id, count(*) AS reviewers, {"bool_or(reviewer = $reviewer)" if reviewer else "false"} AS mine
            FROM reviewer_decisions GROUP BY doc_id
        ),
        candidates AS (
            SELECT doc_id FROM flags UNION SELECT doc_id FROM disputes {second}
        ),
        tasks AS (
            SELECT c.doc_id,
                   CASE WHEN c.doc_id IN (SELECT doc_id FROM disputes) THEN 'adjudicate'
                        WHEN e.doc_id IS NULL AND c.doc_id IN (SELECT doc_id FROM flags) THEN 'review'
                        {second_task}
                   END AS task
            FROM candidates c
            LEFT JOIN review_decisions e ON e.doc_id = c.doc_id
            LEFT JOIN decided n ON n.doc_id = c.doc_id
            {"WHERE c.doc_id = $doc" if doc else ""}
        )
        SELECT f.rank, t.doc_id, d.text, coalesce(f.given_label, w.label) AS given_label, f.suggested_label,
               f.quality, f.reason,
               w.label AS weak_label,
               w.confidence AS weak_confidence,
               t.doc_id IN (SELECT doc_id FROM skipped) AS skipped,
               t.task,
               p.reviewers AS disputed_reviewers, p.labels AS disputed_labels
        FROM tasks t
        JOIN documents d ON d.doc_id = t.doc_id
        LEFT JOIN flags f ON f.doc_id = t.doc_id
        LEFT JOIN weak_labels w ON w.doc_id = t.doc_id AND w.run_id = (SELECT weak_run FROM flag_run)
        LEFT JOIN disputes p ON p.doc_id = t.doc_id
        WHERE t.task IS NOT NULL
          {"AND NOT list_contains($exclude, t.doc_id)" if exclude else ""}
        ORDER BY skipped, {_task_order("t.task")}, f.rank NULLS LAST, t.doc_id
        {"LIMIT " + str(int(limit)) if limit is not None else ""}
    """


def _task_order(column: str) -> str:
    return "CASE " + " ".join(f"WHEN {column} = '{task}' THEN {i}" for i, task in enumerate(TASKS)) + " END"


def _queue_params(con: duckdb.DuckDBPyConnection, reviewer: str | None, overlap: float) -> dict:
    """The flag run and, for a reviewer's queue, the reviewer and the overlap share."""
    _check_overlap(overlap)
    params: dict = {"run": last_ok_run(con, "flag") or "", "weak_run": flagged_weak_run(con)}
    if reviewer is not None:
        params.update(reviewer=reviewer, overlap=float(overlap))
    return params


def _item(row: tuple) -> QueueItem:
    *fields, reviewers, labels = row
    return QueueItem(*fields, disputed_labels=tuple(zip(reviewers, labels)) if reviewers else ())


def pending(con: duckdb.DuckDBPyConnection, limit: int | None = None, exclude: Collection[str] = (), *,
            reviewer: str | None = None, overlap: float = DEFAULT_OVERLAP) -> list[QueueItem]:
    """The queue of ``reviewer`` (module doc) in order, without the ``exclude`` doc_ids;
    at most ``limit`` items; empty when no flag run exists.

    ``overlap`` is the ``[review] overlap`` share (:func:`overlap_share`); it matters only
    with a ``reviewer``. Without one: disputes and the flags nobody decided, no second reviews.
    """
    if last_ok_run(con, "flag") is None:
        return []
    params = _queue_params(con, reviewer, overlap)
    if exclude:
        params["exclude"] = list(exclude)
    sql = _queue_sql(limit, exclude=bool(exclude), reviewer=reviewer is not None)
    return [_item(row) for row in con.execute(sql, params).fetchall()]


def queue_size(con: duckdb.DuckDBPyConnection, *, reviewer: str | None = None,
               overlap: float = DEFAULT_OVERLAP) -> int:
    """How many documents the queue of ``reviewer`` holds (0 when no flag run exists)."""
    if last_ok_run(con, "flag") is None:
        return 0
    sql = f"SELECT count(*) FROM ({_queue_sql(None, reviewer=reviewer is not None)})"
    return con.execute(sql, _queue_params(con, reviewer, overlap)).fetchall()[0][0]


def current_task(con: duckdb.DuckDBPyConnection, doc_id: str, *, reviewer: str | None = None,
                 overlap: float = DEFAULT_OVERLAP) -> str | None:
    """What the queue of ``reviewer`` asks of the document now (one of :data:`TASKS`), None
    when it asks nothing (decided, or neither flagged, disputed nor a second review)."""
    sql = f"SELECT task FROM ({_queue_sql(None, reviewer=reviewer is not None, doc=True)})"
    rows = con.execute(sql, {**_queue_params(con, reviewer, overlap), "doc": doc_id}).fetchall()
    return rows[0][0] if rows else None


def effective_decision(con: duckdb.DuckDBPyConnection, doc_id: str) -> tuple[str, int, str | None] | None:
    """(decision, label, reviewer) of the document's effective decision, None when it has none."""
    rows = con.execute(
        "SELECT decision, label, reviewer FROM review_decisions WHERE doc_id = ?", [doc_id]
    ).fetchall()
    return rows[0] if rows else None


def pending_table(con: duckdb.DuckDBPyConnection, limit: int | None = None, *, reviewer: str | None = None,
                  overlap: float = DEFAULT_OVERLAP) -> pa.Table:
    """The queue of ``reviewer`` (see :func:`pending`) as a table with category names, for
    ``review list``."""
    if last_ok_run(con, "flag") is None:
        raise CleaningError("no flag run yet: run `admedtagger flag` first")
    return con.sql(
        f"""
        SELECT q.rank, q.doc_id, q.task, g.name AS given, s.name AS suggested, round(q.quality, 4) AS quality,
               q.reason, round(q.weak_confidence, 4) AS weak_confidence, q.skipped, q.text
        FROM ({_queue_sql(limit, reviewer=reviewer is not None)}) q
        LEFT JOIN categories g ON g.label = q.given_label
        LEFT JOIN categories s ON s.label = q.suggested_label
        ORDER BY q.skipped, {_task_order("q.task")}, q.rank NULLS LAST, q.doc_id
        """,
        params=_queue_params(con, reviewer, overlap),
    ).to_arrow_table()


def record(con: duckdb.DuckDBPyConnection, doc_id: str, decision: str, label: int | None, reviewer: str,
           note: str | None = None, source: str = "cli", undoes: str | None = None,
           created_at: datetime | None = None) -> Review:
    """Append one decision (its own transaction) and return it.

    An accept, relabel or reject on a document that is disputed, or whose effective
    decision is an adjudication, is recorded as an adjudication (module doc).
    """
    if decision not in (*EFFECTIVE, "skip", "undo"):
        raise ValueError(f"unknown decision {decision!r}")
    adjudication = decision in EFFECTIVE and con.execute(
        "SELECT EXISTS (SELECT 1 FROM review_disputes WHERE doc_id = $doc) "
        "OR EXISTS (SELECT 1 FROM review_decisions WHERE doc_id = $doc AND adjudication)",
        {"doc": doc_id},
    ).fetchall()[0][0]
    review_id = "r" + uuid.uuid4().hex[:15]
    con.execute(
        "INSERT INTO reviews (review_id, doc_id, decision, label, reviewer, note, source, undoes, created_at, "
        "adjudication) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [review_id, doc_id, decision, label, reviewer, note, source, undoes, created_at or datetime.now(),
         adjudication],
    )
    return Review(review_id, doc_id, decision, label, adjudication)


def record_if_pending(con: duckdb.DuckDBPyConnection, doc_id: str, decision: str, label: int | None,
                      reviewer: str, *, overlap: float = DEFAULT_OVERLAP, note: str | None = None,
                      source: str = "cli") -> tuple[Review | None, tuple[str, int, str | None] | None]:
    """Record a decision taken from ``reviewer``'s queue unless someone settled the document
    meanwhile: returns (the saved row, None), or (None, the :func:`effective_decision` that
    stands) when the document has an effective decision and the queue of ``reviewer`` asks
    nothing of it any more (a second review still may be given: the first is not final)."""
    other = effective_decision(con, doc_id)
    if other is not None and current_task(con, doc_id, reviewer=reviewer, overlap=overlap) is None:
        return None, other
    return record(con, doc_id, decision, label, reviewer, note, source), None


def given_label(con: duckdb.DuckDBPyConnection, doc_id: str) -> int | None:
    """The label a reviewer accepts: the latest flag's given label, else the current weak label."""
    run_id = last_ok_run(con, "flag")
    if run_id is not None:
        rows = con.execute(
            "SELECT given_label FROM label_issues WHERE run_id = ? AND doc_id = ?", [run_id, doc_id]
        ).fetchall()
        if rows and rows[0][0] is not None:
            return rows[0][0]
    rows = con.execute(
        """
        SELECT w.label FROM weak_labels w
        WHERE w.doc_id = ? AND w.label >= 0 AND w.run_id = ?
        """,
        [doc_id, last_ok_run(con, "label-model")],
    ).fetchall()
    return rows[0][0] if rows else None


def parse_label(con: duckdb.DuckDBPyConnection, name: str) -> int:
    """A category name (canonical, Polish or English, any case), label id or "none" name
    -> label id (:func:`~admedtagger.warehouse.rules.resolve_label`); an error for anything else."""
    label = resolve_label(label_lookup(con), name)
    if label is None:
        raise CleaningError(f"unknown category {name!r}: expected one of {', '.join(_names(con))}")
    return label


def _names(con: duckdb.DuckDBPyConnection) -> list[str]:
    return [row[0] for row in con.execute("SELECT name FROM categories ORDER BY label").fetchall()]


def decide(con: duckdb.DuckDBPyConnection, doc_id: str, *, accept: bool = False, label: int | None = None,
           none: bool = False, skip: bool = False, note: str | None = None, reviewer: str = "unknown",
           source: str = "cli") -> Review:
    """Record one decision on a document: exactly one of accept, label, none, skip.

    ``accept`` confirms the given label (:func:`given_label`); ``none`` (or ``label`` =
    :data:`NONE_LABEL`) says it fits no category; the decision a label makes is
    :func:`~admedtagger.warehouse.rules.review_decision`'s: accept, relabel or reject.
    """
    if sum([accept, label is not None, none, skip]) != 1:
        raise CleaningError("give exactly one of --accept, --label NAME, --none")
    if not con.execute("SELECT count(*) FROM documents WHERE doc_id = ?", [doc_id]).fetchall()[0][0]:
        raise CleaningError(f"unknown document {doc_id!r}")
    if skip:
        return record(con, doc_id, "skip", None, reviewer, note, source)
    given = given_label(con, doc_id)
    if accept:
        if given is None:
            raise CleaningError(f"{doc_id!r} has no weak label to accept: give --label NAME or --none")
        label = given
    elif none:
        label = NONE_LABEL
    elif label != NONE_LABEL and not con.execute(
            "SELECT count(*) FROM categories WHERE label = ?", [label]).fetchall()[0][0]:
        raise CleaningError(f"unknown label id {label}")
    return record(con, doc_id, review_decision(label, given), label, reviewer, note, source)


def undo(con: duckdb.DuckDBPyConnection, review_id: str | None = None, reviewer: str | None = None,
         source: str = "cli") -> tuple[Review, Review]:
    """Cancel a decision by appending an 'undo' row; returns (undo row, undone row).

    Without ``review_id``: the latest decision (of ``reviewer``, when given) that is not
    an undo and not undone yet.
    """
    conditions, params = ["TRUE"], []
    if review_id is not None:
        conditions.append("review_id = ?")
        params.append(review_id)
    elif reviewer is not None:
        conditions.append("reviewer = ?")
        params.append(reviewer)
    rows = con.execute(
        f"SELECT review_id, doc_id, decision, label, adjudication FROM live_reviews WHERE {' AND '.join(conditions)} "
        "ORDER BY created_at DESC, review_id DESC LIMIT 1",
        params,
    ).fetchall()
    if not rows:
        if review_id is not None:
            raise CleaningError(f"no decision {review_id!r} to undo (unknown, an undo itself, or undone already)")
        raise CleaningError("no decision to undo" + (f" by {reviewer!r}" if reviewer else ""))
    undone = Review(*rows[0])
    row = record(con, undone.doc_id, "undo", None, reviewer or "unknown", None, source, undoes=undone.review_id)
    return row, undone
