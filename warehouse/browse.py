"""Browsing the corpus: a filtered, searchable, paginated view of ``labelled_corpus``, its
download, and everything known about one document.

Everything here reads the contract's views and rules and restates none of them: the final
label is ``labelled_corpus``'s, the current votes ``current_votes``', gold is ``gold``, the
standing reviews ``live_reviews``, the weak label and the flags those of the latest ok
``label-model`` and ``flag`` runs (``rules.last_ok_run``), a posterior row is read through
``rules.probs_with_none``. Results are plain data (pyarrow tables, dataclasses) that the web
pages render and a CLI could print.

Search is ``ILIKE`` with the user's text as a literal (``%``, ``_`` and ``\\`` escaped), not
DuckDB's full-text index: the ``fts`` extension is not built into DuckDB's wheel and is
downloaded on first use, which an offline installation cannot do, and the server's
read-only connections could not build or refresh the index anyway. The scan is linear:
about 0.13 s for 100,000 texts (38 MB) on two cores.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import BinaryIO

import duckdb
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from .db import categories
from .errors import UserError
from .rules import NONE_LABEL, NONE_NAME, column_of, label_lookup, last_ok_run, probs_with_none, resolve_label

PAGE_SIZE = 50
SNIPPET_CHARS = 160
FINAL_SOURCES = ("review", "imported", "weak_label", "student")
DOWNLOAD_FORMATS = ("csv", "parquet")


def label_names(con: duckdb.DuckDBPyConnection) -> dict[int, str]:
    """Label id -> category name, with :data:`~.rules.NONE_LABEL` shown as ``NONE_NAME``."""
    return {NONE_LABEL: NONE_NAME, **dict(con.execute("SELECT label, name FROM categories").fetchall())}


def query_pattern(query: str | None) -> re.Pattern | None:
    """Where a search ``query`` occurs in a text whose whitespace may be collapsed (a
    snippet): case-insensitive, literal, any run of blanks for a blank; None for no query."""
    if not query or not query.split():
        return None
    return re.compile(r"\s+".join(map(re.escape, query.split())), re.IGNORECASE)


def snippet(text: str, query: str | None = None, width: int = SNIPPET_CHARS) -> str:
    """``width`` characters of ``text`` with whitespace collapsed: its start, or, when
    ``query`` occurs (case-insensitively) beyond the start, the stretch around it; an
    ellipsis marks a cut."""
    flat = " ".join(text.split())
    start = 0
    pattern = query_pattern(query)
    if pattern is not None:
        found = pattern.search(flat)
        if found and found.end() > width:
            start = max(0, min(found.start() - width // 3, len(flat) - width))
    return ("…" if start else "") + flat[start:start + width] + ("…" if start + width < len(flat) else "")


def like_pattern(query: str) -> str:
    """An ``ILIKE … ESCAPE '\\'`` pattern matching ``query`` literally anywhere in a text."""
    return "%" + re.sub(r"([\\%_])", r"\\\1", query) + "%"


@dataclass(frozen=True)
class CorpusFilter:
    """Which documents to show; every field optional, all given ones combined with AND.

    ``weak_label``/``gold_label``: a category name (any of its names, any case) or ``none``;
    ``flagged``: in the latest flag run or not; ``lf`` with optional ``lf_label``: documents
    the LF voted on (``lf_label`` given: voted that category, ``none`` = abstained);
    ``final_source``: one of :data:`FINAL_SOURCES`; ``q``: text containing this string
    (case-insensitive, literal).
    """

    weak_label: str | None = None
    gold_label: str | None = None
    flagged: bool | None = None
    lf: str | None = None
    lf_label: str | None = None
    final_source: str | None = None
    q: str | None = None


def _where(con: duckdb.DuckDBPyConnection, wanted: CorpusFilter) -> tuple[str, list]:
    """The WHERE clause over ``labelled_corpus lc`` and its bound parameters; a value that
    names nothing known is a :class:`UserError`. No value is ever formatted into the SQL."""
    lookup = label_lookup(con)
    clauses, params = ["true"], []

    def label(value: str, what: str) -> int:
        found = resolve_label(lookup, value)
        if found is None:
            names = ", ".join(c.name for c in categories(con))
            raise UserError(f"unknown {what} {value!r}: use a category ({names}) or {NONE_NAME}")
        return found

    if wanted.weak_label is not None:
        clauses.append("lc.weak_label = ?")
        params.append(label(wanted.weak_label, "weak label"))
    if wanted.gold_label is not None:
        clauses.append("lc.gold_label = ?")
        params.append(label(wanted.gold_label, "gold label"))
    if wanted.flagged is not None:
        clauses.append("lc.flagged = ?")
        params.append(wanted.flagged)
    if wanted.lf_label is not None and wanted.lf is None:
        raise UserError(f"an LF vote label ({wanted.lf_label!r}) needs the LF whose vote it is")
    if wanted.lf is not None:
        known = lf_names(con)
        if wanted.lf not in known:
            raise UserError(f"unknown LF {wanted.lf!r}; known: {', '.join(known) or 'none (run `admedtagger label`)'}")
        if wanted.lf_label is None:
            clauses.append("lc.doc_id IN (SELECT doc_id FROM current_votes WHERE lf = ? AND label <> ?)")
            params += [wanted.lf, NONE_LABEL]
        else:
            clauses.append("lc.doc_id IN (SELECT doc_id FROM current_votes WHERE lf = ? AND label = ?)")
            params += [wanted.lf, label(wanted.lf_label, "LF vote label")]
    if wanted.final_source is not None:
        if wanted.final_source not in FINAL_SOURCES:
            raise UserError(f"unknown final source {wanted.final_source!r}: one of {', '.join(FINAL_SOURCES)}")
        clauses.append("lc.final_source = ?")
        params.append(wanted.final_source)
    if wanted.q is not None and wanted.q.strip():
        clauses.append("lc.text ILIKE ? ESCAPE '\\'")
        params.append(like_pattern(wanted.q.strip()))
    return " AND ".join(clauses), params


def corpus_count(con: duckdb.DuckDBPyConnection, wanted: CorpusFilter) -> int:
    """How many documents ``wanted`` selects."""
    where, params = _where(con, wanted)
    return con.execute(f"SELECT count(*) FROM labelled_corpus lc WHERE {where}", params).fetchall()[0][0]


CORPUS_PAGE_SCHEMA = pa.schema([
    ("doc_id", pa.string()), ("snippet", pa.string()), ("weak_label", pa.string()),
    ("weak_confidence", pa.float64()), ("gold_label", pa.string()), ("gold_split", pa.string()),
    ("flagged", pa.bool_()), ("flag_reason", pa.string()), ("final_label", pa.string()),
    ("final_source", pa.string()),
])


@dataclass(frozen=True)
class CorpusPage:
    """Page ``page`` (1-based) of ``page_size`` rows out of ``total``; ``rows`` has the
    columns of :data:`CORPUS_PAGE_SCHEMA` (labels by name, the text as a snippet)."""

    total: int
    page: int
    page_size: int
    rows: pa.Table

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.page_size))


def corpus_page(con: duckdb.DuckDBPyConnection, wanted: CorpusFilter, page: int = 1,
                page_size: int = PAGE_SIZE) -> CorpusPage:
    """The documents ``wanted`` selects, in doc_id order, page ``page`` (1-based; a page past
    the end is empty)."""
    if not isinstance(page, int) or page < 1:
        raise UserError(f"page must be a whole number from 1, got {page!r}")
    if not isinstance(page_size, int) or page_size < 1:
        raise UserError(f"page size must be a whole number from 1, got {page_size!r}")
    where, params = _where(con, wanted)
    # The total comes with the page (one evaluation of the view), counted apart only past the end.
    found = con.execute(f"""
        SELECT doc_id, text, weak_label, weak_confidence, gold_label, gold_split, flagged, flag_reason,
               final_label, final_source, count(*) OVER ()
        FROM labelled_corpus lc WHERE {where}
        ORDER BY doc_id LIMIT ? OFFSET ?""", [*params, page_size, (page - 1) * page_size]).fetchall()
    total = found[0][-1] if found else corpus_count(con, wanted)
    names = label_names(con)
    rows = [{
        "doc_id": doc_id, "snippet": snippet(text, wanted.q), "weak_label": names.get(weak),
        "weak_confidence": weak_confidence, "gold_label": names.get(gold), "gold_split": split,
        "flagged": flagged, "flag_reason": reason, "final_label": names.get(final), "final_source": source,
    } for doc_id, text, weak, weak_confidence, gold, split, flagged, reason, final, source, _ in found]
    return CorpusPage(total, page, page_size, pa.Table.from_pylist(rows, schema=CORPUS_PAGE_SCHEMA))


def write_corpus(con: duckdb.DuckDBPyConnection, wanted: CorpusFilter, sink: BinaryIO, format: str) -> int:
    """Write every document ``wanted`` selects, all columns of ``labelled_corpus`` (full
    text included), in doc_id order, to ``sink`` as ``csv`` or ``parquet``; return the
    number of rows. Streams record batches, so memory stays flat however many match."""
    if format not in DOWNLOAD_FORMATS:
        raise UserError(f"unknown download format {format!r}: one of {', '.join(DOWNLOAD_FORMATS)}")
    where, params = _where(con, wanted)
    reader = con.sql(f"SELECT * FROM labelled_corpus lc WHERE {where} ORDER BY doc_id", params=params) \
        .to_arrow_reader(10_000)
    writer = (pa_csv.CSVWriter(sink, reader.schema) if format == "csv"
              else pq.ParquetWriter(sink, reader.schema))
    rows = 0
    try:
        for batch in reader:
            writer.write_batch(batch)
            rows += batch.num_rows
    finally:
        writer.close()
    return rows


def lf_names(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Every LF at its current version (view ``current_lfs``), by name."""
    return [lf for (lf,) in con.execute("SELECT lf FROM current_lfs ORDER BY lf").fetchall()]


# ---------------------------------------------------------------- one document


@dataclass(frozen=True)
class Vote:
    """An LF's current vote on the document: ``label`` None = the LF has not seen it (no
    vote row), ``NONE_LABEL`` = it abstained."""

    lf: str
    kind: str
    label: int | None
    name: str | None
    confidence: float | None


@dataclass(frozen=True)
class WeakLabel:
    """The label model's output for the document (latest ok ``label-model`` run):
    ``posterior`` is (name, probability) per category, then ``none``."""

    run_id: str
    model: str
    label: int
    name: str
    confidence: float | None
    posterior: list[tuple[str, float]]


@dataclass(frozen=True)
class Gold:
    """The document's row of view ``gold`` (``source`` ``review:NAME`` for a review)."""

    label: int
    name: str
    source: str
    split: str
    decided_at: datetime | None


@dataclass(frozen=True)
class ImportedLabel:
    """One ``gold_imports`` row: a label that came with the corpus."""

    label: int
    name: str
    source: str
    imported_at: datetime | None


@dataclass(frozen=True)
class Flag:
    """The document's row in the latest ok ``flag`` run."""

    run_id: str
    given: str | None
    suggested: str | None
    quality: float | None
    rank: int | None
    reason: str | None


@dataclass(frozen=True)
class Review:
    """One ``reviews`` row; ``standing`` = in ``live_reviews`` (no undo cancelled it; an
    undo row itself does not stand), ``effective`` = the row ``review_decisions`` uses."""

    review_id: str
    decision: str
    label: int | None
    name: str | None
    reviewer: str | None
    note: str | None
    source: str | None
    undoes: str | None
    created_at: datetime
    adjudication: bool
    standing: bool
    effective: bool


@dataclass(frozen=True)
class Prediction:
    """A student's latest prediction for the document and its probability."""

    model_id: str
    kind: str | None
    label: int
    name: str
    probability: float | None
    created_at: datetime | None


@dataclass(frozen=True)
class DocumentRecord:
    """Everything known about one document (``final_*`` and ``disputed``, its reviewers
    disagree and no adjudication settled it, from ``labelled_corpus``)."""

    doc_id: str
    text: str
    source: str | None
    meta: dict | None
    votes: list[Vote]
    weak_label: WeakLabel | None
    gold: Gold | None
    imported: list[ImportedLabel] = field(default_factory=list)
    flag: Flag | None = None
    reviews: list[Review] = field(default_factory=list)
    predictions: list[Prediction] = field(default_factory=list)
    final_label: str | None = None
    final_source: str | None = None
    disputed: bool = False


def document_record(con: duckdb.DuckDBPyConnection, doc_id: str) -> DocumentRecord | None:
    """The :class:`DocumentRecord` of ``doc_id``; None when no such document exists."""
    if not isinstance(doc_id, str):
        raise UserError(f"a doc_id is a string, got {doc_id!r}")
    found = con.execute("SELECT doc_id, text, source, meta FROM documents WHERE doc_id = ? LIMIT 1",
                        [doc_id]).fetchall()
    if not found:
        return None
    _, text, source, meta = found[0]
    names = label_names(con)
    k = len(names) - 1
    votes = [Vote(lf, kind, label, None if label is None else names.get(label), confidence)
             for lf, kind, label, confidence in con.execute("""
        SELECT l.lf, l.kind, v.label, v.confidence
        FROM current_lfs l LEFT JOIN current_votes v ON v.lf = l.lf AND v.doc_id = ?
        ORDER BY l.lf""", [doc_id]).fetchall()]

    weak = None
    weak_run = last_ok_run(con, "label-model")
    rows = con.execute("SELECT label, probs, confidence, model FROM weak_labels WHERE run_id = ? AND doc_id = ?",
                       [weak_run, doc_id]).fetchall() if weak_run else []
    if rows:
        label, probs, confidence, model = rows[0]
        row = probs_with_none(probs, k)
        posterior = [] if row is None else [(names[NONE_LABEL if c == k else c], float(p)) for c, p in enumerate(row)]
        weak = WeakLabel(weak_run, model, label, names.get(label, str(label)), confidence, posterior)

    gold_rows = con.execute("SELECT label, source, split, decided_at FROM gold WHERE doc_id = ?", [doc_id]).fetchall()
    gold = Gold(gold_rows[0][0], names.get(gold_rows[0][0], str(gold_rows[0][0])), *gold_rows[0][1:]) \
        if gold_rows else None
    imported = [ImportedLabel(label, names.get(label, str(label)), src, at) for label, src, at in con.execute(
        "SELECT label, source, imported_at FROM gold_imports WHERE doc_id = ? ORDER BY imported_at, source",
        [doc_id]).fetchall()]

    flag = None
    flag_run = last_ok_run(con, "flag")
    rows = con.execute("SELECT given_label, suggested_label, quality, rank, reason FROM label_issues "
                       "WHERE run_id = ? AND doc_id = ?", [flag_run, doc_id]).fetchall() if flag_run else []
    if rows:
        given, suggested, quality, rank, reason = rows[0]
        flag = Flag(flag_run, names.get(given), names.get(suggested), quality, rank, reason)

    reviews = []
    for row in con.sql("""
            SELECT r.*, r.review_id IN (SELECT review_id FROM live_reviews) AS _standing,
                   r.review_id IN (SELECT review_id FROM review_decisions) AS _effective
            FROM reviews r WHERE r.doc_id = ? ORDER BY r.created_at, r.review_id""", params=[doc_id]) \
            .to_arrow_table().to_pylist():
        reviews.append(Review(
            row["review_id"], row["decision"], row["label"], None if row["label"] is None else names.get(row["label"]),
            row["reviewer"], row["note"], row["source"], row["undoes"], row["created_at"],
            bool(row.get("adjudication")), row["_standing"], row["_effective"]))

    predictions = []
    for model_id, kind, label, probs, created_at in con.execute("""
            SELECT p.model_id, s.kind, p.label, p.probs, p.created_at
            FROM predictions p LEFT JOIN (SELECT model_id, any_value(kind) AS kind, max(created_at) AS made
                                          FROM students GROUP BY model_id) s USING (model_id)
            WHERE p.doc_id = ?
            QUALIFY row_number() OVER (PARTITION BY p.model_id ORDER BY p.created_at DESC) = 1
            ORDER BY s.made DESC NULLS LAST, p.model_id""", [doc_id]).fetchall():
        row = probs_with_none(probs, k) if probs is not None and len(probs) in (k, k + 1) else None
        predictions.append(Prediction(model_id, kind, label, names.get(label, str(label)),
                                      None if row is None else float(row[column_of(label, k)]), created_at))

    final = con.sql("SELECT * FROM labelled_corpus WHERE doc_id = ? LIMIT 1", params=[doc_id]).to_arrow_table().to_pylist()
    final = final[0] if final else {}
    return DocumentRecord(
        doc_id=doc_id, text=text, source=source, meta=json.loads(meta) if meta else None, votes=votes,
        weak_label=weak, gold=gold, imported=imported, flag=flag, reviews=reviews, predictions=predictions,
        final_label=final.get("final_label_name"), final_source=final.get("final_source"),
        disputed=bool(final.get("disputed")),
    )
