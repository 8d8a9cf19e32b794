"""The document path of the lifecycle messages: several roles, third parties, helpers."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from perci_sim.domain.errors import IllegalTransition
from perci_sim.domain.states import OrderState
from perci_sim.services.context import BrokerContext
from perci_sim.services.documents import DocumentResult, OrderHandler, accept_order_document
from perci_sim.services.errors import Forbidden
from perci_sim.services.lifecycle_effects import LEGAL_EFFECT_STATES, lifecycle_of
from perci_sim.services.unit_of_work import UnitOfWork
from perci_sim.storage.log import iso_ms
from perci_sim.storage.models import Order, OrderLifecycle
from perci_sim.storage.registry import ParticipantInfo

__all__ = [
    "accept_lifecycle_document",
    "is_late",
    "require_legal_effect",
    "require_lifecycle",
    "stamp",
]


async def accept_lifecycle_document(
    ctx: BrokerContext,
    *,
    participant: ParticipantInfo,
    token: str,
    order_id: str,
    message_type: str,
    roles: Collection[str],
    handle: OrderHandler,
) -> DocumentResult:
    """Like :func:`accept_order_document`, for a message several roles may send."""
    if participant.role not in roles:
        raise Forbidden(
            f"a {message_type} is sent by {' or '.join(sorted(roles))}; "
            f"you are {participant.role!r}"
        )
    return await accept_order_document(
        ctx,
        participant=participant,
        token=token,
        order_id=order_id,
        message_type=message_type,
        role=participant.role,
        handle=handle,
    )


async def require_lifecycle(uow: UnitOfWork, order: Order) -> OrderLifecycle:
    """The order's lifecycle row (every order issued through the broker has one)."""
    lifecycle = await lifecycle_of(uow.session, order.order_id)
    if lifecycle is None:  # pragma: no cover - written with the order
        raise Forbidden("this order has no lifecycle record")
    return lifecycle


def require_legal_effect(order: Order, message: str) -> None:
    """Refuse ``message`` for an order without legal effect (withdrawn, annulled...)."""
    if OrderState(order.state) not in LEGAL_EFFECT_STATES:
        raise IllegalTransition(order.state, message)


def is_late(due_at: datetime, now: datetime) -> bool:
    """True when an answer at ``now`` comes after ``due_at``."""
    return now > due_at


def stamp(at: datetime | None) -> str | None:
    """An instant as the log writes it, or None."""
    return iso_ms(at) if at is not None else None
