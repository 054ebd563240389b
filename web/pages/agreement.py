"""Agreement between reviewers: ``GET /agreement`` (Cohen's kappa overall, per category and
per reviewer pair, and the disputes waiting for an adjudication), and the same table as a
download, ``GET /agreement.csv`` / ``/agreement.json`` (what ``admedtagger review agreement``
prints). The numbers come from :mod:`admedtagger.cleaning.agreement`; nothing is computed here.
"""

from __future__ import annotations

import io
import json

import pyarrow.csv as pa_csv
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from admedtagger.cleaning import agreement_table, disputes_table, overlap_share

from ..render import render, warehouse
from .links import document_url


def agreement_page(request: Request):
    with warehouse(request).reading() as con:
        table = agreement_table(con)
        disputes = disputes_table(con).drop_columns(["text"])
    rows = table.to_pylist()
    by_document: dict[str, list[dict]] = {}
    for row in disputes.to_pylist():
        by_document.setdefault(row["doc_id"], []).append(row)
    return render(
        request, "agreement.html",
        overall=rows[0], categories=[r for r in rows if r["scope"] == "category"],
        pairs=[r for r in rows if r["scope"] == "pair"],
        disputes=[(doc_id, document_url(doc_id), reviews) for doc_id, reviews in by_document.items()],
        overlap=overlap_share(warehouse(request).config.section("review")),
    )


def agreement_download(request: Request):
    """The agreement table as CSV or JSON (one object per row), written by pyarrow / json."""
    fmt = request.path_params["fmt"]
    if fmt not in ("csv", "json"):
        raise HTTPException(404, f"no agreement.{fmt}: the table comes as agreement.csv or agreement.json")
    with warehouse(request).reading() as con:
        table = agreement_table(con)
    if fmt == "csv":
        buffer = io.BytesIO()
        pa_csv.write_csv(table, buffer)
        body, media = buffer.getvalue(), "text/csv; charset=utf-8"
    else:
        body, media = json.dumps(table.to_pylist(), ensure_ascii=False).encode(), "application/json"
    return Response(body, media_type=media,
                    headers={"Content-Disposition": f'attachment; filename="agreement.{fmt}"'})


routes = [
    Route("/agreement", agreement_page, methods=["GET"]),
    Route("/agreement.{fmt:str}", agreement_download, methods=["GET"]),
]
