"""Throughput benchmark (issue 5): orders per second, delivery latency, deadline firing.

Phases (``--phases``, run in this order, each with its own fresh setup and database):

* ``sqlite-1``, ``postgres-1``, ``postgres-2``: the core exchange on one broker process
  (SQLite, PostgreSQL) and on two broker replicas sharing one PostgreSQL database.
  ``--clients`` separate client processes drive the broker(s) through the real SDKs
  (bench/exchange.py's ``Exchange``): the three authorities issue signed emergency
  orders and each HSP follows its WebSocket feed in exactly one process, reading,
  verifying, acknowledging and answering with Annex II.  With two replicas, each
  process submits to one replica and follows its HSPs' feeds on the other, so every
  delivery crosses replicas (LISTEN/NOTIFY).  First a saturation run (``--orders``,
  ``--concurrency`` in flight): orders per second end to end; then an open-loop run
  (``--half-rate-orders``) paced at half the measured rate: submission-to-delivery
  latency.
* ``deadlines-sqlite``, ``deadlines-postgres``: ``--deadlines`` open deadlines are
  seeded straight into a fresh database, ``--fire`` of them due within a
  ``--fire-window`` of seconds soon after the broker starts, the rest hours later; the
  broker is started, and the firing lateness, exactly-once firing, the broker's
  start-up, memory and the re-arm query's time are measured.

Progress goes to stderr (nothing with ``--json-only``); the LAST line of stdout is one
JSON object (bench/README.md explains every key).  The exit status is 1 when something
FAILED (an order lost or refused, a deadline not fired or fired twice, a process that
did not stop, a time limit hit), not when a goal of the issue is missed.

    python bench/throughput.py --smoke --json-only             # CI: small N, ~1 minute
    python bench/throughput.py                                 # the full run
    python bench/throughput.py --phases deadlines-sqlite --deadlines 1000000 --max-seconds 900
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import logging
import os
import platform
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

# bench/exchange.py: the SDK client side, broker start and stop, /proc figures, verify-log.
import exchange
from bench_setup import RATE_LIMIT, Broker, Phase, Setup, start_brokers, stop_brokers
from deadline_phase import DEADLINE_PHASES, DeadlinePhase
from exchange import HSPS, percentiles, say

ORDER_PHASES: dict[str, tuple[str, int]] = {
    "sqlite-1": ("sqlite", 1),
    "postgres-1": ("postgresql", 1),
    "postgres-2": ("postgresql", 2),
}
ALL_PHASES = (*ORDER_PHASES, *DEADLINE_PHASES)

#: Sizes of the full run and of ``--smoke`` (CI); an option given explicitly wins.
FULL = {
    "orders": 2000,
    "half_rate_orders": 500,
    "deadlines": 100_000,
    "fire": 2000,
    "fire_window": 20.0,
    "max_seconds": 300.0,
}
SMOKE = {
    "orders": 40,
    "half_rate_orders": 20,
    "deadlines": 2000,
    "fire": 50,
    "fire_window": 3.0,
    "max_seconds": 60.0,
}

#: The goals of issue 5 for one broker process on the 2-core machine.
GOAL_ORDERS_PER_S = 500.0
GOAL_HALF_RATE_P99_MS = 100.0
GOAL_LATENESS_P99_MS = 1000.0
GOAL_REARM_S = 1.0
GOAL_RSS_MIB = round(1e9 / 2**20, 1)  # 1 GB = 10^9 bytes = 953.7 MiB
GOAL_DEADLINES = 1_000_000

#: The client processes start together: each waits for the others after its warm-up.
BARRIER_TIMEOUT_S = 60.0


# ----------------------------------------------------------------------- worker


@dataclass(slots=True)
class ShareResult(exchange.WorkerResult):
    """One client process's share of a run (written as JSON to ``--result``)."""

    client: int = 0
    #: ``time.time()`` when its orders started (after the start barrier).
    started_wall: float = 0.0
    #: Paced runs: how late each submission started against its schedule (seconds).
    slip_s: list[float] = field(default_factory=list)


class Share:
    """A client process's part: its HSPs, its orders, optionally paced (open loop)."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.result = ShareResult(client=args.client)
        self.exchange = exchange.Exchange(
            Path(args.home),
            args.url,
            self.result,
            hsps=args.hsps.split(","),
            platform_url=args.platform_url,
            tag=args.tag,
            after=args.after,
        )
        self.start = 0.0

    async def before_start(self) -> None:
        """The start barrier: every client process has warmed up, the run begins."""
        folder, me = Path(self.args.barrier), self.args.client
        (folder / f"ready-{me}").touch()
        give_up = min(self.args.deadline, time.time() + BARRIER_TIMEOUT_S)
        while len(list(folder.glob("ready-*"))) < self.args.clients:
            if time.time() > self.args.deadline:
                raise TimeoutError("the phase's time limit was reached before the run began")
            if time.time() > give_up:
                raise TimeoutError("the other client processes were not ready in time")
            await asyncio.sleep(0.01)
        self.result.started_wall = time.time()
        self.start = time.monotonic()

    async def paced(self, index: int, gate: asyncio.Semaphore, progress: int) -> None:
        """Open loop: order ``index`` starts at ``index / rate`` s, whatever is in flight."""
        scheduled = self.start + index / self.args.rate
        await asyncio.sleep(max(0.0, scheduled - time.monotonic()))
        self.result.slip_s.append(time.monotonic() - scheduled)
        await self.exchange.one_order(index, gate, progress)

    async def run(self) -> ShareResult:
        paced = self.paced if self.args.rate > 0 else None
        await exchange.drive(
            self.exchange,
            self.args.orders,
            self.args.concurrency,
            self.args.deadline,
            before_start=self.before_start,
            order=paced,
        )
        return self.result


def worker_main(args: argparse.Namespace) -> int:
    result = asyncio.run(Share(args).run())
    tmp = Path(args.result).with_suffix(".tmp")
    tmp.write_text(json.dumps(dataclasses.asdict(result)), encoding="utf-8")
    tmp.replace(args.result)
    return 0 if result.failed == 0 and result.completed == args.orders else 1


# ------------------------------------------------------------------ order phases


@dataclass(slots=True)
class ClientPlan:
    """One client process of a run: its HSPs, replicas, orders, in flight and pace."""

    index: int
    hsps: list[str]
    orders: int
    concurrency: int
    rate: float
    url: str
    platform_url: str


def plan_clients(
    clients: int, orders: int, concurrency: int, rate: float, brokers: Sequence[Broker]
) -> list[ClientPlan]:
    """Split the HSPs round robin over the processes, the orders in proportion.

    Each process issues orders from all three authorities to its own HSPs only, so
    every authority/HSP pair gets the same share of the orders; in-flight orders and
    the pace are split in the same proportion, so the processes finish together.
    """
    owned = [[h for j, h in enumerate(HSPS) if j % clients == i] for i in range(clients)]
    counts = [orders * len(hsps) // len(HSPS) for hsps in owned]
    for i in range(orders - sum(counts)):
        counts[i % clients] += 1
    plans = []
    for i, (hsps, count) in enumerate(zip(owned, counts, strict=True)):
        if count == 0:
            continue
        share = count / orders
        plans.append(
            ClientPlan(
                index=i,
                hsps=hsps,
                orders=count,
                concurrency=max(1, round(concurrency * share)),
                rate=rate * share,
                # Two replicas: submit to one, follow the feeds (and answer) on the other.
                url=brokers[i % len(brokers)].url,
                platform_url=brokers[(i + 1) % len(brokers)].url,
            )
        )
    return plans


def run_clients(
    setup: Setup,
    run: str,
    plans: Sequence[ClientPlan],
    *,
    after: int,
    deadline: float,
    json_only: bool,
) -> tuple[list[ShareResult], list[str]]:
    """Run the client processes of one run concurrently; their results and problems."""
    barrier = setup.home / f"barrier-{run}"
    barrier.mkdir()

    def one(plan: ClientPlan) -> tuple[ShareResult | None, list[str]]:
        options = [
            *("--client", str(plan.index), "--clients", str(len(plans))),
            *("--hsps", ",".join(plan.hsps), "--platform-url", plan.platform_url),
            *("--tag", f"{run}{plan.index}-", "--after", str(after), "--barrier", str(barrier)),
            *("--orders", str(plan.orders), "--concurrency", str(plan.concurrency)),
            *("--rate", repr(plan.rate)),
        ]
        return exchange.run_client_process(
            Path(__file__),
            options,
            ShareResult,
            home=setup.home,
            url=plan.url,
            env=exchange._broker_env(),  # clients know nothing of the database
            deadline=deadline,
            json_only=json_only,
            result_name=f"{run}-client-{plan.index}.json",
        )

    with ThreadPoolExecutor(max_workers=len(plans)) as pool:
        outcomes = list(pool.map(one, plans))
    results = [r for r, _ in outcomes if r is not None]
    problems = [
        f"client {plan.index}: {problem}"
        for plan, (_, found) in zip(plans, outcomes, strict=True)
        for problem in found
    ]
    return results, problems


def run_figures(results: Sequence[ShareResult], orders: int) -> tuple[dict[str, Any], list[str]]:
    """The figures of one run over all its client processes, and what failed."""
    completed = sum(r.completed for r in results)
    failed = sum(r.failed for r in results)
    started = [r.started_wall for r in results if r.started_wall]
    wall = max((r.started_wall + r.wall_s for r in results if r.started_wall), default=0.0)
    wall = wall - min(started) if started else 0.0
    figures: dict[str, Any] = {
        "orders": orders,
        "completed": completed,
        "failed": failed,
        "wall_s": round(wall, 3),
        "orders_per_s_end_to_end": round(completed / wall, 2) if wall > 0 else None,
        "submit_ms": percentiles([s for r in results for s in r.submit_s]),
        "submit_to_delivery_ms": percentiles([s for r in results for s in r.submit_to_delivery_s]),
        "submit_to_annex_ii_ms": percentiles([s for r in results for s in r.submit_to_annex_ii_s]),
        "client_cpu_s": [r.cpu_s for r in results],
    }
    problems = [e for r in results for e in r.errors]
    if failed:
        problems.append(f"{failed} orders failed")
    if completed != orders:
        problems.append(f"{completed} of {orders} orders answered")
    return figures, problems


async def _last_seq(database_url: str) -> int:
    """The log's last seq: a later run's feeds start after it (no replay)."""
    from sqlalchemy import text

    from perci_sim.storage.db import open_database

    db = await open_database(database_url, create=False)
    try:
        async with db.connect() as conn:
            last = (await conn.execute(text("SELECT max(seq) FROM event"))).scalar()
    finally:
        await db.close()
    return int(last or 0)


class OrderPhase(Phase):
    """``sqlite-1``, ``postgres-1``, ``postgres-2``: saturation, then half rate."""

    def __init__(self, name: str, args: argparse.Namespace) -> None:
        backend, self.replicas = ORDER_PHASES[name]
        figures = {"replicas": self.replicas, "clients": args.clients}
        super().__init__(name, args, backend, {**figures, "saturation": None, "half_rate": None})

    def run(self) -> dict[str, Any]:
        began = time.monotonic()
        setup: Setup | None = None
        brokers: list[Broker] = []
        try:
            setup = Setup.create(self.name, self.postgres)
            brokers = start_brokers(setup, self.replicas, self.deadline)
            self._runs(setup, brokers)
        except Exception as exc:
            self.problems.append(f"{type(exc).__name__}: {exc}")
        finally:
            self.problems += stop_brokers(brokers)
        self.figures["brokers"] = [
            {"replica": b.name, "startup_to_healthy_s": b.startup_s, **b.figures} for b in brokers
        ]
        if setup is not None:
            self.finish(setup, brokers)
        return self.done(began)

    def _runs(self, setup: Setup, brokers: list[Broker]) -> None:
        args = self.args
        plans = plan_clients(args.clients, args.orders, args.concurrency, 0.0, brokers)
        self.figures["client_plan"] = [_plan_view(plan, brokers) for plan in plans]
        say(f"{self.name}: saturation, {args.orders} orders, {args.concurrency} in flight")
        rate = self._run(setup, brokers, "s", plans, after=0)["orders_per_s_end_to_end"]
        if self.problems or not rate:
            return  # no rate to halve: the phase has failed already
        half = rate / 2
        # Open loop: as many in flight as the pace makes (no gate), the orders are few.
        orders = args.half_rate_orders
        plans = plan_clients(args.clients, orders, orders, half, brokers)
        after = asyncio.run(_last_seq(setup.database_url))
        say(f"{self.name}: half rate, {orders} orders at {half:.1f}/s, open loop")
        self.figures["half_rate"] = self._run(setup, brokers, "h", plans, after=after)
        self.figures["half_rate"]["target_rate_per_s"] = round(half, 2)

    def _run(
        self, setup: Setup, brokers: list[Broker], run: str, plans: list[ClientPlan], after: int
    ) -> dict[str, Any]:
        cpu_before = [b.cpu_s() or 0.0 for b in brokers]
        results, problems = run_clients(
            setup, run, plans, after=after, deadline=self.deadline, json_only=self.args.json_only
        )
        figures, run_problems = run_figures(results, sum(p.orders for p in plans))
        figures["concurrency"] = sum(p.concurrency for p in plans)
        figures["broker_cpu_s"] = [
            round((broker.cpu_s() or 0.0) - before, 2)
            for broker, before in zip(brokers, cpu_before, strict=True)
        ]
        if run == "h":
            figures["schedule_slip_ms"] = percentiles([s for r in results for s in r.slip_s])
        else:
            self.figures["saturation"] = figures
        self.problems += [f"{run}: {p}" for p in (*problems, *run_problems)]
        say(f"{self.name}: {_run_line(figures)}")
        return figures


def _plan_view(plan: ClientPlan, brokers: Sequence[Broker]) -> dict[str, Any]:
    """Which replica a client process submits to and which one its HSPs' feeds are on."""
    name = {broker.url: broker.name for broker in brokers}
    return {
        "client": plan.index,
        "hsps": plan.hsps,
        "submits_to": name[plan.url],
        "feeds_on": name[plan.platform_url],
    }


def _run_line(figures: dict[str, Any]) -> str:
    return (
        f"{figures['completed']}/{figures['orders']} orders in {figures['wall_s']} s, "
        f"{figures['orders_per_s_end_to_end']} orders/s end to end; submit->delivery "
        f"p50 {figures['submit_to_delivery_ms']['p50']} ms, "
        f"p99 {figures['submit_to_delivery_ms']['p99']} ms; broker CPU {figures['broker_cpu_s']} s"
    )


# --------------------------------------------------------------- deadline phases
# ------------------------------------------------------------------------- goals


def _goal(goal: str, values: dict[str, float | None], ok: Any, **extra: Any) -> dict[str, Any]:
    """One goal: the value of each phase that measures it and whether it is met."""
    by_phase = {
        name: {"value": value, "met": None if value is None else bool(ok(value))}
        for name, value in values.items()
    }
    verdicts = [entry["met"] for entry in by_phase.values() if entry["met"] is not None]
    return {"goal": goal, **extra, "by_phase": by_phase, "met": all(verdicts) if verdicts else None}


def _value(figures: dict[str, Any], *path: str) -> float | None:
    """``figures[path[0]][path[1]]...`` when it is a number (a failed run has None)."""
    found: Any = figures
    for key in path:
        found = found.get(key) if isinstance(found, dict) else None
    return found if isinstance(found, int | float) else None


def goals(phases: dict[str, dict[str, Any]], deadlines: int) -> dict[str, Any]:
    """The issue's goals against what was measured; a missed goal is not a failure."""
    orders = {n: f for n, f in phases.items() if n in ORDER_PHASES and "skipped" not in f}
    timers = {n: f for n, f in phases.items() if n in DEADLINE_PHASES and "skipped" not in f}
    scale = {"open_deadlines": deadlines, "full_scale": deadlines >= GOAL_DEADLINES}
    found: dict[str, Any] = {
        "orders_per_s_end_to_end": _goal(
            f">= {GOAL_ORDERS_PER_S:g} orders/s end to end (saturation run)",
            {n: _value(f, "saturation", "orders_per_s_end_to_end") for n, f in orders.items()},
            lambda v: v >= GOAL_ORDERS_PER_S,
        ),
        "half_rate_submit_to_delivery_p99_ms": _goal(
            f"< {GOAL_HALF_RATE_P99_MS:g} ms p99 submission to delivery at half the measured rate",
            {n: _value(f, "half_rate", "submit_to_delivery_ms", "p99") for n, f in orders.items()},
            lambda v: v < GOAL_HALF_RATE_P99_MS,
        ),
        "deadline_lateness_p99_ms": _goal(
            f"< {GOAL_LATENESS_P99_MS:g} ms p99 firing lateness "
            f"with {GOAL_DEADLINES:,} open deadlines",
            {n: _value(f, "lateness_ms", "p99") for n, f in timers.items()},
            lambda v: v < GOAL_LATENESS_P99_MS,
            **scale,
        ),
        "rearm_s": _goal(
            f"< {GOAL_REARM_S:g} s to re-arm {GOAL_DEADLINES:,} open deadlines at start-up",
            {n: _value(f, "rearm_s") for n, f in timers.items()},
            lambda v: v < GOAL_REARM_S,
            **scale,
        ),
        "broker_peak_rss_mb": _goal(
            f"< 1 GB ({GOAL_RSS_MIB} MiB) broker peak RSS with {GOAL_DEADLINES:,} open deadlines",
            {n: _value(f, "broker_peak_rss_mb") for n, f in timers.items()},
            lambda v: v < GOAL_RSS_MIB,
            **scale,
        ),
    }
    verdicts = [g["met"] for g in found.values() if g["met"] is not None]
    found["all_met"] = all(verdicts) if verdicts else None
    return found


# ------------------------------------------------------------------ orchestrator


def run_phase(name: str, args: argparse.Namespace) -> dict[str, Any]:
    backend = ORDER_PHASES[name][0] if name in ORDER_PHASES else DEADLINE_PHASES[name]
    if backend == "postgresql" and not args.postgres:
        return {"skipped": "no PostgreSQL: pass --postgres URL or set PERCI_TEST_DATABASE_URL"}
    say(f"\n== {name}")
    try:
        if name in ORDER_PHASES:
            return OrderPhase(name, args).run()
        return DeadlinePhase(name, args).run()
    except Exception as exc:  # a phase's own bookkeeping failed: report, go on
        return {"backend": backend, "problems": [f"{type(exc).__name__}: {exc}"]}


def orchestrate(args: argparse.Namespace) -> int:
    from perci_sim.logging import configure_logging

    configure_logging("console", logging.WARNING)  # init_home's own logs: stderr, quiet
    began = time.monotonic()
    load_before = os.getloadavg()
    phases = {name: run_phase(name, args) for name in args.phases}
    problems = [f"{n}: {p}" for n, f in phases.items() for p in f.get("problems", [])]
    figures = {
        "benchmark": "throughput",
        "smoke": args.smoke,
        "settings": _settings(args),
        "machine": {
            "cpus": os.cpu_count(),
            "load_average_before": [round(x, 2) for x in load_before],
            "load_average_after": [round(x, 2) for x in os.getloadavg()],
            "python": platform.python_version(),
        },
        "phases": phases,
        "goals": goals(phases, args.deadlines),
        "wall_s": round(time.monotonic() - began, 1),
        "failed": bool(problems),
        "problems": problems,
    }
    _summary(figures)
    print(json.dumps(figures), flush=True)
    return 1 if problems else 0


def _settings(args: argparse.Namespace) -> dict[str, Any]:
    keys = (
        "phases",
        "orders",
        "half_rate_orders",
        "concurrency",
        "clients",
        "deadlines",
        "fire",
        "fire_window",
        "max_seconds",
    )
    return {
        **{k: getattr(args, k) for k in keys},
        "rate_limit": float(RATE_LIMIT),
        "postgres": bool(args.postgres),
    }


def _summary(figures: dict[str, Any]) -> None:
    say("\nGoals of issue 5 (a missed goal is reported, not a failure):")
    for name, goal in figures["goals"].items():
        if name == "all_met":
            continue
        values = ", ".join(f"{phase} {entry['value']}" for phase, entry in goal["by_phase"].items())
        verdict = {True: "met", False: "NOT met", None: "not measured"}[goal["met"]]
        say(f"  {goal['goal']}: {values or '-'} -> {verdict}")
    for problem in figures["problems"]:
        say(f"  ✗ {problem}")


# ----------------------------------------------------------------------- the CLI


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text}")
    return value


def _phases(text: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in ALL_PHASES]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown phases {unknown}; choose from {', '.join(ALL_PHASES)}"
        )
    return names


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    add = parser.add_argument
    add("--phases", type=_phases, default=list(ALL_PHASES), help="comma list (default: all)")
    add("--orders", type=_positive, help="saturation run: orders (2000; smoke 40)")
    add("--half-rate-orders", type=_positive, help="paced run: orders (500; smoke 20)")
    add("--concurrency", type=_positive, default=32, help="saturation run: orders in flight")
    add("--clients", type=int, choices=range(1, len(HSPS) + 1), default=2, help="client processes")
    add("--deadlines", type=_positive, help="open deadlines to seed (100000; smoke 2000)")
    add("--fire", type=_positive, help="of which due in the window (2000; smoke 50)")
    add("--fire-window", type=float, help="seconds the due deadlines spread over (20; smoke 3)")
    add("--max-seconds", type=float, help="wall-time limit of each phase (300; smoke 60)")
    add("--smoke", action="store_true", help="small sizes for CI")
    add("--json-only", action="store_true", help="no progress on stderr")
    add("--keep", action="store_true", help="keep the temporary setups and databases")
    add(
        "--postgres",
        metavar="URL",
        default=os.environ.get("PERCI_TEST_DATABASE_URL") or None,
        help="PostgreSQL server for the postgres phases: a fresh database each, dropped at "
        "the end (default: $PERCI_TEST_DATABASE_URL; without it they are skipped)",
    )
    worker = parser.add_argument_group("internal (the client processes)")
    for name in ("--home", "--url", "--result", "--hsps", "--platform-url", "--barrier"):
        worker.add_argument(name, help=argparse.SUPPRESS)
    worker.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    worker.add_argument("--tag", default="", help=argparse.SUPPRESS)
    for name in ("--client", "--after"):
        worker.add_argument(name, type=int, default=0, help=argparse.SUPPRESS)
    worker.add_argument("--rate", type=float, default=0.0, help=argparse.SUPPRESS)
    worker.add_argument("--deadline", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    for key, value in (SMOKE if args.smoke else FULL).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if not args.worker and args.fire > args.deadlines:
        parser.error("--fire must not exceed --deadlines")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    return exchange.dispatch(parse_args(argv), worker_main, orchestrate)


if __name__ == "__main__":
    sys.exit(main())
