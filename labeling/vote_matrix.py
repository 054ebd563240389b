"""The vote matrix: the latest vote of each selected LF on each document, as numpy arrays.

Inputs are the ``lfs`` and ``votes`` tables. An LF's *current* version is the ``version``
of its newest row in ``lfs``; only votes cast with that version count. When several runs
voted the same (document, LF, version), the vote of the run that started last wins (runs
ordered by ``runs.started_at``, then ``run_id``; votes of unknown runs rank first).

Rows of the matrix are the documents that received at least one vote row (an abstain
included) from a selected LF, in ``documents.rowid`` order; ``rows`` holds those rowids.
Documents without any vote row are not in the matrix but are counted (``n_unvoted``).

Loading goes through one DuckDB scan that joins the votes to the selected LFs, the
documents (to turn the string id into an integer row) and the run order, and returns
plain integer/float columns as Arrow; numpy then scatters them into the dense matrix.
No Python-level loop touches a vote, so 10M votes load in a few seconds.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import duckdb
import numpy as np
import pyarrow as pa

from admedtagger.warehouse import UserError

ABSTAIN = -1


class VoteMatrixError(UserError):
    pass


@dataclass(frozen=True)
class LFInfo:
    name: str
    kind: str
    version: str


@dataclass
class VoteMatrix:
    """``labels[i, j]``: LF j's vote on document ``rows[i]`` (-1 = abstain or no vote).

    ``confidence[i, j]`` is the vote's confidence, NaN where the LF gave none or abstained.
    """

    lfs: list[LFInfo]
    rows: np.ndarray            # int64 documents.rowid of each matrix row
    labels: np.ndarray          # int8 (n, m)
    confidence: np.ndarray      # float32 (n, m)
    n_documents: int            # documents in the warehouse
    n_votes: int                # vote rows read (after keeping the latest per document and LF)
    n_orphan_votes: int = 0     # vote rows whose doc_id is not in documents (ignored)
    n_duplicate_votes: int = 0  # older vote rows superseded by a later run
    skipped_lfs: list[str] = field(default_factory=list)  # selected LFs without current votes

    @property
    def names(self) -> list[str]:
        return [lf.name for lf in self.lfs]

    @property
    def n_unvoted(self) -> int:
        return self.n_documents - len(self.rows)

    def row_index(self, rowids: np.ndarray) -> np.ndarray:
        """Matrix row of each documents.rowid, -1 where the document is not in the matrix."""
        if not len(self.rows):
            return np.full(len(rowids), -1, np.int64)
        position = np.minimum(np.searchsorted(self.rows, rowids), len(self.rows) - 1)
        return np.where(self.rows[position] == rowids, position, -1)


def current_lfs(con: duckdb.DuckDBPyConnection) -> list[LFInfo]:
    """Every LF's newest row in ``lfs``, by name."""
    rows = con.execute(
        "SELECT lf, kind, version FROM lfs "
        "QUALIFY row_number() OVER (PARTITION BY lf ORDER BY updated_at DESC) = 1 ORDER BY lf"
    ).fetchall()
    return [LFInfo(*row) for row in rows]


def select_lfs(con: duckdb.DuckDBPyConnection, names: list[str] | None = None) -> tuple[list[LFInfo], list[str]]:
    """The LFs to use and the names of those skipped for lack of votes at their current version.

    ``names`` None means every LF with current votes; a named LF that is unknown or has
    no votes at its current version is an error, since the user asked for it.
    """
    known = {lf.name: lf for lf in current_lfs(con)}
    if names:
        unknown = [n for n in names if n not in known]
        if unknown:
            raise VoteMatrixError(
                f"unknown LF {', '.join(map(repr, unknown))}; known: {', '.join(known) or 'none (run `admedtagger label` first)'}"
            )
        wanted = [known[n] for n in dict.fromkeys(names)]
    else:
        wanted = list(known.values())
    if not wanted:
        raise VoteMatrixError("no labelling functions in the warehouse: run `admedtagger label` first")
    with_votes = {
        lf for (lf,) in con.execute(
            "SELECT DISTINCT v.lf FROM votes v JOIN lfs l ON l.lf = v.lf AND l.version = v.lf_version"
        ).fetchall()
    }
    chosen = [lf for lf in wanted if lf.name in with_votes]
    skipped = [lf.name for lf in wanted if lf.name not in with_votes]
    if names and skipped:
        raise VoteMatrixError(
            f"LF {', '.join(map(repr, skipped))} has no votes for its current version: run `admedtagger label` first"
        )
    if not chosen:
        raise VoteMatrixError("no LF has votes for its current version: run `admedtagger label` first")
    return chosen, skipped


def load_vote_matrix(con: duckdb.DuckDBPyConnection, lfs: list[LFInfo], n_categories: int,
                     skipped: list[str] | None = None) -> VoteMatrix:
    """Read the latest current-version vote of each LF in ``lfs`` (from :func:`select_lfs`).

    Raises :class:`VoteMatrixError` for a vote label outside -1..K-1 or a confidence
    outside [0, 1], naming the LF.
    """
    m, k = len(lfs), n_categories
    selected = pa.table({
        "lf": [lf.name for lf in lfs],
        "version": [lf.version for lf in lfs],
        "j": pa.array(range(m), pa.int64()),
    })
    con.register("_vote_matrix_lfs", selected)
    try:
        # slot = documents.rowid * m + LF column: one int64 per vote, no strings leave DuckDB.
        # Out-of-range labels become -2 (int8-safe) and are looked up again for the message.
        votes = con.sql(f"""
            SELECT coalesce(d.rowid * {m} + s.j, -1) AS slot,
                   (CASE WHEN v.label BETWEEN -1 AND {k - 1} THEN v.label ELSE -2 END)::TINYINT AS label,
                   v.confidence::FLOAT AS confidence,
                   coalesce(o.rank, 0)::INTEGER AS rank
            FROM votes v
            JOIN _vote_matrix_lfs s ON s.lf = v.lf AND s.version = v.lf_version
            LEFT JOIN documents d ON d.doc_id = v.doc_id
            LEFT JOIN (SELECT run_id, dense_rank() OVER (ORDER BY started_at, run_id) AS rank FROM runs) o
                   ON o.run_id = v.run_id
        """).to_arrow_table()
        slot = votes["slot"].to_numpy()
        label = votes["label"].to_numpy()
        confidence = votes["confidence"].to_numpy(zero_copy_only=False)
        rank = votes["rank"].to_numpy()
        del votes
        if (label == -2).any() or ((confidence < 0) | (confidence > 1)).any():  # NaN compares False
            _raise_bad_vote(con, k)
        n_documents, n_slots = con.execute("SELECT count(*), coalesce(max(rowid) + 1, 0) FROM documents").fetchall()[0]
    finally:
        con.unregister("_vote_matrix_lfs")

    known = slot >= 0
    n_orphans = int(len(slot) - known.sum())
    if n_orphans:
        slot, label, confidence, rank = slot[known], label[known], confidence[known], rank[known]
    n_duplicates = 0
    if len(rank) and rank.min() != rank.max() and _several_runs_per_lf(slot % m, rank, m):
        keep = _latest(slot, rank)
        n_duplicates = len(slot) - len(keep)
        slot, label, confidence = slot[keep], label[keep], confidence[keep]

    labels = np.full(n_slots * m, ABSTAIN, np.int8)
    labels[slot] = label
    conf = np.full(n_slots * m, np.nan, np.float32)
    conf[slot] = confidence
    voted = np.zeros(n_slots, bool)
    voted[slot // m] = True
    rows = np.flatnonzero(voted)
    labels, conf = labels.reshape(n_slots, m), conf.reshape(n_slots, m)
    if len(rows) < n_slots:
        labels, conf = labels[rows], conf[rows]
    conf[labels < 0] = np.nan
    return VoteMatrix(
        lfs=lfs, rows=rows, labels=labels, confidence=conf, n_documents=int(n_documents), n_votes=len(slot),
        n_orphan_votes=n_orphans, n_duplicate_votes=n_duplicates, skipped_lfs=list(skipped or []),
    )


def _raise_bad_vote(con: duckdb.DuckDBPyConnection, k: int) -> None:
    lf, label, confidence = con.execute(f"""
        SELECT v.lf, v.label, v.confidence FROM votes v
        JOIN _vote_matrix_lfs s ON s.lf = v.lf AND s.version = v.lf_version
        WHERE v.label NOT BETWEEN -1 AND {k - 1} OR v.confidence < 0 OR v.confidence > 1
        LIMIT 1
    """).fetchall()[0]
    if not -1 <= label < k:
        raise VoteMatrixError(
            f"LF {lf!r} has a vote with label {label}: labels must be -1 (abstain) or a category id 0..{k - 1}"
        )
    raise VoteMatrixError(f"LF {lf!r} has a vote with confidence {confidence}: it must be in [0, 1]")


def _several_runs_per_lf(lf: np.ndarray, rank: np.ndarray, m: int) -> bool:
    """Whether some LF has votes from more than one run: only then can a document have
    two votes from one LF version (a run writes one vote per document and LF)."""
    pairs = np.bincount(rank.astype(np.int64) * m + lf) > 0
    return bool((np.bincount(np.flatnonzero(pairs) % m, minlength=m) > 1).any())


def _latest(slot: np.ndarray, rank: np.ndarray) -> np.ndarray:
    """Indices keeping, per slot (document and LF), the vote of the latest run."""
    order = np.lexsort((rank, slot))
    last = np.ones(len(order), bool)
    last[:-1] = slot[order][1:] != slot[order][:-1]
    return np.sort(order[last])


def gold_rows(con: duckdb.DuckDBPyConnection, matrix: VoteMatrix, split: str) -> tuple[np.ndarray, np.ndarray]:
    """For the gold documents of one split: (matrix row or -1, gold label).

    Gold documents missing from ``documents`` cannot be matched and are left out.
    """
    table = con.sql(
        "SELECT d.rowid AS r, g.label FROM gold g JOIN documents d ON d.doc_id = g.doc_id WHERE g.split = ? ORDER BY d.rowid",
        params=[split],
    ).to_arrow_table()
    return matrix.row_index(table["r"].to_numpy()), table["label"].to_numpy().astype(np.int64)


def vote_counts(labels: np.ndarray, k: int) -> np.ndarray:
    """(n, K) int64: how many LFs voted each category on each document.

    One bincount over (row, label + 1) pairs, the abstain column dropped: linear, and
    3x faster than K comparisons of the matrix.
    """
    n = labels.shape[0]
    pairs = np.arange(n, dtype=np.int64)[:, None] * (k + 1) + (labels.astype(np.int64) + 1)
    return np.bincount(pairs.ravel(), minlength=n * (k + 1)).reshape(n, k + 1)[:, 1:]
