"""The LLM labelling function: render prompts, answer from the cache or the model, vote.

For a batch of texts: render each prompt (truncated to the token budget), look every key
up in ``llm_cache`` with one query, send the distinct missing prompts to the backend,
commit each chunk of new answers to the cache as it arrives, then turn answers into
votes. A choice view votes the answered category with its probability as confidence; a
yes/no view votes its category when the answer is yes (confidence P(yes)) and abstains
on no. An answer outside the label set, or a request that failed, is an abstain.

``metrics`` (summed over calls): ``model_calls`` (prompts sent to the model),
``cache_hits`` (texts answered from the cache), ``out_of_label_set``, ``truncated``,
``failed_requests``.
"""

from __future__ import annotations

import json
from typing import Sequence

from admedtagger.warehouse import NONE_LABEL

from ..base import LabelingFunction, Vote
from .backend import Answer, Backend
from .cache import CachedAnswer, LLMCache, cache_key
from .labels import LabelSet
from .prompts import Prompter

METRICS = ("model_calls", "cache_hits", "out_of_label_set", "truncated", "failed_requests")


class LLMLabelingFunction(LabelingFunction):
    """One prompt view (for a yes/no view: one of its categories) as an LF.

    ``category``: None for a choice view (answer index = category id); for a yes/no view
    the category id it votes when the answer is yes (index 0).
    """

    def __init__(self, name: str, spec: dict, *, prompter: Prompter, labels: LabelSet, backend: Backend,
                 mode: str, read_params: dict, cache: LLMCache | None, category: int | None = None):
        super().__init__(name=name, kind="llm", spec=spec, metrics=dict.fromkeys(METRICS, 0))
        self.prompter = prompter
        self.labels = labels
        self.backend = backend
        self.mode = mode
        self.read_params = read_params
        self.cache = cache
        self.category = category
        self.batch_size = backend.docs_per_batch  # the runner's default documents per batch

    def apply(self, texts: Sequence[str]) -> list[Vote]:
        prompts = [self.prompter.render(t) for t in texts]
        self.metrics["truncated"] += sum(p.truncated for p in prompts)
        keys = [cache_key(self.backend.model_id, p.messages, self.read_params) for p in prompts]
        known: dict[str, CachedAnswer | Answer] = dict(self.cache.lookup(keys)) if self.cache else {}
        self.metrics["cache_hits"] += sum(k in known for k in keys)
        todo = list({k: p for k, p in zip(keys, prompts) if k not in known}.items())
        if todo:
            for indices, answers in self.backend.answer([p for _, p in todo], self.labels, self.mode):
                rows = []
                for i, answer in zip(indices, answers):
                    key, prompt = todo[i]
                    known[key] = answer
                    self.metrics["model_calls"] += 1
                    if answer.failed:
                        self.metrics["failed_requests"] += 1
                    else:
                        rows.append(self._cache_row(key, prompt.messages, answer))
                if self.cache:
                    self.cache.store(rows)
        return [self._vote(known[k]) for k in keys]

    def _vote(self, answer: CachedAnswer | Answer) -> Vote:
        failed = isinstance(answer, Answer) and answer.failed
        if answer.index < 0:
            if not failed:
                self.metrics["out_of_label_set"] += 1
            return Vote(NONE_LABEL)
        if self.category is None:
            return Vote(answer.index, answer.confidence)
        return Vote(self.category, answer.confidence) if answer.index == 0 else Vote(NONE_LABEL)

    def _cache_row(self, key: str, messages: list[dict], answer: Answer) -> dict:
        return {
            "key": key, "model": self.backend.model_id, "params": json.dumps(self.read_params, ensure_ascii=False),
            "prompt": json.dumps(messages, ensure_ascii=False), "response": answer.response, "label": answer.index,
            "confidence": answer.confidence, "scores": answer.scores, "prompt_tokens": answer.prompt_tokens,
            "completion_tokens": answer.completion_tokens, "latency_ms": answer.latency_ms,
        }
