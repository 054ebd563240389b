"""The document page, "why this label": ``GET /documents/{doc_id}``.

Everything known about one document (:func:`~admedtagger.warehouse.browse.document_record`):
its text with what the keyword LFs saw marked (:mod:`..highlight`, the queue's marks),
every current LF's vote, the label model's posterior, gold, the flag, every review row
(undone ones marked), each student's latest prediction, and the final label with where it
came from. The doc id is the user's string, percent-encoded in links
(:func:`.links.document_url`); an unknown one is a 404.
"""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.routing import Route

from admedtagger.warehouse import NONE_LABEL
from admedtagger.warehouse.browse import document_record

from ..render import keyword_marks, render, warehouse
from .links import lf_url


def document_page(request: Request):
    doc_id = request.path_params["doc_id"]
    with warehouse(request).reading() as con:
        record = document_record(con, doc_id)
        if record is None:
            raise HTTPException(404, f"no document {doc_id!r} in this warehouse")
        text, stale = keyword_marks(request).marked(con, record.text)
    top = max(range(len(record.weak_label.posterior)), key=lambda i: record.weak_label.posterior[i][1]) \
        if record.weak_label and record.weak_label.posterior else None
    return render(request, "document.html", doc=record, text=text,
                  keywords_stale=stale, top=top, abstain=NONE_LABEL, lf_url=lf_url)


routes = [Route("/documents/{doc_id:path}", document_page, methods=["GET"])]
