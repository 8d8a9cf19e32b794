"""The platform daemon: answer every order addressed to this HSP through a handler.

Theory of operation.  The unit of work is an *(order, clock round)*: the key
``(order_id, clock_started_at)`` of the broker's OrderView.  A round starts
when the order is delivered and again whenever the broker restarts the clock
(after a clarification, Art. 3(8), or after grounds ceased, Art. 3(7)).  Each
round is processed at most once per daemon run, whatever told us about it:

1. At start-up, remember the head of the event feed, then process every
   actionable order already in the inbox.
2. Follow the WebSocket feed from that head.  ``order_delivered``,
   ``clarification_received`` and ``grounds_ceased_received`` make the daemon
   read the order and process it if its round is new and it awaits an answer.
3. When the feed fails repeatedly, poll the inbox every ``poll_interval``
   seconds for ``feed_retry_after`` seconds, then try the feed again (it
   resumes after the last event seen; rounds already done are skipped).

Processing a round: verify the order (signature, issuer key, addressee),
acknowledge it in its first round, call the handler, then send Annex II, or
Annex III when the handler raised a :class:`~platform_client.handler.CannotExecute`.
An order that fails verification is answered with Annex III (manifest errors).
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from contextlib import aclosing
from dataclasses import replace
from typing import Any

import structlog
from structlog.typing import FilteringBoundLogger

from perci_schemas.client_support import Accepted, EventView, OrderView
from platform_client.client import PlatformClient
from platform_client.errors import BrokerUnavailable, OrderInvalid, PlatformClientError
from platform_client.handler import CannotExecute, Handler, Removal, call_handler

__all__ = ["ACTIONABLE_STATES", "run_daemon"]

#: Order states in which the HSP owes an answer (Annex II or III).
ACTIONABLE_STATES = frozenset({"delivered", "acknowledged", "overdue"})

#: Feed events that may start a new clock round for one of our orders.
_ROUND_EVENTS = frozenset({"order_delivered", "clarification_received", "grounds_ceased_received"})

_log = structlog.get_logger("platform_client.daemon")


async def run_daemon(
    client: PlatformClient,
    handler: Handler,
    *,
    stop_event: asyncio.Event | None = None,
    max_orders: int | None = None,
    poll_interval: float = 5.0,
    feed_retry_after: float = 30.0,
    feed_failures: int = 3,
) -> int:
    """Run until ``stop_event`` is set (or ``max_orders`` rounds are handled).

    Returns the number of (order, clock round) pairs handled.  See the module
    docstring for what happens to each; the handler contract is in
    :mod:`platform_client.handler`.
    """
    daemon = _Daemon(
        client,
        handler,
        max_orders=max_orders,
        poll_interval=poll_interval,
        feed_retry_after=feed_retry_after,
        feed_failures=feed_failures,
    )
    work = asyncio.create_task(daemon.run())
    stop = asyncio.create_task((stop_event or asyncio.Event()).wait())
    try:
        await asyncio.wait({work, stop}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (work, stop):
            task.cancel()
        await asyncio.gather(work, stop, return_exceptions=True)
    if not work.cancelled():
        work.result()  # re-raise a start-up failure
    return daemon.handled


class _Daemon:
    def __init__(
        self,
        client: PlatformClient,
        handler: Handler,
        *,
        max_orders: int | None,
        poll_interval: float,
        feed_retry_after: float,
        feed_failures: int,
    ) -> None:
        self.client = client
        self.handler = handler
        self.max_orders = max_orders
        self.poll_interval = poll_interval
        self.feed_retry_after = feed_retry_after
        self.feed_failures = feed_failures
        self.handled = 0
        self.rounds: set[tuple[str, str]] = set()

    def finished(self) -> bool:
        return self.max_orders is not None and self.handled >= self.max_orders

    async def run(self) -> None:
        cursor = await self._feed_head()
        _log.info("daemon_started", participant=self.client.participant_id, after=cursor)
        await self._reconcile()
        while not self.finished():
            try:
                async with aclosing(
                    self.client.watch(after=cursor, max_failures=self.feed_failures)
                ) as feed:
                    async for event in feed:
                        cursor = max(cursor, event["seq"])
                        await self._on_event(event)
                        if self.finished():
                            break
            except BrokerUnavailable as exc:
                _log.warning("feed_unavailable", error=str(exc), poll_interval=self.poll_interval)
                await self._poll_inbox(self.feed_retry_after)
        _log.info("daemon_finished", handled=self.handled)

    async def _feed_head(self) -> int:
        """Return the seq of the last event visible to us (paging the poll feed)."""
        cursor = 0
        while page := (await self.client.events(after=cursor, limit=500)).events:
            cursor = max(cursor, *(event["seq"] for event in page))
        return cursor

    async def _poll_inbox(self, duration: float) -> None:
        loop = asyncio.get_running_loop()
        until = loop.time() + duration
        while not self.finished() and loop.time() < until:
            try:
                await self._reconcile()
            except BrokerUnavailable as exc:
                _log.warning("inbox_unavailable", error=str(exc))
            await asyncio.sleep(self.poll_interval)

    async def _reconcile(self) -> None:
        for view in await self.client.inbox():
            if self.finished():
                return
            await self._consider(view)

    async def _on_event(self, event: EventView) -> None:
        order_id = event.get("order_id")
        if event["kind"] not in _ROUND_EVENTS or not order_id:
            return
        try:
            view = await self.client.get_order(order_id)
        except PlatformClientError as exc:
            _log.warning("order_unreadable", order_id=order_id, error=str(exc))
            return
        await self._consider(view)

    async def _consider(self, view: OrderView) -> None:
        key = (view["order_id"], view["clock_started_at"])
        if view["state"] not in ACTIONABLE_STATES or key in self.rounds:
            return
        self.rounds.add(key)
        try:
            await self._process(view)
        except PlatformClientError as exc:
            # Only reading or verifying can fail here (answers are caught in _answer),
            # so the handler has not run: forget the round to retry it on the next
            # inbox sweep or event.
            _log.error("order_failed", order_id=view["order_id"], error=str(exc))
            self.rounds.discard(key)
            return
        self.handled += 1

    async def _process(self, view: OrderView) -> None:
        order_id = view["order_id"]
        log = _log.bind(order_id=order_id, reference=view["reference_number"])
        first_round = view["clock_started_at"] == view["received_at"]
        try:
            order = await self.client.verify_order(view)
            if not first_round:
                order = replace(
                    order, clarification=await self.client.latest_clarification(order_id)
                )
        except OrderInvalid as exc:
            log.warning("order_invalid", reason=exc.reason)
            await self._answer(
                log,
                self.client.send_impossibility(
                    order_id,
                    ["manifest_errors"],
                    f"The order does not check out: {exc.reason}.",
                    "Please reissue the order signed with a key registered to the issuing "
                    "authority and addressed to this hosting service provider.",
                ),
            )
            return
        log = log.bind(deadline_at=view.get("deadline_at"), round="first" if first_round else "new")
        if first_round and view["state"] == "delivered":
            await self._answer(log, self.client.acknowledge(order_id, order_sha256=order.sha256))
        log.info("handler_called", urls=order.urls)
        try:
            removal = await call_handler(self.handler, order) or Removal()
        except CannotExecute as exc:
            log.info("handler_cannot_execute", reason=exc.reason, info=exc.info)
            await self._answer(
                log,
                self.client.send_impossibility(
                    order_id, [exc.reason], exc.info, exc.clarification_required, order=order
                ),
            )
            return
        except Exception:
            log.exception("handler_failed")
            return
        await self._answer(
            log,
            self.client.send_feedback(order_id, removal.measure, removal.measure_at, order=order),
        )

    @staticmethod
    async def _answer(log: FilteringBoundLogger, sending: Coroutine[Any, Any, Accepted]) -> None:
        """Await one submission; a refusal is logged, never fatal to the daemon.

        ``ValueError`` is what the form builders raise for a handler's bad
        outcome (e.g. an unknown measure): also logged, also not fatal.
        """
        try:
            accepted = await sending
        except (PlatformClientError, ValueError) as exc:
            log.error("answer_failed", error=str(exc))
            return
        receipt = accepted.receipt
        log.info(
            f"{receipt.message_type}_sent",
            state=accepted.order["state"],
            seq=receipt.seq,
            received_at=receipt.received_at,
        )
