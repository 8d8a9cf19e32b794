"""Deadline wake-ups: one APScheduler 3 job for the earliest open timer.

DESIGN "Time": the ``timer`` table is the timer wheel and the source of
truth; the scheduler is a cache of its earliest row.  One date job
(``perci-deadline-wakeup``) is armed for ``min(due_at)`` of the open timers,
converted from broker (possibly simulated) time to a wall delay with
:meth:`Clock.wall_seconds_until`.  When it runs, every due timer is fired in
batches, then the job is re-armed.  Services call :meth:`notify` when they
create an earlier timer.  On start the adapter sweeps overdue rows, so after
a restart every open deadline fires once.  Never one job per deadline.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Protocol

import structlog
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from perci_sim.clock import Clock

__all__ = ["JOB_ID", "APSchedulerTimers", "DeadlineTimers"]

log = structlog.get_logger(__name__)

JOB_ID = "perci-deadline-wakeup"


class DeadlineTimers(Protocol):
    """Wakes the broker when timers are due."""

    async def start(self) -> None:
        """Sweep overdue timers, then arm the wake-up."""
        ...

    async def stop(self) -> None:
        """Stop waking up."""
        ...

    def notify(self, earliest: datetime | None = None) -> None:
        """A timer was created (due at ``earliest``) or cancelled: re-arm if needed."""
        ...

    async def run_due(self) -> int:
        """Fire every due timer now; return how many were due."""
        ...


class APSchedulerTimers:
    """:class:`DeadlineTimers` on APScheduler 3's ``AsyncIOScheduler``.

    ``next_due`` returns the earliest open timer's due time; ``fire_batch(n)``
    fires up to ``n`` due timers and returns how many were due.
    """

    def __init__(
        self,
        *,
        clock: Clock,
        next_due: Callable[[], Awaitable[datetime | None]],
        fire_batch: Callable[[int], Awaitable[int]],
        batch_size: int = 100,
    ) -> None:
        self._clock = clock
        self._next_due = next_due
        self._fire_batch = fire_batch
        self._batch_size = batch_size
        self._scheduler: AsyncIOScheduler | None = None
        self._armed_for: datetime | None = None
        self._fire_lock = asyncio.Lock()
        self._arm_lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[None]] = set()
        self._waking: set[asyncio.Task[object]] = set()

    async def start(self) -> None:
        """Start APScheduler, fire what is already overdue (restart sweep), arm the wake-up."""
        self._scheduler = AsyncIOScheduler(
            event_loop=asyncio.get_running_loop(),
            # A wake-up re-arms itself before it returns: with one instance allowed,
            # a re-armed run due within milliseconds would be skipped ("maximum
            # number of running instances reached") and a date job is then gone.
            # Concurrent runs are safe: run_due serializes on the fire lock.
            job_defaults={"misfire_grace_time": None, "coalesce": True, "max_instances": 8},
        )
        self._scheduler.start()
        fired = await self.run_due()
        log.info("deadline_timers_started", swept=fired)
        await self._rearm()

    async def stop(self) -> None:
        """Shut APScheduler down; let a running wake-up finish, cancel re-arms.

        A wake-up already running is awaited, not cancelled: it is in the
        middle of a transaction, and the application closes the database right
        after this returns.  Re-arm tasks only read, so they are cancelled.
        """
        if self._scheduler is not None and self._scheduler.running:
            self._scheduler.shutdown(wait=False)
        self._scheduler = None
        if self._waking:
            await asyncio.gather(*self._waking, return_exceptions=True)
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    def notify(self, earliest: datetime | None = None) -> None:
        """Re-arm when ``earliest`` is before the armed wake-up (or unknown)."""
        if self._scheduler is None:
            return
        if earliest is not None and self._armed_for is not None and earliest >= self._armed_for:
            return
        task = asyncio.get_running_loop().create_task(self._rearm())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def run_due(self) -> int:
        """Fire every due timer, in batches; return how many were due."""
        total = 0
        async with self._fire_lock:
            while True:
                count = await self._fire_batch(self._batch_size)
                total += count
                if count < self._batch_size:
                    return total

    async def _wake(self) -> None:
        if self._scheduler is None:  # stopped while this job was being submitted
            return
        task = asyncio.current_task()
        if task is not None:
            self._waking.add(task)
        try:
            await self.run_due()
        except Exception:
            log.exception("deadline_firing_failed")
        finally:
            self._armed_for = None
            try:
                await self._rearm()
            finally:
                if task is not None:
                    self._waking.discard(task)

    async def _rearm(self) -> None:
        scheduler = self._scheduler
        if scheduler is None:
            return
        async with self._arm_lock:
            due = await self._next_due()
            if due is None:
                if scheduler.get_job(JOB_ID) is not None:
                    scheduler.remove_job(JOB_ID)
                self._armed_for = None
                return
            delay = self._clock.wall_seconds_until(due)
            # APScheduler schedules in wall time: this adapter is where broker
            # time becomes a wall-clock instant.
            run_date = datetime.now(UTC) + timedelta(seconds=delay)
            scheduler.add_job(
                self._wake,
                trigger="date",
                run_date=run_date,
                id=JOB_ID,
                replace_existing=True,
                misfire_grace_time=None,
                coalesce=True,
            )
            self._armed_for = due
