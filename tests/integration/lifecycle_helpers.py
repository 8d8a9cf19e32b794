"""Document builders for the lifecycle tests (issue 3), on top of tests/conftest.py's Broker."""

from __future__ import annotations

from datetime import datetime
from typing import Any


def kinds(history: list[dict[str, Any]]) -> list[str]:
    """The event kinds of a history, in order."""
    return [event["kind"] for event in history]


def event_of(history: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    """The last event of ``kind`` in a history."""
    matching = [event for event in history if event["kind"] == kind]
    assert matching, f"no {kind} in {kinds(history)}"
    return matching[-1]


def lifecycle_doc(
    b: Any, sender: str, message_type: str, order: dict[str, Any] | None = None, **fields: Any
) -> dict[str, Any]:
    """A lifecycle document from ``sender`` about ``order`` (when given)."""
    document: dict[str, Any] = b._common(sender, message_type)
    if order is not None:
        document["order_id"] = order["order_id"]
    document.update(fields)
    return document


async def post(
    b: Any, order: dict[str, Any], action: str, party: str, document: dict[str, Any]
) -> Any:
    """POST a lifecycle document about ``order``."""
    return await b.post_document(
        f"/v1/orders/{order['order_id']}/{action}", party=party, document=document
    )


async def removed(b: Any, order: dict[str, Any], *, reinstatable: bool | None = None) -> Any:
    """The HSP's Annex II: removed now (optionally kept reinstatable)."""
    document = b.feedback(order)
    if reinstatable is not None:
        document["section_b"]["reinstatable"] = reinstatable
    return await b.post_document(
        f"/v1/orders/{order['order_id']}/feedback", party=order["hsp_id"], document=document
    )


def reinstatement(b: Any, order: dict[str, Any]) -> dict[str, Any]:
    """The HSP's reinstatement (Art. 4(7)) now."""
    return lifecycle_doc(
        b, order["hsp_id"], "reinstatement", order, reinstated_at=b.iso(b.clock.now())
    )


def at(text: str) -> datetime:
    """Parse a broker instant."""
    return datetime.fromisoformat(text)
