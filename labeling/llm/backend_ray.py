"""Serving a backend's prompts on a Ray cluster with Ray Data (``--engine ray``).

The Ray engine is a way of *serving* prompts, not another model: it wraps one of the
local backends (transformers, vllm, openai: the *inner* backend) and runs copies of it,
the *replicas*, as a Ray Data actor pool. Prompts are rendered here, with the inner
backend's tokenizer, so they and their cache keys (model id, prompt, reading params) are
exactly those of the local backend; answers are read on the replicas by the local
backend's own code (label-word masses, constrained choices, retries over HTTP), so a
prompt gets the same cached answer whichever engine served it.

:meth:`RayBackend.answer_groups` sends the pending prompts of several labelling
functions (each with its own label words) as one Ray Dataset, one job: the replicas
start and load the model once per job, not once per LF. Prompts are sorted by length
within each LF and cut into Ray batches of the inner backend's natural size (one
forward pass of ``batch_size`` prompts, one round of ``chunk_size`` HTTP requests, one
vLLM ``generate`` of ``docs_per_batch``); the driver iterates the answered batches as
they finish and yields them, so the caller commits each batch to ``llm_cache`` before
the next arrives. Ray Data restarts a replica that dies and runs its batch again
(``max_restarts=-1``, ``max_task_retries=-1``); a batch is yielded once, when it is
done, so a killed worker costs a retry, never a duplicate answer.

``replicas``: a fixed number of copies (``4``), or a range ``[min, max]`` (``"1-8"`` on
the command line) that Ray Data autoscales within. Each replica asks Ray for one CPU
(transformers: ``threads`` CPUs, torch using as many threads), and, when the cluster has
GPUs, one GPU (vllm: ``tensor_parallel_size`` GPUs; transformers unless ``device`` is
``cpu``); an openai replica only sends requests. ``ray_address``: the cluster to join
(``HOST:PORT`` of its head node); without one, Ray joins the cluster started on this
machine with ``ray start``, if any, else starts a private one for the run (and stops it
when the backend is closed or the process ends).
Every node needs admedtagger with the inner backend's dependencies, and a model folder
must exist at the same path on every node (a Hugging Face id or the bundled default
resolve on each node).
"""

from __future__ import annotations

import json
import logging
import re
import socket
from typing import Iterator, Sequence

import pyarrow as pa

from admedtagger.warehouse import UserError

from .backend import Answer, Backend, BackendError, make_backend
from .labels import LabelSet
from .prompts import Prompt

RAY_MISSING = "the ray engine needs Ray Data: pip install 'admedtagger[ray]'"

# Documents per runner batch: one Ray job answers every LF's prompts of a batch, and a job
# pays for starting its replicas and loading the model, so batches are large; answers are
# still committed to llm_cache Ray batch by Ray batch as they come back.
DOCS_PER_JOB = 4096

_REQUESTS = pa.schema([
    ("group", pa.int32()), ("i", pa.int32()), ("messages", pa.string()), ("text", pa.string()),
    ("ids", pa.list_(pa.int32())),
])
_ANSWERS = pa.schema([
    ("group", pa.int32()), ("i", pa.int32()), ("index", pa.int32()), ("confidence", pa.float64()),
    ("scores", pa.list_(pa.float64())), ("response", pa.string()), ("prompt_tokens", pa.int32()),
    ("completion_tokens", pa.int32()), ("latency_ms", pa.float64()), ("failed", pa.bool_()),
    ("error", pa.string()),
])


_CHUNK = {"transformers": "batch_size", "openai": "chunk_size", "vllm": "docs_per_batch"}


def require_ray():
    """The ``ray`` module with Ray Data, or a :class:`BackendError` saying what to install."""
    try:
        import ray
        import ray.data  # noqa: F401  (ray without the [data] extra lacks it)
    except ImportError as exc:
        raise BackendError(RAY_MISSING) from exc
    return ray


def parse_replicas(value) -> int | tuple[int, int]:
    """``4``, ``"4"`` -> 4; ``[1, 8]``, ``"1-8"`` -> (1, 8): a fixed pool or an autoscaling range."""
    bounds = value
    if isinstance(value, str):
        match = re.fullmatch(r"\s*(\d+)\s*(?:-\s*(\d+)\s*)?", value)
        bounds = None if match is None else (int(match[1]) if match[2] is None else [int(match[1]), int(match[2])])
    if isinstance(bounds, int) and not isinstance(bounds, bool) and bounds >= 1:
        return bounds
    if (isinstance(bounds, (list, tuple)) and len(bounds) == 2 and all(isinstance(b, int) for b in bounds)
            and 1 <= bounds[0] <= bounds[1]):
        return (bounds[0], bounds[1]) if bounds[0] < bounds[1] else bounds[0]
    raise BackendError(f"replicas = {value!r}: expected a whole number >= 1 (a fixed pool) or a range "
                       "MIN-MAX / [MIN, MAX] with 1 <= MIN <= MAX (an autoscaling pool)")


class RayBackend(Backend):
    """The inner backend ``inner`` (with ``model`` and its ``options``) served by a Ray Data actor pool."""

    name = "ray"
    docs_per_batch = DOCS_PER_JOB

    def __init__(self, inner: str, model: str | None, options: dict, *, address: str | None = None,
                 replicas=1):
        self._ray = require_ray()
        self.replicas = parse_replicas(replicas)
        if address:
            _check_reachable(address)
        # Built here only to render prompts (tokenizer, model id, reading modes): none of
        # the backends loads its model before the first prompt, and this copy gets none.
        self.local = make_backend(inner, model, options)
        self.inner, self.model = inner, model
        self.options = {k: v for k, v in options.items() if k in self.local.OPTIONS}
        self.model_id = self.local.model_id
        self.tokenizer = self.local.tokenizer
        self.modes = self.local.modes
        self.address = address
        # A Ray batch is what the backend answers as one chunk: one forward pass
        # (transformers), one round of concurrent requests (openai), one generate (vllm).
        self.prompts_per_batch = getattr(self.local, _CHUNK[inner])
        self._started_ray = False

    def describe(self) -> dict:
        inner = self.local.describe()
        return {**inner, "backend": f"ray/{inner['backend']}", "ray_address": self.address,
                "replicas": list(self.replicas) if isinstance(self.replicas, tuple) else self.replicas}

    def answer(self, prompts: Sequence[Prompt], labels: LabelSet, mode: str) -> Iterator[tuple[list[int], list[Answer]]]:
        for _, indices, answers in self.answer_groups([(prompts, labels, mode)]):
            yield indices, answers

    def answer_groups(self, groups: Sequence[tuple[Sequence[Prompt], LabelSet, str]],
                      ) -> Iterator[tuple[int, list[int], list[Answer]]]:
        """Answer every group's prompts (each group: prompts, label words, reading mode) in
        one Ray job; yield ``(group, indices into its prompts, answers)`` per finished batch."""
        for _, _, mode in groups:
            if mode not in self.modes:
                raise BackendError(f"the {self.inner} backend reads answers as {' or '.join(self.modes)}, not {mode!r}")
        blocks = self._request_blocks(groups)
        if not blocks:
            return
        ray = self._connect()
        dataset = ray.data.from_arrow(blocks).map_batches(
            _Replica, batch_size=self.prompts_per_batch, batch_format="pyarrow",
            fn_constructor_kwargs={"inner": self.inner, "model": self.model, "options": self.options,
                                   "readings": [(labels, mode) for _, labels, mode in groups]},
            compute=self._pool(len(blocks)), **self._replica_resources(),
        )
        try:
            for table in dataset.iter_batches(batch_size=None, batch_format="pyarrow"):
                yield from _answers_by_group(table)
        except ray.exceptions.RayError as exc:
            raise BackendError(f"the Ray job failed: {_first_error(str(exc))}") from exc

    def _request_blocks(self, groups) -> list[pa.Table]:
        """One Arrow table per Ray batch: each group's prompts by length (little padding),
        cut into batches of ``prompts_per_batch``."""
        blocks = []
        for g, (prompts, _, _) in enumerate(groups):
            order = sorted(range(len(prompts)), key=lambda i: len(prompts[i].ids) if prompts[i].ids else 0)
            for start in range(0, len(order), self.prompts_per_batch):
                chunk = order[start:start + self.prompts_per_batch]
                blocks.append(pa.Table.from_pydict({
                    "group": [g] * len(chunk), "i": chunk,
                    "messages": [json.dumps(prompts[i].messages, ensure_ascii=False) for i in chunk],
                    "text": [prompts[i].text for i in chunk], "ids": [prompts[i].ids for i in chunk],
                }, schema=_REQUESTS))
        return blocks

    def _pool(self, batches: int):
        """The actor pool: no more replicas than batches (each would load the model for nothing)."""
        if isinstance(self.replicas, tuple):
            low, high = (min(n, batches) for n in self.replicas)
            if low < high:
                return self._ray.data.ActorPoolStrategy(min_size=low, max_size=high)
            return self._ray.data.ActorPoolStrategy(size=low)
        return self._ray.data.ActorPoolStrategy(size=min(self.replicas, batches))

    def _replica_resources(self) -> dict:
        gpus = self._ray.cluster_resources().get("GPU", 0) > 0
        if self.inner == "openai":
            return {"num_cpus": 1}
        if self.inner == "vllm":
            return {"num_cpus": 1, "num_gpus": int(self.options.get("tensor_parallel_size") or 1) if gpus else 0}
        on_gpu = gpus and str(self.options.get("device") or "cuda").startswith("cuda")
        return {"num_cpus": int(self.options.get("threads") or 1), "num_gpus": 1 if on_gpu else 0}

    def _connect(self):
        ray = self._ray
        if not ray.is_initialized():
            try:
                ray.init(address=self.address, logging_level=logging.WARNING)
            except (ConnectionError, ValueError, RuntimeError) as exc:
                where = f"at {self.address}" if self.address else "on this machine"
                raise BackendError(f"cannot join or start a Ray cluster {where}: {exc}") from exc
            self._started_ray = True
        # The label command shows its own progress: no Ray Data bars, nor progress logs
        # (nor the warning that the bars are off).
        ray.data.DataContext.get_current().enable_progress_bars = False
        logging.getLogger("ray.data").setLevel(logging.WARNING)
        logging.getLogger("ray.data._internal.progress").setLevel(logging.ERROR)
        return ray

    def close(self) -> None:
        if self._started_ray and self._ray.is_initialized():
            self._ray.shutdown()
        self._started_ray = False
        self.local.close()


class _Replica:
    """One copy of the inner backend on a Ray worker: loads the model once, answers batches.

    ``readings[g]``: the label words and reading mode of group ``g``.
    """

    def __init__(self, inner: str, model: str | None, options: dict, readings: list[tuple[LabelSet, str]]):
        self.backend = make_backend(inner, model, options)
        self.readings = readings

    def __call__(self, batch: pa.Table) -> pa.Table:
        rows = batch.to_pylist()
        out = []
        try:
            for g in sorted({r["group"] for r in rows}):
                members = [r for r in rows if r["group"] == g]
                prompts = [Prompt(json.loads(r["messages"]), r["text"], r["ids"], False) for r in members]
                labels, mode = self.readings[g]
                for indices, answers in self.backend.answer(prompts, labels, mode):
                    for i, a in zip(indices, answers):
                        out.append({
                            "group": g, "i": members[i]["i"], "index": a.index, "confidence": a.confidence,
                            "scores": a.scores, "response": a.response, "prompt_tokens": a.prompt_tokens,
                            "completion_tokens": a.completion_tokens, "latency_ms": a.latency_ms,
                            "failed": a.failed,
                        })
        except UserError as exc:
            # A wrong key, URL or model: Ray would pass the exception on as text only, so
            # it comes back as data, for the driver to stop the job with its message.
            out = [{"group": -1, "i": -1, "index": -1, "failed": True, "error": str(exc)}]
        return pa.Table.from_pylist(out, schema=_ANSWERS)


def _check_reachable(address: str) -> None:
    """Fail at once on a ``HOST:PORT`` nobody listens on (Ray itself would retry for minutes)."""
    match = re.fullmatch(r"(?:ray://)?\[?([^\[\]]+?)\]?:(\d+)", address.strip())
    if match is None:
        return  # "auto" and the like: Ray says what is wrong with them
    try:
        socket.create_connection((match[1], int(match[2])), timeout=5).close()
    except OSError as exc:
        raise BackendError(f"cannot reach the Ray cluster at {address}: {exc.strerror or exc}") from exc


def _answers_by_group(table: pa.Table) -> Iterator[tuple[int, list[int], list[Answer]]]:
    by_group: dict[int, tuple[list[int], list[Answer]]] = {}
    for r in table.to_pylist():
        if r["error"] is not None:
            raise BackendError(r["error"])
        indices, answers = by_group.setdefault(r["group"], ([], []))
        indices.append(r["i"])
        answers.append(Answer(r["index"], r["confidence"], r["scores"], r["response"], r["prompt_tokens"],
                              r["completion_tokens"], r["latency_ms"], r["failed"]))
    for g, (indices, answers) in by_group.items():
        yield g, indices, answers


def _first_error(text: str) -> str:
    """The first ``SomeError: message`` line of a Ray failure's text (its root cause), else
    its first line, without terminal colours."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", text)
    found = re.search(r"^\s*(?:[\w.]+\.)?(\w+(?:Error|Exception|Exit)\b.*)$", text, re.MULTILINE)
    lines = text.strip().splitlines()
    return found[1] if found else (lines[0] if lines else "no message")
