"""The Ray engine (``--engine ray``) on a real local Ray cluster with the real tiny model.

The cluster is started once for the module (``ray.init(num_cpus=2)``). The same two
views on the same 8 demo texts (max 32 tokens each) go through the local transformers
backend and through the Ray actor pool: the cache keys are the same, so are the answers
(to float rounding: a replica runs one torch thread and batches prompts the same way),
and a rerun makes no model call. The openai backend through Ray gets exactly the answers
the local openai backend gets from the same server (``openai_server.py``: the same model
behind an OpenAI-compatible API, constrained choice). A replica killed with SIGKILL in
the middle of a job is restarted by Ray and every prompt is still answered and cached
once; a ``label --engine ray`` driver killed mid-run resumes without a repeated call or a
duplicate vote. Without Ray, ``--engine ray`` is a one-line error saying what to install.
In .venv-vllm (``-m vllm``), vLLM's own engine in a Ray replica answers exactly as the
local vllm backend.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from admedtagger.labeling.llm.backend import BackendError
from admedtagger.labeling.llm.backend_openai import OpenAIBackend
from admedtagger.labeling.llm.build import build_llm_lfs, lfs_for_backend
from admedtagger.labeling.llm.cache import LLMCache
from admedtagger.labeling.llm.calibration import CONTENT_FREE_TEXTS
from admedtagger.labeling.runner import apply_lfs
from admedtagger.warehouse import ConfigError, connect, load_config, render_config
from factory import PROGRESS_LF

HERE = Path(__file__).resolve().parent
VIEWS = ["direct_pl", "persona_pl"]
N_TEXTS = 8
# Two prompts per forward pass: also two per Ray batch, so a job has many batches to kill in.
OPTIONS = {"max_prompt_tokens": 32, "batch_size": 2}
PROMPTS = N_TEXTS * len(VIEWS) + len(CONTENT_FREE_TEXTS) * len(VIEWS)
REPLICA = "MapBatches(_Replica)"  # in the process title of every replica


@pytest.fixture(scope="module")
def cluster():
    """A local Ray cluster of 2 CPUs for the module; yields its address."""
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING")
    ray.data.DataContext.get_current().enable_progress_bars = False
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()


@pytest.fixture(scope="module")
def local_answers(tmp_path_factory):
    """The local transformers backend's cached answers and votes for VIEWS on the first
    N_TEXTS demo texts: ``({key: (label, confidence, scores)}, {(doc, lf): (label, confidence)})``."""
    from admedtagger.warehouse import ingest_files, sync_categories

    folder = tmp_path_factory.mktemp("local")
    (folder / "admedtagger.toml").write_text(render_config("pl"), encoding="utf-8")
    config = load_config(folder / "admedtagger.toml")
    con = connect(config.db_path())
    try:
        sync_categories(con, config)
        ingest_files(con, [HERE.parent / "demo" / "data" / "demo_pl.jsonl"], id_col="id", label_col="label")
        lfs = build_llm_lfs(con, config, views=VIEWS, options=OPTIONS)
        lfs[0].backend.model  # noqa: B018  (load before the run, like a warm process)
        result = apply_lfs(con, lfs, limit=N_TEXTS)
        assert all(m["model_calls"] == N_TEXTS for m in result.lfs.values())
        return _cached(con), _votes(con)
    finally:
        con.close()


def _cached(con) -> dict:
    rows = con.execute("SELECT key, label, confidence, scores FROM llm_cache").fetchall()
    return {key: (label, confidence, scores) for key, label, confidence, scores in rows}


def _votes(con) -> dict:
    rows = con.execute("SELECT doc_id, lf, label, confidence FROM votes").fetchall()
    return {(doc, lf): (label, confidence) for doc, lf, label, confidence in rows}


def _assert_same_answers(got: dict, expected: dict) -> None:
    assert got.keys() == expected.keys()
    for key, (label, confidence, scores) in got.items():
        want = expected[key]
        assert label == want[0]
        assert confidence == pytest.approx(want[1], abs=1e-5)
        assert scores == pytest.approx(want[2], abs=1e-5)


def _replica_pids() -> set[int]:
    """The replicas of this module's cluster (descendants of this process)."""
    import psutil

    pids = set()
    for process in psutil.Process().children(recursive=True):
        try:
            if REPLICA in " ".join(process.cmdline()):
                pids.add(process.pid)
        except psutil.Error:
            pass  # gone, or a zombie, between listing and reading
    return pids


def test_replicas_and_engine_settings_are_checked(project):
    from admedtagger.labeling.llm.backend_ray import parse_replicas
    from admedtagger.labeling.llm.build import make_engine

    assert parse_replicas(3) == parse_replicas("3") == 3
    assert parse_replicas("1-8") == parse_replicas([1, 8]) == (1, 8)
    assert parse_replicas([2, 2]) == 2
    for bad in (0, "0", "8-1", [3, 1], "many", True, [1, 2, 3]):
        with pytest.raises(BackendError, match="replicas = .*expected a whole number >= 1"):
            parse_replicas(bad)
    with pytest.raises(BackendError, match="unknown LLM engine 'spark'; choose local or ray"):
        make_engine("transformers", None, {"engine": "spark"})
    with pytest.raises(BackendError, match="cannot reach the Ray cluster at 127.0.0.1:1: Connection refused"):
        make_engine("transformers", None, {"engine": "ray", "ray_address": "127.0.0.1:1"})
    path = project.root / "admedtagger.toml"
    text = path.read_text(encoding="utf-8")
    for setting, shown in (('engine = "spark"', 'llm.engine = "spark"'), ("replicas = [4, 2]", "llm.replicas = [4, 2]"),
                           ("replicas = 0", "llm.replicas = 0"), ('ray_address = ""', 'llm.ray_address = ""')):
        path.write_text(f"{text}\n[llm]\n{setting}\n", encoding="utf-8")
        with pytest.raises(ConfigError, match=re.escape(f"{shown}: expected")):
            load_config(path)
    path.write_text(f'{text}\n[llm]\nengine = "ray"\nray_address = "10.0.0.1:6379"\nreplicas = [1, 4]\n',
                    encoding="utf-8")
    assert load_config(path).section("llm") == {"engine": "ray", "ray_address": "10.0.0.1:6379", "replicas": [1, 4]}


def test_without_ray_the_engine_is_a_one_line_error(project):
    # A Python where `import ray` fails, as without the [ray] extra.
    code = "import sys; sys.modules['ray'] = None; from admedtagger.cli import main; main()"
    done = subprocess.run([sys.executable, "-c", code, "label", "--kind", "llm", "--engine", "ray"],
                          cwd=project.root, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.strip().splitlines() == ["error: the ray engine needs Ray Data: pip install 'admedtagger[ray]'"]
    con = connect(project.db_path(), read_only=True)
    try:
        assert con.execute("SELECT count(*) FROM runs WHERE stage = 'label'").fetchall() == [(0,)]
    finally:
        con.close()


@pytest.mark.slow
def test_actor_pool_answers_as_the_local_backend_and_a_rerun_makes_no_call(cluster, local_answers, demo_con, project):
    from admedtagger.labeling.llm.backend_ray import RayBackend

    options = {**OPTIONS, "engine": "ray", "replicas": 2}
    lfs = build_llm_lfs(demo_con, project, views=VIEWS, options=options)
    assert isinstance(lfs[0].backend, RayBackend) and lfs[0].backend.inner == "transformers"
    assert lfs[0].batch_group is lfs[1].batch_group is not None  # one Ray job per batch for both views
    result = apply_lfs(demo_con, lfs, limit=N_TEXTS)
    for metrics in result.lfs.values():
        assert (metrics["model_calls"], metrics["calibration_calls"], metrics["cache_hits"]) == (N_TEXTS, 3, 0)
    answers, votes = _cached(demo_con), _votes(demo_con)
    assert len(answers) == PROMPTS
    _assert_same_answers(answers, local_answers[0])
    assert votes.keys() == local_answers[1].keys()
    for key, (label, confidence) in votes.items():
        assert label == local_answers[1][key][0]
        assert confidence == pytest.approx(local_answers[1][key][1], abs=1e-5)

    # A new process would build everything anew: the same views on the Ray engine, from the cache only.
    demo_con.execute("DELETE FROM votes")
    again = apply_lfs(demo_con, build_llm_lfs(demo_con, project, views=VIEWS, options=options), limit=N_TEXTS)
    for metrics in again.lfs.values():
        assert (metrics["model_calls"], metrics["calibration_calls"], metrics["cache_hits"]) == (0, 0, N_TEXTS)
    assert _votes(demo_con) == votes


@pytest.fixture(scope="module")
def http_server():
    """tests/openai_server.py serving the bundled model; yields its base URL."""
    process = subprocess.Popen([sys.executable, str(HERE / "openai_server.py")], stdout=subprocess.PIPE, text=True)
    try:
        yield f"http://127.0.0.1:{int(process.stdout.readline())}/v1"
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)


@pytest.mark.slow
def test_http_path_through_ray_answers_as_the_local_openai_backend(cluster, http_server, demo_con, project):
    options = {"max_prompt_tokens": 32}
    local = lfs_for_backend(OpenAIBackend(None, base_urls=[http_server]), project, project.categories, ["direct_pl"],
                            options, cache=LLMCache(demo_con))
    assert local[0].mode == "choice"  # constrained to the label words by the server
    apply_lfs(demo_con, local, limit=N_TEXTS)
    expected = demo_con.execute("SELECT key, label, confidence, response FROM llm_cache ORDER BY key").fetchall()
    expected_votes = _votes(demo_con)
    assert len(expected) == N_TEXTS and all(0 <= label <= 4 for _, label, _, _ in expected)
    demo_con.execute("DELETE FROM llm_cache; DELETE FROM votes")

    through_ray = build_llm_lfs(demo_con, project, backend="openai", views=["direct_pl"],
                                options={**options, "engine": "ray", "replicas": 2, "base_urls": [http_server]})
    result = apply_lfs(demo_con, through_ray, limit=N_TEXTS)
    assert result.lfs["llm_direct_pl"]["model_calls"] == N_TEXTS
    assert demo_con.execute("SELECT key, label, confidence, response FROM llm_cache ORDER BY key").fetchall() == expected
    assert _votes(demo_con) == expected_votes

    # A URL the server does not know (HTTP 404) stops the job with the replica's own message.
    demo_con.execute("DELETE FROM llm_cache; DELETE FROM votes")
    wrong = http_server.removesuffix("/v1") + "/nowhere/v1"
    lfs = build_llm_lfs(demo_con, project, backend="openai", views=["direct_pl"],
                        options={**options, "engine": "ray", "base_urls": [wrong]})
    with pytest.raises(BackendError, match=f"^{wrong} answered HTTP 404") as failure:
        apply_lfs(demo_con, lfs, limit=N_TEXTS)
    assert "\n" not in str(failure.value)
    assert demo_con.execute("SELECT (SELECT count(*) FROM llm_cache) + (SELECT count(*) FROM votes)").fetchall() == [(0,)]


@pytest.mark.slow
def test_a_replica_killed_mid_job_is_restarted_and_every_prompt_answered_once(cluster, local_answers, demo_con,
                                                                              project):
    lfs = build_llm_lfs(demo_con, project, views=VIEWS, options={**OPTIONS, "engine": "ray", "replicas": 2})
    seen: list[set[int]] = []  # replica pids before the kill, then after it
    killed: dict = {}
    finished = threading.Event()
    failure: list[BaseException] = []

    def killer() -> None:
        cur = demo_con.cursor()  # a connection of its own: the run writes through demo_con
        try:
            before: set[int] = set()
            while not finished.is_set() and not killed:
                before |= _replica_pids()
                cached = cur.execute("SELECT count(*) FROM llm_cache").fetchall()[0][0]
                if cached and before:  # a first batch is committed: the job is under way
                    victim = min(_replica_pids())
                    os.kill(victim, signal.SIGKILL)
                    killed.update(pid=victim, cached=cached)
                time.sleep(0.02)
            after: set[int] = set()
            while not finished.is_set():
                after |= _replica_pids()
                time.sleep(0.05)
            seen.extend([before, after])
        except BaseException as exc:  # surfaced in the test's thread
            failure.append(exc)
        finally:
            cur.close()

    watcher = threading.Thread(target=killer)
    watcher.start()
    try:
        result = apply_lfs(demo_con, lfs, limit=N_TEXTS)
    finally:
        finished.set()
        watcher.join()
    assert not failure, failure
    assert killed and 0 < killed["cached"] < PROMPTS  # killed mid-job
    before, after = seen
    assert killed["pid"] not in after and after - before  # Ray restarted the replica in a new process
    for metrics in result.lfs.values():
        assert (metrics["model_calls"], metrics["calibration_calls"]) == (N_TEXTS, 3)
    assert demo_con.execute("SELECT count(*), count(DISTINCT key) FROM llm_cache").fetchall() == [(PROMPTS, PROMPTS)]
    assert demo_con.execute("SELECT count(*), count(DISTINCT (doc_id, lf)) FROM votes").fetchall() == [
        (N_TEXTS * len(VIEWS),) * 2]
    _assert_same_answers(_cached(demo_con), local_answers[0])


@pytest.mark.slow
def test_cli_driver_killed_mid_run_resumes_without_repeated_calls(cluster, demo_con, project):
    demo_con.close()  # one writer process at a time: the CLI opens the file itself
    config = project.root / "admedtagger.toml"
    settings = "\n".join(f"{k} = {json.dumps(v)}" for k, v in {**OPTIONS, "views": VIEWS}.items())
    config.write_text(config.read_text(encoding="utf-8") + f'\n[llm]\n{settings}\n[label]\npython = ["lfs.py"]\n',
                      encoding="utf-8")
    (project.root / "lfs.py").write_text(PROGRESS_LF, encoding="utf-8")
    progress = project.root / "progress.log"
    command = [sys.executable, "-m", "admedtagger.cli", "label", "--kind", "llm", "--kind", "python",
               "--engine", "ray", "--ray-address", cluster, "--replicas", "1", "--limit", str(N_TEXTS),
               "--batch-size", str(N_TEXTS // 2)]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}

    run = subprocess.Popen(command, cwd=project.root, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 300
    # The python LF sees the first batch after the Ray job answered its prompts; the
    # driver is killed while it commits that batch or serves the next one.
    while time.monotonic() < deadline and run.poll() is None:
        if progress.exists() and len(progress.read_text().splitlines()) >= N_TEXTS // 2:
            break
        time.sleep(0.05)
    assert run.poll() is None, run.stdout.read().decode()
    os.kill(run.pid, signal.SIGKILL)
    run.wait()

    con = connect(project.db_path())
    try:
        cached = con.execute("SELECT count(*) FROM llm_cache").fetchall()[0][0]
        killed = dict(con.execute("SELECT lf, count(*) FROM votes GROUP BY lf").fetchall())
        status = con.execute("SELECT status FROM runs WHERE stage = 'label'").fetchall()
    finally:
        con.close()
    # The first batch's prompts (and the content-free ones) were answered before its votes.
    assert N_TEXTS // 2 * len(VIEWS) + len(CONTENT_FREE_TEXTS) * len(VIEWS) <= cached < PROMPTS
    assert killed.get("py_progress", 0) in (0, N_TEXTS // 2)
    assert status == [("interrupted",)]

    done = subprocess.run(command, cwd=project.root, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    con = connect(project.db_path(), read_only=True)
    try:
        per_lf = con.execute("SELECT lf, count(*), count(DISTINCT doc_id) FROM votes GROUP BY lf ORDER BY lf").fetchall()
        params, metrics = con.execute(
            "SELECT params, metrics FROM runs WHERE stage = 'label' AND status = 'ok'").fetchall()[0]
        final = con.execute("SELECT count(*), count(DISTINCT key) FROM llm_cache").fetchall()
    finally:
        con.close()
    assert per_lf == [("llm_direct_pl", N_TEXTS, N_TEXTS), ("llm_persona_pl", N_TEXTS, N_TEXTS),
                      ("py_progress", N_TEXTS, N_TEXTS)]
    assert json.loads(params)["options"]["engine"] == "ray"
    lfs = json.loads(metrics)["lfs"]
    # Only what the killed run had not cached went to the model again, each prompt once.
    assert sum(lfs[name][calls] for name in ("llm_direct_pl", "llm_persona_pl")
               for calls in ("model_calls", "calibration_calls")) == PROMPTS - cached
    assert final == [(PROMPTS, PROMPTS)]


@pytest.mark.slow
@pytest.mark.vllm
def test_vllm_replica_answers_as_the_local_vllm_backend(cluster, demo_con, project):
    """Runs in .venv-vllm (make test): vLLM's engine in a Ray replica, constrained choice."""
    pytest.importorskip("vllm", reason="vLLM is not installed here: this test runs in .venv-vllm")
    from admedtagger.labeling.llm.backend_vllm import VLLMBackend

    options = {"max_prompt_tokens": 32, "max_model_len": 1024}
    through_ray = build_llm_lfs(demo_con, project, backend="vllm", views=["direct_pl"],
                                options={**options, "engine": "ray"})
    result = apply_lfs(demo_con, through_ray, limit=N_TEXTS)
    assert result.lfs["llm_direct_pl"]["model_calls"] == N_TEXTS
    assert result.lfs["llm_direct_pl"]["out_of_label_set"] == 0  # the constraint held in the replica
    answers = demo_con.execute("SELECT key, label, confidence, response FROM llm_cache ORDER BY key").fetchall()
    votes = _votes(demo_con)
    demo_con.execute("DELETE FROM llm_cache; DELETE FROM votes")

    engine = VLLMBackend(None, max_model_len=1024)
    try:
        apply_lfs(demo_con, lfs_for_backend(engine, project, project.categories, ["direct_pl"], options,
                                            cache=LLMCache(demo_con)), limit=N_TEXTS)
    finally:
        engine.close()
    assert demo_con.execute("SELECT key, label, confidence, response FROM llm_cache ORDER BY key").fetchall() == answers
    assert _votes(demo_con) == votes
