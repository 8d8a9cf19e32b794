"""Who besides an order's authority and HSP may see an event or an order.

TCO Art. 4 brings the host Member State's authority, the content provider and
Europol into an order's life; Art. 11 the content provider; Art. 9 the courts.
Each event that concerns such a third party lists it in ``data.visible_to``
(hashed with the event) and in the ``event_audience`` table (queryable).  A
participant who was shown any event of an order may read that order and the
events of it it was shown; a court may read the orders of its Member State's
authorities and of its Member State's hosting providers (Art. 9).
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import ColumnElement, or_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from perci_sim.storage.models import Event, EventAudience, Order, OrderLifecycle
from perci_sim.storage.registry import ParticipantInfo

__all__ = ["audience_clause", "can_see_order", "in_audience", "own_or_shown"]


def audience_clause(participant: ParticipantInfo) -> ColumnElement[bool]:
    """SQL: the event's seq is one ``participant`` was added to as a third party."""
    shown = select(EventAudience.event_seq).where(
        col(EventAudience.participant_id) == participant.id
    )
    return col(Event.seq).in_(shown)


def in_audience(participant: ParticipantInfo, audience: Sequence[str] | None) -> bool:
    """True when ``participant`` is in an event's ``data.visible_to`` list."""
    return bool(audience) and participant.id in (audience or ())


async def can_see_order(session: AsyncSession, order: Order, participant: ParticipantInfo) -> bool:
    """True when a third party may read (and answer) ``order``."""
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
    """``own`` events of the participant, or events it was shown as a third party."""
    return or_(own, audience_clause(participant))
