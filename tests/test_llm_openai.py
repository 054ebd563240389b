"""The openai backend against real HTTP servers started by the tests.

* A real OpenAI-compatible server: vLLM's (`python -m vllm.entrypoints.openai.api_server`
  from .venv-vllm, serving the bundled SmolLM2 folder under admedtagger's model id). Those
  tests skip when .venv-vllm is absent (`make setup-vllm` builds it).
* A small misbehaving HTTP server process of our own (``FLAKY_SERVER`` below): its
  ``/flaky`` endpoint answers 500 and 429 in turn, its ``/slow`` endpoint answers after
  the client's timeout. The client must retry, fail over to the next server, and end a
  request that never succeeds as a counted abstain, never cached.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from admedtagger.labeling.llm.backend_openai import OpenAIBackend
from admedtagger.labeling.llm.build import lfs_for_backend
from admedtagger.labeling.llm.cache import LLMCache
from admedtagger.labeling.llm.calibration import CONTENT_FREE_TEXTS
from admedtagger.labeling.llm.model_files import DEFAULT_MODEL, default_model_dir
from admedtagger.labeling.runner import apply_lfs
from admedtagger.warehouse import NONE_LABEL

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
VLLM_PYTHON = REPO / ".venv-vllm" / "bin" / "python"
N_TEXTS = 8

FLAKY_SERVER = r'''
import json, sys, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

counts = {}
lock = threading.Lock()

class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def _send(self, status, payload):
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        try:
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeout): that is the point of /slow

    def do_GET(self):
        with lock:
            self._send(200, dict(counts))

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        kind = self.path.split("/")[1]
        with lock:
            n = counts[kind] = counts.get(kind, 0) + 1
        if kind == "slow":
            time.sleep(5)
            self._send(503, {"error": "too late"})
        elif n % 2:
            self._send(500, {"error": "internal error"})
        else:
            self._send(429, {"error": "rate limited"})

server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
'''


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stop(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture(scope="module")
def flaky(tmp_path_factory):
    script = tmp_path_factory.mktemp("flaky") / "flaky_server.py"
    script.write_text(FLAKY_SERVER)
    process = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    port = int(process.stdout.readline())
    yield f"http://127.0.0.1:{port}"
    _stop(process)


@pytest.fixture(scope="module")
def vllm_server(tmp_path_factory):
    if not VLLM_PYTHON.exists():
        pytest.skip(".venv-vllm is absent (make setup-vllm builds it): no real OpenAI-compatible server to start")
    model_dir = default_model_dir()
    port = _free_port()
    log = (tmp_path_factory.mktemp("vllm") / "server.log").open("w")
    env = {**os.environ, "VLLM_TARGET_DEVICE": "cpu", "VLLM_CPU_NUM_OF_RESERVED_CPU": "0",
           "VLLM_CPU_KVCACHE_SPACE": "1"}
    started = time.perf_counter()
    process = subprocess.Popen(
        [str(VLLM_PYTHON), "-m", "vllm.entrypoints.openai.api_server", "--model", str(model_dir),
         "--served-model-name", DEFAULT_MODEL, "--host", "127.0.0.1", "--port", str(port),
         "--dtype", "float32", "--max-model-len", "1024", "--enforce-eager"],
        stdout=log, stderr=subprocess.STDOUT, env=env,
    )
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 300
        while True:
            assert process.poll() is None, f"vLLM server exited; see {log.name}"
            assert time.monotonic() < deadline, f"vLLM server not ready after 300 s; see {log.name}"
            try:
                if httpx.get(f"{url}/models", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(1)
        print(f"\nvLLM OpenAI server ready in {time.perf_counter() - started:.1f} s")
        yield url
    finally:
        _stop(process)
        log.close()


def _texts(con, n=N_TEXTS) -> list[str]:
    return [r[0] for r in con.execute("SELECT text FROM documents ORDER BY md5(doc_id) LIMIT ?", [n]).fetchall()]


def test_failed_requests_are_retried_then_abstain_and_are_not_cached(flaky, demo_con, project):
    engine = OpenAIBackend(None, base_urls=[f"{flaky}/flaky/v1", f"{flaky}/slow/v1"], timeout_s=0.5,
                           max_retries=3, backoff_s=0.01, concurrency=4)
    lf = lfs_for_backend(engine, project, project.categories, ["direct_pl"], {}, cache=LLMCache(demo_con))[0]
    texts = _texts(demo_con, 4)
    votes = lf.apply(texts)
    assert [v.label for v in votes] == [NONE_LABEL] * 4
    assert lf.metrics["failed_requests"] == 4 and lf.metrics["out_of_label_set"] == 0
    assert engine.stats["retries"] == 4 * 3 and engine.stats["failed"] == 4
    seen = httpx.get(flaky).json()
    assert seen["flaky"] == 8 and seen["slow"] == 8  # each request alternated between the two
    assert demo_con.execute("SELECT count(*) FROM llm_cache").fetchall() == [(0,)]
    lf.apply(texts)  # nothing was cached, so the next run asks again
    assert lf.metrics["model_calls"] == 8


def test_constrained_choice_over_http_with_retries_and_cache(vllm_server, flaky, demo_con, project):
    before = httpx.get(flaky).json().get("flaky", 0)
    # Every other request starts at the flaky server and must fail over to vLLM.
    engine = OpenAIBackend(None, base_urls=[f"{flaky}/flaky/v1", vllm_server], timeout_s=120, max_retries=2,
                           backoff_s=0.05, concurrency=4)
    lfs = lfs_for_backend(engine, project, project.categories, ["direct_pl", "definitions_en"], {"max_prompt_tokens": 96},
                          cache=LLMCache(demo_con))
    started = time.perf_counter()
    result = apply_lfs(demo_con, lfs, limit=N_TEXTS)
    seconds = time.perf_counter() - started
    print(f"\nopenai backend via vLLM server: {2 * N_TEXTS} prompts in {seconds:.1f} s "
          f"({2 * N_TEXTS / seconds:.2f} prompts/s), {engine.stats['retries']} retries")
    assert engine.stats["failed"] == 0 and engine.stats["retries"] == N_TEXTS
    assert httpx.get(flaky).json()["flaky"] - before == N_TEXTS
    for lf in lfs:
        assert result.lfs[lf.name]["model_calls"] == N_TEXTS and result.lfs[lf.name]["out_of_label_set"] == 0
    rows = demo_con.execute("SELECT response, label, confidence, params FROM llm_cache").fetchall()
    assert len(rows) == 2 * N_TEXTS
    for response, index, confidence, params in rows:
        words = json.loads(params)["words"]
        assert response in words and words.index(response) == index
        assert 0.0 < confidence <= 1.0
    assert demo_con.execute("SELECT count(*) FROM votes WHERE label >= 0").fetchall() == [(2 * N_TEXTS,)]

    demo_con.execute("DELETE FROM votes")
    again = lfs_for_backend(engine, project, project.categories, ["direct_pl", "definitions_en"],
                            {"max_prompt_tokens": 96}, cache=LLMCache(demo_con))
    rerun = apply_lfs(demo_con, again, limit=N_TEXTS)
    assert all(m["model_calls"] == 0 and m["cache_hits"] == N_TEXTS for m in rerun.lfs.values())


def test_the_constraint_is_what_keeps_answers_in_the_label_set(vllm_server, demo_con, project):
    engine = OpenAIBackend(None, base_urls=[vllm_server], timeout_s=120)
    lf = lfs_for_backend(engine, project, project.categories, ["definitions_en"], {"max_prompt_tokens": 96})[0]
    free = []
    for text in _texts(demo_con):
        body = engine.request_body(lf.prompter.render(text), lf.labels, "choice")
        body.pop("structured_outputs")
        reply = httpx.post(f"{vllm_server}/chat/completions", json=body, timeout=120).json()
        free.append(reply["choices"][0]["message"]["content"])
    assert any(answer not in lf.labels.words for answer in free)


def test_logprobs_mode_over_http(vllm_server, demo_con, project):
    engine = OpenAIBackend(None, base_urls=[vllm_server], timeout_s=120)
    lf = lfs_for_backend(engine, project, project.categories, ["direct_pl"], {"mode": "logprobs", "max_prompt_tokens": 64},
                         cache=LLMCache(demo_con))[0]
    votes = lf.apply(_texts(demo_con, 4))
    assert lf.metrics["model_calls"] == 4 and lf.metrics["failed_requests"] == 0
    for vote in votes:
        assert vote.label == NONE_LABEL or 0.0 < vote.confidence <= 1.0
    # The raw masses of the label words among the top 20 tokens: their sum is the label mass.
    scores = demo_con.execute("SELECT scores FROM llm_cache").fetchall()
    assert all(0.0 <= sum(s[0]) <= 1.0 + 1e-6 for s in scores)
    assert lf.metrics["calibration_calls"] == len(CONTENT_FREE_TEXTS)  # once per LF
