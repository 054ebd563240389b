r"""Label models: combine the LFs' votes into one probabilistic label per document.

Every model implements :class:`LabelModel`, as Snorkel's labelers implement ``BaseLabeler``:
``fit(L, C)`` then ``predict_proba(L, C)``, and the shared :meth:`LabelModel.predict`.

Inputs: the vote matrix ``L`` (n documents x m LFs, int8, a category id 0..K-1 or
``NONE_LABEL`` = abstain) and the confidence matrix ``C`` (n x m, float, the vote's
probability of its own label, NaN = none given). Output of ``predict_proba``: ``P``
(n x K float64, rows sum to 1).

Models
------
:class:`MajorityVote`
    :math:`P_{ik} = n_{ik} / \sum_k n_{ik}`, where :math:`n_{ik}` counts the LFs voting k
    on document i: one numpy bincount over the int8 matrix, a fraction of a second for
    1M x 10, where Snorkel's ``MajorityLabelVoter`` loops over the rows in Python.
:class:`SnorkelModel`
    Snorkel 0.10's ``LabelModel`` (Ratner et al., 2019), fitted with ``progress_bar=False``
    and a fixed seed. It learns :math:`\mu_j[l, k] = P(\lambda_j = l \mid y = k)` from
    the LFs' agreement statistics and predicts
    :math:`P_{ik} \propto \pi_k \prod_{j: \lambda_{ij} \ne \text{abstain}} \mu_j[\lambda_{ij}, k]`.
    We evaluate that product with one table lookup per LF; it equals
    ``LabelModel.predict_proba`` (tested) without its dense n x mK float64 matrix.
:class:`ConfidenceModel`
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

Hard labels and ties
--------------------
:meth:`LabelModel.predict` gives :math:`\arg\max_k P_{ik}`, and ``NONE_LABEL`` for a
document without a vote (no LF said anything, so no model may). Ties (several classes
within 1e-9 of the maximum; for the majority vote an exact tie of vote counts) are broken
by :class:`TieBreak`: ``prior`` takes the tied class that majority vote assigns most often
across the corpus (untied documents), then the lowest id; ``abstain`` gives no label.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np

from admedtagger.warehouse import NONE_LABEL, UserError

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
        """(n,) the argmax of each row of ``probs`` (n x K), ties settled by the policy."""
        k = probs.shape[1]
        tied = probs >= probs.max(axis=1, keepdims=True) - TIE_TOLERANCE
        rank = np.empty(k, np.int64)
        rank[self.preference] = np.arange(k, 0, -1)  # most preferred gets the highest rank
        labels = np.argmax(np.where(tied, rank, 0), axis=1)
        if self.policy == "abstain":
            labels[tied.sum(axis=1) > 1] = NONE_LABEL
        return labels


class LabelModel(ABC):
    """A model of the LFs' votes: ``fit`` learns from ``L`` (n x m) and ``C`` (n x m), then
    ``predict_proba`` gives P(y = k | the votes) for the rows of any matrix of the same m LFs.

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
        """(n, K) float64: P(y = k | row i's votes), rows summing to 1."""

    def predict(self, labels: np.ndarray, confidence: np.ndarray, ties: TieBreak,
                return_probs: bool = False) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        """(n,) hard labels (module doc), with the probabilities too if ``return_probs``."""
        probs = self.predict_proba(labels, confidence)
        hard = ties.argmax(probs)
        hard[~(labels != NONE_LABEL).any(axis=1)] = NONE_LABEL
        return (hard, probs) if return_probs else hard


class MajorityVote(LabelModel):
    """Vote fractions; nothing to fit."""

    def __init__(self, k: int) -> None:
        self.k = k

    def fit(self, labels: np.ndarray, confidence: np.ndarray) -> MajorityVote:
        return self

    def predict_proba(self, labels: np.ndarray, confidence: np.ndarray) -> np.ndarray:
        counts = vote_counts(labels, self.k).astype(np.float64)
        return counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)


class SnorkelModel(LabelModel):
    """Snorkel's LabelModel with class prior ``prior`` (K,); ``lf_accuracy`` is its
    ``get_weights()`` (the learned P(vote is right | the LF votes))."""

    def __init__(self, k: int, prior: np.ndarray, epochs: int, lr: float, seed: int) -> None:
        self.k, self.prior, self.epochs, self.lr, self.seed = k, prior, epochs, lr, seed

    def fit(self, labels: np.ndarray, confidence: np.ndarray) -> SnorkelModel:
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
        # log_mu[j, l - NONE_LABEL, k] = log P(lambda_j = l | y = k); row 0 (abstain) adds nothing.
        # A mu learned as <= 0 (Snorkel leaves mu unconstrained) vetoes its class instead of giving NaN.
        self.log_mu = np.zeros((m, k + 1, k))
        self.log_mu[:, 1:, :] = np.log(np.clip(mu, 1e-12, None)).reshape(m, k, k)
        return self

    def predict_proba(self, labels: np.ndarray, confidence: np.ndarray) -> np.ndarray:
        scores = np.tile(np.log(self.prior), (labels.shape[0], 1))
        for j in range(labels.shape[1]):
            scores += self.log_mu[j][labels[:, j].astype(np.int64) - NONE_LABEL]
        return _softmax(scores)


class ConfidenceModel(LabelModel):
    """Dawid-Skene with abstains as an outcome and the confidence as a feature (module doc),
    with class prior ``prior`` (K,), fitted by EM.

    Fitting uses at most ``max_fit_rows`` documents (a seeded random sample): the parameters
    are pinned down long before that, and EM then costs the same on any corpus.
    """

    def __init__(self, k: int, prior: np.ndarray, seed: int, max_iter: int = 100, tol: float = 1e-4,
                 smoothing: float = 1.0, max_fit_rows: int = 200_000) -> None:
        self.k, self.log_prior, self.seed = k, np.log(prior), seed
        self.max_iter, self.tol, self.smoothing, self.max_fit_rows = max_iter, tol, smoothing, max_fit_rows

    def fit(self, labels: np.ndarray, confidence: np.ndarray) -> ConfidenceModel:
        m, k = labels.shape[1], self.k
        if labels.shape[0] > self.max_fit_rows:
            sample = np.sort(np.random.default_rng(self.seed).choice(labels.shape[0], self.max_fit_rows, replace=False))
            labels, confidence = labels[sample], confidence[sample]
        x = _logit(confidence.astype(np.float64))  # NaN where no confidence or abstain
        self.slope, self.midpoint = np.zeros(m), np.zeros(m)
        self.log_mu = np.zeros((m, k + 1, k))
        q = MajorityVote(k).predict_proba(labels, confidence)
        for iteration in range(1, self.max_iter + 1):
            self._m_step(labels, x, q)
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
        return self

    def _m_step(self, labels: np.ndarray, x: np.ndarray, q: np.ndarray) -> None:
        """mu_j[l, y] from the posterior-weighted outcome counts (add-``smoothing``), and the
        two Gaussians of each LF's confidence logits for right and wrong votes."""
        k = self.k
        for j in range(labels.shape[1]):
            outcome = labels[:, j].astype(np.int64) - NONE_LABEL
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
        scores = np.tile(self.log_prior, (labels.shape[0], 1))
        for j in range(labels.shape[1]):
            scores += self.log_mu[j][labels[:, j].astype(np.int64) - NONE_LABEL]
            if self.slope[j]:
                rows = np.flatnonzero(~np.isnan(x[:, j]))
                scores[rows, labels[rows, j]] += self.slope[j] * (x[rows, j] - self.midpoint[j])
        return _softmax(scores)

    def predict_proba(self, labels: np.ndarray, confidence: np.ndarray) -> np.ndarray:
        return self._posterior(labels, _logit(confidence.astype(np.float64)))


def _softmax(scores: np.ndarray) -> np.ndarray:
    scores = scores - scores.max(axis=1, keepdims=True)
    np.exp(scores, out=scores)
    scores /= scores.sum(axis=1, keepdims=True)
    return scores


def _logit(c: np.ndarray) -> np.ndarray:
    c = np.clip(c, 1e-4, 1 - 1e-4)
    return np.log(c) - np.log1p(-c)
