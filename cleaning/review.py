"""The review queue and the append-only record of human decisions.

``reviews`` only ever grows. A decision is one row: ``accept`` (the given label is right),
``relabel`` (another category), ``reject`` (fits no category, label -1), ``skip`` (not
now) or ``undo`` (cancels the row whose id is in ``undoes``). Each row is written by one
INSERT in DuckDB's auto-commit mode, i.e. in its own transaction: a decision is on disk
as soon as :func:`record` returns, and a killed reviewer loses nothing it recorded.

A document's *effective decision* is its latest accept/relabel/reject row that no undo
cancels: the view ``review_decisions`` (which the ``gold`` view builds on, letting reviews
override imported gold). The *queue* is the flags of the latest ok ``flag`` run, worst
first (by ``rank``), without the documents that have an effective decision; documents
skipped since that run started go to the back.
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

from .errors import CleaningError

EFFECTIVE = ("accept", "relabel", "reject")

# Review ids that an undo row cancels: skips and undos are not in ``review_decisions``,
# so the queue's skips and ``undo`` read the cancellations here.


@dataclass(frozen=True)
class QueueItem:
    """One pending flag, with what a reviewer needs to see."""

    rank: int
    doc_id: str
    text: str
    given_label: int | None
    suggested_label: int | None
    quality: float | None
    reason: str
    weak_label: int | None
    weak_confidence: float | None
    skipped: bool  # skipped since the flag run: at the back of the queue


@dataclass(frozen=True)
class Review:
    review_id: str
    doc_id: str
    decision: str
    label: int | None


def default_reviewer(section: dict) -> str:
    """The ``[review] reviewer`` setting, else $USER, else the login name."""
    name = section.get("reviewer") or os.environ.get("USER")
    if not name:
        try:
            name = getpass.getuser()
        except (KeyError, OSError):
            name = "unknown"
    return str(name)


def _queue_sql(limit: int | None, exclude: bool = False) -> str:
    """The queue query; ``$run`` is the flag run, and ``$exclude`` (when ``exclude``) a
    list of doc_ids to leave out."""
    return f"""
        WITH flag_run AS (
            SELECT run_id, started_at, json_extract_string(params, '$.weak_label_run') AS weak_run
            FROM runs WHERE run_id = $run
        ),
        skipped AS (
            SELECT DISTINCT doc_id FROM live_reviews
            WHERE decision = 'skip'
              AND created_at >= (SELECT started_at FROM flag_run)
        )
        SELECT f.rank, f.doc_id, d.text, f.given_label, f.suggested_label, f.quality, f.reason,
               w.label AS weak_label,
               w.confidence AS weak_confidence,
               f.doc_id IN (SELECT doc_id FROM skipped) AS skipped
        FROM label_issues f
        JOIN documents d ON d.doc_id = f.doc_id
        LEFT JOIN weak_labels w ON w.doc_id = f.doc_id AND w.run_id = (SELECT weak_run FROM flag_run)
        WHERE f.run_id = $run
          AND f.doc_id NOT IN (SELECT doc_id FROM review_decisions)
          {"AND NOT list_contains($exclude, f.doc_id)" if exclude else ""}
        ORDER BY skipped, f.rank
        {"LIMIT " + str(int(limit)) if limit is not None else ""}
    """


def pending(con: duckdb.DuckDBPyConnection, limit: int | None = None,
            exclude: Collection[str] = ()) -> list[QueueItem]:
    """The queue (module doc), worst first, without the ``exclude`` doc_ids; empty when
    no flag run exists."""
    run_id = last_ok_run(con, "flag")
    if run_id is None:
        return []
    params: dict = {"run": run_id}
    if exclude:
        params["exclude"] = list(exclude)
    rows = con.execute(_queue_sql(limit, exclude=bool(exclude)), params).fetchall()
    return [QueueItem(*row) for row in rows]


def queue_size(con: duckdb.DuckDBPyConnection) -> int:
    """How many documents the queue holds (0 when no flag run exists)."""
    run_id = last_ok_run(con, "flag")
    if run_id is None:
        return 0
    return con.execute(f"SELECT count(*) FROM ({_queue_sql(None)})", {"run": run_id}).fetchall()[0][0]


def effective_decision(con: duckdb.DuckDBPyConnection, doc_id: str) -> tuple[str, int, str | None] | None:
    """(decision, label, reviewer) of the document's effective decision, None when it has none."""
    rows = con.execute(
        "SELECT decision, label, reviewer FROM review_decisions WHERE doc_id = ?", [doc_id]
    ).fetchall()
    return rows[0] if rows else None


def pending_table(con: duckdb.DuckDBPyConnection, limit: int | None = None) -> pa.Table:
    """The queue as a table with category names, for ``review list``."""
    run_id = last_ok_run(con, "flag")
    if run_id is None:
        raise CleaningError("no flag run yet: run `admedtagger flag` first")
    return con.sql(
        f"""
        SELECT q.rank, q.doc_id, g.name AS given, s.name AS suggested, round(q.quality, 4) AS quality,
               q.reason, round(q.weak_confidence, 4) AS weak_confidence, q.skipped, q.text
        FROM ({_queue_sql(limit)}) q
        LEFT JOIN categories g ON g.label = q.given_label
        LEFT JOIN categories s ON s.label = q.suggested_label
        ORDER BY q.skipped, q.rank
        """,
        params={"run": run_id},
    ).to_arrow_table()


def record(con: duckdb.DuckDBPyConnection, doc_id: str, decision: str, label: int | None, reviewer: str,
           note: str | None = None, source: str = "cli", undoes: str | None = None,
           created_at: datetime | None = None) -> Review:
    """Append one decision (its own transaction) and return it."""
    if decision not in (*EFFECTIVE, "skip", "undo"):
        raise ValueError(f"unknown decision {decision!r}")
    review_id = "r" + uuid.uuid4().hex[:15]
    con.execute(
        "INSERT INTO reviews (review_id, doc_id, decision, label, reviewer, note, source, undoes, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [review_id, doc_id, decision, label, reviewer, note, source, undoes, created_at or datetime.now()],
    )
    return Review(review_id, doc_id, decision, label)


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
        f"SELECT review_id, doc_id, decision, label FROM live_reviews WHERE {' AND '.join(conditions)} "
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
