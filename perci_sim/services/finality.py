"""TCO Art. 3(9): finality of an order, and the issuing authority's notice (R17).

An order becomes final when its Annex I Section G appeal deadline passes
without an appeal (the ``appeal_window`` obligation expires: see
lifecycle_effects.py), or when the issuing authority or a court records its
confirmation (``appeal_notice`` with ``kind: confirmed``).  An appeal lodged in
time (``kind: appeal_lodged``) stops finality by lapse.  Once final, the issuing
authority informs the host Member State's Art. 12(1)(c) authority
(``finality_notice``), else ``finality_notice_late``.
"""

from __future__ import annotations

from datetime import datetime

from perci_sim.crypto.verification import VerifiedDocument
from perci_sim.domain.obligations import NothingOpen, ObligationKind
from perci_sim.services.context import BrokerContext
from perci_sim.services.documents import DocumentResult
from perci_sim.services.errors import Forbidden
from perci_sim.services.lifecycle_documents import (
    accept_lifecycle_document,
    require_legal_effect,
    require_lifecycle,
    stamp,
)
from perci_sim.services.lifecycle_effects import make_final
from perci_sim.services.obligations import cancel_obligations, find_latest, meet_obligation
from perci_sim.services.unit_of_work import UnitOfWork
from perci_sim.storage.models import Event, Order
from perci_sim.storage.registry import ParticipantInfo

__all__ = ["record_appeal_notice", "record_finality_notice"]

K = ObligationKind


def _issuing_or_court(order: Order, participant: ParticipantInfo) -> None:
    if participant.role == "authority" and participant.id != order.authority_id:
        raise Forbidden("only the issuing authority or a court records an appeal's outcome")


async def record_appeal_notice(
    *, ctx: BrokerContext, participant: ParticipantInfo, order_id: str, token: str
) -> DocumentResult:
    """Art. 3(9): an appeal was lodged (no finality by lapse) or the order was confirmed."""

    async def handle(uow: UnitOfWork, order: Order, doc: VerifiedDocument, now: datetime) -> Event:
        _issuing_or_court(order, participant)
        lifecycle = await require_lifecycle(uow, order)
        require_legal_effect(order, "appeal_notice")
        if lifecycle.final_at is not None:
            raise NothingOpen(f"the order is already final since {stamp(lifecycle.final_at)}")
        kind = str(doc.payload.get("kind"))
        if kind == "appeal_lodged":
            lifecycle.appeal_lodged = True
            uow.session.add(lifecycle)
            await cancel_obligations(uow.session, order_id, now, kinds=(K.APPEAL_WINDOW,))
        host = lifecycle.host_authority_id
        event = await uow.order_event(
            order,
            kind="appeal_notice_received",
            actor=participant.id,
            received_at=now,
            document=doc,
            data={"article": "Art. 3(9)", "kind": kind},
            audience=[p for p in (participant.id, host) if p],
        )
        if kind == "confirmed":
            await make_final(uow, order, now, cause="confirmed")
        return event

    return await accept_lifecycle_document(
        ctx,
        participant=participant,
        token=token,
        order_id=order_id,
        message_type="appeal_notice",
        roles=("authority", "court"),
        handle=handle,
    )


async def record_finality_notice(
    *, ctx: BrokerContext, participant: ParticipantInfo, order_id: str, token: str
) -> DocumentResult:
    """R17, Art. 3(9): the issuing authority informs the host authority of a final order."""

    async def handle(uow: UnitOfWork, order: Order, doc: VerifiedDocument, now: datetime) -> Event:
        if participant.id != order.authority_id:
            raise Forbidden("only the issuing authority sends the Art. 3(9) notice")
        lifecycle = await require_lifecycle(uow, order)
        if lifecycle.final_at is None:
            raise NothingOpen("the order is not final yet (Art. 3(9))")
        due = await find_latest(uow.session, K.FINALITY_NOTICE, order_id=order_id)
        if due is not None and due.status == "met":
            raise NothingOpen("the finality notice was already sent")
        host = lifecycle.host_authority_id
        event = await uow.order_event(
            order,
            kind="finality_notice_received",
            actor=participant.id,
            received_at=now,
            document=doc,
            data={
                "article": "Art. 3(9)",
                "host_authority_id": host,
                "final_at": stamp(lifecycle.final_at),
                "late": due is not None and now > due.due_at,
            },
            audience=[host] if host else (),
        )
        if due is not None and due.status == "open":
            await meet_obligation(uow.session, due, now, seq=event.seq)
        return event

    return await accept_lifecycle_document(
        ctx,
        participant=participant,
        token=token,
        order_id=order_id,
        message_type="finality_notice",
        roles=("authority",),
        handle=handle,
    )
