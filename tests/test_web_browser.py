"""The review queue in a real headless browser (Playwright driving the system Chromium):
decisions with the keyboard, undo, two reviewers and their agreement, a hostile document,
and the README's screenshot.

The screenshot goes to ``$ADMEDTAGGER_SCREENSHOT`` when set (``make``/a maintainer
refreshing ``docs/review-queue.png``), else into the test's temporary folder.
"""

from __future__ import annotations

import os
import shutil
import struct
from pathlib import Path

import pytest

from admedtagger.cleaning.agreement import agreement_table
from admedtagger.labeling.keywords import CUE, MENTION, NEGATED
from admedtagger.labeling.registry import build_lfs
from admedtagger.warehouse import NONE_LABEL, connect, load_config, review_decision
from admedtagger.web import ServeSettings, create_app
from webserver import flag_first, queue_of, rows, running

pytestmark = pytest.mark.slow

CHROMIUM = "/usr/bin/chromium"
XSS = '<script>alert(1)</script> "><img src=x onerror=alert(1)> Rak płuca.'
SCREENSHOT_LIMIT = 150_000  # bytes: the README's PNG stays small
# Resolved when the module is collected, before the fixtures change the working folder.
SCREENSHOT = Path(os.environ["ADMEDTAGGER_SCREENSHOT"]).resolve() if os.environ.get("ADMEDTAGGER_SCREENSHOT") else None


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.skip("the system chromium is not installed (.ci/run installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield chromium
        chromium.close()


def sign_in(context, base: str, name: str):
    """A tab that has said who it is and shows the queue."""
    page = context.new_page()
    page.goto(base + "/queue")
    assert "/reviewer" in page.url
    page.fill("input[name=name]", name)
    page.click("button[type=submit]")
    page.wait_for_url(base + "/queue")
    return page


def press(page, key: str, url_part: str) -> None:
    """Press ``key`` and wait for the page the decision redirects to."""
    with page.expect_navigation(url=lambda url: url_part in url):
        page.keyboard.press(key)


def doc_shown(page) -> str:
    return page.locator("#doc-id").inner_text()


def test_deciding_with_the_keyboard_then_undo(browser, flagged_project):
    queue = queue_of(flagged_project, "Zofia")
    with running(create_app(ServeSettings(config=flagged_project, lock_wait=2))) as base:
        context = browser.new_context()
        page = sign_in(context, base, "Zofia")
        decided = []
        for key, label in (("a", None), ("2", 1), ("n", NONE_LABEL)):
            doc_id = doc_shown(page)
            item = next(i for i in queue if i.doc_id == doc_id)
            label = item.given_label if label is None else label
            decided.append((doc_id, review_decision(label, item.given_label), label))
            press(page, key, "saved=")
            assert page.locator(".flash").inner_text().startswith(f"saved: {decided[-1][1]}")
            assert doc_shown(page) != doc_id
        press(page, "u", "undone=")
        assert doc_shown(page) == decided[-1][0], "the undone document is shown again"
        assert page.locator("#decided").inner_text() == "2"
        context.close()
    assert [d[0] for d in decided] == [i.doc_id for i in queue[:3]]
    written = rows(flagged_project, "SELECT doc_id, decision, label, reviewer, source, undoes, review_id FROM reviews "
                                    "ORDER BY created_at, review_id")
    assert [(w[0], w[1], w[2]) for w in written[:3]] == decided
    assert all(w[3:5] == ("Zofia", "web") for w in written)
    assert len(written) == 4 and written[3][:3] == (decided[2][0], "undo", None) and written[3][5] == written[2][6]
    assert rows(flagged_project, "SELECT doc_id FROM review_decisions ORDER BY doc_id") == sorted(
        [(d[0],) for d in decided[:2]])


def test_two_reviewers_on_one_document_and_their_agreement(browser, flagged_project):
    path = Path(flagged_project.path)
    path.write_text(path.read_text(encoding="utf-8") + "\n[review]\noverlap = 1.0\n", encoding="utf-8")
    config = load_config(path)
    with running(create_app(ServeSettings(config=config, lock_wait=2))) as base:
        first, second = browser.new_context(), browser.new_context()
        anna, bartek = sign_in(first, base, "Anna"), sign_in(second, base, "Bartek")
        doc_id = doc_shown(anna)
        press(anna, "1", "saved=")  # Radiology
        bartek.reload()
        assert doc_shown(bartek) == doc_id and "Second opinion" in bartek.content()
        assert "Anna" not in bartek.locator("main").inner_text(), "a second review is blind"
        press(bartek, "3", "saved=")  # Cardiology: a disagreement
        anna.reload()
        assert doc_shown(anna) == doc_id, "the disagreement comes back first, for adjudication"
        assert "Anna: Radiology · Bartek: Cardiology" in anna.locator("main").inner_text()
        # The kappa page shows the pair and the dispute waiting for an adjudication.
        anna.goto(base + "/agreement")
        cells = anna.locator("#agreement-overall tr", has_text="Anna · Bartek").locator("td").all_inner_texts()
        assert cells[:3] == ["Anna · Bartek", "1", "0"]
        disputed = anna.locator("#disputes").inner_text()
        assert doc_id in disputed and "Radiology" in disputed and "Cardiology" in disputed
        first.close()
        second.close()
    con = connect(config.db_path(), read_only=True)
    try:
        table = agreement_table(con).to_pylist()
    finally:
        con.close()
    pair = [r for r in table if r["scope"] == "pair"]
    assert [(r["reviewer_a"], r["reviewer_b"], r["items"], r["agreed"]) for r in pair] == [("Anna", "Bartek", 1, 0)]


def test_a_hostile_document_runs_no_script_and_reads_as_text(browser, flagged_project):
    doc_id = 'xss-"><b>bold</b>'
    flag_first(flagged_project, doc_id, XSS)
    with running(create_app(ServeSettings(config=flagged_project, lock_wait=2))) as base:
        context = browser.new_context()
        dialogs = []
        context.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
        page = sign_in(context, base, "Zofia")
        assert doc_shown(page) == doc_id
        assert page.locator("#doc-text").inner_text() == XSS
        assert page.locator("#doc-text img, #doc-text script, main b").count() == 0
        press(page, "a", "saved=")
        assert doc_id in page.locator(".flash").inner_text()
        context.close()
    assert dialogs == []
    assert rows(flagged_project, "SELECT decision, label FROM reviews WHERE doc_id = ?", [doc_id]) == [("accept", 1)]


def test_screenshot_of_the_queue(browser, flagged_project, tmp_path):
    """A document whose marks show all three kinds (counts, negated, cue), at 1200x800."""
    target = SCREENSHOT or tmp_path / "review-queue.png"
    queue = queue_of(flagged_project, "Anna")
    con = connect(flagged_project.db_path(), read_only=True)
    try:
        matcher = build_lfs(con, flagged_project, kinds=["keyword"])[0].matcher
    finally:
        con.close()
    chosen = next((i for i in queue if {MENTION, NEGATED, CUE} <= {s.kind for s in matcher.spans(i.text)}
                   and len(i.text) < 600), queue[0])
    with running(create_app(ServeSettings(config=flagged_project, lock_wait=2))) as base:
        context = browser.new_context(viewport={"width": 1200, "height": 800})
        page = sign_in(context, base, "Anna")
        page.goto(f"{base}/queue?doc={chosen.doc_id}")
        assert doc_shown(page) == chosen.doc_id
        page.screenshot(path=str(tmp_path / "raw.png"))
        context.close()
    _small_png(tmp_path / "raw.png", target)
    data = target.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and struct.unpack(">II", data[16:24]) == (1200, 800)
    assert len(data) < SCREENSHOT_LIMIT, f"{target} is {len(data)} bytes"


def _small_png(source: Path, target: Path) -> None:
    """``source`` as a 256-colour PNG (a page of text and flat colours loses nothing visible)."""
    from PIL import Image

    target.parent.mkdir(parents=True, exist_ok=True)
    with Image.open(source) as image:
        small = image.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT)
        small.save(target, optimize=True)
    if target.stat().st_size >= source.stat().st_size:
        shutil.copyfile(source, target)
