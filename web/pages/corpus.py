"""The corpus browser: ``GET /corpus`` and its downloads ``GET /corpus.csv``, ``/corpus.parquet``.

Filters are query parameters, all optional and combined with AND (see
:class:`~admedtagger.warehouse.browse.CorpusFilter`): ``weak``, ``gold`` (a category or
``none``), ``flagged`` (``yes``/``no``), ``lf`` with optional ``vote`` (a category, or
``none`` for its abstains), ``source`` (the final label's source) and ``q`` (text search,
case-insensitive and literal). A value that names nothing known is a 400 page. The list
shows 50 documents a page (``page``); a download holds every matching document with every
column of ``labelled_corpus``, written by pyarrow into a temporary file while the warehouse
is open, then sent after it is closed (the connection never outlives its block).
"""

from __future__ import annotations

import tempfile

from markupsafe import Markup, escape

from starlette.background import BackgroundTask
from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import StreamingResponse
from starlette.routing import Route

from admedtagger.warehouse import NONE_NAME, UserError
from admedtagger.warehouse.browse import (
    FINAL_SOURCES, PAGE_SIZE, CorpusFilter, corpus_page, label_names, lf_names, query_pattern, write_corpus,
)

from ..render import render, warehouse
from .links import document_url, page_number, with_query

FLAGGED = {"yes": True, "no": False}
MEDIA_TYPES = {"csv": "text/csv; charset=utf-8", "parquet": "application/vnd.apache.parquet"}
SPOOL_BYTES = 16 * 1024 * 1024  # a download beyond this goes to a temporary file on disk


def corpus_filter(params: QueryParams) -> CorpusFilter:
    """The filter of a request's query parameters (module doc); an empty value is no filter."""

    def value(name: str) -> str | None:
        given = params.get(name, "").strip()
        return given or None

    flagged = value("flagged")
    if flagged is not None and flagged.lower() not in FLAGGED:
        raise UserError(f"flagged must be yes or no, got {flagged[:40]!r}")
    return CorpusFilter(
        weak_label=value("weak"), gold_label=value("gold"),
        flagged=None if flagged is None else FLAGGED[flagged.lower()],
        lf=value("lf"), lf_label=value("vote"), final_source=value("source"), q=params.get("q") or None,
    )


def marked(text: str, query: str | None) -> Markup:
    """``text`` escaped, each occurrence of the search ``query`` in a ``<mark>``."""
    pattern = query_pattern(query)
    if pattern is None:
        return escape(text)
    pieces, done = [], 0
    for found in pattern.finditer(text):
        pieces += [escape(text[done:found.start()]), Markup("<mark>{}</mark>").format(found.group())]
        done = found.end()
    pieces.append(escape(text[done:]))
    return Markup("").join(pieces)


def corpus_list(request: Request):
    wanted = corpus_filter(request.query_params)
    page = page_number(request.query_params)
    with warehouse(request).reading() as con:
        found = corpus_page(con, wanted, page, PAGE_SIZE)
        names = [name for label, name in sorted(label_names(con).items()) if name != NONE_NAME] + [NONE_NAME]
        lfs = lf_names(con)
    params = request.query_params
    return render(request, "corpus.html", found=found, rows=found.rows.to_pylist(), params=params,
                  names=names, lfs=lfs, sources=FINAL_SOURCES, document_url=document_url,
                  marked=lambda text: marked(text, wanted.q),
                  page_href=lambda n: "/corpus" + with_query(params, page=n),
                  download=lambda fmt: f"/corpus.{fmt}" + with_query(params, page=None))


def _download(request: Request, format: str):
    wanted = corpus_filter(request.query_params)
    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)
    try:
        with warehouse(request).reading() as con:
            write_corpus(con, wanted, spool, format)
        spool.seek(0)
    except BaseException:
        spool.close()
        raise
    return StreamingResponse(iter(lambda: spool.read(1 << 16), b""), media_type=MEDIA_TYPES[format],
                             headers={"Content-Disposition": f'attachment; filename="corpus.{format}"'},
                             background=BackgroundTask(spool.close))


def corpus_csv(request: Request):
    return _download(request, "csv")


def corpus_parquet(request: Request):
    return _download(request, "parquet")


routes = [Route("/corpus", corpus_list, methods=["GET"]), Route("/corpus.csv", corpus_csv, methods=["GET"]),
          Route("/corpus.parquet", corpus_parquet, methods=["GET"])]
