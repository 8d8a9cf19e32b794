"""Annex II (TCO Art. 3(6)): the HSP reports the removal or disabling and its time."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import structlog

from perci_sim.crypto.verification import VerifiedDocument
from perci_sim.domain.deadlines import is_on_time, is_undue_delay
from perci_sim.domain.rules import check_measure_time, check_receipt_time, parse_instant
from perci_sim.domain.states import Trigger
from perci_sim.services.context import BrokerContext
from perci_sim.services.documents import (
    DocumentResult,
    accept_order_document,
    apply_trigger,
    transition_data,
)
from perci_sim.services.unit_of_work import UnitOfWork
from perci_sim.storage.log import iso_ms
from perci_sim.storage.models import Event, Order
from perci_sim.storage.registry import ParticipantInfo

__all__ = ["record_feedback"]

log = structlog.get_logger(__name__)


def _section(payload: dict[str, Any], name: str) -> dict[str, Any]:
    value = payload.get(name)
    return value if isinstance(value, dict) else {}


async def record_feedback(
    *, ctx: BrokerContext, participant: ParticipantInfo, order_id: str, token: str
) -> DocumentResult:
    """Record an Annex II; the order becomes executed or executed_late (R8)."""

    async def handle(
        uow: UnitOfWork, order: Order, document: VerifiedDocument, now: datetime
    ) -> Event:
        # Nothing read here depends on the order row's changes: it is written once, at
        # commit, with its transition and any flag added below.
        with uow.session.no_autoflush:
            return await _handle(uow, order, document, now)

    async def _handle(
        uow: UnitOfWork, order: Order, document: VerifiedDocument, now: datetime
    ) -> Event:
        section_a = _section(document.payload, "section_a")
        section_b = _section(document.payload, "section_b")
        # R9, TCO Art. 3(5): the stated receipt is the broker's record; no backdating.
        check_receipt_time(str(section_a.get("order_received_at")), order.received_at)
        measure_at = parse_instant(str(section_b.get("measure_at")))
        check_measure_time(
            measure_at, order_received_at=order.received_at, feedback_received_at=now
        )
        # R8, TCO Art. 3(3): on time when the measure is at or before the deadline.
        # A suspended order (Art. 3(7)/(8)) has no running deadline: on time.
        deadline = order.deadline_at
        on_time = deadline is None or is_on_time(measure_at, deadline)
        trigger = Trigger.FEEDBACK_ON_TIME if on_time else Trigger.FEEDBACK_LATE
        previous, transition = apply_trigger(order, trigger)
        order.measure_at = measure_at
        await uow.cancel_timers(order)
        # R8, TCO Art. 3(6): the feedback is due "without undue delay" after the measure.
        undue = is_undue_delay(measure_at, now, ctx.settings.undue_delay)
        data: dict[str, Any] = {
            **transition_data(previous, transition),
            "measure": section_b.get("measure"),
            "measure_at": iso_ms(measure_at),
            "deadline_at": iso_ms(deadline) if deadline else None,
            "on_time": on_time,
            "breach_3_6": undue,
        }
        if undue:
            data["breach"] = "breach_3_6"
            data["breach_article"] = "Art. 3(6)"
            order.flags = [
                *order.flags,
                f"breach_3_6: Annex II received {iso_ms(now)}, more than "
                f"{int(ctx.settings.undue_delay.total_seconds())} s after the measure "
                f"({iso_ms(measure_at)}) (Art. 3(6))",
            ]
        log.info("feedback_recorded", on_time=on_time, breach_3_6=undue)
        return await uow.order_event(
            order,
            kind="feedback_received",
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
        message_type="feedback",
        role="hsp",
        handle=handle,
        with_lifecycle=True,
    )
