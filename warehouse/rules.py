"""The rules over the tables that every stage shares, each defined once.

The SQL rules are views created by ``schema.py`` (``last_ok_runs``, ``current_lfs``,
``current_votes``, ``review_decisions``, ``gold``, ``labelled_corpus``); the functions here
are their Python side and the label-id rules. Stages use these and restate none of them.
"""

from __future__ import annotations

import json
from typing import Sequence

import duckdb
import numpy as np

NONE_LABEL = -1
"""The label id that names no category. In ``votes`` it is an abstain (the LF says
nothing); in reviews, gold, weak labels and predictions it means "fits no category"."""

NONE_NAME = "none"
"""How "fits no category" is shown in tables, reports and the reviewer."""

NONE_NAMES = frozenset({"none", "other", "none of these", "inne", "inna", "brak", "żadna", "-1"})
"""Names (lower-case) that mean "fits no category" in input: gold files, ingest labels,
Label Studio choices, the reviewer's answers."""


def column_of(label: int, k: int) -> int:
    """The column of ``label`` in a (K+1)-wide probability row: the label id for a category,
    ``k`` for :data:`NONE_LABEL` ("fits no category" is the last column)."""
    return k if label == NONE_LABEL else label


def label_of_column(column: np.ndarray, k: int) -> np.ndarray:
    """Inverse of :func:`column_of` for an array of columns: ``k`` -> NONE_LABEL."""
    column = np.asarray(column)
    return np.where(column == k, NONE_LABEL, column)


def probs_with_none(probs: Sequence[float] | None, k: int) -> np.ndarray | None:
    """A stored ``weak_labels.probs`` as a (K+1,) row whose last entry is P(fits no category).

    Runs since schema 4's label model store K+1 entries; older runs stored K (their model had no
    "none" class), read as P(none) = 0. None (no probs stored) stays None.
    """
    if probs is None:
        return None
    row = np.asarray(probs, dtype=np.float64)
    if len(row) == k:
        return np.append(row, 0.0)
    if len(row) != k + 1:
        raise ValueError(f"a probability row of {len(row)} entries for {k} categories")
    return row


def label_lookup(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Lower-cased category names (canonical, Polish, English) and ids -> label id."""
    lookup: dict[str, int] = {}
    for label, *names in con.execute("SELECT label, name, name_pl, name_en FROM categories").fetchall():
        lookup[str(label)] = label
        for name in names:
            if name:
                lookup[name.lower()] = label
    return lookup


def resolve_label(lookup: dict[str, int], name: str | int) -> int | None:
    """A category name (any of its names, any case), a label id, or a "none" name -> label id.

    Returns :data:`NONE_LABEL` for the names in :data:`NONE_NAMES` and ``None`` when
    ``name`` is none of these (the caller says how that is an error).
    """
    key = str(name).strip().lower()
    if key in NONE_NAMES:
        return NONE_LABEL
    return lookup.get(key)


def review_decision(label: int, given: int | None) -> str:
    """The decision a reviewer's label makes: ``reject`` for "fits no category",
    ``accept`` when it equals the label the document was given, else ``relabel``."""
    if label == NONE_LABEL:
        return "reject"
    return "accept" if label == given else "relabel"


def last_ok_run(con: duckdb.DuckDBPyConnection, stage: str) -> str | None:
    """The id of the latest successful run of ``stage`` (view ``last_ok_runs``), or None."""
    rows = con.execute("SELECT run_id FROM last_ok_runs WHERE stage = ?", [stage]).fetchall()
    return rows[0][0] if rows else None


def last_lf_analysis_run(con: duckdb.DuckDBPyConnection) -> tuple[str, str] | None:
    """``(run_id, stage)`` of the newest LF analysis, or None: both ``label-model`` and
    ``lf-analysis`` (``admedtagger lfs``) runs store ``lf_analysis`` rows, so the later of
    their latest ok runs is the freshest (an ``lfs --lf NAME`` run analyses only the LFs it
    names)."""
    rows = con.execute("""
        SELECT run_id, stage FROM last_ok_runs WHERE stage IN ('label-model', 'lf-analysis')
        ORDER BY started_at DESC, run_id DESC LIMIT 1""").fetchall()
    return rows[0] if rows else None


def last_ok_run_params(con: duckdb.DuckDBPyConnection, stage: str) -> tuple[str, dict] | None:
    """``(run_id, params)`` of the latest successful run of ``stage``, or None."""
    rows = con.execute("SELECT run_id, params FROM last_ok_runs WHERE stage = ?", [stage]).fetchall()
    if not rows:
        return None
    run_id, params = rows[0]
    return run_id, json.loads(params or "{}")


def flagged_weak_run(con: duckdb.DuckDBPyConnection) -> str | None:
    """The weak-label run the latest ``flag`` run read (its ``weak_label_run`` parameter),
    whose labels and posteriors the review queue shows even after a newer ``label-model``
    run; without one, the latest ``label-model`` run."""
    flag_run = last_ok_run_params(con, "flag")
    if flag_run is not None and flag_run[1].get("weak_label_run"):
        return flag_run[1]["weak_label_run"]
    return last_ok_run(con, "label-model")
