"""Time for the broker: the only place that reads the wall clock.

Everything else asks an injected :class:`Clock`.  Drills run on a
:class:`ScaledClock` (e.g. speed 720: a 24-hour crisis in two minutes).
"""

from __future__ import annotations

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
    """Simulated time that starts at ``start`` and runs ``speed`` times faster than the wall."""

    def __init__(self, *, start: datetime | None = None, speed: float = 1.0) -> None:
        if speed <= 0:
            raise ValueError("clock speed must be positive")
        self._start = start if start is not None else datetime.now(UTC)
        self._mono0 = time.monotonic()
        self._speed = float(speed)

    @property
    def speed(self) -> float:
        return self._speed

    def now(self) -> datetime:
        elapsed = (time.monotonic() - self._mono0) * self._speed
        return _ms(self._start + timedelta(seconds=elapsed))

    def wall_seconds_until(self, at: datetime) -> float:
        return max(0.0, (at - self.now()).total_seconds() / self._speed)
