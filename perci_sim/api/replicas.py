"""Several replicas on one PostgreSQL act as one exchange (DESIGN "Persistence and scale").

Each replica LISTENs for the notices of the others' commits (storage/notify.py)
and, on one, reads the new events from the log and hands them to its local feed
hub; a notice of an earlier timer re-arms its deadline wake-up, a notice of
queued webhook deliveries wakes its dispatcher, and a facilitator's clock skip
recorded by another replica (``clock_advanced``) moves this replica's drill clock
too, so that no replica records an event before it (R1: the log's time never goes
back).  No cluster protocol: the log is the truth, the notice only says when to read
it.

The hub must see the log in order (a feed subscriber skips a seq at or below the
last one it sent), and each event once.  :class:`ReplicaFeed` keeps a cursor, the
last seq handed to the hub: a local commit right after the cursor is published
at once (the single-replica fast path, no query); anything else - another
replica's commit, a local one after a gap - is read from the log after the
cursor, in order, by one catch-up task at a time.  The writers serialize on the
log's advisory lock, so the log after the cursor is always a gap-free prefix.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from datetime import datetime

import structlog

from perci_sim.api.feed import FeedHub
from perci_sim.services.drill_clock import CLOCK_ADVANCED
from perci_sim.services.queries import last_seq, log_after
from perci_sim.storage.db import Database
from perci_sim.storage.models import Event
from perci_sim.storage.notify import Notice, PgListener, libpq_url

__all__ = ["ReplicaFeed"]

log = structlog.get_logger(__name__)

_PAGE = 500


class ReplicaFeed:
    """Feeds the local hub from the log in order, hearing other replicas through NOTIFY."""

    def __init__(
        self,
        db: Database,
        hub: FeedHub,
        *,
        on_timer: Callable[[datetime | None], None],
        on_deliveries: Callable[[], None],
        on_clock_advanced: Callable[[datetime], object] | None = None,
    ) -> None:
        self._db = db
        self._hub = hub
        self._on_timer = on_timer
        self._on_deliveries = on_deliveries
        self._on_clock_advanced = on_clock_advanced
        self._cursor = 0
        self._dirty = False
        self._catching_up: asyncio.Task[None] | None = None
        self._listener = PgListener(
            libpq_url(db.engine.url), on_notice=self._notice, on_connected=self._connected
        )

    @property
    def cursor(self) -> int:
        """The last seq handed to the hub."""
        return self._cursor

    async def start(self) -> None:
        """Start at the log's tail, then listen (a catch-up follows each LISTEN)."""
        self._cursor = await last_seq(self._db)
        await self._listener.start()

    async def stop(self) -> None:
        """Stop listening and catching up."""
        await self._listener.stop()
        task = self._catching_up
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    def local(self, events: Sequence[Event]) -> None:
        """This replica committed ``events``: publish them now if they follow the cursor."""
        fresh = [ev for ev in events if (ev.seq or 0) > self._cursor]
        if not fresh:
            return
        if fresh[0].seq == self._cursor + 1:
            self._hub.publish(fresh)
            self._cursor = fresh[-1].seq or self._cursor
            return
        self._catch_up()  # another replica committed in between: read the log in order

    def _notice(self, notice: Notice) -> None:
        if notice.source == self._db.instance_id:
            return  # our own commit, published by local()
        if notice.seq is not None and notice.seq > self._cursor:
            self._catch_up()
        if notice.timer is not None:
            self._on_timer(notice.timer)
        if notice.deliveries:
            self._on_deliveries()

    def _connected(self) -> None:
        # Notices sent while nobody listened are lost: read the log, re-arm from the table.
        self._catch_up()
        self._on_timer(None)
        self._on_deliveries()

    def _catch_up(self) -> None:
        self._dirty = True
        if self._catching_up is None:
            self._catching_up = asyncio.get_running_loop().create_task(self._read_log())

    def _follow_clock(self, events: Sequence[Event]) -> None:
        """Another replica's facilitator skipped the drill clock: skip ours to the same instant."""
        if self._on_clock_advanced is None:
            return
        for event in events:
            if event.kind == CLOCK_ADVANCED:
                self._on_clock_advanced(event.received_at)

    async def _read_log(self) -> None:
        try:
            while self._dirty:
                self._dirty = False
                while True:
                    page = await log_after(self._db, after=self._cursor, limit=_PAGE)
                    fresh = [ev for ev in page if (ev.seq or 0) > self._cursor]
                    if fresh:
                        self._follow_clock(fresh)
                        self._hub.publish(fresh)
                        self._cursor = fresh[-1].seq or self._cursor
                    if len(page) < _PAGE:
                        break
        except Exception:
            log.exception("replica_catch_up_failed")
        finally:
            self._catching_up = None
