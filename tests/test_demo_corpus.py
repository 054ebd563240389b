"""The bundled demo corpus is what its seeded generator writes, and fit for the demo."""

from __future__ import annotations

import json
from collections import Counter

from admedtagger.demo import corpus


def test_bundled_file_matches_the_generator(tmp_path):
    fresh = tmp_path / "demo.jsonl"
    corpus.write_jsonl(fresh, corpus.generate())
    assert fresh.read_bytes() == corpus.BUNDLED_CORPUS.read_bytes()


def test_corpus_covers_every_category_and_other():
    rows = [json.loads(line) for line in corpus.BUNDLED_CORPUS.read_text(encoding="utf-8").splitlines()]
    counts = Counter(r["label"] for r in rows)
    assert len(rows) >= 600
    assert set(counts) == {*corpus.CATEGORIES, corpus.OTHER}
    assert min(counts.values()) >= 90
    assert len({r["text"] for r in rows}) == len(rows)
