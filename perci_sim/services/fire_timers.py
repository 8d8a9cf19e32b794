"""Fire due warning and deadline timers, exactly once each (TCO Art. 3(3), R8).

The database row is the timer (DESIGN "Time"): a due row is claimed with a
conditional UPDATE (``fired_at IS NULL AND NOT cancelled``); only the claimer
whose UPDATE changed the row acts, in the same transaction as the event it
records.  Two processes, or a timer fired twice, therefore record one event.
The service then reloads the order and checks that its clock is still
running in the timer's round: a timer of a finished, suspended or restarted
round changes nothing.
"""

from __future__ import annotations

from datetime import datetime

import structlog
from sqlmodel import col, func, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from perci_sim.domain.deadlines import EXECUTION_WINDOW, WARNING_OFFSETS, TimerKind
from perci_sim.domain.states import CLOCK_RUNNING, OrderState, Trigger
from perci_sim.services.context import BrokerContext
from perci_sim.services.documents import apply_trigger, transition_data
from perci_sim.services.lifecycle_effects import fire_due_obligations
from perci_sim.services.obligations import next_obligation_due
from perci_sim.services.unit_of_work import UnitOfWork, unit_of_work
from perci_sim.storage.db import Database
from perci_sim.storage.log import iso_ms
from perci_sim.storage.models import Order, Timer

__all__ = ["catch_up_order", "claim_timer", "fire_due_timers", "next_timer_due"]

log = structlog.get_logger(__name__)

#: How long after its start a clock round's first timer is due.
_FIRST_TIMER = min((*WARNING_OFFSETS, EXECUTION_WINDOW))


async def next_timer_due(db: Database) -> datetime | None:
    """Return the earliest due time of an open timer or lifecycle obligation, or None."""
    async with db.read() as session:
        earliest = (
            await session.exec(
                select(func.min(Timer.due_at)).where(
                    col(Timer.fired_at).is_(None), col(Timer.cancelled).is_(False)
                )
            )
        ).one()
    obligation = await next_obligation_due(db)
    candidates = [at for at in (earliest, obligation) if at is not None]
    return min(candidates) if candidates else None


async def fire_due_timers(ctx: BrokerContext, *, limit: int = 100) -> int:
    """Fire up to ``limit`` due timers in one transaction; return how many were due."""
    async with unit_of_work(ctx) as uow:
        now = ctx.clock.now()
        due = (
            await uow.session.exec(
                select(Timer)
                .where(
                    col(Timer.fired_at).is_(None),
                    col(Timer.cancelled).is_(False),
                    col(Timer.due_at) <= now,
                )
                .order_by(col(Timer.due_at), col(Timer.id))
                .limit(limit)
            )
        ).all()
        for timer in due:
            if timer.id is not None and await claim_timer(uow.session, timer.id, now):
                await _fire(uow, timer, now)
        # Issue 3: lifecycle obligations are timer rows of the same wheel.
        expired = await fire_due_obligations(uow, now, limit=limit)
    return max(len(due), expired)


async def catch_up_order(
    uow: UnitOfWork, order_id: str, now: datetime, *, order: Order | None = None
) -> None:
    """Fire the order's timers that are already due, before a document about it applies.

    DESIGN "Lessons": one state machine decides every race between a receipt and a
    deadline. The wake-up may run late (a busy broker, a fast drill clock, a
    restart); a document received after the deadline must still meet an order
    that missed it (R8, TCO Art. 3(3)). The claim is the same conditional update,
    so the wake-up, when it comes, fires nothing twice.

    ``order`` (the row of ``order_id``, when the caller holds it) skips the query
    while no timer can be due: every open timer of an order belongs to its current
    clock round (:meth:`UnitOfWork.start_clock_round` cancels the others), so none is
    due before the round's first one.
    """
    if order is not None and now < order.clock_started_at + _FIRST_TIMER:
        return
    due = (
        await uow.session.exec(
            select(Timer)
            .where(
                col(Timer.order_id) == order_id,
                col(Timer.fired_at).is_(None),
                col(Timer.cancelled).is_(False),
                col(Timer.due_at) <= now,
            )
            .order_by(col(Timer.due_at), col(Timer.id))
        )
    ).all()
    for timer in due:
        if timer.id is not None and await claim_timer(uow.session, timer.id, now):
            await _fire(uow, timer, now)


async def claim_timer(session: AsyncSession, timer_id: int, now: datetime) -> bool:
    """Mark an open timer fired; True only for the one caller whose UPDATE changed it.

    DESIGN "Time" (db-scheduler model): the conditional UPDATE is the claim, so a
    timer read by two firers (two replicas, a retry) has its effect exactly once.
    """
    claimed = await session.exec(
        update(Timer)
        .where(
            col(Timer.id) == timer_id,
            col(Timer.fired_at).is_(None),
            col(Timer.cancelled).is_(False),
        )
        .values(fired_at=now)
    )
    return claimed.rowcount == 1


async def _fire(uow: UnitOfWork, timer: Timer, now: datetime) -> None:
    order = await uow.session.get(Order, timer.order_id)
    if order is None or order.clock_round != timer.clock_round:
        return
    if OrderState(order.state) not in CLOCK_RUNNING:
        return
    common = {
        "timer_kind": timer.kind,
        "minutes": timer.minutes,
        "due_at": iso_ms(timer.due_at),
        "clock_round": timer.clock_round,
        "deadline_at": iso_ms(order.deadline_at) if order.deadline_at else None,
    }
    if timer.kind == TimerKind.WARNING.value:
        # DESIGN "Time": warnings before the deadline; no state change.
        await uow.order_event(
            order, kind="deadline_warning", actor="broker", received_at=now, data=common
        )
        log.info("deadline_warning", order_id=order.order_id, minutes=timer.minutes)
        return
    # R8, TCO Art. 3(3): no Annex II and no Annex III within the hour: breach.
    previous, transition = apply_trigger(order, Trigger.DEADLINE_MISSED)
    order.flags = [
        *order.flags,
        f"breach_3_3: no Annex II or Annex III by the deadline {common['deadline_at']} (Art. 3(3))",
    ]
    order.updated_at = now
    order.version += 1
    uow.session.add(order)
    await uow.order_event(
        order,
        kind="deadline_missed",
        actor="broker",
        received_at=now,
        data={
            **transition_data(previous, transition),
            **common,
            "breach": "breach_3_3",
            "article": "Art. 3(3)",
        },
    )
    log.warning("deadline_missed", order_id=order.order_id, hsp_id=order.hsp_id)
