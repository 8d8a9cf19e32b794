"""``GET /ui/events``: the signed-in participant's live events as Server-Sent Events.

The stream is fed by the same :class:`~perci_sim.api.feed.FeedHub` as the
``/v1/feed`` WebSocket (so the browser sees exactly the events the participant may
see, after they are committed), never by polling the database.  Each message's
``id`` is the event's ``seq``: after a dropped connection or a broker restart the
browser's ``EventSource`` reconnects by itself and sends ``Last-Event-ID``; the
stream replays from the log after that seq, so nothing is lost.  A comment line
every 15 s keeps proxies from closing an idle stream and lets a page notice a
dead connection; the session is re-checked then too (logout, token rotation).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from contextlib import suppress
from typing import Any

import structlog
from aiohttp import web

from perci_sim.api.feed import FeedHub
from perci_sim.services.queries import events_after
from perci_sim.storage.db import Database
from perci_sim.storage.registry import ParticipantInfo

__all__ = ["HEARTBEAT_S", "RETRY_MS", "brief", "serve_events"]

log = structlog.get_logger(__name__)

#: Seconds between heartbeat comments.
HEARTBEAT_S = 15.0
#: How long the browser waits before reconnecting (``retry:`` field).
RETRY_MS = 2000
_REPLAY_PAGE = 500
_BRIEF_DATA = ("state", "from_state", "deadline_at", "breach", "from", "to", "speed", "article")


def brief(view: dict[str, Any]) -> dict[str, Any]:
    """What the page needs of an EventView (no documents: they can be large)."""
    data = view.get("data") or {}
    return {
        "seq": view["seq"],
        "kind": view["kind"],
        "order_id": view["order_id"],
        "actor": view["actor"],
        "received_at": view["received_at"],
        "data": {k: data[k] for k in _BRIEF_DATA if k in data},
    }


def _frame(view: dict[str, Any]) -> bytes:
    payload = json.dumps(brief(view), separators=(",", ":"))
    return f"id: {view['seq']}\nevent: perci\ndata: {payload}\n\n".encode()


def resume_point(request: web.Request) -> int:
    """``Last-Event-ID`` (a reconnect) or ``?after=`` (the page's first connect), else 0."""
    for raw in (request.headers.get("Last-Event-ID"), request.query.get("after")):
        if raw and raw.isdigit() and len(raw) < 19:
            return int(raw)
    return 0


async def serve_events(
    request: web.Request,
    *,
    hub: FeedHub,
    db: Database,
    participant: ParticipantInfo,
    still_signed_in: Callable[[], Awaitable[bool]],
) -> web.StreamResponse:
    """Replay the participant's events after the resume point, then stream new ones."""
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-store",
            "X-Accel-Buffering": "no",  # nginx (docker/nginx.conf) must not buffer the stream
        }
    )
    await response.prepare(request)
    last = resume_point(request)
    # A page that went away resumes with Last-Event-ID when it comes back.
    with suppress(ConnectionResetError):
        last = await _stream(response, hub, db, participant, last, still_signed_in)
    log.info("event_stream_closed", last_seq=last)
    return response


async def _stream(
    response: web.StreamResponse,
    hub: FeedHub,
    db: Database,
    participant: ParticipantInfo,
    last: int,
    still_signed_in: Callable[[], Awaitable[bool]],
) -> int:
    await response.write(f"retry: {RETRY_MS}\n: resume after {last}\n\n".encode())
    with hub.subscribe(participant) as sub:
        while True:  # subscribed first, so nothing committed meanwhile is missed
            page = await events_after(db, participant, after=last, limit=_REPLAY_PAGE)
            for view in page:
                await response.write(_frame(view))
                last = int(view["seq"])
            if len(page) < _REPLAY_PAGE:
                break
        while True:
            try:
                async with asyncio.timeout(HEARTBEAT_S):
                    item = await sub.queue.get()
            except TimeoutError:
                if not await still_signed_in():
                    break
                await response.write(b": heartbeat\n\n")
                continue
            if item is None:
                break  # shutdown or a consumer too slow: the browser resumes from ``last``
            if int(item["seq"]) <= last:
                continue
            await response.write(_frame(item))
            last = int(item["seq"])
    return last
