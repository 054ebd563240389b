"""From a logprobs answer to a vote: label mass, contextual calibration, the abstain rule.

A logprobs answer (:mod:`.labels`) gives each of a view's K label words its probability
mass ``m`` (K,) under the model's full next-token distribution. The vote is read in four
steps; the settings are ``[llm] min_label_mass`` and ``[llm] calibrate``.

1. **Label mass and distribution.** ``M = sum_k m_k`` (the *label mass*, in [0, 1]) is how
   much of the model's next token is a label word at all; ``p = m / M`` (K,) is its
   answer over the label words. The single most likely token of the vocabulary does not
   decide anything: a small model often starts a sentence instead (SmolLM2-135M's top
   token on the demo prompts is mostly "P", "C" or "This"), and its ranking of the label
   words is still an answer.
2. **The one abstain rule.** An answer with ``M < min_label_mass`` (default
   :data:`DEFAULT_MIN_LABEL_MASS`), or ``M = 0``, abstains: the prompt did not lead the
   model to answer with a label word, so ``p`` renormalises noise. (Label words missing
   from a server's top-k list have mass 0, so such an answer abstains too.)
3. **Contextual calibration** (Zhao et al. 2021, "Calibrate before use"; on unless
   ``calibrate = false``). The LF's own prompt is answered with each content-free text
   of :data:`CONTENT_FREE_TEXTS` in the text slot (same instructions, same few-shot
   turns). Their distributions ``p`` (any label mass above 0: the prior measures the
   prompt's bias among the label words, however little mass they hold) are averaged
   into the prior ``p_cf`` (K,): what the prompt and the label words alone push the
   model towards. Every answer is then corrected with ``W = diag(p_cf)^-1``, ``b = 0``::

       q_k = (p_k / p_cf_k) / sum_j (p_j / p_cf_j)

   so a content-free input maps to the uniform distribution and a word the prompt
   favours must earn its lead from the text. ``p_cf`` is floored at
   :data:`PRIOR_FLOOR` (a word a server's top-k list never showed would otherwise divide
   by zero). When every content-free answer has label mass 0, the LF is not calibrated
   (``q = p``). The content-free prompts are ordinary cached prompts: answered once per
   prompt (view, categories, few-shot turns) and model, then read from ``llm_cache``.
4. **Vote.** A choice view votes ``argmax q`` with confidence ``max q``. A yes/no view
   (words ``(yes, no)``) votes its category with confidence ``q_yes`` when
   ``q_yes > 0.5`` and abstains otherwise: its "no" is an abstain that the label model
   reads as evidence against the category.

Only the logprobs mode has a distribution to calibrate; a choice answer (constrained
generation, :mod:`.backend_vllm`, :mod:`.backend_openai`) votes as answered.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from admedtagger.warehouse import UserError

CONTENT_FREE_TEXTS = ("N/A", "", "[MASK]")
# 0.01 is ~30x the mass that K label words' first tokens would hold under a uniform
# next token (SmolLM2: ~15 tokens of 49k). On the demo (100 texts, 9 LFs, SmolLM2) votes
# with label mass 0.01-0.05 were as accurate as those above 0.05 (all near chance), so a
# higher floor only dropped votes.
DEFAULT_MIN_LABEL_MASS = 0.01
PRIOR_FLOOR = 1e-6
YES = 0  # index of the yes word in a yes/no view's (yes, no)


@dataclass(frozen=True)
class VoteRule:
    """How a logprobs answer becomes a vote (see the module doc)."""

    min_label_mass: float = DEFAULT_MIN_LABEL_MASS
    calibrate: bool = True

    def __post_init__(self) -> None:
        if not 0.0 <= self.min_label_mass < 1.0:
            raise UserError(f"[llm] min_label_mass must be in [0, 1), got {self.min_label_mass!r}")

    def spec(self) -> dict:
        """The rule's part of an LF's spec: changing it changes the LF's version."""
        return {"min_label_mass": self.min_label_mass,
                "content_free": list(CONTENT_FREE_TEXTS) if self.calibrate else None}


def label_distribution(masses: Sequence[float], min_label_mass: float) -> np.ndarray | None:
    """``p = m / sum(m)`` (K,), or None when the label mass is 0 or below ``min_label_mass``."""
    m = np.asarray(masses, dtype=float)
    total = m.sum()
    if total <= 0 or total < min_label_mass:
        return None
    return m / total


def content_free_prior(answers: Sequence[Sequence[float]]) -> np.ndarray | None:
    """``p_cf`` (K,): mean of the content-free answers' distributions (masses per answer),
    floored at :data:`PRIOR_FLOOR`; None when every answer has label mass 0."""
    kept = [p for p in (label_distribution(m, 0.0) for m in answers) if p is not None]
    if not kept:
        return None
    return np.maximum(np.mean(kept, axis=0), PRIOR_FLOOR)


def calibrated(masses: Sequence[float], prior: np.ndarray | None, min_label_mass: float) -> np.ndarray | None:
    """``q`` (K,) of one answer: ``p / p_cf`` renormalised (``p`` without a prior), or None
    when the answer abstains by the mass rule."""
    p = label_distribution(masses, min_label_mass)
    if p is None or prior is None:
        return p
    q = p / prior
    return q / q.sum()


def choose(q: np.ndarray | None, yesno: bool) -> tuple[int, float] | None:
    """``(word index, confidence)`` voted from ``q``, or None to abstain (step 4)."""
    if q is None:
        return None
    if yesno:
        return (YES, float(q[YES])) if q[YES] > 0.5 else None
    best = int(np.argmax(q))
    return best, float(q[best])
