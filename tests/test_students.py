"""Students: training data rules, the TF-IDF student, evaluate and predict, on the demo warehouse.

Weak labels here are test data written straight into ``weak_labels`` (with an ok
``label-model`` run): the demo's gold labels with 20% of them replaced by another
category, K+1 probabilities (the last: fits no category) peaked on the (possibly wrong)
label; most texts that fit no category get the weak label none, some a wrong category.
"""

from __future__ import annotations

import csv
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from admedtagger.cli import app
from admedtagger.evaluation.evaluate import evaluate_on_gold
from admedtagger.students import registry, tfidf
from admedtagger.students.data import TrainingDataError, expand_targets, held_out_dev, training_set
from admedtagger.students.labels import predicted_labels
from admedtagger.students.model_file import MODEL_FILE, ModelFileError
from admedtagger.students.predict import predict_texts
from admedtagger.students.train import train_student
from admedtagger.warehouse import UserError, connect, ingest_files, record_run

K = 5
runner = CliRunner()


def write_weak_labels(con, noise: float = 0.2, seed: int = 0) -> dict[str, int]:
    """Noisy weak labels derived from the gold labels; returns doc_id -> weak label (-1 = none)."""
    rng = random.Random(seed)
    weak = {}
    rows = []
    for doc_id, gold in con.execute("SELECT doc_id, label FROM gold ORDER BY doc_id").fetchall():
        if gold < 0:
            label = -1 if rng.random() < 0.7 else rng.randrange(K)  # none, or a category by mistake
        else:
            label = gold if rng.random() >= noise else rng.choice([c for c in range(K) if c != gold])
        top = rng.uniform(0.55, 0.95)
        probs = [(1 - top) / K] * (K + 1)
        probs[label] = top  # -1: the last entry, fits no category
        weak[doc_id] = label
        rows.append((doc_id, label, probs, top))
    with record_run(con, "label-model", {"test": "noisy gold"}) as run:
        con.executemany(
            "INSERT INTO weak_labels (run_id, doc_id, label, probs, confidence, model) VALUES (?, ?, ?, ?, ?, 'noisy')",
            [(run.run_id, *row) for row in rows],
        )
    return weak


@pytest.fixture
def weak_con(demo_con):
    write_weak_labels(demo_con)
    return demo_con


def splits(con) -> dict[str, str]:
    return dict(con.execute("SELECT doc_id, split FROM gold").fetchall())


def add_review(con, doc_id: str, decision: str, label: int | None) -> None:
    con.execute(
        "INSERT INTO reviews (review_id, doc_id, decision, label, reviewer, source) VALUES (?, ?, ?, ?, 'tester', 'cli')",
        [f"r-{doc_id}-{decision}", doc_id, decision, label],
    )


def test_training_set_never_holds_test_gold_and_holds_out_dev_labels(weak_con):
    split = splits(weak_con)
    data = training_set(weak_con)
    assert data.doc_ids and all(split[d] == "dev" for d in data.doc_ids)  # demo: every document is gold
    assert data.counts["skipped_test_gold"] == sum(
        1 for d in weak_con.execute("SELECT doc_id FROM weak_labels").fetchall() if split[d[0]] == "test")
    assert not data.human.any()  # imported dev gold trains with its weak label, the gold label is held out
    stored = dict(weak_con.execute("SELECT doc_id, probs FROM weak_labels").fetchall())
    np.testing.assert_allclose(data.targets, np.asarray([stored[d] for d in data.doc_ids]))  # K+1 columns
    weak = dict(weak_con.execute("SELECT doc_id, label FROM weak_labels").fetchall())
    assert data.labels.tolist() == [weak[d] for d in data.doc_ids]  # none included, as -1
    assert data.counts["trained_none"] == sum(weak[d] < 0 for d in data.doc_ids) > 0
    held = held_out_dev(weak_con)
    assert set(held.doc_ids) == {d for d, s in split.items() if s == "dev"}
    with pytest.raises(TrainingDataError, match="nothing to train on"):
        training_set(weak_con, dev="holdout")  # every demo document is gold: all held out


def test_reviewed_decisions_override_weak_labels(weak_con):
    split = splits(weak_con)
    weak = dict(weak_con.execute("SELECT doc_id, label FROM weak_labels").fetchall())
    dev_docs = sorted(d for d in weak if split[d] == "dev")
    test_doc = next(d for d in sorted(weak) if split[d] == "test")
    relabelled, rejected, accepted = dev_docs[:3]
    new_label = (weak[relabelled] + 1) % K
    add_review(weak_con, relabelled, "relabel", new_label)
    add_review(weak_con, rejected, "reject", -1)
    add_review(weak_con, accepted, "accept", weak[accepted])
    add_review(weak_con, test_doc, "relabel", (weak[test_doc] + 1) % K)

    data = training_set(weak_con)
    row = {d: i for i, d in enumerate(data.doc_ids)}
    assert data.targets[row[relabelled]].tolist() == np.eye(K + 1)[new_label].tolist() and data.human[row[relabelled]]
    assert data.targets[row[accepted]].tolist() == np.eye(K + 1)[weak[accepted]].tolist()
    assert data.targets[row[rejected]].tolist() == np.eye(K + 1)[K].tolist()  # a reject trains as none
    assert test_doc not in row
    assert data.counts["human_labels"] == 3
    held = set(held_out_dev(weak_con).doc_ids)
    assert not held & {relabelled, rejected, accepted}  # trained on, so not used for early stopping

    everything = training_set(weak_con, dev="train")  # every dev gold label trains
    assert everything.human.all() and test_doc not in everything.doc_ids
    assert held_out_dev(weak_con, dev="train") is None


def test_exclude_flagged_leaves_out_flagged_weak_labels_only(weak_con):
    split = splits(weak_con)
    dev_docs = sorted(d for (d,) in weak_con.execute("SELECT doc_id FROM weak_labels").fetchall() if split[d] == "dev")
    flagged, reviewed = dev_docs[:4], dev_docs[0]
    with record_run(weak_con, "flag", {}) as run:
        weak_con.executemany(
            "INSERT INTO label_issues (run_id, doc_id, given_label, suggested_label, quality, rank, reason) "
            "VALUES (?, ?, 0, 1, 0.1, ?, 'test')", [(run.run_id, d, i) for i, d in enumerate(flagged)])
    add_review(weak_con, reviewed, "relabel", 2)
    kept = set(training_set(weak_con).doc_ids)
    assert set(flagged) <= kept
    data = training_set(weak_con, exclude_flagged=True)
    assert set(data.doc_ids) == kept - set(flagged[1:])  # the reviewed one trains with its human label
    assert data.counts["skipped_flagged"] == 3


def test_training_needs_weak_labels(demo_con):
    with pytest.raises(TrainingDataError, match="label-model"):
        training_set(demo_con)


def test_weak_targets_read_old_and_new_probs_and_none_labels(demo_con):
    """K+1 probs are kept; an older run's K probs read as P(none) = 0; a none label without
    usable probs, or whose K probs leave none no mass, trains one-hot on column K."""
    ids = [d for (d,) in demo_con.execute("SELECT doc_id FROM gold WHERE split = 'dev' ORDER BY doc_id LIMIT 4").fetchall()]
    probs = [[0.1, 0.1, 0.1, 0.1, 0.1, 0.5], [0.6, 0.1, 0.1, 0.1, 0.1], None, [0.2] * K]
    write_rows = [(d, label, p) for d, label, p in zip(ids, [-1, 0, -1, -1], probs)]
    with record_run(demo_con, "label-model", {"test": "mixed"}) as run:
        demo_con.executemany("INSERT INTO weak_labels (run_id, doc_id, label, probs, confidence, model) "
                             "VALUES (?, ?, ?, ?, 0.5, 'mixed')", [(run.run_id, *r) for r in write_rows])
    data = training_set(demo_con)
    assert data.doc_ids == ids
    np.testing.assert_allclose(data.targets, [probs[0], [0.6, 0.1, 0.1, 0.1, 0.1, 0.0], np.eye(K + 1)[K],
                                              np.eye(K + 1)[K]])
    assert data.labels.tolist() == [-1, 0, -1, -1] and data.counts["trained_none"] == 3


def test_soft_targets_expand_to_weighted_rows():
    targets = np.array([[0.7, 0.295, 0.005], [0.2, 0.2, 0.6]])
    rows, labels, weights = expand_targets(targets, soft=True)
    assert sorted(zip(rows.tolist(), labels.tolist())) == [(0, 0), (0, 1), (1, 0), (1, 1), (1, 2)]
    assert np.isclose(weights.sum(), 2 - 0.005)
    rows, labels, weights = expand_targets(targets, soft=False)
    assert labels.tolist() == [0, 2] and weights.tolist() == [1, 1]


def test_predicted_label_is_the_argmax_with_none_last():
    probs = np.array([[0.6, 0.3, 0.1], [0.2, 0.3, 0.5], [0.1, 0.45, 0.45]])
    assert predicted_labels(probs).tolist() == [0, -1, 1]  # column K (here 2) is none; ties: first column


def test_tfidf_student_trains_saves_reloads_and_registers(weak_con, project):
    result = train_student(weak_con, kind="tfidf", models_dir=project.root / "models", root=project.root)
    row = registry.latest_student(weak_con)
    assert row["model_id"] == result.model_id and row["kind"] == "tfidf" and row["path"] == f"models/{result.model_id}"
    metrics = json.loads(row["metrics"])
    assert metrics["train_counts"]["skipped_test_gold"] > 0 and metrics["dev_docs"] > 0
    assert row["size_bytes"] > 0 and row["n_params"] > K * 1000
    assert weak_con.execute("SELECT status FROM runs WHERE run_id = ?", [row["run_id"]]).fetchall() == [("ok",)]

    test = weak_con.execute("SELECT g.doc_id, d.text, g.label FROM gold g JOIN documents d USING (doc_id) "
                            "WHERE split = 'test' AND g.label >= 0").fetchall()
    texts, gold = [t for _, t, _ in test], np.array([g for *_, g in test])
    reloaded = registry.load_folder(project.root / row["path"])
    again = registry.load_folder(project.root / row["path"])
    assert reloaded.n_params() == row["n_params"]
    first, second = reloaded.predict_proba(texts), again.predict_proba(texts)
    assert first.shape == (len(texts), K + 1) and np.array_equal(first, second) and np.allclose(first.sum(1), 1)
    assert (predicted_labels(first) == gold).mean() > 0.6  # learned the categories, on texts it never saw


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")  # SGD: few epochs on purpose
def test_numpy_predictions_equal_scikit_learns(weak_con):
    data = training_set(weak_con)
    texts = [t for (t,) in weak_con.execute("SELECT text FROM documents ORDER BY doc_id LIMIT 40").fetchall()]
    for options in ({"soft": True}, {"soft": False, "sgd_above": 0}):  # lbfgs softmax, SGD one-vs-rest
        fitted = tfidf.fit_estimators(data.texts, data.targets, **options)
        student = tfidf.export(fitted, data.category_names)
        mine = student.predict_proba(texts)
        np.testing.assert_allclose(mine[:, student.classes], fitted.sklearn_proba(texts), atol=1e-5)


def test_model_file_holds_numbers_only(tmp_path):
    np.savez(tmp_path / MODEL_FILE, columns=np.array([object()], dtype=object))
    with pytest.raises(ModelFileError, match="not a model this student wrote"):
        tfidf.load(tmp_path, ["a"])


def add_lf_votes(con, lf: str, accuracy: float, seed: int) -> None:
    rng = random.Random(seed)
    rows = []
    for doc_id, gold in con.execute("SELECT doc_id, label FROM gold ORDER BY doc_id").fetchall():
        if gold < 0 or rng.random() < 0.3:
            continue
        rows.append((doc_id, gold if rng.random() < accuracy else (gold + 1) % K))
    con.execute("INSERT INTO lfs (lf, kind, version, spec) VALUES (?, 'keyword', 'v2', '{}')", [lf])
    with record_run(con, "label", {}) as run:
        con.executemany(
            "INSERT INTO votes (doc_id, lf, lf_version, label, confidence, run_id) VALUES (?, ?, 'v2', ?, NULL, ?)",
            [(d, lf, label, run.run_id) for d, label in rows])
        # an outdated version's votes must not count
        con.executemany(
            "INSERT INTO votes (doc_id, lf, lf_version, label, confidence, run_id) VALUES (?, ?, 'v1', 0, NULL, ?)",
            [(d, lf, run.run_id) for d, _ in rows])


def test_evaluate_scores_students_label_model_and_lfs(weak_con, project):
    add_lf_votes(weak_con, "kw_good", 0.95, 1)
    add_lf_votes(weak_con, "kw_bad", 0.3, 2)
    train_student(weak_con, kind="tfidf", models_dir=project.root / "models", root=project.root)
    result = evaluate_on_gold(weak_con, split="test", root=project.root)
    n_test = weak_con.execute("SELECT count(*) FROM gold WHERE split = 'test'").fetchall()[0][0]
    assert result.n_docs == n_test
    table = result.f1_table().to_pylist()
    macro = {f"{r['subject']}:{r['name']}": r["macro"] for r in table}
    assert {key.split(":")[0] for key in macro} == {"student", "label_model", "lf"}
    assert "label_model:noisy" in macro and "lf:kw_good" in macro
    assert macro["lf:kw_good"] > macro["lf:kw_bad"]
    stored = weak_con.execute(
        "SELECT subject, count(DISTINCT name), count(*) FROM evaluations WHERE run_id = ? AND split = 'test' "
        "GROUP BY subject ORDER BY subject", [result.run_id]).fetchall()
    assert stored == [("label_model", 1, K + 2), ("lf", 2, 2 * (K + 2)), ("student", 1, K + 2)]
    stored_predictions = weak_con.execute(
        "SELECT count(*) FROM predictions WHERE run_id = ?", [result.run_id]).fetchall()[0][0]
    assert stored_predictions == n_test  # the student's test-split predictions, for the report
    again = evaluate_on_gold(weak_con, split="test", root=project.root)  # replaces, never duplicates
    per_doc = weak_con.execute("SELECT count(*), count(DISTINCT doc_id), any_value(run_id) FROM predictions").fetchall()
    assert per_doc == [(n_test, n_test, again.run_id)]
    corpus = weak_con.execute("SELECT count(*), count(DISTINCT doc_id) FROM labelled_corpus").fetchall()[0]
    assert corpus[0] == corpus[1]
    for matrix in result.confusion.values():
        assert sum(sum(matrix.column(i).to_pylist()) for i in range(1, matrix.num_columns)) == n_test
    with pytest.raises(UserError):
        evaluate_on_gold(weak_con, split="train")


def invoke(*args, input=None):
    return runner.invoke(app, list(args), input=input, catch_exceptions=False)


def test_cli_train_evaluate_predict(weak_con, project, tmp_path):
    weak_con.close()  # the CLI opens the warehouse itself
    trained = invoke("train", "--student", "tfidf", "--hard")
    assert trained.exit_code == 0, trained.output
    assert "trained tfidf-" in trained.output and "skipped test gold" in trained.output

    shown = invoke("evaluate", "--split", "dev")
    assert shown.exit_code == 0, shown.output
    assert "student:tfidf-" in shown.output and "confusion matrix" in shown.output

    texts = ["Tomografia komputerowa klatki piersiowej z kontrastem: bez zmian ogniskowych.",
             "Nadciśnienie tętnicze, RR 170/100 mmHg, zwiększono dawkę amlodypiny."]
    new = tmp_path / "new.jsonl"
    new.write_text("".join(json.dumps({"nr": i, "text": t}, ensure_ascii=False) + "\n" for i, t in enumerate(texts))
                   + "{broken\n", encoding="utf-8")
    out = tmp_path / "labels.jsonl"
    labelled = invoke("predict", str(new), "--out", str(out), "--id-col", "nr")
    assert labelled.exit_code == 0, labelled.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["id"] for r in rows] == ["0", "1"] and "skipped 1 rows" in labelled.output
    assert set(rows[0]) >= {"label", "label_id", "confidence", "p_Radiology", "p_Pathology", "p_none"}
    assert all(abs(sum(v for k, v in r.items() if k.startswith("p_")) - 1) < 1e-6 for r in rows)

    piped = invoke("predict", "-", input="\n".join(texts) + "\n")
    assert piped.exit_code == 0, piped.output
    lines = [json.loads(line) for line in piped.stdout.splitlines() if line.startswith("{")]
    assert [r["label"] for r in lines] == [r["label"] for r in rows]

    unknown = invoke("predict", str(new), "--model", "nope")
    assert unknown.exit_code == 2 and "no student 'nope'" in unknown.output
    refused = invoke("predict", str(new), "--quantize")
    assert refused.exit_code == 2 and "transformer" in refused.output


def test_predict_stores_matches_by_text_and_writes_parquet(weak_con, project, tmp_path):
    result = train_student(weak_con, kind="tfidf", models_dir=project.root / "models", root=project.root)
    docs = weak_con.execute("SELECT doc_id, text FROM documents ORDER BY doc_id LIMIT 5").fetchall()
    source = tmp_path / "again.csv"
    with source.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerows([["text"], *[[t] for _, t in docs], ["Zupełnie nowy tekst, którego nie ma w hurtowni."]])
    _, student = registry.load_student(weak_con, root=project.root)
    out = tmp_path / "labels.parquet"
    for _ in range(2):  # a second run replaces the model's earlier predictions
        stats = predict_texts(student, source, out=out, con=weak_con, model_id=result.model_id, batch_size=2)
    assert stats.texts == 6 and stats.stored == 5
    runs = weak_con.execute("SELECT status, params->>'model_id' FROM runs WHERE stage = 'predict'").fetchall()
    assert runs == [("ok", result.model_id)] * 2
    stored = weak_con.execute("SELECT doc_id, label FROM predictions WHERE model_id = ? ORDER BY doc_id",
                              [result.model_id]).fetchall()
    table = pq.read_table(out).to_pydict()
    assert [d for d, _ in stored] == [d for d, _ in docs]
    assert [label for _, label in stored] == table["label_id"][:5]
    view = weak_con.execute("SELECT count(*) FROM labelled_corpus WHERE student_label IS NOT NULL").fetchall()[0][0]
    assert view == 5


# --- a killed `train` leaves no model folder without its students row ---



EXE = Path(sys.executable).parent / "admedtagger"


def larger_weak_warehouse(con, tmp_path, copies: int = 6) -> None:
    """The demo corpus plus ``copies`` reworded copies of each text (no gold), all with
    noisy weak labels in one label-model run: a training run that takes a few seconds."""
    demo = con.execute("SELECT d.doc_id, d.text, g.label FROM documents d JOIN gold g USING (doc_id)").fetchall()
    extra = tmp_path / "copies.jsonl"
    with extra.open("w", encoding="utf-8") as handle:
        for i in range(copies):
            for doc_id, text, _ in demo:
                handle.write(json.dumps({"id": f"{doc_id}-c{i}", "text": f"{text} Wizyta kontrolna nr {i}."},
                                        ensure_ascii=False) + "\n")
    ingest_files(con, [extra], id_col="id")
    rng = random.Random(5)
    gold = {doc_id: label for doc_id, _, label in demo}
    rows = []
    for (doc_id,) in con.execute("SELECT doc_id FROM documents ORDER BY doc_id").fetchall():
        label = gold[doc_id.split("-c")[0]]
        if label < 0:
            continue
        if rng.random() < 0.2:
            label = rng.choice([c for c in range(K) if c != label])
        probs = [0.05] * K
        probs[label] = 0.8
        rows.append((doc_id, label, probs))
    with record_run(con, "label-model", {"test": "copies"}) as run:
        con.executemany("INSERT INTO weak_labels (run_id, doc_id, label, probs, confidence, model) "
                        "VALUES (?, ?, ?, ?, 0.8, 'noisy')", [(run.run_id, *row) for row in rows])


def model_folders(models: Path) -> set[str]:
    return {p.name for p in models.iterdir() if p.is_dir()} if models.is_dir() else set()


def student_ids(project) -> set[str]:
    con = connect(project.db_path(), read_only=True)
    try:
        return {r[0] for r in con.execute("SELECT model_id FROM students").fetchall()}
    finally:
        con.close()


def test_a_killed_train_leaves_a_staging_folder_that_the_next_train_removes(demo_con, project, tmp_path):
    larger_weak_warehouse(demo_con, tmp_path)
    demo_con.close()
    models = project.root / "models"
    proc = subprocess.Popen([EXE, "train", "--student", "tfidf"], cwd=project.root,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 300
        staging = []
        while not staging and proc.poll() is None and time.monotonic() < deadline:
            staging = [p for p in models.glob(".*.partial")] if models.is_dir() else []
            time.sleep(0.01)
        assert staging, f"no staging folder appeared (exit {proc.poll()}): {proc.stderr.read() if proc.poll() is not None else ''}"
        os.kill(proc.pid, signal.SIGKILL)  # mid-training: the folder exists from before the fit to the commit
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    left = model_folders(models)
    assert left == {staging[0].name}, "killed mid-training: only its staging folder, no model folder"
    assert student_ids(project) == set()
    assert staging[0].name == f".{staging[0].name[1:].split('.')[0]}.{proc.pid}.partial"

    again = subprocess.run([EXE, "train", "--student", "tfidf"], cwd=project.root, capture_output=True, text=True,
                           timeout=600)
    assert again.returncode == 0, again.stderr
    output = again.stdout + again.stderr
    assert f"removed 1 leftover(s) of interrupted training runs from {models}: {staging[0].name}" in output
    ids = student_ids(project)
    assert len(ids) == 1 and model_folders(models) == ids, "the students table matches the model folders"
    con = connect(project.db_path(), read_only=True)
    statuses = dict(con.execute("SELECT status, count(*) FROM runs WHERE stage = 'train' GROUP BY status").fetchall())
    removed = con.execute("SELECT metrics->>'$.removed_leftovers' FROM runs WHERE stage = 'train' AND status = 'ok'"
                          ).fetchall()[0][0]
    con.close()
    assert statuses.get("ok") == 1 and statuses.get("running", 0) == 0
    assert json.loads(removed) == [staging[0].name]


def test_train_removes_orphan_folders_of_this_warehouse_only(weak_con, project):
    """A folder renamed into place whose students row never committed (a kill between the
    two) is removed by the next train; other folders in models/ are left alone."""
    models = project.root / "models"
    first = train_student(weak_con, kind="tfidf", models_dir=models, root=project.root)
    assert first.removed == [] and model_folders(models) == {first.model_id}
    # the same state as a kill before COMMIT: the folder in place, no row
    weak_con.execute("DELETE FROM students WHERE model_id = ?", [first.model_id])
    other = models / "tfidf-other-warehouse"
    shutil.copytree(models / first.model_id, other)
    manifest = registry.read_manifest(other)
    manifest.update(model_id=other.name, warehouse="/somewhere/else.duckdb")
    registry.write_manifest(other, manifest)
    (models / "notes").mkdir()
    (models / "notes" / "README.txt").write_text("mine", encoding="utf-8")
    live = models / f".tfidf-live.{os.getpid()}.partial"  # a run in progress (this process)
    live.mkdir()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stale = models / f".tfidf-dead.{int(dead.stdout)}.partial"
    stale.mkdir()

    notes = []
    second = train_student(weak_con, kind="tfidf", models_dir=models, root=project.root, on_note=notes.append)
    assert sorted(second.removed) == sorted([first.model_id, stale.name])
    assert notes == [f"removed 2 leftover(s) of interrupted training runs from {models}: "
                     + ", ".join(sorted([stale.name, first.model_id]))]
    assert model_folders(models) == {second.model_id, other.name, "notes", live.name}
    assert registry.read_manifest(models / second.model_id)["warehouse"] == str(project.db_path().resolve())
    registered = {r[0] for r in weak_con.execute("SELECT model_id FROM students").fetchall()}
    assert registered == {second.model_id}

