r"""The current votes of the labelling functions, read from ``votes`` and ``lfs``.

An LF's current version is the ``version`` of its newest row in ``lfs``; only votes cast
with that version count, and when several runs voted on the same (document, LF), the run
that started last wins (the same rule the label model uses to build its vote matrix).

Two uses: the per-document vote list the reviewer sees, and the LF-conflict signal of
``flag``. For a document with non-abstaining votes of weights :math:`w_v` (the vote's
confidence, 1 when it gave none), let :math:`W_k` be the total weight on label k and
:math:`W = \sum_k W_k`. Then

- ``top_label`` = :math:`\arg\max_k W_k` (ties: the lower label id),
- ``conflict`` = :math:`1 - \max_k W_k / W`: 0 when the LFs agree, 0.5 for an even
  split between two labels, towards 1 - 1/K when every LF says something else,
- ``given_share`` = :math:`W_g / W` for the document's given label g.
"""

from __future__ import annotations

import duckdb
import pyarrow as pa

CURRENT_VOTES = """
WITH current_lfs AS (
    SELECT lf, version FROM lfs
    QUALIFY row_number() OVER (PARTITION BY lf ORDER BY updated_at DESC) = 1
),
run_order AS (
    SELECT run_id, started_at FROM runs
)
SELECT v.doc_id, v.lf, v.label, v.confidence
FROM votes v
JOIN current_lfs l ON l.lf = v.lf AND l.version = v.lf_version
LEFT JOIN run_order o ON o.run_id = v.run_id
QUALIFY row_number() OVER (
    PARTITION BY v.doc_id, v.lf ORDER BY o.started_at DESC NULLS LAST, v.run_id DESC
) = 1
"""


def document_votes(con: duckdb.DuckDBPyConnection, doc_id: str) -> list[tuple[str, int, float | None]]:
    """(lf, label, confidence) of every current vote on one document, abstains included."""
    return con.execute(
        f"SELECT lf, label, confidence FROM ({CURRENT_VOTES}) WHERE doc_id = ? ORDER BY lf", [doc_id]
    ).fetchall()


def lf_conflicts(con: duckdb.DuckDBPyConnection, given: pa.Table) -> pa.Table:
    """Per document of ``given`` (columns ``doc_id``, ``label``): the LF agreement figures.

    Returns ``doc_id``, ``n_votes`` (non-abstaining current votes), ``top_label``,
    ``conflict`` and ``given_share`` as defined in the module doc; documents without a
    non-abstaining vote are absent.
    """
    con.register("_flag_given", given)
    try:
        return con.sql(f"""
            WITH v AS (
                SELECT cv.doc_id, cv.label, coalesce(cv.confidence, 1.0) AS w
                FROM ({CURRENT_VOTES}) cv SEMI JOIN _flag_given g ON g.doc_id = cv.doc_id
                WHERE cv.label >= 0
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
    finally:
        con.unregister("_flag_given")
