"""TCO Art. 4: scrutiny of cross-border orders by the host Member State (R11–R13).

* ``scrutiny_request`` (HSP or content provider, Art. 4(4)): within 48 hours of
  the HSP's receipt of the order, or of the content provider's Art. 11(2)
  information; the host authority's decision is then due within 72 hours
  (``scrutiny_decision_late`` otherwise).
* ``scrutiny_prenotice`` (host authority, Art. 4(5)): the intention to find an
  infringement, told to the issuing authority first (R12).
* ``scrutiny_decision`` (host authority, Art. 4(3)/(4)): on its own initiative
  within 72 hours of the copy, or answering a request.  An infringement fans out
  to the issuing authority, the HSP, the requesting content provider and Europol,
  ends the order's legal effect and opens the Art. 4(7) reinstatement (R13).
* ``reinstatement`` (HSP, Art. 4(7)): meets that obligation.
"""

from __future__ import annotations

from datetime import datetime

import structlog
from sqlmodel import col, select

from perci_sim.crypto.verification import VerifiedDocument
from perci_sim.domain.obligations import (
    NotCrossBorder,
    NothingOpen,
    ObligationKind,
    ScrutinyPrenoticeRequired,
    ScrutinyRequestWindowClosed,
    ScrutinyWindowClosed,
    due_at,
)
from perci_sim.domain.states import Trigger
from perci_sim.services.context import BrokerContext
from perci_sim.services.documents import DocumentResult, apply_trigger, transition_data
from perci_sim.services.errors import Forbidden
from perci_sim.services.lifecycle_documents import (
    accept_lifecycle_document,
    require_legal_effect,
    require_lifecycle,
    stamp,
)
from perci_sim.services.lifecycle_effects import end_legal_effect, europol_ids
from perci_sim.services.obligations import (
    find_latest,
    find_open,
    meet_obligation,
    open_obligation,
)
from perci_sim.services.unit_of_work import UnitOfWork
from perci_sim.storage.models import Event, Obligation, Order, OrderLifecycle
from perci_sim.storage.registry import ParticipantInfo

__all__ = [
    "record_reinstatement",
    "record_scrutiny_decision",
    "record_scrutiny_prenotice",
    "record_scrutiny_request",
]

log = structlog.get_logger(__name__)
K = ObligationKind


def _host_only(lifecycle: OrderLifecycle, participant: ParticipantInfo) -> None:
    if not lifecycle.cross_border:
        raise NotCrossBorder("the order was issued in the HSP's host Member State (Art. 4(1))")
    if participant.id != lifecycle.host_authority_id:
        raise Forbidden(
            "only the competent authority of the host Member State "
            f"({lifecycle.host_member_state}) scrutinises this order (Art. 4(3))"
        )


async def record_scrutiny_request(
    *, ctx: BrokerContext, participant: ParticipantInfo, order_id: str, token: str
) -> DocumentResult:
    """R11, Art. 4(4): the HSP or the content provider asks the host authority to scrutinise."""

    async def handle(uow: UnitOfWork, order: Order, doc: VerifiedDocument, now: datetime) -> Event:
        lifecycle = await require_lifecycle(uow, order)
        if not lifecycle.cross_border:
            raise NotCrossBorder("only a cross-border order can be scrutinised (Art. 4(4))")
        require_legal_effect(order, "scrutiny_request")
        if participant.role == "hsp":
            window = await find_latest(
                uow.session, K.HSP_SCRUTINY_REQUEST_WINDOW, order_id=order_id
            )
            opened_by = "the HSP's receipt of the order"
        else:
            window = await find_latest(
                uow.session, K.CP_SCRUTINY_REQUEST_WINDOW, order_id=order_id, owed_by=participant.id
            )
            opened_by = "the Art. 11(2) information to the content provider"
        if window is None:
            raise ScrutinyRequestWindowClosed(
                "the 48 hours to request scrutiny run from the Art. 11(2) information, which "
                "this content provider has not received (Art. 4(4), 11(3))"
            )
        if window.status == "met":
            raise ScrutinyRequestWindowClosed("scrutiny was already requested by this party")
        if now > window.due_at:
            raise ScrutinyRequestWindowClosed(
                f"a reasoned request is accepted within 48 hours of {opened_by}; the window "
                f"closed at {stamp(window.due_at)} (Art. 4(4))",
                closed_at=stamp(window.due_at),
            )
        host = lifecycle.host_authority_id
        decision_due = due_at(K.SCRUTINY_DECISION, now)
        event = await uow.order_event(
            order,
            kind="scrutiny_request_received",
            actor=participant.id,
            received_at=now,
            document=doc,
            data={
                "article": "Art. 4(4)",
                "requester_role": participant.role,
                "requester_id": participant.id,
                "decision_due_at": stamp(decision_due),
            },
            audience=[p for p in (host, participant.id) if p],
        )
        await meet_obligation(uow.session, window, now, seq=event.seq)
        if host is not None:
            open_obligation(
                uow,
                K.SCRUTINY_DECISION,
                owed_by=host,
                opened_at=now,
                due_at=decision_due,
                order_id=order_id,
                hsp_id=order.hsp_id,
                ref=event.event_id,
                data={"requester_id": participant.id, "requester_role": participant.role},
            )
        return event

    return await accept_lifecycle_document(
        ctx,
        participant=participant,
        token=token,
        order_id=order_id,
        message_type="scrutiny_request",
        roles=("hsp", "content_provider"),
        handle=handle,
    )


async def _scrutiny_open(uow: UnitOfWork, order: Order, now: datetime) -> bool:
    own = await find_latest(uow.session, K.OWN_SCRUTINY_WINDOW, order_id=order.order_id)
    if own is not None and own.status != "met" and now <= own.due_at:
        return True
    return bool(await find_open(uow.session, K.SCRUTINY_DECISION, order_id=order.order_id))


async def record_scrutiny_prenotice(
    *, ctx: BrokerContext, participant: ParticipantInfo, order_id: str, token: str
) -> DocumentResult:
    """R12, Art. 4(5): the host authority tells the issuing authority what it intends."""

    async def handle(uow: UnitOfWork, order: Order, doc: VerifiedDocument, now: datetime) -> Event:
        lifecycle = await require_lifecycle(uow, order)
        _host_only(lifecycle, participant)
        require_legal_effect(order, "scrutiny_prenotice")
        if not await _scrutiny_open(uow, order, now):
            raise ScrutinyWindowClosed(
                "no scrutiny is open: the 72 hours after the copy have passed and no "
                "request awaits a decision (Art. 4(3), 4(4))"
            )
        lifecycle.prenotice_at = now
        uow.session.add(lifecycle)
        return await uow.order_event(
            order,
            kind="scrutiny_prenotice_received",
            actor=participant.id,
            received_at=now,
            document=doc,
            data={"article": "Art. 4(5)", "intention": doc.payload.get("intention")},
            audience=[participant.id],
        )

    return await accept_lifecycle_document(
        ctx,
        participant=participant,
        token=token,
        order_id=order_id,
        message_type="scrutiny_prenotice",
        roles=("authority",),
        handle=handle,
    )


async def record_scrutiny_decision(
    *, ctx: BrokerContext, participant: ParticipantInfo, order_id: str, token: str
) -> DocumentResult:
    """R11–R13, Art. 4(3)/(4)/(6): the host authority's reasoned decision."""

    async def handle(uow: UnitOfWork, order: Order, doc: VerifiedDocument, now: datetime) -> Event:
        session = uow.session
        lifecycle = await require_lifecycle(uow, order)
        _host_only(lifecycle, participant)
        require_legal_effect(order, "scrutiny_decision")
        outcome = str(doc.payload.get("outcome"))
        initiative = str(doc.payload.get("initiative"))
        late = False
        answered: list[Obligation] = []
        if initiative == "own":
            window = await find_latest(session, K.OWN_SCRUTINY_WINDOW, order_id=order_id)
            if window is None or window.status == "met" or now > window.due_at:
                closed = stamp(window.due_at) if window else None
                raise ScrutinyWindowClosed(
                    "an own-initiative decision is accepted within 72 hours of receiving the "
                    f"copy (Art. 4(3)); the window closed at {closed}",
                    closed_at=closed,
                )
            answered.append(window)
        else:
            # Art. 4(4): answer the pending requests; a late answer is recorded as late
            # (the obligation was already flagged scrutiny_decision_late).
            pending = await _unanswered_requests(uow, order_id)
            if not pending:
                raise NothingOpen("no scrutiny request awaits a decision (Art. 4(4))")
            late = any(row.status == "missed" for row in pending)
            answered.extend(pending)
        if outcome == "infringement" and lifecycle.prenotice_at is None:
            raise ScrutinyPrenoticeRequired(
                "send a scrutiny_prenotice to the issuing authority before deciding that the "
                "order infringes the Regulation (Art. 4(5))"
            )
        requesters = sorted(
            {
                str(row.data.get("requester_id"))
                for row in answered
                if row.data.get("requester_role") == "content_provider"
            }
        )
        # R13, Art. 4(6): issuing authority and HSP (parties), the requesting content
        # provider and Europol.
        audience = [participant.id, *requesters, *await europol_ids(session)]
        event = await uow.order_event(
            order,
            kind="scrutiny_decision_received",
            actor=participant.id,
            received_at=now,
            document=doc,
            data={
                "article": "Art. 4(3)" if initiative == "own" else "Art. 4(4)",
                "outcome": outcome,
                "initiative": initiative,
                "late": late,
                "notified": sorted({order.authority_id, order.hsp_id, *audience}),
            },
            audience=audience,
        )
        for row in answered:
            row.data = {**row.data, "answered_by_seq": event.seq}
            if row.status == "open":
                await meet_obligation(session, row, now, seq=event.seq)
            session.add(row)
        if outcome == "infringement":
            await end_legal_effect(
                uow,
                order,
                now,
                trigger=Trigger.INFRINGEMENT_DECISION,
                cause="infringement_decision",
                audience=audience,
                data={"decision_seq": event.seq},
            )
        log.info("scrutiny_decided", outcome=outcome, initiative=initiative, late=late)
        return event

    return await accept_lifecycle_document(
        ctx,
        participant=participant,
        token=token,
        order_id=order_id,
        message_type="scrutiny_decision",
        roles=("authority",),
        handle=handle,
    )


async def _unanswered_requests(uow: UnitOfWork, order_id: str) -> list[Obligation]:
    """Scrutiny requests of the order without a decision yet (open, or missed and unanswered)."""
    rows = (
        await uow.session.exec(
            select(Obligation).where(
                col(Obligation.kind) == K.SCRUTINY_DECISION.value,
                col(Obligation.order_id) == order_id,
                col(Obligation.status).in_(["open", "missed"]),
            )
        )
    ).all()
    return [row for row in rows if "answered_by_seq" not in row.data]


async def record_reinstatement(
    *, ctx: BrokerContext, participant: ParticipantInfo, order_id: str, token: str
) -> DocumentResult:
    """R13, Art. 4(7): the HSP reinstates the content of an order without legal effect."""

    async def handle(uow: UnitOfWork, order: Order, doc: VerifiedDocument, now: datetime) -> Event:
        lifecycle = await require_lifecycle(uow, order)
        previous, transition = apply_trigger(order, Trigger.REINSTATEMENT)
        due = await find_latest(uow.session, K.REINSTATEMENT, order_id=order_id)
        late = due is not None and now > due.due_at
        audience = [p for p in (lifecycle.host_authority_id, lifecycle.content_provider_id) if p]
        event = await uow.order_event(
            order,
            kind="reinstatement_received",
            actor=participant.id,
            received_at=now,
            document=doc,
            data={
                **transition_data(previous, transition),
                "cause": lifecycle.legal_effect_cause,
                "reinstated_at": doc.payload.get("reinstated_at"),
                "late": late,
            },
            audience=audience,
        )
        if due is not None and due.status == "open":
            await meet_obligation(uow.session, due, now, seq=event.seq)
        return event

    return await accept_lifecycle_document(
        ctx,
        participant=participant,
        token=token,
        order_id=order_id,
        message_type="reinstatement",
        roles=("hsp",),
        handle=handle,
    )
