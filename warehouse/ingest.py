"""Ingest: stream texts from files into ``documents``, bad rows into ``ingest_rejects``.

Formats, picked by extension: ``.jsonl``/``.ndjson`` (one JSON object per line),
``.csv``, ``.tsv``, ``.parquet``, and folders (every ``*.txt`` below them is one document,
its id the path relative to the folder without the extension).

Rows are read one at a time and written in batches, each batch in one transaction, so
memory stays constant whatever the corpus size and a killed ingest loses at most the
batch in flight; re-running it skips what is already stored.

Ids: the user's id column when given, else ``'h'`` + the first 16 hex digits of the
BLAKE2b hash of the normalised text (Unicode NFC, whitespace runs collapsed to one
space). The full hash is kept as ``text_hash``; a second document with the same
normalised text under another id is rejected as a duplicate.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
import sys
import time
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from .config import NONE_LABELS
from .db import label_lookup
from .errors import UserError

FORMATS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv", ".tsv": "tsv", ".parquet": "parquet"}
RAW_EXCERPT_CHARS = 200
_REASON_KIND = re.compile(r"[^:('\"0-9]*")  # "malformed JSON: ..." -> "malformed JSON"
  # what undecodable bytes become under surrogateescape


class IngestError(UserError):
    """A problem with the request itself (missing file, unknown format): nothing was read."""


@dataclass
class IngestStats:
    files: int = 0
    rows_read: int = 0
    inserted: int = 0
    already_present: int = 0
    duplicates: int = 0  # same text under another id, or repeated within the input
    rejected: int = 0
    gold_imported: int = 0
    seconds: float = 0.0
    reject_reasons: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass
class _Row:
    line: int | None
    record: dict | None = None  # the parsed row, None when unreadable
    reject: str | None = None
    raw: str | None = None


def normalise(text: str) -> str:
    """The form ids and duplicate detection use: NFC, whitespace runs as one space."""
    return " ".join(unicodedata.normalize("NFC", text).split())


def text_hash(text: str) -> str:
    return hashlib.blake2b(normalise(text).encode("utf-8"), digest_size=16).hexdigest()


def detect_format(path: Path) -> str:
    if path.is_dir():
        return "txt-folder"
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise IngestError(
            f"{path}: unknown format {path.suffix or '(no extension)'!r}; "
            f"use one of {', '.join(sorted(FORMATS))} or a folder of .txt files"
        )
    return fmt


def _excerpt(raw: str | bytes) -> str:
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", errors="replace")
    return raw[:RAW_EXCERPT_CHARS]


def _read_jsonl(path: Path) -> Iterator[_Row]:
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                yield _Row(number, reject=f"invalid UTF-8 at byte {exc.start}", raw=_excerpt(raw))
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                yield _Row(number, reject=f"malformed JSON: {exc.msg}", raw=_excerpt(line))
                continue
            if not isinstance(record, dict):
                yield _Row(number, reject="line is not a JSON object", raw=_excerpt(line))
                continue
            yield _Row(number, record)


def _read_delimited(path: Path, delimiter: str) -> Iterator[_Row]:
    csv.field_size_limit(sys.maxsize)
    with path.open("r", encoding="utf-8", errors="surrogateescape", newline="") as handle:
        reader = csv.reader(handle, delimiter=delimiter)
        try:
            header = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise IngestError(f"{path}: unreadable header: {exc}") from exc
        width = len(header)
        while True:
            try:
                values = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                yield _Row(reader.line_num, reject=f"malformed row: {exc}")
                continue
            if not values:
                continue
            if len(values) != width:
                yield _Row(
                    reader.line_num,
                    reject=f"malformed row: {len(values)} fields, header has {width}",
                    raw=_excerpt(delimiter.join(values)),
                )
                continue
            yield _Row(reader.line_num, dict(zip(header, values)))


def _read_parquet(path: Path) -> Iterator[_Row]:
    try:
        parquet = pq.ParquetFile(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise IngestError(f"{path}: not a readable Parquet file: {exc}") from exc
    number = 0
    for batch in parquet.iter_batches(batch_size=10_000):
        for record in batch.to_pylist():
            number += 1
            yield _Row(number, record)


def _read_txt_folder(path: Path) -> Iterator[_Row]:
    for file in sorted(path.rglob("*.txt")):
        relative = file.relative_to(path).with_suffix("").as_posix()
        raw = file.read_bytes()
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            yield _Row(None, reject=f"{relative}.txt: invalid UTF-8 at byte {exc.start}", raw=_excerpt(raw))
            continue
        yield _Row(None, {"id": relative, "text": text, "file": f"{relative}.txt"})


def read_rows(path: Path, fmt: str) -> Iterator[_Row]:
    if fmt == "jsonl":
        return _read_jsonl(path)
    if fmt in ("csv", "tsv"):
        return _read_delimited(path, "," if fmt == "csv" else "\t")
    if fmt == "parquet":
        return _read_parquet(path)
    return _read_txt_folder(path)


def columns_of(path: Path, fmt: str) -> list[str] | None:
    """Column names known before reading rows (CSV/TSV header, Parquet schema), else None."""
    if fmt == "parquet":
        return pq.ParquetFile(path).schema_arrow.names
    if fmt in ("csv", "tsv"):
        with path.open("r", encoding="utf-8", errors="surrogateescape", newline="") as handle:
            return next(csv.reader(handle, delimiter="," if fmt == "csv" else "\t"), [])
    return None


class _Batch:
    """Rows waiting to be written, plus the reject and gold rows that go with them."""

    def __init__(self) -> None:
        self.documents: dict[str, list] = {k: [] for k in ("doc_id", "text", "text_hash", "source", "meta")}
        self.lines: list[int | None] = []
        self.labels: list[int | None] = []
        self.rejects: list[tuple] = []  # (source, line, reason, raw)
        self.repeats = 0  # the same id and text again within the input
        self.seen_ids: dict[str, str] = {}
        self.seen_hashes: dict[str, str] = {}

    def __len__(self) -> int:
        return len(self.documents["doc_id"]) + len(self.rejects)


def ingest(
    con: duckdb.DuckDBPyConnection,
    paths: list[str | Path],
    *,
    text_col: str = "text",
    id_col: str | None = None,
    label_col: str | None = None,
    max_text_chars: int = 100_000,
    batch_size: int = 20_000,
    run_id: str | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> IngestStats:
    """Read ``paths`` into the warehouse; return counts of what happened to the rows.

    Inputs: files or folders (see the module docstring); ``text_col``, ``id_col`` and
    ``label_col`` name the columns (folders use the file name as id). ``label_col``
    records the given labels in ``gold_imports`` (source ``FILE#COLUMN``); names are
    matched against the categories case-insensitively, and "other"/"none"/"inne" mean
    "fits no category" (-1). ``on_progress`` receives the number of rows read so far.

    Raises :class:`IngestError` before reading anything if a path is missing or of an
    unknown format; every problem inside a file becomes an ``ingest_rejects`` row.
    """
    started = time.perf_counter()
    resolved = []
    for raw_path in paths:
        path = Path(raw_path)
        if not path.exists():
            raise IngestError(f"{path}: no such file or folder")
        resolved.append((path, detect_format(path)))
    labels = label_lookup(con) if label_col else {}
    stats = IngestStats()
    # Committed batches collect in the write-ahead log and are folded into the file every
    # 256 MB: checkpointing after every batch (the 16 MB default) made ingest 2-4x slower.
    # A crash loses nothing committed: DuckDB replays the log on the next open.
    threshold = con.execute("SELECT current_setting('checkpoint_threshold')").fetchall()[0][0]
    con.execute("SET checkpoint_threshold = '256MB'")
    try:
        _ingest_files(con, resolved, stats, text_col, id_col, label_col, labels, max_text_chars,
                      batch_size, run_id, on_progress)
    finally:
        con.execute(f"SET checkpoint_threshold = '{threshold}'")
    con.execute("CHECKPOINT")
    stats.seconds = time.perf_counter() - started
    return stats


def _ingest_files(con: duckdb.DuckDBPyConnection, resolved: list[tuple[Path, str]], stats: IngestStats,
                  text_col: str, id_col: str | None, label_col: str | None, labels: dict[str, int],
                  max_text_chars: int, batch_size: int, run_id: str | None,
                  on_progress: Callable[[int], None] | None) -> None:
    for path, fmt in resolved:
        stats.files += 1
        source = str(path)
        batch = _Batch()
        columns = columns_of(path, fmt)
        missing = [c for c in (text_col, id_col, label_col) if c and columns is not None and c not in columns]
        if missing and fmt != "txt-folder":
            reason = f"missing column {missing[0]!r} (columns: {', '.join(columns)})"
            batch.rejects.append((source, None, reason, None))
            _write_batch(con, batch, source, run_id, stats)
            continue
        for row in read_rows(path, fmt):
            stats.rows_read += 1
            _add_row(batch, row, source, fmt, text_col, id_col, label_col, labels, max_text_chars)
            if len(batch) >= batch_size:
                _write_batch(con, batch, source, run_id, stats)
                batch = _Batch()
                if on_progress:
                    on_progress(stats.rows_read)
        _write_batch(con, batch, source, run_id, stats)
        if on_progress:
            on_progress(stats.rows_read)


def _add_row(batch: _Batch, row: _Row, source: str, fmt: str, text_col: str, id_col: str | None,
             label_col: str | None, labels: dict[str, int], max_text_chars: int) -> None:
    def reject(reason: str, raw: str | None = None) -> None:
        batch.rejects.append((source, row.line, reason, raw))

    if row.reject:
        reject(row.reject, row.raw)
        return
    record = row.record
    if fmt == "txt-folder":
        text_key, id_key, label_key = "text", "id", None
    else:
        text_key, id_key, label_key = text_col, id_col, label_col
    if text_key not in record:
        reject(f"missing column {text_key!r}", _excerpt(json.dumps(record, ensure_ascii=False, default=str)))
        return
    text = record[text_key]
    if not isinstance(text, str):
        text = "" if text is None else str(text)
    if not text.strip():
        reject("empty text")
        return
    if len(text) > max_text_chars:
        reject(f"text longer than {max_text_chars} characters ({len(text)})", _excerpt(text))
        return
    try:
        digest = text_hash(text)
    except UnicodeEncodeError:  # lone surrogates: undecodable bytes under surrogateescape
        reject("invalid UTF-8 in the text", _excerpt(text.encode("utf-8", "replace")))
        return
    if id_key:
        if id_key not in record or record[id_key] in (None, ""):
            reject(f"missing id in column {id_key!r}", _excerpt(text))
            return
        doc_id = str(record[id_key])
    else:
        doc_id = "h" + digest[:16]
    label = None
    if label_key and record.get(label_key) not in (None, ""):
        name = str(record[label_key]).strip().lower()
        if name in NONE_LABELS:
            label = -1
        elif name in labels:
            label = labels[name]
        else:
            reject(f"unknown label {record[label_key]!r} in column {label_key!r}", _excerpt(text))
            return
    previous_hash = batch.seen_ids.get(doc_id)
    if previous_hash is not None:
        if previous_hash == digest:
            batch.repeats += 1
        else:
            reject(f"id {doc_id!r} repeated with a different text")
        return
    if digest in batch.seen_hashes:
        reject(f"duplicate text of document {batch.seen_hashes[digest]!r}", _excerpt(text))
        return
    batch.seen_ids[doc_id] = digest
    batch.seen_hashes[digest] = doc_id
    meta = {k: v for k, v in record.items() if k not in (text_key, id_key, label_key)}
    batch.lines.append(row.line)
    batch.documents["doc_id"].append(doc_id)
    batch.documents["text"].append(text)
    batch.documents["text_hash"].append(digest)
    batch.documents["source"].append(source)
    batch.documents["meta"].append(json.dumps(meta, ensure_ascii=False, default=str) if meta else None)
    batch.labels.append(label)


def _write_batch(con: duckdb.DuckDBPyConnection, batch: _Batch, source: str, run_id: str | None,
                 stats: IngestStats) -> None:
    """Write one batch in one transaction: new documents, gold labels, rejects."""
    table = pa.table(batch.documents, schema=pa.schema([(k, pa.string()) for k in batch.documents]))
    rejects = list(batch.rejects)
    stats.duplicates += batch.repeats
    con.execute("BEGIN TRANSACTION")
    try:
        keep = [True] * table.num_rows
        if table.num_rows:
            con.register("incoming", table)
            clashes = con.execute(
                """
                SELECT i.doc_id, d.doc_id, d.text_hash = i.text_hash, true
                FROM incoming i JOIN documents d ON d.doc_id = i.doc_id
                UNION ALL  -- two equi-joins: an OR condition would be a nested-loop join
                SELECT i.doc_id, d.doc_id, true, false
                FROM incoming i JOIN documents d ON d.text_hash = i.text_hash AND d.doc_id <> i.doc_id
                """
            ).fetchall()
            position = {doc_id: i for i, doc_id in enumerate(batch.documents["doc_id"])}
            for doc_id, existing_id, same_text, same_id in clashes:
                i = position[doc_id]
                if not keep[i]:
                    continue
                keep[i] = False
                if same_id and same_text:
                    stats.already_present += 1
                    if batch.labels[i] is not None:
                        keep[i] = None  # stored already: only its gold label may be new
                elif same_id:
                    rejects.append((source, batch.lines[i], f"id {doc_id!r} already holds a different text", None))
                else:
                    rejects.append((source, batch.lines[i], f"duplicate text of document {existing_id!r}", None))
            new_rows = table.filter(pa.array([k is True for k in keep]))
            con.register("new_rows", new_rows)
            con.execute("INSERT INTO documents (doc_id, text, text_hash, source, meta) SELECT * FROM new_rows")
            stats.inserted += new_rows.num_rows
            gold = [(batch.documents["doc_id"][i], label) for i, label in enumerate(batch.labels)
                    if label is not None and keep[i] is not False]
            if gold:
                gold_table = pa.table({"doc_id": [g[0] for g in gold], "label": [g[1] for g in gold]})
                con.register("gold_rows", gold_table)
                stats.gold_imported += con.execute(
                    """
                    INSERT INTO gold_imports (doc_id, label, source)
                    SELECT g.doc_id, g.label, ? FROM gold_rows g
                    WHERE NOT EXISTS (SELECT 1 FROM gold_imports x
                                      WHERE x.doc_id = g.doc_id AND x.source = ? AND x.label = g.label)
                    """,
                    [f"{source}#label", f"{source}#label"],
                ).fetchall()[0][0]
        if rejects:
            con.register("reject_rows", pa.table({
                "source": [r[0] for r in rejects],
                "line": pa.array([r[1] for r in rejects], pa.int64()),
                "reason": [r[2] for r in rejects],
                "raw": pa.array([r[3] for r in rejects], pa.string()),
            }))
            con.execute(
                """
                INSERT INTO ingest_rejects (source, line, reason, raw, run_id)
                SELECT r.source, r.line, r.reason, r.raw, ? FROM reject_rows r
                WHERE NOT EXISTS (SELECT 1 FROM ingest_rejects x WHERE x.source = r.source
                                  AND x.line IS NOT DISTINCT FROM r.line AND x.reason = r.reason)
                """,
                [run_id],
            )
            for r in rejects:
                if r[2].startswith("duplicate text"):
                    stats.duplicates += 1
                else:
                    stats.rejected += 1
                    kind = _REASON_KIND.match(r[2]).group(0).strip()
                    stats.reject_reasons[kind] = stats.reject_reasons.get(kind, 0) + 1
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    finally:
        for name in ("incoming", "new_rows", "gold_rows", "reject_rows"):
            try:
                con.unregister(name)
            except duckdb.Error:
                pass
