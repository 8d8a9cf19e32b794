"""Routes of a drill facilitator: ``POST /v1/clock/advance`` (docs/API.md "Drills").

A facilitator reads every order and event through the ordinary read routes
(services/audience.py); this module holds what only it may do.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from aiohttp import web

from perci_sim.api.drill_injects import post_inject
from perci_sim.api.handlers import _broker, _json_body, _me
from perci_sim.crypto.errors import SchemaViolationError
from perci_sim.services.drill_clock import MAX_SKIP, advance_clock, check_can_advance

__all__ = ["routes"]

_BODY = 'the body must be {"to": "<RFC 3339 date-time>"} or {"by_seconds": <positive number>}'


def _parse_advance(body: Any) -> tuple[datetime | None, timedelta | None]:
    """The ``ClockAdvance`` body (schemas/openapi.yaml): exactly one of ``to``, ``by_seconds``."""
    if not isinstance(body, dict):
        raise SchemaViolationError(_BODY, [("", "must be an object")])
    unknown = sorted(set(body) - {"to", "by_seconds"})
    if unknown:
        raise SchemaViolationError(
            _BODY, [(f"/{name}", "is not an allowed member") for name in unknown]
        )
    if ("to" in body) == ("by_seconds" in body):
        raise SchemaViolationError(_BODY, [("", "give exactly one of 'to' and 'by_seconds'")])
    if "to" in body:
        raw = body["to"]
        try:
            at = datetime.fromisoformat(raw) if isinstance(raw, str) else None
        except ValueError:
            at = None
        if at is None or at.tzinfo is None:
            raise SchemaViolationError(
                _BODY, [("/to", "must be an RFC 3339 date-time with an offset (UTC: 'Z')")]
            )
        return at, None
    seconds = body["by_seconds"]
    limit = MAX_SKIP.total_seconds()
    if (
        isinstance(seconds, bool)
        or not isinstance(seconds, int | float)
        or not 0 < seconds <= limit
    ):
        raise SchemaViolationError(
            _BODY, [("/by_seconds", f"must be a number greater than 0 and at most {limit:.0f}")]
        )
    return None, timedelta(seconds=seconds)


async def post_clock_advance(request: web.Request) -> web.Response:
    """POST /v1/clock/advance: a facilitator skips the drill clock forward."""
    ctx, participant = _broker(request), _me(request)
    check_can_advance(ctx, participant)  # 403 / 409 before the body is looked at
    to, by = _parse_advance(await _json_body(request))
    return web.json_response(await advance_clock(ctx, participant, to=to, by=by))


def routes() -> list[web.RouteDef]:
    """The facilitator's routes."""
    return [
        web.post("/v1/clock/advance", post_clock_advance),
        web.post("/v1/drill/injects", post_inject),
    ]
