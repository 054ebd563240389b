"""Links between the browsing pages and the query parameters they share."""

from __future__ import annotations

from urllib.parse import quote, urlencode

from starlette.datastructures import QueryParams

from admedtagger.warehouse import UserError

MAX_PAGE = 10**9  # far past any corpus's last page, and an OFFSET DuckDB accepts


def document_url(doc_id: str) -> str:
    """The document page of ``doc_id``. Every character that could end the path segment
    (``/``, ``?``, ``#``, ``%``, spaces) is percent-encoded: doc ids are the user's strings."""
    return "/documents/" + quote(doc_id, safe="")


def lf_url(lf: str, **params) -> str:
    """The workbench page of LF ``lf``, with ``params`` as its query."""
    query = urlencode({k: v for k, v in params.items() if v is not None})
    return "/lfs/" + quote(lf, safe="") + (f"?{query}" if query else "")


def page_number(params: QueryParams, name: str = "page") -> int:
    """The 1-based page number in ``params`` (absent or empty: 1); anything but a whole
    number from 1 to :data:`MAX_PAGE` is a :class:`UserError` (a 400 page)."""
    raw = params.get(name, "").strip()
    if not raw:
        return 1
    if not raw.isascii() or not raw.isdigit() or not 1 <= int(raw) <= MAX_PAGE:
        raise UserError(f"{name} must be a whole number from 1 to {MAX_PAGE}, got {raw[:40]!r}")
    return int(raw)


def with_query(params: QueryParams, **changes) -> str:
    """``params`` with ``changes`` applied (None removes a key), as a query string with
    its ``?`` (empty when nothing is left)."""
    merged = {k: v for k, v in params.items() if v != ""}
    for key, value in changes.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = str(value)
    return "?" + urlencode(merged) if merged else ""
