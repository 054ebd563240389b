"""From a student's probabilities to labels: "fits no category" is a class like any other.

Every student predicts a (n, K+1) probability matrix: columns 0..K-1 the categories
(label ids), column K "fits no category" (the convention of ``weak_labels.probs``, see
:func:`admedtagger.warehouse.rules.probs_with_none`). A text's label is the argmax; the
none column maps to :data:`~admedtagger.warehouse.NONE_LABEL`. No threshold is chosen:
students learn "none" from the weak labels' none probability and from reviewers' rejects.
"""

from __future__ import annotations

import numpy as np

from admedtagger.evaluation.scoring import score
from admedtagger.warehouse import label_of_column


def predicted_labels(probs: np.ndarray) -> np.ndarray:
    """(n,) label ids from (n, K+1) probabilities: argmax, NONE_LABEL where column K wins."""
    probs = np.asarray(probs)
    return label_of_column(probs.argmax(axis=1), probs.shape[1] - 1)


def macro_f1(gold, predicted, category_names: list[str]) -> float:
    """Macro-F1 over the K categories as ``evaluate`` scores it (:func:`~admedtagger.evaluation.scoring.score`)."""
    rows = score(gold, predicted, category_names)
    return next(r["f1"] for r in rows if r["category"] == "macro")
