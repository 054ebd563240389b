"""The vote matrix: the current vote of each selected LF on each document, as numpy arrays.

Which vote counts is the warehouse's rule, read from its views and not restated here:
``current_lfs`` gives each LF's current version and ``current_votes`` the one vote per
(document, LF) cast by that version (the latest run's when several voted). This module
turns those rows into a dense matrix and indexes it:

- documents are identified by ``documents.rowid`` (an int64 each: 8 MB and one
  ``searchsorted`` for a million documents, where doc_id strings would cost a hash join);
- LFs are identified by name;
- every selection (:meth:`VoteMatrix.voting_lfs`, :meth:`VoteMatrix.for_documents`) is a new
  :class:`VoteMatrix` carrying its own rows and LFs, so a row or column index is only ever
  used on the matrix it came from.

Loading is one DuckDB scan that joins the votes of the selected LFs' current versions to
``documents`` (string id -> integer row) and returns plain integer/float columns as
Arrow; numpy then scatters them into the dense matrix. No Python-level loop touches a
vote, so millions of votes load in seconds. Only when some (document, LF) has several of
those votes is ``current_votes`` itself read, to let it pick (:func:`load_vote_matrix`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import duckdb
import numpy as np
import pyarrow as pa

from admedtagger.warehouse import NONE_LABEL, UserError, registered


class VoteMatrixError(UserError):
    pass


@dataclass(frozen=True)
class LFInfo:
    """One row of ``current_lfs``; ``role`` is its spec's ``role`` ("report" for the report
    LFs of document-type categories, see label_model.py), None when it has none."""

    name: str
    kind: str
    version: str
    role: str | None = None


@dataclass(frozen=True, eq=False)
class VoteMatrix:
    """``labels[i, j]``: the vote of LF ``lfs[j]`` on document ``rows[i]``, a category id or
    ``NONE_LABEL`` (the LF abstained, or has no vote there).

    ``confidence[i, j]`` is that vote's confidence in [0, 1], NaN where the LF gave none or
    did not vote. ``rows`` (int64 ``documents.rowid``) is ascending.

    Shapes: ``rows`` (n,), ``labels`` int8 (n, m), ``confidence`` float32 (n, m), ``lfs`` m.
    """

    lfs: list[LFInfo]
    rows: np.ndarray
    labels: np.ndarray
    confidence: np.ndarray

    @property
    def names(self) -> list[str]:
        return [lf.name for lf in self.lfs]

    def row_index(self, rowids: np.ndarray) -> np.ndarray:
        """Row of each ``documents.rowid`` in this matrix, -1 where it has none."""
        if not len(self.rows):
            return np.full(len(rowids), -1, np.int64)
        position = np.minimum(np.searchsorted(self.rows, rowids), len(self.rows) - 1)
        return np.where(self.rows[position] == rowids, position, -1)

    def voting_lfs(self) -> VoteMatrix:
        """Every document, and the LFs with at least one vote (not an abstain): what a label
        model is fitted on and labels (an LF that never voted tells it nothing)."""
        keep = (self.labels != NONE_LABEL).any(axis=0)
        return VoteMatrix(lfs=[lf for lf, k in zip(self.lfs, keep) if k], rows=self.rows,
                          labels=self.labels[:, keep], confidence=self.confidence[:, keep])

    def for_documents(self, rowids: np.ndarray) -> VoteMatrix:
        """The votes on the documents ``rowids`` (ascending), row i for ``rowids[i]``; a
        document this matrix has no row for gets a row without votes."""
        index = self.row_index(rowids)
        found = index >= 0
        labels = np.full((len(rowids), len(self.lfs)), NONE_LABEL, self.labels.dtype)
        labels[found] = self.labels[index[found]]
        confidence = np.full(labels.shape, np.nan, self.confidence.dtype)
        confidence[found] = self.confidence[index[found]]
        return VoteMatrix(lfs=self.lfs, rows=np.asarray(rowids), labels=labels, confidence=confidence)


@dataclass(frozen=True)
class VoteStats:
    """What loading a vote matrix saw, for the run's metrics."""

    documents: int          # documents in the warehouse
    votes: int              # current votes read (one per document and LF, abstains included)
    orphan_votes: int = 0   # current-version votes whose doc_id is not in documents (ignored)
    duplicate_votes: int = 0  # current-version votes that another one supersedes (current_votes' pick)
    skipped_lfs: list[str] = field(default_factory=list)  # LFs left out: no votes at their current version


@dataclass(frozen=True, eq=False)
class GoldSplit:
    """The gold documents of one split (those in ``documents``), as ``rowids`` (ascending)
    and their gold ``labels`` (int64, ``NONE_LABEL`` = the text fits no category)."""

    split: str
    rowids: np.ndarray
    labels: np.ndarray


def current_lf_infos(con: duckdb.DuckDBPyConnection) -> list[LFInfo]:
    """Every LF at its current version (view ``current_lfs``), by name."""
    return [LFInfo(*row) for row in con.execute(
        "SELECT lf, kind, version, json_extract_string(spec, '$.role') FROM current_lfs ORDER BY lf").fetchall()]


def select_lfs(con: duckdb.DuckDBPyConnection, names: list[str] | None = None) -> tuple[list[LFInfo], list[str]]:
    """The LFs to use and the names of those skipped for lack of current votes.

    ``names`` None means every LF with current votes; a named LF that is unknown or has
    no current votes is an error, since the user asked for it.
    """
    known = {lf.name: lf for lf in current_lf_infos(con)}
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
    # An LF has current votes exactly when its current version has cast one: no need to pay
    # for current_votes' pick among several votes to learn that.
    with_votes = {lf for (lf,) in con.execute(
        "SELECT DISTINCT v.lf FROM votes v JOIN current_lfs l ON l.lf = v.lf AND l.version = v.lf_version"
    ).fetchall()}
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
                     skipped: list[str] | None = None) -> tuple[VoteMatrix, VoteStats]:
    """The current votes (view ``current_votes``) of ``lfs`` (from :func:`select_lfs`).

    Rows are the documents with at least one current vote row (an abstain included) from
    ``lfs``, in ``documents.rowid`` order. Raises :class:`VoteMatrixError` for a vote label
    outside NONE_LABEL..K-1 or a confidence outside [0, 1], naming the LF.

    The votes of the current versions are read first. When no (document, LF) has two of
    them, they are the current votes, with no choice to make; only otherwise is the view
    read, since picking among several (its window over every vote) costs several times the
    plain scan. The runner never writes two votes of one version on one document, so the
    plain scan is the usual case.
    """
    m, k = len(lfs), n_categories
    # The versions are those current_lfs gave select_lfs; joining the view itself here would
    # cost twice the scan (DuckDB then plans the join to the votes worse).
    selected = pa.table({"lf": [lf.name for lf in lfs], "version": [lf.version for lf in lfs],
                         "j": pa.array(range(m), pa.int64())})
    with registered(con, "_vote_matrix_lfs", selected):
        n_documents, n_slots = con.execute("SELECT count(*), coalesce(max(rowid) + 1, 0) FROM documents").fetchall()[0]
        slot, label, confidence = _read_votes(con, _CURRENT_VERSION_VOTES, m, k)
        if (label == -2).any() or ((confidence < 0) | (confidence > 1)).any():  # NaN compares False
            _raise_bad_vote(con, k)
        known = slot >= 0
        n_orphans = int(len(slot) - known.sum())
        slot, label, confidence = slot[known], label[known], confidence[known]
        filled = np.zeros(n_slots * m, bool)
        filled[slot] = True
        n_duplicates = len(slot) - int(np.count_nonzero(filled))
        del filled
        if n_duplicates:
            slot, label, confidence = _read_votes(con, _CURRENT_VOTES, m, k)
            known = slot >= 0
            slot, label, confidence = slot[known], label[known], confidence[known]

    labels = np.full(n_slots * m, NONE_LABEL, np.int8)
    labels[slot] = label
    conf = np.full(n_slots * m, np.nan, np.float32)
    conf[slot] = confidence
    voted = np.zeros(n_slots, bool)
    voted[slot // m] = True
    rows = np.flatnonzero(voted)
    labels, conf = labels.reshape(n_slots, m), conf.reshape(n_slots, m)
    if len(rows) < n_slots:
        labels, conf = labels[rows], conf[rows]
    conf[labels == NONE_LABEL] = np.nan
    matrix = VoteMatrix(lfs=lfs, rows=rows, labels=labels, confidence=conf)
    stats = VoteStats(documents=int(n_documents), votes=len(slot), orphan_votes=n_orphans,
                      duplicate_votes=n_duplicates, skipped_lfs=list(skipped or []))
    return matrix, stats


# The votes of the selected LFs (``_vote_matrix_lfs``, with their current versions) as
# ``v``, their column as ``s.j``: every vote of those versions, or the current votes.
_CURRENT_VERSION_VOTES = "votes v JOIN _vote_matrix_lfs s ON s.lf = v.lf AND s.version = v.lf_version"
_CURRENT_VOTES = "current_votes v JOIN _vote_matrix_lfs s ON s.lf = v.lf"


def _read_votes(con: duckdb.DuckDBPyConnection, source: str, m: int, k: int) -> tuple[np.ndarray, ...]:
    """(slot, label, confidence) of the votes in ``source`` (one of the two above).

    slot = documents.rowid * m + LF column (-1 for a doc_id missing from ``documents``): one
    int64 per vote, no strings leave DuckDB. Out-of-range labels become -2 (int8-safe) and
    are looked up again for the message.
    """
    votes = con.sql(f"""
        SELECT coalesce(d.rowid * {m} + s.j, -1) AS slot,
               (CASE WHEN v.label BETWEEN {NONE_LABEL} AND {k - 1} THEN v.label ELSE -2 END)::TINYINT AS label,
               v.confidence::FLOAT AS confidence
        FROM {source}
        LEFT JOIN documents d ON d.doc_id = v.doc_id
    """).to_arrow_table()
    return (votes["slot"].to_numpy(), votes["label"].to_numpy(),
            votes["confidence"].to_numpy(zero_copy_only=False))


def _raise_bad_vote(con: duckdb.DuckDBPyConnection, k: int) -> None:
    lf, label, confidence = con.execute(f"""
        SELECT v.lf, v.label, v.confidence FROM {_CURRENT_VERSION_VOTES}
        WHERE v.label NOT BETWEEN {NONE_LABEL} AND {k - 1} OR v.confidence < 0 OR v.confidence > 1
        LIMIT 1
    """).fetchall()[0]
    if not NONE_LABEL <= label < k:
        raise VoteMatrixError(
            f"LF {lf!r} has a vote with label {label}: labels must be {NONE_LABEL} (abstain) or a category id 0..{k - 1}"
        )
    raise VoteMatrixError(f"LF {lf!r} has a vote with confidence {confidence}: it must be in [0, 1]")


def read_gold(con: duckdb.DuckDBPyConnection, split: str) -> GoldSplit | None:
    """The gold documents of ``split`` (view ``gold``), None when there are none.

    Gold documents missing from ``documents`` cannot be matched to votes and are left out.
    """
    table = con.sql(
        "SELECT d.rowid AS r, g.label FROM gold g JOIN documents d ON d.doc_id = g.doc_id WHERE g.split = ? ORDER BY d.rowid",
        params=[split],
    ).to_arrow_table()
    if not table.num_rows:
        return None
    return GoldSplit(split, table["r"].to_numpy(), table["label"].to_numpy().astype(np.int64))


def vote_counts(labels: np.ndarray, k: int) -> np.ndarray:
    """(n, K) int64: how many LFs voted each category on each document.

    One bincount over (row, label - NONE_LABEL) pairs, the abstain column dropped: linear,
    and 3x faster than K comparisons of the matrix.
    """
    n = labels.shape[0]
    pairs = np.arange(n, dtype=np.int64)[:, None] * (k + 1) + (labels.astype(np.int64) - NONE_LABEL)
    return np.bincount(pairs.ravel(), minlength=n * (k + 1)).reshape(n, k + 1)[:, 1:]
