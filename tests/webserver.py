"""The web tests' shared pieces: a real uvicorn server on a free port in a background
thread, and short read-only looks at the warehouse (the server keeps no connection open)."""

from __future__ import annotations

import socket
import threading
import time
from contextlib import contextmanager
from typing import Iterator

import uvicorn

from admedtagger.cleaning import overlap_share, pending
from admedtagger.warehouse import connect, last_ok_run


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def running(app, host: str = "127.0.0.1") -> Iterator[str]:
    """Serve ``app`` for the block; yields its base address (``http://127.0.0.1:PORT``)."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


def rows(config, sql: str, params=()) -> list[tuple]:
    """``sql``'s rows, read through a short read-only connection of its own."""
    con = connect(config.db_path(), read_only=True)
    try:
        return con.execute(sql, list(params)).fetchall()
    finally:
        con.close()


def queue_of(config, reviewer: str):
    """``reviewer``'s queue as the server sees it (the project's overlap share)."""
    con = connect(config.db_path(), read_only=True)
    try:
        return pending(con, reviewer=reviewer, overlap=overlap_share(config.section("review")))
    finally:
        con.close()


def flag_first(config, doc_id: str, text: str) -> None:
    """Add a document and make it the first flag of the latest flag run (a hostile text
    put where a reviewer meets it first)."""
    con = connect(config.db_path())
    try:
        run = last_ok_run(con, "flag")
        con.execute("INSERT INTO documents (doc_id, text, text_hash, source) VALUES (?, ?, 'h0', 'test')", [doc_id, text])
        con.execute("INSERT INTO label_issues (run_id, doc_id, given_label, suggested_label, quality, rank, reason) "
                    "SELECT ?, ?, 1, 0, 0.0, min(rank) - 1, 'cleanlab' FROM label_issues WHERE run_id = ?",
                    [run, doc_id, run])
    finally:
        con.close()
