"""Who besides an order's authority and HSP may see an event or an order.

TCO Art. 4 brings the host Member State's authority, the content provider and
Europol into an order's life; Art. 11 the content provider; Art. 9 the courts.
Each event that concerns such a third party lists it in ``data.visible_to``
(hashed with the event) and in the ``event_audience`` table (queryable).  A
participant who was shown any event of an order may read that order and the
events of it it was shown; a court may read the orders of its Member State's
authorities and of its Member State's hosting providers (Art. 9).

A drill facilitator (:data:`READ_ALL_ROLES`) reads everything in its exchange:
every order and every event, on the poll feed, the WebSocket feed and the order
routes.  It stays read-only: every write route checks the sender's role first.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import ColumnElement, or_, true
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from perci_sim.storage.models import Event, EventAudience, Order, OrderLifecycle
from perci_sim.storage.registry import ParticipantInfo

__all__ = [
    "READ_ALL_ROLES",
    "audience_clause",
    "can_see_order",
    "in_audience",
    "own_or_shown",
    "reads_everything",
]

#: Roles that may read every order and event of the exchange (never write): drills.
READ_ALL_ROLES = ("facilitator",)


def reads_everything(participant: ParticipantInfo) -> bool:
    """True for a drill facilitator: it sees every order and event (read-only)."""
    return participant.role in READ_ALL_ROLES


def audience_clause(participant: ParticipantInfo) -> ColumnElement[bool]:
    """SQL: the event's seq is one ``participant`` was added to as a third party."""
    shown = select(EventAudience.event_seq).where(
        col(EventAudience.participant_id) == participant.id
    )
    return col(Event.seq).in_(shown)


def in_audience(participant: ParticipantInfo, audience: Sequence[str] | None) -> bool:
    """True when ``participant`` is in an event's ``data.visible_to`` list (or reads all)."""
    if reads_everything(participant):
        return True
    return bool(audience) and participant.id in (audience or ())


async def can_see_order(session: AsyncSession, order: Order, participant: ParticipantInfo) -> bool:
    """True when a third party may read (and answer) ``order``.

    A facilitator may read every order; it can answer none (its role is refused by
    every write route before the order is loaded).
    """
    if reads_everything(participant):
        return True
    if participant.role == "court":
        # TCO Art. 9: the courts of the issuing Member State (orders) and of the
        # deciding host Member State (Art. 4 decisions) review them.
        lifecycle = await session.get(OrderLifecycle, order.order_id)
        return lifecycle is not None and participant.member_state in (
            lifecycle.issuing_member_state,
            lifecycle.host_member_state,
        )
    shown = (
        await session.exec(
            select(EventAudience.id)
            .where(
                col(EventAudience.participant_id) == participant.id,
                col(EventAudience.order_id) == order.order_id,
            )
            .limit(1)
        )
    ).first()
    return shown is not None


def own_or_shown(own: ColumnElement[bool], participant: ParticipantInfo) -> ColumnElement[bool]:
    """``own`` events of the participant, or events it was shown as a third party.

    Every event for a facilitator.
    """
    if reads_everything(participant):
        return true()
    return or_(own, audience_clause(participant))
