"""The webhook queue: Delivery rows, claimed with a lease, retried with backoff.

The rows are the queue, so deliveries survive a restart.  A delivery is
claimed by moving its ``next_attempt_at`` forward by a lease with a
conditional UPDATE; a process that dies mid-attempt leaves it to be retried
when the lease ends.  The webhook is a convenience: whatever happens here
never touches an order's clock (R22).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import col, func, select, update

from perci_sim.services.context import BrokerContext
from perci_sim.services.views import event_view
from perci_sim.storage.db import Database
from perci_sim.storage.models import Delivery, Event

__all__ = [
    "LEASE_S",
    "DueDelivery",
    "backoff",
    "claim_due_deliveries",
    "next_delivery_due",
    "record_delivery_result",
]

#: Wall seconds a claimed delivery is reserved for the claimer's attempt.
LEASE_S = 30.0


@dataclass(frozen=True, slots=True, kw_only=True)
class DueDelivery:
    """A claimed delivery, with the body to POST."""

    id: int
    url: str
    participant_id: str
    event_seq: int
    attempts: int
    body: dict[str, Any]


def backoff(attempts: int, *, cap_s: float) -> float:
    """Wall seconds to wait after ``attempts`` failed attempts: 1, 2, 4, … capped at ``cap_s``."""
    return float(min(cap_s, 2.0 ** max(0, attempts - 1)))


def _sim(ctx: BrokerContext, wall_seconds: float) -> timedelta:
    # The backoff is meant in wall seconds; the queue is kept in broker time.
    return timedelta(seconds=wall_seconds * ctx.clock.speed)


async def next_delivery_due(db: Database) -> datetime | None:
    """Return when the next pending delivery is due, or None."""
    async with db.read() as session:
        return (
            await session.exec(
                select(func.min(Delivery.next_attempt_at)).where(col(Delivery.status) == "pending")
            )
        ).one()


async def claim_due_deliveries(ctx: BrokerContext, *, limit: int = 50) -> list[DueDelivery]:
    """Claim up to ``limit`` due deliveries and sign their events (``perci.event+jws``)."""
    claimed: list[tuple[Delivery, Event]] = []
    async with ctx.db.write() as session:
        now = ctx.clock.now()
        rows = (
            await session.exec(
                select(Delivery)
                .where(col(Delivery.status) == "pending", col(Delivery.next_attempt_at) <= now)
                .order_by(col(Delivery.next_attempt_at), col(Delivery.id))
                .limit(limit)
            )
        ).all()
        lease_until = now + _sim(ctx, LEASE_S)
        for row in rows:
            result = await session.exec(
                update(Delivery)
                .where(
                    col(Delivery.id) == row.id,
                    col(Delivery.status) == "pending",
                    col(Delivery.next_attempt_at) == row.next_attempt_at,
                )
                .values(next_attempt_at=lease_until)
            )
            if result.rowcount != 1:
                continue
            event = (
                await session.exec(select(Event).where(col(Event.seq) == row.event_seq))
            ).first()
            if event is not None:
                claimed.append((row, event))
    return [
        DueDelivery(
            id=row.id or 0,
            url=row.url,
            participant_id=row.participant_id,
            event_seq=row.event_seq,
            attempts=row.attempts,
            body={"jws": ctx.signer.sign_event(event_view(event))},
        )
        for row, event in claimed
    ]


async def record_delivery_result(
    ctx: BrokerContext, delivery_id: int, *, ok: bool, error: str | None = None
) -> str:
    """Record an attempt's outcome; return the delivery's new status."""
    async with ctx.db.write() as session:
        row = await session.get(Delivery, delivery_id)
        if row is None or row.status != "pending":
            return row.status if row else "missing"
        now = ctx.clock.now()
        row.attempts += 1
        if ok:
            row.status = "delivered"
            row.delivered_at = now
            row.last_error = None
        else:
            row.last_error = (error or "failed")[:500]
            if row.attempts >= ctx.settings.webhook_max_attempts:
                row.status = "failed"
            else:
                wait = backoff(row.attempts, cap_s=ctx.settings.webhook_max_backoff_s)
                row.next_attempt_at = now + _sim(ctx, wait)
        session.add(row)
        return row.status
