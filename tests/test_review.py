"""The review queue for real: the terminal reviewer in a subprocess with scripted stdin,
SIGKILL mid-session, undo, `review decide`, and `gold import` / `gold show`.

The reviewer holds no connection while it waits for input: other
`admedtagger` commands run beside a waiting reviewer, and a writable connection held by
this test process locks the file while the reviewer tries to save.
"""

from __future__ import annotations

import io
import json
import os
import queue
import re
import signal
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from admedtagger.cleaning import FlagSettings, flag_labels, pending, review_session
from admedtagger.cleaning.review import effective_decision, record
from admedtagger.warehouse.project import open_warehouse
from admedtagger.cli import app
from admedtagger.warehouse import connect
from factory import gold_with_flips, scripted, write_weak_labels

EXE = Path(sys.executable).parent / "admedtagger"
runner = CliRunner()
NAMES = ["Radiology", "Oncology", "Cardiology", "Hypertension", "Pathology"]


def invoke(*args):
    return runner.invoke(app, list(args), catch_exceptions=False)


def flagged_demo(con, share_flipped: float = 0.1, seed: int = 3) -> list:
    """Weak labels = demo gold with a seeded share flipped (one ok 'label-model' run),
    then a flag run; returns the review queue."""
    ids, labels, _ = gold_with_flips(con, share_flipped, seed)
    write_weak_labels(con, ids, labels, confidence=0.9, model="demo-gold-flipped")
    flag_labels(con, FlagSettings())
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

    # ala's queue: another reviewer's also offers ala's overlap-share documents for a second review
    listed = invoke("review", "list", "--format", "json", "--limit", "0", "--reviewer", "ala")
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


class _Lines:
    """The child's stdout, read line by line in a thread (select() on a buffered pipe can
    miss lines already read into the buffer)."""

    def __init__(self, stream):
        self.lines: queue.Queue = queue.Queue()
        threading.Thread(target=self._pump, args=(stream,), daemon=True).start()

    def _pump(self, stream) -> None:
        for line in stream:
            self.lines.put(line)
        self.lines.put(None)

    def rest(self, timeout: float = 60) -> str:
        """Everything up to the end of the output."""
        out = []
        while (line := self.lines.get(timeout=timeout)) is not None:
            out.append(line)
        return "".join(out)


def _reader(proc) -> _Lines:
    if not hasattr(proc, "lines_reader"):
        proc.lines_reader = _Lines(proc.stdout)
    return proc.lines_reader


def _read_until(proc, marker: str, seen: list[str], timeout: float = 120) -> None:
    """Read the child's stdout line by line until a line holds ``marker``."""
    reader = _reader(proc)
    deadline = time.monotonic() + timeout
    while True:
        try:
            line = reader.lines.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            raise AssertionError(f"no {marker!r} within {timeout} s:\n" + "".join(seen)) from None
        if line is None:
            raise AssertionError("reviewer exited early:\n" + "".join(seen) + proc.stderr.read())
        seen.append(line)
        if marker in line:
            return


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


MENU = "[0] none of these"  # the last line printed before the reviewer reads a line


def start_reviewer(root, *args: str) -> subprocess.Popen:
    return subprocess.Popen([EXE, "review", *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, bufsize=1, cwd=root)


def send(proc: subprocess.Popen, line: str) -> None:
    proc.stdin.write(line + "\n")
    proc.stdin.flush()


def finish(proc: subprocess.Popen, seen: list[str]) -> tuple[int, str, str]:
    """Close stdin (end of input), wait for the reviewer and collect the rest of its output."""
    proc.stdin.close()
    out = _reader(proc).rest()
    proc.wait(timeout=60)
    return proc.returncode, "".join(seen) + out, proc.stderr.read()


def test_other_commands_read_and_write_while_the_reviewer_waits(demo_con, project):
    queue = flagged_demo(demo_con)
    demo_con.close()
    first, second = queue[:2]
    proc = start_reviewer(project.root, "--reviewer", "ala")
    seen: list[str] = []
    try:
        _read_until(proc, MENU, seen)  # the first document is on screen; stdin stays open and silent
        assert first.doc_id in "".join(seen)
        time.sleep(0.5)

        # a read-only open beside the waiting reviewer
        read = subprocess.run([EXE, "sql", "select count(*) AS n from reviews", "--format", "json"],
                              capture_output=True, text=True, timeout=120, cwd=project.root)
        assert read.returncode == 0, read.stderr
        assert json.loads(read.stdout.strip()) == {"n": 0}
        # even a writer: another reviewer decides the document that comes next
        other = subprocess.run([EXE, "review", "decide", second.doc_id, "--none", "--reviewer", "bob"],
                               capture_output=True, text=True, timeout=120, cwd=project.root)
        assert other.returncode == 0, other.stderr

        send(proc, "a")
        _read_until(proc, "saved: accept", seen)
        mark = len(seen)
        _read_until(proc, MENU, seen)  # the second document, loaded before bob decided it
        assert second.doc_id in "".join(seen[mark:])
        send(proc, "a")
        _read_until(proc, "decided meanwhile", seen)
        after = subprocess.run([EXE, "sql", "select count(*) AS n from reviews", "--format", "json"],
                               capture_output=True, text=True, timeout=120, cwd=project.root)
        assert after.returncode == 0 and json.loads(after.stdout.strip()) == {"n": 2}, after.stderr
    finally:
        code, out, err = finish(proc, seen)
    assert code == 0, err
    assert f"not saved: {second.doc_id} was decided meanwhile by bob (reject none of these)" in out
    assert "this session: accept 1, decided elsewhere 1" in out

    con = connect(project.db_path(), read_only=True)
    assert reviews(con) == [
        (second.doc_id, "reject", -1, "bob", None, "cli", None),
        (first.doc_id, "accept", first.given_label, "ala", None, "terminal", None),
    ]
    con.close()


def test_a_locked_warehouse_keeps_the_typed_decision_until_it_can_be_saved(demo_con, project):
    queue = flagged_demo(demo_con)
    name, local = demo_con.execute("SELECT name, name_pl FROM categories WHERE label = ?",
                                   [queue[0].given_label]).fetchall()[0]
    shown_label = name if local.lower() == name.lower() else f"{name} ({local})"  # as the reviewer names it
    demo_con.close()
    config = project.root / "admedtagger.toml"
    config.write_text(config.read_text(encoding="utf-8") + "\n[review]\nlock_wait = 2\n", encoding="utf-8")
    proc = start_reviewer(project.root, "--reviewer", "ola")
    seen: list[str] = []
    try:
        _read_until(proc, MENU, seen)
        holder = connect(project.db_path())  # this process now holds DuckDB's file lock
        send(proc, "a")
        _read_until(proc, "Enter retries", seen)
        assert f"accept {shown_label} for {queue[0].doc_id} is not saved yet" in seen[-1]
        send(proc, "")  # retry while still locked: told again
        _read_until(proc, "Enter retries", seen)
        assert not holder.execute("SELECT count(*) FROM reviews").fetchall()[0][0]
        holder.close()
        send(proc, "")  # the lock is gone: the typed decision is saved now
        _read_until(proc, "saved: accept", seen)
        _read_until(proc, MENU, seen)

        # a lock released within lock_wait: saved without asking
        holder = connect(project.db_path())
        release = threading.Timer(0.3, holder.close)
        release.start()
        send(proc, "0")
        _read_until(proc, "saved: reject", seen)
        release.join()
        assert sum("Enter retries" in line for line in seen) == 2
        _read_until(proc, MENU, seen)

        # quitting while locked: a one-line error naming the decision that was not saved
        holder = connect(project.db_path())
        send(proc, "s")
        _read_until(proc, "Enter retries", seen)
        send(proc, "q")
        code, out, err = finish(proc, seen)
        holder.close()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert code == 2
    assert err.strip().splitlines() == [
        f"error: quit with the warehouse locked: skip for {queue[2].doc_id} was not saved (earlier decisions are)"]
    con = connect(project.db_path(), read_only=True)
    assert [r[:4] for r in reviews(con)] == [
        (queue[0].doc_id, "accept", queue[0].given_label, "ola"), (queue[1].doc_id, "reject", -1, "ola")]
    con.close()


def test_pages_undo_and_skips_across_page_boundaries(demo_con, project):
    """In-process with pages of 2: the session walks the queue page by page, an undo goes
    back across a page boundary, and a document skipped in this session is not shown again."""
    queue = flagged_demo(demo_con)
    demo_con.close()
    relabel = next(k for k in range(5) if k != queue[0].given_label)
    read_line = scripted(["a", "s", "u", "u", str(relabel + 1), "s", "0", "a"])

    out = io.StringIO()
    counts = review_session(lambda write: open_warehouse(project, write=write), "ewa", Console(file=out, width=250),
                            read_line=read_line, limit=5, page_size=2)
    text = out.getvalue()
    q = [item.doc_id for item in queue]
    # 1 accept, 2 skip, undo the skip (back to 2), undo the accept (back to 1); then relabel 1,
    # skip 2, reject 3, accept 4; the input ends on 5, the last the limit allows
    shown = re.findall(r"(\d+)/5 · rank \d+ · (\S+) ·", text)
    assert shown == [("1", q[0]), ("2", q[1]), ("3", q[2]), ("2", q[1]), ("1", q[0]), ("2", q[1]), ("3", q[2]),
                     ("4", q[3]), ("5", q[4])]
    assert counts == {"accept": 2, "skip": 2, "undo": 2, "relabel": 1, "reject": 1}
    assert "5 flagged documents to review" in text and "end of the queue" not in text
    con = connect(project.db_path(), read_only=True)
    rows = [r[:3] for r in reviews(con)]
    con.close()
    assert rows == [
        (q[0], "accept", queue[0].given_label), (q[1], "skip", None), (q[1], "undo", None), (q[0], "undo", None),
        (q[0], "relabel", relabel), (q[1], "skip", None), (q[2], "reject", -1), (q[3], "accept", queue[3].given_label),
    ]


def test_one_write_cycle_takes_tens_of_milliseconds(demo_con, project):
    """open (writable) + check + insert + commit + close, as each terminal decision does."""
    queue = flagged_demo(demo_con)
    demo_con.close()
    opener = lambda write: open_warehouse(project, write=write)  # noqa: E731
    times = []
    for item in queue[:10]:
        started = time.perf_counter()
        with opener(True) as con:
            assert effective_decision(con, item.doc_id) is None
            record(con, item.doc_id, "skip", None, "timer", source="terminal")
        times.append(time.perf_counter() - started)
    with opener(False) as con:
        assert con.execute("SELECT count(*) FROM reviews WHERE reviewer = 'timer'").fetchall()[0][0] == 10
    median = statistics.median(times)
    print(f"open+write+close: median {median * 1000:.1f} ms, max {max(times) * 1000:.1f} ms")
    assert median < 0.5, times  # tens of ms here; a generous bound for a busy machine
