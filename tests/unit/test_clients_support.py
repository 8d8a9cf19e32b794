"""The client SDKs' shared core, and the fake broker the client tests run against.

``FakeBroker`` is a small aiohttp application speaking docs/API.md: it checks
every document's signature with the sender's registered key and against the
shipped JSON Schemas, enforces R9 by exact string comparison, signs receipts
and serves the poll feed and the WebSocket feed.  Tests can make it misbehave
(wrong receipt hash, rogue receipt key, problem answers, feed outage).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import subprocess
import sys
import uuid
from contextlib import aclosing
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from pytest_aiohttp import AiohttpServer

from authority_client import AuthorityClient, BrokerUnavailable, ProblemError
from perci_schemas import (
    client_errors,
    client_support,
    client_views,
    credentials,
    jws,
    keys,
    validation,
)
from perci_schemas.client_errors import InputError, ProblemBase
from perci_schemas.client_views import format_time, parse_time
from perci_schemas.credentials import load_credentials

BROKER_KID = "broker#1"
PUBLIC_PATHS = ("/v1/health", "/v1/clock", "/v1/broker/jwks")
_ACTIONS = {
    "acknowledgement": ("acknowledgement", "acknowledgement_received"),
    "feedback": ("feedback", "feedback_received"),
    "impossibility": ("impossibility", "impossibility_received"),
    "grounds-ceased": ("grounds_ceased", "grounds_ceased_received"),
    "clarification": ("clarification", "clarification_received"),
    "withdrawal": ("withdrawal", "withdrawal_received"),
}
OPEN_STATES = {"delivered", "acknowledged", "suspended_force_majeure", "clarification_requested"}


@dataclass
class Party:
    """A registered participant of the fake broker."""

    id: str
    role: str
    name: str
    member_state: str
    languages: list[str]
    contact_point: str
    key: keys.KeyPair = field(default_factory=keys.generate)
    token: str = field(default_factory=lambda: uuid.uuid4().hex)
    webhook_url: str | None = None

    @property
    def kid(self) -> str:
        return f"{self.id}#1"

    def view(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "role": self.role,
            "name": self.name,
            "member_state": self.member_state,
            "legal_representative_member_state": None,
            "languages": self.languages,
            "contact_point": self.contact_point,
            "webhook_url": self.webhook_url,
            "keys": [
                {
                    "kid": self.kid,
                    "alg": self.key.alg,
                    "jwk": {**self.key.public.to_jwk(), "kid": self.kid},
                    "status": "active",
                    "created_at": "2026-11-01T09:00:00.000+00:00",
                    "revoked_at": None,
                }
            ],
        }


PARTY = web.RequestKey("party", Party)


def problem(status: int, code: str, detail: str, **extra: Any) -> web.Response:
    body = {
        "type": f"https://perci-sim.eu/problems/{code}",
        "title": code.replace("_", " ").capitalize(),
        "status": status,
        "detail": detail,
        "code": code,
        **extra,
    }
    return web.json_response(body, status=status, content_type="application/problem+json")


class FakeBroker:
    """A small, strict stand-in for the broker (see the module docstring)."""

    def __init__(self) -> None:
        self.broker_key = keys.generate()
        self.receipt_key = self.broker_key  # tests swap in a rogue key
        self.receipt_hash: str | None = None  # tests make receipts name another hash
        self.clock_now: datetime | None = None  # fixed broker time, else real time
        self.clock_speed = 1.0
        self.feed_up = True
        self.feed_close_after: int | None = None  # drop the WebSocket after N events
        self.forced: dict[tuple[str, str], web.Response] = {}  # (method, path) -> answer
        #: (method, path) -> answers given once each, in order, before the real one.
        self.forced_once: dict[tuple[str, str], list[web.Response]] = {}
        self.calls: list[tuple[str, str]] = []
        self.parties: dict[str, Party] = {}
        self.orders: dict[str, dict[str, Any]] = {}
        self.events: list[dict[str, Any]] = []
        self.received: list[tuple[str, str]] = []  # (path, JWS) of every document
        self.feed_connections = 0
        self._listeners: list[asyncio.Queue[dict[str, Any]]] = []
        self.url = "http://127.0.0.1:9"  # replaced by start_broker()
        self.authority = self.add("de-bka", "authority", "Bundeskriminalamt", "DE", ["de", "en"])
        self.hsp = self.add("hsp-alpha", "hsp", "HSP Alpha Ltd", "IE", ["en", "ga"])

    # ---- set-up helpers

    def add(self, pid: str, role: str, name: str, ms: str, languages: list[str]) -> Party:
        party = Party(pid, role, name, ms, languages, f"tco@{pid}.example.com")
        self.parties[pid] = party
        return party

    def credentials(self, party: Party, directory: Path, **extra: Any) -> Path:
        path = directory / f"{party.id}.json"
        data = {
            "broker_url": self.url,
            "participant_id": party.id,
            "role": party.role,
            "name": party.name,
            "member_state": party.member_state,
            "token": party.token,
            "kid": party.kid,
            "private_jwk": party.key.to_jwk(),
            **extra,
        }
        path.write_text(json.dumps(data), encoding="utf-8")
        return path

    def now(self) -> str:
        return format_time(self.clock_now or datetime.now(UTC))

    def received_documents(self, message_type: str) -> list[dict[str, Any]]:
        """Payloads of the documents of ``message_type`` received so far."""
        found = []
        for _, token in self.received:
            header = jws.peek_header(token)
            if header["typ"] == f"perci.{message_type.replace('_', '-')}+jws":
                payload = token.split(".")[1]
                found.append(
                    json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
                )
        return found

    def create_order(
        self, *, key: keys.KeyPair | None = None, hsp_id: str = "hsp-alpha", **members: Any
    ) -> dict[str, Any]:
        """Store an order from de-bka as if it had been POSTed (optionally mis-signed)."""
        document = {
            "message_type": "removal_order",
            "message_id": str(uuid.uuid4()),
            "sender": "de-bka",
            "sent_at": self.now(),
            "language": "en",
            "section_a": {
                "issuing_member_state": "DE",
                "addressee": {"hsp_id": hsp_id, "name": "HSP Alpha Ltd"},
                "reference_number": f"BKA-{uuid.uuid4().hex[:6]}",
            },
            "section_b": {
                "content": [{"url": "https://video.example.com/watch?v=x7Tq9"}],
                "reasons": ["a"],
                "reasons_details": "Calls for attacks on public gatherings.",
            },
            **members,
        }
        token = jws.sign(
            document, key=key or self.authority.key, kid="de-bka#1", message_type="removal_order"
        )
        return self._store_order(token, document)

    # ---- the app

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware])
        app.router.add_get("/v1/health", self._health)
        app.router.add_get("/v1/clock", self._clock)
        app.router.add_get("/v1/broker/jwks", self._jwks)
        app.router.add_get("/v1/participants", self._participants)
        app.router.add_get("/v1/participants/me", self._me)
        app.router.add_put("/v1/participants/me/webhook", self._webhook)
        app.router.add_post("/v1/advance-information", self._advance_information)
        app.router.add_post("/v1/orders", self._issue)
        app.router.add_get("/v1/orders", self._list)
        app.router.add_get("/v1/orders/{order_id}", self._get)
        app.router.add_get("/v1/orders/{order_id}/history", self._history)
        app.router.add_post("/v1/orders/{order_id}/{action}", self._act)
        app.router.add_get("/v1/inbox", self._inbox)
        app.router.add_get("/v1/events", self._events)
        app.router.add_get("/v1/feed", self._feed)
        return app

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        self.calls.append((request.method, request.path))
        once = self.forced_once.get((request.method, request.path))
        if once:
            return once.pop(0)
        forced = self.forced.get((request.method, request.path))
        if forced is not None:
            return forced
        if request.path not in PUBLIC_PATHS:
            token = request.headers.get("Authorization", "").removeprefix("Bearer ")
            party = next((p for p in self.parties.values() if p.token == token), None)
            if party is None:
                return problem(401, "unauthenticated", "no valid bearer token")
            request[PARTY] = party
        response: web.StreamResponse = await handler(request)
        return response

    async def _health(self, _: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def _clock(self, _: web.Request) -> web.Response:
        return web.json_response({"now": self.now(), "speed": self.clock_speed})

    async def _jwks(self, _: web.Request) -> web.Response:
        return web.json_response({"keys": [{**self.broker_key.public.to_jwk(), "kid": BROKER_KID}]})

    async def _participants(self, _: web.Request) -> web.Response:
        return web.json_response({"participants": [p.view() for p in self.parties.values()]})

    async def _me(self, request: web.Request) -> web.Response:
        return web.json_response(request[PARTY].view())

    async def _webhook(self, request: web.Request) -> web.Response:
        request[PARTY].webhook_url = (await request.json())["url"]
        return web.json_response(request[PARTY].view())

    async def _advance_information(self, request: web.Request) -> web.Response:
        accepted = await self._verify(request, "advance_information")
        if isinstance(accepted, web.Response):
            return accepted
        token, payload = accepted
        event = self._event("advance_information_received", payload["sender"], None, token)
        return web.json_response({"receipt": self._receipt(event, token, payload)}, status=201)

    async def _issue(self, request: web.Request) -> web.Response:
        accepted = await self._verify(request, "removal_order")
        if isinstance(accepted, web.Response):
            return accepted
        token, payload = accepted
        order = self._store_order(token, payload)
        event = next(e for e in self.events if e["document"] == token)
        receipt = self._receipt(event, token, payload)
        return web.json_response({"order": order, "receipt": receipt}, status=201)

    async def _act(self, request: web.Request) -> web.Response:
        order = self.orders.get(request.match_info["order_id"])
        if order is None or request.match_info["action"] not in _ACTIONS:
            return problem(404, "not_found", "no such order")
        message_type, kind = _ACTIONS[request.match_info["action"]]
        accepted = await self._verify(request, message_type)
        if isinstance(accepted, web.Response):
            return accepted
        token, doc = accepted
        if doc["order_id"] != order["order_id"]:
            return problem(422, "wrong_order", "document names another order")
        if order["state"] not in OPEN_STATES:
            return problem(409, "illegal_transition", f"order is {order['state']}")
        section_a = doc.get("section_a")
        if section_a is not None and section_a["order_received_at"] != order["received_at"]:
            return problem(422, "receipt_time_mismatch", "order_received_at is not the record")
        if message_type == "acknowledgement" and doc["order_sha256"] != jws.document_hash(
            order["document"]
        ):
            return problem(422, "wrong_order", "order_sha256 does not match")
        event = self._event(kind, doc["sender"], order["order_id"], token)
        self._transition(order, message_type, doc, event["received_at"])
        receipt = self._receipt(event, token, doc)
        return web.json_response({"order": order, "receipt": receipt}, status=201)

    async def _list(self, request: web.Request) -> web.Response:
        orders = self._visible_orders(request[PARTY])
        if "state" in request.query:
            orders = [o for o in orders if o["state"] == request.query["state"]]
        return web.json_response({"orders": orders})

    async def _get(self, request: web.Request) -> web.Response:
        order = self.orders.get(request.match_info["order_id"])
        if order is None or order not in self._visible_orders(request[PARTY]):
            return problem(404, "not_found", "no such order")
        return web.json_response(order)

    async def _history(self, request: web.Request) -> web.Response:
        order_id = request.match_info["order_id"]
        return web.json_response({"events": [e for e in self.events if e["order_id"] == order_id]})

    async def _inbox(self, request: web.Request) -> web.Response:
        mine = [o for o in self._visible_orders(request[PARTY]) if o["state"] in OPEN_STATES]
        return web.json_response({"orders": mine})

    async def _events(self, request: web.Request) -> web.Response:
        after = int(request.query.get("after", 0))
        limit = int(request.query.get("limit", 1000))
        party = request[PARTY]
        found = [e for e in self.events if e["seq"] > after and self._visible(e, party)][:limit]
        return web.json_response(
            {"events": found, "last_seq": found[-1]["seq"] if found else after}
        )

    async def _feed(self, request: web.Request) -> web.StreamResponse:
        if not self.feed_up:
            return problem(503, "unavailable", "feed down")
        self.feed_connections += 1
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._listeners.append(queue)
        party, cursor, sent = request[PARTY], int(request.query.get("after", 0)), 0
        try:
            for event in list(self.events):
                queue.put_nowait(event)
            while not ws.closed:
                event = await queue.get()
                if event["seq"] <= cursor or not self._visible(event, party):
                    continue
                cursor = event["seq"]
                await ws.send_json({"type": "event", "event": event})
                sent += 1
                if self.feed_close_after is not None and sent >= self.feed_close_after:
                    break
        finally:
            self._listeners.remove(queue)
            await ws.close()
        return ws

    # ---- internals

    async def _verify(
        self, request: web.Request, message_type: str
    ) -> tuple[str, dict[str, Any]] | web.Response:
        token = (await request.json())["jws"]
        self.received.append((request.path, token))

        def resolve(kid: str) -> keys.PublicKey:
            party = self.parties.get(kid.split("#")[0])
            if party is None or kid != party.kid:
                raise jws.JWSError("unknown_key", f"no key {kid}")
            return party.key.public

        try:
            signed = jws.verify(token, expected_type=message_type, resolve_key=resolve)
        except jws.JWSError as exc:
            return problem(422, exc.reason, exc.message)
        try:
            validation.validate(message_type, signed.payload)
        except validation.SchemaViolation as exc:
            errors = [{"field": e.field, "message": e.message} for e in exc.errors]
            return problem(422, "schema_violation", "invalid document", errors=errors)
        sender = request[PARTY].id
        if signed.payload["sender"] != sender or not signed.kid.startswith(f"{sender}#"):
            return problem(403, "wrong_signer", "signer is not the authenticated participant")
        return token, signed.payload

    def _store_order(self, token: str, payload: dict[str, Any]) -> dict[str, Any]:
        received = self.now()
        order_id = str(uuid.uuid4())
        order = {
            "order_id": order_id,
            "reference_number": payload["section_a"]["reference_number"],
            "authority_id": payload["sender"],
            "hsp_id": payload["section_a"]["addressee"]["hsp_id"],
            "state": "delivered",
            "language": payload["language"],
            "emergency": bool(payload.get("emergency", {}).get("is_emergency")),
            "flags": [],
            "received_at": received,
            "clock_started_at": received,
            "deadline_at": _plus_hour(received),
            "measure_at": None,
            "suspended_reason": None,
            "created_at": received,
            "updated_at": received,
            "document": token,
        }
        self.orders[order_id] = order
        self._event("order_received", payload["sender"], order_id, token)
        self._event("order_delivered", "broker", order_id, None)
        return order

    def _transition(
        self, order: dict[str, Any], message_type: str, doc: dict[str, Any], at: str
    ) -> None:
        if message_type == "acknowledgement":
            order["state"] = "acknowledged"
        elif message_type == "feedback":
            order["state"], order["measure_at"] = "executed", doc["section_b"]["measure_at"]
            order["deadline_at"] = None
        elif message_type == "impossibility":
            force_majeure = "force_majeure" in doc["section_b"]["reasons"]
            order["state"] = (
                "suspended_force_majeure" if force_majeure else "clarification_requested"
            )
            order["suspended_reason"] = ",".join(doc["section_b"]["reasons"])
            order["deadline_at"] = None
        elif message_type in ("grounds_ceased", "clarification"):
            order["state"], order["clock_started_at"] = "delivered", at
            order["deadline_at"], order["suspended_reason"] = _plus_hour(at), None
        elif message_type == "withdrawal":
            order["state"], order["deadline_at"] = "withdrawn", None
        order["updated_at"] = at

    def _event(
        self, kind: str, actor: str, order_id: str | None, token: str | None
    ) -> dict[str, Any]:
        prev = self.events[-1]["hash"] if self.events else "0" * 64
        event_id = str(uuid.uuid4())
        event: dict[str, Any] = {
            "seq": len(self.events) + 1,
            "event_id": event_id,
            "order_id": order_id,
            "kind": kind,
            "actor": actor,
            "received_at": self.now(),
            "document": token,
            "document_sha256": jws.document_hash(token) if token else None,
            "data": {},
            "prev_hash": prev,
            "hash": hashlib.sha256(f"{prev}{event_id}".encode()).hexdigest(),
        }
        self.events.append(event)
        for listener in self._listeners:
            listener.put_nowait(event)
        return event

    def _receipt(self, event: dict[str, Any], token: str, payload: dict[str, Any]) -> str:
        body = {
            "event_id": event["event_id"],
            "seq": event["seq"],
            "order_id": event["order_id"],
            "message_type": payload["message_type"],
            "message_id": payload["message_id"],
            "sender": payload["sender"],
            "document_sha256": self.receipt_hash or jws.document_hash(token),
            "received_at": event["received_at"],
            "event_hash": event["hash"],
        }
        validation.validate("receipt", body)
        return jws.sign(body, key=self.receipt_key, kid=BROKER_KID, message_type="receipt")

    def _visible_orders(self, party: Party) -> list[dict[str, Any]]:
        return [o for o in self.orders.values() if party.id in (o["authority_id"], o["hsp_id"])]

    def _visible(self, event: dict[str, Any], party: Party) -> bool:
        if event["actor"] == party.id:
            return True
        order = self.orders.get(event["order_id"] or "")
        return order is not None and party.id in (order["authority_id"], order["hsp_id"])


def _plus_hour(moment: str) -> str:
    return format_time(parse_time(moment) + timedelta(hours=1))


async def start_broker(aiohttp_server: AiohttpServer) -> FakeBroker:
    """Start a fresh fake broker on a local port."""
    broker = FakeBroker()
    server = await aiohttp_server(broker.app())
    broker.url = str(server.make_url("")).rstrip("/")
    return broker


async def wait_for(condition: Any, within: float = 5.0) -> None:
    """Wait until ``condition()`` is true (polling the event loop)."""
    loop = asyncio.get_running_loop()
    until = loop.time() + within
    while not condition():
        if loop.time() > until:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.01)


# ------------------------------------------------------------------------ tests


@pytest.fixture
async def broker(aiohttp_server: AiohttpServer) -> FakeBroker:
    return await start_broker(aiohttp_server)


class TestCredentials:
    def test_loads_the_file_perci_sim_init_writes(self, tmp_path: Path) -> None:
        """Every member is read and the private JWK becomes a key pair."""
        fake = FakeBroker()
        creds = load_credentials(fake.credentials(fake.authority, tmp_path, telephone="+4961155"))
        assert (creds.participant_id, creds.role, creds.kid) == ("de-bka", "authority", "de-bka#1")
        assert creds.key.public.thumbprint == fake.authority.key.public.thumbprint
        assert creds.profile == {"telephone": "+4961155"}

    def test_environment_variable_names_the_file(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Without a path, $PERCI_CREDENTIALS is used; without either, a clear error."""
        fake = FakeBroker()
        monkeypatch.delenv("PERCI_CREDENTIALS", raising=False)
        with pytest.raises(InputError, match="PERCI_CREDENTIALS"):
            load_credentials()
        monkeypatch.setenv("PERCI_CREDENTIALS", str(fake.credentials(fake.hsp, tmp_path)))
        assert load_credentials().participant_id == "hsp-alpha"

    def test_missing_members_and_wrong_role_are_refused(self, tmp_path: Path) -> None:
        """A file without a token, or an HSP's file given to the authority SDK, is refused."""
        path = tmp_path / "c.json"
        path.write_text(json.dumps({"broker_url": "http://x", "participant_id": "a"}))
        with pytest.raises(InputError, match="token"):
            load_credentials(path)
        fake = FakeBroker()
        with pytest.raises(InputError, match="role 'hsp'"):
            AuthorityClient.from_credentials(fake.credentials(fake.hsp, tmp_path))


class TestModuleLayout:
    def test_client_support_re_exports_the_shared_core(self) -> None:
        """Every public name of ``client_support`` is the object its own module defines."""
        homes = (client_errors, client_views, credentials)
        for name in client_support.__all__:
            value = getattr(client_support, name)
            owners = [m for m in homes if name in m.__all__]
            if name == "BrokerClient":
                assert value.__module__ == "perci_schemas.client_support"
            else:
                assert len(owners) == 1, name
                assert getattr(owners[0], name) is value, name

    def test_sdks_and_cli_helpers_do_not_import_rich(self) -> None:
        """``rich`` is imported only when a table is printed (structlog may load it itself)."""
        code = (
            "import sys\n"
            "import authority_client, authority_client._cli, perci_schemas.client_cli\n"
            "assert not [m for m in sys.modules if m.split('.')[0] == 'rich'], 'rich imported'\n"
        )
        subprocess.run([sys.executable, "-c", code], check=True, timeout=60)

    def test_sdk_core_does_not_import_the_cli_helpers(self) -> None:
        """Importing an SDK does not import ``client_cli``."""
        code = (
            "import sys\n"
            "import authority_client\n"
            "assert 'perci_schemas.client_cli' not in sys.modules\n"
        )
        subprocess.run([sys.executable, "-c", code], check=True, timeout=60)

    def test_key_id_of_another_participant_is_refused(self, tmp_path: Path) -> None:
        """A kid that is not ``<participant_id>#n`` makes the file unusable (InputError)."""
        fake = FakeBroker()
        path = fake.credentials(fake.authority, tmp_path)
        data = json.loads(path.read_text())
        path.write_text(json.dumps({**data, "kid": "fr-ocrim#1"}))
        with pytest.raises(InputError, match="'fr-ocrim#1' does not belong to 'de-bka'"):
            load_credentials(path)


class TestTimesAndProblems:
    def test_format_time_is_the_broker_form(self) -> None:
        """UTC, millisecond precision, +00:00; naive datetimes are refused."""
        moment = datetime(2026, 11, 25, 11, 0, 0, 123456, tzinfo=UTC) + timedelta(hours=0)
        assert format_time(moment) == "2026-11-25T11:00:00.123+00:00"
        with pytest.raises(ValueError, match="naive"):
            format_time(datetime(2026, 11, 25))

    def test_problem_message_is_one_line_with_field_errors(self) -> None:
        """The message names detail, code, status and each field error."""
        exc = ProblemBase(
            422, "schema_violation", "Invalid", "2 members\nare invalid", [{"field": "/a"}]
        )
        assert "\n" not in " ".join(str(exc).split())
        assert "schema_violation" in str(exc)
        assert "/a" in str(exc)


class TestBrokerClient:
    async def test_sent_at_carries_broker_time(self, broker: FakeBroker, tmp_path: Path) -> None:
        """Documents are stamped with the broker's (scaled) clock, not the local one."""
        broker.clock_now = datetime(2031, 1, 2, 3, 4, 5, tzinfo=UTC)
        async with AuthorityClient.from_credentials(
            broker.credentials(broker.authority, tmp_path)
        ) as client:
            await client.send_advance_information("hsp-alpha", "p", "d", "tco@de-bka.example.com")
        (sent,) = broker.received_documents("advance_information")
        assert sent["sent_at"].startswith("2031-01-02T03:04:")

    async def test_watch_reconnects_and_resumes_without_duplicates(
        self, broker: FakeBroker, tmp_path: Path
    ) -> None:
        """The feed drops after every event; watch resumes after the last seq seen."""
        for _ in range(2):
            broker.create_order()  # 4 events
        broker.feed_close_after = 1
        client = AuthorityClient.from_credentials(
            broker.credentials(broker.authority, tmp_path), feed_backoff=(0.01, 0.02)
        )
        seen: list[int] = []
        async with client, aclosing(client.watch(after=1)) as feed:
            async for event in feed:
                seen.append(event["seq"])
                if len(seen) == 3:
                    break
        assert seen == [2, 3, 4]
        assert broker.feed_connections >= 3

    async def test_watch_gives_up_after_max_failures(
        self, broker: FakeBroker, tmp_path: Path
    ) -> None:
        """With max_failures, a feed that keeps refusing raises BrokerUnavailable."""
        broker.feed_up = False
        client = AuthorityClient.from_credentials(
            broker.credentials(broker.authority, tmp_path), feed_backoff=(0.01, 0.02)
        )
        async with client:
            with pytest.raises(BrokerUnavailable):
                await anext(client.watch(max_failures=2))

    async def test_rate_limited_requests_wait_and_retry(
        self, broker: FakeBroker, tmp_path: Path
    ) -> None:
        """429 + Retry-After: the SDK waits that long and retries (a 429 changed nothing)."""

        def limited() -> web.Response:
            answer = problem(429, "rate_limited", "too many requests")
            answer.headers["Retry-After"] = "1"
            return answer

        broker.forced_once[("GET", "/v1/participants")] = [limited()]
        broker.forced_once[("POST", "/v1/advance-information")] = [limited(), limited()]
        async with AuthorityClient.from_credentials(
            broker.credentials(broker.authority, tmp_path), retries=2
        ) as client:
            started = asyncio.get_running_loop().time()
            await client.participant("hsp-alpha")
            await client.send_advance_information("hsp-alpha", "p", "d", "tco@de-bka.example.com")
            waited = asyncio.get_running_loop().time() - started
        assert waited >= 2.9  # three Retry-After: 1
        assert broker.calls.count(("POST", "/v1/advance-information")) == 3
        assert len(broker.received_documents("advance_information")) == 1

    async def test_rate_limit_beyond_the_retries_is_a_problem(
        self, broker: FakeBroker, tmp_path: Path
    ) -> None:
        """Still limited after the retries: a ProblemError with code rate_limited."""
        answer = problem(429, "rate_limited", "too many requests")
        answer.headers["Retry-After"] = "1"
        broker.forced[("GET", "/v1/participants")] = answer
        async with AuthorityClient.from_credentials(
            broker.credentials(broker.authority, tmp_path), retries=0
        ) as client:
            with pytest.raises(ProblemError) as info:
                await client.participant("hsp-alpha")
        assert (info.value.status, info.value.code) == (429, "rate_limited")

    async def test_unknown_participant_is_a_problem(
        self, broker: FakeBroker, tmp_path: Path
    ) -> None:
        """participant() re-reads the directory once, then reports not_found."""
        async with AuthorityClient.from_credentials(
            broker.credentials(broker.authority, tmp_path)
        ) as client:
            with pytest.raises(ProblemError) as info:
                await client.participant("nobody")
        assert info.value.code == "not_found"
