"""Cross-replica notices over PostgreSQL ``LISTEN``/``NOTIFY`` (DESIGN "Persistence and scale").

A write transaction that appended events, created timers or queued webhook
deliveries announces it with :func:`announce` (``pg_notify`` inside the
transaction: PostgreSQL delivers it at COMMIT, never for a rollback).  Every
replica holds one dedicated asyncpg connection that ``LISTEN``\\ s on
:data:`CHANNEL` (:class:`PgListener`), reconnecting when it is lost.  A notice
only says "look at the log"; the log stays the truth, so a lost notice costs
latency, never data: after each (re)connect the replica catches up from it.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any

import structlog
from sqlalchemy import text
from sqlalchemy.engine import URL
from sqlmodel.ext.asyncio.session import AsyncSession

__all__ = ["CHANNEL", "Notice", "PgListener", "announce", "libpq_url"]

log = structlog.get_logger(__name__)

#: The NOTIFY channel of the broker's commits.
CHANNEL = "perci_events"
_NOTIFY = text("SELECT pg_notify(:channel, :payload)")
#: Wall seconds between reconnection attempts of a lost listener.
_RETRY_S = 0.5
#: Wall seconds between liveness checks of an idle listener connection.
_PING_S = 5.0


@dataclass(frozen=True, slots=True)
class Notice:
    """What one committed transaction announced."""

    source: str
    seq: int | None
    timer: datetime | None
    deliveries: bool

    def payload(self) -> str:
        """The NOTIFY payload (JSON, well under PostgreSQL's 8000-byte limit)."""
        return json.dumps(
            {
                "src": self.source,
                "seq": self.seq,
                "timer": self.timer.isoformat() if self.timer else None,
                "d": self.deliveries,
            },
            separators=(",", ":"),
        )

    @classmethod
    def parse(cls, payload: str) -> Notice | None:
        """The notice of ``payload``, or None when it is not one of ours."""
        try:
            data: dict[str, Any] = json.loads(payload)
            timer = data.get("timer")
            seq = data.get("seq")
            return cls(
                source=str(data["src"]),
                seq=int(seq) if seq is not None else None,
                timer=datetime.fromisoformat(timer) if timer else None,
                deliveries=bool(data.get("d")),
            )
        except (ValueError, KeyError, TypeError):
            return None


async def announce(session: AsyncSession, notice: Notice) -> None:
    """Queue ``notice`` on :data:`CHANNEL`; delivered when the session's transaction commits."""
    conn = await session.connection()
    await conn.execute(_NOTIFY, {"channel": CHANNEL, "payload": notice.payload()})


def _set(flag: asyncio.Event, _conn: object) -> None:
    flag.set()


def libpq_url(url: URL) -> str:
    """The plain ``postgresql://`` DSN of an SQLAlchemy URL (asyncpg's own format)."""
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


class PgListener:
    """One dedicated connection ``LISTEN``\\ ing on :data:`CHANNEL`, reconnected when lost.

    ``on_notice`` gets every parsed notice; ``on_connected`` runs after each
    successful ``LISTEN`` (the first one included): notices sent while no
    connection listened are lost, so the caller catches up from the log there.
    """

    def __init__(
        self,
        dsn: str,
        *,
        on_notice: Callable[[Notice], None],
        on_connected: Callable[[], None],
    ) -> None:
        self._dsn = dsn
        self._on_notice = on_notice
        self._on_connected = on_connected
        self._task: asyncio.Task[None] | None = None
        self._listening = asyncio.Event()

    async def start(self, *, timeout_s: float = 10.0) -> None:
        """Start listening; return once the first ``LISTEN`` is in place (or ``timeout_s``)."""
        self._task = asyncio.create_task(self._run())
        with suppress(TimeoutError):
            await asyncio.wait_for(self._listening.wait(), timeout=timeout_s)

    async def stop(self) -> None:
        """Stop listening and close the connection."""
        if self._task is not None:
            self._task.cancel()
            with suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def _notified(self, _conn: object, _pid: int, _channel: str, payload: str) -> None:
        notice = Notice.parse(payload)
        if notice is not None:
            self._on_notice(notice)

    async def _run(self) -> None:
        import asyncpg

        while True:
            lost = asyncio.Event()
            conn: Any = None
            try:
                conn = await asyncpg.connect(self._dsn)
                conn.add_termination_listener(partial(_set, lost))
                await conn.add_listener(CHANNEL, self._notified)
                log.info("replica_listening", channel=CHANNEL)
                self._listening.set()
                self._on_connected()
                while not lost.is_set():
                    try:
                        await asyncio.wait_for(lost.wait(), timeout=_PING_S)
                    except TimeoutError:
                        # A silently dropped connection shows no termination: ask.
                        await conn.fetchval("SELECT 1", timeout=_PING_S)
                log.warning("replica_listener_lost")
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("replica_listener_failed", error=f"{type(exc).__name__}: {exc}")
            finally:
                if conn is not None and not conn.is_closed():
                    conn.terminate()
            await asyncio.sleep(_RETRY_S)
