"""The APScheduler adapter against the DeadlineTimers contract, with fake storage."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from perci_sim.scheduling.timers import JOB_ID, APSchedulerTimers, DeadlineTimers

T0 = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)


class FakeClock:
    """Due when the fake time has reached the instant."""

    speed = 1.0

    def __init__(self) -> None:
        self.at = T0

    def now(self) -> datetime:
        return self.at

    def wall_seconds_until(self, at: datetime) -> float:
        return max(0.0, (at - self.at).total_seconds())


class FakeWheel:
    """An in-memory timer table: due times, fired once."""

    def __init__(self, clock: FakeClock, due: list[datetime]) -> None:
        self.clock = clock
        self.open = sorted(due)
        self.fired: list[datetime] = []
        self.calls = 0
        self.changed = asyncio.Event()

    async def next_due(self) -> datetime | None:
        return self.open[0] if self.open else None

    async def fire_batch(self, limit: int) -> int:
        self.calls += 1
        due = [d for d in self.open if d <= self.clock.now()][:limit]
        for d in due:
            self.open.remove(d)
            self.fired.append(d)
        if due:
            self.changed.set()
        return len(due)


def _timers(clock: FakeClock, wheel: FakeWheel, batch: int = 2) -> APSchedulerTimers:
    return APSchedulerTimers(
        clock=clock, next_due=wheel.next_due, fire_batch=wheel.fire_batch, batch_size=batch
    )


async def test_start_sweeps_overdue_in_batches_and_arms_the_next() -> None:
    """Start-up fires everything overdue (several batches) and arms one job for the rest."""
    clock = FakeClock()
    overdue = [T0 - timedelta(minutes=m) for m in range(5)]
    wheel = FakeWheel(clock, [*overdue, T0 + timedelta(hours=1)])
    timers: DeadlineTimers = _timers(clock, wheel)
    await timers.start()
    try:
        assert sorted(wheel.fired) == sorted(overdue)
        assert wheel.calls == 3  # 2 + 2 + 1
        scheduler = timers._scheduler  # type: ignore[attr-defined]
        assert [job.id for job in scheduler.get_jobs()] == [JOB_ID]
    finally:
        await timers.stop()


async def test_notify_rearms_for_an_earlier_timer_and_the_job_fires() -> None:
    """A new earlier timer re-arms the single wake-up, which fires it without help."""
    clock = FakeClock()
    wheel = FakeWheel(clock, [T0 + timedelta(hours=1)])
    timers = _timers(clock, wheel)
    await timers.start()
    try:
        wheel.open.insert(0, T0 + timedelta(seconds=1))
        clock.at = T0 + timedelta(seconds=1)
        timers.notify(T0 + timedelta(seconds=1))
        await asyncio.wait_for(wheel.changed.wait(), timeout=10)
        assert wheel.fired == [T0 + timedelta(seconds=1)]
        # A later timer does not need a re-arm.
        timers.notify(T0 + timedelta(hours=5))
        assert await timers.run_due() == 0
    finally:
        await timers.stop()


async def test_run_due_is_safe_to_call_concurrently() -> None:
    """Firing is serialized in-process: each due timer is seen once."""
    clock = FakeClock()
    wheel = FakeWheel(clock, [T0 - timedelta(seconds=s) for s in range(7)])
    timers = _timers(clock, wheel, batch=3)
    results = await asyncio.gather(timers.run_due(), timers.run_due())
    assert sum(results) == 7
    assert len(wheel.fired) == 7
