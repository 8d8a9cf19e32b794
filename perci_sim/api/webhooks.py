"""Webhook dispatcher: POSTs broker-signed events to HSPs, with backoff, from the queue.

Each event visible to an HSP with a webhook URL became a ``delivery`` row in the
transaction that recorded it; this background task works the rows off.  A 2xx
answer ends the retries; otherwise the attempt is retried after 1 s, 2 s, 4 s …
(capped by ``webhook_max_backoff_s``) until ``webhook_max_attempts``.  An
unreachable webhook never touches the order's clock (R22).
"""

from __future__ import annotations

import asyncio
from contextlib import suppress

import aiohttp
import structlog

from perci_sim.services.context import BrokerContext
from perci_sim.services.webhooks import (
    DueDelivery,
    claim_due_deliveries,
    next_delivery_due,
    record_delivery_result,
)

__all__ = ["WebhookDispatcher"]

log = structlog.get_logger(__name__)

_MIN_WAIT_S = 0.01
_IDLE_WAIT_S = 300.0


class WebhookDispatcher:
    """Background delivery of queued webhook calls."""

    def __init__(self, ctx: BrokerContext, *, timeout_s: float = 10.0, batch: int = 50) -> None:
        self._ctx = ctx
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._batch = batch
        self._session: aiohttp.ClientSession | None = None
        self._task: asyncio.Task[None] | None = None
        self._wakeup = asyncio.Event()
        self._lock = asyncio.Lock()

    async def start(self) -> None:
        """Open the HTTP client and start the delivery loop (pending rows first)."""
        self._session = aiohttp.ClientSession(timeout=self._timeout)
        self._task = asyncio.create_task(self._loop())

    async def stop(self) -> None:
        """Stop the loop and close the HTTP client; undelivered rows stay queued."""
        if self._task is not None:
            self._task.cancel()
            with suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._session is not None:
            await self._session.close()
            self._session = None

    def wake(self) -> None:
        """New deliveries were queued (or the clock moved): look again now."""
        self._wakeup.set()

    async def run_due(self) -> int:
        """Attempt every due delivery now; return how many attempts were made."""
        attempts = 0
        async with self._lock:
            while True:
                due = await claim_due_deliveries(self._ctx, limit=self._batch)
                if not due:
                    return attempts
                await asyncio.gather(*(self._attempt(d) for d in due))
                attempts += len(due)

    async def _attempt(self, delivery: DueDelivery) -> None:
        session = self._session
        ok, error = False, "dispatcher stopped"
        if session is not None:
            try:
                async with session.post(delivery.url, json=delivery.body) as response:
                    ok = 200 <= response.status < 300
                    error = f"HTTP {response.status}"
            except (aiohttp.ClientError, TimeoutError) as exc:
                error = f"{type(exc).__name__}: {exc}"
        status = await record_delivery_result(self._ctx, delivery.id, ok=ok, error=error)
        log.info(
            "webhook_attempt",
            participant=delivery.participant_id,
            event_seq=delivery.event_seq,
            attempt=delivery.attempts + 1,
            ok=ok,
            status=status,
            error=None if ok else error,
        )

    async def _loop(self) -> None:
        while True:
            self._wakeup.clear()
            try:
                await self.run_due()
                due = await next_delivery_due(self._ctx.db)
            except Exception:
                log.exception("webhook_dispatch_failed")
                due = None
            wait = _IDLE_WAIT_S
            if due is not None:
                wait = max(_MIN_WAIT_S, self._ctx.clock.wall_seconds_until(due))
            with suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), timeout=wait)
