"""The LF workbench: what each labelling function does, and the documents it gets wrong.

* ``GET /lfs``: one row per LF of ``current_lfs`` with the newest stored analysis
  (:func:`~admedtagger.labeling.analysis.latest_analysis`: coverage, overlaps, conflicts,
  dev-gold accuracy, the learned weights), never recomputed here.
* ``GET /lfs/{lf}``: that LF's row, its per-category votes and dev-gold scores, and its
  examples (:func:`~admedtagger.labeling.analysis.lf_examples`), ``?show=wrong`` (its votes
  that differ from dev gold) or ``?show=conflicting`` (another LF voted another category),
  50 a page (``?page=N``), each linking to the document page. An unknown LF is a 404.
"""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.routing import Route

from admedtagger.labeling.analysis import (
    EXAMPLE_KINDS, category_metrics, current_lf, latest_analysis, lf_example_count, lf_examples,
)
from admedtagger.warehouse import UserError
from admedtagger.warehouse.browse import PAGE_SIZE

from ..render import render, warehouse
from .links import document_url, lf_url, page_number

# Column headings of the summary (labeling.analysis.summary_table's columns); a metric the
# run did not store (no dev gold, no learned model) has no column.
HEADINGS = {
    "kind": "kind", "polarity": "votes for", "coverage": "coverage", "overlaps": "overlaps",
    "conflicts": "conflicts", "votes": "votes", "mean_confidence": "mean confidence",
    "accuracy": "dev accuracy", "gold_votes": "dev votes", "snorkel_accuracy": "Snorkel weight",
    "confidence_accuracy": "confidence-model accuracy", "confidence_slope": "confidence slope",
    "analysed": "analysed",
}
# The metrics that are shares (shown as percentages).
SHARES = {"coverage", "overlaps", "conflicts", "mean_confidence", "accuracy", "snorkel_accuracy",
          "confidence_accuracy"}


def lf_table(request: Request):
    with warehouse(request).reading() as con:
        analysis = latest_analysis(con)
    columns = [c for c in analysis.summary.column_names if c in HEADINGS]
    return render(request, "lfs.html", analysis=analysis, rows=analysis.summary.to_pylist(), columns=columns,
                  headings=HEADINGS, shares=SHARES, lf_url=lf_url)


def lf_page(request: Request):
    name = request.path_params["lf"]
    show = request.query_params.get("show") or EXAMPLE_KINDS[0]
    if show not in EXAMPLE_KINDS:
        raise UserError(f"show must be one of {', '.join(EXAMPLE_KINDS)}, got {show[:40]!r}")
    page = page_number(request.query_params)
    with warehouse(request).reading() as con:
        if current_lf(con, name) is None:
            raise HTTPException(404, f"no labelling function {name!r} in this warehouse")
        analysis = latest_analysis(con)
        examples = lf_examples(con, name, show, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)
        other = next(kind for kind in EXAMPLE_KINDS if kind != show)
        counts = {show: examples.total, other: lf_example_count(con, name, other)}
    summary = next(row for row in analysis.summary.to_pylist() if row["lf"] == name)
    pages = max(1, -(-examples.total // PAGE_SIZE))
    return render(request, "lf.html", lf=name, summary=summary, headings=HEADINGS, shares=SHARES, analysis=analysis,
                  categories=category_metrics(analysis.long, name).to_pylist(), examples=examples,
                  rows=examples.rows.to_pylist(), counts=counts, show=show, kinds=EXAMPLE_KINDS, page=page,
                  pages=pages, page_href=lambda n: lf_url(name, show=show, page=n), lf_url=lf_url,
                  document_url=document_url)


routes = [Route("/lfs", lf_table, methods=["GET"]), Route("/lfs/{lf}", lf_page, methods=["GET"])]
