"""The issuing authority withdraws its order; no deadline runs any more."""

from __future__ import annotations

from datetime import datetime

from perci_sim.crypto.verification import VerifiedDocument
from perci_sim.domain.states import Trigger
from perci_sim.services.context import BrokerContext
from perci_sim.services.documents import (
    DocumentResult,
    accept_order_document,
    apply_trigger,
    transition_data,
)
from perci_sim.services.unit_of_work import UnitOfWork
from perci_sim.storage.models import Event, Order
from perci_sim.storage.registry import ParticipantInfo

__all__ = ["withdraw"]


async def withdraw(
    *, ctx: BrokerContext, participant: ParticipantInfo, order_id: str, token: str
) -> DocumentResult:
    """Record the authority's signed withdrawal of an open order."""

    async def handle(
        uow: UnitOfWork, order: Order, document: VerifiedDocument, now: datetime
    ) -> Event:
        previous, transition = apply_trigger(order, Trigger.WITHDRAWAL)
        await uow.cancel_timers(order)
        order.suspended_reason = None
        return await uow.order_event(
            order,
            kind="withdrawal_received",
            actor=participant.id,
            received_at=now,
            document=document,
            data={
                **transition_data(previous, transition),
                "reason": document.payload.get("reason"),
            },
        )

    return await accept_order_document(
        ctx,
        participant=participant,
        token=token,
        order_id=order_id,
        message_type="withdrawal",
        role="authority",
        handle=handle,
    )
