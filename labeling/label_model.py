"""A label-model run: the current votes in, one weak label per document out.

:func:`fit_label_model` is what ``admedtagger label-model`` runs, as one recorded run
(stage ``label-model``):

1. read the current votes of the selected LFs (:mod:`.vote_matrix`) and the dev and test
   gold splits;
2. fit the candidates of the settings grid on the documents with at least one vote and
   choose one on the dev split (:mod:`.selection`; the models are in :mod:`.models`);
3. write, in ONE transaction: a ``weak_labels`` row per labelled document (label, the K
   probabilities, the top probability as confidence, the model family), the LF analysis
   (``lf_analysis``), every candidate's dev scores and, on the test split, the chosen
   model's and each LF's scores (``evaluations``).

A document gets no weak label when no selected LF voted on it (``unvoted``), when every
LF abstained (``all_abstain``), or on a tie under ``tie_break = "abstain"``
(``tie_abstain``); the run's metrics count each.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, replace
from typing import Callable

import duckdb
import numpy as np
import pyarrow as pa

from admedtagger.evaluation.scoring import score, store_scores
from admedtagger.warehouse import NONE_LABEL, categories, record_run, registered, transaction

from .analysis import analysis_table, store_analysis
from .models import LabelModelError, MajorityVote, TieBreak
from .selection import PRIORS, Options, Trial, best_of_family, choose, class_prior
from .vote_matrix import GoldSplit, VoteMatrix, load_vote_matrix, read_gold, select_lfs


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


def fit_label_model(con: duckdb.DuckDBPyConnection, options: Options,
                    on_progress: Callable[[str, int, int], None] | None = None) -> LabelModelResult:
    """Fit the label model(s) on the current votes and write the weak labels, the LF
    analysis and the dev/test evaluations as one recorded run (module doc).

    ``on_progress(step, done, total)`` is called as the run moves through its steps.
    Raises :class:`LabelModelError` (nothing written) when there is nothing to fit.
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
        matrix, loaded = load_vote_matrix(con, lfs, k, skipped)
        votes = matrix.covered()  # what the models are fitted on and label
        if not len(votes.rows):
            raise LabelModelError(f"every selected LF abstained on every document ({len(matrix.rows):,} voted on)")
        dev, test = read_gold(con, "dev"), read_gold(con, "test")
        seconds["load"] = time.perf_counter() - started

        started = time.perf_counter()
        ties = TieBreak.from_votes(options.tie_break, votes.labels, k)
        # Majority vote's labels with ties left unlabelled: what the 'majority' prior counts.
        majority = MajorityVote(k).predict(votes.labels, votes.confidence, replace(ties, policy="abstain"))
        priors = {p: class_prior(p, k, majority, dev) for p in PRIORS if p != "dev" or dev is not None}
        grid = options.candidates(dev is not None, len(votes.lfs))
        trials = choose(grid, votes, priors, options.seed, ties, dev, category_names,
                        on_fit=lambda i, n, label: progress(f"fit {label}", i, n))
        chosen = next(t for t in trials if t.chosen)
        predicted, probs = chosen.model.predict(votes.labels, votes.confidence, ties, return_probs=True)
        seconds["fit"] = time.perf_counter() - started

        progress("analyse", 0, 1)
        started = time.perf_counter()
        analysis = analysis_table(run.run_id, matrix, category_names, dev, _learned(trials, votes, matrix))
        test_scores = _test_scores(matrix, votes, chosen, ties, test, category_names)
        seconds["analyse"] = time.perf_counter() - started

        progress("write", 0, 1)
        started = time.perf_counter()
        labelled = predicted != NONE_LABEL
        with transaction(con):
            _write_weak_labels(con, run.run_id, votes.rows[labelled], predicted[labelled], probs[labelled],
                               chosen.candidate.model)
            store_analysis(con, analysis)
            for trial in trials:
                if trial.dev_scores is not None:
                    store_scores(con, run.run_id, "dev", "label_model", trial.candidate.label, trial.dev_scores)
            for subject, name, rows in test_scores:
                store_scores(con, run.run_id, "test", subject, name, rows)
        seconds["write"] = time.perf_counter() - started

        n_voted, n_covered, n_labelled = len(matrix.rows), len(votes.rows), int(labelled.sum())
        fitted_on = set(votes.names)
        run.metrics = {
            "chosen": chosen.candidate.label, "model": chosen.candidate.model, "settings": chosen.candidate.settings,
            "documents": loaded.documents, "voted": n_voted, "covered": n_covered,
            "labelled": n_labelled, "all_abstain": n_voted - n_covered,
            "unvoted": loaded.documents - n_voted, "tie_abstain": n_covered - n_labelled,
            "votes": loaded.votes, "orphan_votes": loaded.orphan_votes,
            "duplicate_votes": loaded.duplicate_votes, "skipped_lfs": loaded.skipped_lfs,
            "silent_lfs": [name for name in matrix.names if name not in fitted_on],
            "dev_gold": 0 if dev is None else len(dev.labels), "test_gold": 0 if test is None else len(test.labels),
            "candidates": [t.as_dict() for t in trials],
            "test_macro_f1": _macro(test_scores[0][2]) if test_scores else None,
            "seconds": {step: round(s, 3) for step, s in seconds.items()},
        }
        progress("done", 1, 1)
    return LabelModelResult(run.run_id, trials, run.metrics, test_scores)


def _learned(trials: list[Trial], votes: VoteMatrix, matrix: VoteMatrix) -> dict[str, np.ndarray]:
    """The learned LF parameters of the best fitted Snorkel and confidence models (fitted on
    the LFs of ``votes``), per LF of ``matrix``: NaN for an LF without votes, which no model saw."""
    learned = {}
    for family, metrics in (("snorkel", (("snorkel_accuracy", "lf_accuracy"),)),
                            ("confidence", (("confidence_accuracy", "lf_accuracy"), ("confidence_slope", "lf_slope")))):
        trial = best_of_family(trials, family)
        if trial is None:
            continue
        for metric, attribute in metrics:
            by_name = dict(zip(votes.names, getattr(trial.model, attribute)))
            learned[metric] = np.array([by_name.get(name, np.nan) for name in matrix.names])
    return learned


def _test_scores(matrix: VoteMatrix, votes: VoteMatrix, chosen: Trial, ties: TieBreak, test: GoldSplit | None,
                 category_names: list[str]) -> list[tuple[str, str, list[dict]]]:
    """(subject, name, score rows) on the test split for the chosen model (fitted on the LFs
    of ``votes``) and for each LF of ``matrix``; empty without test gold."""
    if test is None:
        return []
    on_test = votes.for_documents(test.rowids)
    weak = chosen.model.predict(on_test.labels, on_test.confidence, ties)
    scores = [("label_model", chosen.candidate.label, score(test.labels, weak, category_names))]
    lf_votes = matrix.for_documents(test.rowids)
    for j, lf in enumerate(lf_votes.names):
        scores.append(("lf", lf, score(test.labels, lf_votes.labels[:, j], category_names)))
    return scores


def _macro(rows: list[dict]) -> float:
    return next(r["f1"] for r in rows if r["category"] == "macro")


def _write_weak_labels(con: duckdb.DuckDBPyConnection, run_id: str, rowids: np.ndarray, labels: np.ndarray,
                       probs: np.ndarray, model: str) -> None:
    """Bulk insert through Arrow: one row per document ``rowids[i]`` (documents.rowid) with
    ``labels[i]``, ``probs[i]`` (K,) as DOUBLE[] and its maximum as the confidence.

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
    with registered(con, "_weak_labels_rows", table):
        con.execute(
            "INSERT INTO weak_labels (run_id, doc_id, label, probs, confidence, model) "
            "SELECT ?, doc_id, label, probs, confidence, ? FROM _weak_labels_rows",
            [run_id, model],
        )
