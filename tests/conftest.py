"""Shared fixtures: a real broker on an ephemeral port, demo participants, a manual clock.

``broker`` is a factory fixture::

    async def test_something(broker):
        b = await broker()                      # fresh home under tmp_path, app started
        order = await b.issue("de-bka", "hsp-alpha", emergency=True)
        await b.advance(minutes=61)            # moves the clock and fires due timers

Every broker gets its own SQLite file under ``tmp_path`` (or, with
``PERCI_TEST_BROKER_BACKEND=postgresql``, its own PostgreSQL database: a whole-suite
check of the PostgreSQL backend).  Time is a :class:`ManualClock`: nothing in a test
sleeps until a deadline; ``advance`` moves the clock and runs the deadline service
synchronously.

PostgreSQL: tests of that backend read ``PERCI_TEST_DATABASE_URL`` (a server, e.g.
``postgresql://127.0.0.1:5432/test``); each gets a fresh database ``perci_test_<random>``
on it, dropped at the end (:func:`postgres_database`).  Unset, they skip.
"""

from __future__ import annotations

import json as jsonlib
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import structlog
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from perci_schemas import jws
from perci_schemas.keys import KeyPair, PublicKey, generate, load_public
from perci_sim.api.keys import DATABASE, DISPATCHER, SIGNER, TIMERS
from perci_sim.app import create_app
from perci_sim.settings import Settings
from perci_sim.storage import registry
from perci_sim.storage.db import Database, open_database

START = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)

#: A PostgreSQL server for the tests of that backend (CI: postgresql://127.0.0.1:5432/test).
TEST_DATABASE_ENV = "PERCI_TEST_DATABASE_URL"
#: ``postgresql``: the ``broker`` fixture stores on PostgreSQL too (whole-suite check).
BROKER_BACKEND_ENV = "PERCI_TEST_BROKER_BACKEND"
#: The storage backends a contract test runs on; PostgreSQL skips without a server.
BACKENDS = ("sqlite", pytest.param("postgresql", marks=pytest.mark.postgres))


def postgres_server() -> str:
    """The PostgreSQL server of the tests, or skip the test with the reason."""
    url = os.environ.get(TEST_DATABASE_ENV, "")
    if not url:
        pytest.skip(f"{TEST_DATABASE_ENV} is not set: no PostgreSQL server to test on")
    return url


def _libpq_url(url: str, database: str | None = None) -> str:
    """``url`` as asyncpg's own ``connect`` takes it, on ``database`` if given."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url).set(drivername="postgresql")
    if database is not None:
        parsed = parsed.set(database=database)
    return parsed.render_as_string(hide_password=False)


@asynccontextmanager
async def postgres_database() -> AsyncIterator[str]:
    """A fresh, empty database on the test server (``perci_test_<random>``), dropped after.

    Several test runs may share the server at once: each test gets its own database,
    never the server database's own schema.
    """
    import asyncpg

    server = postgres_server()
    name = f"perci_test_{uuid.uuid4().hex[:16]}"
    admin = await asyncpg.connect(_libpq_url(server))
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield _libpq_url(server, name)
        finally:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@asynccontextmanager
async def opened_database(kind: str, tmp_path: Path) -> AsyncIterator[Database]:
    """A fresh, migrated database of ``kind``: ``memory`` or ``file`` SQLite, ``postgresql``."""
    if kind == "postgresql":
        async with postgres_database() as url:
            database = await open_database(url)
            try:
                yield database
            finally:
                await database.close()
        return
    url = (
        "sqlite+aiosqlite:///:memory:"
        if kind == "memory"
        else f"sqlite+aiosqlite:///{tmp_path / 'nested' / 'perci.db'}"
    )
    database = await open_database(url)
    try:
        yield database
    finally:
        await database.close()


#: The durable backends: file SQLite and PostgreSQL (skipped without a server).
DURABLE = ["file", pytest.param("postgresql", marks=pytest.mark.postgres)]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """With the brokers on PostgreSQL, skip the tests that open their SQLite file."""
    if os.environ.get(BROKER_BACKEND_ENV, "sqlite") != "postgresql":
        return
    skip = pytest.mark.skip(reason=f"opens the broker's SQLite file ({BROKER_BACKEND_ENV})")
    for item in items:
        if item.get_closest_marker("sqlite_file"):
            item.add_marker(skip)


@pytest.fixture(params=BACKENDS)
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """An empty database of each backend: a SQLite file, a fresh PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'nested' / 'perci.db'}"
        return
    async with postgres_database() as url:
        yield url


def iso(at: datetime) -> str:
    """Render an instant as the broker does (UTC, milliseconds)."""
    return at.astimezone(UTC).isoformat(timespec="milliseconds")


class ManualClock:
    """A broker clock that moves only when told to.

    ``wall_seconds_until`` is 0 for any instant already reached, so a scheduler
    armed for a due timer fires at once; otherwise it reports the simulated
    seconds left (the test advances the clock instead of waiting).
    """

    speed = 1.0

    def __init__(self, start: datetime = START) -> None:
        self._now = start

    def now(self) -> datetime:
        """The current instant (milliseconds)."""
        return self._now.replace(microsecond=self._now.microsecond // 1000 * 1000)

    def advance(
        self, seconds: float = 0.0, *, minutes: float = 0.0, hours: float = 0.0
    ) -> datetime:
        """Move the clock forward and return the new instant."""
        self._now += timedelta(seconds=seconds, minutes=minutes, hours=hours)
        return self.now()

    def wall_seconds_until(self, at: datetime) -> float:
        """0 when ``at`` is reached, else the simulated seconds left."""
        return max(0.0, (at - self.now()).total_seconds())


@dataclass(frozen=True, slots=True, kw_only=True)
class ParticipantSpec:
    """A demo participant to register."""

    id: str
    role: str
    name: str
    member_state: str
    languages: tuple[str, ...]
    alg: str = "EdDSA"
    legal_representative_member_state: str | None = None


DEMO_PARTICIPANTS: tuple[ParticipantSpec, ...] = (
    ParticipantSpec(
        id="de-bka", role="authority", name="Bundeskriminalamt", member_state="DE",
        languages=("de", "en"),
    ),
    ParticipantSpec(
        id="fr-ocrim", role="authority", name="OCRIM", member_state="FR",
        languages=("fr", "en"), alg="ES256",
    ),
    ParticipantSpec(
        id="es-cgi", role="authority", name="Guardia Civil", member_state="ES",
        languages=("es", "en"),
    ),
    ParticipantSpec(
        id="hsp-alpha", role="hsp", name="Alpha Video Ltd", member_state="IE",
        languages=("en", "ga"),
    ),
    ParticipantSpec(
        id="hsp-beta", role="hsp", name="Beta Hosting B.V.", member_state="NL",
        languages=("nl", "en"),
    ),
    ParticipantSpec(
        id="hsp-gamma", role="hsp", name="Gamma SAS", member_state="FR",
        languages=("fr", "en"),
    ),
    # Host-Member-State authorities and Europol (TCO Art. 4, 14).
    ParticipantSpec(
        id="ie-cnam", role="authority", name="Coimisiún na Meán", member_state="IE",
        languages=("en", "ga"),
    ),
    ParticipantSpec(
        id="nl-atkm", role="authority", name="ATKM", member_state="NL",
        languages=("nl", "en"),
    ),
    ParticipantSpec(
        id="europol", role="europol", name="Europol EU IRU", member_state="NL",
        languages=("en",),
    ),
    # A content provider (Art. 4(4), 10, 11) and a court (Art. 9), as `perci-sim init`.
    ParticipantSpec(
        id="cp-demo", role="content_provider", name="A content provider", member_state="DE",
        languages=("de", "en"),
    ),
    ParticipantSpec(
        id="de-court", role="court", name="Verwaltungsgericht Wiesbaden", member_state="DE",
        languages=("de",),
    ),
)  # fmt: skip


@dataclass(slots=True, kw_only=True)
class Party:
    """A registered participant as a test drives it: token, key, signing."""

    id: str
    role: str
    name: str
    member_state: str
    languages: tuple[str, ...]
    token: str
    key: KeyPair
    kid: str

    @property
    def headers(self) -> dict[str, str]:
        """The bearer-token header."""
        return {"Authorization": f"Bearer {self.token}"}

    def sign(self, document: dict[str, Any], message_type: str | None = None) -> str:
        """Sign ``document`` as this party (its registered key, its kid)."""
        kind = message_type or str(document["message_type"])
        return jws.sign(document, key=self.key, kid=self.kid, message_type=kind)


@dataclass(slots=True)
class Reply:
    """A broker answer: status, JSON body, headers."""

    status: int
    body: Any
    headers: Any
    content_type: str


@dataclass(slots=True, kw_only=True)
class Broker:
    """A running broker and the parties registered in it."""

    home: Path
    clock: ManualClock
    settings: Settings
    parties: dict[str, Party]
    server: TestServer | None = None
    client: TestClient[web.Request, web.Application] | None = None
    _counter: list[int] = field(default_factory=lambda: [0])

    # --- lifecycle ----------------------------------------------------------------------------

    @property
    def app(self) -> web.Application:
        """The running application."""
        assert self.server is not None, "the broker is not running"
        return self.server.app

    @property
    def db(self) -> Database:
        """The app's database."""
        return self.app[DATABASE]

    @property
    def broker_keys(self) -> dict[str, PublicKey]:
        """The broker's public keys by kid."""
        return self.app[SIGNER].public_keys

    async def stop(self) -> None:
        """Close the client and the server (runs the app's cleanup)."""
        if self.client is not None:
            await self.client.close()
            self.client = None
        if self.server is not None:
            await self.server.close()
            self.server = None

    # --- time ---------------------------------------------------------------------------------

    async def fire_due(self) -> int:
        """Run the deadline service for everything due now (what the wake-up job does)."""
        return await self.app[TIMERS].run_due()

    async def advance(
        self, seconds: float = 0.0, *, minutes: float = 0.0, hours: float = 0.0
    ) -> int:
        """Move the clock, then fire what became due; return how many timers were due."""
        self.clock.advance(seconds, minutes=minutes, hours=hours)
        return await self.fire_due()

    async def verify_broker_jws(self, token: str, expected_type: str) -> dict[str, Any]:
        """Verify a broker-signed JWS with the keys published at /v1/broker/jwks."""
        jwks = (await self.get("/v1/broker/jwks")).body
        keys = {k["kid"]: load_public(k) for k in jwks["keys"]}
        signed = jws.verify(token, expected_type=expected_type, resolve_key=lambda kid: keys[kid])
        return signed.payload

    @staticmethod
    def iso(at: datetime) -> str:
        """Render an instant as the broker does."""
        return iso(at)

    async def deliver_webhooks(self) -> int:
        """Attempt every due webhook delivery now."""
        return await self.app[DISPATCHER].run_due()

    # --- HTTP ---------------------------------------------------------------------------------

    async def call(
        self,
        method: str,
        path: str,
        *,
        party: str | None = None,
        json: Any = None,
        data: bytes | str | None = None,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        """Send a request as ``party`` (or unauthenticated) and return the answer."""
        assert self.client is not None
        sent = dict(headers or {})
        if party is not None:
            sent.update(self.parties[party].headers)
        async with self.client.request(method, path, json=json, data=data, headers=sent) as resp:
            raw = await resp.read()
            body: Any = raw
            if raw and resp.content_type.endswith("json"):
                body = jsonlib.loads(raw)
            return Reply(resp.status, body, resp.headers, resp.content_type)

    async def get(self, path: str, *, party: str | None = None) -> Reply:
        """GET ``path`` as ``party``."""
        return await self.call("GET", path, party=party)

    async def post_jws(self, path: str, *, party: str, token: str) -> Reply:
        """POST ``{"jws": token}`` as ``party``."""
        return await self.call("POST", path, party=party, json={"jws": token})

    async def post_document(self, path: str, *, party: str, document: dict[str, Any]) -> Reply:
        """Sign ``document`` as ``party`` and POST it."""
        return await self.post_jws(path, party=party, token=self.parties[party].sign(document))

    # --- documents ----------------------------------------------------------------------------

    def _common(self, sender: str, message_type: str) -> dict[str, Any]:
        return {
            "message_type": message_type,
            "message_id": str(uuid.uuid4()),
            "sender": sender,
            "sent_at": iso(self.clock.now()),
        }

    def advance_information(self, authority: str, hsp: str) -> dict[str, Any]:
        """An Art. 3(2) advance information document."""
        return {
            **self._common(authority, "advance_information"),
            "recipient": hsp,
            "procedures": "Orders arrive through PERCI; acknowledge and remove within one hour.",
            "deadlines": "One hour from receipt (Art. 3(3)).",
            "contact_point": f"tco@{authority}.example.eu",
        }

    def removal_order(
        self,
        authority: str,
        hsp: str,
        *,
        emergency: bool = False,
        justification: str | None = "Imminent threat to life: ongoing attack livestream.",
        language: str | None = None,
    ) -> dict[str, Any]:
        """A complete Annex I removal order (no R2 flags)."""
        a, h = self.parties[authority], self.parties[hsp]
        self._counter[0] += 1
        now = iso(self.clock.now())
        cross_border = a.member_state != h.member_state
        emergency_block: dict[str, Any] = {"is_emergency": emergency}
        if emergency and justification is not None:
            emergency_block["justification"] = justification
        return {
            **self._common(authority, "removal_order"),
            "language": language or h.languages[0],
            "legal_basis": "Regulation (EU) 2021/784",
            "emergency": emergency_block,
            "section_a": {
                "issuing_member_state": a.member_state,
                "addressee": {"hsp_id": h.id, "name": h.name},
                "contact_point": f"tco@{h.id}.example.com",
                "hsp_member_state": h.member_state,
                "issued_at": now,
                "reference_number": f"{a.id.upper()}-2026-{self._counter[0]:05d}",
            },
            "section_b": {
                "content": [{"url": f"https://{h.id}.example.com/v/{self._counter[0]}"}],
                "reasons": ["a", "d"],
                "reasons_details": "Video inciting attacks and giving instructions.",
            },
            "section_c": {"nondisclosure": False},
            "section_d": {
                "host_member_state_differs": cross_border,
                "copy_sent_to_host_authority": cross_border,
            },
            "section_e": {
                "authority_type": "law_enforcement",
                "authority_name": a.name,
                "representative_name": "A. Officer",
                "representative_post": "Kriminalhauptkommissarin",
                "file_number": f"F-{self._counter[0]}",
                "address": "1 Main Street, Capital",
                "telephone": "+4961155000",
                "email": f"tco@{a.id}.example.eu",
                "date": now[:10],
                "signature": {"channel_authenticated": True},
            },
            "section_f": {"feedback_contact": {"email": f"feedback@{a.id}.example.eu"}},
            "section_g": {
                "competent_body": "Administrative court of the issuing Member State",
                "appeal_deadline": {"duration": "P1M", "starts_from": "receipt of the order"},
                "national_provision_url": "https://example.eu/law/tco",
            },
        }

    def _response_section_a(self, order: dict[str, Any]) -> dict[str, Any]:
        return {
            "addressee": self.parties[order["hsp_id"]].name,
            "issuing_authority": self.parties[order["authority_id"]].name,
            "issuing_file_reference": order["reference_number"],
            "order_received_at": order["received_at"],
        }

    def acknowledgement(
        self, order: dict[str, Any], *, sender: str | None = None
    ) -> dict[str, Any]:
        """The HSP's acknowledgement of ``order`` (an OrderView)."""
        return {
            **self._common(sender or order["hsp_id"], "acknowledgement"),
            "order_id": order["order_id"],
            "order_sha256": jws.document_hash(order["document"]),
        }

    def feedback(
        self, order: dict[str, Any], *, measure_at: datetime | None = None
    ) -> dict[str, Any]:
        """An Annex II for ``order``; the measure defaults to now."""
        hsp = self.parties[order["hsp_id"]]
        return {
            **self._common(hsp.id, "feedback"),
            "order_id": order["order_id"],
            "section_a": self._response_section_a(order),
            "section_b": {
                "measure": "removed",
                "measure_at": iso(measure_at or self.clock.now()),
            },
            "section_c": {
                "hsp_name": hsp.name,
                "member_state": hsp.member_state,
                "authorised_person": "T. Safety",
                "contact_email": f"tco@{hsp.id}.example.com",
                "date": iso(self.clock.now())[:10],
            },
        }

    def impossibility(self, order: dict[str, Any], *reasons: str) -> dict[str, Any]:
        """An Annex III for ``order`` with ``reasons`` (default force majeure)."""
        hsp = self.parties[order["hsp_id"]]
        chosen = list(reasons or ("force_majeure",))
        section_b: dict[str, Any] = {
            "reasons": chosen,
            "further_information": "Data centre outage.",
        }
        if {"manifest_errors", "insufficient_information"} & set(chosen):
            section_b["clarification_required"] = "The URL does not resolve; which item is meant?"
        return {
            **self._common(hsp.id, "impossibility"),
            "order_id": order["order_id"],
            "section_a": self._response_section_a(order),
            "section_b": section_b,
            "section_c": {
                "hsp_name": hsp.name,
                "authorised_person": "T. Safety",
                "contact_email": f"tco@{hsp.id}.example.com",
                "signed_at": iso(self.clock.now()),
            },
        }

    def grounds_ceased(self, order: dict[str, Any]) -> dict[str, Any]:
        """The HSP's notice that the force majeure ended (Art. 3(7))."""
        return {
            **self._common(order["hsp_id"], "grounds_ceased"),
            "order_id": order["order_id"],
            "ceased_at": iso(self.clock.now()),
            "explanation": "Power restored.",
        }

    def clarification(self, order: dict[str, Any]) -> dict[str, Any]:
        """The authority's clarification (Art. 3(8))."""
        return {
            **self._common(order["authority_id"], "clarification"),
            "order_id": order["order_id"],
            "clarification": "The item is the second video on the page.",
        }

    def withdrawal(self, order: dict[str, Any]) -> dict[str, Any]:
        """The authority's withdrawal of ``order``."""
        return {
            **self._common(order["authority_id"], "withdrawal"),
            "order_id": order["order_id"],
            "reason": "Content already removed by another order.",
        }

    # --- flows --------------------------------------------------------------------------------

    async def introduce(self, authority: str, hsp: str) -> Reply:
        """Send advance information and let 12 hours pass (R4)."""
        reply = await self.post_document(
            "/v1/advance-information",
            party=authority,
            document=self.advance_information(authority, hsp),
        )
        assert reply.status == 201, reply.body
        await self.advance(hours=12)
        return reply

    async def issue(
        self, authority: str = "de-bka", hsp: str = "hsp-alpha", **kwargs: Any
    ) -> dict[str, Any]:
        """Issue a removal order (emergency by default, so no advance information is needed)."""
        kwargs.setdefault("emergency", True)
        reply = await self.post_document(
            "/v1/orders", party=authority, document=self.removal_order(authority, hsp, **kwargs)
        )
        assert reply.status == 201, reply.body
        order: dict[str, Any] = reply.body["order"]
        return order

    async def order(self, order_id: str, *, party: str) -> dict[str, Any]:
        """The OrderView as ``party`` sees it."""
        reply = await self.get(f"/v1/orders/{order_id}", party=party)
        assert reply.status == 200, reply.body
        view: dict[str, Any] = reply.body
        return view

    async def history(self, order_id: str, *, party: str) -> list[dict[str, Any]]:
        """The order's events as ``party`` sees them."""
        reply = await self.get(f"/v1/orders/{order_id}/history", party=party)
        assert reply.status == 200, reply.body
        events: list[dict[str, Any]] = reply.body["events"]
        return events


async def register_demo(
    db: Database, *, now: datetime, specs: tuple[ParticipantSpec, ...] = DEMO_PARTICIPANTS
) -> dict[str, Party]:
    """Register ``specs`` through the registry and return them as parties."""
    parties: dict[str, Party] = {}
    for spec in specs:
        token = f"tok-{spec.id}-{uuid.uuid4().hex}"
        key = generate(spec.alg)
        await registry.add_participant(
            db,
            id=spec.id,
            role=spec.role,
            name=spec.name,
            member_state=spec.member_state,
            languages=list(spec.languages),
            contact_point=f"tco@{spec.id}.example",
            token=token,
            now=now,
            legal_representative_member_state=spec.legal_representative_member_state,
        )
        kid = await registry.add_key(db, participant_id=spec.id, public_key=key.public, now=now)
        parties[spec.id] = Party(
            id=spec.id,
            role=spec.role,
            name=spec.name,
            member_state=spec.member_state,
            languages=spec.languages,
            token=token,
            key=key,
            kid=kid,
        )
    return parties


BrokerFactory = Callable[..., Awaitable[Broker]]


@pytest.fixture(autouse=True)
def _reset_structlog() -> Iterator[None]:
    """Undo any structlog configuration a test made (e.g. a CLI's ``configure_logging``).

    A configured PrintLogger keeps the stream it was given; once pytest closes that
    captured stream, every later log line would fail with "I/O operation on closed file".
    """
    yield
    structlog.reset_defaults()
    structlog.contextvars.clear_contextvars()


@pytest.fixture
def manual_clock() -> ManualClock:
    """A clock at 2026-11-25T10:00Z that moves only when advanced."""
    return ManualClock()


@pytest.fixture
async def broker(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    aiohttp_server: Callable[..., Awaitable[TestServer]],
    aiohttp_client: Callable[..., Awaitable[TestClient[web.Request, web.Application]]],
) -> AsyncIterator[BrokerFactory]:
    """Factory: a started broker with the demo participants (see the module docstring).

    ``await broker(like=other)`` starts another app on ``other``'s home, database,
    clock and parties (a restart, or a second instance on the same SQLite file).
    """
    started: list[Broker] = []
    databases: list[Any] = []
    on_postgres = os.environ.get(BROKER_BACKEND_ENV, "sqlite") == "postgresql"

    async def make(
        *,
        like: Broker | None = None,
        clock: ManualClock | None = None,
        settings: Settings | None = None,
        start: bool = True,
    ) -> Broker:
        if like is not None:
            harness = Broker(
                home=like.home,
                clock=clock or like.clock,
                settings=settings or like.settings,
                parties=like.parties,
            )
        else:
            home = tmp_path / f"home-{len(started)}"
            chosen = clock or ManualClock()
            base = Settings(home=home, webhook_max_backoff_s=8.0)
            url = f"sqlite+aiosqlite:///{home / 'perci.db'}"
            if on_postgres:
                database = postgres_database()
                url = await database.__aenter__()
                databases.append(database)
                # The in-process CLI commands of a test reach the same database.
                monkeypatch.setenv("PERCI_DATABASE_URL", url)
            base = replace(base, database_url=url)
            db = await open_database(base.resolved_database_url)
            try:
                parties = await register_demo(db, now=chosen.now())
            finally:
                await db.close()
            harness = Broker(home=home, clock=chosen, settings=settings or base, parties=parties)
        if start:
            await start_broker(harness)
        started.append(harness)
        return harness

    async def start_broker(harness: Broker) -> None:
        app = create_app(harness.settings, clock=harness.clock)
        harness.server = await aiohttp_server(app)
        harness.client = await aiohttp_client(harness.server)

    yield make
    for harness in reversed(started):
        await harness.stop()
    for database in reversed(databases):
        await database.__aexit__(None, None, None)


@pytest.fixture
async def webhook_sink(
    aiohttp_server: Callable[..., Awaitable[TestServer]],
) -> WebhookSink:
    """A small HTTP server that records webhook POSTs and fails the first ``fail_first``."""
    sink = WebhookSink()
    app = web.Application()
    app.router.add_post("/hook", sink.handle)
    server = await aiohttp_server(app)
    sink.url = str(server.make_url("/hook"))
    return sink


@dataclass(slots=True)
class WebhookSink:
    """Records webhook bodies; answers 503 to the first ``fail_first`` calls."""

    url: str = ""
    fail_first: int = 0
    calls: int = 0
    received: list[dict[str, Any]] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        """The webhook endpoint."""
        self.calls += 1
        if self.calls <= self.fail_first:
            return web.Response(status=503)
        self.received.append(await request.json())
        return web.Response(status=204)
