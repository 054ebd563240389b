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

The session holds no connection while it waits for input: DuckDB lets one process write
a file or several read it, never both, so a connection kept open for a whole session
would lock everyone else out (even ``admedtagger sql``). It loads a page of the queue
(texts, weak labels, votes) through a short-lived connection, closes it, and opens a
writable one only to record a decision (~30 ms: open, check, insert, commit, close).
Before writing it checks that nobody settled the document meanwhile (a second review of
an overlap document is still saved; a decision on a disputed one is an adjudication). When another
process holds the file, it retries for ``lock_wait`` seconds, then says so and keeps the
typed decision until the next input line retries it (``q`` gives it up).
"""

from __future__ import annotations

import time
from collections import Counter, deque
from dataclasses import dataclass
from typing import Callable, ContextManager

import duckdb
from rich.console import Console
from rich.markup import escape
from rich.rule import Rule
from rich.text import Text

from admedtagger.warehouse import NONE_LABEL, categories, is_locked, label_lookup, resolve_label, review_decision

from .errors import CleaningError
from .review import DEFAULT_OVERLAP, QueueItem, Review, pending, queue_size, record_if_pending, undo
from .votes import Vote, document_votes

HELP = (
    "Enter/a accept · 1-{k} or a name: relabel · 0/n: fits no category · s skip · u undo last · "
    "note TEXT · q quit · ? help"
)
SOURCE = "terminal"
PAGE_SIZE = 20  # queue items loaded per short-lived connection
LOCK_WAIT = 10.0  # seconds to retry while another process holds the warehouse file

# open_connection(write) -> a context manager yielding a connection, closed on exit.
OpenConnection = Callable[[bool], ContextManager[duckdb.DuckDBPyConnection]]


class _Categories:
    """Numbering and name lookup of the taxonomy as the reviewer sees it."""

    def __init__(self, con: duckdb.DuckDBPyConnection, language: str):
        self.items = categories(con)
        self.language = language
        self.lookup = label_lookup(con)

    def show(self, label: int | None) -> str:
        if label is None:
            return "-"
        if label == NONE_LABEL:
            return "none of these"
        category = self.items[label]
        local = category.local_name(self.language)
        return category.name if local.lower() == category.name.lower() else f"{category.name} ({local})"

    def find(self, text: str) -> int | None:
        """A number as on screen (1..K, 0 = none), a full name or "none" name
        (:func:`~admedtagger.warehouse.rules.resolve_label`), or a unique name prefix -> label id."""
        if text.isdigit():  # the screen's numbering, not label ids: checked before resolve_label
            number = int(text)
            if number == 0:
                return NONE_LABEL
            return number - 1 if number <= len(self.items) else None
        label = resolve_label(self.lookup, text)
        if label is not None:
            return label
        matches = {label for name, label in self.lookup.items() if name.startswith(text)}
        return matches.pop() if len(text) >= 2 and len(matches) == 1 else None


def parse(line: str, cats: _Categories) -> tuple[str, object]:
    """One input line -> (command, argument). Commands: accept, label (argument: the label
    id, :data:`NONE_LABEL` for "fits no category"), skip, undo, note, quit, help, unknown."""
    text = line.strip()
    lowered = text.lower()
    if lowered in ("", "a", "accept"):
        return "accept", None
    if lowered == "n":
        return "label", NONE_LABEL
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


def show_item(console: Console, item: QueueItem, votes: list[Vote], position: str,
              cats: _Categories, max_chars: int) -> None:
    quality = "-" if item.quality is None else f"{item.quality:.3f}"
    skipped = " · skipped before" if item.skipped else ""
    rank = "-" if item.rank is None else item.rank
    reason = item.reason or "not flagged by the latest flag run"
    title = f"{position} · rank {rank} · {escape(item.doc_id)} · {reason} · quality {quality}{skipped}"
    console.print(Rule(title))
    if item.task == "adjudicate":
        opinions = " · ".join(f"{who}: {cats.show(label)}" for who, label in item.disputed_labels)
        console.print(f"[bold]reviewers disagree[/bold] ({escape(opinions)}): your decision settles it",
                      highlight=False)
    elif item.task == "second_review":
        console.print("second opinion: another reviewer decided this one; decide on your own", highlight=False)
    text = item.text if len(item.text) <= max_chars else item.text[:max_chars] + f" … [{len(item.text):,} chars]"
    console.print(Text(text))
    probability = "" if item.weak_confidence is None else f" (p={item.weak_confidence:.2f})"
    console.print(f"weak label: [bold]{escape(cats.show(item.weak_label))}[/bold]{probability}", highlight=False)
    if item.given_label != item.weak_label:
        console.print(f"flagged label: [bold]{escape(cats.show(item.given_label))}[/bold]", highlight=False)
    console.print(f"suggested:  [bold]{escape(cats.show(item.suggested_label))}[/bold]", highlight=False)
    cast = [f"{lf}: {cats.show(label)}" + ("" if conf is None else f" ({conf:.2f})")
            for lf, label, conf in votes if label >= 0]
    abstained = [lf for lf, label, _ in votes if label < 0]
    console.print("LF votes:   " + escape(" · ".join(cast) if cast else "none"), highlight=False)
    if abstained:
        console.print("abstained:  " + escape(", ".join(abstained)), highlight=False)
    menu = "  ".join(f"[{i + 1}] {c.name}" for i, c in enumerate(cats.items)) + "  [0] none of these"
    console.print(escape(menu), highlight=False)


@dataclass
class _Entry:
    number: int  # its position in this session, from 1
    item: QueueItem
    votes: list[Vote]


class _Quit(Exception):
    """The reviewer quit while the warehouse stayed locked."""


def _load_page(con: duckdb.DuckDBPyConnection, size: int, seen: set[str], reviewer: str,
               overlap: float) -> list[tuple[QueueItem, list[Vote]]]:
    """The next ``size`` items of the reviewer's queue not seen in this session, with their current votes."""
    items = pending(con, size, exclude=seen, reviewer=reviewer, overlap=overlap)
    if not items:
        return []
    votes = document_votes(con, [item.doc_id for item in items])
    return [(item, votes[item.doc_id]) for item in items]


class _Warehouse:
    """Short-lived connections, retried while another process holds the file."""

    def __init__(self, open_connection: OpenConnection, console: Console, read_line: Callable[[str], str],
                 lock_wait: float):
        self.open_connection = open_connection
        self.console = console
        self.read_line = read_line
        self.lock_wait = lock_wait

    def use(self, write: bool, action: Callable[[duckdb.DuckDBPyConnection], object], unsaved: str | None = None):
        """``action(con)`` on a fresh connection; ``unsaved`` names the typed decision that
        waits on it. Raises :class:`_Quit` when the file stays locked and the reviewer quits."""
        while True:
            deadline = time.monotonic() + self.lock_wait
            while True:
                try:
                    with self.open_connection(write) as con:
                        return action(con)
                except Exception as exc:  # noqa: BLE001 - only the lock error is retried
                    if not is_locked(exc):
                        raise
                    reason = str(exc).splitlines()[0]
                if time.monotonic() >= deadline:
                    break
                time.sleep(0.1)
            waiting = f"{unsaved} is not saved yet" if unsaved else "cannot read the queue"
            self.console.print(f"the warehouse is locked by another process ({escape(reason)}): {escape(waiting)}; "
                               "Enter retries, q quits", highlight=False, soft_wrap=True)
            self.console.file.flush()
            try:
                answer = self.read_line("retry> ")
            except EOFError:
                answer = "q"
            if answer.strip().lower() in ("q", "quit", "exit"):
                raise _Quit(reason)


def review_session(open_connection: OpenConnection, reviewer: str, console: Console,
                   read_line: Callable[[str], str] = input, language: str = "pl",
                   limit: int | None = None, max_chars: int = 4000, page_size: int = PAGE_SIZE,
                   lock_wait: float = LOCK_WAIT, overlap: float = DEFAULT_OVERLAP) -> Counter:
    """Review ``reviewer``'s queue until it ends, ``q`` or end of input; returns decisions
    counted by kind. ``overlap`` is the ``[review] overlap`` share (second reviews, see
    :mod:`.review`).

    ``open_connection(write)`` gives a connection for one step (see the module doc; the CLI
    passes ``warehouse.project.open_warehouse``); none is open while ``read_line`` waits.
    """
    warehouse = _Warehouse(open_connection, console, read_line, lock_wait)
    counts: Counter = Counter()
    seen: set[str] = set()  # doc_ids loaded in this session: a page never brings them back
    first_page = page_size if limit is None else min(page_size, limit)

    def start(con: duckdb.DuckDBPyConnection):
        return (_Categories(con, language), queue_size(con, reviewer=reviewer, overlap=overlap),
                _load_page(con, first_page, seen, reviewer, overlap))

    try:  # writable once: brings an older warehouse schema up to date, as any writing command does
        cats, total, page = warehouse.use(True, start)
    except _Quit as exc:
        raise CleaningError(f"the warehouse is locked by another process: {exc}") from None
    if limit is not None:
        total = min(total, limit)
    if not page:
        console.print("nothing to review: the queue is empty (run `admedtagger flag` first?)")
        return counts
    console.print(f"{total} flagged documents to review, worst first; reviewer {escape(reviewer)}")
    console.print(HELP.format(k=len(cats.items)))
    upcoming: deque[_Entry] = deque()
    history: list[tuple[_Entry, Review]] = []
    loaded = 0

    def queue_up(items: list[tuple[QueueItem, list[Vote]]]) -> None:
        nonlocal loaded
        for item, votes in items:
            loaded += 1
            seen.add(item.doc_id)
            upcoming.append(_Entry(loaded, item, votes))

    queue_up(page)
    note: str | None = None
    shown: _Entry | None = None
    try:
        while True:
            if not upcoming:
                room = page_size if limit is None else min(page_size, limit - loaded)
                page = (warehouse.use(False, lambda con: _load_page(con, room, seen, reviewer, overlap))
                        if room > 0 else [])
                if not page:
                    console.print("end of the queue")
                    break
                queue_up(page)
            entry = upcoming[0]
            item = entry.item
            if shown is not entry:  # a note, help or a typo keeps the document on screen
                show_item(console, item, entry.votes, f"{entry.number}/{max(total, loaded)}", cats, max_chars)
                shown = entry
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
                back, last = history.pop()
                what = f"the undo of {last.decision} on {last.doc_id}"
                try:
                    undo_row, _ = warehouse.use(
                        True, lambda con: undo(con, last.review_id, reviewer, source=SOURCE), unsaved=what)
                except _Quit:
                    raise CleaningError(f"quit with the warehouse locked: {what} was not saved") from None
                except CleaningError as exc:  # undone meanwhile, e.g. by `review undo`
                    console.print(f"cannot undo: {escape(str(exc))}")
                    continue
                counts["undo"] += 1
                console.print(f"undone: {last.decision} on {escape(last.doc_id)} (review {undo_row.review_id})")
                upcoming.appendleft(back)
                continue
            if command == "accept" and item.given_label is None:
                console.print("this document has no given label to accept: pick a category number or 0")
                continue
            if command == "accept":
                decision, label = "accept", item.given_label
            elif command == "skip":
                decision, label = "skip", None
            else:  # label
                decision, label = review_decision(argument, item.given_label), argument
            label_text = "" if label is None else f" {cats.show(label)}"

            def save(con: duckdb.DuckDBPyConnection):
                # another reviewer may have settled it since the page was loaded: (None, theirs)
                saved, other = record_if_pending(con, item.doc_id, decision, label, reviewer, overlap=overlap,
                                                 note=note, source=SOURCE)
                return other, saved

            what = f"{decision}{label_text} for {item.doc_id}"
            try:
                other, saved = warehouse.use(True, save, unsaved=what)
            except _Quit:
                raise CleaningError(f"quit with the warehouse locked: {what} was not saved "
                                    "(earlier decisions are)") from None
            upcoming.popleft()
            note = None
            if saved is None:
                by, other_label = other[2] or "someone", "" if other[1] is None else f" {cats.show(other[1])}"
                counts["decided elsewhere"] += 1
                console.print(f"not saved: {escape(item.doc_id)} was decided meanwhile by {escape(by)} "
                              f"({other[0]}{escape(other_label)})", highlight=False)
            else:
                counts[decision] += 1
                history.append((entry, saved))
                settles = ", an adjudication" if saved.adjudication else ""
                console.print(f"saved: {decision}{escape(label_text)} for {escape(item.doc_id)} "
                              f"(review {saved.review_id}{settles})")
            console.file.flush()
    except _Quit:
        console.print("quit: the warehouse stayed locked")
    return counts
