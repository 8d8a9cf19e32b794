"""The order lifecycle through the real SDKs against a broker on an ephemeral port.

One test per article group (Art. 4; Art. 3(9) + 5; Art. 6; Art. 10-11; Art. 9),
on a `perci-sim init` setup.  Time is a ManualClock advanced by hours, days and
months (a scaled clock without waiting), and each advance fires what fell due.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from authority_client import AuthorityClient, CourtClient
from authority_client.errors import ProblemError
from perci_sim.api.keys import TIMERS
from perci_sim.app import create_app
from perci_sim.bootstrap import credentials_path, init_home
from perci_sim.settings import Settings
from platform_client import ContentProviderClient, PlatformClient
from platform_client.errors import ProblemError as PlatformProblem

DAY = 24.0


@dataclass(slots=True)
class Exchange:
    """A broker from an `init` setup and the SDK clients of its parties."""

    server: TestServer
    clock: Any
    home: Path

    @property
    def url(self) -> str:
        return str(self.server.make_url("")).rstrip("/")

    def authority(self, pid: str = "de-bka") -> AuthorityClient:
        return AuthorityClient.from_credentials(
            credentials_path(self.home, pid), broker_url=self.url
        )

    def court(self, pid: str = "de-court") -> CourtClient:
        return CourtClient.from_credentials(credentials_path(self.home, pid), broker_url=self.url)

    def platform(self, pid: str = "hsp-alpha") -> PlatformClient:
        return PlatformClient.from_credentials(
            credentials_path(self.home, pid), broker_url=self.url
        )

    def provider(self, pid: str = "cp-demo") -> ContentProviderClient:
        return ContentProviderClient.from_credentials(
            credentials_path(self.home, pid), broker_url=self.url
        )

    async def advance(self, *clients: Any, **kwargs: float) -> None:
        """Move broker time, fire what is due, and let the clients read the new time."""
        self.clock.advance(**kwargs)
        app: web.Application = self.server.app
        await app[TIMERS].run_due()
        for client in clients:
            await client.clock()


@pytest.fixture(name="exchange")
async def _exchange(
    tmp_path: Path, aiohttp_server: Callable[..., Awaitable[TestServer]], manual_clock: Any
) -> Exchange:
    clock = manual_clock
    clock.speed = 0.0
    home = tmp_path / "setup"
    await init_home(home, broker_url="http://unused.invalid", clock=clock)
    server = await aiohttp_server(create_app(Settings(home=home), clock=clock))
    return Exchange(server=server, clock=clock, home=home)


async def _issue(bka: AuthorityClient, hsp: str = "hsp-alpha", **kwargs: Any) -> str:
    order = await bka.prepare_order(
        hsp_id=hsp,
        urls=[f"https://{hsp}.example/v/1"],
        reasons=["a"],
        details="Calls to attack.",
        emergency_justification="Ongoing attack.",
    )
    order.update(kwargs)
    issued = await bka.issue_order(order)
    return str(issued.order["order_id"])


async def _kinds(client: Any, order_id: str) -> list[str]:
    return [e["kind"] for e in await client.history(order_id)]


async def test_art_4_scrutiny_infringement_and_reinstatement(exchange: Exchange) -> None:
    """Art. 4 (R10-R14): copy, HSP request, pre-notice, infringement, reinstatement."""
    async with (
        exchange.authority() as bka,
        exchange.authority("ie-cnam") as cnam,
        exchange.platform() as alpha,
    ):
        order_id = await _issue(bka)
        assert "host_copy_delivered" in await _kinds(cnam, order_id)
        await exchange.advance(bka, cnam, alpha, minutes=10)
        await alpha.send_feedback(order_id, reinstatable=True)
        await alpha.request_scrutiny(order_id, "The video is news reporting.")
        with pytest.raises(ProblemError) as refused:
            await cnam.scrutiny_decision(
                order_id, infringement=True, reasons="x", initiative="request"
            )
        assert refused.value.code == "scrutiny_prenotice_required"
        await cnam.scrutiny_prenotice(order_id, "News reporting is not terrorist content.")
        decided = await cnam.scrutiny_decision(
            order_id, infringement=True, reasons="Manifest infringement.", initiative="request"
        )
        assert decided.order["state"] == "no_legal_effect"
        reinstated = await alpha.reinstate(order_id, "Online again.")
        assert reinstated.order["state"] == "reinstated"
        lifecycle = await bka.lifecycle(order_id)
        assert lifecycle["lifecycle"]["legal_effect_cause"] == "infringement_decision"
        statuses = {o["kind"]: o["status"] for o in lifecycle["obligations"]}
        assert statuses["reinstatement"] == "met"
        assert statuses["scrutiny_decision"] == "met"


async def test_art_3_9_and_5_finality_exposure_reports(exchange: Exchange) -> None:
    """Art. 3(9) and 5 (R17-R18): two final orders, the prompt, decision, report, review."""
    async with (
        exchange.authority() as bka,
        exchange.authority("ie-cnam") as cnam,
        exchange.platform() as alpha,
    ):
        first, second = await _issue(bka), await _issue(bka)
        await exchange.advance(bka, cnam, alpha, hours=32 * DAY)
        for order_id in (first, second):
            assert "order_final" in await _kinds(bka, order_id)
            await bka.finality_notice(order_id, "Final.")
        page = await cnam.events(limit=500)
        assert "exposure_decision_prompted" in [e["kind"] for e in page.events]
        decision = await cnam.exposure_decision("hsp-alpha", "Two final orders in 12 months.")
        await exchange.advance(bka, cnam, alpha, hours=60 * DAY)
        await alpha.exposure_report(decision.event_id, "Hash matching at upload.")
        await alpha.review_request(decision.event_id, "Measures are effective.")
        await exchange.advance(bka, cnam, alpha, hours=30 * DAY)
        await cnam.review_decision(decision.event_id, "upheld", "Exposure persists.")
        seen = [e["kind"] for e in (await alpha.events(limit=500)).events]
        assert "exposure_report_received" in seen
        assert "review_decision_received" in seen
        assert "obligation_missed" not in seen


async def test_art_6_preservation_extension_and_purge(exchange: Exchange) -> None:
    """Art. 6 (R15): six months, a court extends, an early purge is breach_6."""
    async with (
        exchange.authority() as bka,
        exchange.court() as court,
        exchange.platform() as alpha,
    ):
        order_id = await _issue(bka)
        await alpha.send_feedback(order_id, reinstatable=True)
        until = (await bka.lifecycle(order_id))["lifecycle"]["preserve_until"]
        longer = datetime.fromisoformat(until) + timedelta(days=60)
        await court.extend_preservation(order_id, longer, "Appeal pending.")
        await exchange.advance(bka, court, alpha, hours=190 * DAY)
        purged = await alpha.purge_content(order_id)
        assert any(f.startswith("breach_6") for f in purged.order["flags"])


async def test_art_10_11_nondisclosure_information_and_complaint(exchange: Exchange) -> None:
    """Art. 10-11 (R16): blocked while non-disclosure runs; extension; then information,
    the content provider's scrutiny request and complaint, and the HSP's outcome."""
    async with (
        exchange.authority() as bka,
        exchange.platform() as alpha,
        exchange.provider() as provider,
    ):
        now = await bka.broker_now()
        order_id = await _issue(
            bka,
            section_c={
                "nondisclosure": True,
                "nondisclosure_until": (now + timedelta(weeks=2)).isoformat(
                    timespec="milliseconds"
                ),
            },
        )
        await alpha.send_feedback(order_id, reinstatable=True)
        with pytest.raises(PlatformProblem) as blocked:
            await alpha.inform_content_provider(order_id, "cp-demo", "Removed.")
        assert blocked.value.code == "nondisclosure_active"
        await bka.extend_nondisclosure(order_id, now + timedelta(weeks=3), "Investigation.")
        await exchange.advance(bka, alpha, provider, hours=22 * DAY)
        await alpha.inform_content_provider(order_id, "cp-demo", "Removed.", copy=True)
        await provider.complain(order_id, "It is satire.")
        await exchange.advance(bka, alpha, provider, hours=5 * DAY)
        outcome = await alpha.complaint_outcome(
            order_id, upheld=False, reinstated=False, reasons="Binding order."
        )
        assert outcome.order["state"] == "executed"
        seen = await _kinds(provider, order_id)
        assert "window_closed" in seen  # its own 48 hours to request scrutiny (Art. 4(4))
        assert [k for k in seen if k != "window_closed"] == [
            "content_provider_information_received",
            "complaint_received",
            "complaint_outcome_received",
        ]


async def test_art_9_court_annulment(exchange: Exchange) -> None:
    """Art. 9: a court annuls; the HSP reinstates."""
    async with (
        exchange.authority() as bka,
        exchange.court() as court,
        exchange.platform() as alpha,
    ):
        order_id = await _issue(bka)
        await alpha.send_feedback(order_id, reinstatable=True)
        annulled = await court.annul(
            order_id, court="Verwaltungsgericht Wiesbaden", judgment_reference="6 K 1/26.WI"
        )
        assert annulled.order["state"] == "no_legal_effect"
        await exchange.advance(bka, court, alpha, minutes=10)
        assert (await alpha.reinstate(order_id)).order["state"] == "reinstated"
        assert "legal_effect_ended" in await _kinds(bka, order_id)
