"""Local causal LM with transformers: batched next-token log-probability scoring.

One forward pass per prompt, no generation. Prompts are sorted by length and cut into
batches of ``batch_size`` (little padding), left-padded, and only the last position's
logits are computed (``logits_to_keep=1``). The answer distribution is the softmax over
the whole vocabulary at that position, read as described in :mod:`.labels`.

Prefix sharing (``share_prefix``, on by default): the prompts of one view share their
first tokens (chat template, instructions, few-shot turns). The longest common token
prefix of a batch is run once with batch size 1, its key/value cache repeated to the
batch, and only the differing suffixes run batched, with the padding between prefix and
suffix masked out and position ids continuing after the prefix. The logits are those of
the full prompt (same attention, same positions); ``bench/llm.py`` measures the gain.

The model loads on first use, so a run answered entirely from the cache never loads it.
"""

from __future__ import annotations

import inspect
from typing import Iterator, Sequence

from .backend import Answer, Backend, BackendError, Stopwatch
from .labels import LabelSet, read_masses
from .model_files import resolve_model
from .prompts import Prompt

MIN_SHARED_PREFIX = 8  # tokens; below this a separate prefix pass costs more than it saves


class TransformersBackend(Backend):
    name = "transformers"
    modes = ("logprobs",)
    OPTIONS = ("device", "dtype", "batch_size", "threads", "share_prefix")

    def __init__(self, model: str | None = None, *, device: str | None = None, dtype: str | None = None,
                 batch_size: int = 16, threads: int | None = None, share_prefix: bool = True):
        import torch
        from transformers import AutoTokenizer

        self.model_id, self.path = resolve_model(model)
        if threads:
            torch.set_num_threads(int(threads))
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        # float32 on CPU (bfloat16 matmuls are slow without AVX512-BF16); bfloat16 on GPU.
        self.dtype = getattr(torch, dtype) if dtype else (torch.float32 if self.device == "cpu" else torch.bfloat16)
        self.batch_size = int(batch_size)
        self.share_prefix = bool(share_prefix)
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(self.path)
        except (OSError, ValueError) as exc:
            raise BackendError(f"cannot load the tokenizer of {model!r}: {exc}") from exc
        self._model = None

    @property
    def model(self):
        if self._model is None:
            from transformers import AutoModelForCausalLM

            try:
                model = AutoModelForCausalLM.from_pretrained(self.path, dtype=self.dtype)
            except (OSError, ValueError) as exc:
                raise BackendError(f"cannot load model {self.model_id!r}: {exc}") from exc
            self._model = model.to(self.device).eval()
            # transformers 5.2x renamed past_key_values to cache (the old name warns).
            self._cache_kwarg = "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"
        return self._model

    def describe(self) -> dict:
        return {**super().describe(), "device": self.device, "dtype": str(self.dtype).removeprefix("torch."),
                "batch_size": self.batch_size, "share_prefix": self.share_prefix}

    def answer(self, prompts: Sequence[Prompt], labels: LabelSet, mode: str) -> Iterator[tuple[list[int], list[Answer]]]:
        if mode != "logprobs":
            raise BackendError("the transformers backend reads answers as next-token probabilities (mode logprobs)")
        order = sorted(range(len(prompts)), key=lambda i: len(prompts[i].ids))
        for start in range(0, len(order), self.batch_size):
            chunk = order[start:start + self.batch_size]
            watch = Stopwatch()
            probs = self.next_token_probs([prompts[i].ids for i in chunk])
            answers = self._read(probs, labels)
            per_prompt_ms = watch.ms() / len(chunk)
            for i, answer in zip(chunk, answers):
                answer.prompt_tokens = len(prompts[i].ids)
                answer.completion_tokens = 0
                answer.latency_ms = per_prompt_ms
            yield chunk, answers

    def next_token_probs(self, sequences: list[list[int]]):
        """Softmax over the vocabulary at the position after each token sequence: (B, V)."""
        import torch

        with torch.inference_mode():
            logits = self._last_logits(sequences)
            return torch.softmax(logits.float(), dim=-1)

    def _last_logits(self, sequences: list[list[int]]):
        import torch

        shortest = min(len(s) for s in sequences)
        shared = _common_prefix(sequences, shortest - 1) if self.share_prefix and len(sequences) > 1 else 0
        model = self.model
        if shared < MIN_SHARED_PREFIX:
            ids, mask = self._left_pad(sequences)
            positions = (mask.cumsum(-1) - 1).clamp(min=0)
            out = model(input_ids=ids, attention_mask=mask, position_ids=positions, use_cache=False, logits_to_keep=1)
            return out.logits[:, -1, :]
        prefix = torch.tensor([sequences[0][:shared]], device=self.device)
        first = model(input_ids=prefix, use_cache=True)
        cache = first.cache if self._cache_kwarg == "cache" else first.past_key_values
        cache.batch_repeat_interleave(len(sequences))
        ids, mask = self._left_pad([s[shared:] for s in sequences])
        full_mask = torch.cat([torch.ones((len(sequences), shared), dtype=mask.dtype, device=self.device), mask], dim=1)
        positions = shared + (mask.cumsum(-1) - 1).clamp(min=0)
        out = model(input_ids=ids, attention_mask=full_mask, position_ids=positions, use_cache=True,
                    logits_to_keep=1, **{self._cache_kwarg: cache})
        return out.logits[:, -1, :]

    def _left_pad(self, sequences: list[list[int]]):
        import torch

        pad = self.tokenizer.pad_token_id
        pad = pad if pad is not None else (self.tokenizer.eos_token_id or 0)
        width = max(len(s) for s in sequences)
        ids = torch.full((len(sequences), width), pad, dtype=torch.long)
        mask = torch.zeros((len(sequences), width), dtype=torch.long)
        for row, seq in enumerate(sequences):
            ids[row, width - len(seq):] = torch.tensor(seq, dtype=torch.long)
            mask[row, width - len(seq):] = 1
        return ids.to(self.device), mask.to(self.device)

    def _read(self, probs, labels: LabelSet) -> list[Answer]:
        import torch

        groups = [torch.tensor(sorted(g), device=probs.device) for g in labels.token_ids]
        masses = torch.stack([probs.index_select(1, g).sum(dim=1) for g in groups], dim=1)
        top = probs.argmax(dim=1)  # kept as the response: what greedy decoding would say
        answers = []
        for row in range(probs.shape[0]):
            index, confidence, scores = read_masses(masses[row].tolist())
            answers.append(Answer(index, confidence, scores, self.tokenizer.decode([int(top[row])])))
        return answers

    def close(self) -> None:
        self._model = None


def _common_prefix(sequences: list[list[int]], limit: int) -> int:
    """Length of the longest token prefix shared by all sequences, at most ``limit``."""
    first = sequences[0]
    n = 0
    while n < limit and all(s[n] == first[n] for s in sequences):
        n += 1
    return n
