"""Scoring predictions against the gold set, and storing the scores in ``evaluations``.

Every stage that evaluates something (label model, LFs, students, teacher) goes through
:func:`score` and :func:`store_scores`, so all rows in ``evaluations`` mean the same thing.

Labels are category ids 0..K-1; -1 means "no category" both in gold (the text fits none)
and in predictions (abstain). Per-category precision, recall and F1 are computed by
scikit-learn over the K categories only, so an abstention on a categorised text costs
recall and a vote on an uncategorised text costs precision. ``macro`` averages the K
categories; ``accuracy`` counts exact matches over all gold documents, -1 included.
"""

from __future__ import annotations

import duckdb
import numpy as np


def gold_labels(con: duckdb.DuckDBPyConnection, split: str | None = None) -> dict[str, int]:
    """doc_id -> gold label (-1 = fits no category), for one split or all of them."""
    sql = "SELECT doc_id, label FROM gold" + (" WHERE split = ?" if split else "")
    return dict(con.execute(sql, [split] if split else []).fetchall())


def score(y_true, y_pred, category_names: list[str]) -> list[dict]:
    """Rows of (category, precision, recall, f1, support) plus 'macro' and 'accuracy'."""
    from sklearn.metrics import accuracy_score, precision_recall_fscore_support

    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
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
    """Append the rows of :func:`score` to ``evaluations``."""
    con.executemany(
        "INSERT INTO evaluations (run_id, split, subject, name, category, precision, recall, f1, support) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [[run_id, split, subject, name, r["category"], r["precision"], r["recall"], r["f1"], r["support"]] for r in rows],
    )
