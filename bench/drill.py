"""Benchmark of the drill engine: a Referral Action Day end to end, and deadline lateness.

Two parts, each against a real broker process on 127.0.0.1:

1. **The scenario** (default ``scenarios/referral-action-day.yaml``) through
   :func:`perci_sim.drills.runner.run_drill`: the broker, the simulated parties
   driven through the SDKs, the report.  Figures: wall time of the whole drill
   (start-up, the crisis, the report and verify-log), items (orders + referrals)
   delivered and answered, items per second, peak memory of the runner and of the
   broker (the largest child process: ``RUSAGE_CHILDREN``).
2. **Deadline lateness at speed 10 and 60** (``--probe-speeds``): a fresh broker at
   that speed; an authority issues ``--probe-orders`` emergency orders to an HSP
   that never answers, a few simulated seconds apart; the facilitator fast-forwards
   the clock (``POST /v1/clock/advance``) to 20 simulated seconds before the first
   deadline, and the broker's own timer takes it from there.  Lateness is
   ``received_at`` of each ``deadline_missed`` event minus the order's
   ``deadline_at``, in simulated seconds, while another authority keeps the broker
   busy with ``--probe-load`` referrals a second.  Goal (issue 4): within 1 s at
   speed 10, within 5 s at speed 60.

The LAST line of stdout is one JSON object; progress goes to stderr.  Exit status 1
when the drill failed, an item was not answered, or a probe lost a deadline.

    python bench/drill.py                                   # the whole RAD + probes
    python bench/drill.py --scenario scenarios/small-crisis.yaml --probe-orders 3
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import resource
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import exchange

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SCENARIO = ROOT / "scenarios" / "referral-action-day.yaml"
#: Simulated seconds between the probe's orders, and the lead left before the first deadline.
PROBE_SPACING_S = 3.0
PROBE_LEAD_S = 20.0
#: Lateness goals of issue 4, simulated seconds, by clock speed.
LATENESS_GOALS = {10.0: 1.0, 60.0: 5.0}


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def percentiles(samples: Sequence[float]) -> dict[str, float | int | None]:
    """Nearest-rank p50/p99 and max, rounded to the millisecond."""
    if not samples:
        return {"n": 0, "p50": None, "p99": None, "max": None}
    ordered = sorted(samples)

    def rank(p: float) -> float:
        return round(ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)], 3)

    return {"n": len(ordered), "p50": rank(50), "p99": rank(99), "max": round(ordered[-1], 3)}


def _rss_mb(usage: resource.struct_rusage) -> float:
    return round(usage.ru_maxrss / 1024, 1)  # Linux: KiB


def run_scenario(path: Path, speed: float | None, report_dir: Path) -> dict[str, Any]:
    """Part 1: run the drill and read its figures from report.json."""
    from rich.console import Console

    from perci_sim.drills.runner import run_drill
    from perci_sim.drills.scenario import load_scenario

    scenario = load_scenario(path)
    started = time.monotonic()
    result = run_drill(
        scenario,
        report_dir=report_dir,
        speed=speed,
        console=Console(stderr=True),
        max_wall_s=1800.0,
    )
    wall = time.monotonic() - started
    report = result.report
    overall = report.get("overall", {})
    orders = int(overall.get("orders_received", 0))
    referred = int(overall.get("referrals_received", 0))
    referrals_answered = int(overall.get("referrals_removed", 0)) + int(
        overall.get("referrals_not_removed", 0)
    )
    items = orders + referred
    return {
        "scenario": scenario.name,
        "speed": report.get("scenario", {}).get("speed"),
        "simulated_s": report.get("scenario", {}).get("simulated_seconds"),
        "skipped_s": report.get("scenario", {}).get("skipped_seconds"),
        "drill_wall_s": report.get("scenario", {}).get("wall_seconds"),
        "wall_s": round(wall, 3),
        "orders": orders,
        "orders_executed_within_1h": overall.get("executed_within_1h"),
        "orders_overdue_at_end": overall.get("overdue_at_end"),
        "orders_open_at_end": overall.get("open_at_end"),
        "deadlines_missed": overall.get("deadlines_missed"),
        "referrals": referred,
        "referrals_answered": referrals_answered,
        "referrals_unanswered": overall.get("referrals_unanswered"),
        "events": overall.get("events"),
        "items": items,
        "items_per_s": round(items / wall, 2) if wall > 0 else None,
        "peak_rss_mb": {
            "runner": _rss_mb(resource.getrusage(resource.RUSAGE_SELF)),
            "broker": _rss_mb(resource.getrusage(resource.RUSAGE_CHILDREN)),
        },
        "drill_ok": result.ok,
        "log_verified": report.get("verify_log", {}).get("ok")
        if isinstance(report.get("verify_log"), dict)
        else report.get("verify_log"),
        "errors": len(report.get("errors", [])),
    }


async def _background_load(home: Path, url: str, per_s: float, stop: asyncio.Event) -> int:
    """Referral batches from es-cgi to hsp-beta at ``per_s`` items a second, until ``stop``."""
    from authority_client import AuthorityClient
    from perci_sim.bootstrap import credentials_path

    sent = 0
    batch = max(1, int(per_s / 10))
    async with AuthorityClient.from_credentials(
        credentials_path(home, "es-cgi"), broker_url=url
    ) as client:
        started = time.monotonic()
        while not stop.is_set():
            items = [
                {
                    "hsp_id": "hsp-beta",
                    "urls": [f"https://beta.example/load/{sent + i}"],
                    "details": "Background load",
                }
                for i in range(batch)
            ]
            await client.send_referral_batch(items)
            sent += batch
            ahead = sent / per_s - (time.monotonic() - started)
            if ahead > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), ahead)
    return sent


async def _probe_exchange(
    home: Path, url: str, orders: int, speed: float, load_per_s: float
) -> tuple[list[float], int]:
    """Issue orders nobody answers, fast-forward, wait for every deadline_missed."""
    stop = asyncio.Event()
    load = (
        asyncio.create_task(_background_load(home, url, load_per_s, stop))
        if load_per_s > 0
        else None
    )
    try:
        lateness = await _probe_deadlines(home, url, orders, speed)
    finally:
        stop.set()
        loaded = await load if load is not None else 0
    return lateness, loaded


async def _probe_deadlines(home: Path, url: str, orders: int, speed: float) -> list[float]:
    from authority_client import AuthorityClient
    from perci_schemas.client_facilitator import FacilitatorClient
    from perci_schemas.client_views import parse_time
    from perci_sim.bootstrap import credentials_path

    authority = AuthorityClient.from_credentials(credentials_path(home, "de-bka"), broker_url=url)
    facilitator = FacilitatorClient.from_credentials(
        credentials_path(home, "facilitator"), broker_url=url
    )
    async with authority, facilitator:
        deadlines: dict[str, datetime] = {}
        for n in range(orders):
            order = await authority.prepare_order(
                hsp_id="hsp-alpha",
                urls=[f"https://alpha.example/probe/{n}"],
                reasons=["a"],
                details="Deadline lateness probe",
                emergency_justification="Probe: imminent dissemination (Art. 3(2))",
            )
            issued = await authority.issue_order(order)
            deadline_at = issued.order["deadline_at"]
            assert deadline_at is not None
            deadlines[issued.order["order_id"]] = parse_time(deadline_at)
            await asyncio.sleep(PROBE_SPACING_S / speed)
        first = min(deadlines.values())
        await facilitator.advance_clock(to=first - timedelta(seconds=PROBE_LEAD_S))
        last = max(deadlines.values())
        budget = (last - first).total_seconds() / speed + PROBE_LEAD_S / speed + 30.0
        missed: dict[str, datetime] = {}
        after = 0
        stop_at = time.monotonic() + budget
        while len(missed) < len(deadlines) and time.monotonic() < stop_at:
            page = await authority.events(after)
            for event in page.events:
                if event["kind"] == "deadline_missed" and event["order_id"] in deadlines:
                    missed.setdefault(event["order_id"], parse_time(event["received_at"]))
            after = page.last_seq
            await asyncio.sleep(0.05)
        return [(missed[o] - deadlines[o]).total_seconds() for o in deadlines if o in missed]


def probe_lateness(speed: float, orders: int, load_per_s: float) -> dict[str, Any]:
    """Part 2 at one speed: a fresh broker, orders, a fast-forward, the timer's lateness."""
    from perci_sim.bootstrap import init_home

    with tempfile.TemporaryDirectory(prefix="perci-bench-probe-") as tmp:
        home = Path(tmp)
        port = exchange._free_port()
        url = f"http://127.0.0.1:{port}"
        asyncio.run(init_home(home, broker_url=url))
        env = exchange._broker_env()
        broker = exchange._start_broker(home, port, env, None, speed=speed)
        try:
            exchange._wait_healthy(url, broker, time.time() + exchange.HEALTH_TIMEOUT_S)
            lateness, loaded = asyncio.run(_probe_exchange(home, url, orders, speed, load_per_s))
        finally:
            exchange._stop(broker)
    figures: dict[str, Any] = percentiles(lateness)
    figures["orders"] = orders
    figures["background_referrals"] = loaded
    figures["background_referrals_per_s"] = load_per_s
    figures["lost"] = orders - len(lateness)
    goal = LATENESS_GOALS.get(speed)
    figures["goal_s"] = goal
    figures["within_goal"] = (
        None
        if goal is None or not lateness
        else bool(max(lateness) <= goal and not figures["lost"])
    )
    return figures


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenario", type=Path, default=DEFAULT_SCENARIO)
    parser.add_argument("--speed", type=float, default=None, help="override the scenario's")
    parser.add_argument("--no-scenario", action="store_true", help="only the lateness probes")
    parser.add_argument(
        "--probe-speeds", type=float, nargs="*", default=[10.0, 60.0], help="empty: no probe"
    )
    parser.add_argument("--probe-orders", type=int, default=20)
    parser.add_argument(
        "--probe-load",
        type=float,
        default=100.0,
        help="referrals a second sent by another authority during each probe (0: idle broker)",
    )
    parser.add_argument("--keep", type=Path, default=None, help="write the drill report here")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    figures: dict[str, Any] = {"benchmark": "drill", "problems": []}
    if not args.no_scenario:
        say(f"drill: {args.scenario}")
        with tempfile.TemporaryDirectory(prefix="perci-bench-drill-") as tmp:
            report_dir = args.keep or Path(tmp) / "report"
            figures.update(run_scenario(args.scenario, args.speed, report_dir))
        if not figures["drill_ok"]:
            figures["problems"].append("the drill failed (see its report's errors)")
        if figures["orders_open_at_end"]:
            figures["problems"].append("orders left open at the end")
    lateness: dict[str, Any] = {}
    for speed in args.probe_speeds:
        say(f"deadline lateness probe at speed {speed:g}: {args.probe_orders} orders")
        probe = probe_lateness(speed, args.probe_orders, args.probe_load)
        lateness[f"speed_{speed:g}"] = probe
        if probe["lost"]:
            figures["problems"].append(f"speed {speed:g}: {probe['lost']} deadlines not recorded")
    figures["deadline_lateness_s"] = lateness
    print(json.dumps(figures))
    return 1 if figures["problems"] else 0


if __name__ == "__main__":
    sys.exit(main())
