"""The web dashboard (issue 6): the broker serves a live page to each party at ``/ui``.

Authorities see the orders they issued with live one-hour countdowns and answer
Annex III requests; hosting providers work their inbox (acknowledge, Annex II,
Annex III); a drill facilitator watches compliance per HSP, alerts and injects;
courts, Europol and content providers read the orders the API lets them read
(read-only: they sign with the SDK or the CLI).
Documents are signed in the browser with the party's own key (drafts.py,
``static/sign.js``).  Live updates come from the feed hub as Server-Sent Events
(sse.py).  Everything, scripts and styles included, is served by the broker.

Example::

    app = create_app(settings)          # perci_sim.api.app mounts it:
    app.add_subapp("/ui", dashboard_app())
"""

from __future__ import annotations

from aiohttp import web
from aiohttp.typedefs import Handler

from perci_sim.web.auth import CODEC, session_auth
from perci_sim.web.routes import routes

__all__ = ["PREFIX", "dashboard_app"]

#: Where the dashboard is mounted in the broker's application.
PREFIX = "/ui"

# Only the broker's own files; no inline script or style; no framing (clickjacking).
_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)


@web.middleware
async def security_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Content-Security-Policy and friends on every dashboard response."""
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        _secure(exc)
        raise
    if not response.prepared:
        _secure(response)
    return response


def _secure(response: web.StreamResponse) -> None:
    response.headers.setdefault("Content-Security-Policy", _CSP)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    response.headers.setdefault("X-Frame-Options", "DENY")
    if response.content_type == "text/html":
        response.headers.setdefault("Cache-Control", "no-store")


def dashboard_app() -> web.Application:
    """The dashboard as an aiohttp sub-application (mount it at :data:`PREFIX`)."""
    app = web.Application(middlewares=[security_headers, session_auth])
    app[CODEC] = {}
    app.add_routes(routes())
    return app
