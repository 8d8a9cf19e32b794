"""The wire views of docs/API.md: OrderView, EventView, ParticipantView, receipts."""

from __future__ import annotations

from typing import Any

from perci_sim.storage.log import iso_ms
from perci_sim.storage.models import Event, Order
from perci_sim.storage.registry import ParticipantInfo

__all__ = ["event_view", "order_view", "participant_view", "receipt_payload"]


def order_view(order: Order) -> dict[str, Any]:
    """Render an order as an OrderView."""
    return {
        "order_id": order.order_id,
        "reference_number": order.reference_number,
        "authority_id": order.authority_id,
        "hsp_id": order.hsp_id,
        "state": order.state,
        "language": order.language,
        "emergency": order.emergency,
        "flags": list(order.flags),
        "received_at": iso_ms(order.received_at),
        "clock_started_at": iso_ms(order.clock_started_at),
        "deadline_at": iso_ms(order.deadline_at) if order.deadline_at else None,
        "measure_at": iso_ms(order.measure_at) if order.measure_at else None,
        "suspended_reason": order.suspended_reason,
        "created_at": iso_ms(order.created_at),
        "updated_at": iso_ms(order.updated_at),
        "document": order.document,
    }


def event_view(event: Event) -> dict[str, Any]:
    """Render a log entry as an EventView."""
    return {
        "seq": event.seq,
        "event_id": event.event_id,
        "order_id": event.order_id,
        "kind": event.kind,
        "actor": event.actor,
        "received_at": iso_ms(event.received_at),
        "document": event.document,
        "document_sha256": event.document_sha256,
        "data": dict(event.data),
        "prev_hash": event.prev_hash,
        "hash": event.hash,
    }


def participant_view(info: ParticipantInfo) -> dict[str, Any]:
    """Render a participant as a ParticipantView (public directory entry with keys)."""
    return {
        "id": info.id,
        "role": info.role,
        "name": info.name,
        "member_state": info.member_state,
        "legal_representative_member_state": info.legal_representative_member_state,
        "languages": list(info.languages),
        "contact_point": info.contact_point,
        "webhook_url": info.webhook_url,
        "keys": [
            {
                "kid": key.kid,
                "alg": key.alg,
                "jwk": {k: v for k, v in key.jwk.items() if k != "d"},
                "status": key.status,
                "created_at": iso_ms(key.created_at),
                "revoked_at": iso_ms(key.revoked_at) if key.revoked_at else None,
            }
            for key in info.keys
        ],
    }


def receipt_payload(event: Event, message_type: str) -> dict[str, Any]:
    """The payload of the broker's receipt for the document ``event`` records."""
    return {
        "event_id": event.event_id,
        "seq": event.seq,
        "order_id": event.order_id,
        "message_type": message_type,
        "message_id": event.message_id,
        "sender": event.actor,
        "document_sha256": event.document_sha256,
        "received_at": iso_ms(event.received_at),
        "event_hash": event.hash,
    }
