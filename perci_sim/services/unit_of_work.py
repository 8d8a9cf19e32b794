"""One transaction per state change: events + projection + timers + deliveries.

A :class:`UnitOfWork` wraps a serialized write transaction.  Everything a use
case changes goes through it, and the :class:`CommitListener` hears about the
new events, timers and webhook deliveries only after the commit, so a feed or
a webhook can never announce something the log does not hold.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Table, insert, inspect
from sqlmodel import col, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from perci_sim.crypto.verification import VerifiedDocument
from perci_sim.domain.deadlines import timers_for_round
from perci_sim.services.context import BrokerContext
from perci_sim.services.errors import DuplicateMessage
from perci_sim.services.lifecycle_effects import after_order_event, before_order_event
from perci_sim.services.views import receipt_payload
from perci_sim.storage.db import defer_insert
from perci_sim.storage.log import append_event, remember_tail, tail_subqueries
from perci_sim.storage.models import Delivery, Event, EventAudience, Order, Timer
from perci_sim.storage.notify import Notice, announce
from perci_sim.storage.registry import get_participant

__all__ = ["UnitOfWork", "unit_of_work"]

_EVENT_AUDIENCE: Table = EventAudience.__table__  # type: ignore[attr-defined]


@dataclass(slots=True)
class UnitOfWork:
    """The open transaction of one use case and what it changed."""

    ctx: BrokerContext
    session: AsyncSession
    events: list[Event] = field(default_factory=list)
    earliest_timer: datetime | None = None
    timers_cancelled: bool = False
    deliveries: int = 0
    _webhooks: dict[str, str | None] = field(default_factory=dict)
    #: Orders whose clock round this transaction started.
    _rounds_started: set[str] = field(default_factory=set)

    async def append(
        self,
        *,
        kind: str,
        actor: str,
        received_at: datetime,
        order_id: str | None = None,
        authority_id: str | None = None,
        hsp_id: str | None = None,
        data: dict[str, Any] | None = None,
        document: VerifiedDocument | None = None,
        audience: Sequence[str] = (),
    ) -> Event:
        """Append an event (with the broker's receipt when it records ``document``).

        ``audience`` names third parties who may see it too (host-Member-State
        authority, content provider, Europol: TCO Art. 4, 11); they are recorded in
        the hashed ``data.visible_to`` and in ``event_audience`` (services/audience.py).
        """
        shown = sorted({p for p in audience if p not in (authority_id, hsp_id)})
        if shown:
            data = {**(data or {}), "visible_to": shown}
        sign_receipt = None
        if document is not None:
            message_type, signer = document.message_type, self.ctx.signer

            def sign_receipt(sealed: Event) -> str:
                return signer.sign_receipt(receipt_payload(sealed, message_type))

        event = await append_event(
            self.session,
            kind=kind,
            actor=actor,
            received_at=received_at,
            order_id=order_id,
            authority_id=authority_id,
            hsp_id=hsp_id,
            sent_at=document.sent_at if document else None,
            message_id=document.message_id if document else None,
            document=document.token if document else None,
            document_sha256=document.document_sha256 if document else None,
            payload_sha256=document.payload_sha256 if document else None,
            data=data,
            sign_receipt=sign_receipt,
        )
        self.events.append(event)
        for participant_id in shown:
            # Core, batched with the event (storage/db.py defer_insert).
            defer_insert(
                self.session,
                _EVENT_AUDIENCE,
                {"event_seq": event.seq, "participant_id": participant_id, "order_id": order_id},
            )
        if hsp_id is not None:
            await self._queue_delivery(event, hsp_id, received_at)
        return event

    async def order_event(
        self,
        order: Order,
        *,
        kind: str,
        actor: str,
        received_at: datetime,
        data: dict[str, Any] | None = None,
        document: VerifiedDocument | None = None,
        audience: Sequence[str] = (),
    ) -> Event:
        """Append an event about ``order``, visible to both its parties (and ``audience``).

        The order-lifecycle hook (services/lifecycle_effects.py) then runs in the same
        transaction: e.g. the Art. 4(1) copy to the host authority with the order.
        """
        data = await before_order_event(self, order, kind, data, document)
        event = await self.append(
            kind=kind,
            actor=actor,
            received_at=received_at,
            order_id=order.order_id,
            authority_id=order.authority_id,
            hsp_id=order.hsp_id,
            data=data,
            document=document,
            audience=audience,
        )
        await after_order_event(self, order, event, document)
        return event

    async def _queue_delivery(self, event: Event, hsp_id: str, now: datetime) -> None:
        # R22: a webhook is a convenience; the order was received when it reached the
        # inbox, so a delivery row never influences the order's clock.
        if hsp_id not in self._webhooks:
            participant = await get_participant(self.ctx.db, hsp_id, session=self.session)
            self._webhooks[hsp_id] = participant.webhook_url if participant else None
        url = self._webhooks[hsp_id]
        if url is None or event.seq is None:
            return
        self.session.add(
            Delivery(event_seq=event.seq, participant_id=hsp_id, url=url, next_attempt_at=now)
        )
        self.deliveries += 1

    async def start_clock_round(self, order: Order, started_at: datetime) -> None:
        """Start a clock round at ``started_at``: cancel open timers, add this round's.

        TCO Art. 3(3): one hour from receipt; Art. 3(7)/(8): a fresh hour after the
        grounds cease or the clarification arrives (R6, R7).
        """
        if not (inspect(order).transient and order.order_id not in self._rounds_started):
            # A new order (never added to a session) has no timers to cancel yet.
            await self.cancel_timers(order)
        self._rounds_started.add(order.order_id)
        due = timers_for_round(started_at)
        # One executemany (Core, on the transaction's connection): the rows are not
        # needed as ORM objects here.
        conn = await self.session.connection()
        await conn.execute(
            insert(Timer),
            [
                {
                    "order_id": order.order_id,
                    "clock_round": order.clock_round,
                    "kind": timer.kind.value,
                    "minutes": timer.minutes,
                    "due_at": timer.due_at,
                    "cancelled": False,
                }
                for timer in due
            ],
        )
        order.clock_started_at = started_at
        order.deadline_at = due[-1].due_at
        first = min(t.due_at for t in due)
        self.earliest_timer = (
            first if self.earliest_timer is None else min(self.earliest_timer, first)
        )

    async def cancel_timers(self, order: Order) -> None:
        """Cancel the order's timers that have not fired."""
        result = await self.session.exec(
            update(Timer)
            .where(
                col(Timer.order_id) == order.order_id,
                col(Timer.fired_at).is_(None),
                col(Timer.cancelled).is_(False),
            )
            .values(cancelled=True)
        )
        if result.rowcount:
            self.timers_cancelled = True

    async def find_replay(self, document: VerifiedDocument) -> Event | None:
        """Return the event of an earlier identical document, refusing a reused message_id.

        Idempotency (docs/API.md): the same ``(sender, message_id)`` with the same
        payload returns the original receipt; with another payload it is refused.
        """
        # One statement: the idempotency probe and the log's tail (read once per
        # transaction by the first append otherwise).
        tail_seq, tail_hash = tail_subqueries()
        probe = (
            select(Event.seq)
            .where(
                col(Event.actor) == document.sender, col(Event.message_id) == document.message_id
            )
            .scalar_subquery()
        )
        row = (await self.session.exec(select(probe, tail_seq, tail_hash))).one()
        remember_tail(self.session, row[1], row[2])
        if row[0] is None:
            return None
        original = await self.session.get(Event, row[0])
        if original is None:
            return None
        if original.payload_sha256 != document.payload_sha256:
            raise DuplicateMessage(document.message_id, original.seq)
        return original


@asynccontextmanager
async def unit_of_work(ctx: BrokerContext) -> AsyncIterator[UnitOfWork]:
    """Run a write transaction; tell the listener what changed once it committed."""
    async with ctx.db.write() as session:
        uow = UnitOfWork(ctx=ctx, session=session)
        yield uow
        if ctx.db.dialect == "postgresql" and (
            uow.events or uow.earliest_timer is not None or uow.deliveries
        ):
            # Other replicas hear of the commit (storage/notify.py); delivered at COMMIT.
            await announce(
                session,
                Notice(
                    source=ctx.db.instance_id,
                    seq=uow.events[-1].seq if uow.events else None,
                    timer=uow.earliest_timer,
                    deliveries=bool(uow.deliveries),
                ),
            )
    listener = ctx.listener
    if uow.events:
        listener.events_committed(uow.events)
    if uow.earliest_timer is not None:
        # Cancelled timers need no re-arm: a wake-up that finds nothing due is harmless.
        listener.timers_changed(uow.earliest_timer)
    if uow.deliveries:
        listener.deliveries_queued()
