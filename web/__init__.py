"""The web reviewer and LF workbench: ``admedtagger serve``.

A Starlette app rendered on the server (Jinja2, autoescaped; a little inline JavaScript for
keyboard shortcuts, no build step, no external resources). Every request opens the
warehouse for a few milliseconds (:mod:`.access`), so the CLI keeps working beside it.
"""

from .app import ServeSettings, create_app, serve

__all__ = ["ServeSettings", "create_app", "serve"]
