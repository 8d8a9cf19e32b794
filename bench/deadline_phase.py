"""The deadline phases of bench/throughput.py: open deadlines, firing lateness, re-arm.

``--deadlines`` open deadlines are seeded straight into a fresh database (SQLAlchemy
Core executemany: an ``order`` row the broker "delivered" an hour before its deadline,
and its ``deadline`` timer), ``--fire`` of them due within ``--fire-window`` seconds
soon after the broker starts, the rest hours later.  The broker is started; the
firing lateness (``fired_at - due_at``), exactly-once firing, the broker's start-up
time and peak memory, and the time of the re-arm query it runs at start-up are
measured.  The seeded orders are synthetic (no ``order_received`` event): the phase
measures the deadline wheel, not an exchange.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_setup import Broker, Phase, Setup, start_brokers, stop_brokers
from exchange import AUTHORITIES, HSPS, percentiles, say

DEADLINE_PHASES: dict[str, str] = {
    "deadlines-sqlite": "sqlite",
    "deadlines-postgres": "postgresql",
}

#: How long after seeding the first deadline is due: the broker must be healthy by then
#: (its start-up takes 1-3 s on the 2-core machine; a busy CI runner is slower).
START_ALLOWANCE_S = 6.0
SMOKE_START_ALLOWANCE_S = 4.0
#: How long after the window's last due time a deadline may still fire before it counts
#: as not fired (a failure): far beyond the lateness goal, so slowness is not loss.
FIRE_GRACE_S = 30.0
POLL_S = 0.25
#: Rows per seeding transaction (one executemany per table).
SEED_BATCH = 5000

PLACEHOLDER_DOCUMENT = (
    "seeded by bench/throughput.py: a placeholder, not a signed Annex I; "
    "this order was never received through the broker"
)


@dataclass(slots=True)
class Seeded:
    """What was seeded: the orders due in the window and when the window opens."""

    window: dict[str, datetime]
    window_opens: float
    window_closes: float
    seconds: float


def _order_row(order_id: str, number: int, due: datetime) -> dict[str, Any]:
    """An order the broker delivered an hour before ``due`` and nobody answered (synthetic)."""
    authority_id, hsp_id = AUTHORITIES[number % 3], HSPS[(number // 3) % 3]
    started = due - timedelta(hours=1)
    return {
        "order_id": order_id,
        "reference_number": f"bench-seed-{number:07d}",
        "authority_id": authority_id,
        "hsp_id": hsp_id,
        "state": "delivered",
        "language": "en",
        "emergency": True,
        "flags": ["seeded by bench/throughput.py"],
        "document": PLACEHOLDER_DOCUMENT,
        "document_sha256": hashlib.sha256(PLACEHOLDER_DOCUMENT.encode()).hexdigest(),
        "received_at": started,
        "clock_started_at": started,
        "clock_round": 1,
        "deadline_at": due,
        "acknowledged_at": None,
        "measure_at": None,
        "suspended_reason": None,
        "created_at": started,
        "updated_at": started,
        "version": 1,
    }


def _timer_row(order_id: str, due: datetime) -> dict[str, Any]:
    return {
        "order_id": order_id,
        "clock_round": 1,
        "kind": "deadline",
        "minutes": 60,
        "due_at": due,
        "fired_at": None,
        "cancelled": False,
    }


async def _insert(db: Any, first: int, dues: Sequence[datetime]) -> list[str]:
    """Orders ``first``, ``first + 1``, ... due at ``dues``, with their timers: one transaction."""
    from sqlalchemy import insert

    from perci_sim.storage.models import Order, Timer

    ids = [str(uuid.uuid4()) for _ in dues]
    rows = list(zip(ids, dues, strict=True))
    async with db.engine.begin() as conn:
        orders = [_order_row(o, first + i, d) for i, (o, d) in enumerate(rows)]
        await conn.execute(insert(Order.__table__), orders)  # type: ignore[attr-defined]
        timers = [_timer_row(o, d) for o, d in rows]
        await conn.execute(insert(Timer.__table__), timers)  # type: ignore[attr-defined]
    return ids


async def seed_deadlines(
    database_url: str, total: int, fire: int, window_s: float, allowance: float, deadline: float
) -> Seeded:
    """Insert ``total`` open deadlines (SQLAlchemy Core executemany, in batches).

    ``total - fire`` are due 2 to 3 hours from now (they must stay open).  The
    window's ``fire`` go in last, so their due times are set right before the broker
    starts: the first is due ``allowance`` s after seeding ends, the others spread
    evenly over ``window_s``.
    """
    from perci_sim.storage.db import open_database

    began = time.monotonic()
    far, later = total - fire, datetime.now(UTC) + timedelta(hours=2)
    db = await open_database(database_url, create=False)
    try:
        for first in range(0, far, SEED_BATCH):
            if time.time() > deadline:
                raise TimeoutError(f"seeding stopped at {first} rows: the phase's time limit")
            count = min(SEED_BATCH, far - first)
            await _insert(
                db, first, [later + timedelta(hours=(first + i) / far) for i in range(count)]
            )
        # The window opens ``allowance`` s after the (estimated) end of its own inserts.
        per_row = (time.monotonic() - began) / far if far else 0.0
        opens = time.time() + allowance + per_row * fire
        start = datetime.fromtimestamp(opens, UTC)
        window: dict[str, datetime] = {}
        for first in range(0, fire, SEED_BATCH):
            dues = [
                start + timedelta(seconds=i * window_s / fire)
                for i in range(first, min(fire, first + SEED_BATCH))
            ]
            ids = await _insert(db, far + first, dues)
            window.update(zip(ids, dues, strict=True))
    finally:
        await db.close()
    return Seeded(window, opens, opens + window_s, time.monotonic() - began)


async def wait_fired(database_url: str, fire: int, *, not_before: float, until: float) -> int:
    """Poll until ``fire`` deadlines have fired (and the window closed) or ``until``.

    Counts the broker's ``deadline_missed`` events (an index lookup on a small table),
    not the fired timers: counting those scans the whole timer table, which with a
    million rows would take CPU from the broker being measured.
    """
    from sqlalchemy import text

    from perci_sim.storage.db import open_database

    db = await open_database(database_url, create=False)
    fired, told = 0, 0.0
    query = text("SELECT count(*) FROM event WHERE kind = 'deadline_missed'")
    try:
        while time.time() < until:
            async with db.connect() as conn:
                fired = int((await conn.execute(query)).scalar() or 0)
            if fired >= fire and time.time() >= not_before:
                break
            if time.monotonic() - told >= 2.0:
                say(f"  {fired}/{fire} deadlines fired")
                told = time.monotonic()
            await asyncio.sleep(POLL_S)
    finally:
        await db.close()
    return fired


async def firing_figures(database_url: str, window: dict[str, datetime]) -> dict[str, Any]:
    """Lateness and exactly-once of the window's deadlines; none of the others may fire."""
    from sqlalchemy import func, select

    from perci_sim.storage.db import open_database
    from perci_sim.storage.models import Event, Timer

    timer, event = Timer.__table__, Event.__table__  # type: ignore[attr-defined]
    db = await open_database(database_url, create=False)
    try:
        async with db.connect() as conn:
            fired = (
                await conn.execute(
                    select(timer.c.order_id, timer.c.due_at, timer.c.fired_at).where(
                        timer.c.fired_at.is_not(None)
                    )
                )
            ).all()
            events: dict[str, int] = dict(
                (
                    await conn.execute(
                        select(event.c.order_id, func.count())
                        .where(event.c.kind == "deadline_missed")
                        .group_by(event.c.order_id)
                    )
                ).all()
            )
    finally:
        await db.close()
    lateness = [(f - d).total_seconds() for o, d, f in fired if o in window]
    per_order = [events.get(o, 0) for o in window]
    others = {o for o, _, _ in fired if o not in window} | {o for o in events if o not in window}
    return {
        "fired": len(lateness),
        "not_fired": len(window) - len(lateness),
        "fired_early": len([s for s in lateness if s < 0]),
        "fired_twice": len([n for n in per_order if n > 1]),
        "without_event": per_order.count(0),
        "others_fired": len(others),
        "lateness_ms": {
            **percentiles(lateness),
            "max": round(max(lateness) * 1000, 2) if lateness else None,
        },
    }


async def rearm_times(database_url: str) -> list[float]:
    """Three timings of the query the broker runs at start-up to arm its one wake-up."""
    from perci_sim.services.fire_timers import next_timer_due
    from perci_sim.storage.db import open_database

    db = await open_database(database_url, create=False)
    times = []
    try:
        for _ in range(3):
            began = time.perf_counter()
            await next_timer_due(db)
            times.append(time.perf_counter() - began)
    finally:
        await db.close()
    return times


class DeadlinePhase(Phase):
    """``deadlines-sqlite``, ``deadlines-postgres``: N open deadlines, F due in a window."""

    def __init__(self, name: str, args: argparse.Namespace) -> None:
        figures = {
            "open_deadlines": args.deadlines,
            "fire": args.fire,
            "fire_window_s": args.fire_window,
        }
        super().__init__(name, args, DEADLINE_PHASES[name], figures)

    def run(self) -> dict[str, Any]:
        began = time.monotonic()
        setup: Setup | None = None
        brokers: list[Broker] = []
        seeded: Seeded | None = None
        try:
            setup = Setup.create(self.name, self.postgres)
            seeded = self._seed(setup)
            brokers = start_brokers(setup, 1, self.deadline)
            self._wait(setup, seeded, brokers[0])
        except Exception as exc:
            self.problems.append(f"{type(exc).__name__}: {exc}")
        finally:
            self.problems += stop_brokers(brokers)
        if brokers:
            self.figures["startup_to_healthy_s"] = brokers[0].startup_s
            self.figures["broker_peak_rss_mb"] = brokers[0].figures["peak_rss_mb"]
            self.figures["broker_cpu_s"] = brokers[0].figures["cpu_s"]
        if setup is not None:
            self._after(setup, seeded, brokers)
        return self.done(began)

    def _seed(self, setup: Setup) -> Seeded:
        args = self.args
        say(f"{self.name}: seeding {args.deadlines} open deadlines, {args.fire} due soon")
        allowance = SMOKE_START_ALLOWANCE_S if args.smoke else START_ALLOWANCE_S
        seeded = asyncio.run(
            seed_deadlines(
                setup.database_url,
                args.deadlines,
                args.fire,
                args.fire_window,
                allowance,
                self.deadline,
            )
        )
        self.figures["seed_s"] = round(seeded.seconds, 2)
        say(f"{self.name}: seeded in {seeded.seconds:.1f} s; starting the broker")
        return seeded

    def _wait(self, setup: Setup, seeded: Seeded, broker: Broker) -> None:
        # Negative: the window opened before the broker could serve; its first
        # deadlines then fired in the start-up sweep and their lateness includes it.
        self.figures["window_opens_after_healthy_s"] = round(seeded.window_opens - time.time(), 2)
        until = min(self.deadline, seeded.window_closes + FIRE_GRACE_S)
        fired = asyncio.run(
            wait_fired(
                setup.database_url, self.args.fire, not_before=seeded.window_closes, until=until
            )
        )
        if fired < self.args.fire and time.time() >= self.deadline:
            self.problems.append("the phase's time limit was hit while deadlines were due")
        if broker.process.poll() is not None:
            self.problems.append(f"the broker exited (status {broker.process.returncode})")

    def _after(self, setup: Setup, seeded: Seeded | None, brokers: list[Broker]) -> None:
        if seeded is not None:
            firing = asyncio.run(firing_figures(setup.database_url, seeded.window))
            self.figures.update(firing)
            self.problems += _firing_problems(firing)
            times = asyncio.run(rearm_times(setup.database_url))
            self.figures["rearm_s"] = round(min(times), 4)
            self.figures["rearm_first_s"] = round(times[0], 4)
            say(f"{self.name}: {_deadline_line(self.figures)}")
        # The log holds only the broker's deadline_missed events (the seeded orders have
        # no order_received): verify-log checks the chain the broker wrote, not an exchange.
        self.finish(setup, brokers)


def _firing_problems(firing: dict[str, Any]) -> list[str]:
    labels = {
        "not_fired": "deadlines of the window never fired",
        "fired_early": "deadlines fired before they were due",
        "fired_twice": "orders got more than one deadline_missed event",
        "without_event": "orders of the window got no deadline_missed event",
        "others_fired": "deadlines due hours later fired (or got events)",
    }
    return [f"{firing[key]} {label}" for key, label in labels.items() if firing[key]]


def _deadline_line(figures: dict[str, Any]) -> str:
    lateness = figures["lateness_ms"]
    return (
        f"{figures['fired']}/{figures['fire']} fired once each; lateness p50 {lateness['p50']} "
        f"ms, p99 {lateness['p99']} ms, max {lateness['max']} ms; broker healthy after "
        f"{figures.get('startup_to_healthy_s')} s, peak RSS "
        f"{figures.get('broker_peak_rss_mb')} MiB; re-arm query {figures['rearm_s']} s"
    )
