"""The interactive terminal reviewer: the queue, worst first, one document at a time.

For each flagged document it shows the text, the weak label and its probability, every
current LF vote, the suggested label and why the document was flagged, then reads one
line of input:

==================  ======================================================
Enter, ``a``        accept the given (weak) label
``1``..``K``        relabel to category 1..K (as numbered on screen)
a category name     relabel (canonical, Polish or English name, or a unique prefix)
``0``, ``n``        fits no category (decision ``reject``, label -1)
``s``               skip (recorded; the document moves to the back of the queue)
``u``               undo the last decision of this session and show its document again
``note TEXT``       attach a note to the next decision (``note`` alone asks for the text)
``q``               quit (so does end of input)
``?``               help
==================  ======================================================

It reads whole lines, not raw keypresses, so scripted answers can be piped in
(``printf 'a\\n3\\ns\\n' | admedtagger review``). Every decision goes through
:func:`.review.record`, its own committed transaction, before the next document is shown.
"""

from __future__ import annotations

from collections import Counter
from typing import Callable

import duckdb
from rich.console import Console
from rich.markup import escape
from rich.rule import Rule
from rich.text import Text

from admedtagger.warehouse import categories

from .review import NONE_LABEL, QueueItem, Review, pending, record, undo
from .votes import document_votes

HELP = (
    "Enter/a accept · 1-{k} or a name: relabel · 0/n: fits no category · s skip · u undo last · "
    "note TEXT · q quit · ? help"
)
SOURCE = "terminal"


class _Categories:
    """Numbering and name lookup of the taxonomy as the reviewer sees it."""

    def __init__(self, con: duckdb.DuckDBPyConnection, language: str):
        self.items = categories(con)
        self.language = language
        self.names: dict[str, int] = {}
        for label, category in enumerate(self.items):
            for name in (category.name, category.name_pl, category.name_en):
                if name:
                    self.names[name.lower()] = label

    def show(self, label: int | None) -> str:
        if label is None:
            return "-"
        if label == NONE_LABEL:
            return "none of these"
        category = self.items[label]
        local = category.local_name(self.language)
        return category.name if local.lower() == category.name.lower() else f"{category.name} ({local})"

    def find(self, text: str) -> int | None:
        """A number 1..K, a full name, or a unique name prefix -> label id."""
        if text.isdigit():
            number = int(text)
            return number - 1 if 1 <= number <= len(self.items) else None
        if text in self.names:
            return self.names[text]
        matches = {label for name, label in self.names.items() if name.startswith(text)}
        return matches.pop() if len(text) >= 2 and len(matches) == 1 else None


def parse(line: str, cats: _Categories) -> tuple[str, object]:
    """One input line -> (command, argument). Commands: accept, label, none, skip, undo,
    note, quit, help, unknown."""
    text = line.strip()
    lowered = text.lower()
    if lowered in ("", "a", "accept"):
        return "accept", None
    if lowered in ("0", "n", "none"):
        return "none", None
    if lowered in ("s", "skip"):
        return "skip", None
    if lowered in ("u", "undo"):
        return "undo", None
    if lowered in ("q", "quit", "exit"):
        return "quit", None
    if lowered in ("?", "h", "help"):
        return "help", None
    if lowered == "note" or lowered.startswith("note "):
        return "note", text[4:].strip() or None
    label = cats.find(lowered)
    if label is not None:
        return "label", label
    return "unknown", text


def show_item(console: Console, con: duckdb.DuckDBPyConnection, item: QueueItem, position: str,
              cats: _Categories, max_chars: int) -> None:
    quality = "-" if item.quality is None else f"{item.quality:.3f}"
    skipped = " · skipped before" if item.skipped else ""
    title = f"{position} · rank {item.rank} · {escape(item.doc_id)} · {item.reason} · quality {quality}{skipped}"
    console.print(Rule(title))
    text = item.text if len(item.text) <= max_chars else item.text[:max_chars] + f" … [{len(item.text):,} chars]"
    console.print(Text(text))
    probability = "" if item.weak_confidence is None else f" (p={item.weak_confidence:.2f})"
    console.print(f"weak label: [bold]{escape(cats.show(item.weak_label))}[/bold]{probability}", highlight=False)
    if item.given_label != item.weak_label:
        console.print(f"flagged label: [bold]{escape(cats.show(item.given_label))}[/bold]", highlight=False)
    console.print(f"suggested:  [bold]{escape(cats.show(item.suggested_label))}[/bold]", highlight=False)
    votes = document_votes(con, item.doc_id)
    cast = [f"{lf}: {cats.show(label)}" + ("" if conf is None else f" ({conf:.2f})")
            for lf, label, conf in votes if label >= 0]
    abstained = [lf for lf, label, _ in votes if label < 0]
    console.print("LF votes:   " + escape(" · ".join(cast) if cast else "none"), highlight=False)
    if abstained:
        console.print("abstained:  " + escape(", ".join(abstained)), highlight=False)
    menu = "  ".join(f"[{i + 1}] {c.name}" for i, c in enumerate(cats.items)) + "  [0] none of these"
    console.print(escape(menu), highlight=False)


def review_session(con: duckdb.DuckDBPyConnection, reviewer: str, console: Console,
                   read_line: Callable[[str], str] = input, language: str = "pl",
                   limit: int | None = None, max_chars: int = 4000) -> Counter:
    """Review the queue until it ends, ``q`` or end of input; returns decisions counted by kind."""
    queue = pending(con, limit)
    counts: Counter = Counter()
    if not queue:
        console.print("nothing to review: the queue is empty (run `admedtagger flag` first?)")
        return counts
    cats = _Categories(con, language)
    console.print(f"{len(queue)} flagged documents to review, worst first; reviewer {escape(reviewer)}")
    console.print(HELP.format(k=len(cats.items)))
    history: list[tuple[int, Review]] = []
    note: str | None = None
    index, shown = 0, -1
    while index < len(queue):
        item = queue[index]
        if shown != index:  # a note, help or a typo keeps the document on screen
            show_item(console, con, item, f"{index + 1}/{len(queue)}", cats, max_chars)
            shown = index
        console.file.flush()
        try:
            line = read_line("> ")
        except EOFError:
            break
        command, argument = parse(line, cats)
        if command == "quit":
            break
        if command == "help":
            console.print(HELP.format(k=len(cats.items)))
            continue
        if command == "unknown":
            console.print(f"not understood: {escape(str(argument))!r}; " + HELP.format(k=len(cats.items)))
            continue
        if command == "note":
            if argument is None:
                try:
                    argument = read_line("note> ").strip() or None
                except EOFError:
                    break
            note = argument
            console.print(f"note for the next decision: {escape(note or '(none)')}")
            continue
        if command == "undo":
            if not history:
                console.print("nothing to undo in this session")
                continue
            back_to, last = history.pop()
            undo_row, _ = undo(con, last.review_id, reviewer, source=SOURCE)
            counts["undo"] += 1
            console.print(f"undone: {last.decision} on {escape(last.doc_id)} (review {undo_row.review_id})")
            index, shown = back_to, -1
            continue
        if command == "accept" and item.given_label is None:
            console.print("this document has no given label to accept: pick a category number or 0")
            continue
        decision, label = {
            "accept": ("accept", item.given_label),
            "label": ("accept" if argument == item.given_label else "relabel", argument),
            "none": ("reject", NONE_LABEL),
            "skip": ("skip", None),
        }[command]
        saved = record(con, item.doc_id, decision, label, reviewer, note, SOURCE)
        counts[decision] += 1
        history.append((index, saved))
        note = None
        label_text = "" if label is None else f" {cats.show(label)}"
        console.print(f"saved: {decision}{escape(label_text)} for {escape(item.doc_id)} (review {saved.review_id})")
        console.file.flush()
        index += 1
    else:
        console.print("end of the queue")
    return counts
