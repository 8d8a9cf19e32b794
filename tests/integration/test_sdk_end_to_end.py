"""Both SDKs and the platform daemon against a real broker on an ephemeral port.

The setup is what a new user gets from `perci-sim init`: its credentials files
are read by the SDKs exactly as the CLIs read them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from authority_client import AuthorityClient
from authority_client.errors import ProblemError
from perci_sim.api.keys import TIMERS
from perci_sim.app import create_app
from perci_sim.bootstrap import credentials_path, init_home
from perci_sim.settings import Settings
from platform_client import PlatformClient
from platform_client.client import VerifiedOrder
from platform_client.daemon import run_daemon
from platform_client.errors import ProblemError as PlatformProblem
from platform_client.handler import InsufficientInformation, Removal


@dataclass(slots=True)
class Exchange:
    """A broker started from an `init` setup, and the SDK clients of its parties."""

    server: TestServer
    clock: Any  # tests/conftest.py ManualClock
    home: Path

    @property
    def url(self) -> str:
        return str(self.server.make_url("")).rstrip("/")

    def authority(self, participant_id: str = "de-bka") -> AuthorityClient:
        return AuthorityClient.from_credentials(
            credentials_path(self.home, participant_id), broker_url=self.url
        )

    def platform(self, participant_id: str = "hsp-alpha") -> PlatformClient:
        return PlatformClient.from_credentials(
            credentials_path(self.home, participant_id), broker_url=self.url
        )

    async def advance(self, **kwargs: float) -> int:
        """Move broker time, then fire what is due (what the wake-up job does)."""
        self.clock.advance(**kwargs)
        app: web.Application = self.server.app
        return await app[TIMERS].run_due()


@pytest.fixture(name="exchange")
async def _exchange(
    tmp_path: Path, aiohttp_server: Callable[..., Awaitable[TestServer]], manual_clock: Any
) -> Exchange:
    # Frozen broker time: reported speed 0, so SDK estimates never run ahead of it.
    clock = manual_clock
    clock.speed = 0.0
    home = tmp_path / "setup"
    await init_home(home, broker_url="http://unused.invalid", clock=clock)
    server = await aiohttp_server(create_app(Settings(home=home), clock=clock))
    return Exchange(server=server, clock=clock, home=home)


async def _issue(
    authority: AuthorityClient, hsp: str = "hsp-alpha", *, emergency: str | None = None
) -> str:
    order = await authority.prepare_order(
        hsp_id=hsp,
        urls=[f"https://{hsp}.example/v/1"],
        reasons=["a", "d"],
        details="Instructions for making explosives, with calls to attack.",
        emergency_justification=emergency,
    )
    issued = await authority.issue_order(order)
    # The SDK verified the receipt: it names the document sent, signed by the broker.
    assert issued.receipt.document_sha256
    return issued.order["order_id"]


async def test_advance_information_then_order_then_annex_ii(exchange: Exchange) -> None:
    """R4 then R3/R8 through the SDKs: refused before 12 h, executed on time after."""
    async with exchange.authority() as bka, exchange.platform() as alpha:
        await bka.send_advance_information(
            "hsp-alpha", "Orders via perci-sim.", "One hour.", "tco@bka.example"
        )
        with pytest.raises(ProblemError) as refused:
            await _issue(bka)
        assert refused.value.code == "advance_information_missing"
        assert "not_before" in refused.value.body

        await exchange.advance(hours=12)
        await bka.clock()  # read the moved broker time
        await alpha.clock()
        order_id = await _issue(bka)
        (in_inbox,) = await alpha.inbox()
        assert in_inbox["order_id"] == order_id
        verified = await alpha.verify_order(in_inbox)
        assert verified.urls == ["https://hsp-alpha.example/v/1"]

        await alpha.acknowledge(order_id)
        exchange.clock.advance(minutes=20)
        await alpha.clock()
        # The content of this cross-border order is kept restorable (Art. 4(2)).
        await alpha.send_feedback(order_id, order=verified, reinstatable=True)

        view = await bka.get_order(order_id)
        assert view["state"] == "executed"
        assert view["flags"] == []
        kinds = [event["kind"] for event in await bka.history(order_id)]
        assert kinds == [
            "order_received",
            "order_delivered",
            "host_copy_delivered",  # R10, Art. 4(1): DE order, IE host
            "acknowledgement_received",
            "feedback_received",
        ]
        assert await alpha.inbox() == []


async def test_authority_watch_sees_the_breach(exchange: Exchange) -> None:
    """R8: a missed deadline reaches the issuing authority on its live feed."""
    async with exchange.authority() as bka, exchange.platform() as alpha:
        order_id = await _issue(bka, emergency="Livestreamed attack in progress.")
        seen: list[str] = []

        async def follow() -> None:
            async for event in bka.watch():
                seen.append(event["kind"])
                if event["kind"] == "deadline_missed":
                    return

        watcher = asyncio.create_task(follow())
        assert await exchange.advance(minutes=60) == 3  # two warnings and the deadline
        await asyncio.wait_for(watcher, timeout=10)
        assert seen == [
            "order_received",
            "order_delivered",
            "host_copy_delivered",  # R10, Art. 4(1)
            "deadline_warning",
            "deadline_warning",
            "deadline_missed",
        ]
        assert (await alpha.get_order(order_id))["state"] == "overdue"
        exchange.clock.advance(minutes=5)
        await alpha.clock()
        await alpha.send_feedback(order_id)
        assert (await bka.get_order(order_id))["state"] == "executed_late"


async def test_daemon_executes_and_asks_for_clarification(exchange: Exchange) -> None:
    """The daemon verifies, acknowledges, calls the handler, and answers Annex II or III;
    after the authority's clarification (fresh hour, R7) it handles the order again."""
    handled: list[str] = []

    async def handler(order: VerifiedOrder) -> Removal | None:
        handled.append(order.view["order_id"])
        if order.clarification is None and "unclear" in order.urls[0]:
            raise InsufficientInformation(
                "The URL is a channel with many videos.", "Which video is meant?"
            )
        return None

    async with exchange.authority() as bka, exchange.platform() as alpha:
        clear = await _issue(bka, emergency="Ongoing attack.")
        order = await bka.prepare_order(
            hsp_id="hsp-alpha",
            urls=["https://hsp-alpha.example/unclear"],
            reasons=["a"],
            details="Propaganda channel.",
        )
        unclear = (await bka.issue_order(order)).order["order_id"]

        stop = asyncio.Event()
        daemon = asyncio.create_task(run_daemon(alpha, handler, stop_event=stop))

        async def state_of(order_id: str, wanted: str) -> None:
            # Follow the authority's live feed until the order reaches ``wanted``.
            if (await bka.get_order(order_id))["state"] == wanted:
                return
            async for event in bka.watch():
                if event["order_id"] == order_id and event["data"].get("state") == wanted:
                    return

        await asyncio.wait_for(state_of(clear, "executed"), timeout=10)
        await asyncio.wait_for(state_of(unclear, "clarification_requested"), timeout=10)
        exchange.clock.advance(minutes=10)  # the authority takes ten minutes to answer
        await bka.clock()
        await bka.clarify(unclear, "The video of 24 November, 21:14.")
        await asyncio.wait_for(state_of(unclear, "executed"), timeout=10)
        stop.set()
        await asyncio.wait_for(daemon, timeout=10)

    assert handled.count(clear) == 1
    assert handled.count(unclear) == 2
    kinds = [e["kind"] for e in await _history(exchange, unclear)]
    assert kinds.count("impossibility_received") == 1
    assert kinds.count("clarification_received") == 1
    assert kinds[-1] == "feedback_received"


async def _history(exchange: Exchange, order_id: str) -> list[dict[str, object]]:
    async with exchange.authority() as bka:
        return [dict(e) for e in await bka.history(order_id)]


async def test_another_hsp_cannot_see_or_answer(exchange: Exchange) -> None:
    """Each party sees only its own orders: hsp-beta gets 404 for hsp-alpha's order."""
    async with exchange.authority() as bka, exchange.platform("hsp-beta") as beta:
        order_id = await _issue(bka, emergency="Ongoing attack.")
        with pytest.raises(PlatformProblem) as info:
            await beta.get_order(order_id)
        assert info.value.status == 404
        assert await beta.inbox() == []
