"""Rendering a page: the templates, and what every page gets besides its own context."""

from __future__ import annotations

from pathlib import Path

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.templating import Jinja2Templates

from .access import Warehouse
from .highlight import KeywordCache
from .security import csrf_token

# Autoescaping on for every template: a document's text is data, never markup.
TEMPLATES = Jinja2Templates(env=jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
))

# The navigation bar: (path, title).
NAV = [("/queue", "Review queue"), ("/agreement", "Agreement"), ("/lfs", "LF workbench"), ("/corpus", "Corpus")]


def render(request: Request, template: str, status_code: int = 200, **context) -> HTMLResponse:
    """``template`` with ``context`` plus the request, the CSRF token, the reviewer's name
    (None until they give it) and the navigation."""
    context.update(request=request, csrf=csrf_token(request), reviewer=request.session.get("reviewer"),
                   nav=NAV, project=warehouse(request).path.name)
    return TEMPLATES.TemplateResponse(request, template, context, status_code=status_code)


def warehouse(request: Request) -> Warehouse:
    """The app's :class:`~.access.Warehouse`."""
    return request.app.state.warehouse


def keyword_marks(request: Request) -> KeywordCache:
    """The app's keyword matcher (:class:`~.highlight.KeywordCache`), shared by every page."""
    return request.app.state.keywords
