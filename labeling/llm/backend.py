"""The interface every LLM backend implements, and the factory that picks one.

A backend answers prompts that share one label set, in one reading mode (``logprobs`` or
``choice``, see :mod:`.labels`). It yields answers chunk by chunk, as they are ready, so
the caller can commit each chunk to the cache before asking for the next: a killed run
loses at most one chunk of model work.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Iterator, Sequence

from admedtagger.warehouse import UserError

from .labels import LabelSet
from .prompts import Prompt

BACKENDS = ("transformers", "vllm", "openai")
MODES = ("logprobs", "choice")


class BackendError(UserError):
    pass


@dataclass
class Answer:
    """A model's answer to one prompt.

    ``index`` points into the label words (-1: outside the label set). ``failed``: the
    request did not get an answer (after retries); such answers are abstains and are not
    cached.
    """

    index: int
    confidence: float | None
    scores: list[float] | None
    response: str
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    latency_ms: float = 0.0
    failed: bool = False


class Backend(ABC):
    """A loaded (or lazily loadable) model that answers prompts.

    ``model_id``: the id answers are cached under. ``tokenizer``: a Hugging Face tokenizer
    for rendering, truncation and label tokens, or None when none is available locally.
    ``modes``: the reading modes it supports, the first being its default.
    """

    name: str
    model_id: str
    tokenizer = None
    modes: tuple[str, ...] = MODES
    # Documents per committed batch the runner should use with this backend: small for a
    # local model (a killed run loses little), large for vLLM (it wants many prompts at once).
    docs_per_batch: int = 32

    @abstractmethod
    def answer(self, prompts: Sequence[Prompt], labels: LabelSet, mode: str) -> Iterator[tuple[list[int], list[Answer]]]:
        """Yield ``(indices into prompts, answers)`` chunks until every prompt is answered."""

    def describe(self) -> dict:
        """Facts for the run's params (never part of a cache key)."""
        return {"backend": self.name, "model": self.model_id}

    def close(self) -> None:
        """Free the model (engine, HTTP client)."""


class Stopwatch:
    def __init__(self) -> None:
        self.start = time.perf_counter()

    def ms(self) -> float:
        return (time.perf_counter() - self.start) * 1000.0


def make_backend(name: str, model: str | None, options: dict) -> Backend:
    """Build the named backend (its module is imported only when chosen)."""
    if name == "transformers":
        from .backend_transformers import TransformersBackend

        return TransformersBackend(model, **_pick(options, TransformersBackend.OPTIONS))
    if name == "vllm":
        from .backend_vllm import VLLMBackend

        return VLLMBackend(model, **_pick(options, VLLMBackend.OPTIONS))
    if name == "openai":
        from .backend_openai import OpenAIBackend

        return OpenAIBackend(model, **_pick(options, OpenAIBackend.OPTIONS))
    raise BackendError(f"unknown LLM backend {name!r}; choose one of {', '.join(BACKENDS)}")


def _pick(options: dict, names: tuple[str, ...]) -> dict:
    return {k: v for k, v in options.items() if k in names and v is not None}
