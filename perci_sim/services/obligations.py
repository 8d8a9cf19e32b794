"""Obligation rows: open, meet, cancel, and claim on expiry (exactly once).

The row is its own timer (DESIGN "Time", db-scheduler model): the broker's
single wake-up covers the earliest open ``due_at`` of both the one-hour timers
and these rows; an expired row is claimed with a conditional UPDATE on
``status = 'open'`` in the same transaction as the event it causes, so a
double firing (two replicas, a restart sweep) records one event.

This module never imports the unit of work at run time (it is imported by it).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlmodel import col, func, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from perci_sim.domain.obligations import OBLIGATIONS, ObligationKind
from perci_sim.storage.db import Database
from perci_sim.storage.log import iso_ms
from perci_sim.storage.models import Obligation

if TYPE_CHECKING:
    from perci_sim.services.unit_of_work import UnitOfWork

__all__ = [
    "cancel_obligations",
    "claim_obligation",
    "due_obligations",
    "find_latest",
    "find_open",
    "meet_obligation",
    "next_obligation_due",
    "obligation_view",
    "open_obligation",
]


def open_obligation(
    uow: UnitOfWork,
    kind: ObligationKind,
    *,
    owed_by: str,
    opened_at: datetime,
    due_at: datetime,
    order_id: str | None = None,
    hsp_id: str | None = None,
    ref: str | None = None,
    data: dict[str, Any] | None = None,
) -> Obligation:
    """Add an open obligation and make sure the wake-up is armed for it."""
    spec = OBLIGATIONS[kind]
    row = Obligation(
        kind=kind.value,
        article=spec.article,
        order_id=order_id,
        hsp_id=hsp_id,
        owed_by=owed_by,
        ref=ref,
        opened_at=opened_at,
        due_at=due_at,
        breach=None,
        data=dict(data or {}),
    )
    uow.session.add(row)
    uow.earliest_timer = due_at if uow.earliest_timer is None else min(uow.earliest_timer, due_at)
    return row


async def find_open(
    session: AsyncSession,
    kind: ObligationKind,
    *,
    order_id: str | None = None,
    hsp_id: str | None = None,
    ref: str | None = None,
    owed_by: str | None = None,
) -> list[Obligation]:
    """Open obligations of ``kind`` matching the given members, the earliest due first."""
    query = select(Obligation).where(
        col(Obligation.kind) == kind.value, col(Obligation.status) == "open"
    )
    if order_id is not None:
        query = query.where(col(Obligation.order_id) == order_id)
    if hsp_id is not None:
        query = query.where(col(Obligation.hsp_id) == hsp_id)
    if ref is not None:
        query = query.where(col(Obligation.ref) == ref)
    if owed_by is not None:
        query = query.where(col(Obligation.owed_by) == owed_by)
    await session.flush()
    return list((await session.exec(query.order_by(col(Obligation.due_at)))).all())


async def meet_obligation(
    session: AsyncSession, row: Obligation, now: datetime, *, seq: int | None = None
) -> bool:
    """Mark ``row`` met (conditional on it still being open); True when this call met it."""
    assert row.id is not None
    result = await session.exec(
        update(Obligation)
        .where(col(Obligation.id) == row.id, col(Obligation.status) == "open")
        .values(status="met", closed_at=now, data={**row.data, "met_by_seq": seq})
    )
    return result.rowcount == 1


async def cancel_obligations(
    session: AsyncSession,
    order_id: str,
    now: datetime,
    *,
    kinds: Iterable[ObligationKind] | None = None,
    keep: Iterable[ObligationKind] = (),
) -> int:
    """Cancel the order's open obligations (all, or ``kinds``), except ``keep``."""
    query = update(Obligation).where(
        col(Obligation.order_id) == order_id, col(Obligation.status) == "open"
    )
    if kinds is not None:
        query = query.where(col(Obligation.kind).in_([k.value for k in kinds]))
    kept = [k.value for k in keep]
    if kept:
        query = query.where(col(Obligation.kind).not_in(kept))
    result = await session.exec(query.values(status="cancelled", closed_at=now))
    return int(result.rowcount or 0)


async def claim_obligation(
    session: AsyncSession, row: Obligation, now: datetime, *, status: str
) -> bool:
    """Claim an expired obligation; True only for the one caller whose UPDATE changed it."""
    result = await session.exec(
        update(Obligation)
        .where(col(Obligation.id) == row.id, col(Obligation.status) == "open")
        .values(status=status, closed_at=now, breach=OBLIGATIONS[ObligationKind(row.kind)].breach)
    )
    return result.rowcount == 1


async def due_obligations(session: AsyncSession, now: datetime, limit: int) -> Sequence[Obligation]:
    """Open obligations whose ``due_at`` has passed, the earliest first."""
    return (
        await session.exec(
            select(Obligation)
            .where(col(Obligation.status) == "open", col(Obligation.due_at) <= now)
            .order_by(col(Obligation.due_at), col(Obligation.id))
            .limit(limit)
        )
    ).all()


async def next_obligation_due(db: Database) -> datetime | None:
    """The earliest due time of an open obligation, or None."""
    async with db.read() as session:
        return (
            await session.exec(
                select(func.min(Obligation.due_at)).where(col(Obligation.status) == "open")
            )
        ).one()


def obligation_view(row: Obligation) -> dict[str, Any]:
    """Render an obligation for the lifecycle view."""
    spec = OBLIGATIONS[ObligationKind(row.kind)]
    return {
        "kind": row.kind,
        "article": row.article,
        "owed_by": row.owed_by,
        "order_id": row.order_id,
        "hsp_id": row.hsp_id,
        "ref": row.ref,
        "opened_at": iso_ms(row.opened_at),
        "due_at": iso_ms(row.due_at),
        "status": row.status,
        "closed_at": iso_ms(row.closed_at) if row.closed_at else None,
        "breach": row.breach,
        "breach_on_expiry": spec.breach,
        "description": spec.description,
    }


async def find_latest(
    session: AsyncSession,
    kind: ObligationKind,
    *,
    order_id: str | None = None,
    hsp_id: str | None = None,
    owed_by: str | None = None,
    ref: str | None = None,
) -> Obligation | None:
    """The latest obligation of ``kind`` that was not cancelled (open, met, missed or closed).

    Window checks compare the message's time with its ``due_at``: a window's row
    may already be claimed as closed at the very instant it ends.
    """
    query = select(Obligation).where(
        col(Obligation.kind) == kind.value, col(Obligation.status) != "cancelled"
    )
    if order_id is not None:
        query = query.where(col(Obligation.order_id) == order_id)
    if hsp_id is not None:
        query = query.where(col(Obligation.hsp_id) == hsp_id)
    if owed_by is not None:
        query = query.where(col(Obligation.owed_by) == owed_by)
    if ref is not None:
        query = query.where(col(Obligation.ref) == ref)
    await session.flush()
    return (await session.exec(query.order_by(col(Obligation.id).desc()).limit(1))).first()
