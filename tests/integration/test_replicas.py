"""Two `perci-sim serve` replicas on one PostgreSQL act as one exchange (issue 5).

The topology of docker/compose.yaml, with processes: one PostgreSQL database
migrated by `perci-sim db upgrade`, one `perci-sim init` setup, and two broker
processes (A and B) on their own ports, with one scaled clock (same ``--speed``
and ``--clock-epoch``: one simulated hour passes in three wall seconds).  The test
proves, within bounded waits:

1. feed fan-out: an HSP holding replica B's WebSocket feed receives an order
   POSTed to replica A within one second (PostgreSQL LISTEN/NOTIFY);
2. exactly-once deadlines: orders left unanswered on both replicas each get
   exactly one ``deadline_missed`` event, although both replicas wake for them;
3. losing a replica loses nothing: replica A is SIGKILLed in the middle of a
   load, the clients switch to B, every receipted order is in the log, and B
   fires the deadlines A left open, once each; ``perci-sim verify-log`` then
   finds the chain and every signature intact.

Skips without ``PERCI_TEST_DATABASE_URL``.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest
from conftest import postgres_database
from process_helpers import free_port, healthy

from authority_client import AuthorityClient
from authority_client.errors import BrokerUnavailable
from perci_schemas.client_facilitator import FacilitatorClient
from perci_schemas.client_views import parse_time
from perci_schemas.credentials import load_credentials
from perci_sim.__main__ import main
from perci_sim.bootstrap import credentials_path
from platform_client import PlatformClient

pytestmark = [
    pytest.mark.slow,
    pytest.mark.postgres,
    pytest.mark.skipif(
        not os.environ.get("PERCI_TEST_DATABASE_URL"),
        reason="needs PostgreSQL: set PERCI_TEST_DATABASE_URL (replicas share one database)",
    ),
]

#: One simulated hour in three wall seconds.
SPEED = 1200
STARTUP_TIMEOUT = 20.0
FEED_LATENCY_S = 1.0
DEADLINE_TIMEOUT = 12.0
ORDERS_PER_REPLICA = 8
#: Receipts replica A gives in the load before it is killed.
KILL_AFTER = 10
LOAD_ORDERS = 30
AUTHORITIES = ("de-bka", "fr-ocrim", "es-cgi")
HSPS = ("hsp-alpha", "hsp-beta", "hsp-gamma")


def _env(database_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PERCI_")}
    env["PYTHONUNBUFFERED"] = "1"
    env["PERCI_DATABASE_URL"] = database_url
    return env


async def _cli(*args: str) -> int:
    return await asyncio.to_thread(main, list(args))


@dataclass(slots=True)
class Replica:
    name: str
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@contextmanager
def _replicas(home: Path, database_url: str, tmp_path: Path) -> Iterator[list[Replica]]:
    epoch = datetime.now(UTC).isoformat()
    started: list[Replica] = []
    try:
        for name in ("a", "b"):
            port = free_port()
            log = tmp_path / f"replica-{name}.log"
            with log.open("wb") as out:
                process = subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "perci_sim",
                        "serve",
                        "--home",
                        str(home),
                        "--host",
                        "127.0.0.1",
                        "--port",
                        str(port),
                        "--speed",
                        str(SPEED),
                        "--clock-epoch",
                        epoch,
                        "--rate-limit",
                        "0",
                    ],
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    env=_env(database_url),
                )
            started.append(Replica(name, f"http://127.0.0.1:{port}", process, log))
        deadline = time.monotonic() + STARTUP_TIMEOUT
        for replica in started:
            while not healthy(replica.url):
                assert replica.process.poll() is None, replica.output()
                assert time.monotonic() < deadline, replica.output()
                time.sleep(0.1)
        yield started
    finally:
        for replica in started:
            if replica.process.poll() is None:
                replica.process.send_signal(signal.SIGINT)
        for replica in started:
            try:
                replica.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                replica.process.kill()
                replica.process.wait(timeout=5)


@pytest.fixture
async def pg_url() -> AsyncIterator[str]:
    async with postgres_database() as url:
        yield url


async def _order(client: AuthorityClient, hsp_id: str, n: int) -> str:
    order = await client.prepare_order(
        hsp_id=hsp_id,
        urls=[f"https://{hsp_id}.example/v/{n}"],
        reasons=["a"],
        details="Instructions for making explosives, with calls to attack.",
        emergency_justification="Livestreamed attack in progress.",
    )
    return str((await client.issue_order(order)).order["order_id"])


async def _deadline_counts(database_url: str) -> dict[str, int]:
    import asyncpg

    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch(
            "SELECT o.order_id, count(e.seq) AS n FROM removal_order o "
            "LEFT JOIN event e ON e.order_id = o.order_id AND e.kind = 'deadline_missed' "
            "GROUP BY o.order_id"
        )
    finally:
        await conn.close()
    return {row["order_id"]: int(row["n"]) for row in rows}


async def _wait_all_missed(database_url: str, order_ids: set[str]) -> dict[str, int]:
    deadline = time.monotonic() + DEADLINE_TIMEOUT
    while True:
        counts = await _deadline_counts(database_url)
        if all(counts.get(o, 0) >= 1 for o in order_ids):
            return counts
        missing = sorted(o for o in order_ids if counts.get(o, 0) == 0)
        assert time.monotonic() < deadline, f"no deadline_missed for {missing}"
        await asyncio.sleep(0.2)


async def test_two_replicas_act_as_one_exchange(pg_url: str, tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert await _cli("db", "upgrade", "--database-url", pg_url) == 0
    assert await _cli("init", str(home), "--database-url", pg_url) == 0
    with _replicas(home, pg_url, tmp_path) as (a, b):
        async with AsyncExitStack() as stack:

            async def authority(party: str, replica: Replica) -> AuthorityClient:
                path = credentials_path(home, party)
                client = AuthorityClient.from_credentials(path, broker_url=replica.url)
                return await stack.enter_async_context(client)

            on_a = {p: await authority(p, a) for p in AUTHORITIES}
            on_b = {p: await authority(p, b) for p in AUTHORITIES}
            counter = itertools.count()

            # 1. An order POSTed to A reaches the HSP on B's feed within a second.
            token = load_credentials(credentials_path(home, "hsp-alpha")).token
            http = await stack.enter_async_context(aiohttp.ClientSession())
            ws = await stack.enter_async_context(
                http.ws_connect(
                    f"{b.url}/v1/feed", headers={"Authorization": f"Bearer {token}"}, heartbeat=5
                )
            )
            await on_a["de-bka"].prepare_order(  # warm the directory cache first
                hsp_id="hsp-alpha", urls=["https://x.example/"], reasons=["a"], details="x"
            )
            posted = time.monotonic()
            first = await _order(on_a["de-bka"], "hsp-alpha", next(counter))
            async with asyncio.timeout(FEED_LATENCY_S):
                while True:
                    message = await ws.receive_json()
                    event = message["event"]
                    if event["order_id"] == first and event["kind"] == "order_received":
                        break
            latency = time.monotonic() - posted
            assert latency < FEED_LATENCY_S
            alpha = PlatformClient.from_credentials(
                credentials_path(home, "hsp-alpha"), broker_url=b.url
            )
            async with alpha:
                assert first in {o["order_id"] for o in await alpha.inbox()}

            # 2. Orders left unanswered on both replicas: one deadline_missed each.
            async def issue_on(clients: dict[str, AuthorityClient]) -> list[str]:
                return await asyncio.gather(
                    *(
                        _order(clients[AUTHORITIES[i % 3]], HSPS[i % 3], next(counter))
                        for i in range(ORDERS_PER_REPLICA)
                    )
                )

            batch = {first, *await issue_on(on_a), *await issue_on(on_b)}
            await _wait_all_missed(pg_url, batch)
            await asyncio.sleep(0.5)  # a second firing, if any, would land by now
            counts = await _deadline_counts(pg_url)
            assert {o: counts[o] for o in batch} == dict.fromkeys(batch, 1)

            # 3. SIGKILL A in the middle of a load; the clients switch to B.
            receipted: dict[str, str] = {}  # order_id -> replica that gave the receipt
            issuer: dict[str, str] = {}
            killed = asyncio.Event()
            killed_at: list[float] = []

            async def worker(w: int) -> None:
                party = AUTHORITIES[w % 3]
                while len(receipted) < LOAD_ORDERS:
                    target = b if killed.is_set() else a
                    clients = on_b if target is b else on_a
                    try:
                        order_id = await _order(clients[party], HSPS[w % 3], next(counter))
                    except BrokerUnavailable:
                        assert target is a
                        assert a.process.poll() is not None
                        continue  # no receipt: switch to B
                    receipted[order_id], issuer[order_id] = target.name, party
                    if not killed.is_set() and len(receipted) >= KILL_AFTER:
                        a.process.send_signal(signal.SIGKILL)
                        killed_at.append(time.monotonic())
                        killed.set()

            async with asyncio.timeout(STARTUP_TIMEOUT):
                await asyncio.gather(*(worker(w) for w in range(4)))
            a.process.wait(timeout=5)
            assert a.process.returncode == -signal.SIGKILL
            from_a = {o for o, r in receipted.items() if r == "a"}
            assert len(from_a) >= KILL_AFTER
            assert set(receipted.values()) == {"a", "b"}

            # Every receipted order is in the log (read through B).
            for order_id, party in issuer.items():
                kinds = [e["kind"] for e in await on_b[party].history(order_id)]
                assert kinds[:2] == ["order_received", "order_delivered"], kinds
            counts = await _deadline_counts(pg_url)
            assert set(receipted) <= set(counts)
            # A's orders' deadlines were still open when A died: B fires them, once each.
            open_at_kill = {o for o in from_a if counts[o] == 0}
            assert open_at_kill, "A died with no open deadline: the load was too slow"
            await _wait_all_missed(pg_url, set(receipted))
            await asyncio.sleep(0.5)
            counts = await _deadline_counts(pg_url)
            assert {o: counts[o] for o in receipted} == dict.fromkeys(receipted, 1)
            assert all(n == 1 for n in counts.values()), counts
            await ws.close()
        assert b.process.poll() is None, b.output()
    assert b.process.returncode == 0, b.output()
    assert "Traceback" not in b.output(), b.output()
    assert "Traceback" not in a.output(), a.output()
    code = await _cli("verify-log", "--home", str(home), "--database-url", pg_url)
    assert code == 0


async def test_a_clock_skip_on_one_replica_moves_the_other(pg_url: str, tmp_path: Path) -> None:
    """A facilitator skips the drill clock on A: B follows, so the log's time never goes
    back (R1) and B fires the deadlines inside the skipped window."""
    home = tmp_path / "home"
    assert await _cli("db", "upgrade", "--database-url", pg_url) == 0
    assert await _cli("init", str(home), "--database-url", pg_url) == 0
    with _replicas(home, pg_url, tmp_path) as (a, b):
        async with AsyncExitStack() as stack:
            facilitator = await stack.enter_async_context(
                FacilitatorClient.from_credentials(
                    credentials_path(home, "facilitator"), broker_url=a.url
                )
            )
            on_b = await stack.enter_async_context(
                AuthorityClient.from_credentials(credentials_path(home, "de-bka"), broker_url=b.url)
            )
            before = (await on_b.clock()).now
            skip = await facilitator.advance_clock(by=timedelta(days=2))
            target = parse_time(skip["to"])
            for _ in range(60):  # three wall seconds at most
                if (await on_b.clock()).now >= target:
                    break
                await asyncio.sleep(0.05)
            assert (await on_b.clock()).now - before >= timedelta(days=2)
            # An order recorded on B now is later than the skip in the log.
            order_id = await _order(on_b, "hsp-alpha", 1)
            kinds_times = [(e["kind"], e["received_at"]) for e in await on_b.history(order_id)]
            assert all(parse_time(at) >= target for _, at in kinds_times), kinds_times
    assert "clock_followed" in b.output()
    assert "Traceback" not in a.output() + b.output()
    code = await _cli("verify-log", "--home", str(home), "--database-url", pg_url)
    assert code == 0
