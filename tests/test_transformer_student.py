"""The transformer student for real: all-MiniLM-L6-v2 from its PyPI package, on a demo slice.

Weak labels are test data: the slice's gold labels as soft probability vectors (0.7 on the
gold class, K+1 entries: texts that fit no category have the weak label none).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from admedtagger.cli import app
from admedtagger.students import registry
from admedtagger.students.train import train_student
from admedtagger.students.transformer import default_backbone
from admedtagger.warehouse import connect

from .factory import demo_slice_with_weak_labels

pytestmark = pytest.mark.slow
K = 5


@pytest.fixture
def slice_con(project, tmp_path):
    """A warehouse with every 5th demo text (128 texts, gold from their labels) and weak labels."""
    con = connect(project.db_path())
    demo_slice_with_weak_labels(con, tmp_path, every=5, peak=0.7)
    yield con
    con.close()


def test_default_backbone_is_the_packaged_minilm():
    folder = default_backbone()
    assert (folder / "model.safetensors").stat().st_size > 80e6 and (folder / "tokenizer.json").exists()


def test_missing_base_model_is_a_user_error(tmp_path):
    from admedtagger.students.transformer import BaseModelError, load_base

    with pytest.raises(BaseModelError, match="no such model folder"):
        load_base(str(tmp_path / "nope"), ["a", "b"])


def test_minilm_student_trains_saves_and_reloads_with_plain_transformers(slice_con, project, tmp_path):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    steps = []
    result = train_student(slice_con, kind="transformer", models_dir=project.root / "models", root=project.root,
                           soft=True, epochs=1, max_length=64, batch_size=16, threads=2,
                           on_progress=lambda done, total, info: steps.append((done, total)))
    assert steps[-1][0] == steps[-1][1] > 0
    row = registry.latest_student(slice_con)
    assert row["kind"] == "transformer" and row["base_model"] == "all-MiniLM-L6-v2"
    assert 20e6 < row["n_params"] < 25e6 and row["size_bytes"] > 80e6
    metrics = json.loads(row["metrics"])
    assert metrics["train_counts"]["skipped_test_gold"] > 0 and len(metrics["epochs"]) == 1

    folder = project.root / row["path"]
    texts = [t for (t,) in slice_con.execute("SELECT text FROM documents ORDER BY doc_id LIMIT 12").fetchall()]
    model = AutoModelForSequenceClassification.from_pretrained(folder)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    assert [model.config.id2label[i] for i in range(K + 1)] == [
        "Radiology", "Oncology", "Cardiology", "Hypertension", "Pathology", "none"]  # "fits no category" last
    import torch

    with torch.inference_mode():
        plain = model(**tokenizer(texts, truncation=True, max_length=64, padding=True, return_tensors="pt")).logits
    student = registry.load_folder(folder)
    probs = student.predict_proba(texts, batch_size=5)  # other batches and padding: same answers
    assert np.array_equal(probs.argmax(1), plain.argmax(1).numpy())
    np.testing.assert_allclose(probs, torch.softmax(plain, -1).numpy(), atol=1e-4)

    quantized = registry.load_folder(folder, quantize=True).predict_proba(texts)
    assert np.abs(quantized - probs).max() < 0.2

    source = tmp_path / "new.jsonl"
    source.write_text("".join(json.dumps({"text": t}, ensure_ascii=False) + "\n" for t in texts[:3]), encoding="utf-8")
    slice_con.close()
    out = tmp_path / "labels.csv"
    result = CliRunner().invoke(app, ["predict", str(source), "--quantize", "--out", str(out), "--store"],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "stored 3 predictions" in result.output and len(out.read_text().splitlines()) == 4


def test_compare_measures_teacher_and_student_on_the_same_texts(slice_con, project):
    """The real teacher (SmolLM2 through one prompt view) against a TF-IDF student."""
    result = train_student(slice_con, kind="tfidf", models_dir=project.root / "models", root=project.root)
    slice_con.close()
    shown = CliRunner().invoke(app, ["compare", "--texts", "2", "--view", "direct_pl"], catch_exceptions=False)
    assert shown.exit_code == 0, shown.output
    assert f"{result.model_id} vs teacher" in shown.output and "x fewer parameters" in shown.output
    con = connect(project.db_path())
    (metrics,) = con.execute("SELECT metrics FROM runs WHERE stage = 'compare' AND status = 'ok'").fetchall()[0]
    con.close()
    metrics = json.loads(metrics)
    teacher, (student,) = metrics["teacher"], metrics["students"]
    assert teacher["views"] == ["direct_pl"] and teacher["params"] > 100e6
    assert student["model"] == result.model_id and student["texts_per_s"] > teacher["texts_per_s"]
    assert metrics["table"][1]["fewer_params_x"] > 100
