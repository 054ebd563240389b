"""Surface forms of lexicon terms: Polish inflection with morfeusz2, cached on disk.

Lexicons list lemmas ("nowotwór", "zawał serca"); texts contain inflected forms
("nowotworu", "zawałem serca"). :func:`expand_terms` turns every term into the set of its
lower-cased surface forms once, with the SGJP dictionary that ships inside the
``morfeusz2`` wheel, and keeps the result in a JSON file keyed by a hash of the term list
and the morfeusz2 version, so a later run with the same lexicon loads it in milliseconds
without loading the dictionary at all.

How a term is inflected (``morphology = "morfeusz2"``):

* one word: every form morfeusz2 generates from it as a lemma (nouns: 7 cases x 2
  numbers; adjectives: positive degree in every case, number and gender; verbs: every
  form, including gerunds and passive participles). Negated forms ("nieuwidoczniony")
  and comparative/superlative degrees are left out. A word that is not a lemma the
  dictionary knows (abbreviations, Latin, a word written in an inflected form) is
  matched as written.
* several words: the *head* is a noun in the nominative, optionally preceded by
  adjectives in the nominative that agree with it; adjectives right after the head that
  agree with it inflect with it too; every other word stays as written. Where several
  words could be the head, the one that lets the most words inflect wins (the first on a
  tie): "lewa komora" -> "lewej komory", although "lewa" also reads as a noun. Forms are
  combined only when they agree in number, case and gender:
  "ostry zespół wieńcowy" -> "ostrego zespołu wieńcowego", "ostrym zespołem wieńcowym", ...;
  "rak płuca" -> "raka płuca", "rakiem płuca", ... ("płuca" is a genitive complement and
  stays). If the first word is neither a nominative noun nor such an adjective the term
  is matched as written.
* a hyphenated word inflects its last part: "kardiowerter-defibrylator" ->
  "kardiowerter-defibrylatora".

``morphology = "none"`` (the English pack) matches every term as written; such a
lexicon lists the forms it wants (singular and plural).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from functools import lru_cache
from importlib import metadata
from itertools import product
from pathlib import Path
from typing import Iterable

MORPHOLOGIES = ("morfeusz2", "none")
# Bump when the expansion rules above change, so cached expansions are recomputed.
ALGORITHM_VERSION = 2

_NOMINAL = ("subst", "ger", "adj", "ppas", "pact")
_ADJECTIVAL = ("adj", "ppas", "pact")
_NOUNS = ("subst", "ger")


def cache_dir() -> Path:
    """``$ADMEDTAGGER_CACHE``, else ``~/.cache/admedtagger``."""
    root = os.environ.get("ADMEDTAGGER_CACHE")
    return Path(root).expanduser() if root else Path.home() / ".cache" / "admedtagger"


def tool_version(morphology: str) -> str:
    """What produced the forms, e.g. ``morfeusz2 1.99.15`` (the SGJP dictionary ships in the wheel)."""
    if morphology == "none":
        return "none"
    return f"morfeusz2 {metadata.version('morfeusz2')}"


def expand_terms(
    terms: Iterable[str], morphology: str, inflect_like: dict[str, str] | None = None
) -> dict[str, tuple[str, ...]]:
    """term -> sorted lower-cased surface forms (the term itself always among them).

    ``inflect_like`` maps words SGJP does not know to a known model word with the same
    paradigm (``troponina = "witamina"``; see :class:`Dictionary`). With ``morfeusz2``
    the result is cached under :func:`cache_dir` in ``forms/<hash>.json``; the hash
    covers the sorted term list, the analogies, the morfeusz2 version and
    :data:`ALGORITHM_VERSION`.
    """
    unique = sorted({t.strip() for t in terms if t.strip()})
    if morphology == "none":
        return {t: (t.lower(),) for t in unique}
    if morphology != "morfeusz2":
        raise ValueError(f"unknown morphology {morphology!r}")
    analogies = dict(sorted((inflect_like or {}).items()))
    key = hashlib.sha256(
        json.dumps({"algorithm": ALGORITHM_VERSION, "tool": tool_version(morphology), "terms": unique,
                    "inflect_like": analogies}, ensure_ascii=False).encode("utf-8")
    ).hexdigest()[:24]
    path = cache_dir() / "forms" / f"{morphology}-{key}.json"
    try:
        cached = json.loads(path.read_text(encoding="utf-8"))
        return {t: tuple(cached[t]) for t in unique}
    except (OSError, ValueError, KeyError):
        pass  # absent or damaged: recompute
    inflector = PolishInflector(Dictionary(analogies))
    expanded = {t: inflector.forms(t) for t in unique}
    _write_atomically(path, json.dumps(expanded, ensure_ascii=False))
    return expanded


def _write_atomically(path: Path, text: str) -> None:
    """Write via a temporary file and rename, so a concurrent reader never sees half a file."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", encoding="utf-8", dir=path.parent, delete=False, suffix=".tmp") as tmp:
            tmp.write(text)
        os.replace(tmp.name, path)
    except OSError:
        pass  # a read-only home only costs the recomputation next time


@lru_cache(maxsize=1)
def _morfeusz():
    import morfeusz2

    return morfeusz2.Morfeusz()


class Dictionary:
    """morfeusz2's analysis and generation, extended by paradigms borrowed from model words.

    SGJP lacks many medical words ("troponina", "immunohistochemiczny", "bioptat"). For
    such a word W with model M (``inflect_like[W] = M``), every form F that morfeusz2
    generates from M gives a form of W: with ``k`` the length of the common prefix of M
    and F, W's form is W minus M's last ``len(M) - k`` letters plus ``F[k:]``
    (witamina -> witaminie gives troponina -> troponinie), with F's tag. The paradigm
    comes from the dictionary; only the choice of model is written by hand.
    """

    def __init__(self, inflect_like: dict[str, str] | None = None) -> None:
        self._m = _morfeusz()
        self._borrowed: dict[str, list[tuple[str, str, str]]] = {}
        self._by_form: dict[str, list[tuple[str, str]]] = {}
        for word, model in (inflect_like or {}).items():
            paradigm = self._borrow(word.lower(), model.lower())
            self._borrowed[word.lower()] = paradigm
            for form, lemma, tag in paradigm:
                self._by_form.setdefault(form, []).append((lemma, tag))

    def _borrow(self, word: str, model: str) -> list[tuple[str, str, str]]:
        paradigm = []
        for form, lemma, tag, *_ in self._m.generate(model):
            if _base(lemma) != model:
                continue
            k = len(_common_prefix(model, form))
            if len(word) < len(model) - k:
                continue
            paradigm.append((word[: len(word) - (len(model) - k)] + form[k:], word, tag))
        if not paradigm:
            raise ValueError(f"inflect_like: the model word {model!r} for {word!r} is not a lemma morfeusz2 knows")
        return paradigm

    def analyse(self, word: str) -> list[tuple[str, str]]:
        """(lemma, tag) of every reading of one word; unknown words have none."""
        readings = [(a[2][1], a[2][2]) for a in self._m.analyse(word) if a[2][2] != "ign"]
        return readings + self._by_form.get(word.lower(), [])

    def generate(self, lemma: str) -> list[tuple[str, str, str]]:
        """(form, lemma, tag) of every form of ``lemma`` (with its homonym suffix, if any)."""
        base = _base(lemma)
        if base in self._borrowed:
            return self._borrowed[base]
        homonym = ":" in lemma  # "lek:Sm2": only that homonym's forms
        return [(f, lem, tag) for f, lem, tag, *_ in self._m.generate(lemma.split(":", 1)[0])
                if (lem == lemma if homonym else _base(lem) == base)]


def _common_prefix(a: str, b: str) -> str:
    i = 0
    while i < min(len(a), len(b)) and a[i] == b[i]:
        i += 1
    return a[:i]


def _triples(tag: str) -> set[tuple[str, str, str]]:
    """(number, case, gender) combinations a nominal tag such as ``adj:sg:nom.voc:m1.m2.m3:pos`` covers."""
    parts = tag.split(":")
    return set(product(parts[1].split("."), parts[2].split("."), parts[3].split(".")))


def _usable(tag: str) -> bool:
    """Leave out negated forms and comparative/superlative degrees."""
    parts = tag.split(":")
    return "neg" not in parts and parts[-1] not in ("com", "sup")


class PolishInflector:
    """Generates the surface forms of a Polish term (see the module docstring for the rules)."""

    def __init__(self, dictionary: Dictionary | None = None) -> None:
        self._d = dictionary or Dictionary()

    def forms(self, term: str) -> tuple[str, ...]:
        words = term.split()
        if len(words) == 1:
            return self._word_forms(words[0])
        return self._phrase_forms(words)

    def unknown(self, term: str) -> list[str]:
        """Words of ``term`` the dictionary (with its analogies) has no reading for."""
        return [w for w in term.split() if not self._d.analyse(_split_hyphen(w)[1])]

    def _word_forms(self, word: str) -> tuple[str, ...]:
        prefix, last = _split_hyphen(word)
        readings = self._d.analyse(last)
        forms = {word.lower()}
        lemmas = {lemma for lemma, _ in readings if _base(lemma) == last.lower()}
        if lemmas:
            # The word is a lemma: all its forms, whatever the class.
            for lemma in lemmas:
                forms |= {prefix.lower() + f.lower() for f, _, tag in self._d.generate(lemma) if _usable(tag)}
        else:
            # An inflected form in the nominative ("leki", "zacienienie", "powiększony"):
            # the forms of its lemma in the same class.
            for lemma, cls, _ in self._nominative(word, _NOMINAL):
                forms |= {prefix.lower() + f.lower() for f, _, tag in self._d.generate(lemma)
                          if tag.split(":")[0] == cls and _usable(tag)}
        return tuple(sorted(forms))

    def _nominative(self, word: str, classes: tuple[str, ...]) -> list[tuple[str, str, set]]:
        """Readings of ``word`` in the nominative: (lemma, class, {(number, gender)})."""
        readings = []
        for lemma, tag in self._d.analyse(_split_hyphen(word)[1]):
            cls = tag.split(":")[0]
            if cls in classes and _usable(tag):
                agree = {(n, g) for n, c, g in _triples(tag) if c == "nom"}
                if agree:
                    readings.append((lemma, cls, agree))
        return readings

    def _phrase_forms(self, words: list[str]) -> tuple[str, ...]:
        written = " ".join(words).lower()
        plan = self._agreement_plan(words)
        if plan is None:
            return (written,)
        forms = {written}
        # For each inflecting word: {(number, case, gender): [forms]}.
        tables = [self._forms_by_triple(words[i], lemma, cls) for i, (lemma, cls) in plan.items()]
        keys = set.intersection(*(set(t) for t in tables))
        for key in keys:
            for combo in product(*(t[key] for t in tables)):
                chosen = dict(zip(plan, combo))
                forms.add(" ".join(chosen.get(i, w.lower()) for i, w in enumerate(words)))
        return tuple(sorted(forms))

    def _agreement_plan(self, words: list[str]) -> dict[int, tuple[str, str]] | None:
        """word index -> (lemma, class) of the words that inflect together, or None.

        Of the possible heads (a nominative noun preceded only by adjectives that agree
        with it) the one whose plan covers the most words wins, the first on a tie: in
        "lewa komora" the head is "komora", although "lewa" has a noun reading too.
        """
        best: dict[int, tuple[str, str]] | None = None
        for head in range(len(words)):
            nouns = self._nominative(words[head], _NOUNS)
            # Prefer the noun reading ("zdjęcie" the noun, not the gerund of "zdjąć").
            nouns.sort(key=lambda r: r[1] != "subst")
            for lemma, cls, agree in nouns:
                plan = {head: (lemma, cls)}
                for i in range(head):
                    match = [r for r in self._nominative(words[i], _ADJECTIVAL) if r[2] & agree]
                    if not match:
                        break
                    plan[i] = match[0][:2]
                else:
                    for i in range(head + 1, len(words)):
                        match = [r for r in self._nominative(words[i], _ADJECTIVAL) if r[2] & agree]
                        if not match:
                            break
                        plan[i] = match[0][:2]
                    if best is None or len(plan) > len(best):
                        best = plan
            if not self._nominative(words[head], _ADJECTIVAL):
                break  # a later head would need this word to be an adjective
        return best

    def _forms_by_triple(self, word: str, lemma: str, cls: str) -> dict[tuple, list[str]]:
        prefix, _ = _split_hyphen(word)
        table: dict[tuple, list[str]] = {}
        for form, _, tag in self._d.generate(lemma):
            if tag.split(":")[0] != cls or not _usable(tag):
                continue
            for key in _triples(tag):
                table.setdefault(key, []).append(prefix.lower() + form.lower())
        return table


def _split_hyphen(word: str) -> tuple[str, str]:
    """``"kardiowerter-defibrylator"`` -> ``("kardiowerter-", "defibrylator")``."""
    head, dash, last = word.rpartition("-")
    return (head + dash, last) if dash and last else ("", word)


def _base(lemma: str) -> str:
    """Lemma without the homonym suffix: ``lek:Sm2`` -> ``lek``."""
    return lemma.split(":", 1)[0].lower()
