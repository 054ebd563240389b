"""Score every student, the label model and every LF on one gold split, side by side.

Subjects and what they predict for each gold document of the split:

* ``student``: every row of ``students`` whose folder still exists; its own prediction
  (argmax, or -1 below its abstain threshold);
* ``label_model``: the weak label of the latest ok ``label-model`` run (-1 where it has
  none, or abstained);
* ``lf``: each LF's latest vote under its current version (``lfs.version``): the vote of
  the most recent run that voted on the document; no vote = abstain (-1).

All go through :func:`admedtagger.warehouse.evaluation.score` (scikit-learn) and are
stored with :func:`store_scores` in ``evaluations`` under one ``evaluate`` run. The
confusion matrices (scikit-learn, gold rows x predicted columns, "(none)" = -1) are
returned, not stored.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import duckdb
import numpy as np
import pyarrow as pa

from admedtagger.warehouse import UserError, record_run
from admedtagger.warehouse.evaluation import score, store_scores

from . import registry
from .abstain import labels_from_probs
from .data import category_names, gold_documents, latest_run

NONE_NAME = "(none)"


@dataclass
class Evaluation:
    run_id: str
    split: str
    n_docs: int
    scores: pa.Table  # long: subject, name, category, precision, recall, f1, support
    confusion: dict[str, pa.Table] = field(default_factory=dict)  # "subject:name" -> matrix
    skipped: list[str] = field(default_factory=list)  # students that could not be loaded, and why

    def f1_table(self) -> pa.Table:
        """One row per subject (student, label model, LF), one F1 column per category, macro, accuracy."""
        rows = self.scores.to_pylist()
        subjects = list(dict.fromkeys((r["subject"], r["name"]) for r in rows))
        categories = list(dict.fromkeys(r["category"] for r in rows))
        f1 = {(r["subject"], r["name"], r["category"]): r["f1"] for r in rows}
        data = {"subject": [s for s, _ in subjects], "name": [n for _, n in subjects]}
        for category in categories:
            data[category] = [None if (s, n, category) not in f1 else round(f1[(s, n, category)], 3)
                              for s, n in subjects]
        return pa.table(data)


def evaluate(con: duckdb.DuckDBPyConnection, *, split: str = "test", root: Path | None = None,
             on_progress: Callable[[str], None] | None = None) -> Evaluation:
    """Score all subjects on the gold ``split``; raises UserError when the split is empty."""
    if split not in ("dev", "test"):
        raise UserError(f"--split must be dev or test, got {split!r}")
    names = category_names(con)
    gold = gold_documents(con, split)
    if not gold.doc_ids:
        raise UserError(f"the gold {split} split is empty: import labels or review flagged documents first")
    report = on_progress or (lambda message: None)
    predictions: dict[tuple[str, str], np.ndarray] = {}
    skipped: list[str] = []
    with record_run(con, "evaluate", {"split": split}) as run:
        for row in registry.student_rows(con):
            report(f"student {row['model_id']}")
            try:
                student = registry.load_folder(registry.resolve_path(row, root))
            except UserError as exc:
                skipped.append(f"{row['model_id']}: {exc}")
                continue
            probs = student.predict_proba(gold.texts)
            predicted = labels_from_probs(probs, student.abstain_below)
            predictions[("student", row["model_id"])] = predicted
            _store_predictions(con, row["model_id"], gold.doc_ids, predicted, probs, run.run_id)
        report("label model and LFs")
        predictions.update(_label_model_predictions(con, gold.doc_ids, split))
        predictions.update(_lf_predictions(con, gold.doc_ids, split))
        if not predictions:
            raise UserError("nothing to evaluate: no student, weak labels or LF votes yet")
        long_rows, confusion = [], {}
        for (subject, name), predicted in predictions.items():
            rows = score(gold.labels, predicted, names)
            store_scores(con, run.run_id, split, subject, name, rows)
            long_rows += [{"subject": subject, "name": name, **r} for r in rows]
            confusion[f"{subject}:{name}"] = confusion_table(gold.labels, predicted, names)
        macro = {f"{r['subject']}:{r['name']}": r["f1"] for r in long_rows if r["category"] == "macro"}
        run.metrics = {"docs": len(gold.doc_ids), "macro_f1": macro, "skipped": skipped}
    return Evaluation(run.run_id, split, len(gold.doc_ids), pa.Table.from_pylist(long_rows), confusion, skipped)


def _store_predictions(con: duckdb.DuckDBPyConnection, model_id: str, doc_ids: list[str], labels: np.ndarray,
                       probs: np.ndarray, run_id: str) -> None:
    """Keep a student's gold-split predictions in ``predictions`` (the report's confusion matrices read them)."""
    con.register("_evaluated", pa.table({
        "doc_id": doc_ids, "label": pa.array(labels, pa.int32()),
        "probs": pa.array([row.tolist() for row in probs], pa.list_(pa.float64())),
    }))
    try:
        con.execute("INSERT INTO predictions (model_id, doc_id, label, probs, run_id) "
                    "SELECT ?, doc_id, label, probs, ? FROM _evaluated", [model_id, run_id])
    finally:
        con.unregister("_evaluated")


def confusion_table(gold: np.ndarray, predicted: np.ndarray, names: list[str]) -> pa.Table:
    """scikit-learn confusion matrix over [-1, 0..K-1]: rows gold, columns predicted."""
    from sklearn.metrics import confusion_matrix

    labels = [-1, *range(len(names))]
    shown = [NONE_NAME, *names]
    matrix = confusion_matrix(gold, predicted, labels=labels)
    data = {"gold \\ predicted": shown}
    for j, name in enumerate(shown):
        data[name] = matrix[:, j].tolist()
    return pa.table(data)


def _label_model_predictions(con: duckdb.DuckDBPyConnection, doc_ids: list[str], split: str) -> dict:
    run_id = latest_run(con, "label-model")
    if run_id is None:
        return {}
    rows = con.execute(
        "SELECT w.doc_id, any_value(w.label), any_value(w.model) FROM weak_labels w "
        "JOIN gold g ON g.doc_id = w.doc_id AND g.split = ? WHERE w.run_id = ? GROUP BY w.doc_id",
        [split, run_id],
    ).fetchall()
    if not rows:
        return {}
    labels = {doc_id: label for doc_id, label, _ in rows}
    model = rows[0][2]
    return {("label_model", model): np.asarray([labels.get(d, -1) for d in doc_ids])}


def _lf_predictions(con: duckdb.DuckDBPyConnection, doc_ids: list[str], split: str) -> dict:
    """Latest vote per (LF, document) under the LF's current version."""
    rows = con.execute(
        """
        WITH current AS (
            SELECT lf, version FROM lfs QUALIFY row_number() OVER (PARTITION BY lf ORDER BY updated_at DESC) = 1
        )
        SELECT v.lf, v.doc_id, v.label
        FROM votes v
        JOIN current c ON c.lf = v.lf AND c.version = v.lf_version
        JOIN gold g ON g.doc_id = v.doc_id AND g.split = ?
        LEFT JOIN runs r ON r.run_id = v.run_id
        QUALIFY row_number() OVER (PARTITION BY v.lf, v.doc_id ORDER BY r.started_at DESC NULLS LAST) = 1
        """,
        [split],
    ).fetchall()
    lfs = [r[0] for r in con.execute(
        "SELECT lf FROM lfs QUALIFY row_number() OVER (PARTITION BY lf ORDER BY updated_at DESC) = 1 ORDER BY lf"
    ).fetchall()]
    votes: dict[str, dict[str, int]] = {lf: {} for lf in lfs}
    for lf, doc_id, label in rows:
        votes[lf][doc_id] = label
    return {("lf", lf): np.asarray([votes[lf].get(d, -1) for d in doc_ids]) for lf in lfs}
