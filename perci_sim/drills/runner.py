"""Run a drill: a broker, simulated parties driven through the real SDKs, a report.

:func:`run_drill` sets up a fresh home (broker key, database, the scenario's
parties and a facilitator, through :mod:`perci_sim.bootstrap`), starts
``python -m perci_sim serve`` on a free port at the scenario's clock speed (or
joins a running broker with ``broker_url``), sends the advance information the
scenario asks for, and plays the timeline:

* each simulated authority issues its orders (``AuthorityClient``), follows its
  feed and answers Annex III requests for clarification after a drawn delay;
* each simulated HSP (``PlatformClient``) follows its WebSocket feed or polls
  ``/v1/events``, and for each order draws, with ``random.Random`` seeded by the
  scenario's seed, the HSP and the order's key, what it does: acknowledge (and
  when), answer Annex II in time or late, answer Annex III (which reason), or
  never answer;
* an HSP offline does nothing until it is back (the broker's clock keeps
  running, R22);
* ``live`` parties are not simulated: their credentials file and the broker
  address are printed for a real participant's own client.

Seed-stability.  Every decision is drawn from an RNG keyed by (seed, party,
order key), never by arrival order, and the time of each removal is set by the
HSP as ``measure_at`` = the drawn instant (not the wall-clock moment it sends
Annex II).  Drawn removal times are kept at least :func:`guard_minutes` away
from each deadline, so wall-clock jitter cannot move an order from "in time"
to "late".  See docs/DRILLS.md for what is exactly reproducible.

The drill ends by itself once the timeline is played and every simulated
order is settled (or at the scenario's ``duration``); it then reads the event
log, writes the report (:mod:`perci_sim.drills.report`), stops the broker it
started and runs ``perci-sim verify-log``.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import random
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable
from contextlib import aclosing
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

import aiohttp
from rich.console import Console
from rich.live import Live

from authority_client import AuthorityClient
from perci_schemas.client_errors import ClientError
from perci_schemas.client_support import BrokerClient
from perci_schemas.client_views import EventView, format_time, parse_time
from perci_sim import bootstrap
from perci_sim.crypto.broker_key import load_or_create_broker_key
from perci_sim.drills.report import build_report, write_report
from perci_sim.drills.scenario import HOUR_MIN, Authority, Hsp, Scenario
from perci_sim.storage.db import open_database
from platform_client import PlatformClient
from platform_client.client import VerifiedOrder

__all__ = ["DrillResult", "guard_minutes", "run_drill"]

log = logging.getLogger(__name__)

#: How long the broker may take to answer /v1/health after start (wall seconds).
HEALTH_TIMEOUT_S = 30.0
#: Wall seconds added to every sleep until a simulated instant (the SDK's clock estimate).
_SLACK_S = 0.01
#: Advance information lead: the 12 hours of Art. 3(2) plus a minute (R4).
ADVANCE_LEAD = timedelta(hours=12, minutes=1)
_CLARIFY_REASONS = frozenset({"insufficient_information", "manifest_errors"})


def guard_minutes(speed: float) -> float:
    """Minutes kept between a drawn removal time and a deadline: max(2 min, 0.1 s of wall)."""
    return max(2.0, 0.1 * speed / 60.0)


@dataclass(slots=True)
class DrillResult:
    """What :func:`run_drill` did: the report and where it is."""

    report: dict[str, Any]
    report_dir: Path
    home: Path | None
    broker_url: str
    ok: bool


@dataclass(slots=True)
class Counters:
    """Progress, from the simulated authorities' feeds."""

    issued: int = 0
    refused: int = 0
    executed: int = 0
    overdue: set[str] = field(default_factory=set)


@dataclass(slots=True)
class OrderTrack:
    """What a simulated HSP knows of one order while it handles it."""

    order_id: str
    withdrawn: bool = False
    clarified_at: datetime | None = None
    wake: asyncio.Event = field(default_factory=asyncio.Event)


class SimClock:
    """The broker's simulated time, estimated locally from ``GET /v1/clock`` readings."""

    def __init__(self, client: BrokerClient) -> None:
        self._client = client
        self._now = datetime.min.replace(tzinfo=UTC)
        self._mono = 0.0
        self.speed = 1.0

    async def sync(self) -> None:
        """Read the broker's clock."""
        reading = await self._client.clock()
        self._now, self._mono, self.speed = reading.now, time.monotonic(), reading.speed

    def now(self) -> datetime:
        """The broker's time now (estimated)."""
        return self._now + timedelta(seconds=(time.monotonic() - self._mono) * self.speed)

    async def sleep_until(self, at: datetime) -> None:
        """Sleep until the broker's clock has reached ``at``."""
        wall = (at - self.now()).total_seconds() / self.speed
        if wall > 0:
            await asyncio.sleep(wall + _SLACK_S)


class Drill:
    """One run of a scenario against a broker at ``url``."""

    def __init__(
        self,
        scenario: Scenario,
        *,
        url: str,
        credentials: Path,
        console: Console,
        run_id: str,
    ) -> None:
        self.scenario = scenario
        self.url = url
        self.credentials = credentials
        self.console = console
        self.run_id = run_id
        self.guard = timedelta(minutes=guard_minutes(scenario.speed))
        self.authorities: dict[str, AuthorityClient] = {}
        self.platforms: dict[str, PlatformClient] = {}
        self.counters = Counters()
        self.journal: list[dict[str, Any]] = []
        self.errors: list[str] = []
        self.order_ids: dict[str, str] = {}  # scenario key -> order id
        self.order_senders: dict[str, str] = {}  # scenario key -> issuing authority
        self._daemons: list[asyncio.Task[None]] = []
        self.expected: set[str] = set()  # orders to simulated HSPs, to be settled
        self.settled: set[str] = set()
        self.tracks: dict[str, dict[str, OrderTrack]] = {}
        self.forced_annex: dict[str, str] = {
            i.id: i.annex_iii for i in scenario.injects if i.kind == "order" and i.annex_iii
        }
        self.tasks: set[asyncio.Task[None]] = set()
        self.t0 = datetime.min.replace(tzinfo=UTC)
        self.start_seq = 0
        self.clock: SimClock

    # ---- helpers

    def _client_path(self, party_id: str) -> Path:
        return self.credentials / f"{party_id}.json"

    def spawn(self, coro: Awaitable[None]) -> None:
        """Run ``coro`` as a task the drill waits for."""

        async def guarded() -> None:
            try:
                await coro
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a drill reports a party's failure and goes on
                self.error(f"{type(exc).__name__}: {exc}")

        task = asyncio.create_task(guarded())
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def error(self, message: str) -> None:
        """Record a failure of a simulated party (shown in the report)."""
        if len(self.errors) < 50:
            self.errors.append(message)
        log.warning("drill: %s", message)

    def note(self, offset_s: float, kind: str, text: str, **extra: Any) -> None:
        """Add an entry to the drill's journal (the injects as played)."""
        self.journal.append(
            {
                "offset_s": offset_s,
                "kind": kind,
                "text": text,
                "at": format_time(self.clock.now()),
                **extra,
            }
        )

    def at(self, offset_s: float) -> datetime:
        """The simulated instant ``offset_s`` seconds after T+0."""
        return self.t0 + timedelta(seconds=offset_s)

    def key_of(self, reference: str) -> str:
        """The scenario key of an order from its reference number."""
        return reference.rsplit("/", 1)[-1]

    # ---- set-up

    async def open(self) -> None:
        """Open a client for every party (live ones too: the report reads their events)."""
        for authority in self.scenario.authorities:
            self.authorities[authority.id] = AuthorityClient.from_credentials(
                self._client_path(authority.id), broker_url=self.url
            )
        for hsp in self.scenario.hsps:
            self.platforms[hsp.id] = PlatformClient.from_credentials(
                self._client_path(hsp.id), broker_url=self.url
            )
            self.tracks[hsp.id] = {}
        first = next(iter(self.authorities.values()))
        self.clock = SimClock(first)
        await self.clock.sync()
        self.start_seq = await self._last_seq()

    async def close(self) -> None:
        """Close every client."""
        for client in [*self.authorities.values(), *self.platforms.values()]:
            await client.close()

    async def _last_seq(self) -> int:
        last = 0
        for client in self.clients():
            cursor = 0
            while True:
                page = await client.events(cursor, limit=1000)
                if not page.events:
                    break
                cursor = page.last_seq
            last = max(last, cursor)
        return last

    def clients(self) -> list[BrokerClient]:
        """Every party's client."""
        return [*self.authorities.values(), *self.platforms.values()]

    # ---- the run

    async def run(self, *, max_wall_s: float) -> None:
        """Play the scenario; return when it is over."""
        scenario = self.scenario
        for party in scenario.parties:
            if party.live:
                path = self._client_path(party.id)
                self.console.print(
                    f"[bold]live party {party.id}[/bold]: credentials {path} — broker {self.url}",
                    highlight=False,
                )
        now = self.clock.now()
        if scenario.advance_information:
            for authority_id, hsp_id in scenario.advance_information:
                await self._advance_information(authority_id, hsp_id, offset=None)
            self.t0 = now + ADVANCE_LEAD
            self.console.print(
                f"advance information sent ({len(scenario.advance_information)} pairs); "
                f"T+0 is 12 h 1 min later (Art. 3(2), R4)",
                highlight=False,
            )
        else:
            self.t0 = now + timedelta(seconds=1)
        for hsp in scenario.hsps:
            if not hsp.live:
                self.spawn_daemon(self._hsp_events(hsp))
        for authority in scenario.authorities:
            if not authority.live:
                self.spawn_daemon(self._authority_events(authority))
        await self.clock.sleep_until(self.t0)
        deadline = time.monotonic() + max_wall_s
        timeline = asyncio.create_task(self._timeline())
        duration_end = self.at(scenario.duration_s) if scenario.duration_s is not None else None
        progress = _Progress(self) if sys.stderr.isatty() else None
        with progress.live() if progress else contextlib.nullcontext():
            while True:
                await asyncio.sleep(0.05)
                if progress:
                    progress.update()
                if time.monotonic() > deadline:
                    self.error(f"the drill did not end within {max_wall_s:.0f} s of wall time")
                    break
                if duration_end is not None and self.clock.now() >= duration_end:
                    break
                if (
                    duration_end is None
                    and timeline.done()
                    and not self.tasks
                    and self.expected <= self.settled
                ):
                    break
        timeline.cancel()
        for task in [*self.tasks, *self._daemons]:
            task.cancel()
        await asyncio.gather(timeline, *self.tasks, *self._daemons, return_exceptions=True)
        if timeline.done() and not timeline.cancelled() and timeline.exception():
            self.error(f"timeline: {timeline.exception()}")

    def spawn_daemon(self, coro: Awaitable[None]) -> None:
        """A background task that runs until the drill ends (a feed consumer)."""

        async def guarded() -> None:
            try:
                await coro
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.error(f"feed: {type(exc).__name__}: {exc}")

        self._daemons.append(asyncio.create_task(guarded()))

    async def _timeline(self) -> None:
        for inject in self.scenario.injects:
            await self.clock.sleep_until(self.at(inject.at_s))
            text = inject.describe()
            if inject.kind == "wave":
                self.spawn(self._wave(inject.id, inject))
            elif inject.kind == "order":
                self.spawn(self._issue(inject.id, inject.senders[0], inject.recipients[0], inject))
            elif inject.kind == "withdraw":
                self.spawn(self._withdraw(inject.order, inject.reason, inject.at_s))
            elif inject.kind == "advance_information":
                for hsp_id in inject.recipients:
                    await self._advance_information(inject.senders[0], hsp_id, offset=inject.at_s)
            self.note(inject.at_s, inject.kind, text, line=inject.line)

    async def _advance_information(
        self, authority_id: str, hsp_id: str, *, offset: float | None
    ) -> None:
        if self.scenario.authority(authority_id).live:
            return
        client = self.authorities[authority_id]
        try:
            await client.send_advance_information(
                hsp_id,
                procedures="Removal orders arrive through perci-sim, signed by "
                f"{authority_id}; answer with Annex II or Annex III.",
                deadlines="One hour from receipt (Art. 3(3)).",
                contact_point=f"tco@{authority_id}.example",
            )
        except ClientError as exc:
            self.error(f"advance information {authority_id} → {hsp_id}: {exc}")

    async def _wave(self, prefix: str, inject: Any) -> None:
        pairs = list(itertools.product(inject.senders, inject.recipients))
        for n in range(1, inject.orders + 1):
            offset = inject.at_s + inject.over_s * (n - 1) / inject.orders
            await self.clock.sleep_until(self.at(offset))
            sender, recipient = pairs[(n - 1) % len(pairs)]
            self.spawn(self._issue(f"{prefix}-{n:03d}", sender, recipient, inject))

    async def _issue(self, key: str, sender: str, recipient: str, inject: Any) -> None:
        if self.scenario.authority(sender).live:
            return
        client = self.authorities[sender]
        try:
            order = await client.prepare_order(
                hsp_id=recipient,
                urls=[f"https://{recipient}.example/drill/{self.scenario.name}/{key}"],
                reasons=["a"],
                details="Video calling for and glorifying terrorist attacks (Art. 2(7)(a)).",
                reference=f"{self.scenario.name}/{self.run_id}/{key}",
                emergency_justification=(
                    "Ongoing attack: imminent threat to life (drill)." if inject.emergency else None
                ),
            )
            issued = await client.issue_order(order)
        except ClientError as exc:
            code = getattr(exc, "code", type(exc).__name__)
            self.counters.refused += 1
            self.note(
                (self.clock.now() - self.t0).total_seconds(),
                "refused",
                f"order {key} {sender} → {recipient} refused: {code}",
                key=key,
                code=code,
                authority_id=sender,
                hsp_id=recipient,
            )
            return
        order_id = issued.order["order_id"]
        self.order_ids[key] = order_id
        self.order_senders[key] = sender
        if not self.scenario.hsp(recipient).live:
            self.expected.add(order_id)

    async def _withdraw(self, key: str, reason: str, offset: float) -> None:
        order_id = self.order_ids.get(key)
        sender = self.order_senders.get(key)
        if order_id is None or sender is None:
            self.note(offset, "withdraw_failed", f"withdrawal of {key}: never issued", key=key)
            return
        try:
            await self.authorities[sender].withdraw(order_id, reason)
        except ClientError as exc:
            code = getattr(exc, "code", type(exc).__name__)
            self.note(offset, "withdraw_failed", f"withdrawal of {key} refused: {code}", key=key)

    # ---- authorities

    async def _authority_events(self, authority: Authority) -> None:
        client = self.authorities[authority.id]
        rounds: dict[str, int] = {}
        async with aclosing(client.watch(self.start_seq)) as feed:
            async for event in feed:
                kind, order_id = event["kind"], event.get("order_id")
                if kind == "order_received" and event["actor"] == authority.id:
                    self.counters.issued += 1
                elif kind == "feedback_received":
                    self.counters.executed += 1
                    self.counters.overdue.discard(order_id or "")
                elif kind == "deadline_missed":
                    self.counters.overdue.add(order_id or "")
                elif kind in ("withdrawal_received",):
                    self.counters.overdue.discard(order_id or "")
                elif kind == "impossibility_received" and order_id:
                    reasons = set(event["data"].get("reasons") or ())
                    if reasons & _CLARIFY_REASONS:
                        rounds[order_id] = rounds.get(order_id, 0) + 1
                        self.spawn(self._clarify(authority, order_id, rounds[order_id]))

    async def _clarify(self, authority: Authority, order_id: str, round_no: int) -> None:
        client = self.authorities[authority.id]
        view = await client.get_order(order_id)
        key = self.key_of(view["reference_number"])
        rng = random.Random(f"{self.scenario.seed}|{authority.id}|{key}|clarify|{round_no}")
        delay = authority.clarification_delay.draw(rng)
        await self.clock.sleep_until(self.clock.now() + timedelta(minutes=delay))
        try:
            await client.clarify(
                order_id,
                "The content is the video at the URL given; it calls for attacks (drill).",
            )
        except ClientError as exc:
            self.error(f"clarification of {key}: {exc}")

    # ---- hosting providers

    async def _hsp_events(self, hsp: Hsp) -> None:
        client = self.platforms[hsp.id]
        if hsp.channel == "polling":
            cursor = self.start_seq
            interval = max(0.05, hsp.poll_interval_min * 60.0 / self.scenario.speed)
            while True:
                page = await client.events(cursor, limit=1000)
                for event in page.events:
                    self._hsp_event(hsp, event)
                cursor = page.last_seq
                if not page.events:
                    await asyncio.sleep(interval)
        else:
            # NOTE: "webhook" runs as the feed in this increment (docs/DRILLS.md).
            async with aclosing(client.watch(self.start_seq)) as feed:
                async for event in feed:
                    self._hsp_event(hsp, event)

    def _hsp_event(self, hsp: Hsp, event: EventView) -> None:
        order_id = event.get("order_id")
        if not order_id:
            return
        tracks = self.tracks[hsp.id]
        kind = event["kind"]
        if kind == "order_delivered" and order_id not in tracks:
            tracks[order_id] = OrderTrack(order_id)
            self.spawn(self._handle(hsp, tracks[order_id], parse_time(event["received_at"])))
        elif order_id in tracks:
            track = tracks[order_id]
            if kind == "clarification_received":
                track.clarified_at = parse_time(event["received_at"])
                track.wake.set()
            elif kind == "withdrawal_received":
                track.withdrawn = True
                track.wake.set()

    async def _act_at(self, hsp: Hsp, at: datetime) -> datetime:
        """Sleep until ``at``; if the HSP is offline then, until it is back. Returns the instant."""
        while True:
            for start, end in self.scenario.offline_windows(hsp.id):
                if self.at(start) <= at < self.at(end):
                    at = self.at(end) if end != float("inf") else self.at(1e9)
                    break
            else:
                break
        await self.clock.sleep_until(at)
        return at

    async def _handle(self, hsp: Hsp, track: OrderTrack, received_at: datetime) -> None:
        try:
            await self._handle_order(hsp, track, received_at)
        finally:
            self.settled.add(track.order_id)

    async def _handle_order(self, hsp: Hsp, track: OrderTrack, received_at: datetime) -> None:
        client = self.platforms[hsp.id]
        profile = hsp.profile
        view = await client.get_order(track.order_id)
        verified: VerifiedOrder = await client.verify_order(view)
        key = self.key_of(view["reference_number"])
        rng = random.Random(f"{self.scenario.seed}|{hsp.id}|{key}")
        hour = timedelta(minutes=HOUR_MIN)
        # The draws, always in the same order: the decision does not depend on timing.
        u = rng.random()
        acknowledges = rng.random() < profile.ack_share
        ack_delay = timedelta(minutes=profile.ack_delay.draw(rng))
        on_time = timedelta(minutes=profile.time_to_removal.draw(rng))
        late = timedelta(minutes=profile.late_delay.draw(rng))
        annex_delay = timedelta(minutes=profile.annex_iii_delay.draw(rng))
        ceased_after = timedelta(minutes=profile.grounds_ceased_after.draw(rng))
        second = timedelta(minutes=profile.time_to_removal.draw(rng))
        reason = _weighted(rng, profile.annex_iii_reasons)
        forced = self.forced_annex.get(key)
        missing_cut = profile.missing
        late_cut = missing_cut + profile.late
        annex_cut = late_cut + profile.annex_iii_share
        if forced:
            plan, reason = "annex_iii", forced
        elif u < missing_cut:
            plan = "missing"
        elif u < late_cut:
            plan = "late"
        elif u < annex_cut:
            plan = "annex_iii"
        else:
            plan = "on_time"

        def in_time(delay: timedelta) -> timedelta:
            return min(delay, hour - self.guard)

        if acknowledges:
            ack_at = min(received_at + ack_delay, received_at + hour - self.guard)
            await self._act_at(hsp, ack_at)
            if _withdrawn(track):
                return
            await client.acknowledge(track.order_id, order_sha256=verified.sha256)
        if plan == "missing":
            # Never answered: it stays open past its deadline (overdue at the end).
            await self.clock.sleep_until(received_at + hour + self.guard)
            return
        if plan == "annex_iii":
            at = await self._act_at(hsp, received_at + in_time(annex_delay))
            if _withdrawn(track):
                return
            clarify = reason != "force_majeure"
            answer = await client.send_impossibility(
                track.order_id,
                [reason],
                "Simulated Annex III answer (drill).",
                clarification_required="Which exact item is meant?" if clarify else None,
                order=verified,
            )
            if clarify:
                clarified = await self._clarified(track)
                if clarified is None:
                    return
                fresh = clarified
            else:
                ceased = await self._act_at(hsp, at + ceased_after)
                if _withdrawn(track):
                    return
                answer = await client.send_grounds_ceased(
                    track.order_id, "The outage is over (drill).", ceased_at=ceased
                )
                deadline = answer.order.get("deadline_at")
                fresh = parse_time(deadline) - hour if deadline else ceased
            measure = await self._act_at(hsp, fresh + in_time(second))
        elif plan == "late":
            measure = await self._act_at(hsp, received_at + max(late, hour + self.guard))
        else:
            measure = await self._act_at(hsp, received_at + in_time(on_time))
        if _withdrawn(track):
            return
        await self._feedback(client, track, measure, verified)

    @staticmethod
    async def _clarified(track: OrderTrack) -> datetime | None:
        """Wait for the authority's clarification (None: the order was withdrawn)."""
        while track.clarified_at is None and not track.withdrawn:
            await track.wake.wait()
            track.wake.clear()
        return None if track.withdrawn else track.clarified_at

    async def _feedback(
        self, client: PlatformClient, track: OrderTrack, measure: datetime, order: VerifiedOrder
    ) -> None:
        for attempt in range(3):
            try:
                await client.send_feedback(track.order_id, measure_at=measure, order=order)
                return
            except ClientError as exc:
                if track.withdrawn or getattr(exc, "status", 0) not in (409, 422) or attempt == 2:
                    raise
                await asyncio.sleep(0.05)


def _withdrawn(track: OrderTrack) -> bool:
    """Whether the order was withdrawn meanwhile (read after every wait)."""
    return track.withdrawn


def _weighted(rng: random.Random, weights: tuple[tuple[str, float], ...]) -> str:
    total = sum(w for _, w in weights)
    x = rng.random() * total
    for name, weight in weights:
        x -= weight
        if x < 0:
            return name
    return weights[-1][0]


class _Progress:
    """A rich live line on stderr: simulated time, orders issued/executed/overdue."""

    def __init__(self, drill: Drill) -> None:
        self.drill = drill
        self._live = Live(console=Console(stderr=True), refresh_per_second=8, transient=True)

    @contextlib.contextmanager
    def live(self) -> Any:
        with self._live:
            yield

    def update(self) -> None:
        drill = self.drill
        elapsed = (drill.clock.now() - drill.t0).total_seconds()
        c = drill.counters
        self._live.update(
            f"{drill.scenario.name}  T+{_hhmm(elapsed)}  issued {c.issued}  "
            f"executed {c.executed}  overdue {len(c.overdue)}  refused {c.refused}"
        )


def _hhmm(seconds: float) -> str:
    sign = "-" if seconds < 0 else ""
    seconds = abs(int(seconds))
    return f"{sign}{seconds // 3600:02d}:{seconds % 3600 // 60:02d}"


# --- the broker process ---------------------------------------------------------------------------


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def prepare_home(scenario: Scenario, home: Path, broker_url: str) -> None:
    """A fresh setup in ``home``: broker key, database, the scenario's parties, a facilitator."""
    home.mkdir(parents=True, exist_ok=True)
    load_or_create_broker_key(home / "broker-key.jwk.json")
    db = await open_database(f"sqlite+aiosqlite:///{(home / 'perci.db').resolve()}")
    clock = _WallClock()
    try:
        participants = [
            bootstrap.DemoParticipant(
                id=a.id,
                role="authority",
                name=a.name,
                member_state=a.member_state,
                languages=a.languages,
                contact_point=f"tco@{a.id}.example",
            )
            for a in scenario.authorities
        ]
        participants += [
            bootstrap.DemoParticipant(
                id=h.id,
                role="hsp",
                name=h.name,
                member_state=h.main_establishment,
                languages=h.languages,
                contact_point=f"tco@{h.id}.example",
            )
            for h in scenario.hsps
        ]
        participants.append(
            bootstrap.DemoParticipant(
                id="facilitator",
                role="facilitator",
                name="Drill facilitator",
                member_state="NL",
                languages=("en",),
                contact_point="facilitator@perci-sim.example",
            )
        )
        for participant in participants:
            await bootstrap.add_participant(
                db, home=home, broker_url=broker_url, participant=participant, clock=clock
            )
    finally:
        await db.close()


class _WallClock:
    """Registration time of the drill's participants (real time)."""

    speed = 1.0

    def now(self) -> datetime:
        from perci_sim.clock import SystemClock

        return SystemClock().now()

    def wall_seconds_until(self, at: datetime) -> float:
        return 0.0


async def _wait_healthy(url: str, process: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + HEALTH_TIMEOUT_S
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"the broker exited during start-up: see {log_path}")
            with contextlib.suppress(aiohttp.ClientError):
                async with session.get(f"{url}/v1/health") as response:
                    if response.status == 200:
                        return
            await asyncio.sleep(0.1)
    raise RuntimeError(f"the broker did not answer on {url} within {HEALTH_TIMEOUT_S:.0f} s")


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


def verify_log(home: Path) -> dict[str, Any]:
    """Run ``perci-sim verify-log`` on ``home``; its exit status and last lines."""
    done = subprocess.run(
        [sys.executable, "-m", "perci_sim", "verify-log", "--home", str(home)],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    lines = (done.stdout + done.stderr).strip().splitlines()
    return {"ok": done.returncode == 0, "exit_status": done.returncode, "output": lines[-5:]}


async def _play(
    scenario: Scenario,
    *,
    url: str,
    credentials: Path,
    console: Console,
    max_wall_s: float,
) -> tuple[Drill, list[EventView], datetime]:
    drill = Drill(
        scenario, url=url, credentials=credentials, console=console, run_id=secrets.token_hex(3)
    )
    await drill.open()
    try:
        await drill.run(max_wall_s=max_wall_s)
        ended = drill.clock.now()
        events = await collect_events(drill.clients(), after=drill.start_seq)
    finally:
        await drill.close()
    return drill, events, ended


async def collect_events(clients: list[BrokerClient], *, after: int) -> list[EventView]:
    """Every event after ``after`` that any of ``clients`` may see, once each, in log order."""
    found: dict[int, EventView] = {}
    for client in clients:
        cursor = after
        while True:
            page = await client.events(cursor, limit=1000)
            for event in page.events:
                found[int(event["seq"])] = event
            if not page.events:
                break
            cursor = page.last_seq
    return [found[seq] for seq in sorted(found)]


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
    from dataclasses import replace

    console = console or Console(stderr=True, file=out)
    if speed is not None:
        scenario = replace(scenario, speed=speed)
    if seed is not None:
        scenario = replace(scenario, seed=seed)
    report_dir.mkdir(parents=True, exist_ok=True)
    process: subprocess.Popen[bytes] | None = None
    log_file = None
    if broker_url is None:
        home = report_dir / "home"
        if bootstrap.is_initialised(home):
            shutil.rmtree(home)  # a previous drill's home in this report folder
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        asyncio.run(prepare_home(scenario, home, url))
        log_path = home / "broker.log"
        log_file = log_path.open("wb")
        env = {**os.environ, "PERCI_LOG_FORMAT": "json"}
        command = [sys.executable, "-m", "perci_sim", "serve", "--home", str(home)]
        command += ["--port", str(port), "--speed", repr(scenario.speed)]
        process = subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT, env=env)
    else:
        if home is None:
            raise ValueError("joining a broker needs the home holding the parties' credentials")
        url = broker_url.rstrip("/")
    try:
        if process is not None:
            asyncio.run(_wait_healthy(url, process, home / "broker.log"))
        console.print(
            f"drill {scenario.name}: broker {url}, clock {scenario.speed:g}x, seed {scenario.seed}",
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
        if process is not None:
            _stop(process)
        if log_file is not None:
            log_file.close()
    verified = verify_log(home) if process is not None else None
    report = build_report(
        scenario,
        events,
        journal=drill.journal,
        t0=drill.t0,
        ended_at=ended,
        broker_url=url,
        wall_seconds=wall,
        errors=drill.errors,
        verify_log=verified,
    )
    write_report(report_dir, report)
    overall = report["overall"]
    console.print(
        f"done in {wall:.1f} s: {overall['orders_received']} orders, "
        f"{overall['executed_within_1h']} executed within 1 h, "
        f"{overall['executed_late']} late, {overall['overdue_at_end']} overdue; "
        f"report in {report_dir}/report.html",
        highlight=False,
    )
    ok = not drill.errors and (verified is None or bool(verified["ok"]))
    return DrillResult(report=report, report_dir=report_dir, home=home, broker_url=url, ok=ok)
