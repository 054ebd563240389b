"""Apply labelling functions to the documents that lack a vote from their current version.

:func:`apply_lfs` is what ``admedtagger label`` runs:

1. every LF is registered in ``lfs`` (name, kind, version, spec; one row per LF);
2. the work list is computed once, in SQL: the documents of the sample (all of them, or
   the first ``limit`` in a fixed pseudo-random order, ``md5(doc_id)``, so that a sample
   is reproducible, mixes every source, and ``--limit 1000`` after ``--limit 100``
   extends the same sample), each with the LFs that have no vote on it from their current
   version (view ``current_lfs``);
3. the work list is processed in batches, in that order: each LF gets the texts of the
   batch it still has to vote on, and the batch's votes are committed in ONE transaction,
   together with the removal of that LF's votes from older versions on those documents.
   LFs sharing a batch group (LLM views on the Ray engine) get the batch's texts handed
   to the group first, so that one job answers all of them.

So ``votes`` holds at most one vote per document and LF, a killed run loses at most the
batch in flight and never duplicates a vote, and a rerun continues where it stopped
(a finished run leaves nothing to do: a second run is free).

The run is recorded in ``runs`` (stage ``label``) with, per LF: texts, votes (non-abstain),
abstain rate, seconds spent in the LF, texts/s, and the LF's own counters
(``LabelingFunction.metrics``: model calls, cache hits, ...).
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Callable, Sequence

import duckdb
import pyarrow as pa

from admedtagger.warehouse import NONE_LABEL, UserError, record_run, registered, transaction

from .base import LabelingFunction


class LabelingError(UserError):
    pass


@dataclass
class LFStats:
    """What one LF did in one run."""

    texts: int = 0
    votes: int = 0
    seconds: float = 0.0

    def as_dict(self, lf: LabelingFunction) -> dict:
        abstains = self.texts - self.votes
        return {
            "kind": lf.kind, "version": lf.version, "texts": self.texts, "votes": self.votes,
            "abstain_rate": abstains / self.texts if self.texts else None,
            "seconds": round(self.seconds, 3),
            "texts_per_s": self.texts / self.seconds if self.seconds > 0 else None,
            **lf.metrics,
        }


@dataclass
class LabelProgress:
    """Passed to the progress callback after every committed batch."""

    done: int  # documents finished
    total: int  # documents with work at the start
    seconds: float
    votes: int  # non-abstain votes written so far, all LFs
    decisions: int  # votes + abstains written so far, all LFs

    @property
    def texts_per_s(self) -> float:
        return self.done / self.seconds if self.seconds > 0 else 0.0

    @property
    def abstain_rate(self) -> float:
        return 1 - self.votes / self.decisions if self.decisions else 0.0

    @property
    def eta_seconds(self) -> float | None:
        rate = self.texts_per_s
        return (self.total - self.done) / rate if rate > 0 else None


@dataclass
class LabelResult:
    run_id: str
    documents: int  # documents that had work
    seconds: float
    lfs: dict[str, dict] = field(default_factory=dict)  # per-LF metrics, as stored in runs


def register_lfs(con: duckdb.DuckDBPyConnection, lfs: Sequence[LabelingFunction]) -> None:
    """Upsert one ``lfs`` row per LF (kind, current version, spec) in one transaction."""
    rows = [(lf.name, lf.kind, lf.version, json.dumps(lf.spec, ensure_ascii=False, default=str)) for lf in lfs]
    with transaction(con):
        con.executemany("DELETE FROM lfs WHERE lf = ?", [[r[0]] for r in rows])
        con.executemany("INSERT INTO lfs (lf, kind, version, spec) VALUES (?, ?, ?, ?)", [list(r) for r in rows])


def apply_lfs(
    con: duckdb.DuckDBPyConnection,
    lfs: Sequence[LabelingFunction],
    *,
    limit: int | None = None,
    batch_size: int | None = None,
    params: dict | None = None,
    on_progress: Callable[[LabelProgress], None] | None = None,
) -> LabelResult:
    """Apply ``lfs`` where their current votes are missing; see the module docstring.

    ``limit``: only the first ``limit`` documents in ``md5(doc_id)`` order. ``batch_size``:
    documents per committed batch (default: the smallest ``batch_size`` of the LFs).
    ``params`` are added to the run's recorded parameters (backend, model, ...).
    """
    if not lfs:
        raise LabelingError("no labelling function selected")
    names = [lf.name for lf in lfs]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise LabelingError(f"two labelling functions share the name(s) {duplicates}: names must be unique")
    if limit is not None and limit < 1:
        raise LabelingError(f"--limit must be at least 1, got {limit}")
    batch_size = batch_size or min(lf.batch_size for lf in lfs)
    if batch_size < 1:
        raise LabelingError(f"--batch-size must be at least 1, got {batch_size}")
    n_labels = con.execute("SELECT count(*) FROM categories").fetchall()[0][0]
    if not n_labels:
        raise LabelingError("the warehouse has no categories: run `admedtagger init` first")

    register_lfs(con, lfs)
    run_params = {
        **(params or {}), "limit": limit, "batch_size": batch_size,
        "lfs": {lf.name: {"kind": lf.kind, "version": lf.version} for lf in lfs},
    }
    with record_run(con, "label", run_params) as run:
        todo, total = _work_list(con, lfs, limit)
        stale = _lfs_with_stale_votes(con, lfs)
        stats = {lf.name: LFStats() for lf in lfs}
        started = time.perf_counter()
        done = votes = decisions = 0
        try:
            for first in range(0, total, batch_size):
                batch = con.execute(
                    f"SELECT t.doc_id, d.text, t.lfs FROM {todo} t JOIN documents d USING (doc_id) "
                    "WHERE t.seq > ? AND t.seq <= ? ORDER BY t.seq",
                    [first, first + batch_size],
                ).fetchall()
                rows = _apply_batch(batch, lfs, stats, n_labels, run.run_id)
                _commit_votes(con, rows, stale)
                done += len(batch)
                votes += sum(1 for label in rows["label"] if label != NONE_LABEL)
                decisions += len(rows["label"])
                run.metrics = _metrics(lfs, stats, done, time.perf_counter() - started)
                if on_progress:
                    on_progress(LabelProgress(done, total, time.perf_counter() - started, votes, decisions))
        finally:
            con.execute(f"DROP TABLE IF EXISTS {todo}")
            run.metrics = _metrics(lfs, stats, done, time.perf_counter() - started)
    return LabelResult(run.run_id, done, time.perf_counter() - started, run.metrics["lfs"])


def _metrics(lfs: Sequence[LabelingFunction], stats: dict[str, LFStats], done: int, seconds: float) -> dict:
    return {
        "documents": done, "seconds": round(seconds, 3),
        "lfs": {lf.name: stats[lf.name].as_dict(lf) for lf in lfs},
    }


def _work_list(con: duckdb.DuckDBPyConnection, lfs: Sequence[LabelingFunction], limit: int | None) -> tuple[str, int]:
    """A temporary table (seq, doc_id, lfs) of the documents with missing votes, and its size.

    The LFs were registered just before (:func:`register_lfs`), so their rows in
    ``current_lfs`` carry the versions being applied.
    """
    todo = f"_label_todo_{uuid.uuid4().hex[:8]}"
    con.execute(
        f"""
        CREATE TEMP TABLE {todo} AS
        WITH sample AS (
            SELECT doc_id, md5(doc_id) AS k FROM documents ORDER BY k, doc_id
            {'LIMIT ' + str(int(limit)) if limit else ''}
        ),
        missing AS (
            SELECT s.doc_id, s.k, c.lf FROM sample s CROSS JOIN current_lfs c
            WHERE list_contains(?, c.lf) AND NOT EXISTS (
                SELECT 1 FROM votes v WHERE v.doc_id = s.doc_id AND v.lf = c.lf AND v.lf_version = c.version
            )
        )
        SELECT row_number() OVER (ORDER BY k, doc_id) AS seq, doc_id, list(lf) AS lfs
        FROM missing GROUP BY doc_id, k
        """,
        [[lf.name for lf in lfs]],
    )
    return todo, con.execute(f"SELECT count(*) FROM {todo}").fetchall()[0][0]


def _lfs_with_stale_votes(con: duckdb.DuckDBPyConnection, lfs: Sequence[LabelingFunction]) -> set[str]:
    """LFs that have votes from an older version: only their batches need a delete."""
    rows = con.execute(
        "SELECT DISTINCT v.lf FROM votes v JOIN current_lfs l ON l.lf = v.lf WHERE v.lf_version <> l.version"
    ).fetchall()
    wanted = {lf.name for lf in lfs}
    return {r[0] for r in rows if r[0] in wanted}


def _apply_batch(batch: list[tuple], lfs: Sequence[LabelingFunction], stats: dict[str, LFStats],
                 n_labels: int, run_id: str) -> dict[str, list]:
    """Run every LF on the documents of the batch it has to vote on; the votes as columns."""
    doc_ids = [row[0] for row in batch]
    texts = [row[1] for row in batch]
    rows: dict[str, list] = {"doc_id": [], "lf": [], "lf_version": [], "label": [], "confidence": [], "run_id": []}
    work = []
    for lf in lfs:
        wanted = [i for i, row in enumerate(batch) if lf.name in row[2]]
        if wanted:
            # The same list object for every LF that needs the whole batch lets LFs that
            # share work (the keyword matcher, the text embeddings) compute it once.
            work.append((lf, wanted, texts if len(wanted) == len(batch) else [texts[i] for i in wanted]))
    _prepare_groups(work, stats)
    for lf, wanted, sub in work:
        started = time.perf_counter()
        votes = lf.apply(sub)
        st = stats[lf.name]
        st.seconds += time.perf_counter() - started
        if len(votes) != len(sub):
            raise LabelingError(f"labelling function {lf.name} returned {len(votes)} votes for {len(sub)} texts")
        version = lf.version
        for i, vote in zip(wanted, votes):
            if not NONE_LABEL <= vote.label < n_labels:
                raise LabelingError(
                    f"labelling function {lf.name} voted label {vote.label!r} on document {doc_ids[i]}: "
                    f"labels are {NONE_LABEL} (abstain) to {n_labels - 1}"
                )
            if vote.confidence is not None and not 0.0 <= vote.confidence <= 1.0:
                raise LabelingError(
                    f"labelling function {lf.name} gave confidence {vote.confidence!r} on document "
                    f"{doc_ids[i]}: confidences are in [0, 1]"
                )
            rows["doc_id"].append(doc_ids[i])
            rows["lf"].append(lf.name)
            rows["lf_version"].append(version)
            rows["label"].append(vote.label)
            rows["confidence"].append(vote.confidence)
            rows["run_id"].append(run_id)
        st.texts += len(sub)
        st.votes += sum(1 for v in votes if v.label != NONE_LABEL)
    return rows


def _prepare_groups(work: list[tuple[LabelingFunction, list[int], list[str]]], stats: dict[str, LFStats]) -> None:
    """Hand each batch group (:attr:`LabelingFunction.batch_group`) its members' texts; the
    time it takes is shared among the members by their number of texts."""
    groups: dict[int, tuple[object, list]] = {}
    for lf, _, sub in work:
        if lf.batch_group is not None:
            groups.setdefault(id(lf.batch_group), (lf.batch_group, []))[1].append((lf, sub))
    for group, members in groups.values():
        started = time.perf_counter()
        group.prepare(members)
        seconds = time.perf_counter() - started
        total = sum(len(sub) for _, sub in members)
        for lf, sub in members:
            stats[lf.name].seconds += seconds * len(sub) / total


_VOTES_SCHEMA = pa.schema([
    ("doc_id", pa.string()), ("lf", pa.string()), ("lf_version", pa.string()),
    ("label", pa.int32()), ("confidence", pa.float64()), ("run_id", pa.string()),
])


def _commit_votes(con: duckdb.DuckDBPyConnection, rows: dict[str, list], stale: set[str]) -> None:
    """Write one batch's votes in one transaction, replacing older-version votes of stale LFs."""
    table = pa.table(rows, schema=_VOTES_SCHEMA)
    with registered(con, f"_label_batch_{uuid.uuid4().hex[:8]}", table) as name, transaction(con):
        if stale & set(rows["lf"]):
            con.execute(
                f"DELETE FROM votes USING {name} b WHERE votes.doc_id = b.doc_id AND votes.lf = b.lf "
                "AND list_contains(?, votes.lf)",
                [sorted(stale)],
            )
        con.execute(
            f"INSERT INTO votes (doc_id, lf, lf_version, label, confidence, run_id) "
            f"SELECT doc_id, lf, lf_version, label, confidence, run_id FROM {name}"
        )
