"""Unsigned drafts of the documents a party signs in its browser.

The page asks for a draft, shows it, signs it with the party's own key (WebCrypto,
``static/sign.js``) and posts the JWS.  The broker only drafts: it never holds a
party's key, and what it records is what the party signed (the broker's record
is evidence, TCO Art. 3(5); DESIGN "Wire format").  The drafts are built by the
same form builders the SDKs use (``authority_client.annex``,
``platform_client.annexes``), so a document signed in the browser is the document
``perci-authority`` / ``perci-platform`` would send.  The page checks the members
the user chose (order, sender, type) before signing.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Mapping
from typing import Any, cast

from authority_client.annex import REASONS, build_removal_order
from perci_schemas import jws
from perci_schemas.client_views import OrderView, ParticipantView, format_time
from perci_sim.crypto.errors import SchemaViolationError
from perci_sim.services import queries
from perci_sim.services.context import BrokerContext
from perci_sim.services.errors import Forbidden, NotFound
from perci_sim.services.views import participant_view
from perci_sim.storage.registry import ParticipantInfo, get_participant
from platform_client.annexes import (
    IMPOSSIBILITY_REASONS,
    MEASURES,
    build_feedback,
    build_impossibility,
)

__all__ = ["DRAFT_KINDS", "Draft", "make_draft"]

#: Draft kind -> (message type, the document route of docs/API.md it is posted to).
DRAFT_KINDS: dict[str, tuple[str, str]] = {
    "removal_order": ("removal_order", "orders"),
    "acknowledgement": ("acknowledgement", "acknowledgement"),
    "feedback": ("feedback", "feedback"),
    "impossibility": ("impossibility", "impossibility"),
    "clarification": ("clarification", "clarification"),
    "withdrawal": ("withdrawal", "withdrawal"),
    "grounds_ceased": ("grounds_ceased", "grounds-ceased"),
}

#: Who signs each kind (the role the service behind its route requires).
_SIGNER_ROLE: dict[str, str] = {
    "removal_order": "authority",
    "clarification": "authority",
    "withdrawal": "authority",
    "acknowledgement": "hsp",
    "feedback": "hsp",
    "impossibility": "hsp",
    "grounds_ceased": "hsp",
}

Draft = dict[str, Any]


def _text(body: Mapping[str, Any], name: str, *, required: bool = True, limit: int = 4000) -> str:
    value = body.get(name, "")
    if not isinstance(value, str) or len(value) > limit or (required and not value.strip()):
        raise SchemaViolationError(
            f"{name!r} must be a non-empty string", [(f"/{name}", "is required")]
        )
    return value.strip()


def _choices(body: Mapping[str, Any], name: str, allowed: tuple[str, ...]) -> list[str]:
    value = body.get(name)
    if (
        not isinstance(value, list)
        or not value
        or len(value) > 10
        or not all(isinstance(v, str) and v in allowed for v in value)
    ):
        raise SchemaViolationError(
            f"{name!r} must list values among {', '.join(allowed)}",
            [(f"/{name}", f"must be a non-empty list of {', '.join(allowed)}")],
        )
    return list(value)


def _payload(order: Mapping[str, Any]) -> dict[str, Any]:
    """The Annex I payload the broker verified when it accepted the order."""
    token = order.get("document")
    if not isinstance(token, str):
        return {}
    body = token.split(".")[1]
    payload = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    return cast(dict[str, Any], payload) if isinstance(payload, dict) else {}


async def _directory(ctx: BrokerContext, participant_id: str) -> ParticipantView:
    info = await get_participant(ctx.db, participant_id)
    if info is None:
        raise NotFound(f"no participant {participant_id!r}")
    return cast(ParticipantView, participant_view(info))


async def make_draft(
    *, ctx: BrokerContext, me: ParticipantInfo, kind: str, body: Mapping[str, Any]
) -> dict[str, Any]:
    """``{"message_type", "submit_path", "document"}``: a complete unsigned document."""
    if kind not in DRAFT_KINDS:
        raise NotFound(f"no draft of kind {kind!r}")
    message_type, action = DRAFT_KINDS[kind]
    if me.role not in ("authority", "hsp"):
        raise Forbidden("only authorities and hosting service providers sign documents")
    if me.role != _SIGNER_ROLE[kind]:
        raise Forbidden(f"only a participant of role {_SIGNER_ROLE[kind]!r} signs a {message_type}")
    now = ctx.clock.now()
    me_view = cast(ParticipantView, participant_view(me))
    if kind == "removal_order":
        urls = [u.strip() for u in _text(body, "urls").splitlines() if u.strip()]
        emergency = _text(body, "emergency_justification", required=False) or None
        try:
            document = build_removal_order(
                authority=me_view,
                hsp=await _directory(ctx, _text(body, "hsp_id", limit=63)),
                urls=urls,
                reasons=_choices(body, "reasons", tuple(REASONS)),
                details=_text(body, "details"),
                issued_at=now,
                emergency_justification=emergency,
            )
        except ValueError as exc:
            raise SchemaViolationError(str(exc), [("", str(exc))]) from exc
        path = "/ui/api/orders"
    else:
        order_id = _text(body, "order_id", limit=64)
        order = cast(OrderView, await queries.get_order(ctx.db, me, order_id))
        document = await _order_document(ctx, me_view, kind, order, body)
        document = {"order_id": order_id, **document}
        path = f"/ui/api/orders/{order_id}/{action}"
    document = {
        **document,
        "message_type": message_type,
        "message_id": str(uuid.uuid4()),
        "sender": me.id,
        "sent_at": format_time(now),
    }
    return {"message_type": message_type, "submit_path": path, "document": document}


async def _order_document(
    ctx: BrokerContext,
    me: ParticipantView,
    kind: str,
    order: OrderView,
    body: Mapping[str, Any],
) -> dict[str, Any]:
    now = ctx.clock.now()
    if kind == "acknowledgement":
        return {"order_sha256": jws.document_hash(order["document"])}
    if kind == "clarification":
        return {"clarification": _text(body, "clarification")}
    if kind == "withdrawal":
        # As authority_client.AuthorityClient.withdraw builds it.
        return {"reason": _text(body, "reason")}
    if kind == "grounds_ceased":
        # As platform_client.PlatformClient.send_grounds_ceased builds it: ceased now
        # (broker time); the broker's received_at starts the fresh hour (Art. 3(7)).
        return {"ceased_at": format_time(now), "explanation": _text(body, "explanation")}
    payload = _payload(order)
    issuer = (await _directory(ctx, order["authority_id"]))["name"]
    if kind == "feedback":
        measure = _choices({"m": [body.get("measure", "removed")]}, "m", MEASURES)[0]
        return build_feedback(
            order, payload, issuer=issuer, hsp=me, measure=measure, measure_at=now, today=now
        )
    reasons = _choices(body, "reasons", IMPOSSIBILITY_REASONS)
    try:
        return build_impossibility(
            order,
            payload,
            issuer=issuer,
            hsp=me,
            reasons=reasons,
            further_information=_text(body, "further_information"),
            clarification_required=_text(body, "clarification_required", required=False) or None,
            signed_at=now,
        )
    except ValueError as exc:
        raise SchemaViolationError(str(exc), [("/clarification_required", str(exc))]) from exc
