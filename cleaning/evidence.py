"""What a reviewer sees beside a queued document: the weak-supervision evidence.

Every LF's current vote (view ``current_votes``, :func:`.votes.document_votes`) and the
label model's posterior over the K categories and "none" from the weak-label run the
latest flag run read (:func:`~admedtagger.warehouse.rules.flagged_weak_run`): the run
whose labels were flagged, so the probabilities explain the flag even after a newer
``label-model`` run.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import numpy as np

from admedtagger.warehouse import probs_with_none
from admedtagger.warehouse.rules import flagged_weak_run

from .votes import Vote, document_votes


@dataclass(frozen=True)
class Evidence:
    """``votes``: (lf, label, confidence) by LF, abstains (label < 0) included;
    ``probs``: the posterior as a (K+1,) row, "none" last (None when the run stored none
    for this document); ``model``/``weak_run``: which label model and run gave it."""

    doc_id: str
    votes: list[Vote]
    probs: np.ndarray | None
    model: str | None
    weak_run: str | None


def evidence(con: duckdb.DuckDBPyConnection, doc_id: str) -> Evidence:
    """The votes and posterior of one document (module doc)."""
    weak_run = flagged_weak_run(con)
    k = con.execute("SELECT count(*) FROM categories").fetchall()[0][0]
    rows = con.execute("SELECT probs, model FROM weak_labels WHERE run_id = ? AND doc_id = ?",
                       [weak_run, doc_id]).fetchall()
    probs, model = rows[0] if rows else (None, None)
    return Evidence(doc_id, document_votes(con, [doc_id])[doc_id], probs_with_none(probs, k), model, weak_run)
