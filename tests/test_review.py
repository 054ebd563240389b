"""The review queue for real: the terminal reviewer in a subprocess with scripted stdin,
SIGKILL mid-session, undo, `review decide`, and `gold import` / `gold show`."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from typer.testing import CliRunner

from admedtagger.cleaning import FlagSettings, flag, pending
from admedtagger.cli import app
from admedtagger.warehouse import connect, record_run

EXE = Path(sys.executable).parent / "admedtagger"
runner = CliRunner()
NAMES = ["Radiology", "Oncology", "Cardiology", "Hypertension", "Pathology"]


def invoke(*args):
    return runner.invoke(app, list(args), catch_exceptions=False)


def flagged_demo(con, share_flipped: float = 0.1, seed: int = 3) -> list:
    """Weak labels = demo gold with a seeded share flipped (one ok 'label-model' run),
    then a flag run; returns the review queue."""
    gold = con.execute("SELECT doc_id, label FROM gold WHERE label >= 0 ORDER BY doc_id").fetchall()
    ids, labels = [g[0] for g in gold], np.array([g[1] for g in gold])
    rng = np.random.default_rng(seed)
    flipped = rng.choice(len(ids), round(share_flipped * len(ids)), replace=False)
    labels[flipped] = (labels[flipped] + rng.integers(1, 5, len(flipped))) % 5
    with record_run(con, "label-model", {}) as run:
        con.register("_weak", pa.table({"doc_id": ids, "label": labels}))
        con.execute("INSERT INTO weak_labels SELECT ?, doc_id, label, NULL, 0.9, 'demo-gold-flipped' FROM _weak",
                    [run.run_id])
    flag(con, FlagSettings())
    return pending(con)


def reviews(con):
    return con.execute(
        "SELECT doc_id, decision, label, reviewer, note, source, undoes FROM reviews ORDER BY created_at"
    ).fetchall()


def reviewed_gold(con):
    return dict(con.execute("SELECT doc_id, label FROM gold WHERE source LIKE 'review:%'").fetchall())


def test_terminal_review_accept_relabel_skip_then_gold_and_flag(demo_con, project):
    queue = flagged_demo(demo_con)
    demo_con.close()
    first, second, third = queue[:3]
    relabel_to = next(k for k in range(5) if k != second.given_label)
    answers = f"\n{NAMES[relabel_to].lower()}\ns\nq\n"  # Enter = accept, a category name, skip, quit
    done = subprocess.run([EXE, "review", "--reviewer", "ala"], input=answers, capture_output=True, text=True,
                          timeout=120, cwd=project.root)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert f"1/{len(queue)}" in out and first.doc_id in out and "suggested:" in out and "weak label:" in out
    assert out.count("saved:") == 3 and "this session: accept 1, relabel 1, skip 1" in out

    con = connect(project.db_path())
    assert reviews(con) == [
        (first.doc_id, "accept", first.given_label, "ala", None, "terminal", None),
        (second.doc_id, "relabel", relabel_to, "ala", None, "terminal", None),
        (third.doc_id, "skip", None, "ala", None, "terminal", None),
    ]
    con.close()

    shown = invoke("gold", "show", "--format", "json")
    rows = [json.loads(line) for line in shown.output.splitlines()]
    decided = {r["doc_id"]: r for r in rows if r["source"].startswith("review:")}
    assert set(decided) == {first.doc_id, second.doc_id}
    assert decided[second.doc_id]["label"] == relabel_to and decided[second.doc_id]["label_name"] == NAMES[relabel_to]
    assert decided[first.doc_id]["source"] == "review:ala" and decided[first.doc_id]["split"] in ("dev", "test")

    listed = invoke("review", "list", "--format", "json", "--limit", "0")
    pending_ids = [json.loads(line)["doc_id"] for line in listed.output.splitlines()]
    assert pending_ids[-1] == third.doc_id, "a skipped document goes to the back of the queue"
    assert first.doc_id not in pending_ids and second.doc_id not in pending_ids

    again = invoke("flag")
    assert again.exit_code == 0 and "2 reviewed" in again.output
    con = connect(project.db_path())
    run_id = con.execute("SELECT max_by(run_id, started_at) FROM runs WHERE stage = 'flag'").fetchall()[0][0]
    reflagged = {r[0] for r in con.execute("SELECT doc_id FROM label_issues WHERE run_id = ?", [run_id]).fetchall()}
    con.close()
    assert first.doc_id not in reflagged and second.doc_id not in reflagged
    assert third.doc_id in reflagged, "a skip is not a decision: the document stays flagged"


def _read_until(proc, marker: str, seen: list[str], timeout: float = 120) -> None:
    """Read the child's stdout line by line until a line holds ``marker``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], 1)
        if ready:
            line = proc.stdout.readline()
            if not line:
                raise AssertionError("reviewer exited early:\n" + "".join(seen))
            seen.append(line)
            if marker in line:
                return
    raise AssertionError(f"no {marker!r} within {timeout} s:\n" + "".join(seen))


def test_killing_the_reviewer_loses_no_decision(demo_con, project):
    queue = flagged_demo(demo_con)
    demo_con.close()
    proc = subprocess.Popen([EXE, "review", "--reviewer", "ola"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, bufsize=1, cwd=project.root)
    seen: list[str] = []
    try:
        proc.stdin.write("note checked with the referral\n")
        proc.stdin.flush()
        proc.stdin.write("a\n")
        proc.stdin.flush()
        _read_until(proc, "saved: accept", seen)
        proc.stdin.write("0\n")
        proc.stdin.flush()
        _read_until(proc, "saved: reject", seen)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    con = connect(project.db_path())
    assert reviews(con) == [
        (queue[0].doc_id, "accept", queue[0].given_label, "ola", "checked with the referral", "terminal", None),
        (queue[1].doc_id, "reject", -1, "ola", None, "terminal", None),
    ]
    assert reviewed_gold(con) == {queue[0].doc_id: queue[0].given_label, queue[1].doc_id: -1}
    con.close()


def test_undo_in_the_terminal_and_from_the_command_line(demo_con, project):
    queue = flagged_demo(demo_con)
    demo_con.close()
    first, second = queue[:2]
    # accept the first, undo it (back to the same document), relabel it to category 1, then
    # type nonsense, ask for help, and end the input without quitting.
    target = 0 if first.given_label != 0 else 1
    done = subprocess.run([EXE, "review", "--reviewer", "ala"], input=f"a\nu\n{target + 1}\nxyz\n?\n",
                          capture_output=True, text=True, timeout=120, cwd=project.root)
    assert done.returncode == 0, done.stderr
    assert "undone: accept on " + first.doc_id in done.stdout and "not understood: 'xyz'" in done.stdout
    con = connect(project.db_path())
    rows = reviews(con)
    assert [r[:3] for r in rows] == [(first.doc_id, "accept", first.given_label), (first.doc_id, "undo", None),
                                     (first.doc_id, "relabel", target)]
    undone_id = con.execute("SELECT review_id FROM reviews WHERE decision = 'accept'").fetchall()[0][0]
    assert rows[1][6] == undone_id
    assert reviewed_gold(con) == {first.doc_id: target}
    con.close()

    decided = invoke("review", "decide", second.doc_id, "--label", "kardiologia", "--note", "ECG", "--reviewer", "ola")
    assert decided.exit_code == 0 and "saved: " in decided.output
    undone = invoke("review", "undo", "--reviewer", "ola")
    assert undone.exit_code == 0 and second.doc_id in undone.output
    con = connect(project.db_path())
    assert reviewed_gold(con) == {first.doc_id: target}, "the undone decision left gold"
    imported = con.execute("SELECT label, source FROM gold WHERE doc_id = ?", [second.doc_id]).fetchall()
    assert imported[0][1].endswith("#label"), "gold falls back to the imported label"
    assert second.doc_id in [item.doc_id for item in pending(con)], "back in the queue"
    last_undo = con.execute("SELECT max_by(undoes, created_at) FROM reviews WHERE decision = 'undo'").fetchall()
    con.close()
    twice = invoke("review", "undo", last_undo[0][0])
    assert twice.exit_code == 2 and "no decision" in twice.output
    nothing = invoke("review", "undo", "--reviewer", "nobody")
    assert nothing.exit_code == 2 and "no decision to undo by 'nobody'" in nothing.output


def test_decide_errors_are_one_line(demo_con, project):
    queue = flagged_demo(demo_con)
    demo_con.close()
    doc = queue[0].doc_id
    for args, message in [
        (["nope", "--accept"], "unknown document 'nope'"),
        ([doc, "--accept", "--none"], "exactly one of"),
        ([doc, "--label", "Dermatology"], "unknown category 'Dermatology'"),
    ]:
        result = invoke("review", "decide", *args)
        assert result.exit_code == 2 and message in result.output and len(result.output.strip().splitlines()) == 1
    assert invoke("review", "decide", doc, "--none", "--reviewer", "x").exit_code == 0
    con = connect(project.db_path())
    assert reviews(con) == [(doc, "reject", -1, "x", None, "cli", None)]
    con.close()


def test_gold_import_reports_unknown_ids_and_labels(demo_con, project, tmp_path):
    ids = [r[0] for r in demo_con.execute("SELECT doc_id FROM documents ORDER BY doc_id LIMIT 3").fetchall()]
    demo_con.close()
    path = tmp_path / "extra.csv"
    path.write_text(
        "doc,category\n"
        f"{ids[0]},kardiologia\n{ids[1]},Other\n{ids[2]},Dermatology\nghost-1,Oncology\n{ids[0]},\n",
        encoding="utf-8",
    )
    result = invoke("gold", "import", str(path), "--id-col", "doc", "--label-col", "category")
    assert result.exit_code == 0, result.output
    assert "5 rows: imported 2 gold labels" in result.output
    assert "1 unknown document ids: ghost-1" in result.output and "unknown label 'Dermatology'" in result.output
    assert "1 rows without an id or a label" in result.output
    shown = invoke("gold", "show", "--format", "json")
    gold = {r["doc_id"]: r for r in map(json.loads, shown.output.splitlines())}
    assert gold[ids[0]]["label"] == 2 and gold[ids[0]]["source"] == f"{path}#category"
    assert gold[ids[1]]["label"] == -1 and gold[ids[1]]["label_name"] is None
    assert "imported 0 gold labels (2 already there)" in invoke("gold", "import", str(path), "--id-col", "doc",
                                                                "--label-col", "category").output
    missing = invoke("gold", "import", str(path), "--id-col", "id")
    assert missing.exit_code == 2 and "no column 'id', 'label'; columns: doc, category" in missing.output
    jsonl = tmp_path / "g.jsonl"
    jsonl.write_text(json.dumps({"id": ids[2], "label": 4}) + "\n", encoding="utf-8")
    assert "imported 1 gold labels" in invoke("gold", "import", str(jsonl)).output
    dev = invoke("gold", "show", "--split", "dev", "--format", "json").output.splitlines()
    assert dev and all(json.loads(line)["split"] == "dev" for line in dev)


@pytest.mark.parametrize("answers", ["q\n", ""])
def test_empty_input_or_quit_records_nothing(demo_con, project, answers):
    flagged_demo(demo_con)
    demo_con.close()
    done = subprocess.run([EXE, "review"], input=answers, capture_output=True, text=True, timeout=120,
                          cwd=project.root)
    assert done.returncode == 0 and "worst first" in done.stdout
    con = connect(project.db_path())
    assert reviews(con) == []
    con.close()
