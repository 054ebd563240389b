"""Label Studio round trip: export the flagged documents as tasks, annotate the JSON the way
Label Studio's export writes it, import it back, and find the edits in `gold`."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

from typer.testing import CliRunner

from admedtagger.cleaning import FlagSettings, flag_labels
from admedtagger.cli import app
from admedtagger.warehouse import connect
from factory import gold_with_flips, write_weak_labels

runner = CliRunner()
NAMES = ["Radiology", "Oncology", "Cardiology", "Hypertension", "Pathology"]


def invoke(*args):
    return runner.invoke(app, list(args), catch_exceptions=False)


def flagged_demo(con, share_flipped: float = 0.1, seed: int = 4) -> None:
    """Weak labels = demo gold with a seeded share flipped (one ok 'label-model' run), then a flag run."""
    ids, labels, _ = gold_with_flips(con, share_flipped, seed)
    write_weak_labels(con, ids, labels, confidence=0.8, model="majority")
    flag_labels(con, FlagSettings())


def annotation(choice: str, user, when: str, cancelled: bool = False, task_id: int = 1) -> dict:
    """One annotation as Label Studio's JSON export writes it."""
    return {
        "id": 100 + task_id, "completed_by": user, "was_cancelled": cancelled, "ground_truth": False,
        "created_at": when, "updated_at": when, "lead_time": 4.2, "task": task_id, "result_count": 1,
        "result": [{"id": "aB3x", "type": "choices", "from_name": "label", "to_name": "text", "origin": "manual",
                    "value": {"choices": [choice]}}],
    }


def test_round_trip(demo_con, project, tmp_path):
    flagged_demo(demo_con)
    demo_con.close()
    tasks_file = tmp_path / "ls" / "tasks.json"
    tasks_file.parent.mkdir()  # --out paths must be in an existing folder
    result = invoke("review", "export", "--format", "label-studio", str(tasks_file), "--limit", "8")
    assert result.exit_code == 0, result.output
    config_file = tmp_path / "ls" / "tasks.label_config.xml"
    assert "wrote 8 tasks" in result.output and config_file.exists()

    view = ET.fromstring(config_file.read_text(encoding="utf-8"))
    text = view.find("Text")
    choices = view.find("Choices")
    assert view.tag == "View" and text.get("name") == "text" and text.get("value") == "$text"
    assert choices.get("name") == "label" and choices.get("toName") == "text" and choices.get("choice") == "single"
    assert [c.get("value") for c in choices.findall("Choice")] == NAMES + ["None of these"]

    tasks = json.loads(tasks_file.read_text(encoding="utf-8"))
    assert len(tasks) == 8
    for task in tasks:
        assert task["data"]["text"] and task["data"]["meta"]["doc_id"] == task["data"]["doc_id"]
        assert "flagged for: cleanlab" in task["data"]["hint"]
        (prediction,) = task["predictions"]
        assert prediction["model_version"].startswith("majority (label-model-") and prediction["score"] == 0.8
        (result,) = prediction["result"]
        assert (result["type"], result["from_name"], result["to_name"]) == ("choices", "label", "text")
        assert result["value"]["choices"] == [task["data"]["meta"]["given_label"]]
    ranks = [t["data"]["meta"]["rank"] for t in tasks]
    assert ranks == sorted(ranks), "worst first"

    # What Label Studio's export adds: task ids, annotations (by user id or user object).
    exported = []
    for i, task in enumerate(tasks, start=1):
        exported.append({"id": i, "project": 3, "created_at": "2026-01-05T09:00:00.000000Z", **task, "annotations": []})
    given = [t["data"]["meta"]["given_label"] for t in tasks]
    suggested = [t["data"]["meta"]["suggested_label"] for t in tasks]
    exported[0]["annotations"] = [annotation(suggested[0], 7, "2026-01-05T10:00:00.000000Z", task_id=1)]
    exported[1]["annotations"] = [
        annotation(NAMES[(NAMES.index(given[1]) + 1) % 5], 7, "2026-01-05T10:01:00.000000Z", task_id=2),
        annotation(given[1], {"id": 9, "email": "ewa@example.org"}, "2026-01-05T11:00:00.000000Z", task_id=2),
    ]
    exported[2]["annotations"] = [annotation("None of these", 7, "2026-01-05T10:02:00.000000Z", task_id=3)]
    exported[3]["annotations"] = [annotation("Dermatology", 7, "2026-01-05T10:03:00.000000Z", task_id=4)]
    exported[4]["annotations"] = [annotation(given[4], 7, "2026-01-05T10:04:00.000000Z", cancelled=True, task_id=5)]
    # exported[5..7] stay without annotations
    exported.append({"id": 99, "data": {"text": "?", "meta": {"doc_id": "ghost-7"}},
                     "annotations": [annotation("Oncology", 7, "2026-01-05T10:05:00Z", task_id=99)]})
    export_file = tmp_path / "project-3-at-2026-01-05.json"
    export_file.write_text(json.dumps(exported, ensure_ascii=False), encoding="utf-8")

    result = invoke("review", "import", str(export_file))
    assert result.exit_code == 0, result.output
    out = result.output
    assert "9 tasks: imported 3 decisions (accept 1, reject 1, relabel 1), 0 imported before, 6 not matched" in out
    assert "task 4: unknown choice 'Dermatology'" in out
    assert "task 5: every annotation was cancelled" in out
    assert "task 6: no annotation" in out and "task 99: unknown document 'ghost-7'" in out

    con = connect(project.db_path())
    gold = {d: (label, source) for d, label, source in
            con.execute("SELECT doc_id, label, source FROM gold WHERE source LIKE 'review:%'").fetchall()}
    docs = [t["data"]["doc_id"] for t in tasks]
    assert gold == {
        docs[0]: (NAMES.index(suggested[0]), "review:label-studio:7"),
        docs[1]: (NAMES.index(given[1]), "review:label-studio:ewa@example.org"),  # the latest annotation wins
        docs[2]: (-1, "review:label-studio:7"),
    }
    rows = con.execute("SELECT decision, note, source FROM reviews WHERE doc_id = ?", [docs[1]]).fetchall()
    assert rows == [("accept", "label-studio task 2 annotation 102", "label-studio")]
    con.close()

    again = invoke("review", "import", str(export_file))
    assert "imported 0 decisions (none), 3 imported before" in again.output
    listed = invoke("review", "list", "-f", "json", "--limit", "0").output.splitlines()
    pending = [json.loads(line)["doc_id"] for line in listed]
    assert not set(docs[:3]) & set(pending) and set(docs[3:]) <= set(pending)


def test_bad_exports_are_refused_in_one_line(demo_con, project, tmp_path):
    demo_con.close()
    for content, message in [
        ("{not json", "not valid JSON (line 1, column 2"),
        ('{"tasks": []}', "expected a JSON list of tasks"),
    ]:
        path = tmp_path / "bad.json"
        path.write_text(content, encoding="utf-8")
        result = invoke("review", "import", str(path))
        assert result.exit_code == 2 and message in result.output and len(result.output.strip().splitlines()) == 1
    path.write_text(json.dumps([{"id": 1, "data": {"text": "x"}}]), encoding="utf-8")
    result = invoke("review", "import", str(path))
    assert result.exit_code == 1 and "task 1: no doc_id in data.meta or data" in result.output
    assert invoke("review", "export", str(tmp_path / "t.json")).exit_code == 2  # no flag run yet


def ls_123_task(task_id: int, exported: dict, annotations: list[dict]) -> dict:
    """One task as Label Studio 1.23's JSON export writes it, here without any created_at/updated_at."""
    return {
        "id": task_id, "annotations": annotations, "file_upload": None, "drafts": [], "predictions": [task_id + 500],
        "data": exported["data"], "meta": {}, "inner_id": task_id - 40, "total_annotations": len(annotations),
        "cancelled_annotations": 0, "total_predictions": 1, "comment_count": 0, "unresolved_comment_count": 0,
        "last_comment_updated_at": None, "project": 5, "updated_by": 7, "comment_authors": [],
    }


def ls_123_annotation(annotation_id: int, task_id: int, choice: str, user: int) -> dict:
    """One annotation as Label Studio 1.23 exports it, minus its times."""
    return {
        "id": annotation_id, "completed_by": user,
        "result": [{"value": {"choices": [choice]}, "id": "Xk2pQ", "from_name": "label", "to_name": "text",
                    "type": "choices", "origin": "manual"}],
        "was_cancelled": False, "ground_truth": False, "draft_created_at": None, "lead_time": 6.31,
        "prediction": {}, "result_count": 1, "unique_id": f"9c3e1d2a-0b7f-4f7e-8a51-{annotation_id:012d}",
        "import_id": None, "last_action": None, "bulk_created": False, "task": task_id, "project": 5,
        "updated_by": user, "parent_prediction": task_id + 500, "parent_annotation": None, "last_created_by": None,
    }


def test_reimport_without_annotation_times_adds_nothing(demo_con, project, tmp_path):
    flagged_demo(demo_con)
    demo_con.close()
    tasks_file = tmp_path / "tasks.json"
    assert invoke("review", "export", "--format", "label-studio", str(tasks_file), "--limit", "3").exit_code == 0
    tasks = json.loads(tasks_file.read_text(encoding="utf-8"))
    docs = [t["data"]["doc_id"] for t in tasks]
    given = [t["data"]["meta"]["given_label"] for t in tasks]
    other = NAMES[(NAMES.index(given[0]) + 1) % 5]

    def export(second_choice: str) -> Path:
        exported = [
            # two annotators; without times the later annotation (the higher id) wins
            ls_123_task(41, tasks[0], [ls_123_annotation(301, 41, other, 7), ls_123_annotation(305, 41, given[0], 9)]),
            ls_123_task(42, tasks[1], [ls_123_annotation(302, 42, second_choice, 7)]),
            ls_123_task(43, tasks[2], []),
        ]
        assert not any(k in a for t in exported for a in t["annotations"] for k in ("created_at", "updated_at"))
        path = tmp_path / "project-5-at-2026-02-10-09-30-1f2e3d4c.json"
        path.write_text(json.dumps(exported, ensure_ascii=False, indent=2), encoding="utf-8")
        return path

    def reviews() -> list[tuple]:
        con = connect(project.db_path())
        try:
            return con.execute("SELECT doc_id, decision, label, reviewer, note FROM reviews WHERE source = 'label-studio' "
                               "ORDER BY created_at").fetchall()
        finally:
            con.close()

    path = export("None of these")
    first = invoke("review", "import", str(path))
    assert first.exit_code == 0, first.output
    assert "3 tasks: imported 2 decisions (accept 1, reject 1), 0 imported before, 1 not matched" in first.output
    expected = [
        (docs[0], "accept", NAMES.index(given[0]), "label-studio:9", "label-studio task 41 annotation 305"),
        (docs[1], "reject", -1, "label-studio:7", "label-studio task 42 annotation 302"),
    ]
    assert sorted(reviews()) == sorted(expected)

    for _ in range(2):
        again = invoke("review", "import", str(path))
        assert again.exit_code == 0, again.output
        assert "imported 0 decisions (none), 2 imported before, 1 not matched" in again.output
    assert sorted(reviews()) == sorted(expected)  # no duplicate rows

    # The annotator changes annotation 302 in Label Studio and exports again: that change is new.
    changed = invoke("review", "import", str(export(given[1])))
    assert "imported 1 decisions (accept 1), 1 imported before" in changed.output
    assert reviews()[-1] == (docs[1], "accept", NAMES.index(given[1]), "label-studio:7",
                             "label-studio task 42 annotation 302")
    con = connect(project.db_path())
    gold = dict(con.execute("SELECT doc_id, label FROM gold WHERE source LIKE 'review:%'").fetchall())
    con.close()
    assert gold == {docs[0]: NAMES.index(given[0]), docs[1]: NAMES.index(given[1])}
    assert "imported 0 decisions (none), 2 imported before" in invoke("review", "import", str(path)).output
