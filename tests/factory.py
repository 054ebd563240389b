"""Rows for test warehouses, written by column name so a new column never breaks a test.

Every writer records its rows under a real ``runs`` row of the stage that would have
written them, so the shared views (``last_ok_runs``, ``current_votes``) see them as the
stage's own output.
"""

from __future__ import annotations

from typing import Iterable

import duckdb
import numpy as np
import pyarrow as pa

from admedtagger.warehouse import record_run, registered


def insert_rows(con: duckdb.DuckDBPyConnection, table: str, rows: pa.Table | list[dict]) -> int:
    """Insert ``rows`` into ``table`` by column name; columns not given take their defaults."""
    rows = rows if isinstance(rows, pa.Table) else pa.Table.from_pylist(rows)
    if not rows.num_rows:
        return 0
    columns = ", ".join(f'"{name}"' for name in rows.column_names)
    with registered(con, "_factory_rows", rows):
        con.execute(f'INSERT INTO "{table}" ({columns}) SELECT {columns} FROM _factory_rows')
    return rows.num_rows


def gold_with_flips(con: duckdb.DuckDBPyConnection, share_flipped: float, seed: int,
                    n_labels: int = 5) -> tuple[list[str], np.ndarray, set[str]]:
    """The categorised gold documents with a seeded share of labels moved to another category.

    Returns ``(doc_ids, labels, flipped_doc_ids)``; ``labels[i]`` belongs to ``doc_ids[i]``.
    """
    gold = con.execute("SELECT doc_id, label FROM gold WHERE label >= 0 ORDER BY doc_id").fetchall()
    ids = [doc_id for doc_id, _ in gold]
    labels = np.array([label for _, label in gold])
    rng = np.random.default_rng(seed)
    flipped = rng.choice(len(ids), round(share_flipped * len(ids)), replace=False)
    labels[flipped] = (labels[flipped] + rng.integers(1, n_labels, len(flipped))) % n_labels
    return ids, labels, {ids[i] for i in flipped}


def write_weak_labels(con: duckdb.DuckDBPyConnection, doc_ids: list[str], labels: Iterable[int], *,
                      confidence: float | Iterable[float] = 0.9, probs: list[list[float]] | None = None,
                      model: str = "test") -> str:
    """One ok 'label-model' run whose weak labels are the given ones; returns its run id."""
    labels = [int(label) for label in labels]
    confidences = [confidence] * len(labels) if isinstance(confidence, (int, float)) else list(confidence)
    with record_run(con, "label-model", {"test": model}) as run:
        insert_rows(con, "weak_labels", pa.table({
            "run_id": [run.run_id] * len(labels), "doc_id": doc_ids, "label": labels,
            "probs": pa.array(probs if probs is not None else [None] * len(labels), pa.list_(pa.float64())),
            "confidence": confidences, "model": [model] * len(labels),
        }))
    return run.run_id


def write_votes(con: duckdb.DuckDBPyConnection, votes: Iterable[tuple[str, str, int, float | None]], *,
                version: str = "v1", kind: str = "python") -> str:
    """One ok 'label' run casting ``votes`` (rows of doc_id, lf, label, confidence) under
    LF ``version``, each LF registered in ``lfs``; returns the run id."""
    votes = list(votes)
    with record_run(con, "label", {"test": True}) as run:
        insert_rows(con, "lfs", [{"lf": lf, "kind": kind, "version": version, "spec": "{}"}
                                 for lf in sorted({v[1] for v in votes})])
        insert_rows(con, "votes", [{"doc_id": d, "lf": lf, "lf_version": version, "label": label,
                                    "confidence": conf, "run_id": run.run_id} for d, lf, label, conf in votes])
    return run.run_id


def demo_slice_with_weak_labels(con: duckdb.DuckDBPyConnection, folder, every: int, peak: float, k: int = 5) -> None:
    """Every ``every``-th text of the bundled demo corpus ingested with its label as gold, and
    one ok 'label-model' run whose weak label is that gold label with probability ``peak``,
    the rest spread evenly over the other K columns (K+1 with "none" last)."""
    from admedtagger.demo.corpus import BUNDLED_CORPUS
    from admedtagger.warehouse import ingest_files

    lines = BUNDLED_CORPUS.read_text(encoding="utf-8").splitlines()[::every]
    source = folder / "slice.jsonl"
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    ingest_files(con, [source], id_col="id", label_col="label")
    gold = con.execute("SELECT doc_id, label FROM gold ORDER BY doc_id").fetchall()
    probs = []
    for _, label in gold:
        row = [(1 - peak) / k] * (k + 1)
        row[label] = peak  # -1: the last entry, fits no category
        probs.append(row)
    write_weak_labels(con, [d for d, _ in gold], [label for _, label in gold], confidence=peak, probs=probs)


def scripted(answers):
    """A ``read_line`` for the terminal reviewer that types ``answers`` one by one, then
    ends the input (EOFError), as a pipe would."""
    answers = iter(answers)

    def read_line(prompt: str) -> str:
        try:
            return next(answers)
        except StopIteration:
            raise EOFError from None

    return read_line


# A Python LF that appends one line to progress.log (next to its file) per text the runner
# hands it, and abstains: how far a run got, seen from outside its process.
PROGRESS_LF = '''
from pathlib import Path
from admedtagger.labeling.python_lf import labeling_function

@labeling_function(name="py_progress")
def progress(text):
    # Side channel for the test: one line per text the runner hands out.
    with open(Path(__file__).with_name("progress.log"), "a") as log:
        log.write("x\\n")
    return None
'''
