"""What the broker itself does in an order's life after the one-hour path.

Run inside the transaction of the event that causes it (so the Art. 4(1) copy
is written with the order, R10) or of the obligation it expires:

* :func:`after_order_event` is called by :meth:`UnitOfWork.order_event` for every
  order event; it reacts to ``order_received`` / ``order_delivered`` (lifecycle
  row, host copy, scrutiny and appeal windows, non-disclosure),
  ``feedback_received`` (Art. 6 preservation, the R14 risk flag, Art. 11
  information) and ``withdrawal_received`` (nothing more is owed);
* :func:`end_legal_effect` (Art. 4(6), Art. 9), :func:`make_final` (Art. 3(9)
  and the Art. 5(4) prompt) and :func:`fire_due_obligations` (expiry) are the
  effects the document services and the timer wheel share.

This module must not import the unit of work or the document path at run time
(the unit of work imports it).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

import structlog
from sqlalchemy import Table
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from perci_sim.crypto.verification import VerifiedDocument
from perci_sim.domain.obligations import (
    OBLIGATIONS,
    ROLLING_WINDOW,
    ObligationKind,
    ObligationSpec,
    Period,
    add_period,
    due_at,
    exposure_prompted,
    final_orders_in_window,
    nondisclosure_end,
    parse_duration,
    preserve_until,
)
from perci_sim.domain.rules import parse_instant
from perci_sim.domain.states import OrderState, Trigger, next_state
from perci_sim.services.obligations import (
    cancel_obligations,
    claim_obligation,
    due_obligations,
    open_obligation,
)
from perci_sim.storage.db import defer_insert
from perci_sim.storage.log import iso_ms
from perci_sim.storage.models import Event, Obligation, Order, OrderLifecycle, Participant
from perci_sim.storage.registry import registry_snapshot

if TYPE_CHECKING:
    from perci_sim.services.unit_of_work import UnitOfWork

__all__ = [
    "LEGAL_EFFECT_STATES",
    "after_order_event",
    "before_order_event",
    "end_legal_effect",
    "europol_ids",
    "fire_due_obligations",
    "host_authority_for",
    "keep_lifecycle",
    "lifecycle_of",
    "make_final",
    "next_report",
    "scrutiny_windows_open",
]

log = structlog.get_logger(__name__)

K = ObligationKind

#: States in which an order still has legal effect (it can become final or lose it).
LEGAL_EFFECT_STATES = frozenset(OrderState) - {
    OrderState.WITHDRAWN,
    OrderState.NO_LEGAL_EFFECT,
    OrderState.REINSTATED,
}


def _section(payload: dict[str, Any], name: str) -> dict[str, Any]:
    value = payload.get(name)
    return value if isinstance(value, dict) else {}


#: ``session.info`` key of the lifecycle rows this session created or loaded, kept alive:
#: the session's identity map holds its rows weakly, and a row nothing else refers to
#: would be read again by the next ``session.get``.
_LIFECYCLES = "perci_lifecycles"


def _keep(session: AsyncSession, lifecycle: OrderLifecycle) -> None:
    session.info.setdefault(_LIFECYCLES, {})[lifecycle.order_id] = lifecycle


async def lifecycle_of(session: AsyncSession, order_id: str) -> OrderLifecycle | None:
    """The order's lifecycle projection (None for orders without one)."""
    kept: dict[str, OrderLifecycle] | None = session.info.get(_LIFECYCLES)
    if kept is not None and order_id in kept and kept[order_id] in session:
        return kept[order_id]  # (unless expunged or deleted meanwhile)
    loaded = await session.get(OrderLifecycle, order_id)
    if loaded is not None:
        _keep(session, loaded)
    return loaded


def keep_lifecycle(session: AsyncSession, lifecycle: OrderLifecycle) -> None:
    """Let :func:`lifecycle_of` answer from ``lifecycle``, a row loaded in ``session``."""
    _keep(session, lifecycle)


async def host_authority_for(
    session: AsyncSession, member_state: str, *, exclude: str | None = None
) -> str | None:
    """The competent authority registered for ``member_state`` (Art. 12(1)(b)/(c)), if any."""
    rows = (
        await session.exec(
            select(Participant.id)
            .where(
                col(Participant.role) == "authority", col(Participant.member_state) == member_state
            )
            .order_by(col(Participant.id))
        )
    ).all()
    return next((pid for pid in rows if pid != exclude), None)


async def europol_ids(session: AsyncSession) -> list[str]:
    """Europol's participant ids (R13: infringement decisions are copied to Europol)."""
    return list(
        (await session.exec(select(Participant.id).where(col(Participant.role) == "europol"))).all()
    )


def _flag(order: Order, flag: str) -> None:
    order.flags = [*order.flags, flag]


_OBLIGATION_TABLE: Table = Obligation.__table__  # type: ignore[attr-defined]


def _open_batched(uow: UnitOfWork, kind: ObligationKind, **fields: Any) -> None:
    """:func:`open_obligation`, the row written with the transaction's other batched rows.

    The ORM writes rows with an autoincrement key one statement each on SQLite; the
    hot path's rows go through :func:`~perci_sim.storage.db.defer_insert` instead.
    """
    row = open_obligation(uow, kind, **fields)
    uow.session.expunge(row)
    defer_insert(
        uow.session,
        _OBLIGATION_TABLE,
        {c.name: getattr(row, c.name) for c in _OBLIGATION_TABLE.columns if not c.primary_key},
    )


# --- hooks ---------------------------------------------------------------------------------------


async def _order_received(uow: UnitOfWork, order: Order, document: VerifiedDocument | None) -> None:
    """Annex I: the lifecycle row, and the R10/R16 flags, before the order is sealed."""
    session = uow.session
    payload = document.payload if document is not None else {}
    # The cached registry (storage/registry.py), validated for this request or now.
    registry = await registry_snapshot(uow.ctx.db, session)
    authority = registry.participants.get(order.authority_id)
    hsp = registry.participants.get(order.hsp_id)
    if authority is None or hsp is None:  # pragma: no cover - checked by issue_order
        return
    # TCO Art. 16/17: the legal representative's Member State, else the main establishment.
    host_ms = hsp.host_member_state
    cross_border = authority.member_state != host_ms
    host_authority_id = next(
        (
            p.id
            for p in registry.participants.values()  # in id order, as host_authority_for
            if p.role == "authority" and p.member_state == host_ms and p.id != authority.id
        ),
        None,
    )
    lifecycle = OrderLifecycle(
        order_id=order.order_id,
        issuing_member_state=authority.member_state,
        host_member_state=host_ms,
        cross_border=cross_border,
        host_authority_id=host_authority_id,
    )
    appeal = _section(_section(payload, "section_g"), "appeal_deadline")
    if isinstance(appeal.get("duration"), str):
        lifecycle.appeal_duration = str(appeal["duration"])
        lifecycle.appeal_starts_from = str(appeal.get("starts_from") or "receipt of the order")
    section_d = _section(payload, "section_d")
    if cross_border and section_d.get("copy_sent_to_host_authority") is False:
        # R10: Section D must agree: the broker sends the copy of a cross-border order.
        _flag(
            order,
            "section_d_mismatch: copy_sent_to_host_authority is false but the order is "
            f"cross-border ({authority.member_state} -> {host_ms}); the broker sends the copy "
            "(Art. 4(1))",
        )
    section_c = _section(payload, "section_c")
    if section_c.get("nondisclosure") is True:
        requested = section_c.get("nondisclosure_until")
        try:
            stated = parse_instant(requested) if isinstance(requested, str) else None
        except ValueError:
            stated = None
        until, capped = nondisclosure_end(order.received_at, stated)
        lifecycle.nondisclosure_until = until
        if capped:
            # R16, Art. 11(3): "not exceeding six weeks".
            _flag(
                order,
                f"nondisclosure_capped: Section C non-disclosure ends {iso_ms(until)}, at "
                "most six weeks after the decision (Art. 11(3))",
            )
    session.add(lifecycle)
    _keep(session, lifecycle)


async def _order_delivered(
    uow: UnitOfWork, order: Order, event: Event, document: VerifiedDocument | None
) -> None:
    lifecycle = await lifecycle_of(uow.session, order.order_id)
    if lifecycle is None:
        return
    now = event.received_at
    if lifecycle.cross_border:
        host = lifecycle.host_authority_id
        # R10, TCO Art. 4(1): the copy goes to the host authority with the order,
        # in the same transaction.
        # Visible to the issuing authority and the host authority; not pushed to the HSP.
        await uow.append(
            kind="host_copy_delivered",
            actor="broker",
            received_at=now,
            order_id=order.order_id,
            authority_id=order.authority_id,
            data={
                "article": "Art. 4(1)",
                "issuing_member_state": lifecycle.issuing_member_state,
                "host_member_state": lifecycle.host_member_state,
                "host_authority_id": host,
                "own_scrutiny_until": iso_ms(due_at(K.OWN_SCRUTINY_WINDOW, now)),
                "scrutiny_request_until": iso_ms(due_at(K.HSP_SCRUTINY_REQUEST_WINDOW, now)),
            },
            audience=[host] if host else (),
        )
        if host is None:
            _flag(
                order,
                "host_authority_unknown: no competent authority of "
                f"{lifecycle.host_member_state} is registered to receive the copy (Art. 4(1))",
            )
        else:
            _open_batched(
                uow,
                K.OWN_SCRUTINY_WINDOW,
                owed_by=host,
                opened_at=now,
                due_at=due_at(K.OWN_SCRUTINY_WINDOW, now),
                order_id=order.order_id,
                hsp_id=order.hsp_id,
            )
        # TCO Art. 4(4): the HSP's 48 hours run from its receipt of the order.
        _open_batched(
            uow,
            K.HSP_SCRUTINY_REQUEST_WINDOW,
            owed_by=order.hsp_id,
            opened_at=now,
            due_at=due_at(K.HSP_SCRUTINY_REQUEST_WINDOW, now),
            order_id=order.order_id,
            hsp_id=order.hsp_id,
        )
    if lifecycle.appeal_duration is not None:
        try:
            period = parse_duration(lifecycle.appeal_duration)
        except ValueError:
            _flag(
                order,
                f"appeal_deadline_unreadable: Section G duration {lifecycle.appeal_duration!r} "
                "is not ISO 8601; finality needs a confirmation (Art. 3(9))",
            )
        else:
            # R17, TCO Art. 3(9): final when the appeal deadline passes unused.
            _open_batched(
                uow,
                K.APPEAL_WINDOW,
                owed_by=order.hsp_id,
                opened_at=now,
                due_at=add_period(now, period),
                order_id=order.order_id,
                hsp_id=order.hsp_id,
                data={"duration": lifecycle.appeal_duration},
            )
    if lifecycle.nondisclosure_until is not None:
        _open_batched(
            uow,
            K.NONDISCLOSURE,
            owed_by=order.hsp_id,
            opened_at=now,
            due_at=lifecycle.nondisclosure_until,
            order_id=order.order_id,
            hsp_id=order.hsp_id,
        )


#: The Art. 4 windows whose latest row decides whether scrutiny is still possible.
_SCRUTINY_WINDOWS = (
    K.OWN_SCRUTINY_WINDOW,
    K.HSP_SCRUTINY_REQUEST_WINDOW,
    K.CP_SCRUTINY_REQUEST_WINDOW,
)


async def scrutiny_windows_open(session: AsyncSession, order_id: str, now: datetime) -> bool:
    """True while an Art. 4 scrutiny window or a requested decision is pending (R14).

    A window is pending when its latest row that was not cancelled (``find_latest``)
    is not met and not yet due; a decision when one of its rows is open
    (``find_open``).  One query for the four.
    """
    kinds = [k.value for k in (*_SCRUTINY_WINDOWS, K.SCRUTINY_DECISION)]
    rows = (
        await session.exec(
            select(Obligation.kind, Obligation.status, Obligation.due_at)
            .where(
                col(Obligation.order_id) == order_id,
                col(Obligation.kind).in_(kinds),
                col(Obligation.status) != "cancelled",
            )
            .order_by(col(Obligation.id).desc())
        )
    ).all()
    latest: dict[str, tuple[str, datetime]] = {}
    for kind, status, due in rows:
        latest.setdefault(kind, (status, due))
    for window in _SCRUTINY_WINDOWS:
        found = latest.get(window.value)
        if found is not None and found[0] != "met" and now <= found[1]:
            return True
    return any(kind == K.SCRUTINY_DECISION.value and status == "open" for kind, status, _ in rows)


async def _feedback_data(
    uow: UnitOfWork, order: Order, data: dict[str, Any], document: VerifiedDocument | None
) -> dict[str, Any]:
    """R14, R15: the Annex II's event records the preservation and the Art. 4(2) risk."""
    lifecycle = await lifecycle_of(uow.session, order.order_id)
    if lifecycle is None or order.measure_at is None:
        return data
    section_b = _section(document.payload if document else {}, "section_b")
    now = uow.ctx.clock.now()
    # R14, TCO Art. 4(2): a cross-border order's content stays restorable while
    # scrutiny is possible; a hard removal without `reinstatable` risks a breach.
    risk = bool(
        lifecycle.cross_border
        and section_b.get("measure") == "removed"
        and section_b.get("reinstatable") is not True
        and await scrutiny_windows_open(uow.session, order.order_id, now)
    )
    extra: dict[str, Any] = {
        "reinstatable": section_b.get("reinstatable") is True,
        # R15, TCO Art. 6(1): six months from the measure.
        "preserve_until": iso_ms(preserve_until(order.measure_at)),
        "preservation_article": "Art. 6(1)",
        "breach_4_2_risk": risk,
    }
    if risk:
        extra["breach_4_2_risk_article"] = "Art. 4(2)"
        _flag(
            order,
            "breach_4_2_risk: content of a cross-border order removed without keeping it "
            "reinstatable while Art. 4 scrutiny is possible (Art. 4(2))",
        )
    return {**data, **extra}


async def _feedback_received(
    uow: UnitOfWork, order: Order, event: Event, document: VerifiedDocument | None
) -> None:
    lifecycle = await lifecycle_of(uow.session, order.order_id)
    if lifecycle is None or order.measure_at is None:
        return
    now = event.received_at
    until = preserve_until(order.measure_at)
    lifecycle.preserve_until = until
    uow.session.add(lifecycle)
    # R15, TCO Art. 6(1): six months from the measure (extendable, Art. 6(2)).
    open_obligation(
        uow,
        K.PRESERVATION,
        owed_by=order.hsp_id,
        opened_at=order.measure_at,
        due_at=until,
        order_id=order.order_id,
        hsp_id=order.hsp_id,
    )
    await _open_information_duty(uow, order, lifecycle, now)


async def _open_information_duty(
    uow: UnitOfWork, order: Order, lifecycle: OrderLifecycle, now: datetime
) -> None:
    """R16, Art. 11(1): the content provider's information falls due (when configured)."""
    due = uow.ctx.settings.content_provider_information_due
    if due is None or order.measure_at is None or lifecycle.informed_at is not None:
        return
    if lifecycle.nondisclosure_until is not None and now < lifecycle.nondisclosure_until:
        return  # Art. 11(3): opens when the non-disclosure ends
    open_obligation(
        uow,
        K.CONTENT_PROVIDER_INFORMATION,
        owed_by=order.hsp_id,
        opened_at=now,
        due_at=now + due,
        order_id=order.order_id,
        hsp_id=order.hsp_id,
    )


async def _withdrawal_received(
    uow: UnitOfWork, order: Order, event: Event, document: VerifiedDocument | None
) -> None:
    # A withdrawn order owes nothing more (no finality, no scrutiny).
    await cancel_obligations(uow.session, order.order_id, event.received_at)


_HOOKS = {
    "order_delivered": _order_delivered,
    "feedback_received": _feedback_received,
    "withdrawal_received": _withdrawal_received,
}


async def before_order_event(
    uow: UnitOfWork,
    order: Order,
    kind: str,
    data: dict[str, Any] | None,
    document: VerifiedDocument | None,
) -> dict[str, Any] | None:
    """Enrich an order event's data before it is sealed (Annex I flags; Annex II: R14, R15)."""
    if kind == "order_received" and data is not None:
        await _order_received(uow, order, document)
        return {**data, "flags": list(order.flags)}
    if kind == "feedback_received":
        return await _feedback_data(uow, order, dict(data or {}), document)
    return data


async def after_order_event(
    uow: UnitOfWork, order: Order, event: Event, document: VerifiedDocument | None
) -> None:
    """React to an order event in its own transaction (see the module docstring)."""
    hook = _HOOKS.get(event.kind)
    if hook is not None:
        await hook(uow, order, event, document)


# --- shared effects ------------------------------------------------------------------------------


async def end_legal_effect(
    uow: UnitOfWork,
    order: Order,
    now: datetime,
    *,
    trigger: Trigger,
    cause: str,
    audience: list[str],
    data: dict[str, Any] | None = None,
) -> Event:
    """Art. 4(6) / Art. 9: the order ceases to have legal effect; reinstatement is owed.

    R13: ``legal_effect_ended`` goes to ``audience`` too (issuing authority and HSP
    see it as parties); the HSP owes reinstatement within ``reinstatement_due``
    when content was removed (Art. 4(7)), else ``breach_4_7``.
    """
    previous = order.state
    transition = next_state(OrderState(order.state), trigger)
    order.state = transition.to.value
    order.suspended_reason = None
    await uow.cancel_timers(order)
    await cancel_obligations(
        uow.session,
        order.order_id,
        now,
        keep=(K.PRESERVATION, K.COMPLAINT_OUTCOME, K.CONTENT_PROVIDER_INFORMATION, K.NONDISCLOSURE),
    )
    lifecycle = await lifecycle_of(uow.session, order.order_id)
    if lifecycle is not None:
        lifecycle.legal_effect_ended_at = now
        lifecycle.legal_effect_cause = cause
        uow.session.add(lifecycle)
    reinstate_by = now + uow.ctx.settings.reinstatement_due if order.measure_at else None
    event = await uow.order_event(
        order,
        kind="legal_effect_ended",
        actor="broker",
        received_at=now,
        data={
            "from_state": previous,
            "state": transition.to.value,
            "article": transition.article,
            "cause": cause,
            "reinstatement_due_at": iso_ms(reinstate_by) if reinstate_by else None,
            **(data or {}),
        },
        audience=audience,
    )
    if reinstate_by is not None:
        open_obligation(
            uow,
            K.REINSTATEMENT,
            owed_by=order.hsp_id,
            opened_at=now,
            due_at=reinstate_by,
            order_id=order.order_id,
            hsp_id=order.hsp_id,
            data={"cause": cause},
        )
    order.updated_at = now
    order.version += 1
    uow.session.add(order)
    return event


async def make_final(
    uow: UnitOfWork, order: Order, now: datetime, *, cause: str, actor: str = "broker"
) -> Event:
    """R17, Art. 3(9): the order is final; the host authority is to be informed.

    R18, Art. 5(4): two or more final orders against the HSP within twelve months
    prompt the host authority to consider an exposure decision.
    """
    session = uow.session
    lifecycle = await lifecycle_of(session, order.order_id)
    assert lifecycle is not None
    lifecycle.final_at = now
    session.add(lifecycle)
    await cancel_obligations(session, order.order_id, now, kinds=(K.APPEAL_WINDOW,))
    host = lifecycle.host_authority_id
    notice_due = now + uow.ctx.settings.finality_notice_due if host else None
    event = await uow.order_event(
        order,
        kind="order_final",
        actor=actor,
        received_at=now,
        data={
            "article": "Art. 3(9)",
            "cause": cause,
            "host_authority_id": host,
            "finality_notice_due_at": iso_ms(notice_due) if notice_due else None,
        },
        audience=[host] if host else (),
    )
    if host is not None and notice_due is not None:
        open_obligation(
            uow,
            K.FINALITY_NOTICE,
            owed_by=order.authority_id,
            opened_at=now,
            due_at=notice_due,
            order_id=order.order_id,
            hsp_id=order.hsp_id,
        )
    await _consider_exposure(uow, order, lifecycle, now)
    return event


async def _consider_exposure(
    uow: UnitOfWork, order: Order, lifecycle: OrderLifecycle, now: datetime
) -> None:
    session = uow.session
    await session.flush()
    finals = (
        await session.exec(
            select(OrderLifecycle.order_id, OrderLifecycle.final_at)
            .join(Order, col(Order.order_id) == col(OrderLifecycle.order_id))
            .where(col(Order.hsp_id) == order.hsp_id, col(OrderLifecycle.final_at).is_not(None))
        )
    ).all()
    times = [at for _, at in finals if at is not None]
    if not exposure_prompted(times, now):
        return
    since = add_period(now, Period(months=-ROLLING_WINDOW.months))
    recent_decision = (
        await session.exec(
            select(Event.seq)
            .where(
                col(Event.kind) == "exposure_decision_received",
                col(Event.hsp_id) == order.hsp_id,
                col(Event.received_at) > since,
            )
            .limit(1)
        )
    ).first()
    if recent_decision is not None:
        return
    authority = await host_authority_for(session, lifecycle.host_member_state)
    await uow.append(
        kind="exposure_decision_prompted",
        actor="broker",
        received_at=now,
        authority_id=authority,
        data={
            "article": "Art. 5(4)",
            "hsp_id": order.hsp_id,
            "host_member_state": lifecycle.host_member_state,
            "final_orders_12m": final_orders_in_window(times, now),
            "final_order_ids": sorted(oid for oid, at in finals if at is not None),
        },
    )
    log.info("exposure_decision_prompted", hsp_id=order.hsp_id, authority_id=authority)


# --- expiry --------------------------------------------------------------------------------------


async def fire_due_obligations(uow: UnitOfWork, now: datetime, *, limit: int = 100) -> int:
    """Expire up to ``limit`` due obligations, each exactly once; return how many were due."""
    rows = await due_obligations(uow.session, now, limit)
    for row in rows:
        spec = OBLIGATIONS[ObligationKind(row.kind)]
        status = "missed" if spec.breach else "closed"
        if await claim_obligation(uow.session, row, now, status=status):
            await _expire(uow, row, spec, now)
    return len(rows)


async def _expire(uow: UnitOfWork, row: Obligation, spec: ObligationSpec, now: datetime) -> None:
    session = uow.session
    order = await session.get(Order, row.order_id) if row.order_id else None
    data: dict[str, Any] = {
        "obligation": row.kind,
        "article": spec.article,
        "due_at": iso_ms(row.due_at),
        "owed_by": row.owed_by,
        "ref": row.ref,
    }
    kind = ObligationKind(row.kind)
    if spec.breach is not None:
        data.update(breach=spec.breach, breach_article=spec.article)
        if order is not None:
            _flag(
                order,
                f"{spec.breach}: {spec.description}: due {iso_ms(row.due_at)} ({spec.article})",
            )
            order.updated_at = now
            order.version += 1
            session.add(order)
            # Whoever the obligation was owed to sees the breach too (the complainant,
            # the requester of scrutiny).
            owed_to = [row.data.get("content_provider_id"), row.data.get("requester_id")]
            await uow.order_event(
                order,
                kind="obligation_missed",
                actor="broker",
                received_at=now,
                data=data,
                audience=[row.owed_by, *(str(p) for p in owed_to if p)],
            )
        else:
            await uow.append(
                kind="obligation_missed",
                actor="broker",
                received_at=now,
                authority_id=row.data.get("authority_id"),
                hsp_id=row.hsp_id,
                data={**data, "hsp_id": row.hsp_id},
            )
        if kind is K.EXPOSURE_REPORT:
            next_report(uow, row, now)
        log.warning("obligation_missed", obligation=row.kind, breach=spec.breach)
        return
    if order is None:
        return
    lifecycle = await lifecycle_of(session, order.order_id)
    if kind is K.APPEAL_WINDOW:
        if (
            lifecycle is not None
            and lifecycle.final_at is None
            and not lifecycle.appeal_lodged
            and OrderState(order.state) in LEGAL_EFFECT_STATES
        ):
            await make_final(uow, order, now, cause="appeal_deadline_passed")
        return
    if kind is K.NONDISCLOSURE:
        await uow.order_event(
            order, kind="nondisclosure_ended", actor="broker", received_at=now, data=data
        )
        if lifecycle is not None:
            await _open_information_duty(uow, order, lifecycle, now)
        return
    await uow.order_event(
        order,
        kind="window_closed",
        actor="broker",
        received_at=now,
        data=data,
        audience=[row.owed_by],
    )


def next_report(uow: UnitOfWork, row: Obligation, now: datetime) -> None:
    """Art. 5(5): after the first report (due at three months), one every year."""
    open_obligation(
        uow,
        K.EXPOSURE_REPORT,
        owed_by=row.owed_by,
        opened_at=now,
        due_at=add_period(row.due_at, ROLLING_WINDOW),
        hsp_id=row.hsp_id,
        ref=row.ref,
        data={**row.data, "sequence": int(row.data.get("sequence", 1)) + 1},
    )
