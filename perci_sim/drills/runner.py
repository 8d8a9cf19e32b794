"""Run a drill: a broker, simulated parties driven through the real SDKs, a report.

:func:`run_drill` sets up a fresh home (broker key, database, the scenario's
parties, a facilitator and, when a referral wave names it, Europol, through
:mod:`perci_sim.bootstrap`), starts ``python -m perci_sim serve`` on a free port
at the scenario's clock speed (:mod:`perci_sim.drills.broker_process`; or joins a
running broker with ``broker_url``), sends the advance information the scenario
asks for, and plays the timeline:

* simulated authorities (:mod:`perci_sim.drills.sim_authority`) issue orders,
  withdraw them, answer Annex III clarification requests and, as host Member
  State, scrutinise cross-border orders (Art. 4);
* simulated HSPs (:mod:`perci_sim.drills.sim_platform`) follow their WebSocket
  feed, poll ``/v1/events`` or run a webhook (:mod:`perci_sim.drills.webhook_receiver`),
  and answer each order as drawn from an RNG keyed by (seed, HSP, order key);
* referral waves and the HSPs' referral outcomes: :mod:`perci_sim.drills.sim_referrals`;
* ``live`` parties are not simulated: their credentials file and the broker
  address are printed for a real participant's own client;
* with ``skip_idle``, quiet periods are skipped through the facilitator's
  ``POST /v1/clock/advance``.

The drill ends by itself once the timeline is played and every simulated order
and referral is settled (or at the scenario's ``duration``); it then reads the
event log (:mod:`perci_sim.drills.events`), writes the report
(:mod:`perci_sim.drills.report`), stops the broker it started and runs
``perci-sim verify-log``.  See docs/DRILLS.md for what is seed-stable.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import shutil
import sys
import time
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

from rich.console import Console

from authority_client import AuthorityClient
from perci_schemas.client_errors import ClientError
from perci_schemas.client_support import BrokerClient
from perci_schemas.client_views import EventView
from perci_sim import bootstrap
from perci_sim.drills.broker_process import BrokerProcess, prepare_home, verify_log
from perci_sim.drills.context import DrillContext, SimClock, guard_minutes
from perci_sim.drills.events import collect_events, last_seq, read_all
from perci_sim.drills.progress import Progress, hhmm
from perci_sim.drills.report import build_report, write_report
from perci_sim.drills.scenario import EUROPOL, SKIP_IDLE_THRESHOLD_S, Inject, Scenario
from perci_sim.drills.sim_authority import SimAuthorities
from perci_sim.drills.sim_platform import SimPlatforms
from perci_sim.drills.sim_referrals import SimReferrals
from platform_client import PlatformClient

__all__ = ["DrillResult", "guard_minutes", "run_drill"]

#: Advance information lead: the 12 hours of Art. 3(2) plus a minute (R4).
ADVANCE_LEAD = timedelta(hours=12, minutes=1)
#: A quiet-period skip stops this long (simulated) before the next inject.
SKIP_LEAD = timedelta(minutes=2)


@dataclass(slots=True)
class DrillResult:
    """What :func:`run_drill` did: the report and where it is."""

    report: dict[str, Any]
    report_dir: Path
    home: Path | None
    broker_url: str
    ok: bool


def _facilitator_client(path: Path, url: str) -> BrokerClient | None:
    """The facilitator's client, if its credentials exist and the SDK has one."""
    if not path.exists():
        return None
    try:
        from perci_schemas.client_facilitator import FacilitatorClient
    except ImportError:  # an SDK without the facilitator client
        return None
    return FacilitatorClient.from_credentials(path, broker_url=url)


class Drill:
    """One run of a scenario against a broker at ``url``."""

    def __init__(self, ctx: DrillContext) -> None:
        self.ctx = ctx
        self.referrals = SimReferrals(ctx)
        self.authority_sim = SimAuthorities(ctx)
        self.platform_sim = SimPlatforms(ctx, self.referrals)
        self.facilitator: BrokerClient | None = None
        self.next_inject_at: datetime | None = None
        self.skipped = timedelta(0)

    # ---- set-up

    async def open(self) -> None:
        """Open a client for every party (live ones too: the report reads their events)."""
        ctx, scenario = self.ctx, self.ctx.scenario
        for authority in scenario.authorities:
            ctx.authorities[authority.id] = AuthorityClient.from_credentials(
                ctx.client_path(authority.id), broker_url=ctx.url
            )
        if scenario.uses_europol:
            ctx.authorities[EUROPOL] = AuthorityClient.from_credentials(
                ctx.client_path(EUROPOL), broker_url=ctx.url
            )
        for hsp in scenario.hsps:
            ctx.platforms[hsp.id] = PlatformClient.from_credentials(
                ctx.client_path(hsp.id), broker_url=ctx.url
            )
        self.facilitator = _facilitator_client(ctx.client_path("facilitator"), ctx.url)
        ctx.clock = SimClock(next(iter(ctx.authorities.values())))
        await ctx.clock.sync()
        if abs(ctx.clock.speed - scenario.speed) > 1e-9:
            ctx.console.print(
                f"the broker's clock runs at {ctx.clock.speed:g}x (the scenario says "
                f"{scenario.speed:g}x): simulated delays follow the broker",
                highlight=False,
            )
        readers = [self.facilitator] if self.facilitator is not None else ctx.clients()
        ctx.start_seq = await last_seq(readers)

    async def close(self) -> None:
        """Remove the webhooks, close every client."""
        await self.platform_sim.close()
        clients = self.ctx.clients()
        if self.facilitator is not None:
            clients.append(self.facilitator)
        for client in clients:
            await client.close()

    async def events(self) -> list[EventView]:
        """The log since the start: read whole by the facilitator, else merged per party."""
        ctx = self.ctx
        if self.facilitator is not None:
            events = await read_all(self.facilitator, after=ctx.start_seq)
            if events is not None:
                return events
        return await collect_events(ctx.clients(), after=ctx.start_seq)

    # ---- the run

    async def run(self, *, max_wall_s: float) -> None:
        """Play the scenario; return when it is over."""
        ctx, scenario = self.ctx, self.ctx.scenario
        for party in scenario.parties:
            if party.live:
                self.ctx.console.print(
                    f"[bold]live party {party.id}[/bold]: credentials "
                    f"{ctx.client_path(party.id)} — broker {ctx.url}",
                    highlight=False,
                )
        if scenario.skip_idle and not hasattr(self.facilitator, "advance_clock"):
            ctx.error("skip_idle needs the facilitator's credentials and clock API: not skipping")
        await self.platform_sim.prepare()  # webhooks first: the broker queues calls from then on
        now = ctx.clock.now()
        if scenario.advance_information:
            for authority_id, hsp_id in scenario.advance_information:
                await self.authority_sim.advance_information(authority_id, hsp_id)
            ctx.t0 = now + ADVANCE_LEAD
            ctx.console.print(
                f"advance information sent ({len(scenario.advance_information)} pairs); "
                f"T+0 is 12 h 1 min later (Art. 3(2), R4)",
                highlight=False,
            )
        else:
            ctx.t0 = now + timedelta(seconds=1)
        for hsp in scenario.hsps:
            if not hsp.live:
                ctx.spawn_daemon(self.platform_sim.follow(hsp))
                ctx.spawn_daemon(self.referrals.answer(hsp))
        for authority in scenario.authorities:
            if not authority.live:
                ctx.spawn_daemon(self.authority_sim.follow(authority))
        if scenario.advance_information:
            self.next_inject_at = ctx.t0
            await self._skip_idle()
        await ctx.clock.sleep_until(ctx.t0)
        deadline = time.monotonic() + max_wall_s
        timeline = asyncio.create_task(self._timeline())
        duration_end = ctx.at(scenario.duration_s) if scenario.duration_s is not None else None
        progress = Progress(ctx) if sys.stderr.isatty() else None
        with progress.live() if progress else contextlib.nullcontext():
            while True:
                await asyncio.sleep(0.05)
                if progress:
                    progress.update()
                if time.monotonic() > deadline:
                    ctx.error(f"the drill did not end within {max_wall_s:.0f} s of wall time")
                    break
                if duration_end is not None and ctx.clock.now() >= duration_end:
                    break
                if duration_end is None and timeline.done() and self._idle():
                    break
                if not timeline.done():
                    await self._skip_idle()
        timeline.cancel()
        for task in [*ctx.tasks, *ctx.daemons]:
            task.cancel()
        await asyncio.gather(timeline, *ctx.tasks, *ctx.daemons, return_exceptions=True)
        if timeline.done() and not timeline.cancelled() and timeline.exception():
            ctx.error(f"timeline: {timeline.exception()}")

    def _idle(self) -> bool:
        """No simulated party has anything due: no task, no open order, no pending answer."""
        ctx = self.ctx
        return not ctx.tasks and ctx.expected <= ctx.settled and self.referrals.idle()

    async def _skip_idle(self) -> None:
        """``skip_idle``: jump the broker's clock to just before the next inject when idle."""
        ctx = self.ctx
        advance = getattr(self.facilitator, "advance_clock", None)
        target = self.next_inject_at
        if not ctx.scenario.skip_idle or advance is None or target is None or not self._idle():
            return
        now = ctx.clock.now()
        if (target - now).total_seconds() <= SKIP_IDLE_THRESHOLD_S:
            return
        try:
            answer = await advance(to=target - SKIP_LEAD)
        except ClientError as exc:
            ctx.error(f"skip_idle: the clock was not advanced: {exc}")
            self.next_inject_at = None
            return
        await ctx.clock.sync()
        await asyncio.gather(*(client.clock() for client in ctx.clients()))
        self.referrals.wake_all()
        skipped = timedelta(seconds=float(answer.get("skipped_seconds") or 0.0))
        self.skipped += skipped
        ctx.note(
            round(ctx.offset(now), 3),
            "skip",
            f"quiet period skipped: T+{hhmm(ctx.offset(now))} → "
            f"T+{hhmm(ctx.offset(ctx.clock.now()))}",
            skipped_s=round(skipped.total_seconds(), 3),
        )

    async def _timeline(self) -> None:
        ctx = self.ctx
        for inject in ctx.scenario.injects:
            self.next_inject_at = ctx.at(inject.at_s)
            await ctx.clock.sleep_until(self.next_inject_at)
            self.next_inject_at = None
            self._play(inject)
            ctx.note(inject.at_s, inject.kind, inject.describe(), line=inject.line)
            self._report(inject)

    def _report(self, inject: Inject) -> None:
        """Show the inject on the facilitator's dashboard (best effort, never blocking)."""
        report = getattr(self.facilitator, "report_inject", None)
        if report is None:
            return

        async def send() -> None:
            # A broker without the route (joined with --broker) refuses it: the drill goes on.
            with contextlib.suppress(ClientError):
                await report(inject.at_s, inject.kind, inject.describe())

        self.ctx.spawn(send())

    def _play(self, inject: Inject) -> None:
        ctx, authorities = self.ctx, self.authority_sim
        if inject.kind == "wave":
            ctx.spawn(authorities.wave(inject))
        elif inject.kind == "order":
            ctx.spawn(authorities.issue(inject.id, inject.senders[0], inject.recipients[0], inject))
        elif inject.kind == "referrals":
            ctx.spawn(self.referrals.wave(inject))
        elif inject.kind == "scrutiny":
            ctx.spawn(authorities.scrutiny(inject))
        elif inject.kind == "withdraw":
            ctx.spawn(authorities.withdraw(inject.order, inject.reason, inject.at_s))
        elif inject.kind == "advance_information":
            for hsp_id in inject.recipients:
                ctx.spawn(authorities.advance_information(inject.senders[0], hsp_id))


async def _play(
    scenario: Scenario,
    *,
    url: str,
    credentials: Path,
    console: Console,
    max_wall_s: float,
) -> tuple[Drill, list[EventView], datetime]:
    ctx = DrillContext(
        scenario, url=url, credentials=credentials, console=console, run_id=secrets.token_hex(3)
    )
    drill = Drill(ctx)
    await drill.open()
    try:
        await drill.run(max_wall_s=max_wall_s)
        ended = ctx.clock.now()
        events = await drill.events()
    finally:
        await drill.close()
    return drill, events, ended


def run_drill(
    scenario: Scenario,
    *,
    report_dir: Path,
    speed: float | None = None,
    seed: int | None = None,
    broker_url: str | None = None,
    home: Path | None = None,
    console: Console | None = None,
    max_wall_s: float = 1800.0,
    out: TextIO | None = None,
) -> DrillResult:
    """Run ``scenario`` and write its report to ``report_dir``; see the module docstring.

    With ``broker_url``, join that broker: the scenario's parties must already be
    registered there, with their credentials files in ``home/credentials/``.
    Otherwise a broker is started on a fresh home in ``report_dir/home``.
    """
    console = console or Console(stderr=True, file=out)
    if speed is not None:
        scenario = replace(scenario, speed=speed)
    if seed is not None:
        scenario = replace(scenario, seed=seed)
    report_dir.mkdir(parents=True, exist_ok=True)
    broker: BrokerProcess | None = None
    if broker_url is None:
        home = report_dir / "home"
        if bootstrap.is_initialised(home):
            shutil.rmtree(home)  # a previous drill's home in this report folder
        home.mkdir(parents=True)
        broker = BrokerProcess(home, speed=scenario.speed)
        url = broker.url
        asyncio.run(prepare_home(scenario, home, url))
        broker.start()
    else:
        if home is None:
            raise ValueError("joining a broker needs the home holding the parties' credentials")
        url = broker_url.rstrip("/")
    try:
        if broker is not None:
            asyncio.run(broker.wait_healthy())
        console.print(
            f"drill {scenario.name}: broker {url} (dashboard {url}/ui/), "
            f"clock {scenario.speed:g}x, seed {scenario.seed}",
            highlight=False,
        )
        started = time.monotonic()
        drill, events, ended = asyncio.run(
            _play(
                scenario,
                url=url,
                credentials=home / "credentials",
                console=console,
                max_wall_s=max_wall_s,
            )
        )
        wall = time.monotonic() - started
    finally:
        if broker is not None:
            broker.stop()
    verified = verify_log(home) if broker is not None else None
    ctx = drill.ctx
    report = build_report(
        scenario,
        events,
        journal=ctx.journal,
        t0=ctx.t0,
        ended_at=ended,
        broker_url=url,
        wall_seconds=wall,
        errors=ctx.errors,
        verify_log=verified,
        referrals_refused=dict(drill.referrals.refused),
        skipped_seconds=drill.skipped.total_seconds(),
    )
    write_report(report_dir, report)
    overall = report["overall"]
    line = (
        f"done in {wall:.1f} s: {overall['orders_received']} orders, "
        f"{overall['executed_within_1h']} executed within 1 h, "
        f"{overall['executed_late']} late, {overall['overdue_at_end']} overdue"
    )
    if overall["referrals_received"]:
        line += (
            f"; {overall['referrals_received']} referrals, {overall['referrals_removed']} "
            f"removed, {overall['referrals_unanswered']} unanswered"
        )
    console.print(f"{line}; report in {report_dir}/report.html", highlight=False)
    ok = not ctx.errors and (verified is None or bool(verified["ok"]))
    return DrillResult(report=report, report_dir=report_dir, home=home, broker_url=url, ok=ok)
