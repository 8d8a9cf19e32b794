"""What every part of a running drill shares: the clock estimate, the clients, the journal.

:class:`DrillContext` holds the scenario, one SDK client per party, the drill's
journal and errors, the tasks it waits for, and the bookkeeping that tells the
runner when the drill is over (orders and referrals expected and settled).  The
simulated authorities (:mod:`perci_sim.drills.sim_authority`), hosting providers
(:mod:`perci_sim.drills.sim_platform`) and referrals
(:mod:`perci_sim.drills.sim_referrals`) act through it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from rich.console import Console

from authority_client import AuthorityClient
from perci_schemas.client_support import BrokerClient
from perci_schemas.client_views import format_time
from perci_sim.drills.scenario import Hsp, Scenario
from platform_client import PlatformClient

__all__ = ["Counters", "DrillContext", "OrderTrack", "SimClock", "guard_minutes"]

log = logging.getLogger(__name__)

#: Wall seconds added to every sleep until a simulated instant (the SDK's clock estimate).
_SLACK_S = 0.01
_EPOCH = datetime.min.replace(tzinfo=UTC)


def guard_minutes(speed: float) -> float:
    """Minutes kept between a drawn removal time and a deadline: max(2 min, 0.1 s of wall)."""
    return max(2.0, 0.1 * speed / 60.0)


@dataclass(slots=True)
class Counters:
    """Progress, from the simulated parties."""

    issued: int = 0
    refused: int = 0
    executed: int = 0
    overdue: set[str] = field(default_factory=set)
    referrals_sent: int = 0
    referrals_answered: int = 0


@dataclass(slots=True)
class OrderTrack:
    """What a simulated HSP knows of one order while it handles it."""

    order_id: str
    started: bool = False
    withdrawn: bool = False
    no_legal_effect: bool = False
    executed: bool = False
    clarified_at: datetime | None = None
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    finished: asyncio.Event = field(default_factory=asyncio.Event)

    def is_stopped(self) -> bool:
        """Withdrawn, or without legal effect (Art. 4(6)): nothing more to do for it.

        A method, not a property: read after every wait (type checkers narrow attributes).
        """
        return self.withdrawn or self.no_legal_effect


class SimClock:
    """The broker's simulated time, estimated locally from ``GET /v1/clock`` readings.

    When the runner skips a quiet period (the broker's clock jumps), :meth:`sync`
    wakes every :meth:`sleep_until` so it recomputes its wall-clock wait.
    """

    def __init__(self, client: BrokerClient) -> None:
        self._client = client
        self._now = _EPOCH
        self._mono = 0.0
        self.speed = 1.0
        self._jumped = asyncio.Event()

    async def sync(self) -> None:
        """Read the broker's clock (and wake the sleepers: it may have jumped)."""
        reading = await self._client.clock()
        self._now, self._mono, self.speed = reading.now, time.monotonic(), reading.speed
        jumped, self._jumped = self._jumped, asyncio.Event()
        jumped.set()

    def now(self) -> datetime:
        """The broker's time now (estimated)."""
        return self._now + timedelta(seconds=(time.monotonic() - self._mono) * self.speed)

    async def sleep_until(self, at: datetime) -> None:
        """Sleep until the broker's clock has reached ``at``."""
        while True:
            wall = (at - self.now()).total_seconds() / self.speed
            if wall <= 0:
                return
            jumped = self._jumped
            try:
                await asyncio.wait_for(jumped.wait(), timeout=wall + _SLACK_S)
            except TimeoutError:
                return


class DrillContext:
    """One run of a scenario against a broker at ``url``: the state its parts share."""

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
        self.authorities: dict[str, AuthorityClient] = {}  # Europol too, when it refers
        self.platforms: dict[str, PlatformClient] = {}
        self.counters = Counters()
        self.journal: list[dict[str, Any]] = []
        self.errors: list[str] = []
        self.order_ids: dict[str, str] = {}  # scenario key -> order id
        self.order_senders: dict[str, str] = {}  # scenario key -> issuing authority
        self.order_received: dict[str, datetime] = {}  # scenario key -> broker's received_at
        self.order_issued: dict[str, asyncio.Event] = {}  # set once the key was tried
        self.expected: set[str] = set()  # orders to simulated HSPs, to be settled
        self.settled: set[str] = set()
        self.referrals_expected: set[str] = set()  # referral ids to simulated HSPs
        self.referrals_settled: set[str] = set()  # answered, or drawn "never answered"
        self.forced_annex: dict[str, str] = {
            i.id: i.annex_iii for i in scenario.injects if i.kind == "order" and i.annex_iii
        }
        self.tasks: set[asyncio.Task[None]] = set()
        self.daemons: list[asyncio.Task[None]] = []
        self.t0 = _EPOCH
        self.start_seq = 0
        self.clock: SimClock

    # ---- clients

    def client_path(self, party_id: str) -> Path:
        """The credentials file of ``party_id``."""
        return self.credentials / f"{party_id}.json"

    def clients(self) -> list[BrokerClient]:
        """Every party's client."""
        return [*self.authorities.values(), *self.platforms.values()]

    def is_live(self, party_id: str) -> bool:
        """Whether a real participant plays ``party_id`` (Europol is always simulated)."""
        return any(p.live for p in self.scenario.parties if p.id == party_id)

    # ---- tasks and the journal

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

    def spawn_daemon(self, coro: Awaitable[None]) -> None:
        """A background task that runs until the drill ends (a feed consumer)."""

        async def guarded() -> None:
            try:
                await coro
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.error(f"feed: {type(exc).__name__}: {exc}")

        self.daemons.append(asyncio.create_task(guarded()))

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

    def note_now(self, kind: str, text: str, **extra: Any) -> None:
        """:meth:`note` at the current simulated offset."""
        self.note(round(self.offset(self.clock.now()), 3), kind, text, **extra)

    # ---- time

    def at(self, offset_s: float) -> datetime:
        """The simulated instant ``offset_s`` seconds after T+0."""
        return self.t0 + timedelta(seconds=offset_s)

    def offset(self, at: datetime) -> float:
        """Seconds from T+0 to ``at``."""
        return (at - self.t0).total_seconds()

    async def act_at(self, hsp: Hsp, at: datetime) -> datetime:
        """Sleep until ``at``; if the HSP is offline then, until it is back. Returns the instant."""
        at = self.online_at(hsp, at)
        await self.clock.sleep_until(at)
        return at

    def online_at(self, hsp: Hsp, at: datetime) -> datetime:
        """``at``, or the end of the offline window it falls in (R22: the clock runs on)."""
        while True:
            for start, end in self.scenario.offline_windows(hsp.id):
                if self.at(start) <= at < self.at(end):
                    at = self.at(end) if end != float("inf") else self.at(1e9)
                    break
            else:
                return at

    @staticmethod
    def key_of(reference: str) -> str:
        """The scenario key of an order or referral from its reference number."""
        return reference.rsplit("/", 1)[-1]

    def reference(self, key: str) -> str:
        """The reference number of the order or referral ``key`` in this run."""
        return f"{self.scenario.name}/{self.run_id}/{key}"
