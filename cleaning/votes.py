r"""The current votes of the labelling functions (view ``current_votes``), as the cleaning stage reads them.

``current_votes`` holds, per (document, LF), the vote cast with the LF's current version
by the run that started last: the same votes the label model builds its vote matrix from.

Two uses: the per-document vote lists the reviewer sees, and the LF-conflict signal of
``flag``. For a document with non-abstaining votes of weights :math:`w_v` (the vote's
confidence, 1 when it gave none), let :math:`W_k` be the total weight on label k and
:math:`W = \sum_k W_k`. Then

- ``top_label`` = :math:`\arg\max_k W_k` (ties: the lower label id),
- ``conflict`` = :math:`1 - \max_k W_k / W`: 0 when the LFs agree, 0.5 for an even
  split between two labels, towards 1 - 1/K when every LF says something else,
- ``given_share`` = :math:`W_g / W` for the document's given label g.
"""

from __future__ import annotations

from typing import Collection

import duckdb
import pyarrow as pa

from admedtagger.warehouse import registered

Vote = tuple[str, int, "float | None"]
"""(lf, label, confidence) of one current vote; a negative label is an abstain."""


def document_votes(con: duckdb.DuckDBPyConnection, doc_ids: Collection[str]) -> dict[str, list[Vote]]:
    """doc_id -> its current votes ordered by LF, abstains included, for each of ``doc_ids``
    (a document without votes maps to an empty list)."""
    votes: dict[str, list[Vote]] = {doc_id: [] for doc_id in doc_ids}
    rows = con.execute(
        "SELECT doc_id, lf, label, confidence FROM current_votes WHERE list_contains($ids, doc_id) "
        "ORDER BY doc_id, lf",
        {"ids": list(votes)},
    ).fetchall()
    for doc_id, lf, label, confidence in rows:
        votes[doc_id].append((lf, label, confidence))
    return votes


def lf_conflicts(con: duckdb.DuckDBPyConnection, given: pa.Table) -> pa.Table:
    """Per document of ``given`` (columns ``doc_id``, ``label``): the LF agreement figures.

    Returns ``doc_id``, ``n_votes`` (non-abstaining current votes), ``top_label``,
    ``conflict`` and ``given_share`` as defined in the module doc; documents without a
    non-abstaining vote are absent.
    """
    with registered(con, "_flag_given", given):
        return con.sql("""
            WITH v AS (
                SELECT cv.doc_id, cv.label, coalesce(cv.confidence, 1.0) AS w
                FROM current_votes cv SEMI JOIN _flag_given g ON g.doc_id = cv.doc_id
                WHERE cv.label >= 0  -- a category, not an abstain
            ),
            per_label AS (
                SELECT doc_id, label, sum(w) AS w, count(*) AS n FROM v GROUP BY doc_id, label
            ),
            per_doc AS (
                SELECT doc_id, sum(n)::INTEGER AS n_votes, sum(w) AS total,
                       first(label ORDER BY w DESC, label) AS top_label, max(w) AS top_w
                FROM per_label GROUP BY doc_id
            )
            SELECT d.doc_id, d.n_votes, d.top_label,
                   CASE WHEN d.total > 0 THEN 1 - d.top_w / d.total ELSE 0 END AS conflict,
                   CASE WHEN d.total > 0 THEN coalesce(p.w, 0) / d.total ELSE 0 END AS given_share
            FROM per_doc d
            JOIN _flag_given g ON g.doc_id = d.doc_id
            LEFT JOIN per_label p ON p.doc_id = d.doc_id AND p.label = g.label
        """).to_arrow_table()
