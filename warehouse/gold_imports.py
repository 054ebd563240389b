"""Known labels into ``gold_imports``: the one insert that ingest's ``--label-col`` and
``gold import`` share.

A row equal to one already stored (same document, source and label) is not added again,
so re-importing an unchanged file adds nothing. The ``gold`` view reads each document's
latest import.
"""

from __future__ import annotations

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from .transactions import registered


def insert_gold(con: duckdb.DuckDBPyConnection, rows: pa.Table, source: str) -> int:
    """Add ``rows`` to ``gold_imports`` under ``source``; return how many were added.

    Inputs: ``rows``, an Arrow table with columns ``doc_id`` (string) and ``label``
    (integer label id, :data:`~admedtagger.warehouse.rules.NONE_LABEL` for "fits no
    category"), at most one row per document (the caller decides which label a document
    given twice keeps); ``source``, where the labels come from (``FILE#COLUMN``).
    A row equal to a stored one in (doc_id, source, label) is skipped. Runs as one
    statement: inside the caller's transaction when there is one.
    """
    missing = {"doc_id", "label"} - set(rows.column_names)
    if missing:
        raise ValueError(f"insert_gold: rows lack column(s) {', '.join(sorted(missing))}")
    if not rows.num_rows:
        return 0
    if pc.count_distinct(rows["doc_id"]).as_py() != rows.num_rows:
        raise ValueError("insert_gold: a doc_id appears more than once in rows; keep one label per document")
    with registered(con, "gold_rows", rows.select(["doc_id", "label"])):
        return con.execute(
            """
            INSERT INTO gold_imports (doc_id, label, source)
            SELECT g.doc_id, g.label, $source FROM gold_rows g
            WHERE NOT EXISTS (SELECT 1 FROM gold_imports x
                              WHERE x.doc_id = g.doc_id AND x.source = $source AND x.label = g.label)
            """,
            {"source": source},
        ).fetchall()[0][0]
