"""TCO Art. 14(5): an HSP reports terrorist content involving an imminent threat to life (R21).

Routing (:func:`perci_sim.domain.deconfliction.route_imminent_threat`): the
authorities of the Member States the HSP names; when it names none, the
authorities (Art. 12(2) contact points) of the HSP's own Member State **and**
Europol; a named Member State without a registered authority is covered by Europol.

Delivery evidence, per recipient, all in the report's one transaction:

* the HSP gets the broker's signed receipt for its report (event
  ``imminent_threat_report_received``, whose ``data.routed_to`` lists the recipients);
* each recipient gets its own ``imminent_threat_delivered`` event, carrying the
  report's JWS, on its feed (``/v1/events``, ``/v1/feed``).  The HSP sees the same
  event: that is the per-recipient delivery record, timestamped when the report
  became available to the recipient (as an order is received when it reaches the
  HSP's contact point, R3/R22);
* a recipient confirms with a signed ``imminent_threat_acknowledgement``; the HSP
  sees ``imminent_threat_acknowledgement_received`` and, in the report's view, per
  recipient ``delivered_at`` and ``acknowledged_at``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import structlog
from sqlalchemy import ColumnElement, false, true
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from perci_sim.crypto.verification import verify_document
from perci_sim.domain.deconfliction import ThreatAddressee, route_imminent_threat
from perci_sim.domain.errors import IllegalTransition
from perci_sim.services.audience import reads_everything
from perci_sim.services.context import BrokerContext
from perci_sim.services.deconfliction import (
    ISSUER_ROLES,
    item_history,
    link_event,
    linked_item,
    require_issuer,
)
from perci_sim.services.documents import require_role
from perci_sim.services.errors import NotFound, WrongOrder
from perci_sim.services.queries import MAX_LIMIT
from perci_sim.services.unit_of_work import unit_of_work
from perci_sim.storage.db import Database
from perci_sim.storage.log import iso_ms
from perci_sim.storage.models import (
    Participant,
    ThreatDelivery,
    ThreatReport,
)
from perci_sim.storage.registry import ParticipantInfo

__all__ = [
    "ARTICLE",
    "ThreatResult",
    "acknowledge_threat",
    "get_threat",
    "list_threats",
    "report_threat",
    "threat_history",
]

log = structlog.get_logger(__name__)

ARTICLE = "Art. 14(5)"


@dataclass(frozen=True, slots=True, kw_only=True)
class ThreatResult:
    """An accepted (or replayed) document: the report's view and the broker's receipt."""

    report: dict[str, Any]
    receipt: str
    replayed: bool


def _recipient_view(delivery: ThreatDelivery) -> dict[str, Any]:
    return {
        "participant_id": delivery.recipient_id,
        "member_state": delivery.member_state,
        "reason": delivery.reason,
        "delivered_at": iso_ms(delivery.delivered_at),
        "delivery_seq": delivery.delivery_seq,
        "acknowledged_at": iso_ms(delivery.acknowledged_at) if delivery.acknowledged_at else None,
        "acknowledgement_seq": delivery.acknowledgement_seq,
    }


def threat_view(report: ThreatReport, deliveries: list[ThreatDelivery]) -> dict[str, Any]:
    """Render a report and its per-recipient delivery records (ThreatReportView)."""
    return {
        "report_id": report.report_id,
        "hsp_id": report.hsp_id,
        "member_states": list(report.member_states),
        "unreachable_member_states": list(report.unreachable),
        "received_at": iso_ms(report.received_at),
        "recipients": [_recipient_view(d) for d in deliveries],
        "document": report.document,
    }


async def _deliveries(session: AsyncSession, report_id: str) -> list[ThreatDelivery]:
    rows = (
        await session.exec(
            select(ThreatDelivery)
            .where(col(ThreatDelivery.report_id) == report_id)
            .order_by(col(ThreatDelivery.id))
        )
    ).all()
    return list(rows)


async def report_threat(
    *, ctx: BrokerContext, participant: ParticipantInfo, token: str
) -> ThreatResult:
    """R21: record an HSP's Art. 14(5) report and deliver it to every recipient at once."""
    require_role(participant, "hsp")
    document = await verify_document(
        ctx.db, token=token, expected_type="imminent_threat_report", participant_id=participant.id
    )
    payload = document.payload
    named = [str(m) for m in payload.get("member_states", [])]
    async with unit_of_work(ctx) as uow:
        session = uow.session
        original = await uow.find_replay(document)
        if original is not None:
            earlier = await session.get(ThreatReport, await linked_item(uow, "threat", original))
            if earlier is None:  # pragma: no cover - recorded in one transaction
                raise NotFound("the report of the original document is missing")
            return ThreatResult(
                report=threat_view(earlier, await _deliveries(session, earlier.report_id)),
                receipt=original.receipt or "",
                replayed=True,
            )
        candidates = (
            await session.exec(select(Participant).where(col(Participant.role).in_(ISSUER_ROLES)))
        ).all()
        recipients, unreachable = route_imminent_threat(
            named_member_states=named,
            host_member_state=participant.host_member_state,
            addressees=[ThreatAddressee(p.id, p.role, p.member_state) for p in candidates],
        )
        now = ctx.clock.now()
        report = ThreatReport(
            report_id=str(uuid.uuid4()),
            hsp_id=participant.id,
            member_states=named,
            unreachable=unreachable,
            document=token,
            document_sha256=document.document_sha256,
            received_at=now,
        )
        session.add(report)
        routed = [
            {"participant_id": r.participant_id, "member_state": r.member_state, "reason": r.reason}
            for r in recipients
        ]
        received = await uow.append(
            kind="imminent_threat_report_received",
            actor=participant.id,
            received_at=now,
            hsp_id=participant.id,
            document=document,
            data={
                "article": ARTICLE,
                "rule": "R21",
                "report_id": report.report_id,
                "member_states": named,
                "routed_to": [r.participant_id for r in recipients],
                "recipients": routed,
                "unreachable_member_states": unreachable,
                "host_member_state": participant.host_member_state,
            },
        )
        await link_event(uow, "threat", report.report_id, received)
        urls = [str(item.get("url")) for item in payload.get("content", [])]
        deliveries: list[ThreatDelivery] = []
        for recipient in recipients:
            # The recipient's copy: available on its feed now (its delivery record).
            delivered = await uow.append(
                kind="imminent_threat_delivered",
                actor="broker",
                received_at=now,
                authority_id=recipient.participant_id,
                hsp_id=participant.id,
                data={
                    "article": ARTICLE,
                    "rule": "R21",
                    "report_id": report.report_id,
                    "recipient": recipient.participant_id,
                    "member_state": recipient.member_state,
                    "reason": recipient.reason.value,
                    "reported_by": participant.id,
                    "member_states": named,
                    "urls": urls,
                    "threat_description": payload.get("threat_description"),
                    "report_sha256": document.document_sha256,
                    "report_jws": token,
                },
            )
            await link_event(uow, "threat", report.report_id, delivered)
            assert delivered.seq is not None
            delivery = ThreatDelivery(
                report_id=report.report_id,
                recipient_id=recipient.participant_id,
                member_state=recipient.member_state,
                reason=recipient.reason.value,
                delivered_at=now,
                delivery_seq=delivered.seq,
            )
            session.add(delivery)
            deliveries.append(delivery)
    log.info(
        "imminent_threat_reported",
        report_id=report.report_id,
        recipients=[r.participant_id for r in recipients],
    )
    return ThreatResult(
        report=threat_view(report, deliveries), receipt=received.receipt or "", replayed=False
    )


async def acknowledge_threat(
    *, ctx: BrokerContext, participant: ParticipantInfo, report_id: str, token: str
) -> ThreatResult:
    """A recipient confirms it received a report; the reporting HSP sees it (R21)."""
    require_issuer(participant)
    document = await verify_document(
        ctx.db,
        token=token,
        expected_type="imminent_threat_acknowledgement",
        participant_id=participant.id,
    )
    if document.payload.get("report_id") != report_id:
        raise WrongOrder(
            f"the document is about report {document.payload.get('report_id')!r}, "
            f"but was posted to report {report_id!r}",
            errors=[{"field": "/report_id", "message": f"must be {report_id!r}"}],
        )
    async with unit_of_work(ctx) as uow:
        session = uow.session
        original = await uow.find_replay(document)
        report = await session.get(ThreatReport, report_id)
        delivery = (
            await session.exec(
                select(ThreatDelivery).where(
                    col(ThreatDelivery.report_id) == report_id,
                    col(ThreatDelivery.recipient_id) == participant.id,
                )
            )
        ).first()
        if report is None or delivery is None:
            raise NotFound(f"no imminent-threat report {report_id!r} for {participant.id!r}")
        if original is not None:
            return ThreatResult(
                report=threat_view(report, await _deliveries(session, report_id)),
                receipt=original.receipt or "",
                replayed=True,
            )
        if delivery.acknowledged_at is not None:
            raise IllegalTransition("acknowledged", "imminent_threat_acknowledgement")
        now = ctx.clock.now()
        event = await uow.append(
            kind="imminent_threat_acknowledgement_received",
            actor=participant.id,
            received_at=now,
            authority_id=participant.id,
            hsp_id=report.hsp_id,
            document=document,
            data={
                "article": ARTICLE,
                "rule": "R21",
                "report_id": report_id,
                "recipient": participant.id,
                "delivered_at": iso_ms(delivery.delivered_at),
                "note": document.payload.get("note"),
            },
        )
        await link_event(uow, "threat", report_id, event)
        assert event.seq is not None
        delivery.acknowledged_at = now
        delivery.acknowledgement_seq = event.seq
        session.add(delivery)
        await session.flush()
        view = threat_view(report, await _deliveries(session, report_id))
    log.info("imminent_threat_acknowledged", report_id=report_id, recipient=participant.id)
    return ThreatResult(report=view, receipt=event.receipt or "", replayed=False)


def _visible_reports(participant: ParticipantInfo) -> ColumnElement[bool]:
    if reads_everything(participant):  # a drill facilitator (read-only)
        return true()
    if participant.role == "hsp":
        return col(ThreatReport.hsp_id) == participant.id
    if participant.role in ISSUER_ROLES:
        delivered = select(ThreatDelivery.report_id).where(
            col(ThreatDelivery.recipient_id) == participant.id
        )
        return col(ThreatReport.report_id).in_(delivered)
    return false()


async def list_threats(
    db: Database, participant: ParticipantInfo, *, limit: int = 100, offset: int = 0
) -> list[dict[str, Any]]:
    """Reports the HSP sent, or the authority (Europol) received; newest first."""
    async with db.read() as session:
        rows = (
            await session.exec(
                select(ThreatReport)
                .where(_visible_reports(participant))
                .order_by(col(ThreatReport.received_at).desc(), col(ThreatReport.report_id))
                .limit(min(limit, MAX_LIMIT))
                .offset(offset)
            )
        ).all()
        return [threat_view(r, await _deliveries(session, r.report_id)) for r in rows]


async def get_threat(db: Database, participant: ParticipantInfo, report_id: str) -> dict[str, Any]:
    """One report the participant sent or received (``not_found`` otherwise)."""
    async with db.read() as session:
        report = (
            await session.exec(
                select(ThreatReport).where(
                    col(ThreatReport.report_id) == report_id, _visible_reports(participant)
                )
            )
        ).first()
        if report is None:
            raise NotFound(f"no imminent-threat report {report_id!r} for {participant.id!r}")
        return threat_view(report, await _deliveries(session, report_id))


async def threat_history(
    db: Database, participant: ParticipantInfo, report_id: str
) -> list[dict[str, Any]]:
    """The report's events the participant may see (the HSP: all; a recipient: its own)."""
    await get_threat(db, participant, report_id)
    return await item_history(db, participant, "threat", report_id)
