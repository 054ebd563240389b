r"""``flag``: find suspect weak labels and write them, ranked worst first, to ``label_issues``.

Input: the weak labels of the latest ok ``label-model`` run, the documents' texts, the
current LF votes, and the effective review decisions (a reviewed document's label is the
reviewer's, not the weak one). Three signals, each with a quality score in [0, 1]
(low = the given label is likely wrong):

``cleanlab``
    Out-of-sample probabilities :math:`\hat p(k \mid x)` from K-fold cross-validation of
    a cheap text classifier (:mod:`.crossval`), then confident learning:
    ``cleanlab.filter.find_label_issues`` (``filter_by``, default ``prune_by_noise_rate``)
    decides which documents are issues, ``cleanlab.rank.get_label_quality_scores``
    (``rank_by``: ``self_confidence`` :math:`\hat p(g \mid x)` for given label g, or
    ``normalized_margin``) gives the quality. Suggested label: :math:`\arg\max_k \hat p(k \mid x)`.
``lf_conflict``
    The current LF votes split: at least ``conflict_min_votes`` non-abstaining votes and
    ``conflict`` :math:`= 1 - \max_k W_k / W \ge` ``conflict_threshold`` (confidence-weighted
    vote shares, see :mod:`.votes`). Quality: the share of vote weight on the given label.
    Suggested label: the LFs' weighted plurality.
``low_confidence``
    The label model's confidence in its label is below ``low_confidence``. Quality: that
    confidence. Suggested label: the classifier's argmax. Not applied to reviewed documents.

A flagged document's quality is the minimum over the signals that fired, its reason the
names of those signals joined by ``+``, its suggested label the one of the first signal
that fired in the order above. Ranks interleave the kinds of mistake: within each
(given label, suggested label) pair the lowest quality comes first (ties: more signals
first), and the queue takes the worst of every pair before the second-worst of any, so
early reviews teach every confusion (and give every category dev gold) at once.
Reviewed documents are used for fitting but not flagged, unless ``include_reviewed``.

The estimated share of wrong weak labels is cleanlab's calibrated confident joint
:math:`Q` (rows: given label, columns: true label, ``cleanlab.count.estimate_joint``):
:math:`1 - \operatorname{tr} Q` overall and :math:`1 - Q_{kk} / \sum_j Q_{kj}` per category.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, fields

import duckdb
import numpy as np
import pyarrow as pa

from admedtagger.warehouse import NONE_LABEL, NONE_NAME, last_ok_run, record_run, registered, transaction

from . import crossval
from .errors import CleaningError
from .votes import lf_conflicts

RANK_BY = ("self_confidence", "normalized_margin", "confidence_weighted_entropy")
FILTER_BY = ("prune_by_noise_rate", "prune_by_class", "both", "confident_learning", "predicted_neq_given",
             "low_normalized_margin", "low_self_confidence")
REASONS = ("cleanlab", "lf_conflict", "low_confidence")


@dataclass(frozen=True)
class FlagSettings:
    """The ``[flag]`` section of admedtagger.toml (all optional)."""

    folds: int = 5
    features: str = "auto"  # char | word | embeddings | auto: char up to fast_above documents, else word
    fast_above: int = 10_000
    alpha: float = 1e-4  # L2 penalty of the classifier
    rank_by: str = "self_confidence"
    filter_by: str = "prune_by_noise_rate"
    conflict_threshold: float = 0.4  # share of LF vote weight off the plurality label; 2-vs-1 of equal weight is 0.33
    conflict_min_votes: int = 2
    low_confidence: float = 0.5
    seed: int = 0
    jobs: int = 0  # worker processes for vectorising and fitting; 0 = every core

    @classmethod
    def from_config(cls, section: dict, **overrides) -> "FlagSettings":
        """Validate a config section (plus command-line overrides that are not None)."""
        known = {f.name: f for f in fields(cls)}
        values = {}
        for key, value in {**section, **{k: v for k, v in overrides.items() if v is not None}}.items():
            if key not in known:
                raise CleaningError(f"[flag] has no setting {key!r}; known: {', '.join(known)}")
            kind = type(known[key].default)
            if kind is float and isinstance(value, int) and not isinstance(value, bool):
                value = float(value)
            if not isinstance(value, kind) or isinstance(value, bool):
                wanted = {int: "a whole number", float: "a number", str: "a string"}[kind]
                raise CleaningError(f"[flag] {key} must be {wanted}, got {value!r}")
            values[key] = value
        settings = cls(**values)
        settings.validate()
        return settings

    def validate(self) -> None:
        checks = [
            (self.folds >= 2, "folds must be at least 2"),
            (self.features in (*crossval.FEATURES, "auto"), f"features must be one of {crossval.FEATURES + ('auto',)}"),
            (self.rank_by in RANK_BY, f"rank_by must be one of {RANK_BY}"),
            (self.filter_by in FILTER_BY, f"filter_by must be one of {FILTER_BY}"),
            (0 < self.conflict_threshold <= 1, "conflict_threshold must be in (0, 1]"),
            (self.conflict_min_votes >= 2, "conflict_min_votes must be at least 2"),
            (0 <= self.low_confidence <= 1, "low_confidence must be in [0, 1]"),
            (self.alpha > 0, "alpha must be positive"),
            (self.jobs >= 0, "jobs must be 0 (every core) or more"),
        ]
        for ok, message in checks:
            if not ok:
                raise CleaningError(f"[flag] {message}")

    def resolved_features(self, n_documents: int) -> str:
        if self.features != "auto":
            return self.features
        return "char" if n_documents <= self.fast_above else "word"


@dataclass
class FlagResult:
    run_id: str
    metrics: dict


def load_inputs(con: duckdb.DuckDBPyConnection, weak_run: str) -> pa.Table:
    """One row per weakly labelled document: doc_id, text, weak_label, weak_confidence, reviewed_label."""
    return con.sql(
        """
        SELECT w.doc_id, d.text, w.label AS weak_label,
               w.confidence AS weak_confidence,
               r.label AS reviewed_label
        FROM weak_labels w
        JOIN documents d ON d.doc_id = w.doc_id
        LEFT JOIN review_decisions r ON r.doc_id = w.doc_id
        WHERE w.run_id = $run
        ORDER BY d.rowid
        """,
        params={"run": weak_run},
    ).to_arrow_table()


def flag_labels(con: duckdb.DuckDBPyConnection, settings: FlagSettings = FlagSettings(),
                include_reviewed: bool = False, on_progress: crossval.Progress | None = None) -> FlagResult:
    """Flag suspect labels: run the three signals (module doc) on the weak labels of the
    latest ok ``label-model`` run, write ``label_issues`` and the ``flag`` run's metrics."""
    weak_run = last_ok_run(con, "label-model")
    if weak_run is None:
        raise CleaningError("no weak labels yet: run `admedtagger label-model` first")
    params = {**asdict(settings), "include_reviewed": include_reviewed, "weak_label_run": weak_run}
    with record_run(con, "flag", params, packages=("cleanlab", "scikit-learn")) as run:
        seconds: dict[str, float] = {}
        clock = time.perf_counter()
        inputs = load_inputs(con, weak_run)
        doc_ids = np.asarray(inputs["doc_id"].to_pylist(), dtype=object)
        weak = inputs["weak_label"].to_numpy(zero_copy_only=False).astype(np.int64)
        is_reviewed = inputs["reviewed_label"].is_valid().to_numpy(zero_copy_only=False)
        given = np.where(is_reviewed, inputs["reviewed_label"].fill_null(NONE_LABEL).to_numpy(), weak).astype(np.int64)
        # "None" is a label like the categories: a weak "none" can be wrong too (the text is a
        # report of some category no LF recognised), and the classifier learns what none looks like.
        texts = inputs["text"].to_pylist()
        seconds["load"] = time.perf_counter() - clock

        present = np.unique(given)
        _check_enough(len(texts), given, present, settings.folds)
        features = settings.resolved_features(len(texts))

        clock = time.perf_counter()
        X = crossval.vectorise(texts, features, jobs=settings.jobs, on_progress=on_progress, con=con)
        seconds["vectorise"] = time.perf_counter() - clock

        clock = time.perf_counter()
        y = np.searchsorted(present, given)
        probs = crossval.out_of_sample_probs(X, y, len(present), settings.folds, settings.seed, settings.alpha,
                                             settings.jobs, on_progress)
        seconds["cross_validation"] = time.perf_counter() - clock

        clock = time.perf_counter()
        issue, quality, share_wrong = _cleanlab(y, probs, settings)
        seconds["cleanlab"] = time.perf_counter() - clock

        clock = time.perf_counter()
        ids = doc_ids
        candidate = include_reviewed | ~is_reviewed
        conflict_fired, conflict_quality, conflict_label = _conflicts(con, ids, given, settings)
        confidence = inputs["weak_confidence"].to_numpy(zero_copy_only=False).astype(np.float64)
        low_fired = ~is_reviewed & (np.nan_to_num(confidence, nan=1.0) < settings.low_confidence)
        fired = np.stack([issue, conflict_fired, low_fired]) & candidate
        qualities = np.stack([quality, conflict_quality, np.nan_to_num(confidence, nan=1.0)])
        predicted = present[probs.argmax(axis=1)]
        suggested = np.where(~fired[0] & fired[1], conflict_label, predicted)
        seconds["signals"] = time.perf_counter() - clock

        clock = time.perf_counter()
        table = _ranked_flags(ids, given, suggested, fired, qualities)
        _write(con, run.run_id, table)
        seconds["write"] = time.perf_counter() - clock

        names = {NONE_LABEL: NONE_NAME, **dict(con.execute("SELECT label, name FROM categories").fetchall())}
        flagged_given = table["given_label"].to_numpy()
        run.metrics = {
            "weak_labels": len(doc_ids),
            "fitted": len(texts),
            "reviewed": int(is_reviewed.sum()),
            "candidates": int(candidate.sum()),
            "flags": table.num_rows,
            "flags_per_reason": {r: int(fired[i].sum()) for i, r in enumerate(REASONS)},
            "flags_per_category": {names.get(int(k), str(k)): int((flagged_given == k).sum()) for k in present},
            "estimated_wrong_share": float(share_wrong[0]),
            "estimated_wrong_labels": int(round(share_wrong[0] * len(texts))),
            "estimated_wrong_share_per_category": {
                names.get(int(k), str(k)): float(share_wrong[1][i]) for i, k in enumerate(present)
            },
            "cv_accuracy": float((probs.argmax(axis=1) == y).mean()),
            "features": features,
            "seconds": {k: round(v, 3) for k, v in seconds.items()},
        }
    return FlagResult(run.run_id, run.metrics)


def _check_enough(n: int, labels: np.ndarray, present: np.ndarray, folds: int) -> None:
    if len(present) < 2:
        raise CleaningError(
            f"flag needs weak labels of at least 2 categories; found {len(present)} among {n:,} documents")
    largest = int(np.bincount(np.searchsorted(present, labels)).max())
    if n < 2 * folds or largest < folds:
        raise CleaningError(
            f"too few weak labels for {folds}-fold cross-validation ({n:,} documents, largest category {largest}): "
            "label more documents or lower [flag] folds"
        )


def _cleanlab(y: np.ndarray, probs: np.ndarray, settings: FlagSettings):
    """(issue mask, quality scores, (estimated wrong share, per-class shares))."""
    from cleanlab.count import compute_confident_joint, estimate_joint
    from cleanlab.filter import find_label_issues
    from cleanlab.rank import get_label_quality_scores

    confident_joint = compute_confident_joint(y, probs)
    issue = find_label_issues(y, probs, filter_by=settings.filter_by, confident_joint=confident_joint, n_jobs=1)
    quality = get_label_quality_scores(y, probs, method=settings.rank_by)
    joint = estimate_joint(y, probs, confident_joint=confident_joint)
    row_totals = joint.sum(axis=1)
    per_class = 1 - np.divide(np.diag(joint), row_totals, out=np.ones_like(row_totals), where=row_totals > 0)
    return issue, quality, (1 - float(np.trace(joint)), per_class)


def _conflicts(con: duckdb.DuckDBPyConnection, ids: np.ndarray, given: np.ndarray, settings: FlagSettings):
    """(fired mask, quality = given label's vote share, LF plurality label), aligned with ``ids``."""
    import pandas as pd

    fired = np.zeros(len(ids), bool)
    quality = np.ones(len(ids))
    top = np.full(len(ids), NONE_LABEL, np.int64)
    stats = lf_conflicts(con, pa.table({"doc_id": pa.array(ids.tolist(), pa.string()), "label": given}))
    if stats.num_rows:
        at = pd.Index(ids).get_indexer(stats["doc_id"].to_pylist())
        n_votes = stats["n_votes"].to_numpy()
        conflict = stats["conflict"].to_numpy()
        fired[at] = (n_votes >= settings.conflict_min_votes) & (conflict >= settings.conflict_threshold - 1e-12)
        quality[at] = stats["given_share"].to_numpy()
        top[at] = stats["top_label"].to_numpy()
    return fired, quality, top


def _ranked_flags(ids, given, suggested, fired: np.ndarray, qualities: np.ndarray) -> pa.Table:
    """The flagged rows with quality (min over fired signals), reason and rank (module doc)."""
    flagged = fired.any(axis=0)
    quality = np.where(fired, qualities, np.inf).min(axis=0)[flagged]
    n_reasons = fired.sum(axis=0)[flagged]
    worst_first = np.lexsort((-n_reasons, quality))
    # Interleave the kinds of mistake (given -> suggested label pairs): the k-th worst of every
    # pair comes before the (k+1)-th of any, so the first reviews correct each kind of mistake
    # once, and dev gold (which the label-model choice and the example LFs learn from) covers
    # every category early, instead of fifty copies of the commonest confusion.
    pair = (given[flagged].astype(np.int64) + 1) * 1_000_003 + suggested[flagged].astype(np.int64) + 1
    place = np.empty(len(worst_first), np.int64)
    seen: dict[int, int] = {}
    for position in worst_first:
        place[position] = seen[pair[position]] = seen.get(pair[position], -1) + 1
    order = np.lexsort((np.argsort(worst_first), place))
    reasons = np.array(["+".join(r for r, on in zip(REASONS, column) if on) for column in fired[:, flagged].T],
                       dtype=object)
    return pa.table({
        "doc_id": pa.array(ids[flagged][order].tolist(), pa.string()),
        "given_label": pa.array(given[flagged][order], pa.int32()),
        "suggested_label": pa.array(suggested[flagged][order], pa.int32()),
        "quality": pa.array(quality[order], pa.float64()),
        "rank": pa.array(np.arange(1, int(flagged.sum()) + 1), pa.int32()),
        "reason": pa.array(reasons[order].tolist(), pa.string()),
    })


def _write(con: duckdb.DuckDBPyConnection, run_id: str, table: pa.Table) -> None:
    with registered(con, "_flag_rows", table), transaction(con):
        con.execute(
            "INSERT INTO label_issues (run_id, doc_id, given_label, suggested_label, quality, rank, reason) "
            "SELECT ?, doc_id, given_label, suggested_label, quality, rank, reason FROM _flag_rows",
            [run_id],
        )
