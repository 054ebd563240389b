"""The CPU student: hashed character n-gram TF-IDF and a linear classifier (scikit-learn).

Features: character n-grams (2..5 by default) inside word boundaries, like scikit-learn's
``analyzer="char_wb"``: the text is NFC-normalised, lower-cased, its whitespace runs
collapsed, every word padded with one space on each side, and an n-gram never spans two
words. Character n-grams suit Polish, where one lemma has many inflected endings
("nowotwór, nowotworu, nowotworem" share "nowot"). The n-grams are hashed into
``n_features`` columns (:class:`CharNgramHasher`) instead of going through
scikit-learn's ``TfidfVectorizer``: that analyzer and its vocabulary are pure Python and
took ~15 s for 5,000 texts of 500 characters here, the numpy hasher ~1 s, which is what
lets 100k texts train in well under two minutes. Counts are then weighted by
scikit-learn's ``TfidfTransformer`` (sublinear tf, smoothed idf, l2 norm).

Classifier: multinomial ``LogisticRegression`` (lbfgs), or ``SGDClassifier`` with log
loss when the training rows exceed ``sgd_above`` (large data), over K+1 classes: the K
categories and "fits no category" (column K, see :mod:`.data`), so the student says
"none" when that class wins (:mod:`.labels`). Soft labels are trained exactly: a document
with target probabilities p_0..p_K becomes weighted rows (class c, sample weight p_c;
rows with p_c < 0.01 dropped, :func:`.data.expand_targets`), and the weighted log loss
sum_c p_c * -log q_c is the cross-entropy against the soft target. Hard labels use the
argmax with weight 1.

Saved as plain arrays (``model.npz``: kept columns, idf, weights, intercepts, the
classes seen), loaded with ``allow_pickle=False``: a file can hold numbers only, never code, so loading is
safe by construction, independent of the scikit-learn version, and light: serving
imports numpy and scipy only (skops' loader alone imported ~400 MB of modules here).
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import scipy.sparse as sp


from .data import expand_targets
from .model_file import MODEL_FILE, ModelFileError, read_model_file

_FNV_PRIME = np.uint64(0x100000001B3)
_MIX = np.uint64(0xFF51AFD7ED558CCD)


class CharNgramHasher:
    """Texts -> sparse counts of hashed word-bounded character n-grams (stateless).

    Each n-gram's hash is FNV-1a over its code points, seeded by n, then mixed
    (xor-shift-multiply) and reduced modulo ``n_features``: plain integer maths, the
    same on every platform, so a saved model needs no vocabulary.
    """

    def __init__(self, ngram_range: tuple[int, int] = (2, 5), n_features: int = 2**20, chunk_chars: int = 2_000_000):
        self.ngram_range = ngram_range
        self.n_features = n_features
        self.chunk_chars = chunk_chars

    def transform(self, texts: Sequence[str]) -> sp.csr_matrix:
        parts, chunk, size = [], [], 0
        for text in texts:
            chunk.append(text)
            size += len(text)
            if size >= self.chunk_chars:
                parts.append(self._hash_chunk(chunk))
                chunk, size = [], 0
        if chunk or not parts:
            parts.append(self._hash_chunk(chunk))
        return sp.vstack(parts, format="csr") if len(parts) > 1 else parts[0]

    def _hash_chunk(self, texts: list[str]) -> sp.csr_matrix:
        docs = [" " + " ".join(unicodedata.normalize("NFC", t).lower().split()) + " " for t in texts]
        lengths = np.fromiter((len(d) for d in docs), dtype=np.int64, count=len(docs))
        codes = np.frombuffer("".join(docs).encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
        doc_of = np.repeat(np.arange(len(docs)), lengths)
        space = codes == 32
        rows, cols = [], []
        low, high = self.ngram_range
        for n in range(low, high + 1):
            m = len(codes) - n + 1
            if m <= 0:
                continue
            keep = doc_of[:m] == doc_of[n - 1:]
            h = np.full(m, np.uint64((n * 0x9E3779B97F4A7C15) % 2**64))
            for j in range(n):
                if 0 < j < n - 1:
                    keep &= ~space[j:j + m]  # a space inside the window: it spans two words
                h = (h ^ codes[j:j + m]) * _FNV_PRIME
            h = h[keep]
            h ^= h >> np.uint64(33)
            h *= _MIX
            h ^= h >> np.uint64(33)
            rows.append(doc_of[:m][keep])
            cols.append((h % np.uint64(self.n_features)).astype(np.int64))
        row = np.concatenate(rows) if rows else np.zeros(0, np.int64)
        col = np.concatenate(cols) if cols else np.zeros(0, np.int64)
        counts = sp.csr_matrix(
            (np.ones(len(row), dtype=np.float32), (row, col)), shape=(len(docs), self.n_features)
        )
        counts.sum_duplicates()
        return counts


def min_df_columns(counts: sp.csr_matrix, min_df: int) -> np.ndarray:
    """Sorted ids of the columns present in at least ``min_df`` documents.

    Hashing leaves most of the ``n_features`` columns empty; fitting on the columns that
    occur (and dropping one-off n-grams, like ``min_df``) makes each solver iteration and
    the saved model proportionally smaller. Unseen columns would get zero weight anyway:
    their gradient is always zero.
    """
    df = np.bincount(counts.indices, minlength=counts.shape[1])
    return np.flatnonzero(df >= min_df).astype(np.int64)


def select_columns(counts: sp.csr_matrix, columns: np.ndarray) -> sp.csr_matrix:
    """``counts[:, columns]`` by remapping column ids (``columns`` sorted: rows stay sorted)."""
    lookup = np.full(counts.shape[1], -1, dtype=np.int64)
    lookup[columns] = np.arange(len(columns))
    new = lookup[counts.indices]
    keep = new >= 0
    rows = np.repeat(np.arange(counts.shape[0]), np.diff(counts.indptr))[keep]
    indptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=counts.shape[0]))])
    return sp.csr_matrix((counts.data[keep], new[keep], indptr), shape=(counts.shape[0], len(columns)))


@dataclass
class TfidfStudent:
    """The fitted model as plain arrays, and what it predicts: probabilities over K+1 classes.

    Prediction repeats scikit-learn's maths with numpy/scipy: TfidfTransformer
    (tf -> 1 + ln tf, times idf, rows l2-normalised), then the classifier's decision
    z = X W^T + b and its probabilities (``link``): softmax for multinomial logistic
    regression, per-class sigmoids normalised to sum 1 for one-vs-rest SGD, [1-s, s]
    for a two-class model. ``test_students`` checks it against scikit-learn's own
    ``predict_proba``. Serving thus needs neither scikit-learn nor pickle.
    """

    category_names: list[str]
    ngram_range: tuple[int, int]
    n_features: int
    columns: np.ndarray  # hashed column ids kept (min_df)
    idf: np.ndarray  # per kept column
    coef: np.ndarray  # (rows, kept columns); rows = len(classes), or 1 for two classes
    intercept: np.ndarray
    classes: np.ndarray  # columns (category ids, K = none) the classifier saw
    link: str  # softmax | ovr
    kind: str = "tfidf"

    def features(self, texts: Sequence[str]) -> sp.csr_matrix:
        counts = CharNgramHasher(tuple(self.ngram_range), self.n_features).transform(texts)
        x = select_columns(counts, self.columns)
        np.log(x.data, out=x.data)
        x.data += 1.0
        x = x @ sp.diags(self.idf.astype(np.float64))
        norms = np.sqrt(np.asarray(x.multiply(x).sum(axis=1)).ravel())
        norms[norms == 0] = 1.0
        return sp.csr_matrix(x.multiply(1.0 / norms[:, None]))

    def predict_proba(self, texts: Sequence[str], batch_size: int = 1024,
                      on_progress: Callable[[int], None] | None = None) -> np.ndarray:
        """(n, K+1) probabilities, column K = none; a class absent from training gets probability 0."""
        out = np.zeros((len(texts), len(self.category_names) + 1))
        for start in range(0, len(texts), batch_size):
            batch = list(texts[start:start + batch_size])
            z = np.asarray(self.features(batch) @ self.coef.T.astype(np.float64)) + self.intercept
            out[start:start + len(batch), self.classes] = _probabilities(z, self.link)
            if on_progress:
                on_progress(start + len(batch))
        return out

    def n_params(self) -> int:
        """Learned numbers: the classifier's weights and intercepts plus the idf vector."""
        return int(self.coef.size + self.intercept.size + self.idf.size)

    def save(self, folder: Path) -> None:
        np.savez_compressed(
            folder / MODEL_FILE, columns=self.columns, idf=self.idf.astype(np.float32),
            coef=self.coef.astype(np.float32), intercept=self.intercept, classes=self.classes,
            ngram_range=np.asarray(self.ngram_range), n_features=np.asarray(self.n_features),
            link=np.asarray(self.link),
        )


def _probabilities(z: np.ndarray, link: str) -> np.ndarray:
    if z.shape[1] == 1:  # two classes: one decision column for the second class
        p = 1.0 / (1.0 + np.exp(-z[:, 0]))
        return np.column_stack([1.0 - p, p])
    if link == "softmax":
        z = z - z.max(axis=1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(axis=1, keepdims=True)
    p = 1.0 / (1.0 + np.exp(-z))
    total = p.sum(axis=1, keepdims=True)
    return np.divide(p, total, out=np.full_like(p, 1.0 / p.shape[1]), where=total > 0)


@dataclass
class Fitted:
    """The scikit-learn side of a fit, before export to arrays."""

    hasher: CharNgramHasher
    columns: np.ndarray
    tfidf: object  # sklearn TfidfTransformer
    classifier: object  # sklearn LogisticRegression or SGDClassifier

    def sklearn_proba(self, texts: Sequence[str]) -> np.ndarray:
        """scikit-learn's own predict_proba (over the classes it saw)."""
        x = self.tfidf.transform(select_columns(self.hasher.transform(texts), self.columns))
        return self.classifier.predict_proba(x)


def fit_estimators(texts: Sequence[str], targets: np.ndarray, *, soft: bool = True, ngram_range=(2, 5),
                   n_features: int = 2**20, min_df: int = 2, c: float = 1.0, sgd_above: int = 200_000,
                   max_iter: int = 1000, seed: int = 0,
                   on_progress: Callable[[str], None] | None = None) -> Fitted:
    """Fit TF-IDF and the classifier (SGD above ``sgd_above`` training rows) with scikit-learn.

    ``targets`` is (n, C): a probability row per text; the classifier learns the columns
    that occur (``classifier.classes_`` are column ids).
    """
    from sklearn.feature_extraction.text import TfidfTransformer
    from sklearn.linear_model import LogisticRegression, SGDClassifier
    from threadpoolctl import threadpool_limits

    report = on_progress or (lambda stage: None)
    rows, labels, weights = expand_targets(targets, soft)
    report("features")
    hasher = CharNgramHasher(tuple(ngram_range), n_features)
    counts = hasher.transform(list(texts))
    columns = min_df_columns(counts, min(min_df, len(texts)))
    tfidf = TfidfTransformer(sublinear_tf=True)
    x = tfidf.fit_transform(select_columns(counts, columns))
    if len(rows) > sgd_above:
        # alpha = 1 / (C * n) makes SGD's penalty match LogisticRegression's C.
        classifier = SGDClassifier(loss="log_loss", alpha=1.0 / (c * len(rows)), max_iter=20, tol=1e-4,
                                   random_state=seed)
    else:
        classifier = LogisticRegression(C=c, max_iter=max_iter)
    report(f"fitting {type(classifier).__name__} on {len(rows):,} rows x {len(columns):,} features")
    # lbfgs does vector ops on the weights (BLAS level 1): threaded OpenBLAS only adds
    # hand-offs, measured 12x slower per iteration on a busy 2-core machine.
    with threadpool_limits(limits=1, user_api="blas"):
        classifier.fit(x[rows], labels, sample_weight=weights)
    return Fitted(hasher, columns, tfidf, classifier)


def export(fitted: Fitted, category_names: list[str]) -> TfidfStudent:
    """The arrays of a fit, as a student that predicts with numpy alone."""
    from sklearn.linear_model import LogisticRegression

    clf = fitted.classifier
    return TfidfStudent(
        category_names=list(category_names), ngram_range=tuple(fitted.hasher.ngram_range),
        n_features=fitted.hasher.n_features, columns=fitted.columns, idf=fitted.tfidf.idf_.astype(np.float64),
        coef=np.asarray(clf.coef_, dtype=np.float64), intercept=np.asarray(clf.intercept_, dtype=np.float64),
        classes=np.asarray(clf.classes_, dtype=np.int64),
        link="softmax" if isinstance(clf, LogisticRegression) else "ovr",
    )


def fit(texts: Sequence[str], targets: np.ndarray, category_names: list[str], *, soft: bool = True,
        on_progress: Callable[[str], None] | None = None, **options) -> TfidfStudent:
    """Fit on texts and (n, K+1) target probabilities (soft) or their argmax (hard); column K = none."""
    check_targets(texts, targets, category_names)
    return export(fit_estimators(texts, targets, soft=soft, on_progress=on_progress, **options), category_names)


def check_targets(texts: Sequence[str], targets: np.ndarray, category_names: list[str]) -> None:
    """Raise ValueError unless ``targets`` is (len(texts), K+1) for the K ``category_names``."""
    shape = np.shape(targets)
    if shape != (len(texts), len(category_names) + 1):
        raise ValueError(f"targets of shape {shape} for {len(texts)} texts and {len(category_names)} categories: "
                         f"expected ({len(texts)}, {len(category_names) + 1}), the last column 'none'")


def load(folder: Path, category_names: list[str]) -> TfidfStudent:
    """Load ``model.npz`` (numeric arrays only: ``allow_pickle=False`` runs no code)."""
    student = read_model_file(folder, lambda fields: TfidfStudent(
        category_names=list(category_names), ngram_range=tuple(int(v) for v in fields["ngram_range"]),
        n_features=int(fields["n_features"]), columns=fields["columns"].astype(np.int64),
        idf=fields["idf"], coef=fields["coef"], intercept=fields["intercept"].astype(np.float64),
        classes=fields["classes"].astype(np.int64), link=str(fields["link"]),
    ))
    if student.classes.max(initial=-1) > len(category_names) or student.coef.shape[1] != len(student.columns):
        raise ModelFileError(f"{folder / MODEL_FILE} does not match its categories or its own feature count")
    return student
