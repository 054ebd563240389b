"""Rendering a view's messages for a text within a token budget.

The budget (``max_prompt_tokens``, default 256) is the number of tokens of the text that
go into a prompt: a longer text keeps its first ``max_prompt_tokens`` tokens and counts
as truncated. The instructions and few-shot turns come on top; they are the same for
every text of a view, so they cost little with prefix sharing. Without a tokenizer (an
OpenAI-compatible server whose tokenizer is not available locally) tokens are estimated
as 4 characters each.
"""

from __future__ import annotations

from dataclasses import dataclass

from admedtagger.warehouse import UserError

from .views import Task

CHARS_PER_TOKEN = 4  # estimate used only when no tokenizer is available
MIN_TEXT_TOKENS = 16


class BudgetError(UserError):
    pass


@dataclass
class Prompt:
    """One request: chat messages, and (with a tokenizer) the templated string and token ids."""

    messages: list[dict]
    text: str | None
    ids: list[int] | None
    truncated: bool

    @property
    def n_tokens(self) -> int | None:
        return len(self.ids) if self.ids is not None else None


def truncate(text: str, budget: int, tokenizer=None) -> tuple[str, bool]:
    """The first ``budget`` tokens of ``text`` (whole text when it fits) and whether it was cut."""
    if tokenizer is None:
        limit = budget * CHARS_PER_TOKEN
        return (text, False) if len(text) <= limit else (text[:limit], True)
    ids = tokenizer.encode(text, add_special_tokens=False)
    if len(ids) <= budget:
        return text, False
    return tokenizer.decode(ids[:budget]), True


class Prompter:
    """Renders one task's prompts for texts, each text cut to ``text_budget`` tokens."""

    def __init__(self, task: Task, tokenizer, text_budget: int):
        if text_budget < MIN_TEXT_TOKENS:
            raise BudgetError(f"the token budget per text must be at least {MIN_TEXT_TOKENS}, got {text_budget}")
        self.task = task
        self.tokenizer = tokenizer
        self.text_budget = text_budget

    def render(self, text: str) -> Prompt:
        kept, cut = truncate(text, self.text_budget, self.tokenizer)
        prompt = self._render(self.task.messages(kept))
        prompt.truncated = cut
        return prompt

    def _render(self, messages: list[dict]) -> Prompt:
        if self.tokenizer is None:
            return Prompt(messages, None, None, False)
        templated = self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        # The template already holds any BOS token: encoding without special tokens keeps
        # exactly one, and the same ids go to every local backend.
        ids = self.tokenizer.encode(templated, add_special_tokens=False)
        return Prompt(messages, templated, ids, False)
