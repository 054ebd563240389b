"""Label words: which tokens stand for which answer, and how an answer is read.

A view's answers are a short list of *label words* ("A".."E", "Radiology", "Tak"/"Nie").
Two ways to read a model's answer:

* **logprobs** (one forward pass, no generation): the next-token distribution after the
  prompt. Each word is represented by the first token of its spellings (the word as
  written, lower-case, capitalised); its *mass* ``m_i = P(word i) = sum of p(token)`` over
  those first tokens. The stored answer keeps the raw masses as ``scores`` (they sum to the
  *label mass* ``M = sum_i m_i <= 1``, the share of the model's next token that is a label
  word at all), the index ``argmax_i m_i`` and as confidence the renormalised
  ``m_i / M`` of that word (a softmax restricted to the label tokens). Whether the model's
  single most likely token is a label word does not matter: the answer is read from the
  distribution over the label words, and :mod:`.calibration` decides, by a documented
  rule, when an answer is too weak to vote. Only when every mass is zero (a server's
  top-k list holds no label token) is the answer outside the label set (index -1).
* **choice** (constrained or free generation): the answer text is matched to a word,
  ignoring case, surrounding space and punctuation; anything else is index -1.

Two words whose written forms start with the same token cannot be told apart from one
next-token distribution, so :func:`label_set` refuses them with a message naming both;
a spelling variant that would collide is simply not added.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from admedtagger.warehouse import UserError

OUTSIDE = -1  # answer index for an answer outside the label set


class LabelWordError(UserError):
    pass


@dataclass(frozen=True)
class LabelSet:
    """A view's label words and, when a tokenizer is known, their first tokens.

    ``token_ids[i]`` / ``token_strings[i]``: the first token (id / decoded text) of every
    accepted spelling of ``words[i]``; disjoint across words. ``max_tokens``: the longest
    word in tokens (a constrained generation needs at least that many steps).
    """

    words: tuple[str, ...]
    token_ids: tuple[frozenset[int], ...] | None = None
    token_strings: tuple[frozenset[str], ...] | None = None
    max_tokens: int = 8


def _spellings(word: str) -> list[str]:
    out = [word]
    for variant in (word.lower(), word[:1].upper() + word[1:], word.upper()):
        if variant not in out:
            out.append(variant)
    return out


def label_set(words: Sequence[str], tokenizer=None, where: str = "", check_first_tokens: bool = True) -> LabelSet:
    """Build a :class:`LabelSet`; with a tokenizer, find and check the words' first tokens.

    ``where`` names the view in error messages. Raises :class:`LabelWordError` for empty or
    duplicate words, or (``check_first_tokens``, needed by logprobs reading) two words
    sharing a first token. Without a tokenizer, ``max_tokens`` is the longest word's
    length in characters (an upper bound on its tokens).
    """
    words = tuple(words)
    lowered = [w.strip().lower() for w in words]
    if not words or any(not w for w in lowered) or len(set(lowered)) != len(lowered):
        raise LabelWordError(f"{where}: label words must be non-empty and distinct, got {list(words)}")
    if tokenizer is None:
        return LabelSet(words, max_tokens=max(len(w) for w in words))
    longest = max(len(tokenizer.encode(w, add_special_tokens=False)) for w in words)
    if not check_first_tokens:
        return LabelSet(words, max_tokens=longest)

    def first(text: str) -> int:
        return tokenizer.encode(text, add_special_tokens=False)[0]

    primary = [first(w) for w in words]
    for i, tok in enumerate(primary):
        for j in range(i):
            if primary[j] == tok:
                raise LabelWordError(
                    f"{where}: label words {words[j]!r} and {words[i]!r} start with the same token "
                    f"{tokenizer.decode([tok])!r} for this model, so one next-token distribution cannot "
                    "tell them apart: choose words with different beginnings (e.g. letters A, B, C)"
                )
    taken = set(primary)
    ids: list[set[int]] = [{tok} for tok in primary]
    for i, word in enumerate(words):
        for variant in _spellings(word)[1:]:
            tok = first(variant)
            if tok not in taken:
                ids[i].add(tok)
                taken.add(tok)
    strings = tuple(frozenset(tokenizer.decode([t]) for t in group) for group in ids)
    return LabelSet(words, tuple(frozenset(g) for g in ids), strings, longest)


def normalise_answer(text: str) -> str:
    return text.strip().strip(" \t\n\"'`.,:;!?()[]{}*").strip().lower()


def parse_choice(text: str, labels: LabelSet) -> int:
    """Index of the label word that ``text`` is (ignoring case and punctuation), else -1."""
    answer = normalise_answer(text)
    for i, word in enumerate(labels.words):
        if answer == normalise_answer(word):
            return i
    return OUTSIDE


def read_masses(masses: Sequence[float]) -> tuple[int, float | None, list[float]]:
    """From per-word probability masses ``m`` (K,): ``(index, confidence, scores)``.

    ``scores`` = ``m`` as given (floats; their sum is the label mass). ``index`` =
    ``argmax m`` and ``confidence`` = ``m[index] / sum(m)``; when every mass is zero the
    answer is outside the label set: ``(-1, None, scores)``.
    """
    scores = [float(m) for m in masses]
    total = sum(scores)
    if total <= 0:
        return OUTSIDE, None, scores
    best = max(range(len(scores)), key=scores.__getitem__)
    return best, scores[best] / total, scores
