"""The LLM labelling function: render prompts, answer from the cache or the model, vote.

For a batch of texts: render each prompt (truncated to the token budget), look every key
up in ``llm_cache`` with one query, send the distinct missing prompts to the backend,
commit each chunk of new answers to the cache as it arrives, then turn answers into
votes. On a backend that answers several LFs at once (the Ray engine), the runner first
hands the batch to the LFs' :class:`ServedTogether`, which sends every LF's missing
prompts in one call and commits each answered chunk the same way; ``apply`` then takes
the answers it served.

* logprobs mode: the answer's label-word masses go through :mod:`.calibration` (label
  mass rule, contextual calibration against the LF's content-free prompts, which are
  answered through the same cache the first time the LF votes): a choice view votes the
  calibrated argmax with its calibrated probability as confidence; a yes/no view votes
  its category when the calibrated P(yes) > 0.5 (confidence P(yes)) and abstains
  otherwise.
* choice mode: a choice view votes the answered category, a yes/no view its category on
  yes; an answer outside the label set is an abstain.

A request that failed is an abstain in either mode.

``metrics`` (summed over calls): ``model_calls`` (prompts of texts sent to the model),
``cache_hits`` (texts answered from the cache), ``calibration_calls`` (content-free
prompts sent to the model), ``low_label_mass`` (logprobs answers abstaining by the mass
rule), ``out_of_label_set`` (choice answers that are no label word), ``truncated``,
``failed_requests``.
"""

from __future__ import annotations

import json
from typing import Sequence

import numpy as np

from admedtagger.warehouse import NONE_LABEL

from ..base import LabelingFunction, Vote
from .backend import Answer, Backend
from .cache import CachedAnswer, LLMCache, cache_key
from .calibration import CONTENT_FREE_TEXTS, VoteRule, calibrated, choose, content_free_prior
from .labels import LabelSet
from .prompts import Prompt, Prompter

METRICS = ("model_calls", "cache_hits", "calibration_calls", "low_label_mass", "out_of_label_set", "truncated",
           "failed_requests")


class LLMLabelingFunction(LabelingFunction):
    """One prompt view (for a yes/no view: one of its categories) as an LF.

    ``category``: None for a choice view (answer index = category id); for a yes/no view
    the category id it votes when the answer is yes (index 0). ``rule``: how a logprobs
    answer votes (:class:`.calibration.VoteRule`); None in choice mode.
    """

    def __init__(self, name: str, spec: dict, *, prompter: Prompter, labels: LabelSet, backend: Backend,
                 mode: str, read_params: dict, cache: LLMCache | None, category: int | None = None,
                 rule: VoteRule | None = None):
        super().__init__(name=name, kind="llm", spec=spec, metrics=dict.fromkeys(METRICS, 0))
        self.prompter = prompter
        self.labels = labels
        self.backend = backend
        self.mode = mode
        self.read_params = read_params
        self.cache = cache
        self.category = category
        self.rule = rule
        self._prior: np.ndarray | None = None
        self._prior_read = False
        self.batch_size = backend.docs_per_batch  # the runner's default documents per batch
        # Answers served for the batch in hand by a ServedTogether group (failed ones too,
        # which are not cached), and the texts whose prompts were rendered for it.
        self._served: dict[str, Answer] = {}
        self._rendered: tuple[Sequence[str], list[Prompt]] | None = None

    def apply(self, texts: Sequence[str]) -> list[Vote]:
        prompts = self._render(texts)
        self.metrics["truncated"] += sum(p.truncated for p in prompts)
        try:
            answers = self._answers(prompts, calls="model_calls", hits="cache_hits")
            if not answers:
                return []
            prior = self.prior()
            return [self._vote(answer, prior) for answer in answers]
        finally:
            self._served.clear()
            self._rendered = None

    def pending(self, texts: Sequence[str]) -> list[tuple[str, list[tuple[str, Prompt]]]]:
        """What :meth:`apply` on ``texts`` would send to the model: ``(counter, [(cache key,
        prompt)])`` for the texts' prompts and, while the prior is unread, the content-free
        ones, each without the prompts already cached or served, without repeats."""
        wanted = [("model_calls", self._render(texts))]
        if self.rule is not None and self.rule.calibrate and not self._prior_read:
            wanted.append(("calibration_calls", [self.prompter.render(t) for t in CONTENT_FREE_TEXTS]))
        out = []
        for counter, prompts in wanted:
            keys = self._keys(prompts)
            cached = self.cache.lookup([k for k in keys if k not in self._served]) if self.cache else {}
            todo = {k: p for k, p in zip(keys, prompts) if k not in cached and k not in self._served}
            if todo:
                out.append((counter, list(todo.items())))
        return out

    def store_answers(self, todo: list[tuple[str, Prompt]], indices: list[int], answers: list[Answer],
                      counter: str, into: dict | None = None) -> None:
        """Commit answers to ``todo[indices]`` to the cache (failed ones are not cached) and
        count them under ``counter``; keep them in ``into`` (default: served for this batch)."""
        into = self._served if into is None else into
        rows = []
        for i, answer in zip(indices, answers):
            key, prompt = todo[i]
            into[key] = answer
            self.metrics[counter] += 1
            if answer.failed:
                self.metrics["failed_requests"] += 1
            else:
                rows.append(self._cache_row(key, prompt.messages, answer))
        if self.cache:
            self.cache.store(rows)

    def _render(self, texts: Sequence[str]) -> list[Prompt]:
        if self._rendered is None or self._rendered[0] is not texts:
            self._rendered = (texts, [self.prompter.render(t) for t in texts])
        return self._rendered[1]

    def _keys(self, prompts: Sequence[Prompt]) -> list[str]:
        return [cache_key(self.backend.model_id, p.messages, self.read_params) for p in prompts]

    def prior(self) -> np.ndarray | None:
        """The calibration prior ``p_cf`` (K,) of this LF, read once per instance; None
        when not calibrating (choice mode, ``calibrate = false``, no usable answer)."""
        if self.rule is None or not self.rule.calibrate:
            return None
        if not self._prior_read:
            answers = self._answers([self.prompter.render(t) for t in CONTENT_FREE_TEXTS], calls="calibration_calls")
            usable = [a.scores for a in answers if not _failed(a) and a.scores is not None]
            self._prior = content_free_prior(usable)
            self._prior_read = True
        return self._prior

    def _answers(self, prompts: list[Prompt], calls: str, hits: str | None = None) -> list[CachedAnswer | Answer]:
        """One answer per prompt: served for this batch, else from the cache, else from the
        backend (stored as it comes)."""
        keys = self._keys(prompts)
        known: dict[str, CachedAnswer | Answer] = {k: self._served[k] for k in keys if k in self._served}
        cached = self.cache.lookup([k for k in keys if k not in known]) if self.cache else {}
        if hits:
            self.metrics[hits] += sum(k in cached for k in keys)
        known.update(cached)
        todo = list({k: p for k, p in zip(keys, prompts) if k not in known}.items())
        if todo:
            for indices, answers in self.backend.answer([p for _, p in todo], self.labels, self.mode):
                self.store_answers(todo, indices, answers, calls, into=known)
        return [known[k] for k in keys]

    def _vote(self, answer: CachedAnswer | Answer, prior: np.ndarray | None) -> Vote:
        if _failed(answer):
            return Vote(NONE_LABEL)
        if self.rule is not None:  # logprobs mode
            q = calibrated(answer.scores, prior, self.rule.min_label_mass)
            if q is None:
                self.metrics["low_label_mass"] += 1
            chosen = choose(q, yesno=self.category is not None)
            if chosen is None:
                return Vote(NONE_LABEL)
            index, confidence = chosen
        else:
            if answer.index < 0:
                self.metrics["out_of_label_set"] += 1
                return Vote(NONE_LABEL)
            index, confidence = answer.index, answer.confidence
        if self.category is None:
            return Vote(index, confidence)
        return Vote(self.category, confidence) if index == 0 else Vote(NONE_LABEL)

    def _cache_row(self, key: str, messages: list[dict], answer: Answer) -> dict:
        return {
            "key": key, "model": self.backend.model_id, "params": json.dumps(self.read_params, ensure_ascii=False),
            "prompt": json.dumps(messages, ensure_ascii=False), "response": answer.response, "label": answer.index,
            "confidence": answer.confidence, "scores": answer.scores, "prompt_tokens": answer.prompt_tokens,
            "completion_tokens": answer.completion_tokens, "latency_ms": answer.latency_ms,
        }


def _failed(answer: CachedAnswer | Answer) -> bool:
    return isinstance(answer, Answer) and answer.failed


class ServedTogether:
    """LLM LFs on one backend that answers several LFs' prompts in one call
    (:meth:`.backend_ray.RayBackend.answer_groups`: one Ray job per batch, not one per LF).

    The runner calls :meth:`prepare` with each LF's texts of a batch before asking the LFs
    for votes: every pending prompt (not cached) goes to the backend at once, each answered
    chunk is committed to the cache by its LF (:meth:`LLMLabelingFunction.store_answers`,
    the path of a lone LF too), and the LFs' ``apply`` then finds every answer.
    """

    def __init__(self, backend: Backend):
        self.backend = backend

    def prepare(self, work: Sequence[tuple[LLMLabelingFunction, Sequence[str]]]) -> None:
        requests = [(lf, counter, todo) for lf, texts in work for counter, todo in lf.pending(texts)]
        if not requests:
            return
        groups = [([p for _, p in todo], lf.labels, lf.mode) for lf, _, todo in requests]
        for g, indices, answers in self.backend.answer_groups(groups):
            lf, counter, todo = requests[g]
            lf.store_answers(todo, indices, answers, counter)
