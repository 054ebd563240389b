"""The HTML report: one self-contained file (inline SVG charts, no scripts, no network).

Every section is read from warehouse tables and views only, so the report can be rebuilt
at any time and shows whatever stages have run so far; a section whose stage has not run
says so. It computes no statistic a stage already stores: LF coverage, overlaps and
conflicts are the ``lf_analysis`` rows, F1 scores the ``evaluations`` rows, and "latest"
always means the stage's latest successful run (view ``last_ok_runs``). Charts are drawn by
matplotlib and embedded as SVG text.
"""

from __future__ import annotations

import html
import io
import json
from datetime import datetime
from pathlib import Path

import duckdb
import numpy as np

from admedtagger.warehouse import NONE_LABEL, NONE_NAME, last_lf_analysis_run, last_ok_run
from admedtagger.warehouse.ingest import REJECT_PHRASES

from .scoring import confusion

SECTIONS = (
    ("corpus", "Corpus"),
    ("lfs", "Labelling functions: coverage, overlap, conflict"),
    ("labels", "Weak labels vs gold"),
    ("quality", "Per-category F1: label model vs each LF"),
    ("confusion", "Confusion matrices"),
    ("flags", "Flags for review"),
    ("teacher", "Teacher vs students"),
    ("runs", "Run history"),
)

_CSS = """
body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:1100px;color:#222}
h1{margin-bottom:0} .sub{color:#666;margin-top:.2rem}
section{border-top:1px solid #ddd;margin-top:2rem;padding-top:.5rem}
table{border-collapse:collapse;font-size:.85rem;margin:.5rem 0}
th,td{border:1px solid #ddd;padding:.25rem .5rem;text-align:right} th{background:#f4f4f4}
td:first-child,th:first-child{text-align:left} .empty{color:#888;font-style:italic}
svg{max-width:100%;height:auto}
"""


def _rows(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> list[dict]:
    cursor = con.execute(sql, params or [])
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row)) for row in cursor.fetchall()]


def _scalar(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None):
    return con.execute(sql, params or []).fetchall()[0][0]


def _table(rows: list[dict], digits: int = 3) -> str:
    if not rows:
        return '<p class="empty">nothing recorded yet</p>'
    head = "".join(f"<th>{html.escape(str(k))}</th>" for k in rows[0])
    body = []
    for row in rows:
        cells = []
        for value in row.values():
            if isinstance(value, float):
                value = f"{value:.{digits}f}"
            elif isinstance(value, (dict, list)):
                value = json.dumps(value, default=str)
            cells.append(f"<td>{html.escape('' if value is None else str(value))}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def _svg(figure) -> str:
    import matplotlib.pyplot as plt

    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", bbox_inches="tight")
    plt.close(figure)
    text = buffer.getvalue()
    return text[text.index("<svg"):]  # drop the XML prolog: the SVG sits inside HTML


def _heatmap(matrix: np.ndarray, rows: list[str], cols: list[str], title: str, fmt: str = "{:.2f}",
             vmin: float | None = None, vmax: float | None = None) -> str:
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(1.2 + 0.75 * len(cols), 1.0 + 0.45 * len(rows)))
    image = axes.imshow(matrix, cmap="Blues", vmin=vmin, vmax=vmax, aspect="auto")
    axes.set_xticks(range(len(cols)), cols, rotation=45, ha="right", fontsize=8)
    axes.set_yticks(range(len(rows)), rows, fontsize=8)
    top = np.nanmax(matrix) if matrix.size and not np.all(np.isnan(matrix)) else 1
    for i in range(matrix.shape[0]):
        for j in range(matrix.shape[1]):
            if not np.isnan(matrix[i, j]):
                axes.text(j, i, fmt.format(matrix[i, j]), ha="center", va="center", fontsize=7,
                          color="white" if matrix[i, j] > 0.6 * top else "black")
    axes.set_title(title, fontsize=10)
    figure.colorbar(image, ax=axes, fraction=0.03)
    return _svg(figure)


def _bars(groups: list[str], series: dict[str, list[float]], title: str, ylabel: str) -> str:
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(7, 3))
    width = 0.8 / max(1, len(series))
    for k, (name, values) in enumerate(series.items()):
        axes.bar(np.arange(len(groups)) + k * width, values, width, label=name)
    axes.set_xticks(np.arange(len(groups)) + 0.4 - width / 2, groups, rotation=20, ha="right", fontsize=8)
    axes.set_ylabel(ylabel)
    axes.set_title(title, fontsize=10)
    axes.legend(fontsize=8)
    return _svg(figure)


def _names(con: duckdb.DuckDBPyConnection) -> list[str]:
    return [r[0] for r in con.execute("SELECT name FROM categories ORDER BY label").fetchall()]


def corpus_section(con: duckdb.DuckDBPyConnection) -> str:
    import matplotlib.pyplot as plt

    summary = _rows(con, """
        SELECT source, count(*) AS documents, round(avg(length(text))) AS mean_chars,
               min(length(text)) AS min_chars, max(length(text)) AS max_chars
        FROM documents GROUP BY source ORDER BY documents DESC""")
    # Grouped by reason code: messages carry details (a byte offset, a value) that would
    # split one kind of reject into many rows. Rejects stored before codes existed have none.
    rejects = [{"reason": REJECT_PHRASES.get(row["code"], "(no code recorded)"), "rows": row["rows"]}
               for row in _rows(con, "SELECT code, count(*) AS rows FROM ingest_rejects GROUP BY 1 ORDER BY 2 DESC, 1")]
    lengths = np.array([r[0] for r in con.execute("SELECT length(text) FROM documents USING SAMPLE 20000 ROWS").fetchall()])
    chart = ""
    if lengths.size:
        figure, axes = plt.subplots(figsize=(6, 2.5))
        axes.hist(lengths, bins=40, color="#4a7ab5")
        axes.set_xlabel("characters per text")
        axes.set_ylabel("documents")
        chart = _svg(figure)
    return _table(summary) + chart + "<h3>Ingest rejects</h3>" + _table(rejects)


def _agreement(con: duckdb.DuckDBPyConnection) -> tuple[list[str], np.ndarray]:
    """Every LF with current votes, and the (m, m) share of documents on which LF a and LF b
    vote the same category among those where both vote (NaN where they never both vote)."""
    lfs = [r[0] for r in con.execute("SELECT DISTINCT lf FROM current_votes ORDER BY lf").fetchall()]
    pairs = con.execute("""
        SELECT a.lf, b.lf, avg((a.label = b.label)::DOUBLE)
        FROM current_votes a JOIN current_votes b USING (doc_id)
        WHERE a.label <> $none AND b.label <> $none
        GROUP BY ALL""", {"none": NONE_LABEL}).fetchall()
    index = {lf: j for j, lf in enumerate(lfs)}
    agreement = np.full((len(lfs), len(lfs)), np.nan)
    for a, b, share in pairs:
        agreement[index[a], index[b]] = share
    return lfs, agreement


def lfs_section(con: duckdb.DuckDBPyConnection) -> str:
    lfs, agreement = _agreement(con)
    if not lfs:
        return '<p class="empty">no votes yet: run <code>admedtagger label</code></p>'
    analysis = last_lf_analysis_run(con)
    if analysis is None:
        table = ('<p class="empty">no LF analysis yet: run <code>admedtagger lfs</code> or '
                 '<code>admedtagger label-model</code></p>')
    else:
        run_id, stage = analysis
        rows = _rows(con, """
            SELECT lf, any_value(value) FILTER (WHERE metric = 'coverage') AS coverage,
                   any_value(value) FILTER (WHERE metric = 'overlaps') AS overlaps,
                   any_value(value) FILTER (WHERE metric = 'conflicts') AS conflicts
            FROM lf_analysis WHERE run_id = ? AND category IS NULL
            GROUP BY lf ORDER BY lf""", [run_id])
        table = (f"<p>Shares of the documents with votes, from the {html.escape(stage)} run "
                 f"{html.escape(run_id)} (table <code>lf_analysis</code>).</p>" + _table(rows))
    chart = _heatmap(agreement, lfs, lfs, "agreement where both vote", vmin=0, vmax=1)
    return table + chart


def labels_section(con: duckdb.DuckDBPyConnection) -> str:
    names = _names(con)
    run = last_ok_run(con, "label-model")
    weak = dict(con.execute("SELECT label, count(*) FROM weak_labels WHERE run_id = ? GROUP BY 1", [run]).fetchall()) if run else {}
    gold = dict(con.execute("SELECT label, count(*) FROM gold GROUP BY 1").fetchall())
    if not weak and not gold:
        return '<p class="empty">no weak labels and no gold yet</p>'
    groups = names + [f"{NONE_NAME} / no weak label"]
    categorised = [weak.get(i, 0) for i in range(len(names))]
    series = {
        # The last bar: weak label "none" plus the documents no LF ran on (no weak label at all).
        "weak labels": categorised + [_scalar(con, "SELECT count(*) FROM documents") - sum(categorised)],
        "gold": [gold.get(i, 0) for i in range(len(names))] + [gold.get(NONE_LABEL, 0)],
    }
    return _bars(groups, series, "documents per category", "documents")


def quality_section(con: duckdb.DuckDBPyConnection) -> str:
    run = last_ok_run(con, "label-model")
    rows = _rows(con, """
        SELECT subject, name, category, f1 FROM evaluations
        WHERE run_id = ? AND split = 'test' AND subject IN ('label_model', 'lf')""", [run]) if run else []
    if not rows:
        return '<p class="empty">no evaluation on gold yet: run <code>admedtagger label-model</code> with gold present</p>'
    names = _names(con) + ["macro"]
    subjects = sorted({(r["subject"] != "label_model", r["name"]) for r in rows})
    labels = [("label model: " if not is_lf else "") + name for is_lf, name in subjects]
    matrix = np.full((len(subjects), len(names)), np.nan)
    for r in rows:
        if r["category"] in names:
            matrix[subjects.index((r["subject"] != "label_model", r["name"])), names.index(r["category"])] = r["f1"]
    return _heatmap(matrix, labels, names, "F1 on the gold test split", vmin=0, vmax=1)


def _confusion(pairs: list[tuple[int, int]], names: list[str], title: str) -> str:
    gold, predicted = zip(*pairs)
    matrix = confusion(gold, predicted, len(names)).astype(float)
    shown = names + [NONE_NAME]
    return _heatmap(matrix, [f"gold {n}" for n in shown], [f"pred {n}" for n in shown], title, fmt="{:.0f}")


def confusion_section(con: duckdb.DuckDBPyConnection) -> str:
    names = _names(con)
    parts = []
    run = last_ok_run(con, "label-model")
    if run:
        pairs = con.execute("""
            SELECT g.label, coalesce(w.label, ?) FROM gold g
            LEFT JOIN weak_labels w ON w.doc_id = g.doc_id AND w.run_id = ?
            WHERE g.split = 'test'""", [NONE_LABEL, run]).fetchall()
        if pairs:
            parts.append(_confusion(pairs, names, "label model (test split)"))
    for (model_id,) in con.execute("SELECT model_id FROM students ORDER BY created_at").fetchall():
        pairs = con.execute("""
            SELECT g.label, p.label FROM gold g
            JOIN predictions p ON p.doc_id = g.doc_id AND p.model_id = ?
            WHERE g.split = 'test'""", [model_id]).fetchall()
        if pairs:
            parts.append(_confusion(pairs, names, f"student {model_id} (test split)"))
    return "".join(parts) or '<p class="empty">no label model or student predictions on gold yet</p>'


def flags_section(con: duckdb.DuckDBPyConnection) -> str:
    run = last_ok_run(con, "flag")
    if not run:
        return '<p class="empty">no flag run yet: run <code>admedtagger flag</code></p>'
    rows = _rows(con, """
        SELECT coalesce(c.name, ?) AS given_label, i.reason, count(*) AS flags
        FROM label_issues i LEFT JOIN categories c ON c.label = i.given_label
        WHERE i.run_id = ? GROUP BY ALL ORDER BY flags DESC""", [NONE_NAME, run])
    reviewed = _scalar(con, "SELECT count(*) FROM review_decisions")
    return _table(rows) + f"<p>{reviewed} documents reviewed so far.</p>"


def teacher_section(con: duckdb.DuckDBPyConnection) -> str:
    students = _rows(con, """
        SELECT model_id, kind, base_model, n_params, size_bytes, created_at FROM students ORDER BY created_at""")
    run = last_ok_run(con, "compare")
    comparison = ""
    if run:
        metrics = json.loads(_scalar(con, "SELECT metrics FROM runs WHERE run_id = ?", [run]) or "{}")
        models = metrics.get("models")
        comparison = _table(models) if isinstance(models, list) else _table([{"metric": k, "value": v} for k, v in metrics.items()])
    else:
        comparison = '<p class="empty">no comparison yet: run <code>admedtagger compare</code></p>'
    return "<h3>Students</h3>" + _table(students) + "<h3>Measured on this machine</h3>" + comparison


def runs_section(con: duckdb.DuckDBPyConnection) -> str:
    return _table(_rows(con, """
        SELECT run_id, stage, status, started_at,
               round(date_diff('millisecond', started_at, ended_at) / 1000.0, 1) AS seconds
        FROM runs ORDER BY started_at DESC LIMIT 50"""))


_BUILDERS = {
    "corpus": corpus_section, "lfs": lfs_section, "labels": labels_section, "quality": quality_section,
    "confusion": confusion_section, "flags": flags_section, "teacher": teacher_section, "runs": runs_section,
}


def write_report(con: duckdb.DuckDBPyConnection, out: str | Path, title: str = "admedtagger report") -> Path:
    """Render every section to one HTML file at ``out``; return its path."""
    import matplotlib

    matplotlib.use("svg")
    parts = []
    for key, heading in SECTIONS:
        parts.append(f'<section id="{key}"><h2>{html.escape(heading)}</h2>{_BUILDERS[key](con)}</section>')
    documents = _scalar(con, "SELECT count(*) FROM documents")
    page = (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f"<style>{_CSS}</style></head><body><h1>{html.escape(title)}</h1>"
        f'<p class="sub">{documents:,} documents · generated {datetime.now():%Y-%m-%d %H:%M}</p>'
        + "".join(parts) + "</body></html>"
    )
    path = Path(out)
    path.write_text(page, encoding="utf-8")
    return path
