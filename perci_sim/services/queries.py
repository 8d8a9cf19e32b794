"""Read-only views for a participant: only its own orders and events (else 404).

A drill facilitator reads every order and event (services/audience.py).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from sqlalchemy import ColumnElement, false, nulls_last, or_, true
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from perci_sim.domain.states import OPEN_STATES, OrderState
from perci_sim.services.audience import (
    audience_clause,
    in_audience,
    own_or_shown,
    reads_everything,
)
from perci_sim.services.documents import is_party, load_order
from perci_sim.services.errors import Forbidden
from perci_sim.services.views import event_view, order_view
from perci_sim.storage.db import Database
from perci_sim.storage.models import Event, EventAudience, Order, OrderLifecycle
from perci_sim.storage.registry import ParticipantInfo

__all__ = [
    "AUTHORITY_SIDE_ROLES",
    "MAX_LIMIT",
    "event_visible_to",
    "events_after",
    "get_order",
    "inbox",
    "last_seq",
    "list_orders",
    "log_after",
    "order_history",
]

MAX_LIMIT = 1000


def _orders_of_member_state(member_state: str) -> Any:
    """The ids of the orders issued in, or hosted in, ``member_state`` (TCO Art. 9)."""
    return select(OrderLifecycle.order_id).where(
        or_(
            col(OrderLifecycle.issuing_member_state) == member_state,
            col(OrderLifecycle.host_member_state) == member_state,
        )
    )


def _own_orders(participant: ParticipantInfo) -> ColumnElement[bool]:
    if reads_everything(participant):
        return true()
    if participant.role == "authority":
        return col(Order.authority_id) == participant.id
    if participant.role == "hsp":
        return col(Order.hsp_id) == participant.id
    if participant.role == "court":
        # TCO Art. 9: the orders of its Member State's authorities, and those decided on
        # (Art. 4) by its Member State as host State (as ``can_see_order``).
        return col(Order.order_id).in_(_orders_of_member_state(participant.member_state))
    # Europol and content providers: the orders they were shown an event of (Art. 4, 11).
    return col(Order.order_id).in_(
        select(EventAudience.order_id).where(col(EventAudience.participant_id) == participant.id)
    )


#: Roles that see the events naming them in ``Event.authority_id``: competent authorities,
#: and Europol for what it sends or receives under TCO Art. 14 (referrals, holds, Art. 14(5)).
AUTHORITY_SIDE_ROLES = ("authority", "europol")


def _own_events(participant: ParticipantInfo) -> ColumnElement[bool]:
    if participant.role in AUTHORITY_SIDE_ROLES:
        return col(Event.authority_id) == participant.id
    if participant.role == "hsp":
        return col(Event.hsp_id) == participant.id
    if participant.role == "court":
        # TCO Art. 9: its feed carries the orders it may read (list_orders, order_history).
        return col(Event.order_id).in_(_orders_of_member_state(participant.member_state))
    return false()


def event_visible_to(
    participant: ParticipantInfo,
    *,
    authority_id: str | None,
    hsp_id: str | None,
    audience: Sequence[str] | None = None,
    order_member_states: Collection[str] = (),
) -> bool:
    """True when an event with these parties is visible to ``participant`` (feed filter).

    ``audience`` is the event's ``data.visible_to``: third parties shown it (issue 3).
    ``order_member_states``: the issuing and host Member States of the event's order,
    for a court (TCO Art. 9; empty for an event about no order).
    A facilitator sees every event (this is also the WebSocket feed's recipient filter).
    """
    if in_audience(participant, audience):
        return True
    if participant.role in AUTHORITY_SIDE_ROLES:
        return authority_id == participant.id
    if participant.role == "hsp":
        return hsp_id == participant.id
    if participant.role == "court":
        return participant.member_state in order_member_states
    return False


async def list_orders(
    db: Database,
    participant: ParticipantInfo,
    *,
    state: OrderState | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[dict[str, Any]]:
    """The participant's own orders (a facilitator: every order), newest first."""
    query = select(Order).where(_own_orders(participant))
    if state is not None:
        query = query.where(col(Order.state) == state.value)
    query = query.order_by(col(Order.received_at).desc(), col(Order.order_id))
    async with db.read() as session:
        rows = (await session.exec(query.limit(min(limit, MAX_LIMIT)).offset(offset))).all()
        views = [order_view(row) for row in rows]
        for view in views:
            await _withhold_document(session, participant, view)
    return views


async def get_order(db: Database, participant: ParticipantInfo, order_id: str) -> dict[str, Any]:
    """One order the participant is a party to (``not_found`` otherwise).

    A content provider gets the order document itself only once the HSP gave it a
    copy (TCO Art. 11(2): "on request, ... a copy of the order"); before that the
    view carries ``document: null``.
    """
    async with db.read() as session:
        view = order_view(await load_order(session, order_id, participant))
        await _withhold_document(session, participant, view)
        return view


async def _withhold_document(
    session: AsyncSession, participant: ParticipantInfo, view: dict[str, Any]
) -> None:
    """TCO Art. 11(2): a content provider sees the order only with the HSP's copy."""
    if participant.role != "content_provider":
        return
    informed = (
        await session.exec(
            select(Event.data).where(
                col(Event.order_id) == view["order_id"],
                col(Event.kind) == "content_provider_information_received",
            )
        )
    ).all()
    if not any(
        data.get("content_provider_id") == participant.id and data.get("copy_of_order")
        for data in informed
    ):
        view["document"] = None


async def order_history(
    db: Database, participant: ParticipantInfo, order_id: str
) -> list[dict[str, Any]]:
    """Every event of an order the participant is a party to, in log order."""
    async with db.read() as session:
        order = await load_order(session, order_id, participant)
        query = select(Event).where(col(Event.order_id) == order_id)
        if not (
            is_party(order, participant)
            or participant.role == "court"
            or reads_everything(participant)
        ):
            # A third party sees the events it was shown (TCO Art. 4, 11), no more.
            query = query.where(audience_clause(participant))
        rows = (await session.exec(query.order_by(col(Event.seq)))).all()
    return [event_view(row) for row in rows]


async def inbox(db: Database, participant: ParticipantInfo) -> list[dict[str, Any]]:
    """Open orders addressed to an HSP, the earliest deadline first (suspended ones last)."""
    if participant.role != "hsp":
        raise Forbidden("the inbox is for hosting service providers")
    async with db.read() as session:
        rows = (
            await session.exec(
                select(Order)
                .where(
                    col(Order.hsp_id) == participant.id,
                    col(Order.state).in_([s.value for s in OPEN_STATES]),
                )
                .order_by(nulls_last(col(Order.deadline_at).asc()), col(Order.received_at))
            )
        ).all()
    return [order_view(row) for row in rows]


async def events_after(
    db: Database, participant: ParticipantInfo, *, after: int = 0, limit: int = 100
) -> list[dict[str, Any]]:
    """Events visible to the participant with ``seq > after``, in log order."""
    async with db.read() as session:
        rows = (
            await session.exec(
                select(Event)
                .where(col(Event.seq) > after, own_or_shown(_own_events(participant), participant))
                .order_by(col(Event.seq))
                .limit(min(limit, MAX_LIMIT))
            )
        ).all()
    return [event_view(row) for row in rows]


async def log_after(db: Database, *, after: int, limit: int = 500) -> list[Event]:
    """Every event with ``seq > after``, in log order (at most ``limit``): replica fan-out."""
    async with db.read() as session:
        rows = (
            await session.exec(
                select(Event).where(col(Event.seq) > after).order_by(col(Event.seq)).limit(limit)
            )
        ).all()
    return list(rows)


async def last_seq(db: Database) -> int:
    """The seq of the newest event (0 for an empty log)."""
    async with db.read() as session:
        value = (await session.exec(select(func.max(Event.seq)))).one()
    return int(value or 0)
