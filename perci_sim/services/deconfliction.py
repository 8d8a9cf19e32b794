"""TCO Art. 14(1): deconfliction holds, coordination flags and duplicate detection (R19).

Every order and referral indexes its URLs under :func:`~perci_sim.domain.deconfliction.url_key`
(table ``item_url``).  When a new one arrives the broker asks, per URL:

1. Is it under a **hold** of another issuer?  Then the document is refused with the
   problem ``deconfliction_hold`` (409), naming per URL whom to contact and nothing of
   the investigation; the holder is told on its feed (``deconfliction_hold_refusal``).
2. Is there an **active item of another origin** (an open order, or a referral without
   outcome within 30 days, from another Member State or Europol)?  Then the new item is
   accepted and flagged ``deconfliction_coordinate`` naming the other item and its
   Member State; the earlier issuer gets a ``deconfliction_notice`` on its feed.
3. Is the URL already in an **open or executed order to the same HSP**?  Then the new
   item is accepted and flagged ``duplicate_url`` for that URL, naming the earlier
   order(s).  Choice: accept and flag, per URL, rather than refuse: an order is the
   authority's legal act and a batch must not fail for one URL; the DSA Transparency
   Database's users ask for exactly this precision (DESIGN "Lessons").

The use cases (``issue_order``, ``referrals``) call :func:`refuse_if_held` before their
transaction, :func:`check_new_item` inside it, and :func:`record_new_item` once the new
item has its id.  Holds are placed and lifted by :func:`place_hold` and :func:`lift_hold`.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy import ColumnElement, Table, true
from sqlmodel import col, select

from perci_sim.crypto.verification import VerifiedDocument, verify_document
from perci_sim.domain.deconfliction import (
    DeconflictionHoldActive,
    HeldUrl,
    counts_as_duplicate,
    is_active_order,
    is_active_referral,
    origin_of,
    url_key,
)
from perci_sim.domain.errors import IllegalTransition
from perci_sim.domain.states import OPEN_STATES
from perci_sim.services.audience import reads_everything
from perci_sim.services.context import BrokerContext
from perci_sim.services.errors import Forbidden, NotFound, WrongOrder
from perci_sim.services.unit_of_work import UnitOfWork, unit_of_work
from perci_sim.services.views import event_view
from perci_sim.storage.db import Database, defer_insert
from perci_sim.storage.log import iso_ms
from perci_sim.storage.models import (
    DeconflictionHold,
    Event,
    ItemEvent,
    ItemUrl,
    Order,
    Participant,
    Referral,
)
from perci_sim.storage.registry import ParticipantInfo

__all__ = [
    "ARTICLE",
    "ISSUER_ROLES",
    "HoldResult",
    "ItemChecks",
    "check_holds_in_transaction",
    "check_new_item",
    "hold_view",
    "lift_hold",
    "link_event",
    "linked_item",
    "list_holds",
    "order_urls",
    "place_hold",
    "record_new_item",
    "refuse_if_held",
    "require_issuer",
]

log = structlog.get_logger(__name__)

#: The article every cooperation event of this module cites.
ARTICLE = "Art. 14(1)"
#: Who may send referrals and place holds: competent authorities and Europol (Art. 14(1)).
ISSUER_ROLES = ("authority", "europol")

_OPEN = frozenset(s.value for s in OPEN_STATES)
#: Write-only index rows: Core, batched with the transaction's events (storage/db.py).
_ITEM_EVENT: Table = ItemEvent.__table__  # type: ignore[attr-defined]
_ITEM_URL: Table = ItemUrl.__table__  # type: ignore[attr-defined]


def require_issuer(participant: ParticipantInfo) -> None:
    """Refuse a participant that is neither a competent authority nor Europol."""
    if participant.role not in ISSUER_ROLES:
        raise Forbidden(
            f"only a competent authority or Europol may do this; you are {participant.role!r}"
        )


async def link_event(uow: UnitOfWork, item_kind: str, item_id: str, event: Event) -> None:
    """Put ``event`` into the history of the referral, hold or threat report ``item_id``."""
    assert event.seq is not None
    defer_insert(
        uow.session,
        _ITEM_EVENT,
        {"item_kind": item_kind, "item_id": item_id, "event_seq": event.seq},
    )


async def linked_item(uow: UnitOfWork, item_kind: str, event: Event) -> str:
    """The id of the ``item_kind`` item whose history holds ``event`` (for replays)."""
    item_id = (
        await uow.session.exec(
            select(ItemEvent.item_id).where(
                col(ItemEvent.event_seq) == event.seq, col(ItemEvent.item_kind) == item_kind
            )
        )
    ).first()
    return item_id or ""


async def item_history(
    db: Database, participant: ParticipantInfo, item_kind: str, item_id: str
) -> list[dict[str, Any]]:
    """The events of a referral, hold or threat report the participant may see, in log order.

    The caller has checked that ``participant`` is a party to the item: an HSP sees
    the events naming it, an authority or Europol those naming it, a facilitator all.
    """
    mine: ColumnElement[bool]
    if reads_everything(participant):
        mine = true()
    elif participant.role == "hsp":
        mine = col(Event.hsp_id) == participant.id
    else:
        mine = col(Event.authority_id) == participant.id
    async with db.read() as session:
        rows = (
            await session.exec(
                select(Event)
                .join(ItemEvent, col(ItemEvent.event_seq) == col(Event.seq))
                .where(
                    col(ItemEvent.item_kind) == item_kind,
                    col(ItemEvent.item_id) == item_id,
                    mine,
                )
                .order_by(col(Event.seq))
            )
        ).all()
    return [event_view(row) for row in rows]


def order_urls(payload: dict[str, Any]) -> list[tuple[str, str]]:
    """The ``(json_pointer, url)`` pairs of an Annex I order's Section B content."""
    section_b = payload.get("section_b")
    content = section_b.get("content") if isinstance(section_b, dict) else None
    return [
        (f"/section_b/content/{index}/url", str(item["url"]))
        for index, item in enumerate(content if isinstance(content, list) else [])
        if isinstance(item, dict) and isinstance(item.get("url"), str)
    ]


# --- holds: refusal ---------------------------------------------------------------------------


async def _held(
    uow: UnitOfWork, issuer_id: str, urls: Sequence[tuple[str, str]]
) -> list[tuple[HeldUrl, DeconflictionHold]]:
    """The (field, url) pairs under an active hold of someone other than ``issuer_id``."""
    keys = {url_key(url) for _, url in urls}
    rows = (
        await uow.session.exec(
            select(ItemUrl, DeconflictionHold)
            .join(DeconflictionHold, col(DeconflictionHold.hold_id) == col(ItemUrl.item_id))
            .where(
                col(ItemUrl.item_kind) == "hold",
                col(ItemUrl.url_key).in_(keys),
                col(DeconflictionHold.lifted_at).is_(None),
                col(DeconflictionHold.holder_id) != issuer_id,
            )
            .order_by(col(ItemUrl.id))
        )
    ).all()
    if not rows:
        return []
    by_key: dict[str, list[DeconflictionHold]] = {}
    for item, hold in rows:
        by_key.setdefault(item.url_key, []).append(hold)
    holders = {
        p.id: p
        for p in (
            await uow.session.exec(
                select(Participant).where(col(Participant.id).in_({h.holder_id for _, h in rows}))
            )
        ).all()
    }
    held: list[tuple[HeldUrl, DeconflictionHold]] = []
    for pointer, url in urls:
        for hold in by_key.get(url_key(url), []):
            holder = holders.get(hold.holder_id)
            held.append(
                (
                    HeldUrl(
                        field=pointer,
                        url=url,
                        holder_id=hold.holder_id,
                        holder_name=holder.name if holder else hold.holder_id,
                        holder_member_state=hold.origin,
                        contact_point=hold.contact_point,
                    ),
                    hold,
                )
            )
    return held


async def _any_held(ctx: BrokerContext, issuer_id: str, urls: Sequence[tuple[str, str]]) -> bool:
    """True when a URL may be under another issuer's active hold (a read, no write lock)."""
    keys = {url_key(url) for _, url in urls}
    if not keys:
        return False
    query = (
        select(ItemUrl.id)
        .join(DeconflictionHold, col(DeconflictionHold.hold_id) == col(ItemUrl.item_id))
        .where(
            col(ItemUrl.item_kind) == "hold",
            col(ItemUrl.url_key).in_(keys),
            col(DeconflictionHold.lifted_at).is_(None),
            col(DeconflictionHold.holder_id) != issuer_id,
        )
        .limit(1)
    )
    async with ctx.db.connect() as conn:
        return (await conn.execute(query)).first() is not None


async def refuse_if_held(
    ctx: BrokerContext,
    *,
    document: VerifiedDocument,
    issuer: ParticipantInfo,
    item_kind: str,
    urls: Sequence[tuple[str, str]],
) -> None:
    """R19: refuse a new order or referral with a URL under another issuer's hold.

    ``urls`` are ``(json_pointer, url)`` pairs of the document.  Before refusing, the
    broker tells each holder (event ``deconfliction_hold_refusal``, in its own
    transaction) who tried, so that the coordination Art. 14(1) asks for can start.
    A resend of a document accepted before the hold is not refused (idempotency).

    Raises:
        DeconflictionHoldActive: naming, per URL, whom to contact.
    """
    if not await _any_held(ctx, issuer.id, urls):
        # The common case, read without the write lock.  A hold committed after this
        # read is still enforced: check_new_item repeats the check in the transaction.
        return
    refusal: DeconflictionHoldActive | None = None
    async with unit_of_work(ctx) as uow:
        if await uow.find_replay(document) is not None:
            return
        held = await _held(uow, issuer.id, urls)
        if not held:
            return
        now = ctx.clock.now()
        per_hold: dict[str, tuple[DeconflictionHold, list[str]]] = {}
        for entry, hold in held:
            per_hold.setdefault(hold.hold_id, (hold, []))[1].append(entry.url)
        for hold, hold_urls in per_hold.values():
            event = await uow.append(
                kind="deconfliction_hold_refusal",
                actor="broker",
                received_at=now,
                authority_id=hold.holder_id,
                data={
                    "article": ARTICLE,
                    "rule": "R19",
                    "hold_id": hold.hold_id,
                    "urls": hold_urls,
                    "refused": {
                        "item_kind": item_kind,
                        "authority_id": issuer.id,
                        "member_state": origin_of(issuer.role, issuer.member_state),
                        "message_id": document.message_id,
                    },
                },
            )
            await link_event(uow, "hold", hold.hold_id, event)
        refusal = DeconflictionHoldActive([entry for entry, _ in held])
    log.info("deconfliction_hold_refused", issuer=issuer.id, urls=len(refusal.held))
    raise refusal


async def check_holds_in_transaction(
    uow: UnitOfWork, issuer_id: str, urls: Sequence[tuple[str, str]]
) -> None:
    """Refuse (``DeconflictionHoldActive``) a URL under another issuer's hold, in ``uow``.

    ``issue_order`` calls it first in its transaction and, when it raises, calls
    :func:`refuse_if_held` to tell the holder: the common case costs one query.
    """
    # A hold committed between refuse_if_held and this transaction still wins.
    held = await _held(uow, issuer_id, urls)
    if held:
        raise DeconflictionHoldActive([entry for entry, _ in held])


# --- coordination and duplicates ----------------------------------------------------------------


@dataclass(slots=True)
class ItemChecks:
    """What :func:`check_new_item` found for a new order or referral."""

    issuer_id: str
    origin: str
    hsp_id: str
    urls: list[str]
    now: datetime
    #: R19: active items of another origin, one entry per (URL, item).
    coordinate: list[dict[str, Any]] = field(default_factory=list)
    #: Duplicate detection: per URL, the earlier orders to the same HSP.
    duplicates: list[dict[str, Any]] = field(default_factory=list)

    @property
    def flags(self) -> list[str]:
        """The ``"<code>: <explanation>"`` flags of the new item (OrderView/ReferralView)."""
        flags = [
            f"deconfliction_coordinate: {c['url']} is also in an active {c['item_kind']} "
            f"{c['item_id']} of {c['member_state']} ({c['authority_id']}); coordinate with it "
            f"or withdraw ({ARTICLE})"
            for c in self.coordinate
        ]
        flags += [
            f"duplicate_url: {d['url']} is already in order(s) "
            f"{', '.join(d['earlier_order_ids'])} to {self.hsp_id} ({ARTICLE})"
            for d in self.duplicates
        ]
        return flags


async def check_new_item(
    uow: UnitOfWork,
    *,
    issuer: ParticipantInfo,
    hsp_id: str,
    urls: Sequence[tuple[str, str]],
    now: datetime,
    holds_checked: bool = False,
) -> ItemChecks:
    """Inside the new item's transaction: refuse held URLs, find what to flag (R19).

    ``holds_checked``: :func:`check_holds_in_transaction` already ran in ``uow``.

    Raises:
        DeconflictionHoldActive: a URL is under another issuer's hold.
    """
    if not holds_checked:
        await check_holds_in_transaction(uow, issuer.id, urls)
    origin = origin_of(issuer.role, issuer.member_state)
    checks = ItemChecks(
        issuer_id=issuer.id,
        origin=origin,
        hsp_id=hsp_id,
        urls=[url for _, url in urls],
        now=now,
    )
    keys = {url_key(url) for _, url in urls}
    indexed = (
        await uow.session.exec(
            select(ItemUrl)
            .where(col(ItemUrl.url_key).in_(keys), col(ItemUrl.item_kind) != "hold")
            .order_by(col(ItemUrl.id))
        )
    ).all()
    order_ids = {i.item_id for i in indexed if i.item_kind == "order"}
    referral_ids = {i.item_id for i in indexed if i.item_kind == "referral"}
    orders = {
        o.order_id: o
        for o in (
            await uow.session.exec(select(Order).where(col(Order.order_id).in_(order_ids)))
        ).all()
    }
    referrals = {
        r.referral_id: r
        for r in (
            await uow.session.exec(
                select(Referral).where(col(Referral.referral_id).in_(referral_ids))
            )
        ).all()
    }
    seen: set[tuple[str, str]] = set()
    for _, url in urls:
        key = url_key(url)
        earlier_orders: list[str] = []
        for item in (i for i in indexed if i.url_key == key):
            if item.item_kind == "order":
                order = orders.get(item.item_id)
                if order is None:  # pragma: no cover - indexed with the order
                    continue
                active = is_active_order(order.state, _OPEN)
                if order.hsp_id == hsp_id and counts_as_duplicate(order.state):
                    earlier_orders.append(order.order_id)
            else:
                referral = referrals.get(item.item_id)
                if referral is None:  # pragma: no cover - indexed with the referral
                    continue
                active = is_active_referral(
                    received_at=referral.received_at,
                    has_outcome=referral.outcome is not None,
                    now=now,
                )
            if active and item.origin != origin and (url, item.item_id) not in seen:
                seen.add((url, item.item_id))
                checks.coordinate.append(
                    {
                        "url": url,
                        "url_key": key,
                        "item_kind": item.item_kind,
                        "item_id": item.item_id,
                        "member_state": item.origin,
                        "authority_id": item.authority_id,
                        "received_at": iso_ms(item.received_at),
                    }
                )
        if earlier_orders:
            checks.duplicates.append(
                {
                    "url": url,
                    "url_key": key,
                    "earlier_order_ids": sorted(set(earlier_orders), key=earlier_orders.index),
                }
            )
    return checks


async def record_new_item(
    uow: UnitOfWork,
    checks: ItemChecks,
    *,
    item_kind: str,
    item_id: str,
    order: Order | None = None,
) -> None:
    """Index the new item's URLs, record its flags, and notify the earlier issuers (R19).

    For an order the ``deconfliction_flagged`` event is in the order's history (both
    parties see it); for a referral it is in the referral's.  Each earlier issuer gets
    one ``deconfliction_notice`` per earlier item, visible to it alone.
    """
    for url in checks.urls:
        defer_insert(
            uow.session,
            _ITEM_URL,
            {
                "url_key": url_key(url),
                "url": url,
                "item_kind": item_kind,
                "item_id": item_id,
                "authority_id": checks.issuer_id,
                "origin": checks.origin,
                "hsp_id": checks.hsp_id,
                "received_at": checks.now,
            },
        )
    if not checks.coordinate and not checks.duplicates:
        return
    data = {
        "article": ARTICLE,
        "rule": "R19",
        "item_kind": item_kind,
        "item_id": item_id,
        "flags": checks.flags,
        "coordinate": checks.coordinate,
        "duplicates": checks.duplicates,
    }
    if order is not None:
        await uow.order_event(
            order, kind="deconfliction_flagged", actor="broker", received_at=checks.now, data=data
        )
    else:
        flagged = await uow.append(
            kind="deconfliction_flagged",
            actor="broker",
            received_at=checks.now,
            authority_id=checks.issuer_id,
            hsp_id=checks.hsp_id,
            data=data,
        )
        await link_event(uow, item_kind, item_id, flagged)
    notices: dict[tuple[str, str, str], list[str]] = {}
    for c in checks.coordinate:
        key = (c["authority_id"], c["item_kind"], c["item_id"])
        notices.setdefault(key, []).append(c["url"])
    for (authority_id, earlier_kind, earlier_id), urls in notices.items():
        notice = await uow.append(
            kind="deconfliction_notice",
            actor="broker",
            received_at=checks.now,
            authority_id=authority_id,
            data={
                "article": ARTICLE,
                "rule": "R19",
                "earlier_item": {"item_kind": earlier_kind, "item_id": earlier_id},
                "new_item": {
                    "item_kind": item_kind,
                    "item_id": item_id,
                    "authority_id": checks.issuer_id,
                    "member_state": checks.origin,
                    "hsp_id": checks.hsp_id,
                },
                "urls": urls,
            },
        )
        if earlier_kind == "referral":
            await link_event(uow, "referral", earlier_id, notice)


# --- holds: placing and lifting ------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class HoldResult:
    """A placed or lifted hold: its view and the broker's receipt."""

    hold: dict[str, Any]
    receipt: str
    replayed: bool


def hold_view(hold: DeconflictionHold) -> dict[str, Any]:
    """Render a hold for its holder (HoldView)."""
    return {
        "hold_id": hold.hold_id,
        "holder_id": hold.holder_id,
        "member_state": hold.origin,
        "urls": list(hold.urls),
        "contact_point": hold.contact_point,
        "state": "active" if hold.lifted_at is None else "lifted",
        "placed_at": iso_ms(hold.placed_at),
        "lifted_at": iso_ms(hold.lifted_at) if hold.lifted_at else None,
        "document": hold.document,
    }


async def _active_items(uow: UnitOfWork, holder_id: str, urls: Sequence[str], now: datetime) -> Any:
    """Items of other issuers already active for the held URLs: whom the holder should call."""
    keys = {url_key(u) for u in urls}
    rows = (
        await uow.session.exec(
            select(ItemUrl).where(
                col(ItemUrl.url_key).in_(keys),
                col(ItemUrl.item_kind) != "hold",
                col(ItemUrl.authority_id) != holder_id,
            )
        )
    ).all()
    found = []
    for item in rows:
        if item.item_kind == "order":
            order = await uow.session.get(Order, item.item_id)
            active = order is not None and is_active_order(order.state, _OPEN)
        else:
            referral = await uow.session.get(Referral, item.item_id)
            active = referral is not None and is_active_referral(
                received_at=referral.received_at, has_outcome=referral.outcome is not None, now=now
            )
        if active:
            found.append(
                {
                    "url": item.url,
                    "item_kind": item.item_kind,
                    "item_id": item.item_id,
                    "authority_id": item.authority_id,
                    "member_state": item.origin,
                }
            )
    return found


async def place_hold(*, ctx: BrokerContext, participant: ParticipantInfo, token: str) -> HoldResult:
    """R19: record a deconfliction hold; from now on others' orders/referrals are refused.

    The hold is visible to its holder only: neither the HSP nor other authorities
    learn of it until they try to issue for a held URL, and then only whom to contact.
    """
    require_issuer(participant)
    document = await verify_document(
        ctx.db, token=token, expected_type="deconfliction_hold", participant_id=participant.id
    )
    payload = document.payload
    urls = [str(u) for u in payload["urls"]]
    async with unit_of_work(ctx) as uow:
        original = await uow.find_replay(document)
        if original is not None:
            hold = await uow.session.get(
                DeconflictionHold, await linked_item(uow, "hold", original)
            )
            if hold is None:  # pragma: no cover - recorded in one transaction
                raise NotFound("the hold of the original document is missing")
            return HoldResult(hold=hold_view(hold), receipt=original.receipt or "", replayed=True)
        now = ctx.clock.now()
        origin = origin_of(participant.role, participant.member_state)
        contact = payload.get("contact_point") or participant.contact_point or participant.name
        hold = DeconflictionHold(
            hold_id=str(uuid.uuid4()),
            holder_id=participant.id,
            origin=origin,
            urls=urls,
            contact_point=str(contact),
            document=token,
            placed_at=now,
        )
        uow.session.add(hold)
        for url in urls:
            uow.session.add(
                ItemUrl(
                    url_key=url_key(url),
                    url=url,
                    item_kind="hold",
                    item_id=hold.hold_id,
                    authority_id=participant.id,
                    origin=origin,
                    received_at=now,
                )
            )
        event = await uow.append(
            kind="deconfliction_hold_received",
            actor=participant.id,
            received_at=now,
            authority_id=participant.id,
            document=document,
            data={
                "article": ARTICLE,
                "rule": "R19",
                "hold_id": hold.hold_id,
                "urls": urls,
                "state": "active",
                # Orders and referrals already out for these URLs: coordinate with them.
                "active_items": await _active_items(uow, participant.id, urls, now),
            },
        )
        await link_event(uow, "hold", hold.hold_id, event)
    log.info("deconfliction_hold_placed", hold_id=hold.hold_id, urls=len(urls))
    return HoldResult(hold=hold_view(hold), receipt=event.receipt or "", replayed=False)


async def lift_hold(
    *, ctx: BrokerContext, participant: ParticipantInfo, hold_id: str, token: str
) -> HoldResult:
    """R19: the holder lifts its hold; orders and referrals for its URLs are accepted again."""
    require_issuer(participant)
    document = await verify_document(
        ctx.db, token=token, expected_type="hold_lifted", participant_id=participant.id
    )
    named = document.payload.get("hold_id")
    if named != hold_id:
        raise WrongOrder(
            f"the document is about hold {named!r}, but was posted to hold {hold_id!r}",
            errors=[{"field": "/hold_id", "message": f"must be {hold_id!r}"}],
        )
    async with unit_of_work(ctx) as uow:
        original = await uow.find_replay(document)
        hold = await uow.session.get(DeconflictionHold, hold_id)
        if hold is None or hold.holder_id != participant.id:
            raise NotFound(f"no hold {hold_id!r} of {participant.id!r}")
        if original is not None:
            return HoldResult(hold=hold_view(hold), receipt=original.receipt or "", replayed=True)
        if hold.lifted_at is not None:
            raise IllegalTransition("lifted", "hold_lifted")
        now = ctx.clock.now()
        hold.lifted_at = now
        uow.session.add(hold)
        event = await uow.append(
            kind="hold_lifted_received",
            actor=participant.id,
            received_at=now,
            authority_id=participant.id,
            document=document,
            data={
                "article": ARTICLE,
                "rule": "R19",
                "hold_id": hold_id,
                "urls": list(hold.urls),
                "from_state": "active",
                "state": "lifted",
            },
        )
        await link_event(uow, "hold", hold_id, event)
    log.info("deconfliction_hold_lifted", hold_id=hold_id)
    return HoldResult(hold=hold_view(hold), receipt=event.receipt or "", replayed=False)


async def list_holds(ctx: BrokerContext, participant: ParticipantInfo) -> list[dict[str, Any]]:
    """The participant's own holds, newest first (holds are visible to their holder only)."""
    require_issuer(participant)
    async with ctx.db.read() as session:
        rows = (
            await session.exec(
                select(DeconflictionHold)
                .where(col(DeconflictionHold.holder_id) == participant.id)
                .order_by(col(DeconflictionHold.placed_at).desc())
            )
        ).all()
    return [hold_view(row) for row in rows]
