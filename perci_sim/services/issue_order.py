"""TCO Art. 3: an authority issues a removal order; the broker delivers it at once.

The order is received at the HSP's contact point when the broker records it
(Art. 3(5), R3): ``order_received`` and ``order_delivered`` are written in one
transaction, and the one-hour clock starts at that ``received_at``.
"""

from __future__ import annotations

import uuid
from typing import Any

import structlog
from sqlmodel import col, select

from perci_sim.crypto.verification import VerifiedDocument, verify_document
from perci_sim.domain.deconfliction import DeconflictionHoldActive, origin_of, url_key
from perci_sim.domain.rules import art_3_4_gaps, check_advance_information, check_language
from perci_sim.domain.states import OrderState
from perci_sim.services import deconfliction
from perci_sim.services.context import BrokerContext
from perci_sim.services.documents import DocumentResult, require_role
from perci_sim.services.errors import NotFound, UnknownAddressee
from perci_sim.services.unit_of_work import UnitOfWork, unit_of_work
from perci_sim.services.views import order_view
from perci_sim.storage.log import iso_ms
from perci_sim.storage.models import Event, ItemUrl, Order
from perci_sim.storage.registry import ParticipantInfo, get_participant

__all__ = ["issue_order", "order_flags"]

log = structlog.get_logger(__name__)


def _section(document: dict[str, Any], name: str) -> dict[str, Any]:
    value = document.get(name)
    return value if isinstance(value, dict) else {}


def order_flags(
    document: dict[str, Any], *, authority: ParticipantInfo, hsp: ParticipantInfo
) -> list[str]:
    """R2: flags for Art. 3(4) gaps and Annex I data that contradict the registry.

    The order is still delivered; the HSP may answer with an Annex III for manifest
    errors or insufficient information (Art. 3(8)).
    """
    flags = art_3_4_gaps(document)
    section_a = _section(document, "section_a")
    issuing = section_a.get("issuing_member_state")
    if issuing != authority.member_state:
        flags.append(
            f"issuing_member_state_mismatch: section_a names {issuing!r} but {authority.id} "
            f"is registered in {authority.member_state} (Art. 3(4)(a))"
        )
    host = hsp.host_member_state
    stated_host = section_a.get("hsp_member_state")
    if stated_host is not None and stated_host != host:
        flags.append(
            f"hsp_member_state_mismatch: section_a names {stated_host!r} but {hsp.id} "
            f"is registered in {host} (Art. 15, 17)"
        )
    # R10: Section D must agree with the registry (cross-border order, Art. 4).
    cross_border = authority.member_state != host
    section_d = _section(document, "section_d")
    differs = section_d.get("host_member_state_differs")
    if differs is None and cross_border:
        flags.append(
            f"section_d_missing: host Member State {host} differs from the issuing "
            f"{authority.member_state} but Section D does not say so (Art. 4(1))"
        )
    elif differs is not None and differs != cross_border:
        flags.append(
            f"section_d_mismatch: host_member_state_differs is {differs} but the host "
            f"Member State is {host} and the issuing one {authority.member_state} (Art. 4(1))"
        )
    return flags


async def issue_order(
    *, ctx: BrokerContext, participant: ParticipantInfo, token: str
) -> DocumentResult:
    """Accept a signed removal order, deliver it and start its clock."""
    require_role(participant, "authority")
    document = await verify_document(
        ctx.db, token=token, expected_type="removal_order", participant_id=participant.id
    )
    payload = document.payload
    section_a = _section(payload, "section_a")
    hsp_id = str(_section(section_a, "addressee").get("hsp_id"))
    hsp = await get_participant(ctx.db, hsp_id)
    if hsp is None or hsp.role != "hsp":
        raise UnknownAddressee(
            f"{hsp_id!r} is not a registered hosting service provider",
            errors=[{"field": "/section_a/addressee/hsp_id", "message": "is not a registered HSP"}],
        )
    # R19, TCO Art. 14(1): a URL under another authority's hold refuses the order.
    urls = deconfliction.order_urls(payload)
    try:
        return await _accept(ctx, participant, document, hsp, urls)
    except DeconflictionHoldActive:
        # Rare: record the refusal for the holder (its own transaction), then refuse.
        await deconfliction.refuse_if_held(
            ctx, document=document, issuer=participant, item_kind="order", urls=urls
        )
        raise


async def _any_indexed(uow: UnitOfWork, urls: list[tuple[str, str]]) -> bool:
    """True when an order, referral or hold already names one of ``urls`` (R19)."""
    keys = {url_key(url) for _, url in urls}
    if not keys:
        return False
    found = (
        await uow.session.exec(select(ItemUrl.id).where(col(ItemUrl.url_key).in_(keys)).limit(1))
    ).first()
    return found is not None


async def _accept(
    ctx: BrokerContext,
    participant: ParticipantInfo,
    document: VerifiedDocument,
    hsp: ParticipantInfo,
    urls: list[tuple[str, str]],
) -> DocumentResult:
    payload = document.payload
    token = document.token
    section_a = _section(payload, "section_a")
    emergency = _section(payload, "emergency")
    is_emergency = emergency.get("is_emergency") is True
    async with unit_of_work(ctx) as uow:
        session = uow.session
        original = await uow.find_replay(document)
        if original is not None:
            order = await session.get(Order, original.order_id or "")
            if order is None:  # pragma: no cover - the log and projection are one transaction
                raise NotFound("the order of the original document is missing")
            return DocumentResult(
                receipt=original.receipt or "", order=order_view(order), replayed=True
            )
        # R19, TCO Art. 14(1): a URL under another authority's hold refuses the order
        # (first, as before any other rule of the order).  The common case, URLs no
        # item has named yet (so none is held, none to coordinate with, no duplicate),
        # costs one index probe.
        indexed = await _any_indexed(uow, urls)
        if indexed:
            await deconfliction.check_holds_in_transaction(uow, participant.id, urls)
        # R5, TCO Art. 15(2) and Annex I: a language the HSP designated.
        check_language(str(payload.get("language")), hsp.languages)
        now = ctx.clock.now()
        # R4, TCO Art. 3(2): the first order of this authority to this HSP needs
        # advance information 12 hours earlier, unless it is a justified emergency.
        justification = emergency.get("justification")
        justified = isinstance(justification, str) and bool(justification.strip())
        if not (is_emergency and justified):
            # Existence is enough: one index probe, not a count of the pair's orders.
            earlier_order = (
                await session.exec(
                    select(Order.order_id)
                    .where(col(Order.authority_id) == participant.id, col(Order.hsp_id) == hsp.id)
                    .limit(1)
                )
            ).first()
            advance = None
            if earlier_order is None:
                advance = (
                    await session.exec(
                        select(Event.received_at)
                        .where(
                            col(Event.kind) == "advance_information_received",
                            col(Event.actor) == participant.id,
                            col(Event.hsp_id) == hsp.id,
                        )
                        .order_by(col(Event.seq).desc())
                        .limit(1)
                    )
                ).first()
            check_advance_information(
                is_first_order=earlier_order is None,
                advance_received_at=advance,
                now=now,
                emergency=is_emergency,
                justification=justification if isinstance(justification, str) else None,
            )
        # R19: deconfliction with other Member States' active items; duplicate URLs.
        if indexed:
            checks = await deconfliction.check_new_item(
                uow, issuer=participant, hsp_id=hsp.id, urls=urls, now=now, holds_checked=True
            )
        else:
            checks = deconfliction.ItemChecks(
                issuer_id=participant.id,
                origin=origin_of(participant.role, participant.member_state),
                hsp_id=hsp.id,
                urls=[url for _, url in urls],
                now=now,
            )
        flags = order_flags(payload, authority=participant, hsp=hsp) + checks.flags
        order = Order(
            order_id=str(uuid.uuid4()),
            reference_number=str(section_a.get("reference_number")),
            authority_id=participant.id,
            hsp_id=hsp.id,
            state=OrderState.DELIVERED.value,
            language=str(payload.get("language")),
            emergency=is_emergency,
            flags=flags,
            document=token,
            document_sha256=document.document_sha256,
            # R3: the clock starts at the broker-recorded receipt, not at issued_at.
            received_at=now,
            clock_started_at=now,
            clock_round=1,
            created_at=now,
            updated_at=now,
        )
        structlog.contextvars.bind_contextvars(order_id=order.order_id)
        await uow.start_clock_round(order, now)
        session.add(order)
        received = await uow.order_event(
            order,
            kind="order_received",
            actor=participant.id,
            received_at=now,
            document=document,
            data={
                "reference_number": order.reference_number,
                "language": order.language,
                "emergency": is_emergency,
                "flags": flags,
            },
        )
        await uow.order_event(
            order,
            kind="order_delivered",
            actor="broker",
            received_at=now,
            data={
                "state": order.state,
                "article": "Art. 3(5)",
                "contact_point": hsp.contact_point,
                "clock_round": order.clock_round,
                "clock_started_at": iso_ms(now),
                "deadline_at": iso_ms(order.deadline_at) if order.deadline_at else None,
            },
        )
        await deconfliction.record_new_item(
            uow, checks, item_kind="order", item_id=order.order_id, order=order
        )
    log.info("order_issued", hsp_id=hsp.id, seq=received.seq, flags=len(flags))
    return DocumentResult(receipt=received.receipt or "", order=order_view(order), replayed=False)
