"""TCO Art. 6: preservation of removed content and related data (R15).

Each execution opens a six-month preservation from the time of the measure
(lifecycle_effects.py, on ``feedback_received``).  A competent authority or a
court may extend it with a reason (``preservation_extension``, Art. 6(2));
the HSP records the purge (``content_purged``), and a purge before the end is
``breach_6``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from perci_sim.crypto.verification import VerifiedDocument
from perci_sim.domain.obligations import (
    NothingOpen,
    ObligationKind,
    PreservationExtensionRefused,
    check_preservation_extension,
    is_early_purge,
)
from perci_sim.domain.rules import parse_instant
from perci_sim.services.context import BrokerContext
from perci_sim.services.documents import DocumentResult
from perci_sim.services.errors import Forbidden
from perci_sim.services.lifecycle_documents import (
    accept_lifecycle_document,
    require_lifecycle,
    stamp,
)
from perci_sim.services.obligations import cancel_obligations, find_open
from perci_sim.services.unit_of_work import UnitOfWork
from perci_sim.storage.models import Event, Order
from perci_sim.storage.registry import ParticipantInfo

__all__ = ["record_content_purged", "record_preservation_extension"]

K = ObligationKind


async def record_preservation_extension(
    *, ctx: BrokerContext, participant: ParticipantInfo, order_id: str, token: str
) -> DocumentResult:
    """R15, Art. 6(2): an authority or a court extends the preservation, with a reason."""

    async def handle(uow: UnitOfWork, order: Order, doc: VerifiedDocument, now: datetime) -> Event:
        lifecycle = await require_lifecycle(uow, order)
        if participant.role == "authority" and participant.id not in (
            order.authority_id,
            lifecycle.host_authority_id,
        ):
            raise Forbidden("only the issuing or the host authority, or a court, may extend")
        current = lifecycle.preserve_until
        if current is None or lifecycle.purged_at is not None:
            raise NothingOpen("nothing is preserved for this order (no execution, or purged)")
        if now > current:
            raise PreservationExtensionRefused(
                f"the preservation ended at {stamp(current)}; it can no longer be extended"
            )
        requested = parse_instant(str(doc.payload.get("preserve_until")))
        check_preservation_extension(current, requested, str(doc.payload.get("reason", "")))
        lifecycle.preserve_until = requested
        uow.session.add(lifecycle)
        for row in await find_open(uow.session, K.PRESERVATION, order_id=order_id):
            row.due_at = requested
            row.data = {**row.data, "extended_by": participant.id}
            uow.session.add(row)
        return await uow.order_event(
            order,
            kind="preservation_extension_received",
            actor=participant.id,
            received_at=now,
            document=doc,
            data={
                "article": "Art. 6(2)",
                "preserve_until": stamp(requested),
                "previous_preserve_until": stamp(current),
                "reason": doc.payload.get("reason"),
            },
            audience=[participant.id],
        )

    return await accept_lifecycle_document(
        ctx,
        participant=participant,
        token=token,
        order_id=order_id,
        message_type="preservation_extension",
        roles=("authority", "court"),
        handle=handle,
    )


async def record_content_purged(
    *, ctx: BrokerContext, participant: ParticipantInfo, order_id: str, token: str
) -> DocumentResult:
    """R15, Art. 6: the HSP deleted the preserved content; before the end it is breach_6."""

    async def handle(uow: UnitOfWork, order: Order, doc: VerifiedDocument, now: datetime) -> Event:
        lifecycle = await require_lifecycle(uow, order)
        if lifecycle.purged_at is not None:
            raise NothingOpen(f"the content was already purged at {stamp(lifecycle.purged_at)}")
        purged_at = parse_instant(str(doc.payload.get("purged_at")))
        if purged_at > now:
            purged_at = now  # no purge in the future: the broker's time is the record (R1)
        early = is_early_purge(purged_at, lifecycle.preserve_until)
        lifecycle.purged_at = purged_at
        uow.session.add(lifecycle)
        await cancel_obligations(uow.session, order_id, now, kinds=(K.PRESERVATION,))
        data: dict[str, Any] = {
            "article": "Art. 6(1)",
            "purged_at": stamp(purged_at),
            "preserve_until": stamp(lifecycle.preserve_until),
            "early": early,
        }
        if early:
            data.update(breach="breach_6", breach_article="Art. 6")
            order.flags = [
                *order.flags,
                f"breach_6: content purged {stamp(purged_at)}, before the end of its "
                f"preservation {stamp(lifecycle.preserve_until)} (Art. 6)",
            ]
        return await uow.order_event(
            order,
            kind="content_purged_received",
            actor=participant.id,
            received_at=now,
            document=doc,
            data=data,
            audience=[lifecycle.host_authority_id] if lifecycle.host_authority_id else (),
        )

    return await accept_lifecycle_document(
        ctx,
        participant=participant,
        token=token,
        order_id=order_id,
        message_type="content_purged",
        roles=("hsp",),
        handle=handle,
    )
