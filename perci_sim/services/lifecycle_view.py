"""The lifecycle view of an order: its Art. 3(9)/4/6/11 record and its obligations."""

from __future__ import annotations

from typing import Any

from sqlmodel import col, select

from perci_sim.services.documents import load_order
from perci_sim.services.lifecycle_documents import stamp
from perci_sim.services.obligations import obligation_view
from perci_sim.storage.db import Database
from perci_sim.storage.models import Obligation, OrderLifecycle
from perci_sim.storage.registry import ParticipantInfo

__all__ = ["order_lifecycle"]


async def order_lifecycle(
    db: Database, participant: ParticipantInfo, order_id: str
) -> dict[str, Any]:
    """The LifecycleView of an order the participant may see (``not_found`` otherwise)."""
    async with db.read() as session:
        order = await load_order(session, order_id, participant)
        row = await session.get(OrderLifecycle, order_id)
        obligations = (
            await session.exec(
                select(Obligation)
                .where(col(Obligation.order_id) == order_id)
                .order_by(col(Obligation.due_at), col(Obligation.id))
            )
        ).all()
    lifecycle: dict[str, Any] | None = None
    if row is not None:
        lifecycle = {
            "issuing_member_state": row.issuing_member_state,
            "host_member_state": row.host_member_state,
            "cross_border": row.cross_border,
            "host_authority_id": row.host_authority_id,
            "appeal_deadline": row.appeal_duration,
            "appeal_lodged": row.appeal_lodged,
            "final_at": stamp(row.final_at),
            "legal_effect_ended_at": stamp(row.legal_effect_ended_at),
            "legal_effect_cause": row.legal_effect_cause,
            "preserve_until": stamp(row.preserve_until),
            "purged_at": stamp(row.purged_at),
            "nondisclosure_until": stamp(row.nondisclosure_until),
            "nondisclosure_extended": row.nondisclosure_extended,
            "content_provider_informed_at": stamp(row.informed_at),
        }
    return {
        "order_id": order.order_id,
        "state": order.state,
        "lifecycle": lifecycle,
        "obligations": [obligation_view(o) for o in obligations],
    }
