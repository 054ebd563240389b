"""The app: its routes, its safety middleware, its error pages, and ``serve``."""

from __future__ import annotations

import errno
import secrets
import socket
from dataclasses import dataclass
from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import RedirectResponse
from starlette.routing import Route

from admedtagger.warehouse import Config, UserError

from .access import Warehouse, WarehouseBusy
from .highlight import KeywordCache
from .pages import ROUTES
from .render import render
from .security import TokenGate, is_loopback, new_token


@dataclass(frozen=True)
class ServeSettings:
    """``host``/``port``: where to listen; ``token``: the access token (required off
    loopback: :func:`serve` makes one when none is given); ``lock_wait``: seconds a request
    waits for a warehouse another process holds before answering 503."""

    config: Config
    db: Path | None = None
    host: str = "127.0.0.1"
    port: int = 8765
    token: str | None = None
    lock_wait: float = 5.0


def create_app(settings: ServeSettings) -> Starlette:
    """The ASGI app for one project's warehouse (see :mod:`admedtagger.web`)."""
    if settings.token is None and not is_loopback(settings.host):
        raise UserError(f"serving on {settings.host} needs an access token (--token, or let `serve` make one)")
    hosts = ["127.0.0.1", "localhost", "::1", "[::1]"] if is_loopback(settings.host) else ["*"]
    middleware = [
        Middleware(TrustedHostMiddleware, allowed_hosts=hosts),
        # A new secret per start: sessions (the reviewer's name, the CSRF token) end with the server.
        Middleware(SessionMiddleware, secret_key=secrets.token_hex(32), session_cookie="admedtagger_session",
                   same_site="strict", max_age=7 * 24 * 3600),
        Middleware(TokenGate, token=settings.token),
    ]
    app = Starlette(
        routes=[Route("/", _home), *ROUTES],
        middleware=middleware,
        exception_handlers={WarehouseBusy: _busy, UserError: _user_error, HTTPException: _http_error},
    )
    app.state.warehouse = Warehouse(settings.config, settings.db, settings.lock_wait)
    app.state.settings = settings
    app.state.keywords = KeywordCache(settings.config)  # built on first use: the automaton takes a while
    return app


def _home(request: Request) -> RedirectResponse:
    return RedirectResponse("/queue", status_code=303)


def _busy(request: Request, exc: Exception):
    # Another process writes (e.g. `admedtagger label`): say so, change nothing; a GET
    # page reloads itself every few seconds until the file is free.
    return render(request, "message.html", status_code=503, title="The warehouse is busy",
                  message=f"Another admedtagger command is writing to the warehouse; nothing was changed. {exc}",
                  refresh=request.method == "GET")


def _user_error(request: Request, exc: Exception):
    return render(request, "message.html", status_code=400, title="Cannot do that", message=str(exc), refresh=False)


def _http_error(request: Request, exc: Exception):
    assert isinstance(exc, HTTPException)
    return render(request, "message.html", status_code=exc.status_code, title=f"{exc.status_code}",
                  message=str(exc.detail), refresh=False)


def serve(settings: ServeSettings, announce=print) -> None:
    """Serve until interrupted. Off loopback without a token, make one; ``announce`` gets
    the address to open (with the token in it)."""
    import uvicorn

    if settings.token is None and not is_loopback(settings.host):
        settings = ServeSettings(**{**settings.__dict__, "token": new_token()})
    app = create_app(settings)
    _check_port(settings.host, settings.port)
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    address = f"http://{host}:{settings.port}/"
    if settings.token is not None:
        address += f"?token={settings.token}"
    announce(address)
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="warning", access_log=False)


def _check_port(host: str, port: int) -> None:
    """A one-line error when the port is taken, instead of uvicorn's log and exit."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise UserError(f"port {port} on {host} is in use: choose another with --port") from None
            raise UserError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
