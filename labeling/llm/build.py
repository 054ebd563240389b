"""Turning a project's prompt views into LLM labelling functions.

Settings come from the ``[llm]`` section of admedtagger.toml, overridden by ``options``
(the CLI's pass-through flags; None values are ignored):

=====================  =============================================================
``backend``            transformers (default), vllm, openai
``engine``             local (default: the backend runs in this process) or ray (the
                       backend's replicas on a Ray cluster, see :mod:`.backend_ray`)
``ray_address``        the Ray cluster to join (ray engine; default: this machine's)
``replicas``           copies of the backend on the cluster: N, or [MIN, MAX] (ray, 1)
``model``              Hugging Face id or folder; default: the bundled SmolLM2
``views``              view names to use (default: all views of the pack and project)
``views_files``        the project's view files (default: views.toml next to the config)
``mode``               logprobs or choice (default: the backend's: transformers
                       logprobs, vllm and openai choice)
``max_prompt_tokens``  tokens of a text that go into a prompt; longer texts are cut (256)
``min_label_mass``     logprobs mode: an answer whose label words hold less of the next
                       token's probability abstains (0.01; see :mod:`.calibration`)
``calibrate``          logprobs mode: contextual calibration against content-free
                       prompts (true; see :mod:`.calibration`)
``batch_size``         prompts per forward pass (transformers, 16)
``threads``            torch CPU threads (transformers)
``device``, ``dtype``  where and how the transformers model runs
``base_urls``          OpenAI-compatible servers, used in turn (openai)
``api_key``, ``concurrency``, ``timeout_s``, ``max_retries``, ``backoff_s``,
``tokenizer``          (openai, see :mod:`.backend_openai`)
``max_model_len``, ``enforce_eager``, ``gpu_memory_utilization``,
``tensor_parallel_size``  (vllm, see :mod:`.backend_vllm`)
=====================  =============================================================

LF names: ``llm_<view>`` for a choice view, ``llm_<view>_<category>`` (lower-case
category name) for each category of a yes/no view. An LF's spec holds the view, its
label words, the model id, the reading params, the token budget, the vote rule of the
logprobs mode (``vote``: the label-mass floor and the content-free texts, these None
when not calibrating; ``vote`` is None in choice mode) and, for a few-shot view, the example doc ids, so changing any of them
changes its version; the backend, the engine and their settings are not part of it.

The reading params (part of every cache key) say how an answer was read:
``{"mode": "logprobs", "words": [...], "scores": "mass"}`` (``scores`` are the words'
raw probability masses, see :mod:`.labels`) or ``{"mode": "choice", "words": [...],
"temperature": 0}``.
"""

from __future__ import annotations

import re
from typing import Sequence

import duckdb

from admedtagger.warehouse import Category, Config
from admedtagger.warehouse import categories as stored_categories

from .backend import Backend, BackendError, make_backend
from .cache import LLMCache
from .calibration import DEFAULT_MIN_LABEL_MASS, VoteRule
from .labels import label_set
from .lf import LLMLabelingFunction, ServedTogether
from .prompts import Prompter, truncate
from .views import Example, Task, View, load_views, pick_examples, select_views

DEFAULT_MAX_PROMPT_TOKENS = 256


def settings(config: Config, options: dict | None) -> dict:
    """The ``[llm]`` section with the non-None ``options`` on top."""
    merged = config.section("llm")
    merged.update({k: v for k, v in (options or {}).items() if v is not None})
    if "base_url" in merged:  # the CLI's repeatable --base-url
        urls = merged.pop("base_url")
        merged["base_urls"] = [urls] if isinstance(urls, str) else list(urls)
    return merged


def gold_examples(con: duckdb.DuckDBPyConnection) -> list[Example]:
    """Gold dev documents with a category, in a stable order (md5 of doc id).

    Never the test split: few-shot prompts must not see what the evaluation scores.
    """
    rows = con.execute(
        "SELECT g.doc_id, d.text, g.label FROM gold g JOIN documents d USING (doc_id) "
        "WHERE g.split = 'dev' AND g.label >= 0 ORDER BY md5(g.doc_id), g.doc_id"
    ).fetchall()
    return [Example(doc_id, text, label) for doc_id, text, label in rows]


def build_llm_lfs(con: duckdb.DuckDBPyConnection | None, config: Config, *, backend: str | None = None,
                  model: str | None = None, views: list[str] | None = None,
                  options: dict | None = None) -> list[LLMLabelingFunction]:
    """One LF per prompt view (per category for a yes/no view), sharing one backend.

    ``con`` gives the taxonomy, the few-shot examples and the cache; with ``con=None``
    there is no cache and no few-shot view (used to measure the model itself). The
    model itself loads only when a prompt needs it.
    """
    opts = settings(config, options)
    engine = make_engine(backend or opts.get("backend", "transformers"), model or opts.get("model"), opts)
    cats = tuple(stored_categories(con)) if con is not None else ()
    return lfs_for_backend(
        engine, config, cats or config.categories, views or opts.get("views"), opts,
        examples=gold_examples(con) if con is not None else [],
        cache=LLMCache(con) if con is not None else None,
    )


def make_engine(backend: str, model: str | None, opts: dict) -> Backend:
    """The backend, run here (``engine = "local"``) or as replicas on a Ray cluster (``"ray"``)."""
    engine = opts.get("engine", "local")
    if engine == "local":
        return make_backend(backend, model, opts)
    if engine == "ray":
        from .backend_ray import RayBackend

        return RayBackend(backend, model, opts, address=opts.get("ray_address"), replicas=opts.get("replicas", 1))
    raise BackendError(f"unknown LLM engine {engine!r}; choose local or ray")


def lfs_for_backend(engine: Backend, config: Config, categories: Sequence[Category], views: Sequence[str] | None,
                    opts: dict, examples: Sequence[Example] = (), cache: LLMCache | None = None,
                    ) -> list[LLMLabelingFunction]:
    """The LFs of the chosen views on an existing backend (see :func:`build_llm_lfs`)."""
    mode = opts.get("mode") or engine.modes[0]
    if mode not in engine.modes:
        raise BackendError(f"the {engine.name} backend reads answers as {' or '.join(engine.modes)}, not {mode!r}")
    budget = int(opts.get("max_prompt_tokens", DEFAULT_MAX_PROMPT_TOKENS))
    rule = VoteRule(float(opts.get("min_label_mass", DEFAULT_MIN_LABEL_MASS)),
                    bool(opts.get("calibrate", True))) if mode == "logprobs" else None
    # A backend that answers several LFs' prompts in one call (the Ray engine) serves each
    # batch's pending prompts of all these LFs together.
    together = ServedTogether(engine) if hasattr(engine, "answer_groups") else None
    lfs = []
    for view in select_views(load_views(config), views):
        if view.examples and not examples:
            continue  # few-shot needs dev gold; the view joins once there is some
        targets = [None] if view.kind == "choice" else list(range(len(categories)))
        for category in targets:
            lfs.append(_make_lf(view, tuple(categories), category, engine, mode, budget, examples, cache, rule))
            lfs[-1].batch_group = together
    return lfs


def _make_lf(view: View, categories: tuple[Category, ...], category: int | None, engine: Backend, mode: str,
             budget: int, examples: Sequence[Example], cache: LLMCache | None,
             rule: VoteRule | None) -> LLMLabelingFunction:
    chosen = pick_examples(examples, view.examples) if view.examples else []
    task = Task(view, categories, category)
    answer_for = (lambda label: task.words[label]) if view.kind == "choice" else (
        lambda label: task.words[0] if label == category else task.words[1])
    task.examples = tuple(
        (truncate(ex.text, view.example_tokens, engine.tokenizer)[0], answer_for(ex.label)) for ex in chosen)
    labels = label_set(task.words, engine.tokenizer, f"view {view.name} ({view.source})",
                       check_first_tokens=(mode == "logprobs"))
    read_params = {"mode": mode, "words": list(task.words)}
    if mode == "choice":
        read_params["temperature"] = 0
    else:
        read_params["scores"] = "mass"
    name = f"llm_{view.name}" if category is None else f"llm_{view.name}_{_slug(categories[category].name)}"
    spec = {
        **view.spec(), "words": list(task.words), "model": engine.model_id, "reading": read_params,
        "max_prompt_tokens": budget, "vote": rule.spec() if rule else None,
        "category": categories[category].name if category is not None else None,
        "examples": [ex.doc_id for ex in chosen],
    }
    return LLMLabelingFunction(
        name, spec, prompter=Prompter(task, engine.tokenizer, budget), labels=labels, backend=engine,
        mode=mode, read_params=read_params, cache=cache, category=category, rule=rule,
    )


def _slug(name: str) -> str:
    return re.sub(r"[^0-9a-z]+", "_", name.lower()).strip("_")
