"""The bundled demo corpus is what its seeded generator writes, and fit for the demo."""

from __future__ import annotations

import json
from collections import Counter

from admedtagger.warehouse import demo_corpus

from pathlib import Path

DEMO_CORPUS = Path(demo_corpus.__file__).parent / "data" / "demo_pl.jsonl"


def test_bundled_file_matches_the_generator(tmp_path):
    fresh = tmp_path / "demo.jsonl"
    demo_corpus.write_jsonl(fresh, demo_corpus.generate())
    assert fresh.read_bytes() == DEMO_CORPUS.read_bytes()


def test_corpus_covers_every_category_and_other():
    rows = [json.loads(line) for line in DEMO_CORPUS.read_text(encoding="utf-8").splitlines()]
    counts = Counter(r["label"] for r in rows)
    assert len(rows) >= 600
    assert set(counts) == {*demo_corpus.CATEGORIES, demo_corpus.OTHER}
    assert min(counts.values()) >= 90
    assert len({r["text"] for r in rows}) == len(rows)
