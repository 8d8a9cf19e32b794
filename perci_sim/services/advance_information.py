"""TCO Art. 3(2): an authority's advance information to an HSP, before its first order."""

from __future__ import annotations

import structlog

from perci_sim.crypto.verification import verify_document
from perci_sim.domain.rules import ADVANCE_NOTICE
from perci_sim.services.context import BrokerContext
from perci_sim.services.documents import DocumentResult, require_role
from perci_sim.services.errors import UnknownAddressee
from perci_sim.services.unit_of_work import unit_of_work
from perci_sim.storage.log import iso_ms
from perci_sim.storage.models import Participant
from perci_sim.storage.registry import ParticipantInfo

__all__ = ["record_advance_information"]

log = structlog.get_logger(__name__)


async def record_advance_information(
    *, ctx: BrokerContext, participant: ParticipantInfo, token: str
) -> DocumentResult:
    """Record advance information; the HSP has it from the broker's ``received_at`` (R4)."""
    require_role(participant, "authority")
    document = await verify_document(
        ctx.db, token=token, expected_type="advance_information", participant_id=participant.id
    )
    recipient = str(document.payload["recipient"])
    async with unit_of_work(ctx) as uow:
        original = await uow.find_replay(document)
        if original is not None:
            return DocumentResult(receipt=original.receipt or "", order=None, replayed=True)
        hsp = await uow.session.get(Participant, recipient)
        if hsp is None or hsp.role != "hsp":
            raise UnknownAddressee(
                f"{recipient!r} is not a registered hosting service provider",
                errors=[{"field": "/recipient", "message": "is not a registered HSP"}],
            )
        now = ctx.clock.now()
        event = await uow.append(
            kind="advance_information_received",
            actor=participant.id,
            received_at=now,
            authority_id=participant.id,
            hsp_id=recipient,
            document=document,
            # TCO Art. 3(2): the first order may follow 12 hours later.
            data={"recipient": recipient, "first_order_not_before": iso_ms(now + ADVANCE_NOTICE)},
        )
    log.info("advance_information_recorded", recipient=recipient, seq=event.seq)
    return DocumentResult(receipt=event.receipt or "", order=None, replayed=False)
