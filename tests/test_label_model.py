"""Label model and LF analysis on synthetic votes written into a real warehouse.

The synthetic LFs have a known accuracy (share of their votes equal to the true label),
coverage and, where it matters, confidence behaviour; errors are uniform over the other
categories. Votes, LFs, documents and gold go into the warehouse tables exactly as the
labelling stage and ingest write them.
"""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pyarrow as pa
import pytest
from typer.testing import CliRunner

from admedtagger.cli import app
from admedtagger.labeling.analysis import analyse_lfs, lf_statistics, summary_table
from admedtagger.labeling.label_model import fit_label_model
from admedtagger.labeling.models import MajorityVote, SnorkelModel, TieBreak
from admedtagger.labeling.selection import Options, doubts
from admedtagger.labeling.vote_matrix import LFInfo, VoteMatrix, VoteMatrixError, load_vote_matrix, select_lfs
from admedtagger.warehouse import NONE_LABEL, UserError, record_run, registered

K = 5
A = NONE_LABEL  # an abstain, short for the vote tables below


def synthetic_votes(rng, y, specs):
    """(labels, confidence) of LFs given as dicts: accuracy, coverage and confidence mode
    'none' (NaN), 'calibrated' (each vote is right with probability c, c ~ U(low, 1)) or
    'noise' (c ~ U(0, 1) independent of correctness, accuracy fixed)."""
    n = len(y)
    labels = np.full((n, len(specs)), NONE_LABEL, np.int64)
    confidence = np.full((n, len(specs)), np.nan)
    for j, spec in enumerate(specs):
        votes = rng.random(n) < spec["coverage"]
        mode = spec.get("confidence", "none")
        if mode == "calibrated":
            c = rng.uniform(spec["low"], 1.0, n)
            right = rng.random(n) < c
        else:
            c = rng.random(n)
            right = rng.random(n) < spec["accuracy"]
        wrong = (np.maximum(y, 0) + rng.integers(1, K, n)) % K
        labels[:, j] = np.where(votes, np.where(right & (y >= 0), y, wrong), NONE_LABEL)
        if mode != "none":
            confidence[:, j] = np.where(votes, c, np.nan)
    return labels, confidence


def add_documents(con, n, prefix="d"):
    ids = [f"{prefix}{i:06d}" for i in range(n)]
    with registered(con, "_docs", pa.table({"doc_id": ids})):
        con.execute("INSERT INTO documents (doc_id, text, text_hash) SELECT doc_id, 'text ' || doc_id, doc_id FROM _docs")
    return ids


def add_gold(con, ids, y):
    with registered(con, "_gold", pa.table({"doc_id": ids, "label": np.asarray(y, np.int32)})):
        con.execute("INSERT INTO gold_imports (doc_id, label, source) SELECT doc_id, label, 'synthetic' FROM _gold")


def add_votes(con, ids, labels, confidence, names=None, version="v1", kind="python"):
    """One recorded 'label' run writing every vote row, abstains included, like the runner."""
    names = names or [f"lf{j}" for j in range(labels.shape[1])]
    with record_run(con, "label", {"synthetic": True}) as run:
        for j, name in enumerate(names):
            if not con.execute("SELECT count(*) FROM lfs WHERE lf = ? AND version = ?", [name, version]).fetchall()[0][0]:
                con.execute("INSERT INTO lfs (lf, kind, version, spec) VALUES (?, ?, ?, '{}')", [name, kind, version])
            conf = confidence[:, j]
            rows = pa.table({
                "doc_id": ids, "label": labels[:, j].astype(np.int32),
                "confidence": pa.array(conf, mask=np.isnan(conf)),
            })
            with registered(con, "_votes", rows):
                con.execute("INSERT INTO votes (doc_id, lf, lf_version, label, confidence, run_id) SELECT doc_id, ?, ?, label, confidence, ? FROM _votes",
                            [name, version, run.run_id])
    return run.run_id


def empirical_accuracy(labels, y):
    return np.array([(labels[labels[:, j] >= 0, j] == y[labels[:, j] >= 0]).mean() for j in range(labels.shape[1])])


def learned(con, run_id, metric):
    rows = con.execute(
        "SELECT lf, value FROM lf_analysis WHERE run_id = ? AND metric = ? AND category IS NULL ORDER BY lf", [run_id, metric]
    ).fetchall()
    return np.array([v for _, v in rows])


def weak_label_accuracy(con, run_id):
    return con.execute(
        "SELECT f1 FROM evaluations WHERE run_id = ? AND split = 'test' AND subject = 'label_model' AND category = 'accuracy'",
        [run_id],
    ).fetchall()[0][0]


SPECS = [
    {"accuracy": 0.9, "coverage": 0.5}, {"accuracy": 0.8, "coverage": 0.6}, {"accuracy": 0.7, "coverage": 0.7},
    {"accuracy": 0.6, "coverage": 0.8}, {"accuracy": 0.75, "coverage": 0.4}, {"accuracy": 0.65, "coverage": 0.6},
]


@pytest.mark.parametrize("model, metric", [("snorkel", "snorkel_accuracy"), ("confidence", "confidence_accuracy")])
def test_recovers_lf_accuracies_within_005(con, model, metric):
    rng = np.random.default_rng(7)
    y = rng.integers(0, K, 20_000)
    labels, confidence = synthetic_votes(rng, y, SPECS)
    ids = add_documents(con, len(y))
    add_votes(con, ids, labels, confidence)
    result = fit_label_model(con, Options(model=model))  # no gold: the family's default settings
    recovered = learned(con, result.run_id, metric)
    truth = empirical_accuracy(labels, y)
    assert np.abs(recovered - truth).max() < 0.05, (recovered.round(3), truth.round(3))


def test_auto_is_at_least_majority_on_test(con):
    rng = np.random.default_rng(11)
    y = rng.choice(K, 6000, p=[0.4, 0.25, 0.15, 0.12, 0.08])
    labels, confidence = synthetic_votes(rng, y, SPECS)
    ids = add_documents(con, len(y))
    add_gold(con, ids, y)
    add_votes(con, ids, labels, confidence)
    auto = fit_label_model(con, Options(model="auto", epochs=(100, 500), lr=(0.01,)))
    majority = fit_label_model(con, Options(model="majority"))
    assert len(auto.trials) == 1 + 1 + 3 + 6  # majority, confidence, dawid_skene x 3 priors, snorkel x 2 epochs x 3 priors
    assert all(t.dev_macro_f1 is not None for t in auto.trials)
    # the no-gold choice (the confidence model), unless a rival is clearly better on dev
    default = next(t for t in auto.trials if t.candidate.model == "confidence")
    margin = 1 / np.sqrt(auto.metrics["dev_gold"])
    assert auto.chosen is default or auto.chosen.dev_macro_f1 > default.dev_macro_f1 + margin
    clearly_better = [t for t in auto.trials if t.dev_macro_f1 > default.dev_macro_f1 + margin]
    assert auto.chosen.dev_macro_f1 == max([t.dev_macro_f1 for t in clearly_better], default=default.dev_macro_f1)
    assert weak_label_accuracy(con, auto.run_id) >= weak_label_accuracy(con, majority.run_id) - 0.01
    # dev scores of every candidate are stored; the test split only for the chosen model and the LFs
    assert con.execute("SELECT count(DISTINCT name) FROM evaluations WHERE run_id = ? AND split = 'dev'",
                       [auto.run_id]).fetchall()[0][0] == len(auto.trials)
    assert con.execute("SELECT count(DISTINCT name) FROM evaluations WHERE run_id = ? AND split = 'test'",
                       [auto.run_id]).fetchall()[0][0] == 1 + len(SPECS)


def test_majority_ties_follow_the_corpus_prior_or_abstain():
    labels = np.array([
        [0, 0, A], [0, A, A], [1, 1, 0], [2, 2, A], [2, A, A], [2, 2, 2],  # clear: 2 three times, 0 twice, 1 once
        [1, 2, A],   # tie 1-2: 2 is assigned more often
        [0, 1, A],   # tie 0-1: 0 is assigned more often
        [3, 4, A],   # tie 3-4: neither is ever assigned, so the lower id
    ], np.int8)
    confidence = np.full(labels.shape, np.nan)
    majority = MajorityVote(K).fit(labels, confidence)
    assert np.allclose(majority.predict_proba(labels, confidence)[6], [0, 0.5, 0.5, 0, 0, 0])  # last: none
    ties = TieBreak.from_votes("prior", labels, K)
    assert list(ties.preference[:3]) == [2, 0, 1]
    assert list(majority.predict(labels, confidence, ties)) == [0, 0, 1, 2, 2, 2, 2, 0, 3]
    abstain = replace(ties, policy="abstain")
    assert list(majority.predict(labels, confidence, abstain)) == [0, 0, 1, 2, 2, 2] + [NONE_LABEL] * 3


def test_tie_abstain_documents_get_none_and_are_counted(con):
    labels = np.array([[0, 0, 1], [1, 0, A], [2, 2, 2], [3, 4, A]])
    ids = add_documents(con, 4)
    add_votes(con, ids, labels, np.full(labels.shape, np.nan))
    result = fit_label_model(con, Options(model="majority", tie_break="abstain"))
    assert (result.metrics["labelled"], result.metrics["none"]) == (2, 2)
    assert con.execute("SELECT doc_id, label FROM weak_labels ORDER BY doc_id").fetchall() == [
        (ids[0], 0), (ids[1], NONE_LABEL), (ids[2], 2), (ids[3], NONE_LABEL)]


CALIBRATED = [{"coverage": 0.6, "confidence": "calibrated", "low": 0.2} for _ in range(5)]
NOISE = [{"accuracy": a, "coverage": 0.6, "confidence": "noise"} for a in (0.8, 0.7, 0.65, 0.6, 0.55)]


def _test_accuracies(con, specs, seed):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, K, 8000)
    labels, confidence = synthetic_votes(rng, y, specs)
    ids = add_documents(con, len(y))
    add_gold(con, ids, y)
    add_votes(con, ids, labels, confidence)
    options = Options(priors=("uniform",), epochs=(500,), lr=(0.01,))
    runs = {m: fit_label_model(con, replace(options, model=m)) for m in ("majority", "snorkel", "confidence")}
    return {m: weak_label_accuracy(con, r.run_id) for m, r in runs.items()}, runs["confidence"].run_id


def test_confidence_model_helps_when_confidence_is_calibrated(con):
    """Each vote is right with probability equal to its confidence (c ~ U(0.2, 1)): every LF
    is 60% accurate on average, but its confident votes are far more reliable than its
    unsure ones. Majority vote and Snorkel see only the average and cannot tell them apart."""
    accuracy, run_id = _test_accuracies(con, CALIBRATED, seed=3)
    assert accuracy["confidence"] >= accuracy["majority"] + 0.03, accuracy
    assert accuracy["confidence"] >= accuracy["snorkel"] + 0.03, accuracy
    assert (learned(con, run_id, "confidence_slope") > 0.5).all()


def test_confidence_model_does_not_help_when_confidence_is_noise(con):
    """Confidences independent of correctness carry nothing: the model learns slopes near 0
    and is then just an accuracy-weighted vote, no better than Snorkel's (honest negative)."""
    accuracy, run_id = _test_accuracies(con, NOISE, seed=5)
    assert abs(accuracy["confidence"] - accuracy["snorkel"]) <= 0.015, accuracy
    assert (np.abs(learned(con, run_id, "confidence_slope")) < 0.15).all()


def test_confidence_model_helps_with_single_category_lfs(con):
    """Keyword-like LFs: LF c votes only category c (on 70% of its texts, falsely on 15% of
    the others), more confidently when right. Two LFs firing on one text always disagree,
    so votes alone cannot settle it (majority vote and Snorkel are near a coin flip there);
    the confidence and the informative abstains can."""
    rng = np.random.default_rng(13)
    y = rng.integers(0, K, 6000)
    fires = rng.random((len(y), K)) < np.where(y[:, None] == np.arange(K), 0.7, 0.15)
    labels = np.where(fires, np.arange(K), NONE_LABEL)
    confidence = np.where(fires, np.where(y[:, None] == np.arange(K), rng.uniform(0.5, 1, fires.shape),
                                          rng.uniform(0.3, 0.8, fires.shape)), np.nan)
    ids = add_documents(con, len(y))
    add_gold(con, ids, y)
    add_votes(con, ids, labels, confidence)
    options = Options(priors=("uniform",), epochs=(500,), lr=(0.01,))
    accuracy = {m: weak_label_accuracy(con, fit_label_model(con, replace(options, model=m)).run_id)
                for m in ("majority", "snorkel", "confidence", "dawid_skene")}
    assert accuracy["confidence"] >= max(accuracy["majority"], accuracy["snorkel"]) + 0.05, accuracy
    assert accuracy["dawid_skene"] >= max(accuracy["majority"], accuracy["snorkel"]) + 0.05, accuracy


@pytest.mark.parametrize("none_share", [0.0, 0.3, 0.6])
def test_auto_without_gold_takes_the_confidence_model_and_beats_majority(con, none_share):
    """Single-category LFs (as above) with a share of texts that fit no category, and no
    gold: auto fits the confidence model and majority vote, checks the first against the
    second (no category lost, "none" not inflated), takes it, and it is more accurate."""
    rng = np.random.default_rng(13)
    y = rng.integers(0, K, 6000)
    y[rng.random(len(y)) < none_share] = NONE_LABEL
    fires = rng.random((len(y), K)) < np.where(y[:, None] == np.arange(K), 0.7, 0.15)
    labels = np.where(fires, np.arange(K), NONE_LABEL)
    confidence = np.where(fires, np.where(y[:, None] == np.arange(K), rng.uniform(0.5, 1, fires.shape),
                                          rng.uniform(0.3, 0.8, fires.shape)), np.nan)
    ids = add_documents(con, len(y))
    add_votes(con, ids, labels, confidence)
    result = fit_label_model(con, Options(model="auto"))
    assert [t.candidate.model for t in result.trials] == ["confidence", "majority"]
    assert result.chosen.candidate.model == "confidence"
    assert result.metrics["choice"].startswith("chosen without gold")
    weak = dict(con.execute("SELECT doc_id, label FROM weak_labels WHERE run_id = ?", [result.run_id]).fetchall())
    majority = MajorityVote(K).fit(labels, confidence).predict(labels, confidence, TieBreak.from_votes("prior", labels, K))
    accuracy = np.mean([weak[d] == t for d, t in zip(ids, y)])
    assert accuracy >= (majority == y).mean() + 0.03


class _Fixed(MajorityVote):
    """A candidate whose answers are given: what the no-gold checks look at."""

    def __init__(self, k, answers):
        super().__init__(k)
        self.answers = answers

    def predict(self, labels, confidence, ties, return_probs=False):
        return self.answers


def test_doubts_name_a_lost_category_and_an_inflated_none():
    labels = np.array([[0, A]] * 30 + [[A, 1]] * 30 + [[A, A]] * 5, np.int8)
    confidence = np.full(labels.shape, np.nan)
    votes = VoteMatrix(lfs=[LFInfo("a", "python", "v"), LFInfo("b", "python", "v")], rows=np.arange(65),
                       labels=labels, confidence=confidence)
    ties = TieBreak.from_votes("prior", labels, 2)
    majority = MajorityVote(2)
    names = ["Radiology", "Oncology"]
    same = majority.predict(labels, confidence, ties)
    assert doubts(_Fixed(2, same), majority, votes, ties, names) is None
    swapped = np.where(same == 0, 1, np.where(same == 1, 0, same))
    assert doubts(_Fixed(2, swapped), majority, votes, ties, names) == (
        "gives 30 of 30 Radiology documents of majority vote to Oncology (keeps 0)")
    moved_to_none = same.copy()
    moved_to_none[:12] = NONE_LABEL  # 12 of 30 Radiology documents: none is not a swap, and 12 of 60 is allowed
    assert doubts(_Fixed(2, moved_to_none), majority, votes, ties, names) is None
    inflated = same.copy()
    inflated[24:30], inflated[50:60] = NONE_LABEL, NONE_LABEL  # 16 of 60: over a quarter
    assert doubts(_Fixed(2, inflated), majority, votes, ties, names) == (
        "calls 'none' 16 of 60 documents majority vote gives a category")


def test_snorkel_proba_equals_label_model_predict_proba():
    rng = np.random.default_rng(2)
    y = rng.integers(0, K, 3000)
    labels, confidence = synthetic_votes(rng, y, SPECS)
    voted = (labels != NONE_LABEL).any(axis=1)
    model = SnorkelModel(K, np.full(K, 1 / K), epochs=200, lr=0.01, seed=0).fit(labels.astype(np.int8), confidence)
    ours = model.predict_proba(labels.astype(np.int8), confidence)
    assert np.allclose(ours[voted, :K], model.model.predict_proba(labels[voted]), atol=1e-9)
    assert (ours[~voted, K] == 1).all()  # no vote: "none"


def test_all_abstain_documents_get_none_and_unvoted_documents_no_weak_label(con):
    rng = np.random.default_rng(4)
    y = rng.integers(0, K, 1000)
    labels, confidence = synthetic_votes(rng, y, SPECS[:3])
    labels[:50] = NONE_LABEL  # every LF abstains on the first 50
    ids = add_documents(con, 1000)
    add_documents(con, 30, prefix="silent")  # never voted on
    add_votes(con, ids, labels, confidence)
    result = fit_label_model(con, Options(model="majority"))
    covered = int((labels >= 0).any(axis=1).sum())
    m = result.metrics
    assert (m["documents"], m["voted"], m["covered"], m["labelled"]) == (1030, 1000, covered, covered)
    assert (m["all_abstain"], m["unvoted"], m["none"]) == (1000 - covered, 30, 1000 - covered)
    assert con.execute("SELECT count(*) FROM weak_labels WHERE run_id = ?", [result.run_id]).fetchall()[0][0] == 1000
    assert not con.execute("SELECT count(*) FROM weak_labels WHERE doc_id LIKE 'silent%'").fetchall()[0][0]
    assert con.execute(
        "SELECT DISTINCT label, probs FROM weak_labels WHERE doc_id < 'd000050'").fetchall() == [(NONE_LABEL, [0.0] * K + [1.0])]


def test_run_writes_weak_labels_runs_and_evaluations(con):
    rng = np.random.default_rng(6)
    y = rng.integers(NONE_LABEL, K, 2000)  # NONE_LABEL: the text fits no category
    labels, confidence = synthetic_votes(rng, y, SPECS)
    ids = add_documents(con, len(y))
    add_gold(con, ids, y)
    add_votes(con, ids, labels, confidence)
    result = fit_label_model(con, Options(model="snorkel", epochs=(100,), lr=(0.01,), priors=("majority",)))

    rows = con.sql("SELECT * FROM weak_labels WHERE run_id = ?", params=[result.run_id]).to_arrow_table().to_pylist()
    assert len(rows) == len(ids)
    for row in rows[:200]:
        assert len(row["probs"]) == K + 1 and abs(sum(row["probs"]) - 1) < 1e-9
        top = int(np.argmax(row["probs"]))
        assert row["confidence"] == max(row["probs"]) and row["label"] == (NONE_LABEL if top == K else top)
        assert row["model"] == "snorkel"

    stage, status, params, metrics = con.execute(
        "SELECT stage, status, params, metrics FROM runs WHERE run_id = ?", [result.run_id]).fetchall()[0]
    params, metrics = json.loads(params), json.loads(metrics)
    assert (stage, status) == ("label-model", "ok")
    assert params["lf_versions"] == {f"lf{j}": "v1" for j in range(len(SPECS))}
    assert metrics["chosen"] == "snorkel(epochs=100, lr=0.01, prior=majority)"
    assert set(metrics["seconds"]) == {"load", "fit", "analyse", "write"}

    evaluated = con.execute(
        "SELECT subject, name, count(*) FROM evaluations WHERE run_id = ? AND split = 'test' GROUP BY ALL ORDER BY ALL",
        [result.run_id]).fetchall()
    assert evaluated == [("label_model", metrics["chosen"], K + 2)] + [("lf", f"lf{j}", K + 2) for j in range(len(SPECS))]
    assert con.execute("SELECT count(*) FROM lf_analysis WHERE run_id = ? AND metric = 'snorkel_accuracy'",
                       [result.run_id]).fetchall()[0][0] == len(SPECS)
    # the label model beats every single LF on the test split
    f1 = dict(con.execute("SELECT name, f1 FROM evaluations WHERE run_id = ? AND split = 'test' AND category = 'macro'",
                          [result.run_id]).fetchall())
    assert f1[metrics["chosen"]] > max(f1[f"lf{j}"] for j in range(len(SPECS)))


def test_only_the_latest_vote_of_the_current_version_counts(con):
    ids = add_documents(con, 4)
    nan = np.full((4, 3), np.nan)
    add_votes(con, ids, np.array([[0, 0, 0], [1, 1, 1], [2, 2, 2], [3, 3, 3]]), nan)
    add_votes(con, ids[:2], np.array([[4, 4, 4], [A, A, A]]), nan[:2])  # a later run re-votes two docs
    add_votes(con, ids, np.full((4, 3), 2), nan, version="old")  # another version, not current
    con.execute("UPDATE lfs SET updated_at = updated_at - INTERVAL 1 DAY WHERE version = 'old'")
    lfs, _ = select_lfs(con)
    matrix, stats = load_vote_matrix(con, lfs, K)
    assert [lf.version for lf in lfs] == ["v1"] * 3
    assert matrix.labels[:, 0].tolist() == [4, NONE_LABEL, 2, 3]
    assert stats.duplicate_votes == 6


@pytest.mark.parametrize("revote", [False, True], ids=["one-vote-per-version", "several-runs"])
def test_vote_matrix_agrees_with_the_current_votes_view(con, revote):
    """Every cell of the matrix is the ``current_votes`` row of its (document, LF), or an abstain
    where there is none. LF ``b`` changed after its old version voted, and its new version has
    voted on some documents only; a run that is not in ``runs`` voted; a vote names a document
    that does not exist. With ``revote``, later runs vote again on documents (two of them
    starting at the same instant), so the view has to pick."""
    rng = np.random.default_rng(21)
    ids = add_documents(con, 40)
    names = ["a", "b", "c"]

    def votes(n, m):
        labels = rng.integers(NONE_LABEL, K, (n, m))
        return labels, np.where((labels != NONE_LABEL) & (rng.random((n, m)) < 0.5), rng.random((n, m)), np.nan)

    first = add_votes(con, ids[:30], *votes(30, 3), names=names)
    if revote:
        second = add_votes(con, ids[10:30], *votes(20, 3), names=names)
        tied = add_votes(con, ids[20:30], *votes(10, 3), names=names)
        con.execute("UPDATE runs SET started_at = (SELECT started_at FROM runs WHERE run_id = ?) WHERE run_id = ?",
                    [second, tied])  # a tie on started_at: the larger run_id wins
    con.execute("UPDATE lfs SET updated_at = updated_at - INTERVAL 1 DAY")
    add_votes(con, ids[:25], *votes(25, 1), names=["b"], version="v2")  # b changed; its v1 votes stay
    con.execute("INSERT INTO votes (doc_id, lf, lf_version, label, confidence, run_id) VALUES (?, 'c', 'v1', 4, NULL, 'no-such-run'), ('d999999', 'a', 'v1', 1, 0.5, ?)",
                [ids[35], first])

    lfs, _ = select_lfs(con)
    matrix, stats = load_vote_matrix(con, lfs, K)
    assert [(lf.name, lf.version) for lf in lfs] == [("a", "v1"), ("b", "v2"), ("c", "v1")]

    view = {(d, lf): (label, confidence)
            for d, lf, label, confidence, _ in con.execute("SELECT * FROM current_votes").fetchall() if d in ids}
    doc_id = dict(con.execute("SELECT rowid, doc_id FROM documents").fetchall())
    assert {doc_id[r] for r in matrix.rows} == {d for d, _ in view}
    for i, rowid in enumerate(matrix.rows):
        for j, lf in enumerate(matrix.names):
            label, confidence = view.get((doc_id[rowid], lf), (NONE_LABEL, None))
            assert matrix.labels[i, j] == label, (doc_id[rowid], lf)
            if label == NONE_LABEL or confidence is None:
                assert np.isnan(matrix.confidence[i, j])
            else:
                assert matrix.confidence[i, j] == pytest.approx(confidence, abs=1e-6)
    not_revoted_by_b = matrix.row_index(np.array([r for r, d in doc_id.items() if d in ids[25:]]))
    assert (matrix.labels[not_revoted_by_b, 1] == NONE_LABEL).all()  # b's v1 votes there are not current
    cast = con.execute("SELECT count(*) FROM votes v JOIN current_lfs l ON l.lf = v.lf AND l.version = v.lf_version "
                       "WHERE v.doc_id IN (SELECT doc_id FROM documents)").fetchall()[0][0]
    assert (stats.votes, stats.orphan_votes, stats.duplicate_votes) == (len(view), 1, cast - len(view))
    assert (stats.duplicate_votes > 0) == revote


def test_bad_votes_are_refused_naming_the_lf(con):
    ids = add_documents(con, 3)
    add_votes(con, ids, np.array([[0], [7], [1]]), np.full((3, 1), np.nan), names=["broken"])
    lfs, _ = select_lfs(con)
    with pytest.raises(VoteMatrixError, match="'broken'.*label 7"):
        load_vote_matrix(con, lfs, K)
    with pytest.raises(UserError, match="unknown LF 'nope'"):
        select_lfs(con, ["nope"])


def test_lf_statistics_match_snorkel_lfanalysis():
    from snorkel.labeling import LFAnalysis

    rng = np.random.default_rng(8)
    y = rng.integers(0, K, 500)
    labels, confidence = synthetic_votes(rng, y, SPECS)
    ours = lf_statistics(labels.astype(np.int8), confidence, K)
    theirs = LFAnalysis(labels)
    assert np.allclose(ours["coverage"], theirs.lf_coverages())
    assert np.allclose(ours["overlaps"], theirs.lf_overlaps())
    assert np.allclose(ours["conflicts"], theirs.lf_conflicts())


def test_lfs_analysis_is_stored_and_summarised(con):
    rng = np.random.default_rng(9)
    y = rng.integers(0, K, 3000)
    labels, confidence = synthetic_votes(rng, y, SPECS[:4])
    labels[:, 3] = np.where(labels[:, 3] >= 2, labels[:, 3], NONE_LABEL)  # lf3 never votes 0 or 1
    ids = add_documents(con, len(y))
    add_gold(con, ids, y)
    add_votes(con, ids, labels, confidence)
    model_run = fit_label_model(con, Options(model="snorkel", priors=("uniform",), epochs=(500,), lr=(0.01,)))
    run_id, long, lfs = analyse_lfs(con)
    stored = con.execute("SELECT count(*) FROM lf_analysis WHERE run_id = ?", [run_id]).fetchall()[0][0]
    assert stored == long.num_rows > 0
    summary = {row["lf"]: row for row in summary_table(long, lfs).to_pylist()}
    assert summary["lf3"]["polarity"] == "Cardiology, Hypertension, Pathology"
    assert summary["lf0"]["kind"] == "python"
    # dev-split empirical accuracy, and Snorkel's learned accuracy carried over from the label-model run
    assert abs(summary["lf0"]["accuracy"] - 0.9) < 0.05
    assert summary["lf0"]["snorkel_accuracy"] == pytest.approx(learned(con, model_run.run_id, "snorkel_accuracy")[0], abs=1e-4)
    per_category = con.execute(
        "SELECT count(*) FROM lf_analysis WHERE run_id = ? AND lf = 'lf0' AND metric IN ('precision', 'recall')",
        [run_id]).fetchall()[0][0]
    assert per_category == 2 * K


def test_cli_label_model_and_lfs_on_the_demo(demo_con, project):
    """The demo corpus with synthetic LF votes derived from its gold (not from its texts)."""
    rows = demo_con.execute("SELECT g.doc_id, g.label FROM gold g ORDER BY doc_id").fetchall()
    ids, y = [r[0] for r in rows], np.array([r[1] for r in rows])
    rng = np.random.default_rng(12)
    labels, confidence = synthetic_votes(rng, y, SPECS[:4])
    add_votes(demo_con, ids, labels, confidence, names=["kw_a", "kw_b", "llm_a", "llm_b"])
    demo_con.close()
    runner = CliRunner()

    result = runner.invoke(app, ["label-model", "--model", "auto", "--epochs", "100", "--lr", "0.01"])
    assert result.exit_code == 0, result.output
    for text in ("chosen", "macro", "Radiology", "Pathology", "kw_a", "dev macro-F1"):
        assert text in result.output

    result = runner.invoke(app, ["lfs", "--format", "csv"])
    assert result.exit_code == 0, result.output
    header, *lines = result.output.strip().splitlines()
    assert header.startswith("lf,kind,polarity,coverage,overlaps,conflicts")
    assert [line.split(",")[0] for line in lines] == ["kw_a", "kw_b", "llm_a", "llm_b"]

    result = runner.invoke(app, ["sql", "select label, count(*) from weak_labels group by 1"])
    assert result.exit_code == 0, result.output

    result = runner.invoke(app, ["label-model", "--lf", "nope"])
    assert result.exit_code == 2 and "unknown LF 'nope'" in result.output
