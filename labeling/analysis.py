"""LF analysis: what each labelling function does, alone, against the others, and on gold.

Over the n documents of the vote matrix (those with a vote row, abstains included, from
any selected LF), with Snorkel's ``LFAnalysis`` definitions computed vectorised:

- ``coverage``: share of the n documents the LF votes on (a vote = not an abstain);
- ``overlaps``: share where it votes and at least one other LF votes too;
- ``conflicts``: share where it votes and another LF votes a different category;
- ``votes``: its number of votes, and per category the votes for that category (its
  *polarity* is the set of categories with votes); ``mean_confidence`` of its votes.

With a dev gold split (the dev split only: analysis guides changes to the LFs, so the test
split stays untouched for the final evaluation):

- ``accuracy``: share of its votes on dev gold documents that equal the gold label (a vote
  on a text that fits no category is wrong), ``gold_votes`` how many such votes;
- per category ``precision``, ``recall``, ``f1`` from
  :func:`~admedtagger.evaluation.scoring.score` (an abstain predicts "no category").

From a fitted label model (``LEARNED``): ``snorkel_accuracy`` (Snorkel's learned
P(vote right | LF votes), its ``get_weights``), ``confidence_accuracy`` (the confidence
model's mean posterior probability that the LF's votes are right) and ``confidence_slope``
(its beta: how much more a confident vote counts, 0 = confidence ignored).

Everything is stored long in ``lf_analysis`` (run_id, lf, category or NULL, metric, value).

The LF workbench (``admedtagger serve``) reads, never recomputes: :func:`latest_analysis`
(the newest stored run over every current LF) and :func:`lf_examples`, the documents behind
an LF's dev accuracy (its wrong votes) and its conflicts.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Callable

import duckdb
import numpy as np
import pyarrow as pa

from admedtagger.evaluation.scoring import score
from admedtagger.warehouse import (
    NONE_LABEL, categories, last_lf_analysis_run, last_ok_run, last_ok_run_params, record_run, registered,
)
from admedtagger.warehouse.browse import PAGE_SIZE, label_names, snippet

from .vote_matrix import (
    GoldSplit, LFInfo, VoteMatrix, VoteMatrixError, current_lf_infos, load_vote_matrix, read_gold, select_lfs,
    vote_counts,
)

LEARNED = ("snorkel_accuracy", "confidence_accuracy", "confidence_slope")
SUMMARY = ("coverage", "overlaps", "conflicts", "votes", "mean_confidence", "accuracy", "gold_votes") + LEARNED


def lf_statistics(labels: np.ndarray, confidence: np.ndarray, k: int) -> dict[str, np.ndarray]:
    """Per-LF coverage, overlaps, conflicts, votes, mean_confidence (m,) and per-category
    votes ``category_votes`` (m, K)."""
    n = max(labels.shape[0], 1)
    voted = labels != NONE_LABEL
    n_voting = voted.sum(axis=1, keepdims=True)
    # An LF's vote conflicts with another LF exactly when the document got 2+ distinct labels.
    conflicted = ((vote_counts(labels, k) > 0).sum(axis=1) > 1)[:, None]
    conf = np.where(voted, confidence, np.nan)
    given = (~np.isnan(conf)).sum(axis=0)
    with np.errstate(invalid="ignore"):
        mean_confidence = np.where(given > 0, np.nansum(conf, axis=0) / np.maximum(given, 1), np.nan)
    return {
        "coverage": voted.sum(axis=0) / n,
        "overlaps": (voted & (n_voting > 1)).sum(axis=0) / n,
        "conflicts": (voted & conflicted).sum(axis=0) / n,
        "votes": voted.sum(axis=0).astype(np.float64),
        "mean_confidence": mean_confidence,
        "category_votes": np.stack([(labels == c).sum(axis=0) for c in range(k)], axis=1).astype(np.float64),
    }


def lf_gold_metrics(labels: np.ndarray, gold: np.ndarray, category_names: list[str]) -> dict[str, object]:
    """Per-LF ``accuracy``, ``gold_votes`` (m,) and ``scores`` (one :func:`score` list per LF)
    from the votes ``labels`` (g x m) on g gold documents with gold labels ``gold`` (g,)."""
    accuracy, gold_votes, scores = [], [], []
    for j in range(labels.shape[1]):
        predicted = labels[:, j]
        voted = predicted != NONE_LABEL
        gold_votes.append(float(voted.sum()))
        accuracy.append(float((predicted[voted] == gold[voted]).mean()) if voted.any() else np.nan)
        scores.append(score(gold, predicted, category_names))
    return {"accuracy": np.array(accuracy), "gold_votes": np.array(gold_votes), "scores": scores}


def analysis_table(run_id: str, matrix: VoteMatrix, category_names: list[str], dev: GoldSplit | None,
                   learned: dict[str, np.ndarray]) -> pa.Table:
    """The long ``lf_analysis`` rows for one run over the LFs of ``matrix``; ``learned`` maps
    a LEARNED metric to its (m,) values. NaN values (nothing to say) are left out."""
    k = len(category_names)
    stats = lf_statistics(matrix.labels, matrix.confidence, k)
    gold = None
    if dev is not None:
        gold = lf_gold_metrics(matrix.for_documents(dev.rowids).labels, dev.labels, category_names)
    out: dict[str, list] = {"run_id": [], "lf": [], "category": [], "metric": [], "value": []}

    def add(lf: str, category: str | None, metric: str, value: float) -> None:
        if value is None or np.isnan(value):
            return
        for column, item in zip(out, (run_id, lf, category, metric, float(value))):
            out[column].append(item)

    for j, lf in enumerate(matrix.names):
        for metric in ("coverage", "overlaps", "conflicts", "votes", "mean_confidence"):
            add(lf, None, metric, stats[metric][j])
        if gold is not None:
            add(lf, None, "accuracy", gold["accuracy"][j])
            add(lf, None, "gold_votes", gold["gold_votes"][j])
        for metric, values in learned.items():
            add(lf, None, metric, values[j])
        for c, name in enumerate(category_names):
            add(lf, name, "votes", stats["category_votes"][j, c])
        if gold is not None:
            for row in gold["scores"][j][:k]:
                for metric in ("precision", "recall", "f1"):
                    add(lf, row["category"], metric, row[metric])
    return pa.table(out, schema=pa.schema([
        ("run_id", pa.string()), ("lf", pa.string()), ("category", pa.string()),
        ("metric", pa.string()), ("value", pa.float64()),
    ]))


def store_analysis(con: duckdb.DuckDBPyConnection, table: pa.Table) -> None:
    """Append the rows of :func:`analysis_table` to ``lf_analysis``."""
    with registered(con, "_lf_analysis_rows", table):
        con.execute("INSERT INTO lf_analysis (run_id, lf, category, metric, value) "
                    "SELECT run_id, lf, category, metric, value FROM _lf_analysis_rows")


def summary_table(long: pa.Table, lfs: list[LFInfo]) -> pa.Table:
    """One row per LF: kind, polarity and the LF-level metrics of a long analysis table."""
    rows = long.to_pylist()
    columns: dict[str, list] = {"lf": [], "kind": [], "polarity": []}
    present = [m for m in SUMMARY if any(r["metric"] == m and r["category"] is None for r in rows)]
    columns.update({m: [] for m in present})
    for lf in lfs:
        mine = [r for r in rows if r["lf"] == lf.name]
        overall = {r["metric"]: r["value"] for r in mine if r["category"] is None}
        columns["lf"].append(lf.name)
        columns["kind"].append(lf.kind)
        columns["polarity"].append(", ".join(
            r["category"] for r in mine if r["category"] is not None and r["metric"] == "votes" and r["value"] > 0
        ))
        for metric in present:
            value = overall.get(metric)
            columns[metric].append(None if value is None else (int(value) if metric in ("votes", "gold_votes") else round(value, 4)))
    return pa.table(columns)


def latest_learned(con: duckdb.DuckDBPyConnection, lfs: list[LFInfo]) -> tuple[str | None, dict[str, np.ndarray]]:
    """The learned LF parameters of the latest successful label-model run, for the LFs whose
    current version that run used; (run_id or None, metric -> (m,) values, NaN = none)."""
    last = last_ok_run_params(con, "label-model")
    if last is None:
        return None, {}
    run_id, params = last
    versions = params.get("lf_versions", {})
    stored = con.execute(
        f"SELECT lf, metric, value FROM lf_analysis WHERE run_id = ? AND category IS NULL "
        f"AND metric IN ({', '.join('?' * len(LEARNED))})",
        [run_id, *LEARNED],
    ).fetchall()
    position = {lf.name: j for j, lf in enumerate(lfs) if versions.get(lf.name) == lf.version}
    learned: dict[str, np.ndarray] = {}
    for lf, metric, value in stored:
        if lf in position:
            learned.setdefault(metric, np.full(len(lfs), np.nan))[position[lf]] = value
    return run_id, learned


def analyse_lfs(con: duckdb.DuckDBPyConnection, names: list[str] | None = None,
                on_progress: Callable[[str], None] | None = None) -> tuple[str, pa.Table, list[LFInfo]]:
    """Analyse the LFs' current votes (recorded as an ``lf-analysis`` run), store the rows in
    ``lf_analysis``; return (run_id, the long table, the LFs analysed).

    Learned parameters come from the latest label-model run when it used the LFs' current
    versions.
    """
    category_names = [c.name for c in categories(con)]
    lfs, skipped = select_lfs(con, names)
    params = {"lfs": names, "lf_versions": {lf.name: lf.version for lf in lfs}}
    with record_run(con, "lf-analysis", params) as run:
        if on_progress:
            on_progress("load votes")
        matrix, _ = load_vote_matrix(con, lfs, len(category_names), skipped)
        dev = read_gold(con, "dev")
        if on_progress:
            on_progress("analyse")
        source_run, learned = latest_learned(con, lfs)
        table = analysis_table(run.run_id, matrix, category_names, dev, learned)
        store_analysis(con, table)
        run.metrics = {"lfs": len(lfs), "skipped_lfs": skipped, "documents": len(matrix.rows),
                       "dev_gold": 0 if dev is None else len(dev.labels), "learned_from": source_run,
                       "rows": table.num_rows}
    return run.run_id, table, lfs


# ------------------------------------------------------------- the LF workbench
# What `admedtagger serve`'s workbench shows: the newest stored analysis (never recomputed
# on a page view) and, per LF, the documents behind its accuracy and conflicts.

EXAMPLE_KINDS = ("wrong", "conflicting")


@dataclass(frozen=True)
class LatestAnalysis:
    """The newest stored LF analysis (``rules.last_lf_analysis_run``: run ``run_id`` of
    ``stage``, None when there is none) over every LF of ``current_lfs``.

    ``long``: its ``lf_analysis`` rows; ``summary``: :func:`summary_table` over ``lfs`` (every
    current LF) plus a column ``analysed``: ``current`` when the run analysed the LF's
    current version, ``older version`` when another one, ``no`` when it left the LF out
    (its metrics then empty).
    """

    run_id: str | None
    stage: str | None
    long: pa.Table
    summary: pa.Table
    lfs: list[LFInfo]


_LONG_SCHEMA = pa.schema([("run_id", pa.string()), ("lf", pa.string()), ("category", pa.string()),
                          ("metric", pa.string()), ("value", pa.float64())])


def latest_analysis(con: duckdb.DuckDBPyConnection) -> LatestAnalysis:
    """The :class:`LatestAnalysis` of the warehouse (reads only)."""
    lfs = current_lf_infos(con)
    newest = last_lf_analysis_run(con)
    if newest is None:
        long = _LONG_SCHEMA.empty_table()
        versions: dict = {}
    else:
        long = con.sql("SELECT run_id, lf, category, metric, value FROM lf_analysis WHERE run_id = ? "
                       "ORDER BY lf, category NULLS FIRST, metric", params=[newest[0]]).to_arrow_table()
        params = con.execute("SELECT params FROM runs WHERE run_id = ?", [newest[0]]).fetchall()[0][0]
        versions = json.loads(params or "{}").get("lf_versions", {})
    analysed = set(long.column("lf").to_pylist())
    state = ["no" if lf.name not in analysed else "current" if versions.get(lf.name) == lf.version
             else "older version" for lf in lfs]
    summary = summary_table(long, lfs).append_column("analysed", pa.array(state, pa.string()))
    run_id, stage = newest if newest is not None else (None, None)
    return LatestAnalysis(run_id, stage, long, summary, lfs)


def category_metrics(long: pa.Table, lf: str) -> pa.Table:
    """One row per category of ``lf`` in a long analysis table: its ``votes`` for that
    category and, with dev gold, ``precision``, ``recall``, ``f1``."""
    rows = [r for r in long.to_pylist() if r["lf"] == lf and r["category"] is not None]
    metrics = ("votes", "precision", "recall", "f1")
    columns: dict[str, list] = {"category": list(dict.fromkeys(r["category"] for r in rows))}
    for metric in metrics:
        values = {r["category"]: r["value"] for r in rows if r["metric"] == metric}
        columns[metric] = [values.get(c) for c in columns["category"]]
    return pa.table(columns, schema=pa.schema([("category", pa.string())] + [(m, pa.float64()) for m in metrics]))


@dataclass(frozen=True)
class LFExamples:
    """Page ``offset // limit`` of the ``kind`` examples of LF ``lf``, ``total`` in all.

    ``rows``: doc_id, snippet, vote (name), confidence, gold (dev gold only: the test split
    stays out of LF work), weak_label and weak_confidence (latest ok label-model run), and
    other_votes (``lf=category`` of the other LFs that voted there).
    """

    lf: str
    kind: str
    total: int
    offset: int
    limit: int
    rows: pa.Table


def current_lf(con: duckdb.DuckDBPyConnection, name: str) -> LFInfo | None:
    """The LF ``name`` at its current version, None when ``current_lfs`` has no such LF."""
    return next((lf for lf in current_lf_infos(con) if lf.name == name), None)


def _examples_sql(con: duckdb.DuckDBPyConnection, lf: str, kind: str) -> str:
    """The query of LF ``$lf``'s examples of ``kind`` (:func:`lf_examples`), after checking
    both: (doc_id, label, confidence, gold), ``$none`` the abstain label.

    The other LFs' votes are read only on the documents the LF voted on: the filter reaches
    ``current_votes``' scan, where a correlated subquery over the view would evaluate it
    whole (seconds on 100k documents)."""
    if current_lf(con, lf) is None:
        raise VoteMatrixError(f"unknown LF {lf!r}; known: {', '.join(l.name for l in current_lf_infos(con)) or 'none'}")
    if kind not in EXAMPLE_KINDS:
        raise VoteMatrixError(f"unknown kind of example {kind!r}: one of {', '.join(EXAMPLE_KINDS)}")
    if kind == "wrong":
        gold_join, condition = "JOIN", "g.label <> m.label"
    else:
        gold_join, condition = "LEFT JOIN", "EXISTS (SELECT 1 FROM others o WHERE o.doc_id = m.doc_id AND o.label <> m.label)"
    return f"""
        WITH mine AS (
            SELECT v.doc_id, v.label, v.confidence FROM current_votes v JOIN documents d ON d.doc_id = v.doc_id
            WHERE v.lf = $lf AND v.label <> $none
        ),
        others AS (
            SELECT doc_id, label FROM current_votes
            WHERE doc_id IN (SELECT doc_id FROM mine) AND lf <> $lf AND label <> $none
        )
        SELECT m.doc_id, m.label, m.confidence, g.label AS gold
        FROM mine m {gold_join} gold g ON g.doc_id = m.doc_id AND g.split = 'dev'
        WHERE {condition}"""


def lf_example_count(con: duckdb.DuckDBPyConnection, lf: str, kind: str) -> int:
    """How many examples of ``kind`` (:data:`EXAMPLE_KINDS`) LF ``lf`` has."""
    return con.execute(f"SELECT count(*) FROM ({_examples_sql(con, lf, kind)})",
                       {"lf": lf, "none": NONE_LABEL}).fetchall()[0][0]


def lf_examples(con: duckdb.DuckDBPyConnection, lf: str, kind: str, limit: int = PAGE_SIZE,
                offset: int = 0) -> LFExamples:
    """The documents behind LF ``lf``'s dev accuracy or its conflicts, in doc_id order.

    ``wrong``: its votes (not abstains) on dev gold documents that differ from the gold label
    (so their count is ``gold_votes`` x (1 - ``accuracy``) of an analysis of its current
    votes). ``conflicting``: the documents where it votes and another LF votes a different
    category (the ``conflicts`` metric's documents; no gold needed), those with dev gold first.
    """
    for what, value, least in (("limit", limit, 1), ("offset", offset, 0)):
        if not isinstance(value, int) or value < least:
            raise VoteMatrixError(f"{what} must be a whole number from {least}, got {value!r}")
    params = {"lf": lf, "none": NONE_LABEL}
    chosen = con.execute(f"""
        SELECT *, count(*) OVER () FROM ({_examples_sql(con, lf, kind)})
        ORDER BY (gold IS NULL), doc_id LIMIT $limit OFFSET $offset""",
        {**params, "limit": limit, "offset": offset}).fetchall()
    total = chosen[0][-1] if chosen else lf_example_count(con, lf, kind)  # past the last page: count them
    # The page's texts, weak labels and other votes, looked up for its documents alone
    # (list_contains reaches the scans, below current_votes' window).
    ids = [row[0] for row in chosen]
    texts = dict(con.execute("SELECT doc_id, text FROM documents WHERE list_contains($ids, doc_id)",
                             {"ids": ids}).fetchall())
    weak = {doc_id: (label, confidence) for doc_id, label, confidence in con.execute(
        "SELECT doc_id, label, confidence FROM weak_labels WHERE run_id = $run AND list_contains($ids, doc_id)",
        {"ids": ids, "run": last_ok_run(con, "label-model")}).fetchall()}
    others = dict(con.execute(
        "SELECT doc_id, list({'lf': lf, 'label': label} ORDER BY lf) FROM current_votes "
        "WHERE list_contains($ids, doc_id) AND lf <> $lf AND label <> $none GROUP BY doc_id",
        {**params, "ids": ids}).fetchall())
    names = label_names(con)
    rows = [{"doc_id": doc_id, "snippet": snippet(texts[doc_id]), "vote": names.get(vote), "confidence": confidence,
             "gold": names.get(gold), "weak_label": names.get(weak.get(doc_id, (None,))[0]),
             "weak_confidence": weak.get(doc_id, (None, None))[1],
             "other_votes": ", ".join(f"{o['lf']}={names.get(o['label'], o['label'])}" for o in others.get(doc_id, []))}
            for doc_id, vote, confidence, gold, _ in chosen]
    schema = pa.schema([("doc_id", pa.string()), ("snippet", pa.string()), ("vote", pa.string()),
                        ("confidence", pa.float64()), ("gold", pa.string()), ("weak_label", pa.string()),
                        ("weak_confidence", pa.float64()), ("other_votes", pa.string())])
    return LFExamples(lf, kind, total, offset, limit, pa.Table.from_pylist(rows, schema=schema))
