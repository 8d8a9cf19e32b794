"""TCO Art. 3(8): the authority clarifies its order; a fresh hour starts (R7)."""

from __future__ import annotations

from datetime import datetime

from perci_sim.crypto.verification import VerifiedDocument
from perci_sim.domain.states import Trigger
from perci_sim.services.context import BrokerContext
from perci_sim.services.documents import DocumentResult, accept_order_document
from perci_sim.services.restart_clock import restart_clock
from perci_sim.services.unit_of_work import UnitOfWork
from perci_sim.storage.models import Event, Order
from perci_sim.storage.registry import ParticipantInfo

__all__ = ["record_clarification"]


async def record_clarification(
    *, ctx: BrokerContext, participant: ParticipantInfo, order_id: str, token: str
) -> DocumentResult:
    """Record the authority's clarification; the HSP's hour runs again from its receipt."""

    async def handle(
        uow: UnitOfWork, order: Order, document: VerifiedDocument, now: datetime
    ) -> Event:
        return await restart_clock(
            uow,
            order,
            document,
            now,
            trigger=Trigger.CLARIFICATION,
            kind="clarification_received",
            extra={"amended_content": "amended_content" in document.payload},
        )

    return await accept_order_document(
        ctx,
        participant=participant,
        token=token,
        order_id=order_id,
        message_type="clarification",
        role="authority",
        handle=handle,
    )
