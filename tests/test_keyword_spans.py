"""Where the keyword matcher saw what it counts (``KeywordMatcher.spans``), and the page
markup built from it: the same scan the keyword LFs vote from."""

from __future__ import annotations

import json

import pytest

from admedtagger.labeling.keywords import CUE, MENTION, NEGATED, PSEUDO, keyword_lfs, load_lexicon
from admedtagger.labeling.registry import pack_lexicon
from admedtagger.web.highlight import highlight
from conftest import DEMO_CORPUS

CATEGORIES = list(enumerate(["Radiology", "Oncology", "Cardiology", "Hypertension", "Pathology"]))


@pytest.fixture(scope="module")
def polish():
    lfs = keyword_lfs(load_lexicon(pack_lexicon("pl")), CATEGORIES)
    return lfs[0].matcher, {lf.column: lf.name for lf in lfs}


def marked(text, spans, names):
    return [(text[s.start:s.end], s.kind, names.get(s.column)) for s in spans]


def test_mentions_negations_and_cues_are_located(polish):
    matcher, names = polish
    text = "Nie stwierdzono zmian ogniskowych w TK. Rak płuca. Nie można wykluczyć zawału serca."
    assert marked(text, matcher.spans(text), names) == [
        ("Nie stwierdzono", CUE, None),
        ("zmian ogniskowych", NEGATED, "kw_radiology"),
        ("TK", MENTION, "kw_radiology"),  # a modality inside a negation still counts (not_negated)
        ("Rak płuca", MENTION, "kw_oncology"),
        ("Nie można wykluczyć", PSEUDO, None),
        ("zawału serca", MENTION, "kw_cardiology"),
    ]


def test_a_post_negation_takes_back_the_mention_before_it(polish):
    matcher, names = polish
    text = "Zmian ogniskowych nie stwierdzono. Nadciśnienie tętnicze."
    assert marked(text, matcher.spans(text), names) == [
        ("Zmian ogniskowych", NEGATED, "kw_radiology"),
        ("nie stwierdzono", CUE, None),
        ("Nadciśnienie tętnicze", MENTION, "kw_hypertension"),
    ]


def test_offsets_index_the_text_as_given_when_blanks_are_collapsed(polish):
    matcher, names = polish
    text = "Pacjent  z\t\tnadciśnieniem\u00a0 tętniczym.   Rak   płuca."
    found = marked(text, matcher.spans(text), names)
    assert ("nadciśnieniem\u00a0 tętniczym", MENTION, "kw_hypertension") in found
    assert ("Rak   płuca", MENTION, "kw_oncology") in found


def test_spans_agree_with_the_votes_on_the_whole_demo_corpus(polish):
    """One scan: a column has a mention span exactly when its LF votes."""
    matcher, _ = polish
    texts = [json.loads(line)["text"] for line in DEMO_CORPUS.read_text(encoding="utf-8").splitlines()]
    for text in texts:
        counted = {s.column for s in matcher.spans(text) if s.kind == MENTION}
        assert counted == {col for col, n in enumerate(matcher.match(text)) if n}, text


def test_highlight_escapes_everything_and_marks_the_spans(polish):
    matcher, names = polish
    text = 'Rak płuca <script>alert(1)</script> "><img src=x onerror=alert(1)> & nie stwierdzono zawału.'
    html = str(highlight(text, matcher.spans(text), names))
    assert "<script>" not in html and "<img" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "&#34;&gt;&lt;img src=x" in html and "&amp;" in html
    assert '<mark class="kw" title="kw_oncology: counts">Rak płuca</mark>' in html
    assert '<mark class="cue" title="negation cue">nie stwierdzono</mark>' in html
    assert '<mark class="neg" title="kw_cardiology: negated, does not count">zawału</mark>' in html


def test_overlapping_spans_keep_the_first_longest(polish):
    """A pattern match may overlap an automaton match: the markup never nests or repeats text."""
    from admedtagger.labeling.keywords import Span

    html = str(highlight("abcdef", [Span(0, 4, MENTION, 0), Span(2, 6, MENTION, 1), Span(0, 4, NEGATED, 2)],
                         {0: "a", 1: "b", 2: "c"}))
    assert html == '<mark class="kw" title="a: counts; c: negated, does not count">abcd</mark>ef'
