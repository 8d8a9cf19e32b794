"""Batches of referrals and referral outcomes: a Referral Action Day through one request.

A Referral Action Day (TCO.md §4: over 26,000 items from 12 Member States to 9
platforms in one day) is tens of thousands of referrals, each its own signed
document with its own receipt.  ``POST /v1/referrals/batch`` and
``POST /v1/referral-outcomes/batch`` take up to :data:`MAX_BATCH_ITEMS` such
documents, each exactly as it would be sent alone, and answer per item.

Each item is verified, checked and recorded exactly as by :func:`send_referral`
and :func:`record_referral_outcome` (:mod:`perci_sim.services.referrals`: the same
functions, the same events, receipts, R19 flags and feed deliveries), with three
differences that are the point of a batch:

* every document is verified before the write lock is taken, and the valid ones
  are recorded in ONE transaction (one :func:`unit_of_work`), with one query for
  the replays and one for the holds of the whole batch;
* a refused item refuses only itself: nothing of it is stored, and the others go on
  (every refusal is raised before its item writes anything);
* duplicates are answered per item (the DSA Transparency Database lesson, DESIGN.md):
  a document already accepted, earlier or earlier in the same batch, is answered 200
  with its original receipt and stored once; the same ``message_id`` with other
  content is ``duplicate_message`` (409) for that item alone.

All items of a batch are received at the same broker instant.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Collection, Iterable, Sequence
from datetime import datetime
from typing import Any, TypeAlias, TypeVar

import structlog
from sqlalchemy import Table, bindparam, update
from sqlalchemy import select as core_select
from sqlmodel import col, select

from perci_sim.crypto.errors import SchemaViolationError
from perci_sim.crypto.verification import VerifiedDocument
from perci_sim.domain.deconfliction import DeconflictionHoldActive, origin_of, url_key
from perci_sim.domain.errors import PerciError
from perci_sim.services.context import BrokerContext
from perci_sim.services.deconfliction import (
    ItemChecks,
    _any_held,
    check_holds_in_transaction,
    refuse_if_held,
    require_issuer,
)
from perci_sim.services.documents import require_role
from perci_sim.services.errors import DuplicateMessage, NotFound
from perci_sim.services.referrals import (
    ReferralResult,
    VerifiedReferral,
    outcome_values,
    record_outcome,
    record_referral,
    referral_view,
    verify_referral,
    verify_referral_outcome,
)
from perci_sim.services.unit_of_work import UnitOfWork, unit_of_work
from perci_sim.storage.db import detached_row, flush_deferred
from perci_sim.storage.models import Event, ItemEvent, ItemUrl, Referral
from perci_sim.storage.registry import ParticipantInfo

__all__ = [
    "MAX_BATCH_ITEMS",
    "ItemResult",
    "record_referral_outcome_batch",
    "send_referral_batch",
]

log = structlog.get_logger(__name__)

#: The most documents one batch request may carry.
MAX_BATCH_ITEMS = 500
#: Verification and recording are CPU work: let other requests (feeds) run every so
#: many documents.
_YIELD_EVERY = 50
#: What an item's verification yields (a referral, or an outcome document).
_Verified = TypeVar("_Verified")
#: At most so many URLs per query (SQLite and asyncpg take at most 32,766 parameters).
_URLS_PER_QUERY = 1000

_REFERRAL: Table = Referral.__table__  # type: ignore[attr-defined]
#: The answered referrals' changed columns (SET: the parameters' column names), one
#: executemany for the batch.
_ANSWER = update(_REFERRAL).where(_REFERRAL.c.referral_id == bindparam("b_referral_id"))

#: One item's answer: its result (``replayed`` for an earlier document), or its refusal.
ItemResult: TypeAlias = ReferralResult | PerciError


def _slices(urls: Sequence[tuple[str, str]]) -> list[Sequence[tuple[str, str]]]:
    return [urls[i : i + _URLS_PER_QUERY] for i in range(0, len(urls), _URLS_PER_QUERY)]


async def _verify_each(
    tokens: Sequence[object],
    results: list[ItemResult | None],
    verify: Callable[[str], Awaitable[_Verified]],
) -> dict[int, _Verified]:
    """Verify every item before the write lock; a refused one gets its problem in ``results``."""
    verified: dict[int, _Verified] = {}
    for index, token in enumerate(tokens):
        try:
            if not isinstance(token, str):
                raise _not_a_string(index)
            verified[index] = await verify(token)
        except PerciError as exc:
            results[index] = exc
        if index % _YIELD_EVERY == _YIELD_EVERY - 1:
            await asyncio.sleep(0)
    return verified


def _not_a_string(index: int) -> SchemaViolationError:
    return SchemaViolationError(
        f"item {index} of the batch is not a compact JWS string",
        [("", "must be a compact JWS string")],
    )


async def _originals(
    uow: UnitOfWork, sender: str, documents: Iterable[VerifiedDocument]
) -> dict[str, Event]:
    """The events of the sender's documents already recorded, by message_id (one query).

    What :meth:`UnitOfWork.find_replay` finds for one document, for a whole batch.
    """
    message_ids = {d.message_id for d in documents}
    if not message_ids:
        return {}
    rows = await uow.session.exec(
        select(Event).where(col(Event.actor) == sender, col(Event.message_id).in_(message_ids))
    )
    return {str(event.message_id): event for event in rows.all()}


def _replay(original: Event, document: VerifiedDocument) -> Event:
    """Refuse a reused message_id with other content (as find_replay does)."""
    if original.payload_sha256 != document.payload_sha256:
        raise DuplicateMessage(document.message_id, original.seq)
    return original


async def _referral_views(uow: UnitOfWork, events: Collection[Event]) -> dict[int, dict[str, Any]]:
    """The current view of the referral each of ``events`` recorded, by event seq."""
    seqs = {e.seq for e in events if e.seq is not None and e.kind == "referral_received"}
    if not seqs:
        return {}
    links = (
        await uow.session.exec(
            select(ItemEvent.event_seq, ItemEvent.item_id).where(
                col(ItemEvent.item_kind) == "referral", col(ItemEvent.event_seq).in_(seqs)
            )
        )
    ).all()
    referrals = await _referrals(uow, {item_id for _, item_id in links})
    return {
        seq: referral_view(referrals[item_id]) for seq, item_id in links if item_id in referrals
    }


async def _referrals(uow: UnitOfWork, referral_ids: Collection[str]) -> dict[str, Referral]:
    if not referral_ids:
        return {}
    rows = await uow.session.exec(
        select(Referral).where(col(Referral.referral_id).in_(referral_ids))
    )
    return {r.referral_id: r for r in rows.all()}


async def _referral_rows(uow: UnitOfWork, referral_ids: Collection[str]) -> dict[str, Referral]:
    """The referrals ``referral_ids`` as rows of no session (one Core query, no ORM load).

    Changing one writes nothing: the caller writes its changes with :data:`_ANSWER`.
    """
    if not referral_ids:
        return {}
    await flush_deferred(uow.session)  # Core on the connection: write what is pending first
    conn = await uow.session.connection()
    rows = await conn.execute(
        core_select(_REFERRAL).where(_REFERRAL.c.referral_id.in_(referral_ids))
    )
    return {row.referral_id: detached_row(Referral, dict(row._mapping)) for row in rows}


async def _holds_free(uow: UnitOfWork, issuer_id: str, urls: Sequence[tuple[str, str]]) -> bool:
    """True when no URL of the batch is under another issuer's hold (one query, in ``uow``).

    False when a hold was placed since the pre-check: each item then checks its own URLs.
    """
    try:
        for part in _slices(urls):
            await check_holds_in_transaction(uow, issuer_id, part)
    except DeconflictionHoldActive:
        return False
    return True


async def _indexed_keys(uow: UnitOfWork, urls: Sequence[tuple[str, str]]) -> set[str]:
    """The url keys among ``urls`` that an order or referral indexed before (one query)."""
    found: set[str] = set()
    for part in _slices(urls):
        keys = {url_key(url) for _, url in part}
        rows = await uow.session.exec(
            select(ItemUrl.url_key)
            .where(col(ItemUrl.url_key).in_(keys), col(ItemUrl.item_kind) != "hold")
            .distinct()
        )
        found.update(rows.all())
    return found


async def _any_held_in(ctx: BrokerContext, issuer_id: str, urls: Sequence[tuple[str, str]]) -> bool:
    for part in _slices(urls):
        if await _any_held(ctx, issuer_id, part):
            return True
    return False


def _nothing_to_flag(
    participant: ParticipantInfo, item: VerifiedReferral, now: datetime, known: set[str] | None
) -> ItemChecks | None:
    """The R19 checks of a referral none of whose URLs was indexed before the batch.

    :func:`check_new_item` would find nothing to flag for it: the items of this batch
    indexed since are of the same issuer (never ``deconfliction_coordinate``) and are
    referrals (never ``duplicate_url``).  None: let :func:`check_new_item` look.
    """
    if known is None or any(url_key(url) in known for _, url in item.urls):
        return None
    return ItemChecks(
        issuer_id=participant.id,
        origin=origin_of(participant.role, participant.member_state),
        hsp_id=item.hsp_id,
        urls=[url for _, url in item.urls],
        now=now,
    )


async def send_referral_batch(
    *, ctx: BrokerContext, participant: ParticipantInfo, tokens: Sequence[object]
) -> list[ItemResult]:
    """Record every valid referral of ``tokens`` in one transaction; answer each in order.

    Raises:
        Forbidden: the participant is neither a competent authority nor Europol.
    """
    require_issuer(participant)
    results: list[ItemResult | None] = [None] * len(tokens)
    verified = await _verify_each(
        tokens, results, lambda token: verify_referral(ctx, participant, token)
    )
    # R19: as for one referral, a held URL refuses its item before anything is stored,
    # and the holder is told who tried.  The common case is one read for the batch.
    every_url = [url for item in verified.values() for url in item.urls]
    if await _any_held_in(ctx, participant.id, every_url):
        for index, item in list(verified.items()):
            try:
                await refuse_if_held(
                    ctx,
                    document=item.document,
                    issuer=participant,
                    item_kind="referral",
                    urls=item.urls,
                )
            except DeconflictionHoldActive as exc:
                results[index] = exc
                del verified[index]
    if verified:
        async with unit_of_work(ctx) as uow:
            now = ctx.clock.now()
            originals = await _originals(
                uow, participant.id, (item.document for item in verified.values())
            )
            views = await _referral_views(uow, originals.values())
            fresh = [
                url
                for item in verified.values()
                if item.document.message_id not in originals
                for url in item.urls
            ]
            holds_checked = await _holds_free(uow, participant.id, fresh)
            known = await _indexed_keys(uow, fresh) if holds_checked else None
            for count, (index, item) in enumerate(verified.items(), 1):
                if count % _YIELD_EVERY == 0:
                    await asyncio.sleep(0)
                document = item.document
                try:
                    original = originals.get(document.message_id)
                    if original is not None:
                        _replay(original, document)
                        view = views.get(original.seq or 0)
                        if view is None:  # pragma: no cover - recorded in one transaction
                            raise NotFound("the referral of the original document is missing")
                        results[index] = ReferralResult(
                            referral=view, receipt=original.receipt or "", replayed=True
                        )
                        continue
                    result, event = await record_referral(
                        uow,
                        participant=participant,
                        item=item,
                        now=now,
                        holds_checked=holds_checked,
                        checks=_nothing_to_flag(participant, item, now, known),
                    )
                except PerciError as exc:
                    results[index] = exc
                    continue
                # A later copy of this document in the batch is a replay of it.
                originals[document.message_id] = event
                views[event.seq or 0] = result.referral
                results[index] = result
    return _logged("referral_batch", participant, results)


async def record_referral_outcome_batch(
    *, ctx: BrokerContext, participant: ParticipantInfo, tokens: Sequence[object]
) -> list[ItemResult]:
    """Record every valid referral outcome of ``tokens`` in one transaction; answer each.

    Each document names its referral (``referral_id``); a referral of another HSP is
    ``not_found``, a second answer ``illegal_transition``, as for one outcome.

    Raises:
        Forbidden: the participant is not a hosting service provider.
    """
    require_role(participant, "hsp")
    results: list[ItemResult | None] = [None] * len(tokens)
    verified = await _verify_each(
        tokens, results, lambda token: verify_referral_outcome(ctx, participant, token)
    )
    if verified:
        async with unit_of_work(ctx) as uow:
            now = ctx.clock.now()
            originals = await _originals(uow, participant.id, verified.values())
            referrals = await _referral_rows(
                uow, {str(d.payload["referral_id"]) for d in verified.values()}
            )
            answered: list[dict[str, Any]] = []
            for count, (index, document) in enumerate(verified.items(), 1):
                if count % _YIELD_EVERY == 0:
                    await asyncio.sleep(0)
                referral_id = str(document.payload["referral_id"])
                try:
                    original = originals.get(document.message_id)
                    if original is not None:
                        _replay(original, document)
                    referral = referrals.get(referral_id)
                    if referral is None or referral.hsp_id != participant.id:
                        raise NotFound(
                            f"no referral {referral_id!r} for {participant.id!r}",
                            errors=[{"field": "/referral_id", "message": "no such referral"}],
                        )
                    if original is not None:
                        results[index] = ReferralResult(
                            referral=referral_view(referral),
                            receipt=original.receipt or "",
                            replayed=True,
                        )
                        continue
                    result, event = await record_outcome(
                        uow,
                        participant=participant,
                        referral=referral,
                        document=document,
                        now=now,
                        tracked=False,
                    )
                except PerciError as exc:
                    results[index] = exc
                    continue
                answered.append({"b_referral_id": referral_id, **outcome_values(referral)})
                originals[document.message_id] = event
                results[index] = result
            if answered:
                # The answered referrals' rows: one executemany (they are no session's).
                conn = await uow.session.connection()
                await conn.execute(_ANSWER, answered)
    return _logged("referral_outcome_batch", participant, results)


def _logged(
    what: str, participant: ParticipantInfo, results: list[ItemResult | None]
) -> list[ItemResult]:
    done = [r for r in results if r is not None]
    assert len(done) == len(results)  # every item was answered
    accepted = sum(1 for r in done if isinstance(r, ReferralResult) and not r.replayed)
    replayed = sum(1 for r in done if isinstance(r, ReferralResult) and r.replayed)
    log.info(
        what,
        participant=participant.id,
        items=len(done),
        accepted=accepted,
        replayed=replayed,
        refused=len(done) - accepted - replayed,
    )
    return done
