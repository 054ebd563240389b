"""Keyword labelling functions: per-category lexicons, one compiled matcher, negation.

A *lexicon* (TOML; the language pack's ``packs/<lang>/keywords.toml`` plus the user's
files, see :mod:`.registry`) gives, per category:

* ``terms``: lemmas and multi-word terms, matched case-insensitively in every inflected
  form (:mod:`.morphology` expands them once, with morfeusz2 for Polish);
* ``exact``: strings matched case-sensitively as written, not inflected (abbreviations
  whose lower-case spelling is an ordinary word or too ambiguous: ``TK``, ``MR``, ``RR``,
  ``NT``, ``Ca``, ``ECHO``);
* ``patterns``: regular expressions, case-sensitive (TNM stages such as ``pT2N0M0``);
* ``not_negated``: entries that vote even inside a negation scope (see below);
* ``ignore``: phrases, inflected like terms, inside which this category's entries do not
  count ("tumor necrosis factor" for Oncology; "cardiac silhouette" for Cardiology);
* ``report``: a sub-table ``[categories.<name>.report]`` (terms, exact, patterns,
  not_negated) for a category that is also a *document type*: the structure of such a
  document, its headers and template phrases ("Opis mikroskopowy", "IMPRESSION:",
  "PA and lateral", "no acute cardiopulmonary process").

Topics and document types. Oncology, Cardiology and Hypertension are topics: what a text
is about. Radiology and Pathology are also document types: an imaging report is Radiology
and a histopathology result is Pathology whatever organ or disease it describes. Each
category with entries gets the LF ``kw_<category>`` (spec ``"role": "topic"``); each
category with a ``report`` table also gets ``kw_<category>_report`` (``"role":
"report"``), which votes its category by the same rules (negation, confidence) when
report cues are found. The label model gives the category of a ``report`` LF's vote to
the document it voted on, over any topic votes (see ``labeling/label_model.py``). So
report cues must be precise: a phrase a clinical note or a research abstract about
imaging would also use ("computed tomography", "w badaniu TK") is a topic term, not a cue.

A longer match hides the shorter ones it contains (leftmost-longest), except that a
multi-word form or negation cue also carries the entries of OTHER columns inside it ("rak
gruczołowy", a Pathology entry, still counts the "rak" of Oncology; the pseudo cue "no
interval change" the report phrase "interval change") unless that category ignores it.

All surface forms of all categories (topic entries and report cues, each a column of
its own), the negation cues and the scope breakers go into ONE Aho-Corasick automaton
over the lower-cased text (``pyahocorasick``), searched leftmost-longest, so a text is
scanned once for every keyword LF. A match counts only at
word boundaries (the characters around it are not letters, digits, ``-`` or ``_``).

Negation (NegEx-style), from the lexicon's ``[negation]`` table:

* a ``pre`` cue ("nie stwierdzono", "bez cech", "brak", "wykluczono") negates the mentions
  after it up to the end of its clause;
* a ``post`` cue ("nie stwierdzono", "wykluczono") negates the mentions before it back to
  the start of its clause ("Zmian ogniskowych nie stwierdzono.");
* a ``pseudo`` cue ("nie można wykluczyć", "nie wykluczono") looks like a negation but
  is not one: it cancels an open pre-cue scope (and being longer, it hides the shorter
  cue it contains, as matching is leftmost-longest); entries inside it count;
* a ``cancels`` cue ("nie wykonano", "nie było konieczne") works both ways and negates
  even the category's ``not_negated`` entries: a modality named inside an ordinary
  negation ("Nie stwierdzono zmian w TK") still votes, one that was not performed
  ("TK nie wykonano") does not;
* a clause ends at ``. ; ! ? ,`` a newline, a bracket, a dash between spaces, or a scope
  breaker word ("ale", "jednak", "natomiast"). A colon does not end it, so
  "Nie stwierdzono: zawału" is negated.

Negated mentions do not vote. Each category's LF votes its category when at least one
distinct lexicon entry of that category is mentioned outside a negation, else abstains;
with ``n`` distinct entries the confidence is ``1 - 0.5**n`` (0.5, 0.75, 0.875, ...):
each further independent cue halves the remaining doubt. Different surface forms of one
entry ("raka", "rakiem") count once.

An LF's version hashes its own column's entries (a topic LF its category's lexicon
without the report table, a report LF that table), its role, the negation cues, the matcher rules
(:data:`MATCHER_VERSION`) and the surface forms morfeusz2 produced for its terms. (Another
category's case-sensitive entries can, through leftmost-longest matching, in rare cases
change this LF's votes without changing its version.)
"""

from __future__ import annotations

import dataclasses
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import ahocorasick

from admedtagger.warehouse import NONE_LABEL, UserError

from .base import LabelingFunction, Vote, spec_version
from .morphology import MORPHOLOGIES, expand_terms, tool_version

# Bump when the matching or negation rules above change: every keyword LF gets a new version.
MATCHER_VERSION = 2

_PRE, _POST, _PSEUDO, _BREAK, _CANCEL = 1, 2, 4, 8, 16
_WORD_CHARS = "-_"
_CLAUSE_END = re.compile(r"[.;!?,\n()\[\]–—]| - ")
_SPACES = re.compile(r"[ \t\u00a0]+")


class LexiconError(UserError):
    pass


@dataclass(frozen=True)
class CategoryLexicon:
    terms: tuple[str, ...] = ()
    exact: tuple[str, ...] = ()
    patterns: tuple[str, ...] = ()
    # Entries (as written in terms/exact) that vote even inside a negation scope: the
    # modality of "Nie stwierdzono zmian ogniskowych w TK" is still CT.
    not_negated: tuple[str, ...] = ()
    # Phrases (inflected like terms) in which this category's entries do not count:
    # "tumor necrosis factor" is not oncology, "cardiac silhouette" is radiology.
    ignore: tuple[str, ...] = ()
    # The cues that the text IS a document of this type (a report's headers and template
    # phrases): terms, exact, patterns and not_negated, voted by their own LF. None: no table.
    report: "CategoryLexicon | None" = None

    def has_entries(self) -> bool:
        return any(getattr(self, k) for k in _ENTRY_KEYS)


@dataclass(frozen=True)
class Negation:
    pre: tuple[str, ...] = ()
    post: tuple[str, ...] = ()
    pseudo: tuple[str, ...] = ()
    breakers: tuple[str, ...] = ()
    cancels: tuple[str, ...] = ()


_NEGATION_KEYS = ("pre", "post", "pseudo", "breakers", "cancels")
_CATEGORY_KEYS = ("terms", "exact", "patterns", "not_negated", "ignore")
_REPORT_KEYS = ("terms", "exact", "patterns", "not_negated")
_ENTRY_KEYS = ("terms", "exact", "patterns")
# An LF's role: "topic" (what the text is about) or "report" (what kind of document it is).
TOPIC, REPORT = "topic", "report"
# What a :class:`Span` marks: an entry that counts, one a negation took away, a negation
# cue, a pseudo-negation cue.
MENTION, NEGATED, CUE, PSEUDO = "mention", "negated", "cue", "pseudo"


@dataclass(frozen=True)
class Span:
    """A stretch ``text[start:end]`` the matcher saw (:meth:`KeywordMatcher.spans`):
    ``kind`` one of :data:`MENTION`, :data:`NEGATED`, :data:`CUE`, :data:`PSEUDO`;
    ``column`` the matcher column (its LF) for mentions, None for cues."""

    start: int
    end: int
    kind: str
    column: int | None


@dataclass(frozen=True)
class Lexicon:
    """Lexicons keyed by lower-cased category name, with the shared negation cues.

    ``replace`` names the categories whose entries replace (rather than extend) those of
    the lexicon this one is merged into.
    """

    morphology: str = "none"
    negation: Negation = Negation()
    categories: dict[str, CategoryLexicon] = field(default_factory=dict)
    inflect_like: dict[str, str] = field(default_factory=dict)
    replace: frozenset[str] = frozenset()
    sources: tuple[str, ...] = ()

    def entry(self, name: str, role: str = TOPIC) -> CategoryLexicon:
        """The entries of category ``name`` (lower-cased) for ``role``; empty when it has none."""
        topic = self.categories.get(name, CategoryLexicon())
        return topic if role == TOPIC else topic.report or CategoryLexicon()

    def merged(self, other: "Lexicon") -> "Lexicon":
        """This lexicon extended by ``other`` (a user file): lists are appended with
        duplicates dropped, except for the categories ``other`` replaces."""
        categories = dict(self.categories)
        for name, extra in other.categories.items():
            base = categories.get(name)
            if base is None or name in other.replace:
                categories[name] = extra
            else:
                categories[name] = CategoryLexicon(
                    *(_union(getattr(base, k), getattr(extra, k)) for k in _CATEGORY_KEYS),
                    report=_merged_report(base.report, extra.report))
        negation = Negation(*(_union(getattr(self.negation, k), getattr(other.negation, k)) for k in _NEGATION_KEYS))
        return Lexicon(
            morphology=self.morphology, negation=negation, categories=categories,
            inflect_like={**self.inflect_like, **other.inflect_like}, sources=self.sources + other.sources,
        )


def _union(a: tuple[str, ...], b: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(dict.fromkeys((*a, *b)))


def _merged_report(base: CategoryLexicon | None, extra: CategoryLexicon | None) -> CategoryLexicon | None:
    if base is None or extra is None:
        return base or extra
    return CategoryLexicon(*(_union(getattr(base, k), getattr(extra, k)) for k in _REPORT_KEYS))


def load_lexicon(path: Path) -> Lexicon:
    """Read a lexicon file. Top-level keys: ``morphology`` (``morfeusz2`` or ``none``),
    ``[inflect_like]`` (word -> model word), ``[negation]`` (pre, post, pseudo, breakers)
    and ``[categories.<name>]`` (terms, exact, patterns, not_negated, ignore, replace, and
    the sub-table ``[categories.<name>.report]`` with terms, exact, patterns, not_negated)."""
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise LexiconError(f"{path}: {exc}") from exc
    unknown = set(data) - {"morphology", "language", "inflect_like", "negation", "categories"}
    if unknown:
        raise LexiconError(f"{path}: unknown key(s) {sorted(unknown)}; expected morphology, inflect_like, negation, categories")
    morphology = data.get("morphology", "none")
    if morphology not in MORPHOLOGIES:
        raise LexiconError(f"{path}: morphology must be one of {MORPHOLOGIES}, got {morphology!r}")
    inflect_like = data.get("inflect_like", {})
    if not isinstance(inflect_like, dict) or not all(isinstance(v, str) for v in inflect_like.values()):
        raise LexiconError(f"{path}: [inflect_like] must map words to model words (strings)")
    negation = Negation(*(_strings(path, f"negation.{k}", data.get("negation", {}).get(k, [])) for k in _NEGATION_KEYS))
    categories, replace = {}, set()
    for name, table in data.get("categories", {}).items():
        if not isinstance(table, dict):
            raise LexiconError(f"{path}: categories.{name} must be a table")
        extra = set(table) - {*_CATEGORY_KEYS, "replace", REPORT}
        if extra:
            raise LexiconError(f"{path}: categories.{name}: unknown key(s) {sorted(extra)}; "
                               "expected terms, exact, patterns, not_negated, ignore, replace, report")
        report = None
        if REPORT in table:
            sub = table[REPORT]
            if not isinstance(sub, dict):
                raise LexiconError(f"{path}: categories.{name}.report must be a table")
            extra = set(sub) - set(_REPORT_KEYS)
            if extra:
                raise LexiconError(f"{path}: categories.{name}.report: unknown key(s) {sorted(extra)}; "
                                   "expected terms, exact, patterns, not_negated")
            report = _category(path, f"categories.{name}.report", sub, _REPORT_KEYS)
        entry = _category(path, f"categories.{name}", table, _CATEGORY_KEYS)
        categories[name.lower()] = dataclasses.replace(entry, report=report)
        if table.get("replace", False):
            replace.add(name.lower())
    return Lexicon(morphology, negation, categories, dict(inflect_like), frozenset(replace), (str(path),))


def _category(path: Path, key: str, table: dict, keys: tuple[str, ...]) -> CategoryLexicon:
    """The entry lists ``keys`` of one category table (or its report table), checked."""
    entry = CategoryLexicon(**{k: _strings(path, f"{key}.{k}", table.get(k, [])) for k in keys})
    for pattern in entry.patterns:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise LexiconError(f"{path}: {key}.patterns: bad regular expression {pattern!r}: {exc}") from exc
    stray = set(entry.not_negated) - set(entry.terms) - set(entry.exact)
    if stray:
        raise LexiconError(f"{path}: {key}.not_negated: {sorted(stray)} are not in its terms or exact")
    return entry


def _strings(path: Path, key: str, value) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise LexiconError(f"{path}: {key} must be a list of non-empty strings")
    return tuple(dict.fromkeys(v.strip() for v in value))


class KeywordMatcher:
    """One automaton (and one regex for the patterns) for the lexicons of several categories.

    ``columns`` are ``(lower-cased category name, role)`` pairs in the order of the
    per-text counts that :meth:`match_batch` returns: role :data:`TOPIC` reads the
    category's own entries, :data:`REPORT` its ``report`` table. A hit is ``(column,
    entry id, exact string or None, votes when negated)``.
    """

    def __init__(self, lexicon: Lexicon, columns: Sequence[tuple[str, str]]) -> None:
        self.columns = list(columns)
        entries = [lexicon.entry(name, role) for name, role in self.columns]
        forms = expand_terms([t for e in entries for t in (*e.terms, *e.ignore)], lexicon.morphology, lexicon.inflect_like)
        self.forms = [{t: forms[t] for t in (*e.terms, *e.ignore)} for e in entries]
        # surface form -> [cue flags, [hits], {columns whose entries do not count inside it}]
        keys: dict[str, list] = {}
        for col, entry in enumerate(entries):
            immune = set(entry.not_negated)
            for eid, term in enumerate(entry.terms):
                for form in forms[term]:
                    keys.setdefault(form, [0, [], set()])[1].append((col, eid, None, term in immune))
            for eid, text in enumerate(entry.exact, start=len(entry.terms)):
                keys.setdefault(text.lower(), [0, [], set()])[1].append((col, eid, text, text in immune))
            for phrase in entry.ignore:
                for form in forms[phrase]:
                    keys.setdefault(form, [0, [], set()])[2].add(col)
        neg = lexicon.negation
        for flag, cues in ((_PRE, neg.pre), (_POST, neg.post), (_PSEUDO, neg.pseudo), (_BREAK, neg.breakers),
                           (_PRE | _POST | _CANCEL, neg.cancels)):
            for cue in cues:
                keys.setdefault(" ".join(cue.lower().split()), [0, [], set()])[0] |= flag
        # After the cues: a cue hides the entries inside it unless it carries them too.
        _add_nested_hits(keys)
        self._automaton = ahocorasick.Automaton()
        for key, (flags, hits, _) in keys.items():
            has_exact = any(h[2] is not None for h in hits)
            self._automaton.add_word(key, (len(key), flags, tuple(hits), has_exact))
        self._automaton.make_automaton()
        # One regex per category (its patterns as named alternatives): patterns of
        # different categories may match the same span ("pT2N0": Oncology and Pathology).
        self._patterns: list[tuple[re.Pattern, dict[str, tuple]]] = []
        for col, entry in enumerate(entries):
            if entry.patterns:
                hits = {f"g{eid}": ((col, eid, None, False),)
                        for eid in range(len(entry.terms) + len(entry.exact), len(entry.terms) + len(entry.exact) + len(entry.patterns))}
                alternatives = "|".join(f"(?P<{g}>{p})" for g, p in zip(hits, entry.patterns))
                self._patterns.append((re.compile(alternatives), hits))
        self._memo: tuple[tuple[str, ...], list[tuple[int, ...]]] | None = None

    def match_batch(self, texts: Sequence[str]) -> list[tuple[int, ...]]:
        """Per text, the number of distinct entries of each column mentioned outside a negation.

        The last batch is remembered, so the keyword LFs of several categories applied to
        the same texts scan them once.
        """
        key = tuple(texts)
        if self._memo is not None and self._memo[0] == key:
            return self._memo[1]
        counts = [self.match(t) for t in key]
        self._memo = (key, counts)
        return counts

    def match(self, text: str) -> tuple[int, ...]:
        """Distinct non-negated entries per column for one text."""
        k = len(self.columns)
        seen = self.mentions(text)
        if not seen:
            return (0,) * k
        counts = [0] * k
        for col, _ in seen:
            counts[col] += 1
        return tuple(counts)

    def mentions(self, text: str) -> set[tuple[int, int]]:
        """(column, entry id) of every entry mentioned outside a negation."""
        found, _, _ = self._scan(text)
        return {(h[0], h[1]) for _, _, kept, _ in found for h in kept}

    def spans(self, text: str) -> list[Span]:
        """Where in ``text`` the matcher saw what it counts: the same scan as :meth:`mentions`.

        One :class:`Span` per matched stretch and column: ``mention`` (the entry counts
        towards that column's vote), ``negated`` (matched, but a negation took it away);
        and one per cue with ``column`` None: ``cue`` (a pre/post/cancelling negation cue)
        or ``pseudo`` (a pseudo-negation, which negates nothing). Offsets index ``text``
        as given (the scan collapses runs of blanks; the offsets are mapped back).
        Sorted by start, then longest first.
        """
        found, cues, scanned = self._scan(text, with_cues=True)
        origin = _origin_offsets(text) if scanned is not text else None
        result = []
        for start, end, kept, matched in found:
            counted = {h[0] for h in kept}
            result.extend(Span(start, end, MENTION, col) for col in sorted(counted))
            result.extend(Span(start, end, NEGATED, col) for col in sorted({h[0] for h in matched} - counted))
        for start, end, flags in cues:
            if flags & _PSEUDO:
                result.append(Span(start, end, PSEUDO, None))
            elif flags & (_PRE | _POST):
                result.append(Span(start, end, CUE, None))
        if origin is not None:
            result = [dataclasses.replace(s, start=origin[s.start], end=origin[s.end - 1] + 1) for s in result]
        return sorted(result, key=lambda s: (s.start, -s.end, s.kind, -1 if s.column is None else s.column))

    def _scan(self, text: str, with_cues: bool = False) -> tuple[list[tuple[int, int, tuple, tuple]],
                                                                 list[tuple[int, int, int]], str]:
        """The negation-aware scan behind :meth:`mentions` and :meth:`spans`.

        Returns ``found`` (start, end, hits that count, hits matched), ``cues`` (start,
        end, cue flags; only collected when ``with_cues``) and the scanned text (blanks
        collapsed; the offsets index it).
        """
        if "  " in text or "\t" in text or "\u00a0" in text:
            text = _SPACES.sub(" ", text)
        low = text.lower()
        if len(low) != len(text):
            # A few characters lower-case to two (İ): keep them so offsets stay aligned.
            low = "".join(c.lower() if len(c.lower()) == 1 else c for c in text)
        found: list[tuple[int, int, tuple, tuple]] = []
        cues: list[tuple[int, int, int]] = []
        negated_from = -1  # end of the open pre-negation cue, -1 when none
        cancelling = False  # the open cue negates not_negated entries too
        clause_start = 0  # where the current clause began (after the last breaker)
        for start, end, flags, hits in self._events(text, low):
            if flags and with_cues:
                cues.append((start, end, flags))
            if flags & _PSEUDO:
                # A pseudo cue may carry entries inside it ("no interval change"): they count.
                negated_from = -1
            elif flags:
                if flags & _BREAK:
                    negated_from, clause_start = -1, end
                if flags & _POST:
                    i = len(found) - 1
                    while i >= 0 and found[i][0] >= clause_start and _CLAUSE_END.search(low, found[i][1], start) is None:
                        kept = () if flags & _CANCEL else tuple(h for h in found[i][2] if h[3])
                        found[i] = (found[i][0], found[i][1], kept, found[i][3])
                        i -= 1
                if flags & _PRE:
                    negated_from, cancelling = end, bool(flags & _CANCEL)
            if hits:
                kept = hits
                if negated_from >= 0:
                    if _CLAUSE_END.search(low, negated_from, start) is None:
                        kept = () if cancelling else tuple(h for h in hits if h[3])
                    else:
                        negated_from = -1
                found.append((start, end, kept, hits))
        return found, cues, text

    def _events(self, text: str, low: str) -> list[tuple[int, int, int, tuple]]:
        """(start, end, cue flags, hits) of every match at word boundaries, in text order."""
        events = []
        n = len(low)
        for last, (length, flags, hits, has_exact) in self._automaton.iter_long(low):
            start, end = last - length + 1, last + 1
            if start > 0 and (low[start - 1].isalnum() or low[start - 1] in _WORD_CHARS):
                continue
            if end < n and (low[end].isalnum() or low[end] in _WORD_CHARS):
                continue
            if has_exact:
                hits = tuple(h for h in hits if h[2] is None or text[start:end] == h[2])
                if not hits and not flags:
                    continue
            events.append((start, end, flags, hits))
        extra = [(m.start(), m.end(), 0, hits[m.lastgroup]) for regex, hits in self._patterns for m in regex.finditer(text)]
        if extra:
            events = sorted(events + extra, key=lambda e: e[0])
        return events


def _origin_offsets(text: str) -> list[int]:
    """For each character of ``text`` with its blank runs collapsed as :meth:`KeywordMatcher._scan`
    does, its offset in ``text``."""
    origin: list[int] = []
    done = 0
    for blanks in _SPACES.finditer(text):
        origin.extend(range(done, blanks.start()))
        origin.append(blanks.start())
        done = blanks.end()
    origin.extend(range(done, len(text)))
    return origin


def _add_nested_hits(keys: dict[str, list]) -> None:
    """Give a multi-word form (or negation cue) the hits of shorter forms of OTHER columns inside it.

    Matching is leftmost-longest, so "rak gruczołowy" (Pathology) would hide the "rak" of
    Oncology; within one column the longest, most specific entry counts alone, and a
    category's ``ignore`` phrases keep its entries out. A category's report table is a
    column of its own, so "rozpoznanie histopatologiczne" (a report cue) still counts the
    topic entry "histopatologiczny", and the pseudo cue "no interval change" the report
    phrase "interval change".
    """
    for key, (_, hits, ignored) in keys.items():
        words = key.split(" ")
        if len(words) < 2:
            continue
        columns = {h[0] for h in hits} | ignored
        for i in range(len(words)):
            for j in range(i + 1, len(words) + 1):
                inner = keys.get(" ".join(words[i:j])) if j - i < len(words) else None
                if inner:
                    hits.extend(h for h in inner[1] if h[0] not in columns and h[2] is None and h not in hits)


@dataclass
class KeywordLF(LabelingFunction):
    """Votes ``label`` when the matcher finds its column's entries, with confidence ``1 - 0.5**n``."""

    matcher: KeywordMatcher | None = field(default=None, repr=False, compare=False)
    column: int = 0
    label: int = NONE_LABEL

    def apply(self, texts: Sequence[str]) -> list[Vote]:
        col = self.column
        votes = [Vote(NONE_LABEL)] + [Vote(self.label, 1 - 0.5**n) for n in range(1, 9)]
        return [votes[min(row[col], 8)] for row in self.matcher.match_batch(texts)]


def keyword_lfs(lexicon: Lexicon, categories: Sequence[tuple[int, str]]) -> list[KeywordLF]:
    """The keyword LFs of ``categories`` (``(label id, name)``), sharing one matcher.

    One LF ``kw_<category>`` (role ``topic``) per category with entries, in category order,
    then one ``kw_<category>_report`` (role ``report``) per category with a ``report`` table.
    """
    chosen = [(label, name, role) for role in (TOPIC, REPORT) for label, name in categories
              if lexicon.entry(name.lower(), role).has_entries()]
    if not chosen:
        return []
    matcher = KeywordMatcher(lexicon, [(name.lower(), role) for _, name, role in chosen])
    negation = {k: list(getattr(lexicon.negation, k)) for k in _NEGATION_KEYS}
    lfs = []
    for col, (label, name, role) in enumerate(chosen):
        entry = lexicon.entry(name.lower(), role)
        spec = {
            "category": name, "label": label, "role": role, "matcher": MATCHER_VERSION,
            "terms": list(entry.terms), "exact": list(entry.exact), "patterns": list(entry.patterns),
            "not_negated": list(entry.not_negated), "ignore": list(entry.ignore), "negation": negation, "morphology": tool_version(lexicon.morphology),
            # The surface forms decide the votes; their hash makes a dictionary update a new version.
            "forms": spec_version({t: list(f) for t, f in sorted(matcher.forms[col].items())}),
        }
        suffix = "" if role == TOPIC else f"_{REPORT}"
        lfs.append(KeywordLF(name=f"kw_{_slug(name)}{suffix}", kind="keyword", spec=spec, matcher=matcher, column=col, label=label))
    return lfs


def _slug(name: str) -> str:
    return re.sub(r"[^0-9a-z]+", "_", name.lower()).strip("_")
