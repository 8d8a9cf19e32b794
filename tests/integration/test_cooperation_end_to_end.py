"""TCO Art. 14 end to end: both SDKs (and Europol on the authority SDK) against a real broker
started from a `perci-sim init` setup, at a scaled clock (two simulated hours per wall second).

One story covers the article group: a deconfliction hold refuses a referral until lifted
(R19), Europol's referral and a German order for the same URL are flagged for coordination
(R19), the order's clock runs out while the referral never has one (R20), and an Art. 14(5)
report without a named Member State reaches the host authority and Europol, whose
acknowledgement the HSP sees (R21).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiohttp.test_utils import TestServer

from authority_client import AuthorityClient
from authority_client.errors import ProblemError
from perci_sim.app import create_app
from perci_sim.bootstrap import credentials_path, init_home
from perci_sim.clock import ScaledClock
from perci_sim.settings import Settings
from platform_client import PlatformClient

SPEED = 7200.0  # two simulated hours per wall second
URL = "https://hsp-alpha.example/v/4242"
HELD = "https://hsp-alpha.example/u/watched"


@pytest.fixture(name="setup")
async def _setup(
    tmp_path: Path, aiohttp_server: Callable[..., Awaitable[TestServer]]
) -> tuple[TestServer, Path]:
    clock = ScaledClock(start=datetime(2026, 11, 25, 20, 0, tzinfo=UTC), speed=SPEED)
    home = tmp_path / "setup"
    await init_home(home, broker_url="http://unused.invalid", clock=clock)
    server = await aiohttp_server(create_app(Settings(home=home), clock=clock))
    return server, home


async def test_art_14_through_the_sdks_at_a_scaled_clock(setup: tuple[TestServer, Path]) -> None:
    server, home = setup
    url = str(server.make_url("")).rstrip("/")

    def authority(pid: str) -> AuthorityClient:
        return AuthorityClient.from_credentials(credentials_path(home, pid), broker_url=url)

    def platform(pid: str) -> PlatformClient:
        return PlatformClient.from_credentials(credentials_path(home, pid), broker_url=url)

    async with (
        authority("de-bka") as bka,
        authority("fr-ocrim") as ocrim,
        authority("europol") as europol,
        authority("nl-atkm") as atkm,
        platform("hsp-alpha") as alpha,
        platform("hsp-beta") as beta,
    ):
        # R19: a French hold refuses a German referral and names whom to contact.
        hold = await ocrim.place_hold([HELD], "Account monitored (investigation).")
        with pytest.raises(ProblemError) as refused:
            await bka.send_referral("hsp-alpha", [HELD], "Recruitment channel.")
        assert refused.value.code == "deconfliction_hold"
        assert refused.value.body["holds"][0]["contact"]["authority_id"] == "fr-ocrim"
        assert "investigation" not in str(refused.value.body)

        # R20 + R19: Europol refers; a German order for the same URL is flagged to coordinate.
        referral = await europol.send_referral(
            "hsp-alpha", [URL], "IS propaganda video.", terms_of_service_reference="§4 AUP"
        )
        assert referral.item["voluntary"] is True
        assert referral.receipt.message_type == "referral"
        order = await bka.prepare_order(
            hsp_id="hsp-alpha",
            urls=[URL + "/"],
            reasons=["a"],
            details="Video calling for attacks.",
            emergency_justification="Ongoing attack.",
        )
        issued = await bka.issue_order(order)
        (flag,) = issued.order["flags"]
        assert flag.startswith("deconfliction_coordinate:")
        assert referral.item["referral_id"] in flag
        notices = [
            e for e in (await europol.events()).events if e["kind"] == "deconfliction_notice"
        ]
        assert notices[0]["data"]["new_item"]["item_id"] == issued.order["order_id"]

        # The order's one hour runs out at the scaled clock; the referral has no clock at all.
        async def breach() -> None:
            async for event in bka.watch():
                if event["kind"] == "deadline_missed":
                    return

        await asyncio.wait_for(breach(), timeout=15)
        (received,) = await alpha.referrals()
        assert received["deadline_at"] is None
        answered = await alpha.answer_referral(received["referral_id"], "removed")
        assert answered.item["state"] == "answered"
        assert [e["kind"] for e in await europol.referral_history(received["referral_id"])] == [
            "referral_received",
            "deconfliction_notice",
            "referral_outcome_received",
        ]
        assert (await alpha.get_order(issued.order["order_id"]))["state"] == "overdue"

        # R19: once lifted, the German referral goes through.
        await ocrim.lift_hold(hold.item["hold_id"], "Arrests made.")
        accepted = await bka.send_referral("hsp-alpha", [HELD], "Recruitment channel.")
        assert accepted.item["state"] == "open"

        # R21: no Member State named → host authority (NL) and Europol, with receipts.
        report = await beta.report_imminent_threat(
            ["https://hsp-beta.example/live/1"], "Livestream announcing an attack tonight."
        )
        recipients = {r["participant_id"]: r["reason"] for r in report.item["recipients"]}
        assert recipients == {"nl-atkm": "host_member_state", "europol": "europol"}
        report_id = report.item["report_id"]
        (delivered,) = [
            e for e in (await atkm.events()).events if e["kind"] == "imminent_threat_delivered"
        ]
        assert delivered["data"]["report_id"] == report_id
        await europol.acknowledge_imminent_threat(report_id, "EU IRU on it.")
        seen = await beta.get_imminent_threat(report_id)
        acknowledged = {r["participant_id"]: r["acknowledged_at"] for r in seen["recipients"]}
        assert acknowledged["europol"] is not None
        assert acknowledged["nl-atkm"] is None
