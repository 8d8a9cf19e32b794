"""TCO Art. 10–11: the content provider's information, non-disclosure and complaints (R16).

* ``content_provider_information`` (HSP, Art. 11(1)–(2)): refused while a Section
  C non-disclosure is in force (Art. 11(3)); it makes the order visible to the
  content provider and, for a cross-border order, opens its 48 hours to
  request scrutiny (Art. 4(4)).
* ``nondisclosure_extension`` (issuing authority, Art. 11(3)): one extension of
  at most six weeks, decided before the non-disclosure expires.
* ``complaint`` (content provider, Art. 10(1)) and ``complaint_outcome`` (HSP,
  Art. 10(2): within two weeks, reasons when rejected, reinstatement recorded).
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import col, select

from perci_sim.crypto.verification import VerifiedDocument
from perci_sim.domain.obligations import (
    NondisclosureActive,
    NothingOpen,
    ObligationKind,
    check_nondisclosure_extension,
    due_at,
)
from perci_sim.domain.rules import parse_instant
from perci_sim.services.context import BrokerContext
from perci_sim.services.documents import DocumentResult
from perci_sim.services.errors import Forbidden, UnknownAddressee
from perci_sim.services.lifecycle_documents import (
    accept_lifecycle_document,
    require_lifecycle,
    stamp,
)
from perci_sim.services.obligations import find_open, meet_obligation, open_obligation
from perci_sim.services.unit_of_work import UnitOfWork
from perci_sim.storage.models import Event, Obligation, Order, Participant
from perci_sim.storage.registry import ParticipantInfo

__all__ = [
    "record_complaint",
    "record_complaint_outcome",
    "record_content_provider_information",
    "record_nondisclosure_extension",
]

K = ObligationKind


async def record_content_provider_information(
    *, ctx: BrokerContext, participant: ParticipantInfo, order_id: str, token: str
) -> DocumentResult:
    """R16, Art. 11: the HSP informs the content provider (never during non-disclosure)."""

    async def handle(uow: UnitOfWork, order: Order, doc: VerifiedDocument, now: datetime) -> Event:
        lifecycle = await require_lifecycle(uow, order)
        until = lifecycle.nondisclosure_until
        if until is not None and now < until:
            raise NondisclosureActive(
                "the issuing authority decided non-disclosure until "
                f"{stamp(until)}: the HSP may not inform the content provider (Art. 11(3))",
                nondisclosure_until=stamp(until),
            )
        provider_id = str(doc.payload.get("content_provider_id"))
        provider = await uow.session.get(Participant, provider_id)
        if provider is None or provider.role != "content_provider":
            raise UnknownAddressee(
                f"{provider_id!r} is not a registered content provider",
                errors=[{"field": "/content_provider_id", "message": "unknown content provider"}],
            )
        lifecycle.content_provider_id = provider_id
        lifecycle.informed_at = now
        uow.session.add(lifecycle)
        window_until = due_at(K.CP_SCRUTINY_REQUEST_WINDOW, now) if lifecycle.cross_border else None
        event = await uow.order_event(
            order,
            kind="content_provider_information_received",
            actor=participant.id,
            received_at=now,
            document=doc,
            data={
                "article": "Art. 11(1)",
                "content_provider_id": provider_id,
                "copy_of_order": doc.payload.get("copy_of_order") is True,
                "scrutiny_request_until": stamp(window_until),
            },
            audience=[provider_id],
        )
        for row in await find_open(uow.session, K.CONTENT_PROVIDER_INFORMATION, order_id=order_id):
            await meet_obligation(uow.session, row, now, seq=event.seq)
        if window_until is not None:
            # Art. 4(4): the content provider's 48 hours run from the Art. 11(2) information.
            open_obligation(
                uow,
                K.CP_SCRUTINY_REQUEST_WINDOW,
                owed_by=provider_id,
                opened_at=now,
                due_at=window_until,
                order_id=order_id,
                hsp_id=order.hsp_id,
            )
        return event

    return await accept_lifecycle_document(
        ctx,
        participant=participant,
        token=token,
        order_id=order_id,
        message_type="content_provider_information",
        roles=("hsp",),
        handle=handle,
    )


async def record_nondisclosure_extension(
    *, ctx: BrokerContext, participant: ParticipantInfo, order_id: str, token: str
) -> DocumentResult:
    """R16, Art. 11(3): one extension of at most six weeks, only before the expiry."""

    async def handle(uow: UnitOfWork, order: Order, doc: VerifiedDocument, now: datetime) -> Event:
        if participant.id != order.authority_id:
            raise Forbidden("only the issuing authority decides on non-disclosure (Art. 11(3))")
        lifecycle = await require_lifecycle(uow, order)
        current = lifecycle.nondisclosure_until
        if current is None:
            raise NothingOpen("the order carries no non-disclosure decision (Section C)")
        requested = parse_instant(str(doc.payload.get("nondisclosure_until")))
        check_nondisclosure_extension(
            current_until=current,
            requested=requested,
            now=now,
            extended_before=lifecycle.nondisclosure_extended,
        )
        lifecycle.nondisclosure_until = requested
        lifecycle.nondisclosure_extended = True
        uow.session.add(lifecycle)
        for row in await find_open(uow.session, K.NONDISCLOSURE, order_id=order_id):
            row.due_at = requested
            uow.session.add(row)
        return await uow.order_event(
            order,
            kind="nondisclosure_extension_received",
            actor=participant.id,
            received_at=now,
            document=doc,
            data={
                "article": "Art. 11(3)",
                "nondisclosure_until": stamp(requested),
                "previous_nondisclosure_until": stamp(current),
            },
        )

    return await accept_lifecycle_document(
        ctx,
        participant=participant,
        token=token,
        order_id=order_id,
        message_type="nondisclosure_extension",
        roles=("authority",),
        handle=handle,
    )


async def record_complaint(
    *, ctx: BrokerContext, participant: ParticipantInfo, order_id: str, token: str
) -> DocumentResult:
    """R16, Art. 10(1): the informed content provider complains to the HSP."""

    async def handle(uow: UnitOfWork, order: Order, doc: VerifiedDocument, now: datetime) -> Event:
        lifecycle = await require_lifecycle(uow, order)
        if lifecycle.content_provider_id != participant.id:
            raise NothingOpen("the HSP has not informed this content provider about the order")
        outcome_due = due_at(K.COMPLAINT_OUTCOME, now)
        event = await uow.order_event(
            order,
            kind="complaint_received",
            actor=participant.id,
            received_at=now,
            document=doc,
            data={"article": "Art. 10(1)", "outcome_due_at": stamp(outcome_due)},
            audience=[participant.id],
        )
        open_obligation(
            uow,
            K.COMPLAINT_OUTCOME,
            owed_by=order.hsp_id,
            opened_at=now,
            due_at=outcome_due,
            order_id=order_id,
            hsp_id=order.hsp_id,
            ref=event.event_id,
            data={"content_provider_id": participant.id},
        )
        return event

    return await accept_lifecycle_document(
        ctx,
        participant=participant,
        token=token,
        order_id=order_id,
        message_type="complaint",
        roles=("content_provider",),
        handle=handle,
    )


async def record_complaint_outcome(
    *, ctx: BrokerContext, participant: ParticipantInfo, order_id: str, token: str
) -> DocumentResult:
    """R16, Art. 10(2): the HSP's outcome (late after two weeks), with any reinstatement."""

    async def handle(uow: UnitOfWork, order: Order, doc: VerifiedDocument, now: datetime) -> Event:
        pending = (
            await uow.session.exec(
                select(Obligation)
                .where(
                    col(Obligation.kind) == K.COMPLAINT_OUTCOME.value,
                    col(Obligation.order_id) == order_id,
                    col(Obligation.status).in_(["open", "missed"]),
                )
                .order_by(col(Obligation.due_at))
            )
        ).all()
        unanswered = [row for row in pending if "answered_by_seq" not in row.data]
        if not unanswered:
            raise NothingOpen("no complaint about this order awaits an outcome (Art. 10)")
        row = unanswered[0]
        provider = str(row.data.get("content_provider_id"))
        event = await uow.order_event(
            order,
            kind="complaint_outcome_received",
            actor=participant.id,
            received_at=now,
            document=doc,
            data={
                "article": "Art. 10(2)",
                "complaint_id": row.ref,
                "outcome": doc.payload.get("outcome"),
                "reinstated": doc.payload.get("reinstated") is True,
                "late": now > row.due_at,
            },
            audience=[provider],
        )
        row.data = {**row.data, "answered_by_seq": event.seq}
        uow.session.add(row)
        if row.status == "open":
            await meet_obligation(uow.session, row, now, seq=event.seq)
        return event

    return await accept_lifecycle_document(
        ctx,
        participant=participant,
        token=token,
        order_id=order_id,
        message_type="complaint_outcome",
        roles=("hsp",),
        handle=handle,
    )
