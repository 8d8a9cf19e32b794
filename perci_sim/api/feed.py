"""Live events for participants: an in-process hub and the ``/v1/feed`` WebSocket.

The hub is fed after each commit (never before: a pushed event is always in
the log).  A subscriber sees exactly the events :func:`event_visible_to`
allows: an authority those of its own orders and advance information, an HSP
those addressed to it, a court those of the orders of its Member State (TCO Art. 9),
any third party the events it was shown.

Several replicas (PostgreSQL): each replica's hub is fed by api/replicas.py,
which publishes its own commits at once and reads the other replicas' from the
log when their ``NOTIFY`` arrives, always in log order.  Clients reconnect with
``?after=<last seq>`` and lose nothing either way.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Any

import structlog
from aiohttp import WSCloseCode, web

from perci_sim.services.queries import event_visible_to, events_after
from perci_sim.services.views import event_view
from perci_sim.storage.db import Database
from perci_sim.storage.models import Event
from perci_sim.storage.registry import ParticipantInfo

__all__ = ["HEARTBEAT_S", "FeedHub", "Subscription", "serve_feed"]

log = structlog.get_logger(__name__)

#: Seconds between WebSocket pings (aiohttp closes a peer that stops answering).
HEARTBEAT_S = 20.0
_REPLAY_PAGE = 500


@dataclass(eq=False, slots=True)
class Subscription:
    """One live subscriber's queue; ``None`` in the queue means: stop."""

    participant: ParticipantInfo
    queue: asyncio.Queue[dict[str, Any] | None]
    overflowed: bool = False


def _none(_authority_id: str | None, _hsp_id: str | None) -> tuple[str, ...]:
    return ()


class FeedHub:
    """Fans committed events out to the live subscribers that may see them."""

    def __init__(self, *, max_queue: int = 1000) -> None:
        self._max_queue = max_queue
        self._subscriptions: set[Subscription] = set()
        self._closed = False
        #: The issuing and host Member States of an order between an authority and an
        #: HSP (a court's filter, TCO Art. 9); the app sets it once the database is open.
        self.member_states: Callable[[str | None, str | None], tuple[str, ...]] = _none

    @property
    def subscribers(self) -> int:
        """How many subscribers are connected."""
        return len(self._subscriptions)

    @contextmanager
    def subscribe(self, participant: ParticipantInfo) -> Iterator[Subscription]:
        """Register a subscriber for the duration of the ``with`` block."""
        sub = Subscription(participant=participant, queue=asyncio.Queue(self._max_queue + 1))
        if self._closed:
            sub.queue.put_nowait(None)
        self._subscriptions.add(sub)
        try:
            yield sub
        finally:
            self._subscriptions.discard(sub)

    def publish(self, events: Sequence[Event]) -> None:
        """Hand committed ``events`` to every subscriber allowed to see them."""
        if not self._subscriptions:
            return
        courts = any(sub.participant.role == "court" for sub in self._subscriptions)
        rendered = [
            (
                ev.authority_id,
                ev.hsp_id,
                ev.data.get("visible_to"),
                self.member_states(ev.authority_id, ev.hsp_id) if courts and ev.order_id else (),
                event_view(ev),
            )
            for ev in events
        ]
        for sub in list(self._subscriptions):
            for authority_id, hsp_id, audience, states, view in rendered:
                if not event_visible_to(
                    sub.participant,
                    authority_id=authority_id,
                    hsp_id=hsp_id,
                    audience=audience,
                    order_member_states=states,
                ):
                    continue
                if sub.overflowed:
                    break
                if sub.queue.qsize() >= self._max_queue:
                    # A slow consumer is cut off; it reconnects with ?after= and loses nothing.
                    sub.overflowed = True
                    sub.queue.put_nowait(None)
                    break
                sub.queue.put_nowait(view)

    def close(self) -> None:
        """Tell every subscriber to stop (application shutdown)."""
        self._closed = True
        for sub in self._subscriptions:
            with suppress(asyncio.QueueFull):
                sub.queue.put_nowait(None)


async def serve_feed(
    request: web.Request, *, hub: FeedHub, db: Database, participant: ParticipantInfo, after: int
) -> web.WebSocketResponse:
    """Replay the participant's events after ``after``, then push new ones live."""
    ws = web.WebSocketResponse(heartbeat=HEARTBEAT_S, compress=False)
    await ws.prepare(request)
    with hub.subscribe(participant) as sub:
        last = after
        # Replay from the log (subscribed first, so nothing committed meanwhile is missed).
        while True:
            page = await events_after(db, participant, after=last, limit=_REPLAY_PAGE)
            for view in page:
                await ws.send_json({"type": "event", "event": view})
                last = int(view["seq"])
            if len(page) < _REPLAY_PAGE:
                break

        async def push() -> None:
            nonlocal last
            while True:
                view = await sub.queue.get()
                if view is None:
                    code = WSCloseCode.TRY_AGAIN_LATER if sub.overflowed else WSCloseCode.GOING_AWAY
                    await ws.close(code=code, message=b"reconnect with ?after=<last seq>")
                    return
                if int(view["seq"]) <= last:
                    continue  # already sent by the replay
                await ws.send_json({"type": "event", "event": view})
                last = int(view["seq"])

        pusher = asyncio.create_task(push())
        try:
            async for _message in ws:
                pass  # the feed is one-way; control frames are handled by aiohttp
        finally:
            pusher.cancel()
            with suppress(asyncio.CancelledError, ConnectionResetError):
                await pusher
    log.info("feed_closed", last_seq=last)
    return ws
