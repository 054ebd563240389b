r"""Label models: combine the LFs' votes into one probabilistic label per document.

Input: the vote matrix ``L`` (n documents x m LFs, category id 0..K-1 or -1 = abstain) and
the confidence matrix ``C`` (the vote's probability of its own label, NaN = none given),
restricted to documents with at least one vote. Output: ``P`` (n x K, rows sum to 1).

Models
------
``majority``
    :math:`P_{ik} = n_{ik} / \sum_k n_{ik}`, where :math:`n_{ik}` counts the LFs voting k
    on document i: one numpy bincount over the int8 matrix, a fraction of a second for
    1M x 10, where Snorkel's ``MajorityLabelVoter`` loops over the rows in Python.
``snorkel``
    Snorkel 0.10's ``LabelModel`` (Ratner et al., 2019), fitted with ``progress_bar=False``
    and a fixed seed. It learns :math:`\mu_j[l, k] = P(\lambda_j = l \mid y = k)` from
    the LFs' agreement statistics and predicts
    :math:`P_{ik} \propto \pi_k \prod_{j: \lambda_{ij} \ne -1} \mu_j[\lambda_{ij}, k]`.
    We evaluate that product with one table lookup per LF (:meth:`SnorkelModel.proba`); it
    equals ``LabelModel.predict_proba`` (tested) without its dense n x mK float64 matrix.
``confidence``
    Dawid-Skene (1979) with the abstain as one more outcome, and each vote's confidence as
    an observed feature. For LF j and true class y,

    .. math::
        P(\lambda_j = l \mid y) = \mu_j[l, y], \qquad l \in \{\text{abstain}, 0, \dots, K-1\},

    a full (K+1) x K table: an LF that fires for one category (a keyword LF, a yes/no LLM
    view), whose abstain says "probably not mine", is modelled, and so are class-specific
    confusions. A vote that carries a confidence c adds its logit :math:`x = \operatorname{logit}(c)`,
    Gaussian with a mean that depends on whether the vote is right:
    :math:`x \mid \text{right} \sim N(m^1_j, v_j)`, :math:`x \mid \text{wrong} \sim N(m^0_j, v_j)`.
    With the LFs independent given y, the posterior is

    .. math::
        \log P(y \mid \lambda_i, x_i) = \log \pi_y + \sum_j \log \mu_j[\lambda_{ij}, y]
            + \sum_{j:\, \lambda_{ij} = y,\ c_{ij}\ \text{given}} \beta_j \Big(x_{ij} - \frac{m^1_j + m^0_j}{2}\Big) + \text{const},
        \qquad \beta_j = \frac{m^1_j - m^0_j}{v_j},

    the Gaussian log-likelihood ratio of "right" against "wrong" (for every class but the
    voted one the vote is wrong, which adds the same constant). EM starts from the
    majority-vote posterior q; the M-step sets :math:`\mu_j` from the q-weighted outcome
    counts (add-one smoothing) and :math:`m^1_j, m^0_j, v_j` from the confidence logits
    weighted by :math:`t_{ij} = q_{i, \lambda_{ij}}` (the probability that the vote is
    right) and :math:`1 - t_{ij}`; the E-step recomputes q. :math:`\beta_j > 0` means LF j's
    confident votes are right more often; without confidences this is plain Dawid-Skene.
    It helps when confidences say something about correctness (an LLM's label
    probability, a keyword LF's match strength), and when abstains do (single-category
    LFs). It cannot help when confidences are noise (:math:`\beta \approx 0`; it is then about
    as good as Snorkel), and like Snorkel it assumes the LFs independent given the class:
    two copies of one LF count twice.

Class prior :math:`\pi` (Snorkel's ``class_balance`` and the confidence model's
:math:`\pi`): ``uniform``; ``majority`` (the frequencies of the majority-vote labels); or
``dev`` (the frequencies of the dev gold labels). Counts get add-one smoothing so no
class has prior 0.

Hard labels and ties
--------------------
The label is :math:`\arg\max_k P_{ik}`. Ties (several classes within 1e-9 of the maximum;
for the majority vote an exact tie of vote counts) are broken by ``tie_break``:
``prior`` (default) takes the tied class that majority vote assigns most often across
the corpus (untied documents), then the lowest id; ``abstain`` gives no label.

Choosing a model (``auto`` and the settings grid)
-------------------------------------------------
With a dev gold split, every candidate (each model of the requested family, across the
``epochs`` x ``lr`` x ``prior`` grid) is fitted on all documents and scored by macro-F1 on
the dev gold documents (no vote = predicted "no category"); the best wins, ties going to
the simpler model (majority, then confidence, then snorkel) and the earlier setting. The
test split plays no part in the choice (it is only scored afterwards). Without dev gold,
``auto`` means majority vote, since Snorkel's LabelModel does not reliably beat it
(measured on this project's data) and nothing else can be checked; a named family uses
the first value of each setting.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, replace
from typing import Callable

import duckdb
import numpy as np
import pyarrow as pa

from admedtagger.warehouse import UserError, categories, record_run
from admedtagger.warehouse.evaluation import score, store_scores

from .analysis import analysis_table, store_analysis
from .vote_matrix import VoteMatrix, gold_rows, load_vote_matrix, select_lfs, vote_counts

MODELS = ("majority", "confidence", "snorkel")
PRIORS = ("uniform", "majority", "dev")
TIE_BREAKS = ("prior", "abstain")
TIE_TOLERANCE = 1e-9


class LabelModelError(UserError):
    pass


# --- hard labels and priors -------------------------------------------------------------


def tie_preference(counts: np.ndarray) -> np.ndarray:
    """Categories from most to least preferred in a tie: by how often majority vote assigns
    them on documents without a tie, then by id."""
    top = counts.max(axis=1, keepdims=True)
    winners = counts == top
    clear = (winners.sum(axis=1) == 1) & (top[:, 0] > 0)
    frequency = np.bincount(counts[clear].argmax(axis=1), minlength=counts.shape[1])
    return np.lexsort((np.arange(counts.shape[1]), -frequency))


def hard_labels(probs: np.ndarray, tie_break: str, preference: np.ndarray) -> np.ndarray:
    """argmax of each row of ``probs``, ties broken by ``tie_break`` (see the module doc)."""
    k = probs.shape[1]
    tied = probs >= probs.max(axis=1, keepdims=True) - TIE_TOLERANCE
    rank = np.empty(k, np.int64)
    rank[preference] = np.arange(k, 0, -1)  # most preferred gets the highest rank
    labels = np.argmax(np.where(tied, rank, 0), axis=1)
    if tie_break == "abstain":
        labels[tied.sum(axis=1) > 1] = -1
    return labels


def class_prior(kind: str, k: int, majority_labels: np.ndarray, dev_labels: np.ndarray | None) -> np.ndarray:
    """The class prior pi for ``kind`` in PRIORS, add-one smoothed (see the module doc)."""
    if kind == "uniform":
        return np.full(k, 1.0 / k)
    if kind == "majority":
        source = majority_labels
    elif kind == "dev":
        if dev_labels is None:
            raise LabelModelError("prior 'dev' needs a dev gold split: import gold labels or review some documents")
        source = dev_labels
    else:
        raise LabelModelError(f"unknown prior {kind!r}; choose from {', '.join(PRIORS)}")
    counts = np.bincount(source[source >= 0], minlength=k)[:k] + 1.0
    return counts / counts.sum()


# --- the models -------------------------------------------------------------------------


class MajorityVote:
    """Vote fractions; nothing to fit."""

    lf_accuracy = None
    lf_slope = None

    def __init__(self, k: int) -> None:
        self.k = k

    def proba(self, labels: np.ndarray, confidence: np.ndarray | None = None) -> np.ndarray:
        counts = vote_counts(labels, self.k).astype(np.float64)
        total = counts.sum(axis=1, keepdims=True)
        return counts / np.maximum(total, 1)


class SnorkelModel:
    """Snorkel's LabelModel fitted on ``labels``; ``lf_accuracy`` is its ``get_weights()``
    (the learned P(vote is right | the LF votes))."""

    lf_slope = None

    def __init__(self, labels: np.ndarray, k: int, prior: np.ndarray, epochs: int, lr: float, seed: int) -> None:
        import torch
        from snorkel.labeling.model import LabelModel

        if labels.shape[1] < 3:
            raise LabelModelError(f"Snorkel's LabelModel needs at least 3 LFs with votes, got {labels.shape[1]}")
        self.k, self.prior = k, prior
        threads = torch.get_num_threads()
        # Each epoch is a handful of tiny matrix products: thread hand-offs cost more than they save.
        torch.set_num_threads(1)
        try:
            self.model = LabelModel(cardinality=k, verbose=False)
            self.model.fit(labels, class_balance=prior.tolist(), n_epochs=epochs, lr=lr, seed=seed, progress_bar=False)
        except Exception as exc:  # Snorkel raises a bare Exception when the loss diverges
            if "NaN" not in str(exc):
                raise
            raise LabelModelError(f"Snorkel's LabelModel diverged (epochs={epochs}, lr={lr}): try a smaller --lr") from exc
        finally:
            torch.set_num_threads(threads)
        self.lf_accuracy = self.model.get_weights()
        mu = self.model.mu.detach().cpu().numpy().astype(np.float64)
        m = labels.shape[1]
        # log_mu[j, l + 1, k] = log P(lambda_j = l | y = k); row 0 (abstain) adds nothing.
        # A mu learned as <= 0 (Snorkel leaves mu unconstrained) vetoes its class instead of giving NaN.
        self.log_mu = np.zeros((m, k + 1, k))
        self.log_mu[:, 1:, :] = np.log(np.clip(mu, 1e-12, None)).reshape(m, k, k)

    def proba(self, labels: np.ndarray, confidence: np.ndarray | None = None) -> np.ndarray:
        scores = np.tile(np.log(self.prior), (labels.shape[0], 1))
        for j in range(labels.shape[1]):
            scores += self.log_mu[j][labels[:, j].astype(np.int64) + 1]
        return _softmax(scores)


class ConfidenceModel:
    """Dawid-Skene with abstains as an outcome and the confidence as a feature (module doc), by EM.

    Fitting uses at most ``max_fit_rows`` documents (a seeded random sample): the parameters
    are pinned down long before that, and EM then costs the same on any corpus.
    """

    def __init__(self, labels: np.ndarray, confidence: np.ndarray, k: int, prior: np.ndarray, seed: int,
                 max_iter: int = 100, tol: float = 1e-4, smoothing: float = 1.0, max_fit_rows: int = 200_000) -> None:
        self.k, self.log_prior, self.smoothing = k, np.log(prior), smoothing
        m = labels.shape[1]
        if labels.shape[0] > max_fit_rows:
            sample = np.sort(np.random.default_rng(seed).choice(labels.shape[0], max_fit_rows, replace=False))
            labels, confidence = labels[sample], confidence[sample]
        x = _logit(confidence.astype(np.float64))  # NaN where no confidence or abstain
        self.slope, self.midpoint = np.zeros(m), np.zeros(m)
        self.log_mu = np.zeros((m, k + 1, k))
        counts = vote_counts(labels, k).astype(np.float64)
        q = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
        for iteration in range(1, max_iter + 1):
            self._m_step(labels, x, q)
            updated = self._posterior(labels, x)
            change = np.abs(updated - q).max()
            q = updated
            if change < tol:
                break
        self.iterations = iteration
        voted = labels >= 0
        right = np.where(voted, np.take_along_axis(q, np.clip(labels, 0, None).astype(np.int64), axis=1), 0.0)
        with np.errstate(invalid="ignore"):  # an LF without votes gets NaN: nothing was learned
            self.lf_accuracy = right.sum(axis=0) / voted.sum(axis=0)
        self.lf_slope = self.slope.copy()

    def _m_step(self, labels: np.ndarray, x: np.ndarray, q: np.ndarray) -> None:
        """mu_j[l, y] from the posterior-weighted outcome counts (add-``smoothing``), and the
        two Gaussians of each LF's confidence logits for right and wrong votes."""
        n, m = labels.shape
        k = self.k
        for j in range(m):
            outcome = labels[:, j].astype(np.int64) + 1
            table = np.bincount((outcome[:, None] * k + np.arange(k)).ravel(), q.ravel(), (k + 1) * k).reshape(k + 1, k)
            table += self.smoothing
            self.log_mu[j] = np.log(table / table.sum(axis=0))
            given = ~np.isnan(x[:, j])
            if not given.any():
                continue
            xj = x[given, j]
            right = q[given, labels[given, j]]
            # One pseudo-observation at the LF's mean keeps both means defined for an LF that is
            # (almost) never wrong or never right.
            centre = xj.mean()
            mean_right = (right @ xj + centre) / (right.sum() + 1)
            mean_wrong = ((1 - right) @ xj + centre) / ((1 - right).sum() + 1)
            variance = (right @ (xj - mean_right) ** 2 + (1 - right) @ (xj - mean_wrong) ** 2) / len(xj)
            variance = max(variance, 1e-2)
            self.slope[j] = (mean_right - mean_wrong) / variance
            self.midpoint[j] = (mean_right + mean_wrong) / 2

    def _posterior(self, labels: np.ndarray, x: np.ndarray) -> np.ndarray:
        n, m = labels.shape
        scores = np.tile(self.log_prior, (n, 1))
        for j in range(m):
            scores += self.log_mu[j][labels[:, j].astype(np.int64) + 1]
            if self.slope[j]:
                rows = np.flatnonzero(~np.isnan(x[:, j]))
                scores[rows, labels[rows, j]] += self.slope[j] * (x[rows, j] - self.midpoint[j])
        return _softmax(scores)

    def proba(self, labels: np.ndarray, confidence: np.ndarray) -> np.ndarray:
        return self._posterior(labels, _logit(confidence.astype(np.float64)))


def _softmax(scores: np.ndarray) -> np.ndarray:
    scores = scores - scores.max(axis=1, keepdims=True)
    np.exp(scores, out=scores)
    scores /= scores.sum(axis=1, keepdims=True)
    return scores


def _logit(c: np.ndarray) -> np.ndarray:
    c = np.clip(c, 1e-4, 1 - 1e-4)
    return np.log(c) - np.log1p(-c)


# --- candidates and selection -----------------------------------------------------------


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


def fit(candidate: Candidate, labels: np.ndarray, confidence: np.ndarray, k: int, priors: dict[str, np.ndarray],
        seed: int):
    """Fit one candidate; the returned model has ``proba(labels, confidence)``, ``lf_accuracy``
    and ``lf_slope`` (None where the model learns no such thing)."""
    if candidate.model == "majority":
        return MajorityVote(k)
    if candidate.model == "confidence":
        return ConfidenceModel(labels, confidence, k, priors[candidate.prior], seed)
    return SnorkelModel(labels, k, priors[candidate.prior], candidate.epochs, candidate.lr, seed)


@dataclass
class Trial:
    """A fitted candidate and its dev score (None without dev gold)."""

    candidate: Candidate
    model: object | None
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


def choose(grid: list[Candidate], labels: np.ndarray, confidence: np.ndarray, k: int, priors: dict[str, np.ndarray],
           seed: int, tie_break: str, preference: np.ndarray, dev: tuple[np.ndarray, np.ndarray] | None,
           category_names: list[str], on_fit: Callable[[int, int, str], None] | None = None) -> list[Trial]:
    """Fit every candidate; with ``dev`` = (row or -1, gold label) score each by dev macro-F1
    and mark the best ``chosen`` (strictly better replaces, so earlier candidates win ties).

    A candidate that fails (Snorkel diverging) is reported with its error; if all fail the
    first error is raised.
    """
    trials: list[Trial] = []
    for number, candidate in enumerate(grid):
        if on_fit:
            on_fit(number, len(grid), candidate.label)
        started = time.perf_counter()
        try:
            model = fit(candidate, labels, confidence, k, priors, seed)
        except LabelModelError as exc:
            trials.append(Trial(candidate, None, time.perf_counter() - started, error=str(exc)))
            continue
        trial = Trial(candidate, model, time.perf_counter() - started)
        if dev is not None:
            rows, gold = dev
            predicted = np.full(len(rows), -1, np.int64)
            known = rows >= 0
            if known.any():
                probs = model.proba(labels[rows[known]], confidence[rows[known]])
                predicted[known] = hard_labels(probs, tie_break, preference)
            trial.dev_scores = score(gold, predicted, category_names)
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


# --- a label-model run: votes in, weak labels out ---------------------------------------


@dataclass
class LabelModelResult:
    """What a run did: ``test_scores`` holds (subject, name, :func:`score` rows) on the gold
    test split for the chosen model ("label_model") then each LF ("lf"); empty without
    test gold."""

    run_id: str
    trials: list[Trial]
    metrics: dict
    test_scores: list[tuple[str, str, list[dict]]]

    @property
    def chosen(self) -> Trial:
        return next(t for t in self.trials if t.chosen)

    def candidates_table(self) -> pa.Table:
        """Every candidate tried: settings, dev macro-F1, fit time, chosen, error."""
        rows = [t.as_dict() for t in self.trials]
        return pa.table({
            "candidate": [r["candidate"] for r in rows],
            "dev macro-F1": [None if r["dev_macro_f1"] is None else round(r["dev_macro_f1"], 4) for r in rows],
            "fit s": [r["fit_s"] for r in rows],
            "chosen": ["*" if r["chosen"] else "" for r in rows],
            "error": [r["error"] or "" for r in rows],
        })

    def chosen_scores_table(self) -> pa.Table:
        """The chosen model's precision, recall, F1 and support per category on the test split."""
        rows = self.test_scores[0][2] if self.test_scores else []
        return pa.table({
            "category": [r["category"] for r in rows],
            **{m: [round(r[m], 4) for r in rows] for m in ("precision", "recall", "f1")},
            "support": [r["support"] for r in rows],
        })

    def f1_table(self) -> pa.Table:
        """Test-split F1 per category (columns) for the chosen model and each LF (rows)."""
        columns: dict[str, list] = {"subject": [], "name": []}
        for subject, name, rows in self.test_scores:
            columns["subject"].append(subject)
            columns["name"].append(name)
            for r in rows:
                columns.setdefault(r["category"], []).append(round(r["f1"], 4))
        return pa.table(columns)


def run_label_model(con: duckdb.DuckDBPyConnection, options: Options,
                    on_progress: Callable[[str, int, int], None] | None = None) -> LabelModelResult:
    """Fit the label model(s) on the current votes and write one ``weak_labels`` row per
    labelled document, the LF analysis, and the dev/test evaluations, as one recorded run.

    Documents with votes but no non-abstain vote, and documents without votes, get no
    weak label and are counted (``all_abstain``, ``unvoted``). Everything the run writes
    is committed in one transaction, so a failed run leaves no partial labels.
    """
    progress = on_progress or (lambda step, done, total: None)
    category_names = [c.name for c in categories(con)]
    k = len(category_names)
    if k < 2:
        raise LabelModelError("the taxonomy needs at least 2 categories")
    options.validate()
    lfs, skipped = select_lfs(con, list(options.lfs) if options.lfs else None)
    params = {**asdict(options), "lf_versions": {lf.name: lf.version for lf in lfs}}
    seconds: dict[str, float] = {}
    with record_run(con, "label-model", params, packages=("snorkel", "numpy", "torch")) as run:
        progress("load votes", 0, 1)
        started = time.perf_counter()
        matrix = load_vote_matrix(con, lfs, k, skipped)
        covered = (matrix.labels >= 0).any(axis=1)
        if not covered.any():
            raise LabelModelError(f"every selected LF abstained on every document ({len(matrix.rows):,} voted on)")
        labels, confidence = matrix.labels[covered], matrix.confidence[covered]
        active = (labels >= 0).any(axis=0)
        labels_a, confidence_a = labels[:, active], confidence[:, active]
        position = np.full(len(matrix.rows), -1, np.int64)
        position[covered] = np.arange(int(covered.sum()))
        dev, test = (_gold(con, matrix, position, split) for split in ("dev", "test"))
        seconds["load"] = time.perf_counter() - started

        started = time.perf_counter()
        counts = vote_counts(labels, k)
        preference = tie_preference(counts)
        majority = hard_labels(counts / counts.sum(axis=1, keepdims=True), "abstain", preference)
        priors = {p: class_prior(p, k, majority, None if dev is None else dev[1]) for p in PRIORS if p != "dev" or dev}
        grid = options.candidates(dev is not None, int(active.sum()))
        trials = choose(grid, labels_a, confidence_a, k, priors, options.seed, options.tie_break, preference, dev,
                        category_names, on_fit=lambda i, n, label: progress(f"fit {label}", i, n))
        chosen = next(t for t in trials if t.chosen)
        probs = chosen.model.proba(labels_a, confidence_a)
        predicted = hard_labels(probs, options.tie_break, preference)
        seconds["fit"] = time.perf_counter() - started

        progress("analyse", 0, 1)
        started = time.perf_counter()
        analysis = analysis_table(run.run_id, matrix, category_names, _matrix_gold(dev, covered), _learned(trials, active))
        test_scores = _test_scores(matrix, predicted, position, test, chosen, category_names)
        seconds["analyse"] = time.perf_counter() - started

        progress("write", 0, 1)
        started = time.perf_counter()
        labelled = predicted >= 0
        con.execute("BEGIN TRANSACTION")
        _write_weak_labels(con, run.run_id, matrix.rows[covered][labelled], predicted[labelled], probs[labelled],
                           chosen.candidate.model)
        store_analysis(con, analysis)
        for trial in trials:
            if trial.dev_scores is not None:
                store_scores(con, run.run_id, "dev", "label_model", trial.candidate.label, trial.dev_scores)
        for subject, name, rows in test_scores:
            store_scores(con, run.run_id, "test", subject, name, rows)
        con.execute("COMMIT")
        seconds["write"] = time.perf_counter() - started

        n_covered = int(covered.sum())
        run.metrics = {
            "chosen": chosen.candidate.label, "model": chosen.candidate.model, "settings": chosen.candidate.settings,
            "documents": matrix.n_documents, "voted": len(matrix.rows), "covered": n_covered,
            "labelled": int(labelled.sum()), "all_abstain": len(matrix.rows) - n_covered,
            "unvoted": matrix.n_unvoted, "tie_abstain": n_covered - int(labelled.sum()),
            "votes": matrix.n_votes, "orphan_votes": matrix.n_orphan_votes,
            "duplicate_votes": matrix.n_duplicate_votes, "skipped_lfs": matrix.skipped_lfs,
            "silent_lfs": [lf.name for lf, a in zip(matrix.lfs, active) if not a],
            "dev_gold": 0 if dev is None else len(dev[1]), "test_gold": 0 if test is None else len(test[1]),
            "candidates": [t.as_dict() for t in trials],
            "test_macro_f1": _macro(test_scores[0][2]) if test_scores else None,
            "seconds": {step: round(s, 3) for step, s in seconds.items()},
        }
        progress("done", 1, 1)
    return LabelModelResult(run.run_id, trials, run.metrics, test_scores)


def _gold(con: duckdb.DuckDBPyConnection, matrix: VoteMatrix, position: np.ndarray,
          split: str) -> tuple[np.ndarray, np.ndarray] | None:
    """(row among the covered documents or -1, gold label) for a split; None when it is empty."""
    rows, gold = gold_rows(con, matrix, split)
    if not len(gold):
        return None
    return np.where(rows >= 0, position[np.maximum(rows, 0)], -1), gold


def _matrix_gold(dev: tuple[np.ndarray, np.ndarray] | None, covered: np.ndarray):
    """Dev gold rows re-expressed as rows of the full vote matrix (for the LF analysis)."""
    if dev is None:
        return None
    covered_rows = np.flatnonzero(covered)
    return np.where(dev[0] >= 0, covered_rows[np.maximum(dev[0], 0)], -1), dev[1]


def _learned(trials: list[Trial], active: np.ndarray) -> dict[str, np.ndarray]:
    """The learned LF parameters of the best fitted Snorkel and confidence models, per LF
    of the matrix (NaN for an LF without votes, which no model saw)."""
    learned = {}
    for family, metrics in (("snorkel", (("snorkel_accuracy", "lf_accuracy"),)),
                            ("confidence", (("confidence_accuracy", "lf_accuracy"), ("confidence_slope", "lf_slope")))):
        trial = best_of_family(trials, family)
        if trial is None:
            continue
        for metric, attribute in metrics:
            values = np.full(len(active), np.nan)
            values[active] = getattr(trial.model, attribute)
            learned[metric] = values
    return learned


def _test_scores(matrix: VoteMatrix, predicted: np.ndarray, position: np.ndarray,
                 test: tuple[np.ndarray, np.ndarray] | None, chosen: Trial,
                 category_names: list[str]) -> list[tuple[str, str, list[dict]]]:
    if test is None:
        return []
    rows, gold = test
    known = rows >= 0
    weak = np.full(len(rows), -1, np.int64)
    weak[known] = predicted[rows[known]]
    scores = [("label_model", chosen.candidate.label, score(gold, weak, category_names))]
    matrix_rows = np.flatnonzero(position >= 0)[np.maximum(rows, 0)]
    for j, lf in enumerate(matrix.names):
        vote = np.where(known, matrix.labels[matrix_rows, j], -1)
        scores.append(("lf", lf, score(gold, vote, category_names)))
    return scores


def _macro(rows: list[dict]) -> float:
    return next(r["f1"] for r in rows if r["category"] == "macro")


def _write_weak_labels(con: duckdb.DuckDBPyConnection, run_id: str, rowids: np.ndarray, labels: np.ndarray,
                       probs: np.ndarray, model: str) -> None:
    """Bulk insert through Arrow; probs become DOUBLE[].

    The doc ids are fetched once in rowid order and picked by position, which is faster
    than joining the weak labels back to ``documents`` on rowid inside DuckDB.
    """
    k = probs.shape[1]
    documents = con.sql("SELECT rowid AS r, doc_id FROM documents ORDER BY rowid").to_arrow_table()
    position = np.searchsorted(documents["r"].to_numpy(), rowids)
    table = pa.table({
        "doc_id": documents["doc_id"].take(position),
        "label": labels.astype(np.int32),
        "probs": pa.ListArray.from_arrays(
            pa.array(np.arange(0, len(labels) * k + 1, k, dtype=np.int32)), pa.array(probs.ravel())
        ),
        "confidence": probs.max(axis=1) if len(labels) else np.zeros(0),
    })
    con.register("_weak_labels_rows", table)
    try:
        con.execute(
            "INSERT INTO weak_labels (run_id, doc_id, label, probs, confidence, model) "
            "SELECT ?, doc_id, label, probs, confidence, ? FROM _weak_labels_rows",
            [run_id, model],
        )
    finally:
        con.unregister("_weak_labels_rows")
