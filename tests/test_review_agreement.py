"""Several reviewers on a real warehouse: the overlap share, blind second reviews, disputes
and their adjudication, Cohen's kappa, and the `review agreement` / `review disputes` commands."""

from __future__ import annotations

import hashlib
import io
import json
from datetime import datetime, timedelta

import pytest
from rich.console import Console
from typer.testing import CliRunner

from admedtagger.cleaning import (
    agreement_items, agreement_table, current_task, decide, pending, queue_size, record, record_if_pending,
    review_session, undo,
)
from admedtagger.cli import app
from admedtagger.warehouse import connect, record_run
from admedtagger.warehouse.project import open_warehouse
from factory import insert_rows, scripted, write_weak_labels

runner = CliRunner()
OVERLAP = 0.3
T0 = datetime(2026, 1, 5, 9, 0)


def in_overlap(doc_id: str, share: float) -> bool:
    """The overlap rule computed here, independently of the SQL macro: md5 of the salted id."""
    return int(hashlib.md5(f"review-overlap:{doc_id}".encode()).hexdigest()[:8], 16) % 10000 < 10000 * share


def flagged(con, n: int = 40) -> list[str]:
    """n documents d000.. with weak labels, all flagged by one ok flag run in id order (rank 1..n)."""
    ids = [f"d{i:03d}" for i in range(n)]
    insert_rows(con, "documents", [{"doc_id": d, "text": f"tekst {d}", "text_hash": d} for d in ids])
    weak_run = write_weak_labels(con, ids, [i % 5 for i in range(n)])
    with record_run(con, "flag", {"weak_label_run": weak_run}) as run:
        insert_rows(con, "label_issues", [
            {"run_id": run.run_id, "doc_id": d, "given_label": i % 5, "suggested_label": (i + 1) % 5,
             "quality": 0.1, "rank": i + 1, "reason": "cleanlab"} for i, d in enumerate(ids)])
    return ids


def tasks(con, reviewer: str | None) -> dict[str, str]:
    return {item.doc_id: item.task for item in pending(con, reviewer=reviewer, overlap=OVERLAP)}


def gold(con) -> dict[str, tuple[int, str]]:
    return {d: (label, source) for d, label, source in con.execute("SELECT doc_id, label, source FROM gold").fetchall()}


def test_the_overlap_share_is_a_stable_md5_sample(con):
    ids = [f"doc-{i}" for i in range(3000)]
    insert_rows(con, "documents", [{"doc_id": d, "text": d, "text_hash": d} for d in ids])

    def chosen(share: float) -> set[str]:
        return {r[0] for r in con.execute("SELECT doc_id FROM documents WHERE in_review_overlap(doc_id, ?)",
                                          [share]).fetchall()}

    tenth = chosen(0.1)
    assert tenth == {d for d in ids if in_overlap(d, 0.1)}
    assert 0.08 < len(tenth) / len(ids) < 0.12
    assert tenth < chosen(0.2) and chosen(0.0) == set() and chosen(1.0) == set(ids)
    insert_rows(con, "documents", [{"doc_id": f"new-{i}", "text": "x", "text_hash": f"n{i}"} for i in range(500)])
    assert chosen(0.1) & set(ids) == tenth, "a growing corpus leaves the sample of the old documents alone"
    # independent of the gold split (md5 of the bare id): not all of it falls below dev_ratio 0.5
    assert any(int(hashlib.md5(d.encode()).hexdigest()[:8], 16) % 10000 >= 5000 for d in tenth)


def test_a_second_reviewer_reviews_overlap_documents_blind(con):
    ids = flagged(con)
    overlap = [d for d in ids if in_overlap(d, OVERLAP)]
    single = [d for d in ids if not in_overlap(d, OVERLAP)]
    assert len(overlap) >= 3 and len(single) >= 3
    shared, alone = overlap[0], single[0]
    assert tasks(con, "ala")[shared] == tasks(con, "ala")[alone] == "review"

    decide(con, shared, label=3, reviewer="ala")
    decide(con, alone, label=3, reviewer="ala")
    assert gold(con)[shared] == (3, "review:ala"), "one reviewer's decision stands until a second one comes"
    ala, bob = tasks(con, "ala"), tasks(con, "bob")
    assert shared not in ala and alone not in ala, "the first reviewer does not see it again"
    assert bob[shared] == "second_review" and alone not in bob
    assert shared not in tasks(con, None) and alone not in tasks(con, None), "no reviewer, no second reviews"
    item = next(i for i in pending(con, reviewer="bob", overlap=OVERLAP) if i.doc_id == shared)
    assert item.disputed_labels == () and item.given_label == int(shared[1:]) % 5, "blind: ala's 3 is not shown"
    assert list(tasks(con, "bob"))[0] == shared, "second reviews come before new documents"
    assert queue_size(con, reviewer="bob", overlap=OVERLAP) == len(bob) == len(ids) - 1
    assert queue_size(con, reviewer="ala", overlap=OVERLAP) == len(ala) == len(ids) - 2
    assert tasks(con, "bob") == {i.doc_id: i.task for i in pending(con, reviewer="bob", overlap=0.0)} | {
        shared: "second_review"}, "overlap 0: no second reviews"

    # bob had both on screen before ala decided them: the overlap one is saved, the other was settled
    saved, other = record_if_pending(con, shared, "relabel", 3, "bob", overlap=OVERLAP)
    assert saved is not None and not saved.adjudication and other is None
    saved, other = record_if_pending(con, alone, "relabel", 1, "bob", overlap=OVERLAP)
    assert saved is None and other[1:] == (3, "ala")
    assert current_task(con, shared, reviewer="cyd", overlap=OVERLAP) is None, "two reviewers agree: done"
    assert gold(con)[shared][0] == 3 and not con.execute("SELECT count(*) FROM review_disputes").fetchall()[0][0]

    # one reviewer correcting their own decision: their latest counts
    decide(con, single[1], label=2, reviewer="ala")
    decide(con, single[1], label=4, reviewer="ala")
    assert gold(con)[single[1]] == (4, "review:ala") and single[1] not in tasks(con, "bob")


def test_a_disagreement_waits_for_an_adjudication(con):
    ids = flagged(con)
    doc = next(d for d in ids if in_overlap(d, OVERLAP))
    insert_rows(con, "gold_imports", [{"doc_id": doc, "label": 0, "source": "file"}])
    assert gold(con)[doc] == (0, "file")
    decide(con, doc, label=1, reviewer="ala")
    assert tasks(con, "bob")[doc] == "second_review"
    decide(con, doc, label=2, reviewer="bob")

    assert doc not in gold(con), "disputed: neither review nor the imported label is gold"
    assert con.execute("SELECT disputed, final_source FROM labelled_corpus WHERE doc_id = ?", [doc]).fetchall() == [
        (True, "weak_label")]
    assert sorted(con.execute("SELECT reviewer, label FROM review_disputes").fetchall()) == [("ala", 1), ("bob", 2)]
    for reviewer in ("ala", "bob", "cyd", None):
        first = pending(con, 1, reviewer=reviewer, overlap=OVERLAP)[0]
        assert (first.doc_id, first.task, first.disputed_labels) == (doc, "adjudicate", (("ala", 1), ("bob", 2)))
    # a dispute stays in the queue after a flag run that did not flag it again
    with record_run(con, "flag", {"weak_label_run": None}):
        pass
    assert tasks(con, "cyd") == {doc: "adjudicate"}

    settled = decide(con, doc, label=3, reviewer="cyd")
    assert settled.adjudication and settled.decision == "relabel"
    assert gold(con)[doc] == (3, "review:cyd") and doc not in tasks(con, "ala")
    assert agreement_items(con).to_pylist() == [
        {"doc_id": doc, "reviewer_a": "ala", "label_a": 1, "reviewer_b": "bob", "label_b": 2}
    ], "the adjudication is no independent opinion"

    undo(con, settled.review_id)
    assert doc not in gold(con) and tasks(con, "cyd")[doc] == "adjudicate", "undoing it brings the dispute back"
    again = decide(con, doc, label=2, reviewer="ala")  # a disputant may adjudicate too
    assert again.adjudication and gold(con)[doc] == (2, "review:ala")
    assert agreement_items(con).column("label_a").to_pylist() == [1], "ala's own opinion stays 1 for kappa"
    later = decide(con, doc, none=True, reviewer="dan")
    assert later.adjudication and gold(con)[doc] == (-1, "review:dan"), "after an adjudication, the latest one wins"

    # a disputant who changes their mind settles it too: the document was disputed, so an adjudication
    other = next(d for d in ids if d != doc)
    decide(con, other, label=1, reviewer="ala")
    decide(con, other, label=2, reviewer="bob")
    assert other not in gold(con)
    assert decide(con, other, label=1, reviewer="bob").adjudication and gold(con)[other] == (1, "review:bob")


def test_kappa_overall_per_category_and_per_pair(con):
    ids = [f"k{i:02d}" for i in range(18)]
    insert_rows(con, "documents", [{"doc_id": d, "text": d, "text_hash": d} for d in ids])
    assert agreement_table(con).to_pylist() == [{
        "scope": "overall", "category": None, "reviewer_a": None, "reviewer_b": None, "items": 0, "agreed": 0,
        "support": None, "observed_agreement": None, "expected_agreement": None, "kappa": None}]
    ala = [0, 0, 0, 1, 1, 2, 2, -1, -1, 0]
    bob = [0, 0, 1, 1, 1, 2, 0, -1, 2, 0]
    for i, (a, b) in enumerate(zip(ala, bob)):
        # bob decides first on the odd documents: who is "first" does not change kappa
        first, second = (("ala", a), ("bob", b)) if i % 2 == 0 else (("bob", b), ("ala", a))
        record(con, ids[i], "relabel", first[1], first[0], created_at=T0 + timedelta(minutes=i))
        record(con, ids[i], "relabel", second[1], second[0], created_at=T0 + timedelta(minutes=i, seconds=30))
    # a third reviewer: only the first two by time count
    record(con, ids[0], "relabel", 4, "cyd", created_at=T0 + timedelta(hours=1))

    rows = agreement_table(con).to_pylist()
    overall = rows[0]
    # by hand: 7 of 10 agree; ala's labels 0:4 1:2 2:2 none:2, bob's 0:4 1:3 2:2 none:1
    p_o, p_e = 7 / 10, (4 * 4 + 2 * 3 + 2 * 2 + 2 * 1) / 100
    assert (overall["scope"], overall["items"], overall["agreed"]) == ("overall", 10, 7)
    assert overall["observed_agreement"] == pytest.approx(p_o) and overall["expected_agreement"] == pytest.approx(p_e)
    assert overall["kappa"] == pytest.approx((p_o - p_e) / (1 - p_e)) == pytest.approx(0.58333333)
    category = {r["category"]: r for r in rows if r["scope"] == "category"}
    assert list(category) == ["Radiology", "Oncology", "Cardiology", "Hypertension", "Pathology", "none"]
    # Radiology vs rest: both say it on 3 items, one of them on 2 more; 8 of 10 agree; 4 of 10 each
    radiology = category["Radiology"]
    assert (radiology["support"], radiology["agreed"]) == (5, 8)
    assert radiology["kappa"] == pytest.approx((0.8 - (0.4 * 0.4 + 0.6 * 0.6)) / (1 - 0.52))
    # none vs rest: ala 2 of 10, bob 1 of 10, one item apart
    assert category["none"]["kappa"] == pytest.approx((0.9 - (0.2 * 0.1 + 0.8 * 0.9)) / (1 - 0.74))
    nobody = category["Hypertension"]
    assert (nobody["support"], nobody["observed_agreement"], nobody["expected_agreement"], nobody["kappa"]) == (
        0, 1.0, 1.0, None), "chance agreement 1: kappa undefined"
    pairs = [r for r in rows if r["scope"] == "pair"]
    assert [(p["reviewer_a"], p["reviewer_b"], p["items"]) for p in pairs] == [("ala", "bob", 10)]
    assert pairs[0]["kappa"] == pytest.approx(overall["kappa"])

    # cyd and bob agree on two labels; dan and eve agree on one label only: kappa 1 and undefined
    for i, label in zip(range(10, 14), [1, 1, 3, 3]):
        record(con, ids[i], "relabel", label, "cyd", created_at=T0 + timedelta(days=1, minutes=i))
        record(con, ids[i], "relabel", label, "bob", created_at=T0 + timedelta(days=1, minutes=i, seconds=5))
    for i in range(14, 16):
        record(con, ids[i], "relabel", 4, "eve", created_at=T0 + timedelta(days=2, minutes=i))
        record(con, ids[i], "relabel", 4, "dan", created_at=T0 + timedelta(days=2, minutes=i, seconds=5))
    pairs = {(r["reviewer_a"], r["reviewer_b"]): r for r in agreement_table(con).to_pylist() if r["scope"] == "pair"}
    assert list(pairs) == [("ala", "bob"), ("bob", "cyd"), ("dan", "eve")]
    assert pairs[("ala", "bob")]["kappa"] == pytest.approx(0.58333333)
    assert (pairs[("bob", "cyd")]["items"], pairs[("bob", "cyd")]["kappa"]) == (4, 1.0)
    assert (pairs[("dan", "eve")]["items"], pairs[("dan", "eve")]["kappa"]) == (2, None)
    assert agreement_table(con).to_pylist()[0]["items"] == 16


def test_review_agreement_and_disputes_commands(con, project, tmp_path):
    doc = flagged(con)[0]
    con.close()

    def invoke(*args):
        return runner.invoke(app, list(args), catch_exceptions=False)

    assert invoke("review", "decide", doc, "--label", "Oncology", "--reviewer", "ala").exit_code == 0
    assert invoke("review", "decide", doc, "--label", "Cardiology", "--reviewer", "bob").exit_code == 0
    disputes = [json.loads(line) for line in invoke("review", "disputes", "-f", "json").output.splitlines()]
    assert [(d["doc_id"], d["reviewer"], d["label_name"]) for d in disputes] == [
        (doc, "ala", "Oncology"), (doc, "bob", "Cardiology")]
    listed = [json.loads(line) for line in invoke("review", "list", "-f", "json", "--reviewer", "cyd").output.splitlines()]
    assert (listed[0]["doc_id"], listed[0]["task"]) == (doc, "adjudicate")

    result = invoke("review", "agreement", "--format", "json")
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.output.splitlines()]
    assert rows[0] == {"scope": "overall", "category": None, "reviewer_a": None, "reviewer_b": None, "items": 1,
                       "agreed": 0, "support": None, "observed_agreement": 0.0, "expected_agreement": 0.0,
                       "kappa": 0.0}
    assert {r["scope"] for r in rows} == {"overall", "category", "pair"}
    out = tmp_path / "agreement.csv"
    assert invoke("review", "agreement", "-f", "csv", "--out", str(out)).exit_code == 0
    assert out.read_text(encoding="utf-8").splitlines()[0].startswith("scope,category,reviewer_a,reviewer_b,items")

    settled = invoke("review", "decide", doc, "--label", "Oncology", "--reviewer", "cyd")
    assert settled.exit_code == 0 and "an adjudication" in settled.output
    assert invoke("review", "disputes", "-f", "json").output.strip() == ""

    config = project.path
    config.write_text(config.read_text(encoding="utf-8") + "\n[review]\noverlap = 1.5\n", encoding="utf-8")
    bad = invoke("review", "agreement")
    assert bad.exit_code == 2 and "review.overlap = 1.5: expected a number between 0 and 1 (inclusive)" in bad.output


def test_the_terminal_reviewer_gives_second_reviews_and_adjudications(con, project):
    ids = flagged(con, 12)
    shared = [d for d in ids if in_overlap(d, OVERLAP)][:2]
    assert len(shared) == 2
    decide(con, shared[0], label=1, reviewer="ala")
    decide(con, shared[1], label=1, reviewer="ala")
    decide(con, shared[1], label=2, reviewer="bob")  # disputed
    con.close()
    read_line = scripted(["3", "4"])  # adjudicate shared[1]: Cardiology (3 on screen); shared[0]: Hypertension

    out = io.StringIO()
    counts = review_session(lambda write: open_warehouse(project, write=write), "cyd", Console(file=out, width=250),
                            read_line=read_line, overlap=OVERLAP)
    text = out.getvalue()
    assert counts == {"relabel": 2}
    assert "reviewers disagree (ala: Oncology (onkologia) · bob: Cardiology (kardiologia))" in text
    assert text.index(shared[1]) < text.index(shared[0]), "the dispute first"
    assert "an adjudication)" in text and "second opinion" in text
    assert text.count("an adjudication)") == 1
    con = connect(project.db_path(), read_only=True)
    assert gold(con)[shared[1]] == (2, "review:cyd")
    assert con.execute("SELECT label, adjudication FROM reviews WHERE reviewer = 'cyd' ORDER BY created_at").fetchall() \
        == [(2, True), (3, False)]
    assert shared[0] not in gold(con), "ala 1, cyd 3 on the second opinion: a new dispute"
    con.close()


@pytest.mark.slow
def test_the_demos_simulated_review_makes_no_dispute(demo_con, project):
    """One reviewer (the demo's): no dispute, and overlap documents keep their one decision."""
    from admedtagger.cleaning import FlagSettings, flag_labels
    from admedtagger.demo.pipeline import SIMULATED_REVIEWER, simulated_decisions
    from factory import gold_with_flips

    ids, labels, _ = gold_with_flips(demo_con, 0.1, 3)
    write_weak_labels(demo_con, ids, labels, confidence=0.9, model="demo-gold-flipped")
    flag_labels(demo_con, FlagSettings())
    demo_con.close()
    decisions = simulated_decisions(project.db_path(), 40)
    assert len(decisions) == 40
    for args in decisions:
        assert runner.invoke(app, args, catch_exceptions=False).exit_code == 0
    con = connect(project.db_path(), read_only=True)
    reviewed = {d for d, (_, source) in gold(con).items() if source == f"review:{SIMULATED_REVIEWER}"}
    decided = {args[2] for args in decisions}
    assert reviewed == decided and any(in_overlap(d, 0.1) for d in decided)
    assert con.execute("SELECT count(*) FROM review_disputes").fetchall()[0][0] == 0
    assert agreement_table(con).to_pylist()[0]["items"] == 0
    assert not set(tasks(con, SIMULATED_REVIEWER)) & decided
    con.close()
