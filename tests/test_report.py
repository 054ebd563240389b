"""The HTML report: every section present, self-contained, filled from the stored results,
and rendered by a real browser."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest
from typer.testing import CliRunner

from admedtagger.cli import app
from admedtagger.demo.corpus import BUNDLED_CORPUS
from admedtagger.evaluation.report import SECTIONS, write_report
from admedtagger.warehouse import NONE_NAME, connect, last_ok_run

runner = CliRunner()


def sections(page: str) -> dict[str, str]:
    """Section id -> its HTML, heading excluded."""
    return dict(re.findall(r'<section id="(\w+)"><h2>.*?</h2>(.*?)</section>', page, re.S))


def assert_self_contained(page: str) -> None:
    assert not re.search(r"""(src|href)=["']https?://""", page)
    assert "<script" not in page


@pytest.fixture(scope="module")
def labelled(tmp_path_factory):
    """A warehouse taken through every stage the report shows, by the real CLI on the demo
    corpus: keyword LFs, label model, LF analysis, flags, two reviews, a TF-IDF student,
    evaluation. Yields (read-only connection, report HTML)."""
    folder = tmp_path_factory.mktemp("labelled")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(folder)
        patch.delenv("ADMEDTAGGER_DB", raising=False)

        def cli(*args: str) -> None:
            result = runner.invoke(app, list(args), catch_exceptions=False)
            assert result.exit_code == 0, f"admedtagger {' '.join(args)}:\n{result.output}"

        cli("init", ".")
        cli("ingest", str(BUNDLED_CORPUS), "--id-col", "id", "--label-col", "label")
        cli("label", "--kind", "keyword")
        cli("label-model", "--model", "confidence")
        cli("lfs")
        cli("flag")
        con = connect(folder / "admedtagger.duckdb", read_only=True)
        flagged = [r[0] for r in con.execute(
            "SELECT doc_id FROM label_issues WHERE run_id = ? ORDER BY rank LIMIT 2", [last_ok_run(con, "flag")]
        ).fetchall()]
        con.close()
        assert len(flagged) == 2, "the demo corpus should give flags to review"
        cli("review", "decide", flagged[0], "--accept", "--reviewer", "tester")
        cli("review", "decide", flagged[1], "--none", "--reviewer", "tester")
        cli("train", "--student", "tfidf")
        cli("evaluate")
        cli("report", "--out", "report.html")
    con = connect(folder / "admedtagger.duckdb", read_only=True)
    yield con, (folder / "report.html").read_text(encoding="utf-8")
    con.close()


def test_report_of_ingested_documents_says_what_has_not_run(demo_con, tmp_path):
    page = write_report(demo_con, tmp_path / "report.html").read_text(encoding="utf-8")
    found = sections(page)
    assert list(found) == [key for key, _ in SECTIONS]
    assert "<svg" in found["corpus"]  # the length histogram
    assert "<svg" in found["labels"]  # the imported gold labels
    for key in ("lfs", "quality", "confusion", "flags"):
        assert 'class="empty"' in found[key], f"section {key} should say its stage has not run"
    assert_self_contained(page)


def test_lf_table_is_the_stored_lf_analysis(labelled):
    con, page = labelled
    lfs = sections(page)["lfs"]
    run_id = last_ok_run(con, "lf-analysis")  # `lfs` ran after `label-model`: the newest analysis
    assert run_id in lfs
    stats = con.execute("""
        SELECT lf, any_value(value) FILTER (WHERE metric = 'coverage'),
               any_value(value) FILTER (WHERE metric = 'overlaps'),
               any_value(value) FILTER (WHERE metric = 'conflicts')
        FROM lf_analysis WHERE run_id = ? AND category IS NULL GROUP BY lf ORDER BY lf""", [run_id]).fetchall()
    assert len(stats) == 7  # one keyword LF per category, and a report LF for Radiology and Pathology
    for lf, coverage, overlaps, conflicts in stats:
        assert f"<tr><td>{lf}</td><td>{coverage:.3f}</td><td>{overlaps:.3f}</td><td>{conflicts:.3f}</td></tr>" in lfs
        assert 0 <= conflicts <= overlaps <= coverage < 1 and coverage > 0
    # Keyword LFs vote (or abstain) on every document, so coverage is the share of all documents.
    voted = dict(con.execute(
        "SELECT lf, count(*) FILTER (WHERE label >= 0) / (SELECT count(*) FROM documents) FROM current_votes GROUP BY lf"
    ).fetchall())
    assert {lf: round(c, 6) for lf, c, _, _ in stats} == {lf: round(c, 6) for lf, c in voted.items()}
    assert "<!-- agreement where both vote -->" in lfs  # the heatmap's title (SVG keeps text as comments)


def test_every_section_shows_the_stored_results(labelled):
    con, page = labelled
    found = sections(page)
    assert list(found) == [key for key, _ in SECTIONS]
    assert_self_contained(page)
    for key in ("lfs", "labels", "quality", "confusion", "flags", "runs"):
        assert 'class="empty"' not in found[key], f"section {key} is empty"

    assert "<td>640</td>" in found["corpus"] and "<svg" in found["corpus"]
    assert "<!-- documents per category -->" in found["labels"]

    # F1 heatmap: the label model's and every LF's test-split F1 as stored by label-model.
    f1 = con.execute("""
        SELECT subject, name, category, f1 FROM evaluations
        WHERE run_id = ? AND split = 'test' AND subject IN ('label_model', 'lf')""",
                     [last_ok_run(con, "label-model")]).fetchall()
    label_model = next(n for s, n, _, _ in f1 if s == "label_model")
    assert label_model.startswith("confidence") and ("lf", "kw_radiology") in {(s, n) for s, n, _, _ in f1}
    quality = found["quality"]
    assert "<!-- F1 on the gold test split -->" in quality and f"<!-- label model: {label_model} -->" in quality
    macro = next(v for s, _, c, v in f1 if s == "label_model" and c == "macro")
    assert macro > 0.8 and f"<!-- {macro:.2f} -->" in quality

    student = con.execute("SELECT model_id FROM students").fetchall()
    assert len(student) == 1
    (model_id,) = student[0]
    confusion = found["confusion"]
    assert confusion.count("<svg") == 2
    assert "<!-- label model (test split) -->" in confusion and f"<!-- student {model_id} (test split) -->" in confusion

    flags = con.execute("""
        SELECT coalesce(c.name, ?), i.reason, count(*) FROM label_issues i
        LEFT JOIN categories c ON c.label = i.given_label WHERE i.run_id = ? GROUP BY ALL""",
                        [NONE_NAME, last_ok_run(con, "flag")]).fetchall()
    assert flags
    for given, reason, n in flags:
        assert f"<tr><td>{given}</td><td>{reason}</td><td>{n}</td></tr>" in found["flags"]
    assert "<p>2 documents reviewed so far.</p>" in found["flags"]

    assert f"<td>{model_id}</td><td>tfidf</td>" in found["teacher"]
    for (run_id,) in con.execute("SELECT run_id FROM runs").fetchall():
        assert f"<td>{run_id}</td>" in found["runs"]


@pytest.mark.slow
def test_report_renders_in_headless_chromium(labelled, tmp_path):
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("chromium is not installed (.ci/run installs Debian's chromium)")
    con, page = labelled
    path = tmp_path / "report.html"
    path.write_text(page, encoding="utf-8")
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tmp_path / 'profile'}"]
    dom = subprocess.run([browser, *flags, "--dump-dom", path.as_uri()],
                         capture_output=True, text=True, timeout=120, check=True).stdout
    for key, heading in SECTIONS:
        assert f'id="{key}"' in dom, f"section {key} missing from the rendered page"
    assert dom.count("<svg") >= 6  # corpus, agreement, labels, F1, two confusion matrices
    assert "kw_radiology" in dom and "documents reviewed so far" in dom
    shot = tmp_path / "report.png"
    subprocess.run([browser, *flags, f"--screenshot={shot}", "--window-size=1200,2000", path.as_uri()],
                   capture_output=True, timeout=120, check=True)
    assert shot.stat().st_size > 10_000  # a real rendering, not a blank page
