"""TCO Art. 14 and PERCI's referral channel: voluntary consideration, never an order (R20).

A referral is a separate document type (``referral``), sent by a competent
authority or by Europol to one HSP, asking it to consider content against its own
terms of service.  The broker records and delivers it, but it never creates a
removal order, never starts an Art. 3(3) clock, never has a deadline and can never
be "breached": no ``Order`` row, no ``Timer`` row.  Its document says, in its
``nature`` member, "voluntary consideration against terms of service", and every
event of it carries ``voluntary: true``.  The HSP may answer once with a
``referral_outcome`` (``removed`` / ``not_removed``).

Deconfliction (R19) applies to referrals as to orders: see
:mod:`perci_sim.services.deconfliction`.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy import ColumnElement, Table, false, true
from sqlmodel import col, select

from perci_sim.crypto.verification import VerifiedDocument, verify_document
from perci_sim.domain.deconfliction import origin_of
from perci_sim.domain.errors import IllegalTransition
from perci_sim.services.audience import reads_everything
from perci_sim.services.context import BrokerContext
from perci_sim.services.deconfliction import (
    ISSUER_ROLES,
    ItemChecks,
    check_new_item,
    item_history,
    link_event,
    linked_item,
    record_new_item,
    refuse_if_held,
    require_issuer,
)
from perci_sim.services.documents import require_role
from perci_sim.services.errors import NotFound, UnknownAddressee, WrongOrder
from perci_sim.services.queries import MAX_LIMIT
from perci_sim.services.unit_of_work import UnitOfWork, unit_of_work
from perci_sim.storage.db import Database, defer_insert, detached_row
from perci_sim.storage.log import iso_ms
from perci_sim.storage.models import Event, Referral
from perci_sim.storage.registry import ParticipantInfo, get_participant

__all__ = [
    "ARTICLE",
    "NATURE",
    "ReferralResult",
    "VerifiedReferral",
    "get_referral",
    "list_referrals",
    "outcome_values",
    "record_outcome",
    "record_referral",
    "record_referral_outcome",
    "referral_history",
    "referral_view",
    "replayed_referral",
    "send_referral",
    "verify_referral",
    "verify_referral_outcome",
]

log = structlog.get_logger(__name__)

#: R20: what a referral asks for, in its document and its view.
NATURE = "voluntary consideration against terms of service"
#: Referrals rest on Art. 14 cooperation (PERCI's referral channel), not on Art. 3.
ARTICLE = "Art. 14"

_REFERRAL_TABLE: Table = Referral.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True, kw_only=True)
class ReferralResult:
    """An accepted (or replayed) referral document: the referral and the broker's receipt."""

    referral: dict[str, Any]
    receipt: str
    replayed: bool


def referral_view(referral: Referral) -> dict[str, Any]:
    """Render a referral as a ReferralView."""
    return {
        "referral_id": referral.referral_id,
        "reference_number": referral.reference_number,
        "sender_id": referral.sender_id,
        "member_state": referral.origin,
        "hsp_id": referral.hsp_id,
        "state": referral.state,
        # R20: no legal obligation, no clock, no deadline.
        "voluntary": True,
        "nature": NATURE,
        "deadline_at": None,
        "urls": list(referral.urls),
        "flags": list(referral.flags),
        "received_at": iso_ms(referral.received_at),
        "outcome": referral.outcome,
        "outcome_reason": referral.outcome_reason,
        "outcome_at": iso_ms(referral.outcome_at) if referral.outcome_at else None,
        "updated_at": iso_ms(referral.updated_at),
        "document": referral.document,
    }


def _content_urls(payload: dict[str, Any]) -> list[tuple[str, str]]:
    return [
        (f"/content/{index}/url", str(item["url"]))
        for index, item in enumerate(payload.get("content", []))
    ]


@dataclass(frozen=True, slots=True, kw_only=True)
class VerifiedReferral:
    """A referral document that passed every check that needs no write lock."""

    document: VerifiedDocument
    hsp_id: str
    #: The ``(json_pointer, url)`` pairs of its content.
    urls: list[tuple[str, str]]


async def verify_referral(
    ctx: BrokerContext, participant: ParticipantInfo, token: str
) -> VerifiedReferral:
    """Verify a ``referral`` JWS of ``participant`` and its addressee (no write lock).

    Raises:
        PerciError: the document's problem (signature, type, schema, ``unknown_addressee``).
    """
    document = await verify_document(
        ctx.db, token=token, expected_type="referral", participant_id=participant.id
    )
    payload = document.payload
    hsp_id = str(payload["recipient"])
    hsp = await get_participant(ctx.db, hsp_id)
    if hsp is None or hsp.role != "hsp":
        raise UnknownAddressee(
            f"{hsp_id!r} is not a registered hosting service provider",
            errors=[{"field": "/recipient", "message": "is not a registered HSP"}],
        )
    return VerifiedReferral(document=document, hsp_id=hsp_id, urls=_content_urls(payload))


async def replayed_referral(uow: UnitOfWork, original: Event) -> ReferralResult:
    """The answer to a resent referral: the referral now, and the original receipt."""
    earlier = await uow.session.get(Referral, await linked_item(uow, "referral", original))
    if earlier is None:  # pragma: no cover - recorded in one transaction
        raise NotFound("the referral of the original document is missing")
    return ReferralResult(
        referral=referral_view(earlier), receipt=original.receipt or "", replayed=True
    )


async def record_referral(
    uow: UnitOfWork,
    *,
    participant: ParticipantInfo,
    item: VerifiedReferral,
    now: datetime,
    holds_checked: bool = False,
    checks: ItemChecks | None = None,
) -> tuple[ReferralResult, Event]:
    """Inside ``uow``: flag (R19), record and deliver a new referral (R20).

    Nothing is written before the R19 checks pass, so a refusal leaves ``uow`` clean.
    ``checks``: what :func:`check_new_item` found, when the caller already knows it.
    Returns the result and the ``referral_received`` event (its receipt).

    Raises:
        DeconflictionHoldActive: a URL is under another issuer's hold (unless
            ``holds_checked`` or ``checks``: the caller checked them in ``uow``).
    """
    document, hsp_id = item.document, item.hsp_id
    if checks is None:
        checks = await check_new_item(
            uow,
            issuer=participant,
            hsp_id=hsp_id,
            urls=item.urls,
            now=now,
            holds_checked=holds_checked,
        )
    # Written by Core with the transaction's other rows (storage/db.py defer_insert);
    # the instance is only read (its view), so it is built as a loaded row is.
    row: dict[str, Any] = {
        "referral_id": str(uuid.uuid4()),
        "reference_number": str(document.payload["reference_number"]),
        "sender_id": participant.id,
        "origin": origin_of(participant.role, participant.member_state),
        "hsp_id": hsp_id,
        "state": "open",
        "urls": checks.urls,
        "flags": checks.flags,
        "document": document.token,
        "document_sha256": document.document_sha256,
        "received_at": now,
        "outcome": None,
        "outcome_reason": None,
        "outcome_at": None,
        "updated_at": now,
    }
    referral = detached_row(Referral, row)
    defer_insert(uow.session, _REFERRAL_TABLE, row)
    received = await uow.append(
        kind="referral_received",
        actor=participant.id,
        received_at=now,
        authority_id=participant.id,
        hsp_id=hsp_id,
        document=document,
        data={
            "article": ARTICLE,
            "rule": "R20",
            "referral_id": referral.referral_id,
            "reference_number": referral.reference_number,
            "urls": checks.urls,
            # R20: voluntary consideration; never an order, a clock or a breach.
            "voluntary": True,
            "nature": NATURE,
            "deadline_at": None,
            "state": "open",
            "flags": referral.flags,
        },
    )
    await link_event(uow, "referral", referral.referral_id, received)
    await record_new_item(uow, checks, item_kind="referral", item_id=referral.referral_id)
    result = ReferralResult(
        referral=referral_view(referral), receipt=received.receipt or "", replayed=False
    )
    return result, received


async def send_referral(
    *, ctx: BrokerContext, participant: ParticipantInfo, token: str
) -> ReferralResult:
    """Record a referral and make it available to the HSP (R20), flagged as R19 requires."""
    require_issuer(participant)
    item = await verify_referral(ctx, participant, token)
    # R19: a held URL refuses the referral (and tells the holder), before anything is stored.
    await refuse_if_held(
        ctx, document=item.document, issuer=participant, item_kind="referral", urls=item.urls
    )
    async with unit_of_work(ctx) as uow:
        original = await uow.find_replay(item.document)
        if original is not None:
            return await replayed_referral(uow, original)
        result, _ = await record_referral(
            uow, participant=participant, item=item, now=ctx.clock.now()
        )
    log.info("referral_received", referral_id=result.referral["referral_id"], hsp_id=item.hsp_id)
    return result


async def verify_referral_outcome(
    ctx: BrokerContext, participant: ParticipantInfo, token: str
) -> VerifiedDocument:
    """Verify a ``referral_outcome`` JWS of the HSP ``participant`` (no write lock)."""
    return await verify_document(
        ctx.db, token=token, expected_type="referral_outcome", participant_id=participant.id
    )


async def record_outcome(
    uow: UnitOfWork,
    *,
    participant: ParticipantInfo,
    referral: Referral,
    document: VerifiedDocument,
    now: datetime,
    tracked: bool = True,
) -> tuple[ReferralResult, Event]:
    """Inside ``uow``: record the HSP's one answer to ``referral`` (nothing written on refusal).

    ``tracked=False``: ``referral`` belongs to no session (a batch loads its rows by
    Core); the caller writes :func:`outcome_values` of it before the commit.

    Raises:
        IllegalTransition: the referral was already answered.
    """
    if referral.outcome is not None:
        raise IllegalTransition(referral.state, "referral_outcome")
    payload = document.payload
    outcome = str(payload["outcome"])
    reason = payload.get("reason")
    referral.state = "answered"
    referral.outcome = outcome
    referral.outcome_reason = str(reason) if reason is not None else None
    referral.outcome_at = now
    referral.updated_at = now
    if tracked:
        uow.session.add(referral)
    event = await uow.append(
        kind="referral_outcome_received",
        actor=participant.id,
        received_at=now,
        authority_id=referral.sender_id,
        hsp_id=participant.id,
        document=document,
        data={
            "article": ARTICLE,
            "rule": "R20",
            "referral_id": referral.referral_id,
            "from_state": "open",
            "state": "answered",
            "outcome": outcome,
            "reason": referral.outcome_reason,
            "measure_at": payload.get("measure_at"),
            "voluntary": True,
        },
    )
    await link_event(uow, "referral", referral.referral_id, event)
    result = ReferralResult(
        referral=referral_view(referral), receipt=event.receipt or "", replayed=False
    )
    return result, event


def outcome_values(referral: Referral) -> dict[str, Any]:
    """The columns :func:`record_outcome` changed (for an untracked referral's UPDATE)."""
    return {
        "state": referral.state,
        "outcome": referral.outcome,
        "outcome_reason": referral.outcome_reason,
        "outcome_at": referral.outcome_at,
        "updated_at": referral.updated_at,
    }


async def record_referral_outcome(
    *, ctx: BrokerContext, participant: ParticipantInfo, referral_id: str, token: str
) -> ReferralResult:
    """The addressed HSP answers a referral, once; nothing it does or omits is a breach."""
    require_role(participant, "hsp")
    document = await verify_referral_outcome(ctx, participant, token)
    payload = document.payload
    if payload.get("referral_id") != referral_id:
        raise WrongOrder(
            f"the document is about referral {payload.get('referral_id')!r}, "
            f"but was posted to referral {referral_id!r}",
            errors=[{"field": "/referral_id", "message": f"must be {referral_id!r}"}],
        )
    async with unit_of_work(ctx) as uow:
        original = await uow.find_replay(document)
        referral = await uow.session.get(Referral, referral_id)
        if referral is None or referral.hsp_id != participant.id:
            raise NotFound(f"no referral {referral_id!r} for {participant.id!r}")
        if original is not None:
            return ReferralResult(
                referral=referral_view(referral), receipt=original.receipt or "", replayed=True
            )
        result, _ = await record_outcome(
            uow, participant=participant, referral=referral, document=document, now=ctx.clock.now()
        )
    log.info(
        "referral_outcome_received", referral_id=referral_id, outcome=result.referral["outcome"]
    )
    return result


def _own_referrals(participant: ParticipantInfo) -> ColumnElement[bool]:
    if reads_everything(participant):  # a drill facilitator (read-only)
        return true()
    if participant.role in ISSUER_ROLES:
        return col(Referral.sender_id) == participant.id
    if participant.role == "hsp":
        return col(Referral.hsp_id) == participant.id
    return false()


def _is_party(referral: Referral, participant: ParticipantInfo) -> bool:
    if reads_everything(participant):
        return True
    if participant.role in ISSUER_ROLES:
        return referral.sender_id == participant.id
    return participant.role == "hsp" and referral.hsp_id == participant.id


async def list_referrals(
    db: Database,
    participant: ParticipantInfo,
    *,
    state: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[dict[str, Any]]:
    """The referrals the participant sent (authority, Europol) or received (HSP), newest first."""
    query = select(Referral).where(_own_referrals(participant))
    if state is not None:
        query = query.where(col(Referral.state) == state)
    query = query.order_by(col(Referral.received_at).desc(), col(Referral.referral_id))
    async with db.read() as session:
        rows = (await session.exec(query.limit(min(limit, MAX_LIMIT)).offset(offset))).all()
    return [referral_view(row) for row in rows]


async def get_referral(
    db: Database, participant: ParticipantInfo, referral_id: str
) -> dict[str, Any]:
    """One referral the participant is a party to (``not_found`` otherwise)."""
    async with db.read() as session:
        referral = await session.get(Referral, referral_id)
    if referral is None or not _is_party(referral, participant):
        raise NotFound(f"no referral {referral_id!r} for {participant.id!r}")
    return referral_view(referral)


async def referral_history(
    db: Database, participant: ParticipantInfo, referral_id: str
) -> list[dict[str, Any]]:
    """The referral's events the participant may see, in log order."""
    await get_referral(db, participant, referral_id)
    return await item_history(db, participant, "referral", referral_id)
