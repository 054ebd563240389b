"""Who is reviewing: a name, kept in the session, written into every decision."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse
from starlette.routing import Route

from admedtagger.cleaning import default_reviewer

from ..render import render, warehouse
from ..security import checked_form

MAX_NAME = 64


def reviewer_form(request: Request):
    """The name form; ``next`` is where to go after it."""
    suggested = request.session.get("reviewer") or default_reviewer(warehouse(request).config.section("review"))
    return render(request, "reviewer.html", suggested=suggested, next=_local(request.query_params.get("next")),
                  error=None)


async def set_reviewer(request: Request):
    form = await checked_form(request)
    name = " ".join(str(form.get("name", "")).split())
    target = _local(form.get("next"))
    if not name or len(name) > MAX_NAME or not name.isprintable():
        return render(request, "reviewer.html", status_code=400, suggested=name[:MAX_NAME], next=target,
                      error=f"a reviewer name is 1 to {MAX_NAME} printable characters")
    request.session["reviewer"] = name
    return RedirectResponse(target, status_code=303)


def require_reviewer(request: Request) -> RedirectResponse | None:
    """A redirect to the name form when the session has no reviewer yet, else None."""
    if request.session.get("reviewer"):
        return None
    return RedirectResponse(f"/reviewer?next={request.url.path}", status_code=303)


def _local(target) -> str:
    """Only a path on this server (no scheme, no other host): never an open redirect."""
    target = str(target or "")
    return target if target.startswith("/") and not target.startswith("//") and "\\" not in target else "/queue"


routes = [Route("/reviewer", reviewer_form, methods=["GET"]), Route("/reviewer", set_reviewer, methods=["POST"])]
