"""Label new texts with a student: read any ingest format or stdin lines, write a file.

Input: a ``.jsonl``/``.csv``/``.tsv``/``.parquet`` file or a folder of ``.txt`` files (the
readers of :mod:`admedtagger.warehouse.ingest`), or ``-`` for one text per stdin line.
Rows the ingest readers cannot read (malformed JSON, a wrong field count) or without a
text are skipped and counted, as ingest does.

Each text's id: the ``id_col`` value when given, the file path for a .txt folder, else
the warehouse's own id for an unnamed text ('h' + 16 hex digits of its hash).

Output rows: ``id``, ``label`` (category name, null = fits no category), ``label_id``
(-1 = none), ``confidence`` (top probability), and ``p_<category>`` per category, as
JSON lines, CSV or Parquet by the output file's extension. ``store=True`` also writes
``predictions`` for texts that are documents of the warehouse, matched by text hash
(the id breaks ties), replacing that model's earlier prediction for them.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator, TextIO

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from admedtagger.warehouse import UserError
from admedtagger.warehouse.ingest import detect_format, read_rows, text_hash

from .abstain import labels_from_probs

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
               stdin: TextIO | None = None, stats: PredictStats | None = None) -> Iterator[tuple[str, str]]:
    """(id, text) pairs from a file, a .txt folder or ``-`` (stdin lines)."""
    stats = stats if stats is not None else PredictStats()
    if str(source) == "-":
        for line in stdin or sys.stdin:
            text = line.rstrip("\n")
            if text.strip():
                yield "h" + text_hash(text)[:16], text
        return
    path = Path(source)
    if not path.exists():
        raise PredictError(f"{path}: no such file or folder")
    fmt = detect_format(path)
    text_key, id_key = ("text", "id") if fmt == "txt-folder" else (text_col, id_col)
    for row in read_rows(path, fmt):
        reason = row.reject
        record = row.record or {}
        text = record.get(text_key)
        if reason is None and (not isinstance(text, str) or not text.strip()):
            reason = f"no text in column {text_key!r}"
        if reason is None and id_key and record.get(id_key) in (None, ""):
            reason = f"no id in column {id_key!r}"
        if reason is not None:
            stats.skipped += 1
            stats.first_skip = stats.first_skip or f"{path}:{row.line or '?'}: {reason}"
            continue
        yield (str(record[id_key]) if id_key else "h" + text_hash(text)[:16]), text


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

    def write(self, table: pa.Table) -> None:
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


def result_table(ids: list[str], probs: np.ndarray, names: list[str], abstain_below: float) -> pa.Table:
    labels = labels_from_probs(probs, abstain_below)
    data = {
        "id": ids,
        "label": [names[i] if i >= 0 else None for i in labels],
        "label_id": pa.array(labels, type=pa.int32()),
        "confidence": probs.max(axis=1) if len(probs) else np.zeros(0),
    }
    for k, name in enumerate(names):
        data[f"p_{name}"] = probs[:, k]
    return pa.table(data)


def predict(student, source: str | Path, *, out: Path | None = None, stream: TextIO | None = None,
            stdin: TextIO | None = None, text_col: str = "text", id_col: str | None = None,
            batch_size: int = 64, chunk_size: int = 4096, con: duckdb.DuckDBPyConnection | None = None,
            model_id: str | None = None, run_id: str | None = None,
            on_progress: Callable[[int], None] | None = None) -> PredictStats:
    """Label every text of ``source``; write the rows to ``out`` (or ``stream`` as jsonl).

    ``con`` (with ``model_id``) stores predictions for texts that are warehouse documents.
    Texts are read and labelled ``chunk_size`` at a time, so memory stays bounded.
    """
    stats = PredictStats()
    writer = OutputWriter(out, stream)
    started = time.perf_counter()
    try:
        for chunk in _chunks(read_texts(source, text_col=text_col, id_col=id_col, stdin=stdin, stats=stats), chunk_size):
            ids, texts = [c[0] for c in chunk], [c[1] for c in chunk]
            done = stats.texts
            probs = student.predict_proba(texts, batch_size=batch_size,
                                          on_progress=(lambda n: on_progress(done + n)) if on_progress else None)
            table = result_table(ids, probs, student.category_names, student.abstain_below)
            writer.write(table)
            if con is not None:
                stats.stored += store_predictions(con, model_id, run_id, ids, texts, table)
            stats.texts += len(texts)
            for name in table.column("label").to_pylist():
                key = name or "(none)"
                stats.labels[key] = stats.labels.get(key, 0) + 1
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
    con.register("incoming_predictions", incoming)
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute(
            """
            CREATE TEMP TABLE matched AS
            SELECT d.doc_id, c.label, c.probs
            FROM incoming_predictions c JOIN documents d ON d.text_hash = c.text_hash
            QUALIFY row_number() OVER (PARTITION BY d.doc_id ORDER BY (d.doc_id = c.id) DESC, c.i) = 1
            """
        )
        con.execute("DELETE FROM predictions WHERE model_id = ? AND doc_id IN (SELECT doc_id FROM matched)", [model_id])
        con.execute(
            "INSERT INTO predictions (model_id, doc_id, label, probs, run_id) "
            "SELECT ?, doc_id, label, probs, ? FROM matched", [model_id, run_id]
        )
        stored = con.execute("SELECT count(*) FROM matched").fetchall()[0][0]
        con.execute("DROP TABLE matched")
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise
    finally:
        con.unregister("incoming_predictions")
    return stored
