r"""Choosing a label model: the settings grid, class priors, and ``auto``.

Candidates
----------
A :class:`Candidate` is one model family of :data:`MODELS` with one setting of the grid
:class:`Options` spans: ``epochs`` x ``lr`` x ``prior`` for Snorkel, ``prior`` for the
confidence model, nothing for majority vote.

Class prior
-----------
:math:`\pi` (Snorkel's ``class_balance`` and the confidence model's :math:`\pi`), one of
:data:`PRIORS`: ``uniform``; ``majority`` (the frequencies of the majority-vote labels);
or ``dev`` (the frequencies of the dev gold labels). Counts get add-one smoothing so no
class has prior 0.

Choice
------
With a dev gold split, every candidate (each model of the requested family, across the
grid) is fitted on all documents and scored by macro-F1 on the dev gold documents (no
vote = predicted "no category"); the best wins, ties going to the simpler model
(majority, then confidence, then snorkel, the order of :data:`MODELS`) and the earlier
setting. The test split plays no part in the choice (it is only scored afterwards).
Without dev gold, ``auto`` means majority vote, since Snorkel's LabelModel does not
reliably beat it (measured on this project's data) and nothing else can be checked; a
named family uses the first value of each setting.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Callable

import numpy as np

from admedtagger.evaluation.scoring import score

from .models import TIE_BREAKS, ConfidenceModel, LabelModel, LabelModelError, MajorityVote, SnorkelModel, TieBreak
from .vote_matrix import GoldSplit, VoteMatrix

MODELS = ("majority", "confidence", "snorkel")  # simplest first: the order ties go by
PRIORS = ("uniform", "majority", "dev")


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
            return ConfidenceModel(k, priors[self.prior], seed)
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
                grid += [Candidate("confidence", prior=p) for p in priors]
            elif n_lfs >= 3:
                grid += [Candidate("snorkel", p, e, r) for e in self.epochs for r in self.lr for p in priors]
        return grid if has_dev else grid[:1]


@dataclass
class Trial:
    """A fitted candidate and its dev score (None without dev gold)."""

    candidate: Candidate
    model: LabelModel | None
    fit_seconds: float
    dev_scores: list[dict] | None = None
    error: str | None = None
    chosen: bool = False

    @property
    def dev_macro_f1(self) -> float | None:
        return None if self.dev_scores is None else next(r["f1"] for r in self.dev_scores if r["category"] == "macro")

    def as_dict(self) -> dict:
        return {"candidate": self.candidate.label, "model": self.candidate.model, **self.candidate.settings,
                "dev_macro_f1": self.dev_macro_f1, "fit_s": round(self.fit_seconds, 3), "error": self.error,
                "chosen": self.chosen}


def choose(grid: list[Candidate], votes: VoteMatrix, priors: dict[str, np.ndarray], seed: int, ties: TieBreak,
           dev: GoldSplit | None, category_names: list[str],
           on_fit: Callable[[int, int, str], None] | None = None) -> list[Trial]:
    """Fit every candidate on ``votes``; with ``dev`` score each by dev macro-F1 and mark the
    best ``chosen`` (strictly better replaces, so earlier candidates win ties).

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
    best = fitted[0]
    for trial in fitted[1:]:
        if dev is not None and trial.dev_macro_f1 > best.dev_macro_f1:
            best = trial
    best.chosen = True
    if on_fit:
        on_fit(len(grid), len(grid), best.candidate.label)
    return trials


def best_of_family(trials: list[Trial], family: str) -> Trial | None:
    """The chosen trial if it is of ``family``, else the family's best-scoring fitted trial."""
    fitted = [t for t in trials if t.model is not None and t.candidate.model == family]
    if not fitted:
        return None
    chosen = [t for t in fitted if t.chosen]
    if chosen:
        return chosen[0]
    return max(fitted, key=lambda t: -1.0 if t.dev_macro_f1 is None else t.dev_macro_f1)
