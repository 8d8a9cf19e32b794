"""``POST /v1/drill/injects``: the drill runner tells the broker which inject it just played.

Injects are the drill's script (scenario files), not documents of the exchange, so
they are not in the legal log: the broker keeps the last ones in memory for the
facilitator's dashboard (its inject timeline) and forgets them on restart; the
runner's after-action report keeps the whole timeline.  Only a facilitator may
report one (docs/API.md "Drills").
"""

from __future__ import annotations

from collections import deque
from typing import Any

from aiohttp import web

from perci_sim.api.handlers import _json_body, _me
from perci_sim.api.keys import CLOCK
from perci_sim.crypto.errors import SchemaViolationError
from perci_sim.services.audience import reads_everything
from perci_sim.services.errors import Forbidden
from perci_sim.storage.log import iso_ms

__all__ = ["INJECTS", "InjectTimeline", "post_inject"]

_KEEP = 500
_BODY = 'the body must be {"offset_s": <seconds since T+0>, "kind": "...", "text": "..."}'


class InjectTimeline:
    """The last injects reported, oldest first."""

    def __init__(self, keep: int = _KEEP) -> None:
        self._entries: deque[dict[str, Any]] = deque(maxlen=keep)

    def add(self, entry: dict[str, Any]) -> None:
        """Record one inject ``{at, offset_s, kind, text, by}``."""
        self._entries.append(entry)

    def entries(self) -> list[dict[str, Any]]:
        """Every kept inject, oldest first."""
        return list(self._entries)


INJECTS = web.AppKey("perci_drill_injects", InjectTimeline)


def _parse(body: Any) -> tuple[float, str, str]:
    if not isinstance(body, dict):
        raise SchemaViolationError(_BODY, [("", "must be an object")])
    errors = [(f"/{name}", "is not an allowed member") for name in sorted(body) if name not in
              ("offset_s", "kind", "text")]  # fmt: skip
    offset, kind, text = body.get("offset_s"), body.get("kind"), body.get("text")
    if isinstance(offset, bool) or not isinstance(offset, int | float) or not 0 <= offset < 1e9:
        errors.append(("/offset_s", "must be a number of seconds from 0"))
    if not isinstance(kind, str) or not 0 < len(kind) <= 40:
        errors.append(("/kind", "must be a string of 1 to 40 characters"))
    if not isinstance(text, str) or len(text) > 500:
        errors.append(("/text", "must be a string of at most 500 characters"))
    if errors:
        raise SchemaViolationError(_BODY, errors)
    return float(offset), str(kind), str(text)  # type: ignore[arg-type]


async def post_inject(request: web.Request) -> web.Response:
    """POST /v1/drill/injects: record an inject for the facilitator's dashboard."""
    participant = _me(request)
    if not reads_everything(participant):
        raise Forbidden("only a drill facilitator reports injects")
    offset, kind, text = _parse(await _json_body(request))
    entry = {
        "at": iso_ms(request.app[CLOCK].now()),
        "offset_s": offset,
        "kind": kind,
        "text": text,
        "by": participant.id,
    }
    request.app[INJECTS].add(entry)
    return web.json_response({"inject": entry}, status=201)
