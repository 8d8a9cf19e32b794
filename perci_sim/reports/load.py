"""Read a period's events and the participants from the database (the adapter side).

The only storage access of the reports: it turns ``event`` and ``participant``
rows into the plain records of :mod:`perci_sim.reports.records` and hands them
to the pure :func:`perci_sim.reports.figures.compute_report`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import col, select

from perci_sim.reports.figures import compute_report
from perci_sim.reports.records import EventRecord, ParticipantRef, Period
from perci_sim.storage.db import Database
from perci_sim.storage.models import Event, Participant

__all__ = ["build_report", "load_events", "load_participants"]

#: Order ids per ``IN (…)`` query when the context of the period's orders is read.
_CHUNK = 500


def _record(row: Event) -> EventRecord:
    return EventRecord(
        kind=row.kind,
        received_at=row.received_at,
        actor=row.actor,
        order_id=row.order_id,
        authority_id=row.authority_id,
        hsp_id=row.hsp_id,
        data=dict(row.data or {}),
        seq=row.seq or 0,
    )


async def load_events(db: Database, period: Period) -> list[EventRecord]:
    """The events of ``period`` plus the earlier events of the orders they concern.

    The earlier events are context (e.g. an order delivered on 31 December and
    executed on 1 January); :func:`compute_report` counts only the period's own.
    """
    async with db.read() as session:
        in_period = (
            await session.exec(
                select(Event)
                .where(col(Event.received_at) >= period.start)
                .where(col(Event.received_at) < period.end)
                .order_by(col(Event.seq))
            )
        ).all()
        order_ids = sorted({row.order_id for row in in_period if row.order_id})
        earlier: list[Event] = []
        for i in range(0, len(order_ids), _CHUNK):
            chunk = order_ids[i : i + _CHUNK]
            earlier.extend(
                (
                    await session.exec(
                        select(Event)
                        .where(col(Event.order_id).in_(chunk))
                        .where(col(Event.received_at) < period.start)
                    )
                ).all()
            )
    rows = sorted([*earlier, *in_period], key=lambda row: row.seq or 0)
    return [_record(row) for row in rows]


async def load_participants(db: Database) -> dict[str, ParticipantRef]:
    """Every registered participant: role, name and Member State (Art. 21 grouping)."""
    async with db.read() as session:
        rows = (await session.exec(select(Participant))).all()
    return {
        row.id: ParticipantRef(
            id=row.id, role=row.role, name=row.name, member_state=row.member_state
        )
        for row in rows
    }


async def build_report(db: Database, period: Period, *, generated_at: datetime) -> dict[str, Any]:
    """Load the period from ``db`` and compute the report (see :func:`compute_report`)."""
    events = await load_events(db, period)
    participants = await load_participants(db)
    return compute_report(
        events, period=period, participants=participants, generated_at=generated_at
    )
