"""TCO Art. 9: a court annuls an order (or an Art. 4/5 decision upholding it).

Modelled as an external "annulled" event (TCO.md §1, Art. 9): posted by a
``court`` participant of the issuing or host Member State, or by a competent
authority that can see the order.  It has the consequences of an infringement
decision: the order ceases to have legal effect and the HSP owes reinstatement
(Art. 4(7) by analogy; ``breach_4_7`` when late).
"""

from __future__ import annotations

from datetime import datetime

from perci_sim.crypto.verification import VerifiedDocument
from perci_sim.domain.states import Trigger
from perci_sim.services.context import BrokerContext
from perci_sim.services.documents import DocumentResult
from perci_sim.services.lifecycle_documents import (
    accept_lifecycle_document,
    require_legal_effect,
    require_lifecycle,
)
from perci_sim.services.lifecycle_effects import end_legal_effect, europol_ids
from perci_sim.services.unit_of_work import UnitOfWork
from perci_sim.storage.models import Event, Order
from perci_sim.storage.registry import ParticipantInfo

__all__ = ["record_court_annulment"]


async def record_court_annulment(
    *, ctx: BrokerContext, participant: ParticipantInfo, order_id: str, token: str
) -> DocumentResult:
    """Record an Art. 9 annulment and end the order's legal effect."""

    async def handle(uow: UnitOfWork, order: Order, doc: VerifiedDocument, now: datetime) -> Event:
        lifecycle = await require_lifecycle(uow, order)
        require_legal_effect(order, "court_annulment")
        audience = [
            p
            for p in (participant.id, lifecycle.host_authority_id, lifecycle.content_provider_id)
            if p
        ]
        audience += await europol_ids(uow.session)
        event = await uow.order_event(
            order,
            kind="court_annulment_received",
            actor=participant.id,
            received_at=now,
            document=doc,
            data={
                "article": "Art. 9",
                "target": doc.payload.get("target"),
                "court": doc.payload.get("court"),
                "judgment_reference": doc.payload.get("judgment_reference"),
            },
            audience=audience,
        )
        await end_legal_effect(
            uow,
            order,
            now,
            trigger=Trigger.COURT_ANNULMENT,
            cause="court_annulment",
            audience=audience,
            data={"annulment_seq": event.seq},
        )
        return event

    return await accept_lifecycle_document(
        ctx,
        participant=participant,
        token=token,
        order_id=order_id,
        message_type="court_annulment",
        roles=("court", "authority"),
        handle=handle,
    )
