"""R23: the transparency figures of a real broker's log, checked against hand counts.

Six orders, two issuing authorities (de-bka DE, fr-ocrim FR), two HSPs (hsp-alpha IE,
hsp-gamma FR), all issued at t0 = 2026-11-25 10:00 UTC (emergency orders, so no
advance information is needed)::

    O1 de-bka   -> hsp-alpha  removed at t0+10                       on time
    O2 de-bka   -> hsp-alpha  deadline missed at t0+60, removed t0+70,
                              Annex II only at t0+140                 late, 3(3) + 3(6)
    O3 fr-ocrim -> hsp-gamma  deadline missed, never executed         3(3)
    O4 fr-ocrim -> hsp-alpha  Annex III force majeure t0+5, grounds ceased t0+20,
                              removed t0+50 (fresh hour)              on time
    O5 de-bka   -> hsp-gamma  Annex III insufficient information t0+5, nothing more
    O6 fr-ocrim -> hsp-gamma  Annex III manifest errors t0+5, withdrawn t0+6

Every expected figure below is a literal with the orders that make it up.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from perci_sim.reports.load import build_report, load_events
from perci_sim.reports.records import Period

YEAR_2026 = Period(datetime(2026, 1, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC))
GENERATED = datetime(2027, 1, 10, tzinfo=UTC)


async def _post(b: Any, order: dict[str, Any], name: str, document: dict[str, Any]) -> None:
    party = str(document["sender"])
    reply = await b.post_document(
        f"/v1/orders/{order['order_id']}/{name}", party=party, document=document
    )
    assert reply.status == 201, reply.body


async def run_scenario(b: Any) -> datetime:
    """Drive the six orders of the module docstring; return t0."""
    o1 = await b.issue("de-bka", "hsp-alpha")
    o2 = await b.issue("de-bka", "hsp-alpha")
    o3 = await b.issue("fr-ocrim", "hsp-gamma")
    o4 = await b.issue("fr-ocrim", "hsp-alpha")
    o5 = await b.issue("de-bka", "hsp-gamma")
    o6 = await b.issue("fr-ocrim", "hsp-gamma")
    assert o3["order_id"]  # O3 is only ever left alone
    t0 = b.clock.now()

    await b.advance(minutes=5)  # t0+5
    await _post(b, o4, "impossibility", b.impossibility(o4, "force_majeure"))
    await _post(b, o5, "impossibility", b.impossibility(o5, "insufficient_information"))
    await _post(b, o6, "impossibility", b.impossibility(o6, "manifest_errors"))
    await b.advance(minutes=1)  # t0+6
    await _post(b, o6, "withdrawal", b.withdrawal(o6))
    await b.advance(minutes=4)  # t0+10
    await _post(b, o1, "feedback", b.feedback(o1))
    await b.advance(minutes=10)  # t0+20
    await _post(b, o4, "grounds-ceased", b.grounds_ceased(o4))
    await b.advance(minutes=30)  # t0+50
    await _post(b, o4, "feedback", b.feedback(o4))
    await b.advance(minutes=11)  # t0+61: O2 and O3 miss their deadline
    await b.advance(minutes=79)  # t0+140
    await _post(b, o2, "feedback", b.feedback(o2, measure_at=t0 + timedelta(minutes=70)))
    return t0


def _by(items: list[dict[str, Any]], key: str, value: str) -> dict[str, Any]:
    (found,) = [item for item in items if item[key] == value]
    return found


def _ttr(dist: dict[str, Any]) -> tuple[Any, ...]:
    return (
        dist["count"],
        dist["min_s"],
        dist["p50_s"],
        dist["p90_s"],
        dist["p95_s"],
        dist["max_s"],
        [bucket["count"] for bucket in dist["buckets"]],
    )


@pytest.fixture
async def scenario(broker: Any) -> tuple[Any, datetime]:
    b = await broker()
    t0 = await run_scenario(b)
    return b, t0


class TestReportFromTheBroker:
    async def test_art_7_hsps(self, scenario: tuple[Any, datetime]) -> None:
        """Every Art. 7 figure of both HSPs, counted by hand."""
        b, _ = scenario
        report = await build_report(b.db, YEAR_2026, generated_at=GENERATED)
        assert [h["id"] for h in report["hsps"]] == ["hsp-alpha", "hsp-gamma"]
        assert report["due_dates"]["art_7_hsp_reports"] == "2027-03-01"

        alpha = _by(report["hsps"], "id", "hsp-alpha")
        assert alpha["member_state"] == "IE"
        assert alpha["orders_received"] == 3  # O1, O2, O4
        c = alpha["art_7_3_c"]
        assert c["removal_orders"] == {  # O1, O2, O4 (Annex II "removed")
            "items_removed_or_disabled": 3,
            "by_measure": {"removed": 3, "disabled_all_ms": 0},
        }
        assert c["not_executed"]["orders"] == 0  # O4's Annex III was followed by an Annex II
        assert c["annex_iii_notices"] == {
            "count": 1,  # O4
            "reasons": {"force_majeure": 1, "manifest_errors": 0, "insufficient_information": 0},
        }
        assert alpha["execution"] == {"executed": 3, "on_time": 2, "late": 1}  # late: O2
        # O2: no answer by t0+60 (3(3)); Annex II 70 min after the measure (3(6)).
        assert alpha["breaches"] == {"breach_3_3": 1, "breach_3_6": 1, "other": {}, "total": 2}
        # O1 10 min, O4 50 min (suspension included), O2 70 min; nearest rank, n=3.
        assert _ttr(alpha["time_to_removal"]) == (
            3,
            600.0,
            3000.0,
            4200.0,
            4200.0,
            4200.0,
            [1, 0, 0, 1, 1],
        )
        assert alpha["art_7_3_d_complaints"]["received"] == 0
        assert alpha["art_7_3_f_reinstated_after_review"] == 0
        assert alpha["art_7_3_g_reinstated_after_complaint"] == 0

        gamma = _by(report["hsps"], "id", "hsp-gamma")
        assert gamma["orders_received"] == 3  # O3, O5, O6
        assert gamma["art_7_3_c"]["removal_orders"]["items_removed_or_disabled"] == 0
        # O5 (insufficient information, still open) and O6 (manifest errors, withdrawn).
        assert gamma["art_7_3_c"]["not_executed"] == {
            "orders": 2,
            "grounds": {"force_majeure": 0, "manifest_errors": 1, "insufficient_information": 1},
            "status_at_period_end": {"withdrawn": 1, "no_legal_effect": 0, "open": 1},
        }
        assert gamma["art_7_3_c"]["annex_iii_notices"]["count"] == 2  # O5, O6
        assert gamma["execution"] == {"executed": 0, "on_time": 0, "late": 0}
        assert gamma["breaches"]["breach_3_3"] == 1  # O3
        assert gamma["breaches"]["total"] == 1
        assert _ttr(gamma["time_to_removal"])[0] == 0

    async def test_art_8_and_art_21(self, scenario: tuple[Any, datetime]) -> None:
        """Per issuing authority and per Member State, counted by hand."""
        b, _ = scenario
        report = await build_report(b.db, YEAR_2026, generated_at=GENERATED)
        # R10: the broker delivers the Art. 4(1) copy of each cross-border order
        # (host_copy_delivered). Cross-border: O1, O2, O5 (DE -> IE, IE, FR) and
        # O4 (FR -> IE); O3 and O6 are FR -> FR.
        events = await load_events(b.db, YEAR_2026)
        assert sum(e.kind == "host_copy_delivered" for e in events) == 4

        bka = _by(report["authorities"], "id", "de-bka")
        assert bka["member_state"] == "DE"
        assert bka["art_8_1_a"] == {
            "orders_issued": 3,  # O1, O2, O5
            "cross_border": 3,  # O1, O2, O5
            "scrutinised": 0,
            "removed": 2,  # O1, O2
            "not_removed": 1,  # O5
        }
        assert bka["art_8_1_d"]["penalty_decisions"] == 0
        assert bka["withdrawals"] == 0
        assert _ttr(bka["time_to_removal"])[:2] == (2, 600.0)  # O1 10 min, O2 70 min

        ocrim = _by(report["authorities"], "id", "fr-ocrim")
        assert ocrim["art_8_1_a"] == {
            "orders_issued": 3,  # O3, O4, O6
            "cross_border": 1,  # O4
            "scrutinised": 0,
            "removed": 1,  # O4
            "not_removed": 2,  # O3, O6
        }
        assert ocrim["withdrawals"] == 1  # O6
        assert ocrim["art_8_1_b"]["art_5_4_decisions"] == 0

        de = _by(report["member_states"], "member_state", "DE")
        assert (de["orders_issued"], de["removed"], de["not_removed"]) == (3, 2, 1)
        assert _ttr(de["speed_of_removal"])[-1] == [1, 0, 0, 0, 1]  # O1 10, O2 70 min
        assert de["art_21_due_date"] == "2027-03-31"
        fr = _by(report["member_states"], "member_state", "FR")
        assert (fr["orders_issued"], fr["removed"], fr["not_removed"]) == (3, 1, 2)
        assert _ttr(fr["speed_of_removal"])[-1] == [0, 0, 0, 1, 0]  # O4 50 min

    async def test_status_at_the_end_of_a_shorter_period(
        self, scenario: tuple[Any, datetime]
    ) -> None:
        """A period ending at t0+100 min: O2's Annex II (t0+140) is not in it yet."""
        b, t0 = scenario
        period = Period(datetime(2026, 11, 25, tzinfo=UTC), t0 + timedelta(minutes=100))
        report = await build_report(b.db, period, generated_at=GENERATED)
        alpha = _by(report["hsps"], "id", "hsp-alpha")
        assert alpha["execution"] == {"executed": 2, "on_time": 2, "late": 0}  # O1, O4
        assert alpha["breaches"]["breach_3_6"] == 0
        assert alpha["breaches"]["breach_3_3"] == 1  # O2 at t0+60
        bka = _by(report["authorities"], "id", "de-bka")
        assert (bka["art_8_1_a"]["removed"], bka["art_8_1_a"]["not_removed"]) == (1, 2)

    async def test_a_period_without_events(self, scenario: tuple[Any, datetime]) -> None:
        """2025 holds none of these events: empty sections."""
        b, _ = scenario
        period = Period(datetime(2025, 1, 1, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=UTC))
        report = await build_report(b.db, period, generated_at=GENERATED)
        assert (report["hsps"], report["authorities"], report["member_states"]) == ([], [], [])
