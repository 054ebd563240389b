r"""Label models: combine the LFs' votes into one probabilistic label per document.

Every model implements :class:`LabelModel`, as Snorkel's labelers implement ``BaseLabeler``:
``fit(L, C)`` then ``predict_proba(L, C)``, and the shared :meth:`LabelModel.predict`.

Inputs: the vote matrix ``L`` (n documents x m LFs, int8, a category id 0..K-1 or
``NONE_LABEL`` = abstain) and the confidence matrix ``C`` (n x m, float, the vote's
probability of its own label, NaN = none given). Output of ``predict_proba``: ``P``
(n x (K+1) float64, rows sum to 1): columns 0..K-1 the categories, column K "fits no
category" (``rules.column_of``). "None" is an outcome like any category: most real corpora
are mostly texts that fit no category, and a document on which every LF abstains is
evidence of it, not a missing label.

Models
------
:class:`MajorityVote`
    :math:`P_{ik} = n_{ik} / \sum_k n_{ik}`, where :math:`n_{ik}` counts the LFs voting k
    on document i: one numpy bincount over the int8 matrix. A document without a vote is
    "none" with probability 1.
:class:`ConfidenceModel` (the default without gold)
    A naive-Bayes model of the votes over the K+1 classes (categories and none), with
    parameters tied so that it stays identifiable on real text. LF j votes a set
    :math:`V_j` of categories (those it ever voted: one for a keyword LF or a yes/no LLM
    view, all for a choice view). Its parameters: :math:`c^{in}_j`, the chance it votes
    when the class is in :math:`V_j`; :math:`c^{out}_j`, when it is not (another category
    or none: its false-alarm rate); and :math:`a_j`, the chance a vote is right given it
    votes on a class in :math:`V_j` (wrong votes spread evenly over :math:`V_j`). So

    .. math::
        P(\lambda_j = \text{abstain} \mid y) = 1 - c_j(y), \quad
        P(\lambda_j = l \mid y) = c_j(y) \cdot \begin{cases}
            a_j & l = y \in V_j \\ (1 - a_j)/(|V_j| - 1) & l \ne y \in V_j \\ 1/|V_j| & y \notin V_j
        \end{cases}

    with :math:`c_j(y) = c^{in}_j` for :math:`y \in V_j`, else :math:`c^{out}_j`: an abstain
    of a single-category LF says "probably not mine", so a document whose only votes are
    an LF's occasional false alarm can come out "none". A vote's confidence
    :math:`c` adds its logit :math:`x = \operatorname{logit}(c)`, Gaussian with a mean
    that depends on whether the vote is right, :math:`x \mid \text{right} \sim N(m^1_j, v_j)`,
    :math:`x \mid \text{wrong} \sim N(m^0_j, v_j)`, so with the LFs independent given y

    .. math::
        \log P(y \mid \lambda_i, x_i) = \log \pi_y + \sum_j \log P(\lambda_{ij} \mid y)
            + \sum_{j:\, \lambda_{ij} = y,\ c_{ij}\ \text{given}} \beta_j \Big(x_{ij} - \frac{m^1_j + m^0_j}{2}\Big) + \text{const},
        \qquad \beta_j = \frac{m^1_j - m^0_j}{v_j}.

    It is fitted on the documents with a vote, and a document on which every LF abstained
    is "none" (fitted on those too, EM let a category absorb them: on the demo 80 of 90
    texts that fit no category became Oncology). EM starts from the majority-vote posterior
    ("none" at 0); the M-step
    sets :math:`\pi` (K+1, add-one smoothed), :math:`c^{in}, c^{out}, a` from the
    posterior-weighted counts (add-one smoothed) and the two Gaussians from the confidence
    logits weighted by :math:`q_{i,\lambda_{ij}}` (the vote is right) and its complement;
    the E-step recomputes the posterior q. Three numbers per LF (where a free confusion
    table has (K+1)^2) are what keep EM from relabelling a category on real text: the
    free-table model below, fitted on English PubMed abstracts and chest X-ray reports,
    turned Cardiology into another class (F1 0.03).
:class:`DawidSkeneModel`
    Dawid-Skene (1979) over the K categories, on the documents with a vote: a full
    (K+1) x K table :math:`\mu_j[l, y] = P(\lambda_j = l \mid y)`, abstain being one more
    outcome l, plus the same confidence term, with a fixed class prior. It learns
    class-specific confusions, which wins when the LFs are many and clean (the demo) and
    can swap classes when they are few and noisy; a document without a vote is "none".
:class:`SnorkelModel`
    Snorkel 0.10's ``LabelModel`` (Ratner et al., 2019), fitted with ``progress_bar=False``
    and a fixed seed on the documents with a vote. It learns
    :math:`\mu_j[l, k] = P(\lambda_j = l \mid y = k)` from the LFs' agreement statistics and
    predicts :math:`P_{ik} \propto \pi_k \prod_{j: \lambda_{ij} \ne \text{abstain}} \mu_j[\lambda_{ij}, k]`
    with one table lookup per LF (equal to ``LabelModel.predict_proba``, tested, without
    its dense n x mK matrix); a document without a vote is "none".

Hard labels and ties
--------------------
:meth:`LabelModel.predict` gives the argmax column, column K as ``NONE_LABEL``. Ties
(several columns within 1e-9 of the maximum; for the majority vote an exact tie of vote
counts) are broken by :class:`TieBreak`: ``prior`` takes the tied category that majority
vote assigns most often across the corpus (untied documents), then the lowest id, and
"none" last; ``abstain`` gives "none".
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np

from admedtagger.warehouse import NONE_LABEL, UserError, label_of_column

from .vote_matrix import vote_counts

TIE_BREAKS = ("prior", "abstain")
TIE_TOLERANCE = 1e-9


class LabelModelError(UserError):
    pass


@dataclass(frozen=True, eq=False)
class TieBreak:
    """How :meth:`LabelModel.predict` settles equal top probabilities: ``policy`` in
    TIE_BREAKS, and for ``prior`` the categories from most to least preferred."""

    policy: str
    preference: np.ndarray  # (K,) category ids

    @classmethod
    def from_votes(cls, policy: str, labels: np.ndarray, k: int) -> TieBreak:
        """Prefer the categories majority vote assigns most often on the documents of ``labels``
        (n x m) where it has no tie, then the lower id."""
        counts = vote_counts(labels, k)
        top = counts.max(axis=1, keepdims=True)
        clear = ((counts == top).sum(axis=1) == 1) & (top[:, 0] > 0)
        frequency = np.bincount(counts[clear].argmax(axis=1), minlength=k)
        return cls(policy, np.lexsort((np.arange(k), -frequency)))

    def argmax(self, probs: np.ndarray) -> np.ndarray:
        """(n,) the label of each row of ``probs`` (n x (K+1)): the argmax column, column K
        as NONE_LABEL, ties settled by the policy."""
        k = probs.shape[1] - 1
        tied = probs >= probs.max(axis=1, keepdims=True) - TIE_TOLERANCE
        rank = np.zeros(k + 1, np.int64)  # "none" (column K) ranks lowest
        rank[self.preference] = np.arange(k, 0, -1)  # most preferred gets the highest rank
        labels = label_of_column(np.argmax(np.where(tied, rank + 1, 0), axis=1), k)
        if self.policy == "abstain":
            labels[tied.sum(axis=1) > 1] = NONE_LABEL
        return labels


class LabelModel(ABC):
    """A model of the LFs' votes: ``fit`` learns from ``L`` (n x m) and ``C`` (n x m), then
    ``predict_proba`` gives P(y = k | the votes), k in 0..K (K = none), for the rows of any
    matrix of the same m LFs. Both take every document voted on, all-abstain rows included.

    ``lf_accuracy`` and ``lf_slope`` ((m,) each) are what the model learned about each LF:
    P(its vote is right) and how much more a confident vote counts; None where the model
    learns no such thing.
    """

    lf_accuracy: np.ndarray | None = None
    lf_slope: np.ndarray | None = None

    @abstractmethod
    def fit(self, labels: np.ndarray, confidence: np.ndarray) -> LabelModel:
        """Learn the model's parameters from the votes; returns the model."""

    @abstractmethod
    def predict_proba(self, labels: np.ndarray, confidence: np.ndarray) -> np.ndarray:
        """(n, K+1) float64: P(y = k | row i's votes), column K "none", rows summing to 1."""

    def predict(self, labels: np.ndarray, confidence: np.ndarray, ties: TieBreak,
                return_probs: bool = False) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        """(n,) hard labels (module doc), with the probabilities too if ``return_probs``."""
        probs = self.predict_proba(labels, confidence)
        hard = ties.argmax(probs)
        return (hard, probs) if return_probs else hard


class _VotedModel(LabelModel):
    """A model fitted and applied on the documents with at least one vote; a document on
    which every LF abstained is "none" with probability 1. Subclasses implement ``_fit``
    and ``_predict_voted`` on those rows; the latter returns (n_voted, K) probabilities for
    a model of the categories only, or (n_voted, K+1) for one that has "none" as a class."""

    k: int

    def fit(self, labels: np.ndarray, confidence: np.ndarray) -> LabelModel:
        voted = (labels != NONE_LABEL).any(axis=1)
        self._fit(labels[voted], confidence[voted])
        return self

    def predict_proba(self, labels: np.ndarray, confidence: np.ndarray) -> np.ndarray:
        voted = (labels != NONE_LABEL).any(axis=1)
        probs = np.zeros((len(labels), self.k + 1))
        probs[~voted, self.k] = 1.0
        if voted.any():
            found = self._predict_voted(labels[voted], confidence[voted])
            probs[np.ix_(voted, np.arange(found.shape[1]))] = found
        return probs

    @abstractmethod
    def _fit(self, labels: np.ndarray, confidence: np.ndarray) -> None: ...

    @abstractmethod
    def _predict_voted(self, labels: np.ndarray, confidence: np.ndarray) -> np.ndarray: ...


class MajorityVote(_VotedModel):
    """Vote fractions; nothing to fit."""

    def __init__(self, k: int) -> None:
        self.k = k

    def _fit(self, labels: np.ndarray, confidence: np.ndarray) -> None:
        pass

    def _predict_voted(self, labels: np.ndarray, confidence: np.ndarray) -> np.ndarray:
        counts = vote_counts(labels, self.k).astype(np.float64)
        return counts / counts.sum(axis=1, keepdims=True)


class SnorkelModel(_VotedModel):
    """Snorkel's LabelModel with class prior ``prior`` (K,); ``lf_accuracy`` is its
    ``get_weights()`` (the learned P(vote is right | the LF votes))."""

    def __init__(self, k: int, prior: np.ndarray, epochs: int, lr: float, seed: int) -> None:
        self.k, self.prior, self.epochs, self.lr, self.seed = k, prior, epochs, lr, seed

    def _fit(self, labels: np.ndarray, confidence: np.ndarray) -> None:
        import torch
        from snorkel.labeling.model import LabelModel as Snorkel

        if labels.shape[1] < 3:
            raise LabelModelError(f"Snorkel's LabelModel needs at least 3 LFs with votes, got {labels.shape[1]}")
        threads = torch.get_num_threads()
        # Each epoch is a handful of tiny matrix products: thread hand-offs cost more than they save.
        torch.set_num_threads(1)
        try:
            self.model = Snorkel(cardinality=self.k, verbose=False)
            self.model.fit(labels, class_balance=self.prior.tolist(), n_epochs=self.epochs, lr=self.lr,
                           seed=self.seed, progress_bar=False)
        except Exception as exc:  # Snorkel raises a bare Exception when the loss diverges
            if "NaN" not in str(exc):
                raise
            raise LabelModelError(
                f"Snorkel's LabelModel diverged (epochs={self.epochs}, lr={self.lr}): try a smaller --lr") from exc
        finally:
            torch.set_num_threads(threads)
        self.lf_accuracy = self.model.get_weights()
        mu = self.model.mu.detach().cpu().numpy().astype(np.float64)
        m, k = labels.shape[1], self.k
        # log_table[j, l - NONE_LABEL, k] = log P(lambda_j = l | y = k); row 0 (abstain) adds nothing.
        # A mu learned as <= 0 (Snorkel leaves mu unconstrained) vetoes its class instead of giving NaN.
        self.log_table = np.zeros((m, k + 1, k))
        self.log_table[:, 1:, :] = np.log(np.clip(mu, 1e-12, None)).reshape(m, k, k)

    def _predict_voted(self, labels: np.ndarray, confidence: np.ndarray) -> np.ndarray:
        return _softmax(_table_scores(np.log(self.prior), self.log_table, labels))


class _EM:
    """What the two EM models share: the confidence term, the iteration and the posterior
    from ``log_prior`` and ``log_table`` (:func:`_table_scores`), which the model's own
    ``_m_step`` sets.

    Fitting uses at most ``max_fit_rows`` documents (a seeded random sample): the parameters
    are pinned down long before that, and EM then costs the same on any corpus.
    """

    seed: int
    max_iter: int = 100
    tol: float = 1e-4
    smoothing: float = 1.0
    max_fit_rows: int = 200_000

    def _run_em(self, labels: np.ndarray, confidence: np.ndarray, q: np.ndarray) -> None:
        if labels.shape[0] > self.max_fit_rows:
            sample = np.sort(np.random.default_rng(self.seed).choice(labels.shape[0], self.max_fit_rows, replace=False))
            labels, confidence, q = labels[sample], confidence[sample], q[sample]
        m = labels.shape[1]
        x = _logit(confidence.astype(np.float64))  # NaN where no confidence or abstain
        self.slope, self.midpoint = np.zeros(m), np.zeros(m)
        for iteration in range(1, self.max_iter + 1):
            self._m_step(labels, q)
            self._fit_confidence(labels, x, q)
            updated = self._posterior(labels, x)
            change = np.abs(updated - q).max()
            q = updated
            if change < self.tol:
                break
        self.iterations = iteration
        voted = labels != NONE_LABEL
        right = np.where(voted, np.take_along_axis(q, np.clip(labels, 0, None).astype(np.int64), axis=1), 0.0)
        with np.errstate(invalid="ignore"):  # an LF without votes gets NaN: nothing was learned
            self.lf_accuracy = right.sum(axis=0) / voted.sum(axis=0)
        self.lf_slope = self.slope.copy()

    def _fit_confidence(self, labels: np.ndarray, x: np.ndarray, q: np.ndarray) -> None:
        """The two Gaussians of each LF's confidence logits, for right and wrong votes."""
        for j in range(labels.shape[1]):
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

    def _predict_voted(self, labels: np.ndarray, confidence: np.ndarray) -> np.ndarray:
        return self._posterior(labels, _logit(confidence.astype(np.float64)))

    def _posterior(self, labels: np.ndarray, x: np.ndarray) -> np.ndarray:
        scores = _table_scores(self.log_prior, self.log_table, labels)
        for j in range(labels.shape[1]):
            if self.slope[j]:
                rows = np.flatnonzero(~np.isnan(x[:, j]))
                scores[rows, labels[rows, j]] += self.slope[j] * (x[rows, j] - self.midpoint[j])
        return _softmax(scores)


class ConfidenceModel(_EM, _VotedModel):
    """The K+1-class model with tied LF parameters and the confidence as a feature (module
    doc), fitted by EM on the documents with a vote. ``lf_accuracy``: the posterior share of
    each LF's votes that are right; ``lf_slope``: beta_j."""

    def __init__(self, k: int, seed: int, max_iter: int = 100) -> None:
        self.k, self.seed, self.max_iter = k, seed, max_iter

    def _fit(self, labels: np.ndarray, confidence: np.ndarray) -> None:
        k = self.k
        voted = labels != NONE_LABEL
        # V_j: the categories LF j ever voted (a boolean row over the K+1 columns; never "none").
        self.vote_set = np.zeros((labels.shape[1], k + 1), bool)
        for j in range(labels.shape[1]):
            self.vote_set[j, np.unique(labels[voted[:, j], j])] = True
        start = np.zeros((len(labels), k + 1))
        start[:, :k] = MajorityVote(k)._predict_voted(labels, confidence)
        self._run_em(labels, confidence, start)

    def _m_step(self, labels: np.ndarray, q: np.ndarray) -> None:
        """log pi and the (m, K+1 outcomes, K+1 classes) table log P(lambda_j = l | y) from the
        posterior-weighted counts: outcome row 0 is the abstain, row l + 1 category l."""
        k, s = self.k, self.smoothing
        pi = q.sum(axis=0) + s
        self.log_prior = np.log(pi / pi.sum())
        self.log_table = np.empty((labels.shape[1], k + 1, k + 1))
        for j, in_set in enumerate(self.vote_set):
            votes = labels[:, j] != NONE_LABEL
            mass_in, mass_out = q[:, in_set].sum(), q[:, ~in_set].sum()
            voted_in, voted_out = q[votes][:, in_set].sum(), q[votes][:, ~in_set].sum()
            cover_in = (voted_in + s) / (mass_in + 2 * s)
            cover_out = (voted_out + s) / (mass_out + 2 * s)
            size = int(in_set.sum())
            table = np.zeros((k + 1, k + 1))
            if not size:  # an LF that never voted: its abstain says nothing
                self.log_table[j] = np.log(np.clip(table + (np.arange(k + 1) == 0)[:, None], 1e-12, None))
                continue
            table[0] = np.where(in_set, 1 - cover_in, 1 - cover_out)
            table[1:, ~in_set] = np.where(in_set[:k], cover_out / size, 0.0)[:, None]
            if size == 1:
                table[1:, in_set] = in_set[:k, None] * cover_in
            else:
                right = q[np.flatnonzero(votes), labels[votes, j]].sum()
                accuracy = (right + s) / (voted_in + 2 * s)
                members = np.flatnonzero(in_set)
                table[np.ix_(members + 1, members)] = cover_in * (1 - accuracy) / (size - 1)
                table[members + 1, members] = cover_in * accuracy
            self.log_table[j] = np.log(np.clip(table, 1e-12, None))



class DawidSkeneModel(_EM, _VotedModel):
    """Dawid-Skene over the K categories with abstains as an outcome and the confidence as a
    feature (module doc), class prior ``prior`` (K,), fitted by EM on the voted documents."""

    def __init__(self, k: int, prior: np.ndarray, seed: int, max_iter: int = 100) -> None:
        self.k, self.log_prior, self.seed, self.max_iter = k, np.log(prior), seed, max_iter

    def _fit(self, labels: np.ndarray, confidence: np.ndarray) -> None:
        self.log_table = np.zeros((labels.shape[1], self.k + 1, self.k))
        self._run_em(labels, confidence, MajorityVote(self.k)._predict_voted(labels, confidence))

    def _m_step(self, labels: np.ndarray, q: np.ndarray) -> None:
        """mu_j[l, y] from the posterior-weighted outcome counts (add-``smoothing``)."""
        k = self.k
        for j in range(labels.shape[1]):
            outcome = labels[:, j].astype(np.int64) - NONE_LABEL
            table = np.bincount((outcome[:, None] * k + np.arange(k)).ravel(), q.ravel(), (k + 1) * k).reshape(k + 1, k)
            table += self.smoothing
            self.log_table[j] = np.log(table / table.sum(axis=0))


def _table_scores(log_prior: np.ndarray, log_table: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """(n, C) unnormalised log posterior of C classes under independent LFs: the log prior
    (C,) plus, per LF j, ``log_table[j, l - NONE_LABEL, :]`` (log P(lambda_j = l | y), row 0
    the abstain) at each document's vote l: one table lookup per LF."""
    scores = np.tile(log_prior, (labels.shape[0], 1))
    for j in range(labels.shape[1]):
        scores += log_table[j][labels[:, j].astype(np.int64) - NONE_LABEL]
    return scores


def _softmax(scores: np.ndarray) -> np.ndarray:
    scores = scores - scores.max(axis=1, keepdims=True)
    np.exp(scores, out=scores)
    scores /= scores.sum(axis=1, keepdims=True)
    return scores


def _logit(c: np.ndarray) -> np.ndarray:
    c = np.clip(c, 1e-4, 1 - 1e-4)
    return np.log(c) - np.log1p(-c)
