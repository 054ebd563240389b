"""Known labels from a file into ``gold_imports``, and the ``gold`` view for display.

``gold import`` reads CSV/TSV, JSONL/JSON or Parquet with DuckDB's readers, takes an id
column and a label column, and reads labels as ingest's ``--label-col`` does
(:func:`~admedtagger.warehouse.rules.resolve_label`: a category name, canonical, Polish
or English, any case, or label id, or one of the names for "fits no category", "other",
"none", "inne", ...). Rows whose id is not a stored document, whose label is unknown or
empty are reported and skipped; an id repeated in the file takes its last row. The rows
are written by :func:`~admedtagger.warehouse.gold_imports.insert_gold` under source
``FILE#COLUMN`` in one statement (so in one transaction): a row already imported from the
same file and column is not added twice.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa

from admedtagger.warehouse import insert_gold, label_lookup, resolve_label

from .errors import CleaningError

READERS = {
    ".csv": "read_csv({path}, all_varchar = true, header = true)",
    ".tsv": "read_csv({path}, all_varchar = true, header = true, delim = '\t')",
    ".jsonl": "read_json({path}, format = 'newline_delimited')",
    ".ndjson": "read_json({path}, format = 'newline_delimited')",
    ".json": "read_json({path})",
    ".parquet": "read_parquet({path})",
}


@dataclass
class GoldImportReport:
    rows: int = 0
    imported: int = 0
    already: int = 0
    unknown_ids: list[str] = field(default_factory=list)
    unknown_labels: Counter = field(default_factory=Counter)
    missing: int = 0  # rows without an id or a label
    repeated: int = 0  # an id again further down the file: its last row counts
    source: str = ""


def read_pairs(con: duckdb.DuckDBPyConnection, path: Path, id_col: str, label_col: str) -> list[tuple]:
    """(id, label) text pairs of the file, in file order."""
    if not path.is_file():
        raise CleaningError(f"{path}: no such file")
    reader = READERS.get(path.suffix.lower())
    if reader is None:
        raise CleaningError(f"{path}: unknown format; expected one of {', '.join(READERS)}")
    source = reader.format(path="'" + str(path).replace("'", "''") + "'")
    try:
        columns = [row[0] for row in con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()]
    except duckdb.Error as exc:
        raise CleaningError(f"{path}: cannot read it: {str(exc).splitlines()[0]}") from None
    missing = [c for c in (id_col, label_col) if c not in columns]
    if missing:
        raise CleaningError(f"{path}: no column {', '.join(map(repr, missing))}; columns: {', '.join(columns)}")
    quoted = [f'"{c.replace(chr(34), chr(34) * 2)}"::VARCHAR' for c in (id_col, label_col)]
    try:
        return con.execute(f"SELECT {quoted[0]}, {quoted[1]} FROM {source}").fetchall()
    except duckdb.Error as exc:
        raise CleaningError(f"{path}: cannot read it: {str(exc).splitlines()[0]}") from None


def import_gold(con: duckdb.DuckDBPyConnection, path: Path, id_col: str, label_col: str) -> GoldImportReport:
    """Add the file's labels to ``gold_imports`` (module doc) and report what was skipped."""
    pairs = read_pairs(con, path, id_col, label_col)
    lookup = label_lookup(con)
    report = GoldImportReport(rows=len(pairs), source=f"{path}#{label_col}")
    known_ids = {row[0] for row in con.execute("SELECT doc_id FROM documents").fetchall()}
    chosen: dict[str, int] = {}
    for doc_id, raw_label in pairs:
        if not doc_id or not (raw_label or "").strip():
            report.missing += 1
            continue
        label = resolve_label(lookup, raw_label)
        if label is None:
            report.unknown_labels[raw_label.strip()] += 1
            continue
        if doc_id not in known_ids:
            report.unknown_ids.append(doc_id)
            continue
        report.repeated += doc_id in chosen
        chosen[doc_id] = label
    rows = pa.table({
        "doc_id": pa.array(list(chosen), pa.string()), "label": pa.array(list(chosen.values()), pa.int32()),
    })
    report.imported = insert_gold(con, rows, report.source)
    report.already = len(chosen) - report.imported
    return report


def gold_table(con: duckdb.DuckDBPyConnection, split: str | None = None) -> pa.Table:
    """The ``gold`` view (optionally one split), ordered by document id."""
    if split is not None and split not in ("dev", "test"):
        raise CleaningError(f"--split must be dev or test, got {split!r}")
    if split is None:
        return con.sql("SELECT * FROM gold ORDER BY doc_id").to_arrow_table()
    return con.sql("SELECT * FROM gold WHERE split = $split ORDER BY doc_id", params={"split": split}).to_arrow_table()
