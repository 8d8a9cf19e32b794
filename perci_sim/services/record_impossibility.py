"""Annex III (TCO Art. 3(7), 3(8)): the HSP cannot execute the order; the clock stops."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from perci_sim.crypto.verification import VerifiedDocument
from perci_sim.domain.rules import check_receipt_time, impossibility_trigger
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

__all__ = ["record_impossibility"]


async def record_impossibility(
    *, ctx: BrokerContext, participant: ParticipantInfo, order_id: str, token: str
) -> DocumentResult:
    """Record an Annex III; the order is suspended until grounds cease or clarification (R6, R7)."""

    async def handle(
        uow: UnitOfWork, order: Order, document: VerifiedDocument, now: datetime
    ) -> Event:
        section_a = document.payload.get("section_a")
        section_b = document.payload.get("section_b")
        stated = section_a.get("order_received_at") if isinstance(section_a, dict) else None
        # R9, TCO Art. 3(5): the stated receipt is the broker's record.
        check_receipt_time(str(stated), order.received_at)
        reasons: list[str] = (
            list(section_b.get("reasons", [])) if isinstance(section_b, dict) else []
        )
        previous, transition = apply_trigger(order, impossibility_trigger(reasons))
        # TCO Art. 3(7)/(8): the deadline stops; a fresh hour starts later.
        await uow.cancel_timers(order)
        order.deadline_at = None
        order.suspended_reason = ",".join(reasons)
        data: dict[str, Any] = {**transition_data(previous, transition), "reasons": reasons}
        return await uow.order_event(
            order,
            kind="impossibility_received",
            actor=participant.id,
            received_at=now,
            document=document,
            data=data,
        )

    return await accept_order_document(
        ctx,
        participant=participant,
        token=token,
        order_id=order_id,
        message_type="impossibility",
        role="hsp",
        handle=handle,
    )
