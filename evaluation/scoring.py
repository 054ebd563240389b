"""Scoring predictions against the gold set, and storing the scores in ``evaluations``.

Every stage that evaluates something (label model, LFs, students, teacher) goes through
:func:`score` and :func:`store_scores`, so all rows in ``evaluations`` mean the same thing.

Labels are category ids 0..K-1; :data:`~admedtagger.warehouse.NONE_LABEL` means "no
category" both in gold (the text fits none) and in predictions (abstain). Per-category
precision, recall and F1 are computed by scikit-learn over the K categories only, so an
abstention on a categorised text costs recall and a vote on an uncategorised text costs
precision. ``macro`` is the unweighted mean over the K categories; ``accuracy`` counts
exact matches over all gold documents, "no category" included.
"""

from __future__ import annotations

import duckdb
import numpy as np

from admedtagger.warehouse import NONE_LABEL


def gold_labels(con: duckdb.DuckDBPyConnection, split: str | None = None) -> dict[str, int]:
    """doc_id -> gold label (view ``gold``; NONE_LABEL = fits no category), for one split
    (``"dev"`` or ``"test"``) or, with ``split=None``, all of them."""
    sql = "SELECT doc_id, label FROM gold" + (" WHERE split = ?" if split else "")
    return dict(con.execute(sql, [split] if split else []).fetchall())


def score(y_true, y_pred, category_names: list[str]) -> list[dict]:
    """Score predicted labels against gold labels.

    Args:
        y_true: (n,) gold label ids, NONE_LABEL for "fits no category".
        y_pred: (n,) predicted label ids, NONE_LABEL for an abstain.
        category_names: the K category names, in label-id order.

    Returns:
        K + 2 rows ``{category, precision, recall, f1, support}``: one per category, then
        ``macro`` (unweighted mean over the K categories; support = documents of any
        category) and ``accuracy`` (share of exact matches over all n, in every metric
        column; support = n).
    """
    from sklearn.metrics import accuracy_score, precision_recall_fscore_support

    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true and y_pred differ in shape: {y_true.shape} vs {y_pred.shape}")
    labels = list(range(len(category_names)))
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
    rows = [
        {"category": name, "precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]), "support": int(s[i])}
        for i, name in enumerate(category_names)
    ]
    mp, mr, mf, _ = precision_recall_fscore_support(y_true, y_pred, labels=labels, average="macro", zero_division=0)
    rows.append({"category": "macro", "precision": float(mp), "recall": float(mr), "f1": float(mf), "support": int(s.sum())})
    accuracy = float(accuracy_score(y_true, y_pred)) if len(y_true) else 0.0
    rows.append({"category": "accuracy", "precision": accuracy, "recall": accuracy, "f1": accuracy, "support": len(y_true)})
    return rows


def store_scores(con: duckdb.DuckDBPyConnection, run_id: str, split: str, subject: str, name: str,
                 rows: list[dict]) -> None:
    """Append the rows of :func:`score` to ``evaluations`` under one run, split
    (``dev``/``test``), subject (``lf``, ``label_model``, ``student``, ``teacher``) and name."""
    con.executemany(
        "INSERT INTO evaluations (run_id, split, subject, name, category, precision, recall, f1, support) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [[run_id, split, subject, name, r["category"], r["precision"], r["recall"], r["f1"], r["support"]] for r in rows],
    )


def confusion(y_true, y_pred, k: int) -> np.ndarray:
    """Confusion counts over the K categories and "no category".

    Args:
        y_true: (n,) gold label ids, NONE_LABEL for "fits no category".
        y_pred: (n,) predicted label ids, NONE_LABEL for an abstain.
        k: the number of categories.

    Returns:
        (K + 1, K + 1) int64 counts, rows gold and columns predicted, both in the order
        0..K-1 then NONE_LABEL (scikit-learn's ``confusion_matrix``).
    """
    from sklearn.metrics import confusion_matrix

    return confusion_matrix(np.asarray(y_true), np.asarray(y_pred), labels=[*range(k), NONE_LABEL]).astype(np.int64)
