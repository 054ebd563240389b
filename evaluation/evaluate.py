"""Score every student, the label model and every LF on one gold split, side by side.

Subjects and what they predict for each gold document of the split:

* ``student``: every row of ``students`` that loads (a missing folder, or a student from
  before "none" was learned, is listed in ``skipped`` with the reason); its prediction,
  the argmax over the categories and "none" (NONE_LABEL);
* ``label_model``: the weak label of the latest ok ``label-model`` run (NONE_LABEL where
  it has none, or abstained);
* ``lf``: each current LF's current vote (view ``current_votes``); no vote = abstain.

All go through :func:`admedtagger.evaluation.scoring.score` (scikit-learn) and are
stored with :func:`~admedtagger.evaluation.scoring.store_scores` in ``evaluations`` under
one ``evaluate`` run. The confusion matrices (:func:`~admedtagger.evaluation.scoring.confusion`,
gold rows x predicted columns, categories then "none") are returned, not stored.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import duckdb
import numpy as np
import pyarrow as pa

from admedtagger.students import registry
from admedtagger.students.data import category_names, gold_documents
from admedtagger.students.labels import predicted_labels
from admedtagger.students.predict import replace_predictions
from admedtagger.warehouse import NONE_LABEL, NONE_NAME, UserError, last_ok_run, record_run

from .scoring import confusion, score, store_scores


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


def evaluate_on_gold(con: duckdb.DuckDBPyConnection, *, split: str = "test", root: Path | None = None,
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
                student = registry.load_folder(registry.resolve_path(row, root), con=con)
            except UserError as exc:
                skipped.append(f"{row['model_id']}: {exc}")
                continue
            probs = student.predict_proba(gold.texts)
            predicted = predicted_labels(probs)
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
    evaluated = pa.table({
        "doc_id": doc_ids, "label": pa.array(labels, pa.int32()),
        "probs": pa.array([row.tolist() for row in probs], pa.list_(pa.float64())),
    })
    replace_predictions(con, model_id, run_id, evaluated)


def confusion_table(gold: np.ndarray, predicted: np.ndarray, names: list[str]) -> pa.Table:
    """:func:`~admedtagger.evaluation.scoring.confusion` as a table: one row per gold label,
    one column per predicted label (the K categories, then "none")."""
    shown = [*names, NONE_NAME]
    matrix = confusion(gold, predicted, len(names))
    data = {"gold \\ predicted": shown}
    for j, name in enumerate(shown):
        data[name] = matrix[:, j].tolist()
    return pa.table(data)


def _label_model_predictions(con: duckdb.DuckDBPyConnection, doc_ids: list[str], split: str) -> dict:
    run_id = last_ok_run(con, "label-model")
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
    return {("label_model", model): np.asarray([labels.get(d, NONE_LABEL) for d in doc_ids])}


def _lf_predictions(con: duckdb.DuckDBPyConnection, doc_ids: list[str], split: str) -> dict:
    """Each current LF's current votes (view ``current_votes``) on the gold documents of the
    split, NONE_LABEL where it did not vote; an LF without a vote there still gets a row."""
    rows = con.execute(
        "SELECT v.lf, v.doc_id, v.label FROM current_votes v JOIN gold g ON g.doc_id = v.doc_id AND g.split = ?",
        [split],
    ).fetchall()
    votes: dict[str, dict[str, int]] = {lf: {} for (lf,) in con.execute("SELECT lf FROM current_lfs ORDER BY lf").fetchall()}
    for lf, doc_id, label in rows:
        votes[lf][doc_id] = label
    return {("lf", lf): np.asarray([mine.get(d, NONE_LABEL) for d in doc_ids]) for lf, mine in votes.items()}
