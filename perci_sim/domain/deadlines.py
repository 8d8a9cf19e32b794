"""Deadline math of TCO Art. 3: pure functions of recorded instants.

All instants are aware datetimes; arithmetic is on elapsed seconds in UTC so
that daylight-saving changes never stretch or shrink an hour (R24).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

__all__ = [
    "EXECUTION_WINDOW",
    "WARNING_OFFSETS",
    "DueTimer",
    "TimerKind",
    "execution_deadline",
    "is_on_time",
    "is_undue_delay",
    "timers_for_round",
]

#: TCO Art. 3(3): "in any event within one hour of receipt".
EXECUTION_WINDOW = timedelta(hours=1)
#: When the HSP is warned before its deadline (DESIGN "Time").
WARNING_OFFSETS: tuple[timedelta, ...] = (timedelta(minutes=45), timedelta(minutes=55))


class TimerKind(StrEnum):
    """What a timer does when it fires."""

    WARNING = "warning"
    DEADLINE = "deadline"


@dataclass(frozen=True, slots=True, kw_only=True)
class DueTimer:
    """A timer of one clock round of one order."""

    kind: TimerKind
    due_at: datetime
    minutes: int


def _require_aware(at: datetime) -> None:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("deadline math needs aware datetimes")


def execution_deadline(clock_started_at: datetime) -> datetime:
    """Return the Art. 3(3) deadline for a clock started (or restarted) at ``clock_started_at``.

    R3: the clock starts at the broker-recorded receipt at the HSP's contact
    point; R6/R7: a restart after force majeure or clarification is a fresh hour.
    """
    _require_aware(clock_started_at)
    # Elapsed-time arithmetic in UTC: DST-safe (R24).
    return _to_utc(clock_started_at) + EXECUTION_WINDOW


def timers_for_round(clock_started_at: datetime) -> tuple[DueTimer, ...]:
    """Return the warnings and the deadline of one clock round, in time order."""
    start = _to_utc(clock_started_at)
    warnings = tuple(
        DueTimer(
            kind=TimerKind.WARNING,
            due_at=start + offset,
            minutes=int(offset.total_seconds() // 60),
        )
        for offset in WARNING_OFFSETS
    )
    deadline = DueTimer(
        kind=TimerKind.DEADLINE,
        due_at=execution_deadline(clock_started_at),
        minutes=int(EXECUTION_WINDOW.total_seconds() // 60),
    )
    return (*warnings, deadline)


def is_on_time(measure_at: datetime, deadline_at: datetime) -> bool:
    """R8: an Annex II whose measure is at or before the deadline is on time."""
    _require_aware(measure_at)
    _require_aware(deadline_at)
    return measure_at <= deadline_at


def is_undue_delay(
    measure_at: datetime, feedback_received_at: datetime, allowed: timedelta
) -> bool:
    """R8: Annex II received later than ``allowed`` after the measure breaches Art. 3(6)."""
    _require_aware(measure_at)
    _require_aware(feedback_received_at)
    return feedback_received_at - measure_at > allowed


def _to_utc(at: datetime) -> datetime:
    _require_aware(at)
    offset = at.utcoffset()
    assert offset is not None  # checked by _require_aware
    return (at - offset).replace(tzinfo=UTC)
