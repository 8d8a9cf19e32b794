"""The drill facilitator: reads the whole exchange, writes nothing, skips quiet periods.

The exchange is what `perci-sim init` creates (its `facilitator` participant and
credentials files), served on an ephemeral port; every party talks through its SDK.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from contextlib import aclosing
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from authority_client import AuthorityClient
from perci_schemas import jws
from perci_schemas.client_facilitator import FacilitatorClient, ProblemError
from perci_schemas.client_support import EventView, parse_time
from perci_schemas.credentials import load_credentials
from perci_sim.app import create_app
from perci_sim.bootstrap import credentials_path, init_home
from perci_sim.clock import Clock, ScaledClock, SystemClock
from perci_sim.settings import Settings
from platform_client import PlatformClient

START = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)


@dataclass(slots=True)
class Exchange:
    """A broker started from an `init` setup, and its parties' SDK clients."""

    server: TestServer
    clock: Clock
    home: Path

    @property
    def url(self) -> str:
        return str(self.server.make_url("")).rstrip("/")

    def facilitator(self) -> FacilitatorClient:
        return FacilitatorClient.from_credentials(
            credentials_path(self.home, "facilitator"), broker_url=self.url
        )

    def authority(self, participant_id: str = "de-bka") -> AuthorityClient:
        return AuthorityClient.from_credentials(
            credentials_path(self.home, participant_id), broker_url=self.url
        )

    def platform(self, participant_id: str = "hsp-alpha") -> PlatformClient:
        return PlatformClient.from_credentials(
            credentials_path(self.home, participant_id), broker_url=self.url
        )

    async def raw(
        self, method: str, path: str, *, party: str | None, json: Any = None
    ) -> tuple[int, Any]:
        """Send a request as ``party`` (its bearer token) outside the SDKs."""
        headers = {}
        if party is not None:
            token = load_credentials(credentials_path(self.home, party)).token
            headers["Authorization"] = f"Bearer {token}"
        async with (
            aiohttp.ClientSession() as session,
            session.request(method, f"{self.url}{path}", json=json, headers=headers) as resp,
        ):
            assert resp.content_type in ("application/json", "application/problem+json")
            return resp.status, await resp.json(content_type=None)


ExchangeFactory = Callable[[Clock], Awaitable[Exchange]]


@pytest.fixture(name="exchange")
async def _exchange(
    tmp_path: Path, aiohttp_server: Callable[..., Awaitable[TestServer]]
) -> ExchangeFactory:
    count = 0

    async def make(clock: Clock) -> Exchange:
        nonlocal count
        count += 1
        home = tmp_path / f"setup-{count}"
        await init_home(home, broker_url="http://unused.invalid", clock=clock)
        server = await aiohttp_server(create_app(Settings(home=home), clock=clock))
        return Exchange(server=server, clock=clock, home=home)

    return make


def _scaled(speed: float = 60.0) -> ScaledClock:
    return ScaledClock(start=START, speed=speed)


async def _issue(authority: AuthorityClient, hsp: str, n: int = 1) -> str:
    order = await authority.prepare_order(
        hsp_id=hsp,
        urls=[f"https://{hsp}.example/v/{n}"],
        reasons=["a", "d"],
        details="Instructions for making explosives, with calls to attack.",
        emergency_justification="Imminent threat to life: an attack is being livestreamed.",
    )
    issued = await authority.issue_order(order)
    return issued.order["order_id"]


def _due(event: EventView) -> str:
    data = event["data"]
    return str(data.get("due_at") or data.get("deadline_at"))


# ---- reading everything


async def test_facilitator_reads_every_order_and_event(exchange: ExchangeFactory) -> None:
    """Orders and events of every party: the order routes, the poll feed and the WebSocket."""
    ex = await exchange(_scaled(speed=1.0))
    async with (
        ex.facilitator() as fac,
        ex.authority("de-bka") as bka,
        ex.authority("fr-ocrim") as ocrim,
    ):
        mine = await _issue(bka, "hsp-alpha")
        theirs = await _issue(ocrim, "hsp-beta")

        # An authority sees its own order only; the facilitator sees both.
        assert [o["order_id"] for o in await bka.list_orders()] == [mine]
        assert {o["order_id"] for o in await fac.all_orders()} == {mine, theirs}
        assert {o["order_id"] for o in await fac.list_orders("delivered")} == {mine, theirs}
        for order_id, authority_id in ((mine, "de-bka"), (theirs, "fr-ocrim")):
            view = await fac.get_order(order_id)
            assert view["authority_id"] == authority_id
            kinds = [e["kind"] for e in await fac.history(order_id)]
            assert kinds[:2] == ["order_received", "order_delivered"]
            status, lifecycle = await ex.raw(
                "GET", f"/v1/orders/{order_id}/lifecycle", party="facilitator"
            )
            assert (status, lifecycle["order_id"]) == (200, order_id)

        received = await fac.all_events(kind="order_received")
        assert {e["order_id"] for e in received} == {mine, theirs}
        assert {e["order_id"] for e in (await bka.events()).events} == {mine}

        # The WebSocket feed: the replay, then an event of a third pair pushed live.
        async with aclosing(fac.watch(0)) as feed:
            seen: set[str | None] = set()
            async for event in feed:
                seen.add(event["order_id"])
                if {mine, theirs} <= seen:
                    break
            async with ex.authority("es-cgi") as cgi:
                pushed = await _issue(cgi, "hsp-gamma")

            async def next_of(order_id: str) -> EventView:
                async for event in feed:
                    if event["order_id"] == order_id:
                        return event
                raise AssertionError("the feed ended")

            live = await asyncio.wait_for(next_of(pushed), timeout=5)
            assert live["kind"] == "order_received"


async def test_facilitator_reads_every_referral(exchange: ExchangeFactory) -> None:
    """Referrals (R20) of every sender: the list, one referral and its history."""
    ex = await exchange(_scaled(speed=1.0))
    async with ex.facilitator() as fac, ex.authority("de-bka") as bka:
        sent = await bka.send_referral(
            "hsp-alpha", ["https://alpha.example/ref/1"], "Propaganda video"
        )
        referral_id = sent.item["referral_id"]
        status, body = await ex.raw("GET", "/v1/referrals", party="facilitator")
        assert status == 200
        assert [r["referral_id"] for r in body["referrals"]] == [referral_id]
        status, one = await ex.raw("GET", f"/v1/referrals/{referral_id}", party="facilitator")
        assert (status, one["sender_id"]) == (200, "de-bka")
        status, history = await ex.raw(
            "GET", f"/v1/referrals/{referral_id}/history", party="facilitator"
        )
        assert status == 200
        assert [e["kind"] for e in history["events"]][:1] == ["referral_received"]
        # Another authority still sees nothing of it.
        status, other = await ex.raw("GET", "/v1/referrals", party="fr-ocrim")
        assert (status, other["referrals"]) == (200, [])
        assert fac.participant_id == "facilitator"


async def test_facilitator_is_refused_on_every_write(exchange: ExchangeFactory) -> None:
    """Read-only: a facilitator's documents are refused with 403 `forbidden`."""
    ex = await exchange(_scaled(speed=1.0))
    creds = load_credentials(credentials_path(ex.home, "facilitator"))
    async with ex.authority() as bka:
        order_id = await _issue(bka, "hsp-alpha")
        document = await bka.prepare_order(
            hsp_id="hsp-alpha",
            urls=["https://hsp-alpha.example/v/9"],
            reasons=["a"],
            details="A video calling for attacks.",
            emergency_justification="Imminent threat to life.",
        )
    document.update(sender="facilitator", message_id="m-fac-1", sent_at="2026-11-25T10:00:00Z")
    token = jws.sign(document, key=creds.key, kid=creds.kid, message_type="removal_order")
    writes = [
        ("POST", "/v1/orders", {"jws": token}),
        ("POST", "/v1/advance-information", {"jws": token}),
        ("POST", f"/v1/orders/{order_id}/acknowledgement", {"jws": token}),
        ("POST", f"/v1/orders/{order_id}/withdrawal", {"jws": token}),
        ("POST", f"/v1/orders/{order_id}/scrutiny-decision", {"jws": token}),
        ("POST", "/v1/referrals", {"jws": token}),
        ("PUT", "/v1/participants/me/webhook", {"url": "https://fac.example/hook"}),
    ]
    for method, path, body in writes:
        status, problem = await ex.raw(method, path, party="facilitator", json=body)
        assert (status, problem["code"]) == (403, "forbidden"), path
    async with ex.facilitator() as fac:
        assert (await fac.get_order(order_id))["state"] == "delivered"
        assert [e["kind"] for e in await fac.all_events(kind="order_received")] == [
            "order_received"
        ]


# ---- skipping a quiet period


async def test_skip_fires_every_deadline_in_the_window(exchange: ExchangeFactory) -> None:
    """Past the hour: `deadline_missed` within a wall second, in due order, seen by all."""
    ex = await exchange(_scaled(speed=60.0))  # the hour would take a wall minute
    async with ex.facilitator() as fac, ex.authority() as bka, ex.platform() as alpha:
        first = await _issue(bka, "hsp-alpha", 1)
        second = await _issue(bka, "hsp-alpha", 2)
        before = await bka.clock()  # cached by the SDK for its estimates

        skip = await fac.advance_clock(by=timedelta(minutes=90))
        skipped_at = time.monotonic()
        start, end = parse_time(skip["from"]), parse_time(skip["to"])
        assert end - start == timedelta(minutes=90)
        assert skip["skipped_seconds"] == 5400.0
        assert parse_time(skip["now"]) == end
        assert skip["event"]["kind"] == "clock_advanced"
        assert skip["event"]["data"]["by"] == "facilitator"
        assert (await fac.clock()).now >= end  # GET /v1/clock answers the new time

        # The deadline wake-up was re-armed at once: both breaches within a wall second.
        while True:
            missed = await fac.all_events(kind="deadline_missed")
            if len(missed) == 2 or time.monotonic() - skipped_at > 1.0:
                break
            await asyncio.sleep(0.02)
        assert {e["order_id"] for e in missed} == {first, second}
        for order_id in (first, second):
            assert (await bka.get_order(order_id))["state"] == "overdue"

        # Recorded after the skip, at the new time, in due order (45, 55, 60 min).
        fired = [
            e
            for e in await fac.all_events(after=skip["event"]["seq"])
            if e["kind"] in ("deadline_warning", "deadline_missed")
        ]
        assert len(fired) == 6
        assert [_due(e) for e in fired] == sorted(_due(e) for e in fired)
        assert all(parse_time(e["received_at"]) >= end for e in fired)

        # Every party sees the skip; the SDK drops its cached clock reading on seeing it.
        assert before.now < end
        for client in (bka, alpha):
            page = await client.events()
            (event,) = [e for e in page.events if e["kind"] == "clock_advanced"]
            assert event["data"]["from"] == skip["from"]
            assert event["data"]["to"] == skip["to"]
        assert await bka.broker_now() >= end
        async with aclosing(alpha.watch(0)) as feed:
            async for event in feed:
                if event["kind"] == "clock_advanced":
                    break
        assert (await alpha.sync_clock()).now >= end


async def test_skip_to_an_instant_and_never_backwards(exchange: ExchangeFactory) -> None:
    """`to` lands the clock there; an earlier `to` or a malformed body is 422."""
    ex = await exchange(_scaled(speed=1.0))
    async with ex.facilitator() as fac:
        now = (await fac.clock()).now
        target = now + timedelta(hours=3)
        skip = await fac.advance_clock(to=target)
        assert parse_time(skip["to"]) == target
        assert target <= (await fac.clock()).now < target + timedelta(seconds=5)

        with pytest.raises(ProblemError) as refused:
            await fac.advance_clock(to=now + timedelta(hours=1))
        assert (refused.value.status, refused.value.code) == (422, "clock_not_forward")
        assert (await fac.clock()).now < target + timedelta(seconds=5)  # unchanged

        bad_bodies: list[Any] = [
            {"by_seconds": 0},
            {"by_seconds": -60},
            {"by_seconds": "60"},
            {"by_seconds": True},
            {"to": "2030-01-01T00:00:00"},  # no offset
            {"to": "tomorrow"},
            {"to": skip["to"], "by_seconds": 60},
            {},
            {"by_seconds": 60, "speed": 2},
            [60],
        ]
        for body in bad_bodies:
            status, problem = await ex.raw(
                "POST", "/v1/clock/advance", party="facilitator", json=body
            )
            assert (status, problem["code"]) == (422, "schema_violation"), body
        skips = await fac.all_events(kind="clock_advanced")
        assert [e["data"]["to"] for e in skips] == [skip["to"]]


async def test_only_a_facilitator_may_skip(exchange: ExchangeFactory) -> None:
    """Authorities and HSPs get 403 (before the body is read); no token, 401."""
    ex = await exchange(_scaled())
    for party in ("de-bka", "hsp-alpha", "europol", "de-court"):
        status, problem = await ex.raw(
            "POST", "/v1/clock/advance", party=party, json={"by_seconds": 3600}
        )
        assert (status, problem["code"]) == (403, "forbidden"), party
    status, problem = await ex.raw("POST", "/v1/clock/advance", party=None, json={"by_seconds": 1})
    assert (status, problem["code"]) == (401, "unauthenticated")
    async with ex.facilitator() as fac:
        assert await fac.all_events(kind="clock_advanced") == []


async def test_production_clock_refuses_a_skip(exchange: ExchangeFactory) -> None:
    """On real time (SystemClock) the skip is a 409 problem and nothing is recorded."""
    ex = await exchange(SystemClock())
    async with ex.facilitator() as fac:
        with pytest.raises(ProblemError) as refused:
            await fac.advance_clock(by=3600)
        assert (refused.value.status, refused.value.code) == (409, "clock_not_adjustable")
        assert refused.value.body["type"].endswith("/clock_not_adjustable")
        assert await fac.all_events(kind="clock_advanced") == []
    with pytest.raises(ValueError, match="exactly one"):
        await FacilitatorClient.from_credentials(
            credentials_path(ex.home, "facilitator"), broker_url=ex.url
        ).advance_clock()


def test_facilitator_client_accepts_only_facilitator_credentials() -> None:
    """The SDK class takes credentials of role `facilitator`."""
    assert FacilitatorClient.accepted_roles() == frozenset({"facilitator"})


async def test_a_restarted_drill_broker_resumes_after_its_log(
    tmp_path: Path, aiohttp_server: Callable[..., Awaitable[TestServer]]
) -> None:
    """serve --speed N restarts its clock from the wall: it resumes after the last event."""
    home = tmp_path / "setup"
    first_clock = _scaled(speed=1.0)
    await init_home(home, broker_url="http://unused.invalid", clock=first_clock)
    server = await aiohttp_server(create_app(Settings(home=home), clock=first_clock))
    url = str(server.make_url("")).rstrip("/")
    async with FacilitatorClient.from_credentials(
        credentials_path(home, "facilitator"), broker_url=url
    ) as fac:
        await fac.advance_clock(by=timedelta(days=3))
        last = max(parse_time(e["received_at"]) for e in await fac.all_events())
    await server.close()
    assert last >= START + timedelta(days=3)

    # The restart: a new scaled clock from the same start, three days behind the log.
    second_clock = _scaled(speed=1.0)
    assert second_clock.now() < last
    restarted = await aiohttp_server(create_app(Settings(home=home), clock=second_clock))
    assert second_clock.now() > last
    async with AuthorityClient.from_credentials(
        credentials_path(home, "de-bka"), broker_url=str(restarted.make_url("")).rstrip("/")
    ) as bka:
        order_id = await _issue(bka, "hsp-alpha")
        (received,) = [e for e in await bka.history(order_id) if e["kind"] == "order_received"]
    assert parse_time(received["received_at"]) > last
