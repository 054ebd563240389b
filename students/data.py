"""The students' training set and held-out dev set, read from the warehouse.

Training targets are probability vectors over K+1 classes, one row per document: columns
0..K-1 the categories (label ids), column K "fits no category" (the ``weak_labels.probs``
convention, :func:`admedtagger.warehouse.rules.probs_with_none`):

* a document with a weak label (the latest ok ``label-model`` run) gets that run's
  ``probs`` (an older run's K entries read as P(none) = 0), renormalised to sum 1; a
  one-hot vector of its label (column K for -1) when the run stored no usable probs;
* a human decision from the ``gold`` view replaces the weak label where it may be
  trained on (see below) and gives a one-hot vector; a reviewer's reject (or a gold
  label "none") is one-hot on column K.

"Fits no category" is thus learned like any category: a document whose weak label is
none trains on its none probability (a soft target, so the students' weighted loss counts
it by that probability), and students predict -1 when column K is their argmax
(:mod:`.labels`); no threshold is chosen on gold.

Which gold documents are trained on, and with which label (``dev`` mode):

* gold **test** documents are never trained on, neither text nor label;
* ``dev="auto"`` (default): gold **dev** documents decided by a *review* train with the
  reviewer's label; the other dev gold documents (imported labels) train with their
  *weak* label, and their gold label is held out for early stopping and dev scores;
* ``dev="holdout"``: no dev gold document is trained on; all of them are held out;
* ``dev="train"``: every dev gold label is trained on (nothing is held out, so there is
  no early stopping).

Documents without a weak label in the run (and no trained human label) are left out.
``exclude_flagged`` also leaves out documents flagged in the latest ok ``flag`` run whose
target would be their (suspect) weak label, i.e. every flagged document without a human
decision that is trained on.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import duckdb
import numpy as np

from admedtagger.warehouse import UserError, categories, column_of, label_of_column, last_ok_run, probs_with_none

DEV_MODES = ("auto", "holdout", "train")
SOFT_MIN_PROB = 0.01  # soft-target classes below this probability are not expanded into rows


class TrainingDataError(UserError):
    pass


@dataclass
class TrainingSet:
    """Documents to train on: ``targets`` is (n, K+1), each row a probability vector (column K: none)."""

    doc_ids: list[str]
    texts: list[str]
    targets: np.ndarray
    human: np.ndarray  # bool per row: the target is a human decision, not a weak label
    category_names: list[str]
    label_model_run: str
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def labels(self) -> np.ndarray:
        """The hard label of each row: argmax of its target, NONE_LABEL for column K."""
        return label_of_column(self.targets.argmax(axis=1), len(self.category_names))


@dataclass
class HeldOut:
    """Gold documents whose label was not trained on: for early stopping and thresholds."""

    doc_ids: list[str]
    texts: list[str]
    labels: np.ndarray  # gold label, -1 = fits no category


def category_names(con: duckdb.DuckDBPyConnection) -> list[str]:
    names = [c.name for c in categories(con)]
    if not names:
        raise TrainingDataError("the warehouse has no categories: run `admedtagger init` first")
    return names


def training_set(con: duckdb.DuckDBPyConnection, *, dev: str = "auto", exclude_flagged: bool = False) -> TrainingSet:
    """Build the training set (module docstring) from the latest label-model run."""
    if dev not in DEV_MODES:
        raise TrainingDataError(f"dev mode must be one of {', '.join(DEV_MODES)}, got {dev!r}")
    names = category_names(con)
    k = len(names)
    run_id = last_ok_run(con, "label-model")
    if run_id is None:
        raise TrainingDataError("no weak labels to train on: run `admedtagger label-model` first")
    rows = _candidate_rows(con, run_id, last_ok_run(con, "flag"))

    counts = dict.fromkeys(
        ("weak_labelled", "trained", "human_labels", "skipped_test_gold", "skipped_dev_gold",
         "skipped_flagged", "skipped_unlabelled", "trained_none"), 0)
    doc_ids, texts, targets, human = [], [], [], []
    for doc_id, text, weak_label, probs, gold_label, split, reviewed, flagged in rows:
        counts["weak_labelled"] += weak_label is not None
        target, is_human, skipped = _target(k, weak_label, probs, gold_label, split, reviewed, dev)
        if skipped is None and flagged and exclude_flagged and not is_human:
            skipped = "skipped_flagged"
        if skipped is not None:
            counts[skipped] += 1
            continue
        doc_ids.append(doc_id)
        texts.append(text)
        targets.append(target)
        human.append(is_human)
    counts["trained"] = len(doc_ids)
    counts["human_labels"] = int(sum(human))
    counts["trained_none"] = int(sum(t.argmax() == k for t in targets))
    if not doc_ids:
        raise TrainingDataError(f"nothing to train on after the exclusions ({_describe(counts)})")
    return TrainingSet(
        doc_ids, texts, np.vstack(targets), np.asarray(human, dtype=bool), names, run_id, counts
    )


def _dev_label_trained(dev: str, reviewed: bool) -> bool:
    """Whether a dev gold document trains with its human label."""
    return dev == "train" or (dev == "auto" and reviewed)


def _target(k: int, weak_label, probs, gold_label, split, reviewed: bool, dev: str):
    """(target vector (K+1,), is_human, None), or (None, False, the count naming why it is skipped)."""
    if split == "test":
        return None, False, "skipped_test_gold"
    if split == "dev" and dev == "holdout":
        return None, False, "skipped_dev_gold"
    if split == "dev" and _dev_label_trained(dev, reviewed):
        return _one_hot(k, gold_label), True, None
    if weak_label is None:
        return None, False, "skipped_unlabelled"
    return _weak_target(k, weak_label, probs), False, None


def _weak_target(k: int, label: int, probs) -> np.ndarray:
    """The run's probability row (K or K+1 entries) normalised, else one-hot on the label.

    A row that gives its own label no probability (e.g. a K-entry row beside the label -1)
    does not describe that label, so the label wins.
    """
    if probs is not None and len(probs) in (k, k + 1) and all(p is not None for p in probs):
        vector = probs_with_none(probs, k).clip(min=0.0)
        if vector[column_of(label, k)] > 0:
            return vector / vector.sum()
    return _one_hot(k, label)


def _one_hot(k: int, label: int) -> np.ndarray:
    """A (K+1,) vector with 1 in the label's column (column K for NONE_LABEL)."""
    vector = np.zeros(k + 1)
    vector[column_of(label, k)] = 1.0
    return vector


def _candidate_rows(con: duckdb.DuckDBPyConnection, label_run: str, flag_run: str | None) -> list[tuple]:
    """Every document with a weak label or a gold label, with what decides its target."""
    return con.execute(
        """
        WITH w AS (SELECT doc_id, any_value(label) AS label, any_value(probs) AS probs
                   FROM weak_labels WHERE run_id = ? GROUP BY doc_id),
             f AS (SELECT DISTINCT doc_id FROM label_issues WHERE run_id = ?)
        SELECT d.doc_id, d.text, w.label, w.probs, g.label, g.split,
               r.doc_id IS NOT NULL, f.doc_id IS NOT NULL
        FROM documents d
        LEFT JOIN w ON w.doc_id = d.doc_id
        LEFT JOIN gold g ON g.doc_id = d.doc_id
        LEFT JOIN review_decisions r ON r.doc_id = d.doc_id
        LEFT JOIN f ON f.doc_id = d.doc_id
        WHERE w.doc_id IS NOT NULL OR (g.doc_id IS NOT NULL AND g.split = 'dev')
        ORDER BY d.doc_id
        """,
        [label_run, flag_run or ""],
    ).fetchall()


def held_out_dev(con: duckdb.DuckDBPyConnection, *, dev: str = "auto") -> HeldOut | None:
    """Dev gold documents whose human label is not trained on under ``dev`` mode; None if none."""
    if dev == "train":
        return None
    review_filter = "" if dev == "holdout" else "AND g.doc_id NOT IN (SELECT doc_id FROM review_decisions)"
    rows = con.execute(
        f"SELECT g.doc_id, d.text, g.label FROM gold g JOIN documents d ON d.doc_id = g.doc_id "
        f"WHERE g.split = 'dev' {review_filter} ORDER BY g.doc_id"
    ).fetchall()
    if not rows:
        return None
    return HeldOut([r[0] for r in rows], [r[1] for r in rows], np.asarray([r[2] for r in rows], dtype=np.int64))


def gold_documents(con: duckdb.DuckDBPyConnection, split: str) -> HeldOut:
    """Every gold document of one split (text and label), for evaluation."""
    rows = con.execute(
        "SELECT g.doc_id, d.text, g.label FROM gold g JOIN documents d ON d.doc_id = g.doc_id "
        "WHERE g.split = ? ORDER BY g.doc_id",
        [split],
    ).fetchall()
    return HeldOut([r[0] for r in rows], [r[1] for r in rows], np.asarray([r[2] for r in rows], dtype=np.int64))


def _describe(counts: dict[str, int]) -> str:
    return ", ".join(f"{key.replace('_', ' ')}: {value}" for key, value in counts.items() if value)


def expand_targets(targets: np.ndarray, soft: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Soft targets as weighted rows, for classifiers that take one label per row.

    Args:
        targets: (n, C) probability rows (C = K+1 here).
        soft: expand every class of probability >= SOFT_MIN_PROB, else keep the argmax.

    Returns:
        (rows, labels, weights), each (m,): training row ``i`` stands for document
        ``rows[i]`` with class ``labels[i]`` and sample weight ``weights[i]`` (= its
        probability; 1 for hard targets). A weighted log loss over them is the soft
        cross-entropy sum_c p_c * -log q_c of each document (less the dropped crumbs).
    """
    targets = np.asarray(targets, dtype=np.float64)
    if not soft:
        return np.arange(len(targets)), targets.argmax(axis=1), np.ones(len(targets))
    rows, labels = np.nonzero(targets >= SOFT_MIN_PROB)
    weights = targets[rows, labels]
    # A row whose mass is spread thinner than SOFT_MIN_PROB everywhere keeps its argmax.
    missing = np.setdiff1d(np.arange(len(targets)), rows)
    if len(missing):
        rows = np.concatenate([rows, missing])
        labels = np.concatenate([labels, targets[missing].argmax(axis=1)])
        weights = np.concatenate([weights, np.ones(len(missing))])
    return rows, labels, weights
