"""The HSP acknowledges an order it received; the clock is unchanged (Art. 3(5))."""

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
from perci_sim.services.errors import WrongOrder
from perci_sim.services.unit_of_work import UnitOfWork
from perci_sim.storage.models import Event, Order
from perci_sim.storage.registry import ParticipantInfo

__all__ = ["acknowledge"]


async def acknowledge(
    *, ctx: BrokerContext, participant: ParticipantInfo, order_id: str, token: str
) -> DocumentResult:
    """Record the HSP's signed acknowledgement of the order JWS it received."""

    async def handle(
        uow: UnitOfWork, order: Order, document: VerifiedDocument, now: datetime
    ) -> Event:
        if document.payload.get("order_sha256") != order.document_sha256:
            raise WrongOrder(
                "order_sha256 is not the hash of the order document the broker delivered",
                errors=[{"field": "/order_sha256", "message": "must be " + order.document_sha256}],
            )
        previous, transition = apply_trigger(order, Trigger.ACKNOWLEDGEMENT)
        if order.acknowledged_at is None:
            order.acknowledged_at = now
        return await uow.order_event(
            order,
            kind="acknowledgement_received",
            actor=participant.id,
            received_at=now,
            document=document,
            data=transition_data(previous, transition),
        )

    return await accept_order_document(
        ctx,
        participant=participant,
        token=token,
        order_id=order_id,
        message_type="acknowledgement",
        role="hsp",
        handle=handle,
    )
