"""Prompt views: loading them from TOML and filling them in for a text.

A view (see ``packs/pl/views.toml`` for the fields) is a pair of message templates, a
kind (``choice``: one LF voting a category; ``yesno``: one LF per category) and label
words. The language pack's ``packs/<lang>/views.toml`` gives the defaults; a project's own
files (``[llm] views_files``, default ``views.toml`` next to admedtagger.toml) add views
or replace a pack view of the same name.

:func:`task_messages` turns a view into chat messages for one text: the system message
(instructions, categories), optional few-shot turns, then the user message with the text.
Everything before ``{text}`` is the same for every text of a view, so the prompts share a
long prefix that the backends can compute once.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from admedtagger.warehouse import Category, Config, UserError

PACKS = Path(__file__).resolve().parents[1] / "packs"
KINDS = ("choice", "yesno")
LABEL_STYLES = ("letters", "digits", "names")
_FIELDS = {"name", "kind", "labels", "language", "system", "user", "yes", "no", "examples", "example_tokens"}


class ViewError(UserError):
    pass


@dataclass(frozen=True)
class View:
    name: str
    kind: str
    system: str
    user: str
    labels: str | tuple[str, ...] = "letters"
    language: str = "pl"
    yes: str = "Yes"
    no: str = "No"
    examples: int = 0
    example_tokens: int = 96
    source: str = ""

    def spec(self) -> dict:
        """Everything of the view that changes its prompts (goes into the LF's spec)."""
        return {
            "view": self.name, "kind": self.kind, "system": self.system, "user": self.user,
            "labels": list(self.labels) if isinstance(self.labels, tuple) else self.labels,
            "language": self.language, "yes": self.yes, "no": self.no,
            "examples": self.examples, "example_tokens": self.example_tokens,
        }


@dataclass(frozen=True)
class Example:
    """A few-shot example: a gold dev document and its category id."""

    doc_id: str
    text: str
    label: int


def load_views(config: Config) -> dict[str, View]:
    """The pack's views for ``config.language``, then the project's files over them."""
    views = _read_file(PACKS / config.language / "views.toml", config.language)
    llm = config.section("llm")
    names = llm.get("views_files")
    if names is None:
        default = config.root / "views.toml"
        files = [default] if default.is_file() else []
    else:
        files = [config.root / n for n in ([names] if isinstance(names, str) else names)]
    for path in files:
        if not path.is_file():
            raise ViewError(f"{config.path}: [llm] views_files names {path}, which does not exist")
        views.update(_read_file(path, config.language))
    return views


def select_views(views: dict[str, View], wanted: Sequence[str] | None) -> list[View]:
    """The named views in the given order (all, in file order, when ``wanted`` is None)."""
    if wanted is None:
        return list(views.values())
    missing = [n for n in wanted if n not in views]
    if missing:
        raise ViewError(f"unknown prompt view(s) {', '.join(missing)}; known: {', '.join(views)}")
    return [views[n] for n in wanted]


def _read_file(path: Path, language: str) -> dict[str, View]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ViewError(f"{path}: {exc}") from exc
    views = {}
    for i, raw in enumerate(data.get("views", [])):
        view = _parse(raw, language, f"{path} [[views]] #{i + 1}")
        views[view.name] = view
    return views


def _parse(raw: dict, language: str, where: str) -> View:
    unknown = set(raw) - _FIELDS
    if unknown:
        raise ViewError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
    for key in ("name", "system", "user"):
        if not isinstance(raw.get(key), str) or not raw[key].strip():
            raise ViewError(f"{where}: needs a non-empty string {key!r}")
    where = f"{where} ({raw['name']})"
    kind = raw.get("kind", "choice")
    if kind not in KINDS:
        raise ViewError(f"{where}: kind must be one of {KINDS}, got {kind!r}")
    labels = raw.get("labels", "letters")
    if isinstance(labels, list):
        labels = tuple(str(w) for w in labels)
    elif labels not in LABEL_STYLES:
        raise ViewError(f"{where}: labels must be one of {LABEL_STYLES} or a list of words, got {labels!r}")
    view = View(
        name=raw["name"], kind=kind, system=raw["system"], user=raw["user"], labels=labels,
        language=raw.get("language", language), yes=str(raw.get("yes", "Yes")), no=str(raw.get("no", "No")),
        examples=int(raw.get("examples", 0)), example_tokens=int(raw.get("example_tokens", 96)), source=where,
    )
    if "{text}" not in view.user:
        raise ViewError(f"{where}: the user template must contain {{text}}")
    # Fill both templates once with dummy values: a typo in a placeholder fails here.
    dummy = _context(view, [Category("X", "x", "x", "d", "d")], ("A",) if kind == "choice" else ("y", "n"), 0)
    for key in ("system", "user"):
        try:
            getattr(view, key).format(text="t", **dummy)
        except (KeyError, IndexError, ValueError) as exc:
            raise ViewError(f"{where}: bad placeholder in {key}: {exc!r}") from exc
    return view


def label_words(view: View, categories: Sequence[Category]) -> tuple[str, ...]:
    """The words a choice view's answers are read as, one per category in label-id order;
    ``(yes, no)`` for a yesno view."""
    if view.kind == "yesno":
        return (view.yes, view.no)
    n = len(categories)
    if isinstance(view.labels, tuple):
        if len(view.labels) != n:
            raise ViewError(f"{view.source}: {len(view.labels)} label words for {n} categories")
        return view.labels
    if view.labels == "letters":
        if n > 26:
            raise ViewError(f"{view.source}: letters cover at most 26 categories, there are {n}")
        return tuple(chr(ord("A") + i) for i in range(n))
    if view.labels == "digits":
        if n > 9:
            raise ViewError(f"{view.source}: digits cover at most 9 categories, there are {n}")
        return tuple(str(i + 1) for i in range(n))
    return tuple(c.local_name(view.language) for c in categories)


def _context(view: View, categories: Sequence[Category], words: Sequence[str], category: int | None) -> dict:
    """Placeholder values; ``words`` are the label words (one per category for a choice view)."""
    lang = view.language
    if view.kind == "choice":
        marks = [f"{w}: " for w in words]
    else:
        marks = ["- "] * len(categories)
    chosen = categories[category] if category is not None else None
    return {
        "categories": "\n".join(f"{m}{c.local_name(lang)}" for m, c in zip(marks, categories)),
        "definitions": "\n".join(f"{m}{c.local_name(lang)} - {c.description(lang)}" for m, c in zip(marks, categories)),
        "words": ", ".join(words),
        "category": chosen.local_name(lang) if chosen else "",
        "category_description": chosen.description(lang) if chosen else "",
        "yes": view.yes,
        "no": view.no,
    }


@dataclass
class Task:
    """A view made concrete for one LF: fixed categories, label words and examples."""

    view: View
    categories: tuple[Category, ...]
    category: int | None = None  # the category a yesno LF asks about
    examples: tuple[tuple[str, str], ...] = ()  # (example text, answer word), already truncated
    words: tuple[str, ...] = field(init=False)
    context: dict = field(init=False)

    def __post_init__(self) -> None:
        self.words = label_words(self.view, self.categories)
        self.context = _context(self.view, self.categories, self.words, self.category)

    def messages(self, text: str) -> list[dict]:
        """Chat messages asking about ``text``: system, few-shot turns, the user turn."""
        messages = [{"role": "system", "content": self.view.system.format(**self.context)}]
        for example_text, answer in self.examples:
            messages.append({"role": "user", "content": self.view.user.format(text=example_text, **self.context)})
            messages.append({"role": "assistant", "content": answer})
        messages.append({"role": "user", "content": self.view.user.format(text=text, **self.context)})
        return messages


def pick_examples(examples: Sequence[Example], per_category: int) -> list[Example]:
    """The first ``per_category`` examples of each category, in the given (stable) order."""
    taken: dict[int, int] = {}
    chosen = []
    for ex in examples:
        if taken.get(ex.label, 0) < per_category:
            chosen.append(ex)
            taken[ex.label] = taken.get(ex.label, 0) + 1
    return chosen
