"""Any OpenAI-compatible server (``vllm serve``, llama.cpp server, Ollama) over HTTP.

Chat completions, ``temperature=0``, sent concurrently (``concurrency`` requests in flight,
asyncio + httpx) to one or several base URLs in turn (request i starts at server i mod n): that
is how labelling scales out to many GPU servers. Each request has a timeout (``timeout_s``); a 429, a 5xx, a timeout
or a connection error is retried up to ``max_retries`` times with exponential backoff
(``backoff_s * 2**attempt``, plus jitter), each retry going to the next base URL. A
request that still fails is an abstain, counted as failed and not cached. 401/403/404
mean the configuration is wrong (key, URL, model name) and stop the run with that
message.

Reading modes:

* ``choice`` (default): the body field ``"structured_outputs": {"choice": words}``
  (vLLM >= 0.12; the legacy ``guided_choice`` is answered with unconstrained text and only
  a server-side warning). The reply is matched to a label word; its confidence is
  ``exp(sum of the reply's token logprobs)``.
* ``logprobs``: one token with ``top_logprobs=20``, read like the transformers backend;
  label tokens are matched by their decoded text, so it needs the model's tokenizer
  locally (``tokenizer`` option, or the model id/folder itself). Only this mode is
  calibrated (:mod:`.calibration`); a choice answer carries no distribution over the words.

The request's ``model`` is the backend's model id: serve the model under that name
(``--served-model-name``) so that its answers share the cache with the local backends.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import os
import random
from typing import Iterator, Sequence

import httpx

from .backend import Answer, Backend, BackendError, Stopwatch
from .labels import LabelSet, parse_choice, read_masses
from .model_files import DEFAULT_MODEL, resolve_model
from .prompts import Prompt

TOP_LOGPROBS = 20
CHOICE_MARGIN = 4
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
FATAL_STATUSES = frozenset({401, 403, 404})


class OpenAIBackend(Backend):
    name = "openai"
    modes = ("choice", "logprobs")
    docs_per_batch = 256
    OPTIONS = ("base_urls", "api_key", "concurrency", "timeout_s", "max_retries", "backoff_s", "tokenizer", "chunk_size")

    def __init__(self, model: str | None = None, *, base_urls: Sequence[str] | str | None = None,
                 api_key: str | None = None, concurrency: int = 8, timeout_s: float = 60.0, max_retries: int = 4,
                 backoff_s: float = 0.5, tokenizer: str | None = None, chunk_size: int = 64):
        self.model_id = model or DEFAULT_MODEL
        urls = base_urls or os.environ.get("OPENAI_BASE_URL")
        if not urls:
            raise BackendError("the openai backend needs base_urls (--base-url, [llm] base_urls or $OPENAI_BASE_URL)")
        self.base_urls = [u.rstrip("/") for u in ([urls] if isinstance(urls, str) else urls)]
        self.api_key = api_key or os.environ.get("OPENAI_API_KEY") or "EMPTY"
        self.concurrency = int(concurrency)
        self.timeout_s = float(timeout_s)
        self.max_retries = int(max_retries)
        self.backoff_s = float(backoff_s)
        self.chunk_size = int(chunk_size)
        self.tokenizer = _load_tokenizer(tokenizer, self.model_id)
        self._starts = itertools.count()
        self.stats = {"requests": 0, "retries": 0, "failed": 0}

    def describe(self) -> dict:
        return {**super().describe(), "base_urls": self.base_urls, "concurrency": self.concurrency,
                "timeout_s": self.timeout_s, "max_retries": self.max_retries}

    def answer(self, prompts: Sequence[Prompt], labels: LabelSet, mode: str) -> Iterator[tuple[list[int], list[Answer]]]:
        if mode == "logprobs" and labels.token_strings is None:
            raise BackendError("logprobs mode over HTTP needs the model's tokenizer: pass the tokenizer option")
        for start in range(0, len(prompts), self.chunk_size):
            indices = list(range(start, min(start + self.chunk_size, len(prompts))))
            answers = asyncio.run(self._answer_all([prompts[i] for i in indices], labels, mode))
            yield indices, answers

    async def _answer_all(self, prompts: Sequence[Prompt], labels: LabelSet, mode: str) -> list[Answer]:
        limit = asyncio.Semaphore(self.concurrency)
        headers = {"Authorization": f"Bearer {self.api_key}"}
        async with httpx.AsyncClient(timeout=httpx.Timeout(self.timeout_s), headers=headers) as client:
            async def one(prompt: Prompt) -> Answer:
                async with limit:
                    return await self._ask(client, prompt, labels, mode)

            return list(await asyncio.gather(*(one(p) for p in prompts)))

    def request_body(self, prompt: Prompt, labels: LabelSet, mode: str) -> dict:
        body = {"model": self.model_id, "messages": prompt.messages, "temperature": 0.0, "logprobs": True}
        if mode == "choice":
            body.update(max_tokens=labels.max_tokens + CHOICE_MARGIN, top_logprobs=1,
                        structured_outputs={"choice": list(labels.words)})
        else:
            body.update(max_tokens=1, top_logprobs=TOP_LOGPROBS)
        return body

    async def _ask(self, client: httpx.AsyncClient, prompt: Prompt, labels: LabelSet, mode: str) -> Answer:
        body = self.request_body(prompt, labels, mode)
        watch = Stopwatch()
        problem = ""
        # Requests start at successive servers (round robin); a retry moves on to the next.
        start = next(self._starts)
        for attempt in range(self.max_retries + 1):
            if attempt:
                self.stats["retries"] += 1
                await asyncio.sleep(self.backoff_s * 2 ** (attempt - 1) * (1 + random.random()))
            url = self.base_urls[(start + attempt) % len(self.base_urls)]
            self.stats["requests"] += 1
            try:
                response = await client.post(f"{url}/chat/completions", json=body)
            except (httpx.TimeoutException, httpx.TransportError) as exc:
                problem = f"{url}: {type(exc).__name__}"
                continue
            if response.status_code in RETRY_STATUSES:
                problem = f"{url}: HTTP {response.status_code}"
                continue
            if response.status_code in FATAL_STATUSES:
                raise BackendError(f"{url} answered HTTP {response.status_code}: {response.text[:200]}")
            if response.status_code != 200:
                problem = f"{url}: HTTP {response.status_code} {response.text[:200]}"
                break  # a request the server refuses (e.g. too long) does not get better by retrying
            try:
                answer = self._read(response.json(), labels, mode)
            except (ValueError, KeyError, IndexError, TypeError) as exc:
                problem = f"{url}: unreadable reply ({exc!r})"
                break
            answer.latency_ms = watch.ms()
            return answer
        self.stats["failed"] += 1
        return Answer(-1, None, None, problem, latency_ms=watch.ms(), failed=True)

    def _read(self, reply: dict, labels: LabelSet, mode: str) -> Answer:
        choice = reply["choices"][0]
        usage = reply.get("usage") or {}
        tokens = (choice.get("logprobs") or {}).get("content") or []
        if mode == "choice":
            text = choice["message"]["content"] or ""
            index = parse_choice(text, labels)
            confidence = None
            if index >= 0 and tokens:
                # Servers report -inf as -9999.0: exp() of it is 0 either way.
                confidence = min(1.0, math.exp(sum(t["logprob"] for t in tokens)))
            answer = Answer(index, confidence, None, text)
        else:
            first = tokens[0]
            top = {entry["token"]: entry["logprob"] for entry in first["top_logprobs"]}
            masses = [sum(math.exp(top[s]) for s in group if s in top) for group in labels.token_strings]
            index, confidence, scores = read_masses(masses)
            answer = Answer(index, confidence, scores, first["token"])
        answer.prompt_tokens = usage.get("prompt_tokens")
        answer.completion_tokens = usage.get("completion_tokens")
        return answer


def _load_tokenizer(name: str | None, model_id: str):
    """The tokenizer named by the option, else the model's own if it loads locally, else None."""
    from transformers import AutoTokenizer

    if name is None and model_id == DEFAULT_MODEL:
        name = resolve_model(None)[1]
    try:
        return AutoTokenizer.from_pretrained(name or model_id)
    except (OSError, ValueError) as exc:
        if name is not None:
            raise BackendError(f"cannot load tokenizer {name!r}: {exc}") from exc
        return None
