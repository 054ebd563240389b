"""A document's text as escaped markup, with what the keyword LFs saw in it marked.

The marks come from the project's own keyword matcher (:meth:`KeywordMatcher.spans`, the
scan the LFs vote from), so the page shows exactly the mentions that counted, the ones a
negation took away, and the negation cues. Building the matcher (the automaton over every
inflected form) takes a while, so the app keeps one and rebuilds it only when the keyword
LFs' current versions in the warehouse change (``admedtagger label`` after a lexicon edit).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import duckdb
from markupsafe import Markup, escape

from admedtagger.labeling.keywords import CUE, MENTION, NEGATED, PSEUDO, KeywordMatcher, Span
from admedtagger.labeling.registry import build_lfs
from admedtagger.warehouse import Config

# The CSS class of a mark: base.html styles mark.kw and mark.neg; the queue page adds cue
# and pseudo.
_CLASS = {MENTION: "kw", NEGATED: "neg", CUE: "cue", PSEUDO: "pseudo"}
_PRIORITY = (MENTION, NEGATED, CUE, PSEUDO)  # which kind colours a stretch marked several ways


@dataclass(frozen=True)
class Keywords:
    """The project's keyword matcher and the LF name of each of its columns.

    ``stale``: the LFs built from today's lexicon files have other versions than the
    votes in the warehouse (a lexicon edited since ``label``): the marks then show the
    edited lexicon, not what voted."""

    matcher: KeywordMatcher | None  # None: the project has no keyword LFs
    lf_names: dict[int, str]
    stale: bool


class KeywordCache:
    """One :class:`Keywords` per app, rebuilt when the warehouse's keyword LF versions change."""

    def __init__(self, config: Config):
        self.config = config
        self._lock = threading.Lock()
        self._key: tuple | None = None
        self._keywords: Keywords | None = None

    def get(self, con: duckdb.DuckDBPyConnection) -> Keywords:
        """The matcher for the warehouse open on ``con`` (a read-only connection will do)."""
        key = tuple(con.execute(
            "SELECT lf, version FROM current_lfs WHERE kind = 'keyword' ORDER BY lf").fetchall())
        with self._lock:
            if self._keywords is None or key != self._key:
                lfs = build_lfs(con, self.config, kinds=["keyword"])
                built = tuple(sorted((lf.name, lf.version) for lf in lfs))
                matcher = lfs[0].matcher if lfs else None
                self._keywords = Keywords(matcher, {lf.column: lf.name for lf in lfs}, stale=bool(key) and built != key)
                self._key = key
            return self._keywords

    def marked(self, con: duckdb.DuckDBPyConnection, text: str) -> tuple[Markup, bool]:
        """``text`` with what the keyword LFs saw marked (:func:`highlight`), and whether
        the marks are stale (:class:`Keywords`)."""
        keywords = self.get(con)
        spans = keywords.matcher.spans(text) if keywords.matcher is not None else []
        return highlight(text, spans, keywords.lf_names), keywords.stale


def highlight(text: str, spans: list[Span], lf_names: dict[int, str]) -> Markup:
    """``text`` escaped, each stretch of ``spans`` wrapped in ``<mark class=…>`` with a
    title naming its LFs. Spans that overlap an earlier, longer one are left out (patterns
    may overlap automaton matches)."""
    pieces: list[str] = []
    done = 0
    for (start, end), group in _stretches(spans):
        if start < done:
            continue
        kinds = {s.kind for s in group}
        kind = next(k for k in _PRIORITY if k in kinds)
        pieces.append(escape(text[done:start]))
        pieces.append(Markup('<mark class="{}" title="{}">{}</mark>').format(
            _CLASS[kind], _title(group, lf_names), text[start:end]))
        done = end
    pieces.append(escape(text[done:]))
    return Markup("").join(pieces)


def _stretches(spans: list[Span]) -> list[tuple[tuple[int, int], list[Span]]]:
    """Spans grouped by (start, end), in text order, longest first at one start."""
    groups: dict[tuple[int, int], list[Span]] = {}
    for span in spans:
        groups.setdefault((span.start, span.end), []).append(span)
    return sorted(groups.items(), key=lambda item: (item[0][0], -item[0][1]))


def _title(group: list[Span], lf_names: dict[int, str]) -> str:
    parts = []
    for span in group:
        if span.kind == MENTION:
            parts.append(f"{lf_names.get(span.column, '?')}: counts")
        elif span.kind == NEGATED:
            parts.append(f"{lf_names.get(span.column, '?')}: negated, does not count")
        elif span.kind == CUE:
            parts.append("negation cue")
        else:
            parts.append("pseudo-negation: negates nothing")
    return "; ".join(parts)
