"""Drill clock skip: a facilitator fast-forwards a quiet period (docs/DRILLS.md).

Only a broker running on a :class:`~perci_sim.clock.ScaledClock` (``perci-sim serve
--speed N``) can be advanced; the production :class:`~perci_sim.clock.SystemClock`
refuses (409).  The clock never goes backwards (422).

The skip is recorded as a broker event ``clock_advanced`` (``data``: ``from``,
``to``, ``by`` = the facilitator, ``skipped_seconds``, ``speed``), shown to every
registered participant (``data.visible_to``), in the same write transaction that
moves the clock: while the write lock is held no other use case records an event,
so nothing lands in the log between the old time and the new one.  After the
commit the deadline wake-up is re-armed at once, so every timer inside the skipped
window fires immediately, in due order (services/fire_timers.py), and the webhook
dispatcher re-reads its due deliveries.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from sqlmodel import col, func, select

from perci_sim.clock import ScaledClock
from perci_sim.domain.errors import PerciError
from perci_sim.services.context import BrokerContext
from perci_sim.services.errors import Forbidden
from perci_sim.services.unit_of_work import unit_of_work
from perci_sim.services.views import event_view
from perci_sim.storage.log import iso_ms
from perci_sim.storage.models import Event
from perci_sim.storage.registry import ParticipantInfo, list_participants

__all__ = [
    "CLOCK_ADVANCED",
    "FACILITATOR_ROLE",
    "MAX_SKIP",
    "ClockNotAdjustable",
    "ClockNotForward",
    "advance_clock",
    "check_can_advance",
    "follow_clock_skip",
    "resume_after_log",
]

log = structlog.get_logger(__name__)

#: The event kind of a skip (docs/EVENTS.md).
CLOCK_ADVANCED = "clock_advanced"
#: The only role that may move a drill's clock.
FACILITATOR_ROLE = "facilitator"
#: The longest single skip (ten years of 365 days): keeps datetimes far from their limits.
MAX_SKIP = timedelta(days=3650)


class ClockNotAdjustable(PerciError):
    """The broker runs on real time (no drill): its clock cannot be moved."""

    code = "clock_not_adjustable"
    http_status = 409
    title = "The broker's clock cannot be advanced"


class ClockNotForward(PerciError):
    """The requested instant is not later than the broker's now (or the skip is too long)."""

    code = "clock_not_forward"
    http_status = 422
    title = "The clock only moves forward"


def _ms(at: datetime) -> datetime:
    return at.replace(microsecond=at.microsecond // 1000 * 1000)


def check_can_advance(ctx: BrokerContext, participant: ParticipantInfo) -> ScaledClock:
    """Refuse anyone but a facilitator (403), and a broker on real time (409)."""
    if participant.role != FACILITATOR_ROLE:
        raise Forbidden(
            f"only a facilitator participant may advance the clock; you are {participant.role!r}"
        )
    clock = ctx.clock
    if not isinstance(clock, ScaledClock):
        raise ClockNotAdjustable(
            "the broker runs on real time; only a drill broker (perci-sim serve --speed N) "
            "has a clock a facilitator can advance"
        )
    return clock


async def advance_clock(
    ctx: BrokerContext,
    participant: ParticipantInfo,
    *,
    to: datetime | None = None,
    by: timedelta | None = None,
) -> dict[str, Any]:
    """Skip the drill clock to ``to`` or by ``by`` (exactly one); record and re-arm.

    Returns ``{now, speed, from, to, skipped_seconds, event}`` (``now`` = ``to``: the
    broker's time when the skip was recorded; ``event`` the ``clock_advanced``
    EventView).
    """
    clock = check_can_advance(ctx, participant)
    if (to is None) == (by is None):
        raise ValueError("give exactly one of 'to' and 'by'")
    if by is not None and by <= timedelta(0):
        raise ClockNotForward(f"'by_seconds' must be positive, not {by.total_seconds()}")
    audience = [p.id for p in await list_participants(ctx.db)]
    async with unit_of_work(ctx) as uow:
        before = clock.now()
        target = _ms(to if to is not None else before + (by or timedelta(0)))
        if target <= before:
            raise ClockNotForward(
                f"'to' ({iso_ms(target)}) is not later than the broker's now ({iso_ms(before)})"
            )
        if target - before > MAX_SKIP:
            raise ClockNotForward(f"a skip is at most {MAX_SKIP.days} days")
        event = await uow.append(
            kind=CLOCK_ADVANCED,
            actor="broker",
            received_at=target,
            data={
                "from": iso_ms(before),
                "to": iso_ms(target),
                "by": participant.id,
                "skipped_seconds": (target - before).total_seconds(),
                "speed": clock.speed,
            },
            audience=audience,
        )
        view = event_view(event)
        # Last step before the commit: the clock moves only once the event is in the
        # transaction (a refusal above leaves it untouched).
        try:
            clock.advance_to(target)
        except ValueError as exc:  # the clock reached ``to`` while this request waited
            raise ClockNotForward(str(exc)) from exc
    _rearm_after_skip(ctx)
    log.info(
        "clock_advanced",
        by=participant.id,
        from_=iso_ms(before),
        to=iso_ms(target),
        skipped_s=(target - before).total_seconds(),
    )
    return {
        "now": iso_ms(target),
        "speed": clock.speed,
        "from": iso_ms(before),
        "to": iso_ms(target),
        "skipped_seconds": (target - before).total_seconds(),
        "event": view,
    }


def _rearm_after_skip(ctx: BrokerContext) -> None:
    # Wake the deadline timers (everything due in the skipped window fires now, in due
    # order) and the webhook dispatcher, whose waits were computed in wall time from the
    # old offset.  ``None`` re-arms unconditionally.
    ctx.listener.timers_changed(None)
    ctx.listener.deliveries_queued()


def follow_clock_skip(ctx: BrokerContext, to: datetime) -> bool:
    """Another replica recorded a skip to ``to``: move this replica's drill clock there too.

    Replicas share one log but each runs its own :class:`ScaledClock`; a replica left
    behind would record events before the ``clock_advanced`` one (R1).  Returns True
    when the clock moved (it was behind); the deadline wake-up and the webhook
    dispatcher are then re-armed, as after a local skip.
    """
    clock = ctx.clock
    if not isinstance(clock, ScaledClock) or to <= clock.now():
        return False
    try:
        clock.advance_to(to)
    except ValueError:  # the clock passed ``to`` meanwhile
        return False
    _rearm_after_skip(ctx)
    log.info("clock_followed", to=iso_ms(to))
    return True


async def resume_after_log(ctx: BrokerContext) -> datetime | None:
    """On start, move a drill clock past the last recorded event (None: nothing to do).

    ``serve --speed N`` starts its :class:`ScaledClock` from the wall clock, while a
    drill's log may already run ahead of it (fast-forwards, hours compressed into
    seconds).  Resuming behind the log would record events *before* ones already
    recorded: the log's time must never go backwards (R1).  The resumed clock starts
    one millisecond after the last event; the downtime itself is not simulated.
    """
    clock = ctx.clock
    if not isinstance(clock, ScaledClock):
        return None
    async with ctx.db.read() as session:
        last = (await session.exec(select(func.max(col(Event.received_at))))).first()
    if last is None:
        return None
    if last.tzinfo is None:  # SQLite returns what it stored: UTC
        last = last.replace(tzinfo=UTC)
    if last < clock.now():
        return None
    resumed = clock.advance_to(last + timedelta(milliseconds=1))
    log.info("drill_clock_resumed", last_event_at=iso_ms(last), now=iso_ms(resumed))
    return resumed
