"""TCO Art. 5(4)–(7): exposure decisions, the HSP's reports and reviews (R18).

The broker prompts the host authority when an HSP has two or more final orders
within twelve months (lifecycle_effects.py).  The authority of the HSP's host
Member State then records its ``exposure_decision`` (Art. 5(4)); the HSP's
``exposure_report`` is due within three months and yearly after that (Art.
5(5), ``exposure_report_late``); the HSP may ask for a ``review_request`` at any
time and the authority answers with a ``review_decision`` within three months
(Art. 5(7), ``review_decision_late``).  A decision is named by its event id (the
``event_id`` of the decision's receipt).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import structlog
from sqlmodel import col, select

from perci_sim.crypto.verification import VerifiedDocument, verify_document
from perci_sim.domain.obligations import (
    ExposureReviewRefused,
    NothingOpen,
    ObligationKind,
    Period,
    due_at,
)
from perci_sim.services.context import BrokerContext
from perci_sim.services.documents import DocumentResult, require_role
from perci_sim.services.errors import Forbidden, UnknownAddressee, WrongOrder
from perci_sim.services.lifecycle_documents import stamp
from perci_sim.services.lifecycle_effects import next_report
from perci_sim.services.obligations import (
    find_open,
    meet_obligation,
    open_obligation,
)
from perci_sim.services.unit_of_work import UnitOfWork, unit_of_work
from perci_sim.storage.models import Event, Obligation, Participant
from perci_sim.storage.registry import ParticipantInfo

__all__ = [
    "record_exposure_decision",
    "record_exposure_report",
    "record_review_decision",
    "record_review_request",
]

log = structlog.get_logger(__name__)
K = ObligationKind

_YEAR = Period(months=12)

DecisionHandler = Callable[[UnitOfWork, Event, VerifiedDocument, datetime], Awaitable[Event]]


async def record_exposure_decision(
    *, ctx: BrokerContext, participant: ParticipantInfo, token: str
) -> DocumentResult:
    """R18, Art. 5(4): the host authority decides that an HSP is exposed."""
    require_role(participant, "authority")
    doc = await verify_document(
        ctx.db, token=token, expected_type="exposure_decision", participant_id=participant.id
    )
    async with unit_of_work(ctx) as uow:
        original = await uow.find_replay(doc)
        if original is not None:
            return DocumentResult(receipt=original.receipt or "", order=None, replayed=True)
        hsp_id = str(doc.payload.get("hsp_id"))
        hsp = await uow.session.get(Participant, hsp_id)
        if hsp is None or hsp.role != "hsp":
            raise UnknownAddressee(
                f"{hsp_id!r} is not a registered hosting service provider",
                errors=[{"field": "/hsp_id", "message": "is not a registered HSP"}],
            )
        host_ms = hsp.legal_representative_member_state or hsp.member_state
        if participant.member_state != host_ms:
            raise Forbidden(
                f"only a competent authority of {hsp.id}'s host Member State ({host_ms}) "
                "takes an exposure decision (Art. 5(4))"
            )
        now = ctx.clock.now()
        report_due = due_at(K.EXPOSURE_REPORT, now)
        event = await uow.append(
            kind="exposure_decision_received",
            actor=participant.id,
            received_at=now,
            authority_id=participant.id,
            hsp_id=hsp.id,
            document=doc,
            data={"article": "Art. 5(4)", "hsp_id": hsp.id, "report_due_at": stamp(report_due)},
        )
        open_obligation(
            uow,
            K.EXPOSURE_REPORT,
            owed_by=hsp.id,
            opened_at=now,
            due_at=report_due,
            hsp_id=hsp.id,
            ref=event.event_id,
            data={"authority_id": participant.id, "sequence": 1},
        )
    log.info("exposure_decision_recorded", hsp_id=hsp_id, seq=event.seq)
    return DocumentResult(receipt=event.receipt or "", order=None, replayed=False)


async def _accept_decision_document(
    ctx: BrokerContext,
    *,
    participant: ParticipantInfo,
    token: str,
    decision_id: str,
    message_type: str,
    role: str,
    handle: DecisionHandler,
) -> DocumentResult:
    require_role(participant, role)
    doc = await verify_document(
        ctx.db, token=token, expected_type=message_type, participant_id=participant.id
    )
    if doc.payload.get("decision_id") != decision_id:
        raise WrongOrder(
            f"the document is about decision {doc.payload.get('decision_id')!r}, "
            f"but was posted to {decision_id!r}",
            errors=[{"field": "/decision_id", "message": f"must be {decision_id!r}"}],
        )
    async with unit_of_work(ctx) as uow:
        original = await uow.find_replay(doc)
        if original is not None:
            return DocumentResult(receipt=original.receipt or "", order=None, replayed=True)
        decision = (
            await uow.session.exec(
                select(Event).where(
                    col(Event.event_id) == decision_id,
                    col(Event.kind) == "exposure_decision_received",
                )
            )
        ).first()
        mine = decision is not None and participant.id in (decision.hsp_id, decision.authority_id)
        if decision is None or not mine:
            raise ExposureReviewRefused(
                f"no exposure decision {decision_id!r} for {participant.id}"
            )
        event = await handle(uow, decision, doc, ctx.clock.now())
    return DocumentResult(receipt=event.receipt or "", order=None, replayed=False)


def _decision_event(
    uow: UnitOfWork,
    decision: Event,
    *,
    kind: str,
    actor: str,
    doc: VerifiedDocument,
    now: datetime,
    data: dict[str, Any],
) -> Awaitable[Event]:
    return uow.append(
        kind=kind,
        actor=actor,
        received_at=now,
        authority_id=decision.authority_id,
        hsp_id=decision.hsp_id,
        document=doc,
        data={"decision_id": decision.event_id, "hsp_id": decision.hsp_id, **data},
    )


async def record_exposure_report(
    *, ctx: BrokerContext, participant: ParticipantInfo, decision_id: str, token: str
) -> DocumentResult:
    """R18, Art. 5(5): the exposed HSP reports on its specific measures."""

    async def handle(
        uow: UnitOfWork, decision: Event, doc: VerifiedDocument, now: datetime
    ) -> Event:
        if participant.id != decision.hsp_id:
            raise Forbidden("only the exposed HSP reports (Art. 5(5))")
        rows = await find_open(uow.session, K.EXPOSURE_REPORT, ref=decision.event_id)
        if not rows:
            raise NothingOpen("no report is due under this decision (revoked?)")
        row = rows[0]
        event = await _decision_event(
            uow,
            decision,
            kind="exposure_report_received",
            actor=participant.id,
            doc=doc,
            now=now,
            data={
                "article": "Art. 5(5)",
                "sequence": row.data.get("sequence", 1),
                "due_at": stamp(row.due_at),
                "next_report_due_at": stamp(due_at(K.EXPOSURE_REPORT, row.due_at, _YEAR)),
            },
        )
        await meet_obligation(uow.session, row, now, seq=event.seq)
        next_report(uow, row, now)
        return event

    return await _accept_decision_document(
        ctx,
        participant=participant,
        token=token,
        decision_id=decision_id,
        message_type="exposure_report",
        role="hsp",
        handle=handle,
    )


async def record_review_request(
    *, ctx: BrokerContext, participant: ParticipantInfo, decision_id: str, token: str
) -> DocumentResult:
    """R18, Art. 5(7): the HSP asks for a review; the decision is due within three months."""

    async def handle(
        uow: UnitOfWork, decision: Event, doc: VerifiedDocument, now: datetime
    ) -> Event:
        if participant.id != decision.hsp_id:
            raise Forbidden("only the exposed HSP requests a review (Art. 5(7))")
        decision_due = due_at(K.REVIEW_DECISION, now)
        event = await _decision_event(
            uow,
            decision,
            kind="review_request_received",
            actor=participant.id,
            doc=doc,
            now=now,
            data={"article": "Art. 5(7)", "decision_due_at": stamp(decision_due)},
        )
        open_obligation(
            uow,
            K.REVIEW_DECISION,
            owed_by=str(decision.authority_id),
            opened_at=now,
            due_at=decision_due,
            hsp_id=decision.hsp_id,
            ref=decision.event_id,
            data={"authority_id": decision.authority_id, "request_id": event.event_id},
        )
        return event

    return await _accept_decision_document(
        ctx,
        participant=participant,
        token=token,
        decision_id=decision_id,
        message_type="review_request",
        role="hsp",
        handle=handle,
    )


async def record_review_decision(
    *, ctx: BrokerContext, participant: ParticipantInfo, decision_id: str, token: str
) -> DocumentResult:
    """R18, Art. 5(7): the authority answers the HSP's review request."""

    async def handle(
        uow: UnitOfWork, decision: Event, doc: VerifiedDocument, now: datetime
    ) -> Event:
        if participant.id != decision.authority_id:
            raise Forbidden("only the deciding authority reviews its decision (Art. 5(7))")
        pending = (
            await uow.session.exec(
                select(Obligation)
                .where(
                    col(Obligation.kind) == K.REVIEW_DECISION.value,
                    col(Obligation.ref) == decision.event_id,
                    col(Obligation.status).in_(["open", "missed"]),
                )
                .order_by(col(Obligation.due_at))
            )
        ).all()
        unanswered = [row for row in pending if "answered_by_seq" not in row.data]
        if not unanswered:
            raise NothingOpen("no review request awaits a decision (Art. 5(7))")
        row = unanswered[0]
        outcome = str(doc.payload.get("outcome"))
        event = await _decision_event(
            uow,
            decision,
            kind="review_decision_received",
            actor=participant.id,
            doc=doc,
            now=now,
            data={
                "article": "Art. 5(7)",
                "outcome": outcome,
                "request_id": row.data.get("request_id"),
                "late": now > row.due_at,
            },
        )
        row.data = {**row.data, "answered_by_seq": event.seq}
        uow.session.add(row)
        if row.status == "open":
            await meet_obligation(uow.session, row, now, seq=event.seq)
        if outcome == "revoked":
            # No more reports are owed under a revoked decision.
            for report in await find_open(uow.session, K.EXPOSURE_REPORT, ref=decision.event_id):
                report.status = "cancelled"
                report.closed_at = now
                uow.session.add(report)
        return event

    return await _accept_decision_document(
        ctx,
        participant=participant,
        token=token,
        decision_id=decision_id,
        message_type="review_decision",
        role="authority",
        handle=handle,
    )
