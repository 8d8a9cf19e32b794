"""Crash safety: SIGKILL the broker in the middle of a load, restart it, check the evidence.

One ``perci-sim serve`` process (real time) on a fresh ``init_home`` setup.  Three
authorities issue emergency orders while three HSPs acknowledge every order they see
and answer every second one with Annex II, all concurrently through the SDK clients
(directory, clock, inbox, receipt verification) with documents the test signs itself,
so that each one can be resent byte for byte.  After 24 receipts the broker is killed
with SIGKILL, with requests in flight.  It is restarted on the same home with a scaled
clock (``--speed 3600``: one simulated hour in one wall second), and then:

- every document the broker gave a receipt for is in the log at the receipt's ``seq``,
  with its hash, and every receipted order has its full history (order, delivery, and
  each receipted acknowledgement and Annex II);
- no order row exists without its ``order_received`` event, no order event names a
  missing order, and no ``(sender, message_id)`` is stored twice;
- resending every document — receipted or lost in the crash — answers a document the
  broker had recorded with 200 and the original receipt (for one whose answer was lost,
  the receipt of the event in the log), records a never-recorded one once, and a second
  round of resends changes nothing;
- every deadline left open by the crash fires after the restart, exactly once;
- ``perci-sim verify-log`` finds the hash chain and every signature intact.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import itertools
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from process_helpers import free_port, healthy, stop_process

from authority_client import AuthorityClient
from perci_schemas import jws
from perci_schemas.client_support import BrokerClient
from perci_schemas.client_views import format_time
from perci_schemas.credentials import Credentials, load_credentials
from perci_sim.bootstrap import credentials_path, init_home
from platform_client import PlatformClient

pytestmark = pytest.mark.slow

AUTHORITIES = ("de-bka", "fr-ocrim", "es-cgi")
HSPS = ("hsp-alpha", "hsp-beta", "hsp-gamma")
#: Receipts to collect before the kill, and the most orders each authority issues.
KILL_AFTER_RECEIPTS = 24
ORDERS_PER_AUTHORITY = 40
#: Wall-second bounds.
STARTUP_TIMEOUT = 20.0
LOAD_TIMEOUT = 20.0
DEADLINE_TIMEOUT = 20.0
STOP_TIMEOUT = 10.0
#: The restarted broker's clock speed: one simulated hour per wall second.
RESTART_SPEED = 3600


@dataclass(slots=True)
class Sent:
    """A document the test sent: recorded before the POST, completed by the answer."""

    party: str
    path: str
    message_type: str
    document: dict[str, Any]
    token: str
    status: int | None = None  # None: no answer (the broker died with it in flight)
    receipt: str | None = None
    order_id: str | None = None
    seq: int | None = None

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.token.encode()).hexdigest()


@dataclass(slots=True)
class Ledger:
    """Everything sent, in sending order, and the kill switch."""

    sent: list[Sent] = field(default_factory=list)
    receipts: int = 0
    killed: asyncio.Event = field(default_factory=asyncio.Event)
    enough: asyncio.Event = field(default_factory=asyncio.Event)

    def receipted(self) -> list[Sent]:
        return [s for s in self.sent if s.receipt is not None]


class Party:
    """A participant: its SDK client (reads, receipt checks) and its signing key."""

    def __init__(self, client: BrokerClient, creds: Credentials, session: aiohttp.ClientSession):
        self.client = client
        self.creds = creds
        self.session = session

    @property
    def id(self) -> str:
        return self.creds.participant_id

    def sign(self, message_type: str, document: dict[str, Any], now: str) -> tuple[str, dict]:
        doc = {
            **document,
            "message_type": message_type,
            "message_id": str(uuid.uuid4()),
            "sender": self.id,
            "sent_at": now,
        }
        token = jws.sign(doc, key=self.creds.key, kid=self.creds.kid, message_type=message_type)
        return token, doc

    async def post(self, sent: Sent) -> tuple[int, dict[str, Any]]:
        """POST the signed document as it was first signed; (status, body)."""
        async with self.session.post(
            f"{self.client.broker_url}{sent.path}",
            json={"jws": sent.token},
            headers={"Authorization": f"Bearer {self.creds.token}"},
        ) as resp:
            return resp.status, await resp.json(content_type=None)

    async def submit(self, ledger: Ledger, sent: Sent) -> Sent | None:
        """Record, POST, verify the receipt; None when the broker is gone."""
        ledger.sent.append(sent)
        try:
            status, body = await self.post(sent)
        except (aiohttp.ClientError, OSError, TimeoutError):
            return None
        sent.status = status
        if status in (200, 201):
            receipt = await self.client.verify_receipt(body["receipt"], sent.token)
            sent.receipt, sent.seq = receipt.token, receipt.seq
            sent.order_id = receipt.order_id
            ledger.receipts += 1
            if ledger.receipts >= KILL_AFTER_RECEIPTS:
                ledger.enough.set()
        return sent


# --- the broker process -------------------------------------------------------------------


@dataclass(slots=True)
class BrokerProcess:
    home: Path
    port: int
    log: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, *extra: str) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PERCI_")}
        env.update(PYTHONUNBUFFERED="1", PERCI_LOG_FORMAT="json")
        argv = [sys.executable, "-m", "perci_sim", "serve", "--home", str(self.home)]
        argv += ["--host", "127.0.0.1", "--port", str(self.port), *extra]
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while not healthy(self.url):
            assert self.process.poll() is None, f"broker exited:\n{self.log.read_text()[-3000:]}"
            assert time.monotonic() < deadline, "broker did not become healthy"
            time.sleep(0.05)

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=STOP_TIMEOUT)
        assert self.process.returncode == -signal.SIGKILL

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process, STOP_TIMEOUT)


@pytest.fixture(name="broker_process")
def _broker_process(tmp_path: Path) -> Iterator[BrokerProcess]:
    home = tmp_path / "home"
    port = free_port()
    asyncio.run(init_home(home, broker_url=f"http://127.0.0.1:{port}"))
    broker = BrokerProcess(home=home, port=port, log=tmp_path / "broker.log")
    try:
        yield broker
    finally:
        broker.stop()


@asynccontextmanager
async def _parties(broker: BrokerProcess) -> AsyncIterator[dict[str, Party]]:
    async with AsyncExitStack() as stack:
        timeout = aiohttp.ClientTimeout(total=10.0)
        session = await stack.enter_async_context(aiohttp.ClientSession(timeout=timeout))
        parties: dict[str, Party] = {}
        for pid in (*AUTHORITIES, *HSPS):
            path = credentials_path(broker.home, pid)
            cls: type[BrokerClient] = AuthorityClient if pid in AUTHORITIES else PlatformClient
            # retries=0: a request to the killed broker fails at once instead of backing off.
            client = cls.from_credentials(path, broker_url=broker.url, retries=0, timeout=10.0)
            await stack.enter_async_context(client)
            parties[pid] = Party(client, load_credentials(path), session)
        yield parties


# --- the load -----------------------------------------------------------------------------


async def _authority(party: Party, ledger: Ledger, hsps: Iterator[str]) -> None:
    client = party.client
    assert isinstance(client, AuthorityClient)
    for n in range(ORDERS_PER_AUTHORITY):
        if ledger.killed.is_set():
            return
        hsp = next(hsps)
        order = await client.prepare_order(
            hsp_id=hsp,
            urls=[f"https://{hsp}.example/{party.id}/{n}"],
            reasons=["a"],
            details="Instructions for an attack.",
            emergency_justification="Imminent threat to life.",
        )
        token, doc = party.sign("removal_order", order, format_time(await client.broker_now()))
        if await party.submit(ledger, Sent(party.id, "/v1/orders", "removal_order", doc, token)):
            continue
        return


def _feedback(view: dict[str, Any], party: Party, authority_name: str, now: str) -> dict:
    return {
        "order_id": view["order_id"],
        "section_a": {
            "addressee": party.id,
            "issuing_authority": authority_name,
            "issuing_file_reference": view["reference_number"],
            "order_received_at": view["received_at"],
        },
        "section_b": {"measure": "removed", "measure_at": now},
        "section_c": {
            "hsp_name": party.id,
            "member_state": "IE",
            "authorised_person": "T. Safety",
            "contact_email": f"tco@{party.id}.example",
            "date": now[:10],
        },
    }


async def _hsp(party: Party, ledger: Ledger, names: dict[str, str]) -> None:
    """Acknowledge every order seen in the inbox; answer every second one with Annex II."""
    client = party.client
    assert isinstance(client, PlatformClient)
    seen: set[str] = set()
    turn = itertools.count()
    while not ledger.killed.is_set():
        try:
            inbox = await client.inbox()
        except Exception:
            return  # the broker is gone
        for view in inbox:
            oid = view["order_id"]
            if oid in seen:
                continue
            seen.add(oid)
            now = format_time(await client.broker_now())
            ack = {"order_id": oid, "order_sha256": jws.document_hash(view["document"])}
            token, doc = party.sign("acknowledgement", ack, now)
            path = f"/v1/orders/{oid}/acknowledgement"
            if not await party.submit(ledger, Sent(party.id, path, "acknowledgement", doc, token)):
                return
            if next(turn) % 2:
                continue
            body = _feedback(view, party, names[view["authority_id"]], now)
            token, doc = party.sign("feedback", body, now)
            path = f"/v1/orders/{oid}/feedback"
            if not await party.submit(ledger, Sent(party.id, path, "feedback", doc, token)):
                return
        await asyncio.sleep(0.01)


async def _run_load_and_kill(broker: BrokerProcess, parties: dict[str, Party]) -> Ledger:
    ledger = Ledger()
    names = {pid: (await parties[pid].client.me())["name"] for pid in AUTHORITIES}
    for party in parties.values():
        await party.client.broker_now()
    tasks = [
        asyncio.create_task(_authority(parties[a], ledger, itertools.cycle(HSPS[i:] + HSPS[:i])))
        for i, a in enumerate(AUTHORITIES)
    ]
    tasks += [asyncio.create_task(_hsp(parties[h], ledger, names)) for h in HSPS]
    unanswered: list[asyncio.StreamWriter] = []
    try:
        await asyncio.wait_for(ledger.enough.wait(), LOAD_TIMEOUT)
        # One order per authority whose answer never reaches its client: recorded, and the
        # receipt lost in the crash (the connection is never read).
        for authority in AUTHORITIES:
            unanswered.append(await _send_unanswered(broker, parties[authority], ledger))
        await _wait_recorded(broker.home, ledger.sent[-len(AUTHORITIES) :])
        # SIGKILL with the load still running: some requests are in flight right now.
        await asyncio.to_thread(broker.kill)
    finally:
        ledger.killed.set()
        done, pending = await asyncio.wait(tasks, timeout=LOAD_TIMEOUT)
        for task in pending:
            task.cancel()
        for task in done:
            if task.exception() is not None:
                raise task.exception()  # type: ignore[misc]
        for writer in unanswered:
            writer.close()
    assert not pending, "load tasks did not end after the kill"
    return ledger


async def _send_unanswered(
    broker: BrokerProcess, party: Party, ledger: Ledger
) -> asyncio.StreamWriter:
    """POST an order over a raw connection whose answer is never read."""
    client = party.client
    assert isinstance(client, AuthorityClient)
    order = await client.prepare_order(
        hsp_id=HSPS[0],
        urls=[f"https://{HSPS[0]}.example/{party.id}/unanswered"],
        reasons=["a"],
        details="Instructions for an attack.",
        emergency_justification="Imminent threat to life.",
    )
    token, doc = party.sign("removal_order", order, format_time(await client.broker_now()))
    ledger.sent.append(Sent(party.id, "/v1/orders", "removal_order", doc, token))
    body = json.dumps({"jws": token}).encode()
    head = (
        f"POST /v1/orders HTTP/1.1\r\nHost: 127.0.0.1:{broker.port}\r\n"
        f"Authorization: Bearer {party.creds.token}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    _, writer = await asyncio.open_connection("127.0.0.1", broker.port)
    writer.write(head.encode() + body)
    await writer.drain()
    return writer


async def _wait_recorded(home: Path, sent: list[Sent]) -> None:
    deadline = time.monotonic() + LOAD_TIMEOUT
    for item in sent:
        while not _rows(
            home, "SELECT 1 FROM event WHERE message_id = ?", item.document["message_id"]
        ):
            assert time.monotonic() < deadline, "an unanswered order was never recorded"
            await asyncio.sleep(0.02)


# --- the checks ---------------------------------------------------------------------------


def _db(home: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{home / 'perci.db'}?mode=ro", uri=True, timeout=10.0)


def _rows(home: Path, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    with _db(home) as conn:
        return conn.execute(sql, args).fetchall()


def _check_store(home: Path, ledger: Ledger) -> None:
    """Receipted documents are in the log; no order without events; nothing twice."""
    for sent in ledger.receipted():
        rows = _rows(
            home,
            "SELECT seq, actor, message_id, document_sha256, order_id FROM event WHERE seq = ?",
            sent.seq,
        )
        assert rows == [
            (sent.seq, sent.party, sent.document["message_id"], sent.sha256, sent.order_id)
        ], sent
    orders_without_receipt = _rows(
        home,
        "SELECT o.order_id FROM removal_order o WHERE NOT EXISTS (SELECT 1 FROM event e "
        "WHERE e.order_id = o.order_id AND e.kind = 'order_received')",
    )
    assert orders_without_receipt == []
    events_without_order = _rows(
        home,
        "SELECT DISTINCT e.order_id FROM event e WHERE e.order_id IS NOT NULL AND NOT EXISTS "
        "(SELECT 1 FROM removal_order o WHERE o.order_id = e.order_id)",
    )
    assert events_without_order == []
    duplicates = _rows(
        home,
        "SELECT actor, message_id, count(*) FROM event WHERE message_id IS NOT NULL "
        "GROUP BY actor, message_id HAVING count(*) > 1",
    )
    assert duplicates == []
    orders_without_delivery = _rows(
        home,
        "SELECT o.order_id FROM removal_order o WHERE NOT EXISTS (SELECT 1 FROM event e "
        "WHERE e.order_id = o.order_id AND e.kind = 'order_delivered')",
    )
    assert orders_without_delivery == []


async def _check_histories(parties: dict[str, Party], ledger: Ledger) -> None:
    """Each receipted order's history, as its authority sees it, holds every receipted step."""
    expected: dict[str, set[tuple[str, str]]] = {}
    authority_of: dict[str, str] = {}
    for sent in ledger.receipted():
        assert sent.order_id is not None
        expected.setdefault(sent.order_id, set()).add(
            (sent.document["message_id"], sent.message_type)
        )
        if sent.message_type == "removal_order":
            authority_of[sent.order_id] = sent.party
    for order_id, steps in expected.items():
        authority = authority_of.get(order_id)
        if authority is None:  # the order's own answer was lost; found by message id below
            continue
        history = await parties[authority].client.history(order_id)
        kinds = [e["kind"] for e in history]
        assert kinds[:2] == ["order_received", "order_delivered"], kinds
        documented = {_payload(e["document"])["message_id"] for e in history if e["document"]}
        for message_id, message_type in steps:
            assert message_id in documented, (order_id, message_type, kinds)


def _payload(token: str) -> dict[str, Any]:
    part = token.split(".")[1]
    data: dict[str, Any] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return data


async def _resend_all(parties: dict[str, Party], ledger: Ledger, home: Path) -> None:
    """Resend every document; recorded ones get their receipt back, nothing is stored twice."""
    original = list(ledger.sent)
    recovered = 0
    for sent in original:
        recorded = _rows(
            home,
            "SELECT seq FROM event WHERE actor = ? AND message_id = ?",
            sent.party,
            sent.document["message_id"],
        )
        status, body = await parties[sent.party].post(sent)
        if sent.receipt is not None:
            assert status == 200, (sent, body)
            assert body["receipt"] == sent.receipt
        elif recorded:
            # Recorded, but the answer died with the broker: the original receipt now.
            assert status == 200, (sent, body)
            recovered += 1
            receipt = await parties[sent.party].client.verify_receipt(body["receipt"], sent.token)
            assert receipt.seq == recorded[0][0]
            sent.receipt, sent.seq, sent.order_id = receipt.token, receipt.seq, receipt.order_id
        elif status in (200, 201):
            receipt = await parties[sent.party].client.verify_receipt(body["receipt"], sent.token)
            sent.receipt, sent.seq, sent.order_id = receipt.token, receipt.seq, receipt.order_id
        else:
            # Never recorded and no longer acceptable (e.g. an acknowledgement of an
            # order that went overdue meanwhile): a precise refusal, nothing stored.
            assert status in (409, 422), (sent, body)
            assert body["code"] in ("illegal_transition", "measure_time_invalid"), body
    assert recovered >= len(AUTHORITIES), "no recorded document had lost its receipt"
    events = _rows(home, "SELECT count(*) FROM event WHERE message_id IS NOT NULL")[0][0]
    for sent in original:
        if sent.receipt is None:
            continue
        status, body = await parties[sent.party].post(sent)
        assert (status, body["receipt"]) == (200, sent.receipt), sent
    assert _rows(home, "SELECT count(*) FROM event WHERE message_id IS NOT NULL")[0][0] == events


async def _wait_for_deadlines(home: Path) -> None:
    deadline = time.monotonic() + DEADLINE_TIMEOUT
    while True:
        open_orders = _rows(
            home, "SELECT order_id FROM removal_order WHERE state IN ('delivered', 'acknowledged')"
        )
        if not open_orders:
            return
        assert time.monotonic() < deadline, f"deadlines did not fire: {open_orders}"
        await asyncio.sleep(0.1)


def _check_deadlines(home: Path, open_at_restart: set[str]) -> None:
    missed = dict(
        _rows(
            home,
            "SELECT order_id, count(*) FROM event WHERE kind = 'deadline_missed' GROUP BY order_id",
        )
    )
    assert all(count == 1 for count in missed.values()), missed  # exactly once
    for order_id in open_at_restart:
        state = _rows(home, "SELECT state FROM removal_order WHERE order_id = ?", order_id)
        assert state == [("overdue",)], (order_id, state)
        assert missed.get(order_id) == 1, order_id


async def test_sigkill_mid_load_then_restart(broker_process: BrokerProcess) -> None:
    broker = broker_process
    broker.start()
    async with _parties(broker) as parties:
        ledger = await _run_load_and_kill(broker, parties)
        assert ledger.receipts >= KILL_AFTER_RECEIPTS
        open_at_restart = {
            row[0]
            for row in _rows(
                broker.home,
                "SELECT order_id FROM removal_order WHERE state IN ('delivered', 'acknowledged')",
            )
        }
        assert open_at_restart, "the crash left no open deadline to check"

        broker.start("--speed", str(RESTART_SPEED))
        _check_store(broker.home, ledger)
        await _check_histories(parties, ledger)
        # The deadlines the crash left open fire on the restarted broker, exactly once.
        await _wait_for_deadlines(broker.home)
        _check_deadlines(broker.home, open_at_restart)
        for party in parties.values():
            await party.client.sync_clock()
        await _resend_all(parties, ledger, broker.home)
        _check_store(broker.home, ledger)
        await _check_histories(parties, ledger)
        # Orders first recorded by a resend get their deadline too.
        await _wait_for_deadlines(broker.home)
        _check_deadlines(broker.home, set())
    broker.stop()
    assert broker.process is not None
    assert broker.process.returncode == 0, broker.log.read_text()[-3000:]

    verify = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "perci_sim", "verify-log", "--home", str(broker.home)],
        capture_output=True,
        text=True,
        timeout=30.0,
        check=False,
        env={k: v for k, v in os.environ.items() if not k.startswith("PERCI_")},
    )
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert "hash chain intact" in verify.stdout
