"""Safe by default: who may connect, and which requests may change anything.

* **Host**: on a loopback address the app answers only requests whose ``Host`` is that
  address or ``localhost`` (Starlette's ``TrustedHostMiddleware``), so a page on another
  site cannot reach it by rebinding a domain name to 127.0.0.1.
* **Token**: on any other address every request needs the server's access token, once
  (``?token=``, which sets a session cookie, then redirects to the same address without
  it) or on each request (``Authorization: Bearer``).
* **CSRF**: state-changing requests are POST forms carrying the session's CSRF token
  (:func:`checked_form`, compared in constant time) and, when the browser sends an
  ``Origin``, coming from this server's own origin. The session cookie is ``SameSite=Strict``.
"""

from __future__ import annotations

import ipaddress
import secrets
from urllib.parse import urlencode

from starlette.datastructures import FormData, URL
from starlette.exceptions import HTTPException
from starlette.requests import HTTPConnection, Request
from starlette.responses import PlainTextResponse, RedirectResponse
from starlette.types import ASGIApp, Receive, Scope, Send

CSRF_FIELD = "csrf"


def is_loopback(host: str) -> bool:
    """Whether ``host`` (an address or ``localhost``) is reachable from this machine only."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def new_token() -> str:
    return secrets.token_urlsafe(24)


def csrf_token(request: Request) -> str:
    """The session's CSRF token (created on first use)."""
    token = request.session.get(CSRF_FIELD)
    if not token:
        token = request.session[CSRF_FIELD] = secrets.token_urlsafe(32)
    return token


async def checked_form(request: Request) -> FormData:
    """The POSTed form, after the CSRF checks (module doc); 403 when they fail."""
    origin = request.headers.get("origin")
    if origin is not None and origin != f"{request.url.scheme}://{request.url.netloc}":
        raise HTTPException(403, f"cross-origin request from {origin} refused")
    form = await request.form()
    expected = request.session.get(CSRF_FIELD)
    given = form.get(CSRF_FIELD)
    if not expected or not isinstance(given, str) or not secrets.compare_digest(given, expected):
        raise HTTPException(403, "missing or wrong CSRF token: reload the page and try again")
    return form


class TokenGate:
    """ASGI middleware (inside the session middleware): every request needs ``token``
    (module doc); ``token=None`` lets every request through (loopback)."""

    def __init__(self, app: ASGIApp, token: str | None):
        self.app = app
        self.token = token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.token is None or scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        connection = HTTPConnection(scope)
        if connection.session.get("authenticated"):
            await self.app(scope, receive, send)
            return
        bearer = connection.headers.get("authorization", "")
        if bearer.startswith("Bearer ") and secrets.compare_digest(bearer[7:].strip(), self.token):
            await self.app(scope, receive, send)
            return
        given = connection.query_params.get("token")
        if given is not None and secrets.compare_digest(given, self.token):
            connection.session["authenticated"] = True
            rest = [(k, v) for k, v in connection.query_params.multi_items() if k != "token"]
            target = URL(scope=scope).replace(query=urlencode(rest))
            await RedirectResponse(str(target), status_code=303)(scope, receive, send)
            return
        await PlainTextResponse(
            "this server needs its access token: open the address `admedtagger serve` printed "
            "(…?token=…), or send `Authorization: Bearer TOKEN`", status_code=401)(scope, receive, send)
