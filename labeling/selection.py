r"""Choosing a label model: the settings grid, class priors, and ``auto``.

Candidates
----------
A :class:`Candidate` is one model family of :data:`MODELS` with one setting of the grid
:class:`Options` spans: ``epochs`` x ``lr`` x ``prior`` for Snorkel, ``prior`` for
Dawid-Skene, nothing for majority vote and the confidence model (which learns its K+1
class prior, "none" included, by EM).

Class prior
-----------
:math:`\pi` (Snorkel's ``class_balance`` and Dawid-Skene's :math:`\pi`), one of
:data:`PRIORS`: ``uniform``; ``majority`` (the frequencies of the majority-vote labels);
or ``dev`` (the frequencies of the dev gold labels). Counts get add-one smoothing so no
class has prior 0.

Choice
------
Every candidate (each model of the requested family, across the grid) is fitted on all
documents. The choice starts from the no-gold choice below. With a dev gold split every
candidate is also scored by macro-F1 on the dev gold documents (no vote = predicted "no
category"), and a rival replaces the no-gold choice only when its dev macro-F1 is higher
by more than :math:`1/\sqrt{n_{dev}}` and it passes the same label-free checks; the best
such rival wins (ties: the simpler model, the order of :data:`MODELS`, then the earlier
setting). Dev gold is mostly reviews, which the queue picks, so a few of them are a noisy
and biased sample: on 25 reviews of English texts the best dev score went to a
Dawid-Skene model that had swapped Cardiology for another class (macro-F1 0.76 -> 0.59).
The test split plays no part in the choice (it is only scored afterwards).

Without dev gold, ``auto`` takes the confidence model, unless it fails one of two checks
against majority vote that need no labels (:func:`doubts`), and then falls back to
majority vote, saying why:

- a swapped category: for some category that majority vote gives to at least
  :data:`MIN_CHECKED` documents, the model keeps fewer than :data:`MIN_KEPT` of those
  documents in it and gives at least half of them one other category (EM swapped or
  swallowed the category; spreading them over "none" and several categories is allowed:
  on English texts where no document is Pathology, the model rightly moved two thirds of
  the keyword LF's Pathology documents elsewhere);
- an inflated "none": the model calls "none" more than :data:`MAX_NONE` of the documents
  majority vote gives a category (EM let "none" absorb documents whose own LF stayed
  silent: a version of the model fitted on all-abstain documents too did so on synthetic
  votes at 29-93 %). The confidence model is the default because, fitted with no
labels, it matched or beat majority vote on every corpus measured (``bench/quality.py``:
the demo, English PubMed abstracts and chest X-ray reports, synthetic votes with known LF
accuracies), while Snorkel and Dawid-Skene fell below it on real text. A named family
uses the first value of each setting.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Callable

import numpy as np

from admedtagger.evaluation.scoring import score
from admedtagger.warehouse import NONE_LABEL

from .models import (
    TIE_BREAKS, ConfidenceModel, DawidSkeneModel, LabelModel, LabelModelError, MajorityVote, SnorkelModel, TieBreak,
)
from .vote_matrix import GoldSplit, VoteMatrix

MODELS = ("majority", "confidence", "dawid_skene", "snorkel")  # simplest first: the order ties go by
PRIORS = ("uniform", "majority", "dev")
MIN_CHECKED = 20  # majority-vote documents of a category below which it is not checked
MIN_KEPT = 1 / 3  # share of them the model must keep in that category
MAX_NONE = 1 / 4  # share of majority vote's categorised documents the model may call "none"


def class_prior(kind: str, k: int, majority_labels: np.ndarray, dev: GoldSplit | None) -> np.ndarray:
    """(K,) the class prior pi for ``kind`` in PRIORS, add-one smoothed (module doc).

    ``majority_labels``: majority vote's hard labels on the corpus (NONE_LABEL = none).
    """
    if kind == "uniform":
        return np.full(k, 1.0 / k)
    if kind == "majority":
        source = majority_labels
    elif kind == "dev":
        if dev is None:
            raise LabelModelError("prior 'dev' needs a dev gold split: import gold labels or review some documents")
        source = dev.labels
    else:
        raise LabelModelError(f"unknown prior {kind!r}; choose from {', '.join(PRIORS)}")
    counts = np.bincount(source[source >= 0], minlength=k)[:k] + 1.0
    return counts / counts.sum()


@dataclass(frozen=True)
class Candidate:
    """One model with one setting of the grid."""

    model: str
    prior: str | None = None
    epochs: int | None = None
    lr: float | None = None

    @property
    def label(self) -> str:
        settings = ", ".join(f"{k}={v}" for k, v in self.settings.items())
        return f"{self.model}({settings})" if settings else self.model

    @property
    def settings(self) -> dict:
        return {k: v for k, v in (("epochs", self.epochs), ("lr", self.lr), ("prior", self.prior)) if v is not None}

    def build(self, k: int, priors: dict[str, np.ndarray], seed: int) -> LabelModel:
        """The unfitted model; ``priors`` maps each prior name to its (K,) prior."""
        if self.model == "majority":
            return MajorityVote(k)
        if self.model == "confidence":
            return ConfidenceModel(k, seed)
        if self.model == "dawid_skene":
            return DawidSkeneModel(k, priors[self.prior], seed)
        return SnorkelModel(k, priors[self.prior], self.epochs, self.lr, seed)


@dataclass
class Options:
    """What ``label-model`` fits. ``model``: one of MODELS or ``auto``; the grids are searched
    on dev gold when it exists, else their first values are used."""

    model: str = "auto"
    lfs: tuple[str, ...] | None = None
    # First values = the settings used without dev gold. 500 epochs at lr 0.01: Snorkel's own
    # default of 100 stops before its LF accuracies converge (0.11 off on synthetic LFs).
    epochs: tuple[int, ...] = (500, 100, 2000)
    lr: tuple[float, ...] = (0.01, 0.003)
    priors: tuple[str, ...] = PRIORS
    tie_break: str = "prior"
    report_precedence: bool = True
    seed: int = 0

    @classmethod
    def from_config(cls, section: dict, **overrides) -> "Options":
        """Defaults, then the config's ``[label_model]`` table, then non-None ``overrides``."""
        known = {f for f in cls.__dataclass_fields__}
        unknown = sorted(set(section) - known)
        if unknown:
            raise LabelModelError(f"unknown setting(s) in [label_model]: {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        values = {**section, **{k: v for k, v in overrides.items() if v is not None and v != [] and v != ()}}
        for name in ("lfs", "epochs", "lr", "priors"):
            if name in values and values[name] is not None:
                value = values[name]
                values[name] = tuple(value) if isinstance(value, (list, tuple)) else (value,)
        options = replace(cls(), **values)
        options.validate()
        return options

    def validate(self) -> None:
        if self.model not in MODELS + ("auto",):
            raise LabelModelError(f"unknown model {self.model!r}; choose from {', '.join(MODELS)}, auto")
        if self.tie_break not in TIE_BREAKS:
            raise LabelModelError(f"unknown tie break {self.tie_break!r}; choose from {', '.join(TIE_BREAKS)}")
        bad = [p for p in self.priors if p not in PRIORS]
        if bad or not self.priors:
            raise LabelModelError(f"unknown prior {', '.join(bad) or '(none given)'}; choose from {', '.join(PRIORS)}")
        if not self.epochs or min(self.epochs) < 1:
            raise LabelModelError(f"epochs must be positive integers, got {list(self.epochs)}")
        if not self.lr or min(self.lr) <= 0:
            raise LabelModelError(f"learning rates must be positive, got {list(self.lr)}")

    def candidates(self, has_dev: bool, n_lfs: int) -> list[Candidate]:
        """The grid to try, in preference order (first = default without dev gold)."""
        families = MODELS if self.model == "auto" else (self.model,)
        priors = [p for p in self.priors if has_dev or p != "dev"]
        if not priors:
            raise LabelModelError("prior 'dev' needs a dev gold split: import gold labels or review some documents")
        if self.model == "snorkel" and n_lfs < 3:
            raise LabelModelError(f"Snorkel's LabelModel needs at least 3 LFs with votes, got {n_lfs}")
        grid: list[Candidate] = []
        for family in families:
            if family == "majority":
                grid.append(Candidate("majority"))
            elif family == "confidence":
                grid.append(Candidate("confidence"))
            elif family == "dawid_skene":
                grid += [Candidate("dawid_skene", prior=p) for p in priors]
            elif n_lfs >= 3:
                grid += [Candidate("snorkel", p, e, r) for e in self.epochs for r in self.lr for p in priors]
        if has_dev:
            return grid
        # Without gold: the family's first setting; for auto the confidence model, checked
        # against majority vote (which is fitted too, as the fallback).
        return [Candidate("confidence"), Candidate("majority")] if self.model == "auto" else grid[:1]


@dataclass
class Trial:
    """A fitted candidate and its dev score (None without dev gold)."""

    candidate: Candidate
    model: LabelModel | None
    fit_seconds: float
    dev_scores: list[dict] | None = None
    error: str | None = None
    chosen: bool = False
    note: str | None = None  # why it was (not) chosen without gold

    @property
    def dev_macro_f1(self) -> float | None:
        return None if self.dev_scores is None else next(r["f1"] for r in self.dev_scores if r["category"] == "macro")

    def as_dict(self) -> dict:
        return {"candidate": self.candidate.label, "model": self.candidate.model, **self.candidate.settings,
                "dev_macro_f1": self.dev_macro_f1, "fit_s": round(self.fit_seconds, 3), "error": self.error,
                "chosen": self.chosen, "note": self.note}


def choose(grid: list[Candidate], votes: VoteMatrix, priors: dict[str, np.ndarray], seed: int, ties: TieBreak,
           dev: GoldSplit | None, category_names: list[str],
           on_fit: Callable[[int, int, str], None] | None = None) -> list[Trial]:
    """Fit every candidate on ``votes`` and mark one ``chosen`` (module doc): the no-gold
    choice (:func:`_without_gold`), replaced, when ``dev`` is given, by the candidate with
    the best dev macro-F1 among those that beat it by more than 1/sqrt(dev documents) and
    pass :func:`doubts`. The trials' ``note`` says why a candidate was or was not chosen.

    A candidate that fails (Snorkel diverging) is reported with its error; if all fail the
    first error is raised.
    """
    k = len(category_names)
    dev_votes = votes.for_documents(dev.rowids) if dev is not None else None
    trials: list[Trial] = []
    for number, candidate in enumerate(grid):
        if on_fit:
            on_fit(number, len(grid), candidate.label)
        started = time.perf_counter()
        try:
            model = candidate.build(k, priors, seed).fit(votes.labels, votes.confidence)
        except LabelModelError as exc:
            trials.append(Trial(candidate, None, time.perf_counter() - started, error=str(exc)))
            continue
        trial = Trial(candidate, model, time.perf_counter() - started)
        if dev is not None:
            predicted = model.predict(dev_votes.labels, dev_votes.confidence, ties)
            trial.dev_scores = score(dev.labels, predicted, category_names)
        trials.append(trial)
    fitted = [t for t in trials if t.model is not None]
    if not fitted:
        raise LabelModelError(trials[0].error)
    majority = next((t for t in fitted if t.candidate.model == "majority"), None)
    best = _without_gold(fitted, majority, votes, ties, category_names)
    if dev is not None:
        # A handful of reviews (dev gold chosen by the queue) is a noisy, biased sample: a
        # rival replaces the no-gold choice only when it is clearly better on it, and never
        # when it fails the no-gold checks (on 25 reviews of English texts, the best dev
        # score went to a Dawid-Skene that had swapped Cardiology: macro-F1 0.76 -> 0.59).
        margin = 1 / np.sqrt(len(dev.labels))
        rivals = []
        for trial in fitted:
            if trial is best or trial.dev_macro_f1 < best.dev_macro_f1 + margin:
                continue
            reason = doubts(trial.model, majority.model, votes, ties, category_names) if majority else None
            if reason:
                trial.note = "not chosen: it " + reason
            else:
                rivals.append(trial)
        if rivals:
            rival = max(rivals, key=lambda t: t.dev_macro_f1)  # max keeps the first of equals
            rival.note = (f"beats {best.candidate.label} by more than {margin:.3f} (1/sqrt n) on "
                          f"{len(dev.labels):,} dev gold documents")
            best = rival
        else:
            best.note = (f"{best.note or best.candidate.label}; no candidate beats it by more than {margin:.3f} "
                         f"(1/sqrt n) on {len(dev.labels):,} dev gold documents")
    best.chosen = True
    if on_fit:
        on_fit(len(grid), len(grid), best.candidate.label)
    return trials


def _without_gold(fitted: list[Trial], majority: Trial | None, votes: VoteMatrix, ties: TieBreak,
                  category_names: list[str]) -> Trial:
    """The no-gold choice among ``fitted``: the confidence model when both it and ``majority``
    are there (``auto``) and :func:`doubts` finds no reason to distrust it, else majority
    vote; for a single family its first setting. Notes say why."""
    confidence = next((t for t in fitted if t.candidate.model == "confidence"), None)
    if confidence is None or majority is None:
        return fitted[0]
    reason = doubts(confidence.model, majority.model, votes, ties, category_names)
    if reason:
        confidence.note = "not chosen: it " + reason
        majority.note = "chosen as the fallback: the confidence model " + reason
        return majority
    confidence.note = "chosen without gold: it keeps majority vote's categories and does not inflate none"
    return confidence


def doubts(model: LabelModel, majority: LabelModel, votes: VoteMatrix, ties: TieBreak,
           category_names: list[str]) -> str | None:
    """Why ``model`` should not be trusted next to majority vote without gold, or None.

    Checks (module doc): for each category that majority vote assigns to at least
    :data:`MIN_CHECKED` documents, ``model`` must keep :data:`MIN_KEPT` of them there or give
    no other category half of them; and the share of majority vote's categorised documents
    that ``model`` calls "none" must stay within :data:`MAX_NONE`. Returns e.g. "gives 501 of
    589 Cardiology documents of majority vote to Radiology (keeps 12)" or "calls 'none'
    1,203 of 3,004 documents majority vote gives a category".
    """
    ours = model.predict(votes.labels, votes.confidence, ties)
    theirs = majority.predict(votes.labels, votes.confidence, ties)
    for label, name in enumerate(category_names):
        theirs_here = theirs == label
        total = int(theirs_here.sum())
        if total >= MIN_CHECKED:
            kept = int((ours[theirs_here] == label).sum())
            moved = np.bincount(ours[theirs_here & (ours >= 0)], minlength=len(category_names))
            moved[label] = 0
            if kept < MIN_KEPT * total and moved.max() >= total / 2:
                return (f"gives {int(moved.max()):,} of {total:,} {name} documents of majority vote to "
                        f"{category_names[int(moved.argmax())]} (keeps {kept:,})")
    categorised = theirs != NONE_LABEL
    called_none = int((ours[categorised] == NONE_LABEL).sum())
    if called_none > MAX_NONE * categorised.sum():
        return f"calls 'none' {called_none:,} of {int(categorised.sum()):,} documents majority vote gives a category"
    return None


def best_of_family(trials: list[Trial], family: str) -> Trial | None:
    """The chosen trial if it is of ``family``, else the family's best-scoring fitted trial."""
    fitted = [t for t in trials if t.model is not None and t.candidate.model == family]
    if not fitted:
        return None
    chosen = [t for t in fitted if t.chosen]
    if chosen:
        return chosen[0]
    return max(fitted, key=lambda t: -1.0 if t.dev_macro_f1 is None else t.dev_macro_f1)
