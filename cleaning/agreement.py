"""Agreement between reviewers (Cohen's kappa) and the disputes waiting for adjudication.

*Items* are the documents that two reviewers decided independently: each reviewer's
current decision is the view ``reviewer_decisions`` (their latest live accept, relabel or
reject; adjudications are left out, they are not independent). A document decided by more
than two reviewers counts once, with its first two reviewers in the order of their current
decisions (ties: the reviewer's name). A label is one of the K categories or "none" (-1):
K+1 labels. The overlap share (``[review] overlap``) decides which documents the queue
offers for a second review; any document with two reviewers counts here.

For n items with labels a_i (the first reviewer) and b_i (the second) over the labels L::

    p_o = (1/n) * sum_i [a_i = b_i]                       observed agreement
    p_e = sum_{l in L} (n_a(l) / n) * (n_b(l) / n)         agreement expected by chance,
                                                           from each reviewer's own label shares
    kappa = (p_o - p_e) / (1 - p_e)                        Cohen (1960)

kappa is 1 for perfect agreement, 0 at chance level and negative below it. When p_e = 1
(both reviewers gave one and the same label to every item) kappa is 0/0 and reported as
null (so is every rate of a row without items). kappa comes from
``sklearn.metrics.cohen_kappa_score``; p_o and p_e are shown beside it.

Rows of :func:`agreement_table`:

- ``overall``: every item, the first reviewer against the second, over the K+1 labels;
- ``category``: one per category and "none", one-vs-rest: the label is "c or not c", on
  the same items; ``support`` counts the items where at least one reviewer chose c;
- ``pair``: one per pair of reviewers sharing items, ``reviewer_a`` the name that sorts
  first (kappa does not depend on which reviewer is a).
"""

from __future__ import annotations

import duckdb
import numpy as np
import pyarrow as pa

from admedtagger.warehouse import NONE_LABEL, NONE_NAME

SCHEMA = pa.schema([
    ("scope", pa.string()),  # overall, category, pair
    ("category", pa.string()),  # category rows: the category's name ("none" for -1)
    ("reviewer_a", pa.string()),  # pair rows
    ("reviewer_b", pa.string()),
    ("items", pa.int64()),
    ("agreed", pa.int64()),  # items on which both gave the same label (category rows: both c or both not c)
    ("support", pa.int64()),  # category rows: items where at least one reviewer chose the category
    ("observed_agreement", pa.float64()),  # p_o
    ("expected_agreement", pa.float64()),  # p_e
    ("kappa", pa.float64()),  # null when p_e = 1 or there are no items
])

# One row per document with two reviewers: its first two reviewers' current labels.
_ITEMS_SQL = """
    WITH ranked AS (
        SELECT doc_id, coalesce(reviewer, '?') AS reviewer, label,
               row_number() OVER (PARTITION BY doc_id ORDER BY created_at, reviewer, review_id) AS nth
        FROM reviewer_decisions
    )
    SELECT a.doc_id, a.reviewer AS reviewer_a, a.label AS label_a, b.reviewer AS reviewer_b, b.label AS label_b
    FROM ranked a JOIN ranked b ON b.doc_id = a.doc_id AND b.nth = 2
    WHERE a.nth = 1
    ORDER BY a.doc_id
"""


def agreement_items(con: duckdb.DuckDBPyConnection) -> pa.Table:
    """The items (module doc): doc_id, reviewer_a, label_a, reviewer_b, label_b, the first
    reviewer by time as a."""
    return con.sql(_ITEMS_SQL).to_arrow_table()


def agreement_table(con: duckdb.DuckDBPyConnection) -> pa.Table:
    """Cohen's kappa overall, per category (one-vs-rest) and per reviewer pair (module doc);
    the overall row is always there (``items`` 0 before any document has two reviewers)."""
    items = agreement_items(con).to_pydict()
    a = np.asarray(items["label_a"], dtype=np.int64)
    b = np.asarray(items["label_b"], dtype=np.int64)
    rows = [{"scope": "overall", **_agreement(a, b)}]
    if len(a):
        names = dict(con.execute("SELECT label, name FROM categories ORDER BY label").fetchall())
        names[NONE_LABEL] = NONE_NAME
        for label, name in names.items():
            rows.append({"scope": "category", "category": name, "support": int(np.sum((a == label) | (b == label))),
                         **_agreement(a == label, b == label)})
        first = np.asarray(items["reviewer_a"], dtype=object)
        second = np.asarray(items["reviewer_b"], dtype=object)
        low, high = np.where(first <= second, first, second), np.where(first <= second, second, first)
        for pair in sorted(set(zip(low, high))):
            mask = (low == pair[0]) & (high == pair[1])
            rows.append({"scope": "pair", "reviewer_a": pair[0], "reviewer_b": pair[1], **_agreement(a[mask], b[mask])})
    return pa.Table.from_pylist(rows, schema=SCHEMA)


def _agreement(a: np.ndarray, b: np.ndarray) -> dict:
    """items, agreed, p_o, p_e and kappa of two aligned label arrays (module doc)."""
    n = len(a)
    if n == 0:
        return {"items": 0, "agreed": 0}
    labels = np.union1d(a, b)
    observed = float(np.mean(a == b))
    expected = float(sum(np.mean(a == label) * np.mean(b == label) for label in labels))
    kappa = None
    if len(labels) > 1:  # p_e < 1: kappa is defined
        from sklearn.metrics import cohen_kappa_score

        kappa = float(cohen_kappa_score(a, b, labels=labels))
    return {"items": n, "agreed": int(np.sum(a == b)), "observed_agreement": observed,
            "expected_agreement": expected, "kappa": kappa}


def disputes_table(con: duckdb.DuckDBPyConnection) -> pa.Table:
    """The disputed documents (view ``review_disputes``), one row per (document, reviewer)
    with the category name, oldest dispute first, for ``review disputes``."""
    return con.sql(
        f"""
        SELECT p.doc_id, p.reviewer, p.label,
               CASE WHEN p.label = {NONE_LABEL} THEN '{NONE_NAME}' ELSE c.name END AS label_name,
               p.decision, p.created_at AS decided_at, d.text
        FROM review_disputes p
        JOIN documents d ON d.doc_id = p.doc_id
        LEFT JOIN categories c ON c.label = p.label
        ORDER BY max(p.created_at) OVER (PARTITION BY p.doc_id), p.doc_id, p.created_at, p.reviewer
        """
    ).to_arrow_table()
