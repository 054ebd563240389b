"""A label-model run: the current votes in, one weak label per document out.

:func:`fit_label_model` is what ``admedtagger label-model`` runs, as one recorded run
(stage ``label-model``):

1. read the current votes of the selected LFs (:mod:`.vote_matrix`) and the dev and test
   gold splits;
2. fit the candidates of the settings grid on the documents voted on (every model calls a
   document on which every LF abstained "none") and choose one, on the dev split when
   there is one, else by the no-gold rule (:mod:`.selection`; the models are in
   :mod:`.models`);
3. apply the report rule (:func:`report_precedence`);
4. write, in ONE transaction: a ``weak_labels`` row per document voted on (label, the K+1
   probabilities with "none" last, the top probability as confidence, the model family),
   the LF analysis (``lf_analysis``), every candidate's dev scores and, on the test split,
   the chosen model's and each LF's scores (``evaluations``).

A weak label of ``NONE_LABEL`` is a real outcome: the model's most likely class is "fits
no category" (``none``), e.g. every LF abstained. A document no selected LF ran on gets no
weak label (``unvoted``).

Report rule
-----------
Some categories are document types (an imaging report is Radiology, a histopathology
result Pathology, whatever organ it describes); their keyword packs list report
structure (headers, template phrases) as a separate LF with ``role = "report"``
(``kw_radiology_report``). Topic LFs fire on such reports too (a chest X-ray report talks
about the heart), so a vote of a report LF decides: the document gets that category, and
its probabilities move towards it, :math:`p' = (1 - w) p + w e_c` with :math:`w` the
report vote's confidence. When two report LFs vote, the more confident wins (then the
lower label id). ``[label_model] report_precedence = false`` turns the rule off.
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
        votes = matrix.voting_lfs()  # what the models are fitted on and label
        if not votes.lfs:
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
        n_reports = report_precedence(votes, predicted, probs) if options.report_precedence else 0
        seconds["fit"] = time.perf_counter() - started

        progress("analyse", 0, 1)
        started = time.perf_counter()
        analysis = analysis_table(run.run_id, matrix, category_names, dev, _learned(trials, votes, matrix))
        test_scores = _test_scores(matrix, votes, predicted, chosen.candidate.label, test, category_names)
        seconds["analyse"] = time.perf_counter() - started

        progress("write", 0, 1)
        started = time.perf_counter()
        with transaction(con):
            _write_weak_labels(con, run.run_id, votes.rows, predicted, probs, chosen.candidate.model)
            store_analysis(con, analysis)
            for trial in trials:
                if trial.dev_scores is not None:
                    store_scores(con, run.run_id, "dev", "label_model", trial.candidate.label, trial.dev_scores)
            for subject, name, rows in test_scores:
                store_scores(con, run.run_id, "test", subject, name, rows)
        seconds["write"] = time.perf_counter() - started

        n_voted = len(matrix.rows)
        n_covered = int((votes.labels != NONE_LABEL).any(axis=1).sum())
        fitted_on = set(votes.names)
        run.metrics = {
            "chosen": chosen.candidate.label, "model": chosen.candidate.model, "settings": chosen.candidate.settings,
            "choice": _how_chosen(chosen), "documents": loaded.documents, "voted": n_voted, "covered": n_covered,
            "labelled": int((predicted != NONE_LABEL).sum()), "none": int((predicted == NONE_LABEL).sum()),
            "all_abstain": n_voted - n_covered, "unvoted": loaded.documents - n_voted, "report_rule": n_reports,
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


def report_precedence(votes: VoteMatrix, predicted: np.ndarray, probs: np.ndarray) -> int:
    """Apply the report rule (module doc) in place to ``predicted`` (n,) and ``probs``
    (n, K+1); returns how many documents a report LF voted on."""
    reports = [j for j, lf in enumerate(votes.lfs) if lf.role == "report"]
    best_weight, best_category = np.full(len(predicted), -1.0), np.zeros(len(predicted), np.int64)
    # In category order, and only a strictly more confident vote replaces: ties go to the lower id.
    for j in sorted(reports, key=lambda j: int(votes.labels[:, j].max())):
        weight = np.where(votes.labels[:, j] != NONE_LABEL, np.nan_to_num(votes.confidence[:, j], nan=1.0), -1.0)
        better = weight > best_weight
        best_weight[better], best_category[better] = weight[better], votes.labels[better, j]
    rows = np.flatnonzero(best_weight >= 0)
    category, weight = best_category[rows], best_weight[rows]
    probs[rows] *= (1 - weight)[:, None]
    probs[rows, category] += weight
    predicted[rows] = category
    return len(rows)


def _how_chosen(chosen: Trial) -> str:
    """One line: how the chosen model was chosen (the no-gold rule, dev gold, and why)."""
    return chosen.note or "the family's first setting"


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


def _test_scores(matrix: VoteMatrix, votes: VoteMatrix, predicted: np.ndarray, chosen_label: str, test: GoldSplit | None,
                 category_names: list[str]) -> list[tuple[str, str, list[dict]]]:
    """(subject, name, score rows) on the test split for the weak labels ``predicted`` (one
    per row of ``votes``; a test document without one counts as "none") and for each LF of
    ``matrix``; empty without test gold."""
    if test is None:
        return []
    index = votes.row_index(test.rowids)
    weak = np.where(index >= 0, predicted[np.maximum(index, 0)], NONE_LABEL)
    scores = [("label_model", chosen_label, score(test.labels, weak, category_names))]
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
