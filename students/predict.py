"""Label new texts with a student: read any ingest format, a text file or stdin, write a file.

Input:

- a ``.jsonl``/``.csv``/``.tsv``/``.parquet`` file or a folder of ``.txt`` files (one
  document per file), read by the readers of :mod:`admedtagger.warehouse.ingest`;
- a ``.txt`` file: one text per line, blank lines skipped;
- ``-``, standard input: JSON lines when its first non-blank line is a JSON object that
  holds the text column (then read like a ``.jsonl`` file), otherwise one text per line.

Rows that cannot be read (malformed JSON, a wrong field count, invalid UTF-8) or without a
text are skipped and counted, as ingest does. A text column (or a given id column) that a
CSV/TSV/Parquet file lacks is an error before anything is read.

Each text's id: the ``id_col`` value when given (a row without one is skipped); else the
value of a column named ``id`` where a row has one; the file's path below the folder for a
.txt folder; else the warehouse's own id for an unnamed text ('h' + 16 hex digits of the
hash of its normalised text), which is also the id of every plain text line.

Output rows: ``id``, ``label`` (category name, null = fits no category), ``label_id``
(-1 = none), ``confidence`` (the probability of that label), ``p_<category>`` per
category and ``p_none`` (fits no category; the label is the argmax of these K+1), as
JSON lines, CSV or Parquet by the output file's extension. ``store=True`` also writes
``predictions`` for texts that are documents of the warehouse, matched by text hash
(the id breaks ties), replacing that model's earlier prediction for them.
"""

from __future__ import annotations

import functools
import itertools
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Callable, Iterable, Iterator, TextIO

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from admedtagger.warehouse import NONE_NAME, UserError, record_run, registered, transaction
from admedtagger.warehouse.ingest import columns_of, detect_format, read_rows, text_hash

from .labels import predicted_labels

DEFAULT_ID_COL = "id"
OUTPUT_FORMATS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv", ".parquet": "parquet"}


class PredictError(UserError):
    pass


@dataclass
class PredictStats:
    texts: int = 0
    skipped: int = 0
    stored: int = 0
    seconds: float = 0.0
    labels: dict[str, int] = field(default_factory=dict)
    first_skip: str | None = None

    @property
    def texts_per_s(self) -> float:
        return self.texts / self.seconds if self.seconds else 0.0

    def as_dict(self) -> dict:
        return {**self.__dict__, "texts_per_s": round(self.texts_per_s, 2)}


def read_texts(source: str | Path, *, text_col: str = "text", id_col: str | None = None,
               stdin: TextIO | BinaryIO | None = None,
               stats: PredictStats | None = None) -> Iterator[tuple[str, str]]:
    """(id, text) pairs from a file, a .txt folder, a .txt file or ``-`` (stdin); see the module doc."""
    stats = stats if stats is not None else PredictStats()
    if str(source) == "-":
        yield from _read_stdin(stdin, text_col, id_col, stats)
        return
    path = Path(source)
    if not path.exists():
        raise PredictError(f"{path}: no such file or folder")
    if path.is_file() and path.suffix.lower() == ".txt":
        if id_col is not None:
            raise PredictError(f"--id-col {id_col}: {path} holds plain text lines, without columns")
        with path.open("rb") as handle:
            yield from _plain_lines(handle, str(path), stats)
        return
    fmt = detect_format(path)
    if fmt == "txt-folder":
        yield from _records(read_rows(path, fmt), str(path), "text", "id", True, stats)
        return
    try:
        columns = columns_of(path, fmt)
    except (pa.ArrowInvalid, OSError) as exc:
        raise PredictError(f"{path}: not a readable {fmt} file: {exc}") from None
    if columns is not None:
        missing = [c for c in (text_col, id_col) if c is not None and c not in columns]
        if missing:
            raise PredictError(f"{path}: no column {missing[0]!r} (columns: {', '.join(map(str, columns))})")
    yield from _records(read_rows(path, fmt), str(path), text_col, id_col or DEFAULT_ID_COL, id_col is not None,
                        stats)


def _records(rows: Iterable, where: str, text_key: str, id_key: str, id_required: bool,
             stats: PredictStats) -> Iterator[tuple[str, str]]:
    """(id, text) pairs from ingest's rows; unreadable rows and rows without a text are skipped."""
    for row in rows:
        reason = row.reason
        record = row.record or {}
        text = record.get(text_key)
        if reason is None and (not isinstance(text, str) or not text.strip()):
            reason = f"no text in column {text_key!r}"
        given_id = record.get(id_key)
        if reason is None and id_required and given_id in (None, ""):
            reason = f"no id in column {id_key!r}"
        if reason is not None:
            _skip(stats, f"{row.source or where}:{row.line or '?'}: {reason}")
            continue
        yield (_hash_id(text) if given_id in (None, "") else str(given_id)), text


def _read_stdin(stdin: TextIO | BinaryIO | None, text_col: str, id_col: str | None,
                stats: PredictStats) -> Iterator[tuple[str, str]]:
    """Stdin: JSON lines when the first non-blank line is a JSON object holding ``text_col``, else one text
    per line."""
    lines = _decoded_lines(stdin if stdin is not None else sys.stdin, "-", stats)
    first = None
    for number, line in lines:
        if line.strip():
            first = (number, line)
            break
    if first is None:
        return
    if not _is_json_record(first[1], text_col):
        if id_col is not None:
            raise PredictError(
                f"--id-col {id_col}: standard input holds plain text lines (JSON lines need {text_col!r} "
                "in the first line's object)")
        for number, line in itertools.chain([first], lines):
            if line.strip():
                yield _hash_id(line), line
        return

    def json_rows() -> Iterator[_JsonLine]:
        for number, line in itertools.chain([first], lines):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                yield _JsonLine(number, reason=f"malformed JSON: {exc.msg}")
                continue
            yield (_JsonLine(number, record) if isinstance(record, dict)
                   else _JsonLine(number, reason="line is not a JSON object"))

    yield from _records(json_rows(), "-", text_col, id_col or DEFAULT_ID_COL, id_col is not None, stats)


@dataclass
class _JsonLine:
    """One stdin JSON line, shaped like ingest's rows (``line``, ``record``, ``reason``, ``source``)."""
    line: int
    record: dict | None = None
    reason: str | None = None  # why the line cannot be read
    source: str | None = None


def _plain_lines(handle: BinaryIO, where: str, stats: PredictStats) -> Iterator[tuple[str, str]]:
    for _, line in _decoded_lines(handle, where, stats):
        if line.strip():
            yield _hash_id(line), line


def _decoded_lines(stream: TextIO | BinaryIO, where: str, stats: PredictStats) -> Iterator[tuple[int, str]]:
    """(line number, text without its line break); a leading BOM is dropped, lines of invalid UTF-8 skipped."""
    raw_stream = getattr(stream, "buffer", stream)  # bytes where possible: a bad byte skips one line, not all
    for number, raw in enumerate(raw_stream, start=1):
        if isinstance(raw, bytes):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                _skip(stats, f"{where}:{number}: invalid UTF-8 at byte {exc.start}")
                continue
        else:
            line = raw
        if number == 1:
            line = line.removeprefix("\ufeff")
        yield number, line.rstrip("\r\n")


def _is_json_record(line: str, text_col: str) -> bool:
    if not line.lstrip().startswith("{"):
        return False
    try:
        record = json.loads(line)
    except json.JSONDecodeError:
        return False
    return isinstance(record, dict) and text_col in record


def _hash_id(text: str) -> str:
    return "h" + text_hash(text)[:16]


def _skip(stats: PredictStats, where_why: str) -> None:
    stats.skipped += 1
    stats.first_skip = stats.first_skip or where_why


class OutputWriter:
    """Appends result tables to a jsonl, csv or parquet file, or jsonl to a text stream."""

    def __init__(self, out: Path | None, stream: TextIO | None = None):
        self.out, self.stream = out, stream
        self.fmt = "jsonl" if out is None else OUTPUT_FORMATS.get(out.suffix.lower())
        if self.fmt is None:
            raise PredictError(f"{out}: unknown output format; use one of {', '.join(sorted(OUTPUT_FORMATS))}")
        self._parquet = None
        self._handle = None
        self._csv_header = True

    @property
    def opened(self) -> bool:
        return self._parquet is not None or self._handle is not None

    def write(self, table: pa.Table) -> None:
        """Append ``table``; an empty one still creates the file (CSV: the header, Parquet: the schema)."""
        if self.fmt == "parquet":
            self._parquet = self._parquet or pq.ParquetWriter(self.out, table.schema)
            self._parquet.write_table(table)
            return
        handle = self._open()
        if self.fmt == "csv":
            options = pacsv.WriteOptions(include_header=self._csv_header)
            pacsv.write_csv(table, handle, write_options=options)
            self._csv_header = False
        else:
            for row in table.to_pylist():
                handle.write((json.dumps(row, ensure_ascii=False) + "\n").encode("utf-8") if self.out else
                             json.dumps(row, ensure_ascii=False) + "\n")

    def _open(self):
        if self._handle is None:
            self._handle = self.out.open("wb") if self.out else (self.stream or sys.stdout)
        return self._handle

    def close(self) -> None:
        if self._parquet is not None:
            self._parquet.close()
        if self._handle is not None and self.out is not None:
            self._handle.close()


def result_table(ids: list[str], probs: np.ndarray, names: list[str]) -> pa.Table:
    """The output rows (module docstring) of texts ``ids`` from their (n, K+1) probabilities."""
    labels = predicted_labels(probs)
    data = {
        "id": pa.array(ids, type=pa.string()),
        "label": [names[i] if i >= 0 else None for i in labels],
        "label_id": pa.array(labels, type=pa.int32()),
        "confidence": probs.max(axis=1) if len(probs) else np.zeros(0),
    }
    for k, name in enumerate([*names, NONE_NAME]):
        data[f"p_{name}"] = probs[:, k]
    return pa.table(data)


def predict_texts(student, source: str | Path, *, out: Path | None = None, stream: TextIO | None = None,
                  stdin: TextIO | None = None, text_col: str = "text", id_col: str | None = None,
                  batch_size: int = 64, chunk_size: int = 4096, con: duckdb.DuckDBPyConnection | None = None,
                  model_id: str | None = None, run_params: dict | None = None,
                  on_progress: Callable[[int], None] | None = None) -> PredictStats:
    """Label every text of ``source``; write the rows to ``out`` (or ``stream`` as jsonl).

    ``out`` is written even when no text could be read: empty JSON lines, a CSV header, a
    Parquet file of no rows. Errors in the request (a missing file or column) write nothing.

    ``con`` (with ``model_id``) stores predictions for texts that are warehouse documents,
    under a 'predict' run recorded in ``runs`` (its params: the request plus ``run_params``).
    Texts are read and labelled ``chunk_size`` at a time, so memory stays bounded.
    """
    label_all = functools.partial(
        _label_all, student, source, out=out, stream=stream, stdin=stdin, text_col=text_col, id_col=id_col,
        batch_size=batch_size, chunk_size=chunk_size, on_progress=on_progress)
    if con is None:
        return label_all()
    params = {"input": str(source), "model_id": model_id, "out": str(out) if out else None,
              "batch_size": batch_size, **(run_params or {})}
    with record_run(con, "predict", params) as run:
        stats = label_all(con=con, model_id=model_id, run_id=run.run_id)
        run.metrics = stats.as_dict()
    return stats


def _label_all(student, source: str | Path, *, out: Path | None, stream: TextIO | None, stdin: TextIO | None,
               text_col: str, id_col: str | None, batch_size: int, chunk_size: int,
               on_progress: Callable[[int], None] | None, con: duckdb.DuckDBPyConnection | None = None,
               model_id: str | None = None, run_id: str | None = None) -> PredictStats:
    stats = PredictStats()
    writer = OutputWriter(out, stream)
    started = time.perf_counter()
    try:
        for chunk in _chunks(read_texts(source, text_col=text_col, id_col=id_col, stdin=stdin, stats=stats), chunk_size):
            ids, texts = [c[0] for c in chunk], [c[1] for c in chunk]
            done = stats.texts
            probs = student.predict_proba(texts, batch_size=batch_size,
                                          on_progress=(lambda n: on_progress(done + n)) if on_progress else None)
            table = result_table(ids, probs, student.category_names)
            writer.write(table)
            if con is not None:
                stats.stored += store_predictions(con, model_id, run_id, ids, texts, table)
            stats.texts += len(texts)
            for name in table.column("label").to_pylist():
                key = name or NONE_NAME
                stats.labels[key] = stats.labels.get(key, 0) + 1
        if out is not None and not writer.opened:  # no text: an empty file, so that later steps find one
            names = student.category_names
            writer.write(result_table([], np.zeros((0, len(names) + 1)), names))
    finally:
        writer.close()
    stats.seconds = time.perf_counter() - started
    return stats


def _chunks(pairs: Iterable[tuple[str, str]], size: int) -> Iterator[list[tuple[str, str]]]:
    chunk = []
    for pair in pairs:
        chunk.append(pair)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def store_predictions(con: duckdb.DuckDBPyConnection, model_id: str, run_id: str | None, ids: list[str],
                      texts: list[str], table: pa.Table) -> int:
    """Write one chunk's rows into ``predictions`` for the texts found in ``documents``."""
    names = [c for c in table.column_names if c.startswith("p_")]
    probs = np.column_stack([table.column(c).to_numpy() for c in names]).tolist()
    incoming = pa.table({
        "i": pa.array(range(len(ids)), type=pa.int64()),
        "id": ids,
        "text_hash": [text_hash(t) for t in texts],
        "label": table.column("label_id"),
        "probs": pa.array(probs, type=pa.list_(pa.float64())),
    })
    with registered(con, "incoming_predictions", incoming):
        matched = con.sql(
            """
            SELECT d.doc_id, c.label, c.probs
            FROM incoming_predictions c JOIN documents d ON d.text_hash = c.text_hash
            QUALIFY row_number() OVER (PARTITION BY d.doc_id ORDER BY (d.doc_id = c.id) DESC, c.i) = 1
            """
        ).to_arrow_table()
    return replace_predictions(con, model_id, run_id, matched)


def replace_predictions(con: duckdb.DuckDBPyConnection, model_id: str, run_id: str | None, rows: pa.Table) -> int:
    """Store a model's predictions ``rows`` (doc_id, label, probs) in ``predictions``,
    replacing its earlier predictions for those documents: a document holds at most one
    prediction per model, its latest, whichever command (predict, evaluate) wrote it."""
    with registered(con, "_new_predictions", rows), transaction(con):
        con.execute("DELETE FROM predictions WHERE model_id = ? AND doc_id IN (SELECT doc_id FROM _new_predictions)",
                    [model_id])
        con.execute("INSERT INTO predictions (model_id, doc_id, label, probs, run_id) "
                    "SELECT ?, doc_id, label, probs, ? FROM _new_predictions", [model_id, run_id])
    return rows.num_rows
