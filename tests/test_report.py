"""The HTML report: every section present, self-contained, and rendered by a real browser."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from admedtagger.warehouse.report import SECTIONS, write_report


def test_report_has_every_section_and_no_external_resources(demo_con, tmp_path):
    path = write_report(demo_con, tmp_path / "report.html")
    page = path.read_text(encoding="utf-8")
    for key, heading in SECTIONS:
        assert f'<section id="{key}">' in page
    assert "<svg" in page  # the corpus histogram at least
    assert not re.search(r"""(src|href)=["']https?://""", page)
    assert "<script" not in page


@pytest.mark.slow
def test_report_renders_in_headless_chromium(demo_con, tmp_path):
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("chromium is not installed (.ci/run installs Debian's chromium)")
    path = write_report(demo_con, tmp_path / "report.html")
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tmp_path / 'profile'}"]
    dom = subprocess.run([browser, *flags, "--dump-dom", path.as_uri()],
                         capture_output=True, text=True, timeout=120, check=True).stdout
    for key, heading in SECTIONS:
        assert f'id="{key}"' in dom, f"section {key} missing from the rendered page"
    assert dom.count("<svg") >= 1
    shot = tmp_path / "report.png"
    subprocess.run([browser, *flags, f"--screenshot={shot}", "--window-size=1200,2000", path.as_uri()],
                   capture_output=True, timeout=120, check=True)
    assert shot.stat().st_size > 10_000  # a real rendering, not a blank page
