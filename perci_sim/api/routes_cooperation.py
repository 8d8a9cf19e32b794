"""Routes of the TCO procedures beyond the one-hour path: cooperation (issue 3)."""

from __future__ import annotations

from aiohttp import web

__all__ = ["routes"]


def routes() -> list[web.RouteDef]:
    """The cooperation routes (see docs/API.md)."""
    return []
