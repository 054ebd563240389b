"""The web app's frame, over real HTTP on a real uvicorn server: who may connect, CSRF,
the reviewer's name, errors, and the warehouse left free for other commands."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from admedtagger.web import ServeSettings, create_app
from webserver import running

EXE = Path(sys.executable).parent / "admedtagger"


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


@pytest.fixture
def served(flagged_project):
    with running(create_app(ServeSettings(config=flagged_project, lock_wait=0.5))) as base:
        with httpx.Client(base_url=base, follow_redirects=False, timeout=30) as client:
            yield client


def test_reviewer_name_is_asked_then_kept_in_the_session(served):
    page = served.get("/reviewer?next=/queue")
    assert page.status_code == 200 and "Who is reviewing?" in page.text
    saved = served.post("/reviewer", data={"csrf": csrf_of(page.text), "name": "  Anna   Nowak ", "next": "/queue"})
    assert saved.status_code == 303 and saved.headers["location"] == "/queue"
    assert "reviewing as <strong>Anna Nowak</strong>" in served.get("/reviewer").text


def test_posts_without_the_csrf_token_or_from_another_origin_are_refused(served):
    page = served.get("/reviewer")
    assert served.post("/reviewer", data={"name": "x"}).status_code == 403
    assert served.post("/reviewer", data={"name": "x", "csrf": "wrong"}).status_code == 403
    other = served.post("/reviewer", data={"name": "x", "csrf": csrf_of(page.text)},
                        headers={"Origin": "http://evil.example"})
    assert other.status_code == 403
    assert "reviewing as" not in served.get("/reviewer").text


def test_an_open_redirect_is_not_possible(served):
    page = served.get("/reviewer")
    saved = served.post("/reviewer", data={"csrf": csrf_of(page.text), "name": "a", "next": "//evil.example/x"})
    assert saved.headers["location"] == "/queue"


def test_a_bad_reviewer_name_is_a_clear_error(served):
    page = served.get("/reviewer")
    bad = served.post("/reviewer", data={"csrf": csrf_of(page.text), "name": "x" * 65})
    assert bad.status_code == 400 and "1 to 64 printable characters" in bad.text


def test_loopback_answers_only_its_own_host_names(served):
    assert served.get("/reviewer", headers={"Host": "evil.example"}).status_code == 400
    assert served.get("/reviewer", headers={"Host": "localhost"}).status_code == 200


def test_another_host_needs_the_token(flagged_project):
    with pytest.raises(Exception, match="needs an access token"):
        create_app(ServeSettings(config=flagged_project, host="0.0.0.0"))
    app = create_app(ServeSettings(config=flagged_project, host="0.0.0.0", token="s3cret-token"))
    with running(app) as base, httpx.Client(base_url=base, timeout=30) as client:
        assert client.get("/reviewer").status_code == 401
        assert client.get("/reviewer?token=wrong").status_code == 401
        assert client.get("/reviewer", headers={"Authorization": "Bearer s3cret-token"}).status_code == 200
        entered = client.get("/reviewer?token=s3cret-token&next=/corpus", follow_redirects=False)
        assert entered.status_code == 303 and "token" not in entered.headers["location"]
        assert client.get("/reviewer").status_code == 200  # the session cookie now


def test_a_busy_warehouse_is_a_503_that_changes_nothing(served, flagged_project):
    page = served.get("/reviewer")
    # Another process holds the file for writing, like a running `admedtagger label`:
    script = ("import duckdb, sys, time; con = duckdb.connect(sys.argv[1]); print('held', flush=True); "
              "sys.stdin.readline()")
    proc = subprocess.Popen([sys.executable, "-c", script, str(flagged_project.db_path())],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "held"
        busy = served.get("/corpus")
        assert busy.status_code == 503 and "busy" in busy.text and 'http-equiv="refresh"' in busy.text
    finally:
        proc.stdin.write("\n")
        proc.stdin.close()
        proc.wait(10)
    assert page.status_code == 200


def test_the_cli_works_while_the_server_runs(served, flagged_project):
    """`sql` and `status` from another process while pages are being served."""
    served.get("/reviewer")
    for args in (["sql", "select count(*) as n from documents", "--format", "csv"], ["status"]):
        done = subprocess.run([str(EXE), *args], capture_output=True, text=True, timeout=120,
                              cwd=flagged_project.path.parent)
        assert done.returncode == 0, done.stderr
    assert "640" in subprocess.run([str(EXE), "sql", "select count(*) as n from documents", "--format", "csv"],
                                   capture_output=True, text=True, cwd=flagged_project.path.parent).stdout


def _start_serve(folder, *args):
    return subprocess.Popen([str(EXE), "serve", *args], cwd=folder, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


@pytest.mark.slow
def test_serve_command_prints_its_address_serves_and_stops(flagged_project):
    from webserver import free_port

    port = free_port()
    proc = _start_serve(flagged_project.path.parent, "--port", str(port))
    try:
        line = proc.stdout.readline()
        assert f"http://127.0.0.1:{port}/" in line and "token" not in line
        assert httpx.get(f"http://127.0.0.1:{port}/reviewer", timeout=30).status_code == 200
        # the same port again: one line, exit status 2
        taken = subprocess.run([str(EXE), "serve", "--port", str(port)], cwd=flagged_project.path.parent,
                               capture_output=True, text=True, timeout=60)
        assert taken.returncode == 2 and f"port {port} on 127.0.0.1 is in use" in taken.stderr
    finally:
        proc.terminate()
        proc.wait(20)


@pytest.mark.slow
def test_serve_off_loopback_makes_and_prints_a_token(flagged_project):
    from webserver import free_port

    port = free_port()
    proc = _start_serve(flagged_project.path.parent, "--port", str(port), "--host", "0.0.0.0")
    try:
        line = proc.stdout.readline()
        token = re.search(r"\?token=([\w-]+)", line).group(1)
        assert len(token) >= 24
        assert httpx.get(f"http://127.0.0.1:{port}/reviewer", timeout=30).status_code == 401
        assert httpx.get(f"http://127.0.0.1:{port}/reviewer", headers={"Authorization": f"Bearer {token}"},
                         timeout=30).status_code == 200
    finally:
        proc.terminate()
        proc.wait(20)


def test_serve_without_a_warehouse_is_one_line(tmp_path):
    done = subprocess.run([str(EXE), "--db", str(tmp_path / "none.duckdb"), "serve"], capture_output=True,
                          text=True, timeout=60, cwd=tmp_path)
    assert done.returncode == 2 and "no warehouse at" in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_agreement_page_and_table_follow_two_reviewers(served, flagged_project):
    """Two reviewers on the same documents, one disagreement: the page's kappa is the
    library's, the dispute is listed, and the downloads hold the same table."""
    from admedtagger.cleaning import agreement_table, record
    from admedtagger.warehouse import connect

    empty = served.get("/agreement")
    assert empty.status_code == 200 and "No document has two reviewers yet" in empty.text
    con = connect(flagged_project.db_path())
    try:
        docs = [row[0] for row in con.execute("SELECT doc_id FROM documents ORDER BY doc_id LIMIT 4").fetchall()]
        for doc, (a, b) in zip(docs, [(0, 0), (1, 1), (2, 2), (0, 3)]):
            record(con, doc, "relabel", a, "ala")
            record(con, doc, "relabel", b, "bob")
        expected = agreement_table(con).to_pylist()[0]
    finally:
        con.close()
    page = served.get("/agreement")
    assert page.status_code == 200
    assert f"<strong>{expected['kappa']:.3f}</strong>" in page.text and "ala · bob" in page.text
    assert docs[3] in page.text.split('id="disputes"')[1]
    rows = served.get("/agreement.json").json()
    assert rows[0]["scope"] == "overall" and rows[0]["items"] == 4 and rows[0]["agreed"] == 3
    assert served.get("/agreement.csv").text.startswith('"scope"')
    assert served.get("/agreement.xlsx").status_code == 404


def test_the_root_leads_to_the_queue_and_an_unknown_path_is_a_404_page(served):
    root = served.get("/")
    assert root.status_code == 303 and root.headers["location"] == "/queue"
    missing = served.get("/no-such-page/<script>alert(1)</script>")
    assert missing.status_code == 404 and "<script>alert(1)" not in missing.text and "admedtagger" in missing.text
