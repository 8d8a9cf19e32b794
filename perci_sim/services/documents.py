"""The path every signed order document takes: verify, idempotency, party check, transition."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from perci_sim.crypto.verification import VerifiedDocument, verify_document
from perci_sim.domain.states import OrderState, Transition, Trigger, next_state
from perci_sim.services.audience import can_see_order
from perci_sim.services.context import BrokerContext
from perci_sim.services.errors import Forbidden, NotFound, WrongOrder
from perci_sim.services.lifecycle_effects import keep_lifecycle
from perci_sim.services.unit_of_work import UnitOfWork, unit_of_work
from perci_sim.services.views import order_view
from perci_sim.storage.models import Event, Order, OrderLifecycle
from perci_sim.storage.registry import ParticipantInfo

__all__ = [
    "DocumentResult",
    "OrderHandler",
    "accept_order_document",
    "apply_trigger",
    "is_party",
    "load_order",
    "require_role",
]

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class DocumentResult:
    """What the broker answers to an accepted (or replayed) document."""

    receipt: str
    #: The OrderView after the change (None for advance information).
    order: dict[str, Any] | None
    #: True when this was a resend of a document already accepted: nothing was stored.
    replayed: bool


#: Records the document's event and applies its effect; returns the document's event.
OrderHandler = Callable[[UnitOfWork, Order, VerifiedDocument, datetime], Awaitable[Event]]


def require_role(participant: ParticipantInfo, role: str) -> None:
    """Refuse a participant whose role may not send this document."""
    if participant.role != role:
        raise Forbidden(f"only an {role} participant may do this; you are {participant.role!r}")


def is_party(order: Order, participant: ParticipantInfo) -> bool:
    """True when ``participant`` issued the order or is its addressee."""
    if participant.role == "authority":
        return order.authority_id == participant.id
    if participant.role == "hsp":
        return order.hsp_id == participant.id
    return False


async def load_order(session: AsyncSession, order_id: str, participant: ParticipantInfo) -> Order:
    """Return the order if ``participant`` is a party to it, or a third party it was
    shown to (services/audience.py); otherwise ``not_found``."""
    order = await session.get(Order, order_id)
    if order is None or not (
        is_party(order, participant) or await can_see_order(session, order, participant)
    ):
        raise NotFound(f"no order {order_id!r} for {participant.id!r}")
    return order


async def _load_with_lifecycle(
    session: AsyncSession, order_id: str, participant: ParticipantInfo
) -> Order:
    """:func:`load_order`, reading the order's lifecycle row in the same statement."""
    row = (
        await session.exec(
            select(Order, OrderLifecycle)
            .outerjoin(OrderLifecycle, col(OrderLifecycle.order_id) == col(Order.order_id))
            .where(col(Order.order_id) == order_id)
        )
    ).first()
    if row is not None and row[1] is not None:
        keep_lifecycle(session, row[1])
    return await load_order(session, order_id, participant)


def apply_trigger(order: Order, trigger: Trigger) -> tuple[str, Transition]:
    """Move the order's projection by the domain table; return the previous state."""
    previous = order.state
    transition = next_state(OrderState(order.state), trigger)
    order.state = transition.to.value
    return previous, transition


def transition_data(previous: str, transition: Transition) -> dict[str, Any]:
    """Event data that records a state change and the article allowing it."""
    return {"from_state": previous, "state": transition.to.value, "article": transition.article}


async def accept_order_document(
    ctx: BrokerContext,
    *,
    participant: ParticipantInfo,
    token: str,
    order_id: str,
    message_type: str,
    role: str,
    handle: OrderHandler,
    with_lifecycle: bool = False,
) -> DocumentResult:
    """Verify a signed document about ``order_id`` and apply it in one transaction.

    ``with_lifecycle``: ``handle`` needs the order's lifecycle row (read with the order).
    """
    require_role(participant, role)
    document = await verify_document(
        ctx.db, token=token, expected_type=message_type, participant_id=participant.id
    )
    named = document.payload.get("order_id")
    if named != order_id:
        raise WrongOrder(
            f"the document is about order {named!r}, but was posted to order {order_id!r}",
            errors=[{"field": "/order_id", "message": f"must be {order_id!r}"}],
        )
    structlog.contextvars.bind_contextvars(order_id=order_id)
    async with unit_of_work(ctx) as uow:
        original = await uow.find_replay(document)
        load = _load_with_lifecycle if with_lifecycle else load_order
        order = await load(uow.session, order_id, participant)
        if original is not None:
            log.info("document_replayed", message_type=message_type, seq=original.seq)
            return DocumentResult(
                receipt=original.receipt or "", order=order_view(order), replayed=True
            )
        # R1: the broker's own time, taken under the write lock so the log's
        # received_at never goes backwards along the chain.
        now = ctx.clock.now()
        # A deadline already due fires first, even if its wake-up is late (R8).
        # Imported here: fire_timers builds on this module (a cycle at import time).
        from perci_sim.services.fire_timers import catch_up_order

        await catch_up_order(uow, order_id, now, order=order)
        # Set before the handler so the row is updated once, with its transition (at
        # the next flush: commit, or a query of the handler), not once more later.
        order.updated_at = now
        order.version += 1
        event = await handle(uow, order, document, now)
        uow.session.add(order)
    log.info(
        "document_accepted",
        message_type=message_type,
        seq=event.seq,
        state=order.state,
        sender=participant.id,
    )
    return DocumentResult(receipt=event.receipt or "", order=order_view(order), replayed=False)
