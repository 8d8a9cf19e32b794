"""TCO Art. 3(7): the force majeure has ended; a fresh hour starts (R6)."""

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

__all__ = ["record_grounds_ceased"]


async def record_grounds_ceased(
    *, ctx: BrokerContext, participant: ParticipantInfo, order_id: str, token: str
) -> DocumentResult:
    """Record the HSP's grounds-ceased notice; the hour runs again from its receipt."""

    async def handle(
        uow: UnitOfWork, order: Order, document: VerifiedDocument, now: datetime
    ) -> Event:
        return await restart_clock(
            uow,
            order,
            document,
            now,
            trigger=Trigger.GROUNDS_CEASED,
            kind="grounds_ceased_received",
            # The HSP's claim, kept verbatim; the broker's received_at restarts the clock.
            extra={"ceased_at": document.payload.get("ceased_at")},
        )

    return await accept_order_document(
        ctx,
        participant=participant,
        token=token,
        order_id=order_id,
        message_type="grounds_ceased",
        role="hsp",
        handle=handle,
    )
