"""Routes of the TCO procedures beyond the one-hour path: lifecycle (issue 3)."""

from __future__ import annotations

from aiohttp import web

__all__ = ["routes"]


def routes() -> list[web.RouteDef]:
    """The lifecycle routes (see docs/API.md)."""
    return []
