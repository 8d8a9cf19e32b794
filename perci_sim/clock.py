"""Time for the broker: the only place that reads the wall clock.

Everything else asks an injected :class:`Clock`.  Drills run on a
:class:`ScaledClock` (e.g. speed 720: a 24-hour crisis in two minutes).
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Protocol

__all__ = ["Clock", "ScaledClock", "SystemClock"]


class Clock(Protocol):
    """Where time comes from."""

    @property
    def speed(self) -> float:
        """Simulated seconds per wall second (1.0 in production)."""
        ...

    def now(self) -> datetime:
        """Return the current aware UTC time, truncated to milliseconds."""
        ...

    def wall_seconds_until(self, at: datetime) -> float:
        """Return how many wall-clock seconds remain until simulated time ``at``."""
        ...


def _ms(at: datetime) -> datetime:
    # R1: the broker records UTC with millisecond precision.
    return at.replace(microsecond=at.microsecond // 1000 * 1000)


class SystemClock:
    """Real time."""

    speed = 1.0

    def now(self) -> datetime:
        return _ms(datetime.now(UTC))

    def wall_seconds_until(self, at: datetime) -> float:
        return max(0.0, (at - datetime.now(UTC)).total_seconds())


class ScaledClock:
    """Simulated time that starts at ``start`` and runs ``speed`` times faster than the wall.

    A drill facilitator may skip a quiet period (:meth:`advance`, :meth:`advance_to`):
    the clock jumps forward by an offset and keeps running at the same speed.  It never
    goes backwards.  The offset is guarded by a lock, so reads from APScheduler's
    threads and the event loop never lose or double an advance.
    """

    def __init__(self, *, start: datetime | None = None, speed: float = 1.0) -> None:
        if speed <= 0:
            raise ValueError("clock speed must be positive")
        self._start = start if start is not None else datetime.now(UTC)
        self._mono0 = time.monotonic()
        self._speed = float(speed)
        self._offset = timedelta(0)
        self._lock = threading.Lock()

    @classmethod
    def from_epoch(cls, epoch: datetime, *, speed: float) -> ScaledClock:
        """A clock that read ``epoch`` at the wall instant ``epoch``, running ``speed`` x since.

        Processes built from the same epoch and speed agree on the time, whenever each
        started: broker replicas of one drill (``perci-sim serve --clock-epoch``).
        """
        if epoch.tzinfo is None:
            raise ValueError("naive datetimes are ambiguous: pass an aware UTC datetime")
        wall = datetime.now(UTC)
        return cls(start=epoch + (wall - epoch) * speed, speed=speed)

    @property
    def speed(self) -> float:
        return self._speed

    @property
    def skipped(self) -> timedelta:
        """How much simulated time :meth:`advance` has skipped in total."""
        return self._offset

    def _now_unlocked(self) -> datetime:
        elapsed = (time.monotonic() - self._mono0) * self._speed
        return self._start + self._offset + timedelta(seconds=elapsed)

    def now(self) -> datetime:
        # One read of ``_offset`` (atomic): no lock on the hot path.
        return _ms(self._now_unlocked())

    def wall_seconds_until(self, at: datetime) -> float:
        return max(0.0, (at - self.now()).total_seconds() / self._speed)

    def advance(self, by: timedelta) -> datetime:
        """Skip ``by`` of simulated time (must be positive); return the new now."""
        if by <= timedelta(0):
            raise ValueError("the clock only moves forward: 'by' must be positive")
        with self._lock:
            self._offset += by
            return _ms(self._now_unlocked())

    def advance_to(self, at: datetime) -> datetime:
        """Jump to ``at`` (must be later than now); return the new now (``at`` to the ms).

        Checked and applied under one lock, so the clock cannot have passed ``at``
        in between.
        """
        if at.tzinfo is None:
            raise ValueError("naive datetimes are ambiguous: pass an aware UTC datetime")
        target = _ms(at.astimezone(UTC))
        with self._lock:
            current = self._now_unlocked()
            if target <= _ms(current):
                raise ValueError("the clock only moves forward: 'to' must be later than now")
            self._offset += target - current
            return _ms(self._now_unlocked())
