"""From class probabilities to a label, with "fits no category" as an abstention.

Students learn only the K categories. A text gets label -1 (no category) when its top
probability is below the model's ``abstain_below`` threshold. The threshold is chosen
on held-out dev gold documents to maximise the macro-F1 of
:func:`admedtagger.evaluation.scoring.score` (the same scoring ``evaluate`` uses): a
category predicted for a text whose gold label is -1 costs precision, an abstention on
a categorised text costs recall, so the threshold trades the two.
"""

from __future__ import annotations

import numpy as np

from admedtagger.warehouse import NONE_LABEL
from admedtagger.evaluation.scoring import score

# Candidate thresholds; 0 means "never abstain".
THRESHOLDS = (0.0, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9)


def labels_from_probs(probs: np.ndarray, abstain_below: float = 0.0) -> np.ndarray:
    """argmax over categories, :data:`NONE_LABEL` where the top probability is below ``abstain_below``."""
    probs = np.asarray(probs)
    labels = probs.argmax(axis=1)
    if abstain_below > 0:
        labels = np.where(probs.max(axis=1) < abstain_below, NONE_LABEL, labels)
    return labels


def choose_threshold(probs: np.ndarray, gold: np.ndarray, category_names: list[str]) -> tuple[float, float]:
    """(threshold, dev macro-F1) maximising macro-F1 on the dev gold; the lowest wins ties."""
    best = (0.0, -1.0)
    for threshold in THRESHOLDS:
        macro = macro_f1(gold, labels_from_probs(probs, threshold), category_names)
        if macro > best[1] + 1e-12:
            best = (threshold, macro)
    return best


def macro_f1(gold, predicted, category_names: list[str]) -> float:
    rows = score(gold, predicted, category_names)
    return next(r["f1"] for r in rows if r["category"] == "macro")
