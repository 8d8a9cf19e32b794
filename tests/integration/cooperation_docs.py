"""Document builders and calls for the TCO Art. 14 tests (referrals, holds, Art. 14(5)).

Used by ``test_cooperation_*.py`` with the ``broker`` harness of tests/conftest.py.
"""

from __future__ import annotations

import uuid
from typing import Any

NATURE = "voluntary consideration against terms of service"


def _common(b: Any, sender: str, message_type: str) -> dict[str, Any]:
    return {
        "message_type": message_type,
        "message_id": str(uuid.uuid4()),
        "sender": sender,
        "sent_at": b.iso(b.clock.now()),
    }


def referral(b: Any, sender: str, hsp: str, *urls: str) -> dict[str, Any]:
    """A referral of ``urls`` from ``sender`` (authority or Europol) to ``hsp``."""
    return {
        **_common(b, sender, "referral"),
        "recipient": hsp,
        "reference_number": f"REF-{sender}-{uuid.uuid4().hex[:6]}",
        "nature": NATURE,
        "content": [{"url": url} for url in urls],
        "reasons_details": "Recruitment video of a listed organisation; against your ToS.",
    }


def referral_outcome(
    b: Any, hsp: str, referral_id: str, outcome: str = "removed", reason: str | None = None
) -> dict[str, Any]:
    """The HSP's answer to a referral."""
    document = {
        **_common(b, hsp, "referral_outcome"),
        "referral_id": referral_id,
        "outcome": outcome,
    }
    if reason is not None:
        document["reason"] = reason
    return document


def hold(b: Any, holder: str, *urls: str) -> dict[str, Any]:
    """A deconfliction hold on ``urls``."""
    return {
        **_common(b, holder, "deconfliction_hold"),
        "urls": list(urls),
        "reason": "Secret: account monitored in operation NIGHTJAR.",
        "contact_point": f"deconfliction@{holder}.example.eu",
        "reference_number": "OP-NIGHTJAR-7",
    }


def hold_lifted(b: Any, holder: str, hold_id: str) -> dict[str, Any]:
    """The holder lifts ``hold_id``."""
    return {**_common(b, holder, "hold_lifted"), "hold_id": hold_id, "reason": "Arrests made."}


def threat(b: Any, hsp: str, *member_states: str) -> dict[str, Any]:
    """An Art. 14(5) imminent-threat report naming ``member_states`` (maybe none)."""
    return {
        **_common(b, hsp, "imminent_threat_report"),
        "member_states": list(member_states),
        "content": [{"url": f"https://{hsp}.example.com/live/{uuid.uuid4().hex[:6]}"}],
        "threat_description": "A live stream announcing an attack on a named venue tonight.",
        "contact": {"email": f"escalation@{hsp}.example.com"},
    }


def threat_ack(b: Any, recipient: str, report_id: str) -> dict[str, Any]:
    """A recipient's acknowledgement of a report."""
    return {
        **_common(b, recipient, "imminent_threat_acknowledgement"),
        "report_id": report_id,
        "note": "Received by the situation centre.",
    }


def order_for(b: Any, authority: str, hsp: str, *urls: str) -> dict[str, Any]:
    """A complete emergency removal order for exactly ``urls``."""
    document: dict[str, Any] = b.removal_order(authority, hsp, emergency=True)
    document["section_b"]["content"] = [{"url": url} for url in urls]
    return document


async def post(b: Any, path: str, party: str, document: dict[str, Any]) -> Any:
    """Sign and POST ``document`` as ``party``; return the Reply."""
    return await b.post_document(path, party=party, document=document)


async def refer(b: Any, sender: str, hsp: str, *urls: str) -> dict[str, Any]:
    """Send a referral and return its view (asserting 201)."""
    reply = await post(b, "/v1/referrals", sender, referral(b, sender, hsp, *urls))
    assert reply.status == 201, reply.body
    view: dict[str, Any] = reply.body["referral"]
    return view


async def order(b: Any, authority: str, hsp: str, *urls: str) -> dict[str, Any]:
    """Issue an emergency order for ``urls`` and return its view (asserting 201)."""
    reply = await post(b, "/v1/orders", authority, order_for(b, authority, hsp, *urls))
    assert reply.status == 201, reply.body
    view: dict[str, Any] = reply.body["order"]
    return view


async def place_hold(b: Any, holder: str, *urls: str) -> dict[str, Any]:
    """Place a hold and return its view (asserting 201)."""
    reply = await post(b, "/v1/deconfliction-holds", holder, hold(b, holder, *urls))
    assert reply.status == 201, reply.body
    view: dict[str, Any] = reply.body["hold"]
    return view


async def events(b: Any, party: str, after: int = 0) -> list[dict[str, Any]]:
    """Every event ``party`` sees on its poll feed."""
    reply = await b.get(f"/v1/events?after={after}&limit=1000", party=party)
    assert reply.status == 200, reply.body
    found: list[dict[str, Any]] = reply.body["events"]
    return found


def kinds(found: list[dict[str, Any]]) -> list[str]:
    """The kinds of ``found``, in order."""
    return [e["kind"] for e in found]
