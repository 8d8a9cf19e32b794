"""The transparency figures (Art. 7, 8, 21; R23) from hand-built event records.

The scenario below is a list of plain dicts shaped like rows of the ``event`` table
(docs/EVENTS.md), covering the issue-2 kinds and the planned issue-3 kinds.  Every
expected number is a literal, counted by hand from the timeline; the comment next
to it says which orders make it up.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from perci_sim.reports.figures import BUCKETS, compute_report, distribution, is_hsp_breach
from perci_sim.reports.records import EventRecord, ParticipantRef, Period

PERIOD = Period(datetime(2026, 1, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC))
GENERATED = datetime(2027, 1, 15, 9, 0, tzinfo=UTC)
T = datetime(2026, 6, 1, 10, 0, tzinfo=UTC)

PARTICIPANTS = {
    p.id: p
    for p in (
        ParticipantRef(id="auth-de", role="authority", name="BKA", member_state="DE"),
        ParticipantRef(id="auth-de2", role="authority", name="LKA", member_state="DE"),
        ParticipantRef(id="auth-fr", role="authority", name="OCRIM", member_state="FR"),
        ParticipantRef(id="ie-host", role="authority", name="CnaM", member_state="IE"),
        ParticipantRef(id="nl-host", role="authority", name="ATKM", member_state="NL"),
        ParticipantRef(id="hsp-a", role="hsp", name="Alpha", member_state="IE"),
        ParticipantRef(id="hsp-b", role="hsp", name="Beta", member_state="NL"),
        ParticipantRef(id="cp", role="content_provider", name="Uploader", member_state="DE"),
        ParticipantRef(id="court", role="court", name="VG Wiesbaden", member_state="DE"),
    )
}

#: order -> (issuing authority, HSP)
ORDERS = {
    "A0": ("auth-de", "hsp-a"),
    "A1": ("auth-de", "hsp-a"),
    "A2": ("auth-de", "hsp-a"),
    "A3": ("auth-de", "hsp-a"),
    "A4": ("auth-fr", "hsp-a"),
    "A5": ("auth-fr", "hsp-b"),
    "A6": ("auth-fr", "hsp-b"),
    "A7": ("auth-de2", "hsp-b"),
    "A8": ("auth-de", "hsp-b"),
    "A9": ("auth-de", "hsp-b"),
    "A10": ("auth-fr", "hsp-a"),
    "A11": ("auth-de", "hsp-a"),
}


def m(minutes: float) -> datetime:
    """T + ``minutes``."""
    return T + timedelta(minutes=minutes)


def d(days: float) -> datetime:
    """T + ``days``."""
    return T + timedelta(days=days)


class Log:
    """Builds event dicts as the broker would record them (seq in append order)."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def add(
        self,
        kind: str,
        at: datetime,
        order: str | None = None,
        /,
        *,
        actor: str = "broker",
        authority_id: str | None = None,
        hsp_id: str | None = None,
        **data: Any,
    ) -> None:
        if order is not None:
            authority, hsp = ORDERS[order]
            authority_id = authority_id or authority
            hsp_id = hsp_id or hsp
        self.events.append(
            {
                "seq": len(self.events) + 1,
                "kind": kind,
                "order_id": order,
                "actor": actor,
                "authority_id": authority_id,
                "hsp_id": hsp_id,
                "received_at": at.isoformat(timespec="milliseconds"),
                "data": data,
            }
        )

    def issue(self, order: str, at: datetime) -> None:
        authority, _ = ORDERS[order]
        self.add("order_received", at, order, actor=authority, emergency=True)
        self.add("order_delivered", at, order, deadline_at=(at + timedelta(hours=1)).isoformat())

    def feedback(
        self,
        order: str,
        at: datetime,
        measure_at: datetime,
        *,
        on_time: bool = True,
        measure: str = "removed",
        breach_3_6: bool = False,
    ) -> None:
        _, hsp = ORDERS[order]
        extra: dict[str, Any] = {"breach": "breach_3_6"} if breach_3_6 else {}
        self.add(
            "feedback_received",
            at,
            order,
            actor=hsp,
            measure=measure,
            measure_at=measure_at.isoformat(timespec="milliseconds"),
            on_time=on_time,
            breach_3_6=breach_3_6,
            **extra,
        )

    def annex_iii(self, order: str, at: datetime, *reasons: str) -> None:
        _, hsp = ORDERS[order]
        self.add("impossibility_received", at, order, actor=hsp, reasons=list(reasons))


def scenario() -> list[dict[str, Any]]:
    """The hand-counted timeline (T = 2026-06-01 10:00 UTC; period = calendar 2026)."""
    log = Log()
    # A0: entirely in 2025: outside the period, counts nowhere.
    log.issue("A0", datetime(2025, 12, 1, 9, 0, tzinfo=UTC))
    log.feedback(
        "A0", datetime(2025, 12, 1, 9, 10, tzinfo=UTC), datetime(2025, 12, 1, 9, 5, tzinfo=UTC)
    )
    # A1: delivered 2025-12-31 23:50 (context), removed 2026-01-01 00:15: 25 min.
    log.issue("A1", datetime(2025, 12, 31, 23, 50, tzinfo=UTC))
    log.feedback(
        "A1",
        datetime(2026, 1, 1, 0, 20, tzinfo=UTC),
        datetime(2026, 1, 1, 0, 15, tzinfo=UTC),
    )
    # A2: cross-border, disabled after 5 min; HSP asks for scrutiny, infringement,
    # no legal effect, reinstated (after review); late reinstatement breach 4(7).
    log.issue("A2", m(0))
    log.add("host_copy_delivered", m(0), "A2", host_member_state="IE", host_authority_id="ie-host")
    log.feedback("A2", m(6), m(5), measure="disabled_all_ms")
    log.add("scrutiny_request_received", m(60), "A2", actor="hsp-a", requester_role="hsp")
    log.add("scrutiny_prenotice_received", d(1), "A2", actor="ie-host")
    log.add(
        "scrutiny_decision_received",
        d(2),
        "A2",
        actor="ie-host",
        outcome="infringement",
        initiative="request",
    )
    log.add("legal_effect_ended", d(2), "A2", cause="infringement_decision")
    log.add("obligation_missed", d(2.5), "A2", obligation="reinstatement", breach="breach_4_7")
    log.add("reinstatement_received", d(3), "A2", actor="hsp-a", cause="infringement_decision")
    # A3: deadline missed at +70, removed at +80 (70 min after delivery at +10),
    # Annex II at +200: late, breach 3(3) and breach 3(6).
    log.issue("A3", m(10))
    log.add("deadline_warning", m(55), "A3", minutes=45)
    log.add("deadline_missed", m(70), "A3", breach="breach_3_3")
    log.feedback("A3", m(200), m(80), on_time=False, breach_3_6=True)
    # A4: force majeure, grounds ceased, removed at +50 (50 min after first delivery).
    log.issue("A4", m(0))
    log.annex_iii("A4", m(5), "force_majeure")
    log.add("grounds_ceased_received", m(20), "A4", actor="hsp-a")
    log.feedback("A4", m(51), m(50))
    # A5: two Annex III rounds, never executed: open at the end of the period.
    log.issue("A5", m(0))
    log.annex_iii("A5", m(5), "manifest_errors", "insufficient_information")
    log.add("clarification_received", m(30), "A5", actor="auth-fr")
    log.annex_iii("A5", m(40), "insufficient_information")
    # A6: force majeure, then withdrawn.
    log.issue("A6", m(0))
    log.annex_iii("A6", m(5), "force_majeure")
    log.add("withdrawal_received", m(30), "A6", actor="auth-fr")
    # A7: cross-border, manifest errors, own-initiative infringement: no legal effect;
    # the host authority's decision duty is flagged against it.
    log.issue("A7", m(0))
    log.add("host_copy_delivered", m(0), "A7", host_member_state="NL", host_authority_id="nl-host")
    log.annex_iii("A7", m(5), "manifest_errors")
    log.add(
        "scrutiny_decision_received",
        d(1),
        "A7",
        actor="nl-host",
        outcome="infringement",
        initiative="own",
    )
    log.add("legal_effect_ended", d(1), "A7", cause="infringement_decision")
    log.add(
        "obligation_missed",
        d(4),
        "A7",
        authority_id="nl-host",
        obligation="scrutiny_decision",
        breach="scrutiny_decision_late",
    )
    # A8: removed after 20 min; complaint upheld and reinstated (two events, one order);
    # appeal lodged; the court annuls the order.
    log.issue("A8", m(0))
    log.feedback("A8", m(21), m(20))
    log.add("complaint_received", d(1), "A8", actor="cp")
    # The complaint outcome (Art. 10, an HSP duty by its article) came late.
    log.add(
        "obligation_missed",
        d(2.5),
        "A8",
        obligation="complaint_outcome",
        breach="complaint_outcome_late",
        article="Art. 10",
    )
    log.add("appeal_notice_received", d(2), "A8", actor="court", kind="appeal_lodged")
    log.add(
        "complaint_outcome_received", d(3), "A8", actor="hsp-b", outcome="upheld", reinstated=True
    )
    log.add("reinstatement_received", d(3), "A8", actor="hsp-b", cause="complaint")
    log.add("court_annulment_received", d(10), "A8", actor="court", target="order")
    log.add("legal_effect_ended", d(10), "A8", cause="court_annulment")
    # A9: removed exactly at the deadline (60 min: the 45-60 bucket); complaint rejected.
    log.issue("A9", m(0))
    log.feedback("A9", m(61), m(60))
    log.add("complaint_received", d(1), "A9", actor="cp")
    log.add(
        "complaint_outcome_received",
        d(3),
        "A9",
        actor="hsp-b",
        outcome="rejected",
        reinstated=False,
    )
    # A10: issued on 31 December; its Annex II and its missed deadline fall in 2027.
    log.issue("A10", datetime(2026, 12, 31, 23, 30, tzinfo=UTC))
    log.add("deadline_missed", datetime(2027, 1, 1, 0, 30, tzinfo=UTC), "A10")
    log.feedback(
        "A10",
        datetime(2027, 1, 1, 0, 40, tzinfo=UTC),
        datetime(2027, 1, 1, 0, 35, tzinfo=UTC),
        on_time=False,
    )
    # A11: entirely in 2027.
    log.issue("A11", datetime(2027, 1, 2, 8, 0, tzinfo=UTC))
    # Art. 5: exposure decision (implemented by a report), a 5(6) decision, a 5(7) review.
    log.add(
        "exposure_decision_received",
        d(30),
        actor="ie-host",
        authority_id="ie-host",
        hsp_id="hsp-a",
        article="Art. 5(4)",
    )
    log.add("exposure_report_received", d(60), actor="hsp-a", hsp_id="hsp-a")
    # The yearly Art. 5(5) report was missed: owed_by names the HSP.
    log.add(
        "obligation_missed",
        d(70),
        hsp_id="hsp-a",
        authority_id="ie-host",
        obligation="exposure_report",
        breach="exposure_report_late",
        article="Art. 5(5)",
        owed_by="hsp-a",
    )
    log.add(
        "exposure_decision_received",
        d(90),
        actor="ie-host",
        authority_id="ie-host",
        hsp_id="hsp-a",
        article="Art. 5(6)",
    )
    log.add("review_request_received", d(100), actor="hsp-a", hsp_id="hsp-a")
    log.add(
        "review_decision_received",
        d(120),
        actor="ie-host",
        authority_id="ie-host",
        hsp_id="hsp-a",
        outcome="confirmed",
    )
    # An event kind the reports do not know: ignored.
    log.add("some_future_kind", d(130), "A2", actor="hsp-a")
    return log.events


@pytest.fixture(scope="module")
def report() -> dict[str, Any]:
    return compute_report(
        scenario(), period=PERIOD, participants=PARTICIPANTS, generated_at=GENERATED
    )


def _by(items: list[dict[str, Any]], key: str, value: str) -> dict[str, Any]:
    (found,) = [item for item in items if item[key] == value]
    return found


def _buckets(dist: dict[str, Any]) -> list[int]:
    return [b["count"] for b in dist["buckets"]]


class TestEnvelope:
    def test_period_dates_and_sections(self, report: dict[str, Any]) -> None:
        """Top-level keys; due dates 1 March and 31 March of the following year (R23)."""
        assert report["period"] == {
            "from": "2026-01-01T00:00:00.000+00:00",
            "to": "2027-01-01T00:00:00.000+00:00",
            "end_exclusive": True,
            "timezone": "UTC",
            "year": 2026,
        }
        assert report["generated_at"] == "2027-01-15T09:00:00.000+00:00"
        assert report["due_dates"] == {
            "art_7_hsp_reports": "2027-03-01",
            "art_21_member_state_reports": "2027-03-31",
        }
        # Only participants named by events of 2026: A0/A11 add nobody new.
        assert [h["id"] for h in report["hsps"]] == ["hsp-a", "hsp-b"]
        assert [a["id"] for a in report["authorities"]] == [
            "auth-de",
            "auth-de2",
            "auth-fr",
            "ie-host",
            "nl-host",
        ]
        assert [s["member_state"] for s in report["member_states"]] == ["DE", "FR", "IE", "NL"]

    def test_deterministic(self, report: dict[str, Any]) -> None:
        """The same log gives the same report, in any input order."""
        shuffled = list(reversed(scenario()))
        again = compute_report(
            shuffled, period=PERIOD, participants=PARTICIPANTS, generated_at=GENERATED
        )
        assert again == report


class TestArt7HspAlpha:
    @pytest.fixture
    def hsp(self, report: dict[str, Any]) -> dict[str, Any]:
        return _by(report["hsps"], "id", "hsp-a")

    def test_orders_and_items(self, hsp: dict[str, Any]) -> None:
        """Received in 2026: A2, A3, A4, A10 (A1 was delivered in 2025). Annex II in 2026:
        A1, A3, A4 removed; A2 disabled (A10's Annex II is in 2027)."""
        assert hsp["name"] == "Alpha"
        assert hsp["member_state"] == "IE"
        assert hsp["art_7_due_date"] == "2027-03-01"
        assert hsp["report_required"] is True
        assert hsp["orders_received"] == 4
        c = hsp["art_7_3_c"]
        assert c["removal_orders"] == {
            "items_removed_or_disabled": 4,
            "by_measure": {"removed": 3, "disabled_all_ms": 1},
        }
        # Two exposure decisions (5(4) and 5(6)), one report; items not reported to the broker.
        assert c["specific_measures"] == {
            "exposure_decisions_received": 2,
            "exposure_reports_sent": 1,
            "items_removed_or_disabled": None,
        }

    def test_not_executed_and_annex_iii(self, hsp: dict[str, Any]) -> None:
        """A4's force majeure was followed by an Annex II: nothing left unexecuted."""
        c = hsp["art_7_3_c"]
        assert c["not_executed"] == {
            "orders": 0,
            "grounds": {"force_majeure": 0, "manifest_errors": 0, "insufficient_information": 0},
            "status_at_period_end": {"withdrawn": 0, "no_legal_effect": 0, "open": 0},
        }
        assert c["annex_iii_notices"] == {
            "count": 1,
            "reasons": {"force_majeure": 1, "manifest_errors": 0, "insufficient_information": 0},
        }

    def test_reviews_reinstatements_complaints(self, hsp: dict[str, Any]) -> None:
        """A2: HSP scrutiny request -> infringement -> reinstated (f). One Art. 5(7) review."""
        assert hsp["art_7_3_d_complaints"] == {
            "received": 0,
            "outcomes": {"upheld": 0, "rejected": 0},
        }
        assert hsp["art_7_3_e_review_proceedings"] == {
            "scrutiny_requests": 1,
            "scrutiny_outcomes": {"infringement": 1, "no_infringement": 0},
            "art_5_7_review_requests": 1,
            "art_5_7_review_outcomes": {"confirmed": 1},
        }
        assert hsp["art_7_3_f_reinstated_after_review"] == 1
        assert hsp["art_7_3_g_reinstated_after_complaint"] == 0
        assert hsp["reinstatements_by_cause"] == {"infringement_decision": 1}

    def test_execution_and_breaches(self, hsp: dict[str, Any]) -> None:
        """On time: A1, A2, A4; late: A3. Breaches: A3 3(3) and 3(6), A2 4(7), the missed
        Art. 5(5) report; A10's missed deadline is in 2027."""
        assert hsp["execution"] == {"executed": 4, "on_time": 3, "late": 1}
        assert hsp["breaches"] == {
            "breach_3_3": 1,
            "breach_3_6": 1,
            "other": {"breach_4_7": 1, "exposure_report_late": 1},
            "total": 4,
        }

    def test_time_to_removal(self, hsp: dict[str, Any]) -> None:
        """A2 5 min, A1 25 min, A4 50 min (suspension included), A3 70 min.
        Nearest rank with n=4: p50 = 2nd, p90 = p95 = 4th."""
        t = hsp["time_to_removal"]
        assert (t["count"], t["min_s"], t["p50_s"], t["p90_s"], t["p95_s"], t["max_s"]) == (
            4,
            300.0,
            1500.0,
            4200.0,
            4200.0,
            4200.0,
        )
        assert _buckets(t) == [1, 1, 0, 1, 1]


class TestArt7HspBeta:
    @pytest.fixture
    def hsp(self, report: dict[str, Any]) -> dict[str, Any]:
        return _by(report["hsps"], "id", "hsp-b")

    def test_orders_items_execution(self, hsp: dict[str, Any]) -> None:
        """Received: A5-A9. Removed: A8 (20 min), A9 (60 min), both on time."""
        assert hsp["orders_received"] == 5
        assert hsp["art_7_3_c"]["removal_orders"] == {
            "items_removed_or_disabled": 2,
            "by_measure": {"removed": 2, "disabled_all_ms": 0},
        }
        assert hsp["execution"] == {"executed": 2, "on_time": 2, "late": 0}
        # A8's late complaint outcome (Art. 10).
        assert hsp["breaches"] == {
            "breach_3_3": 0,
            "breach_3_6": 0,
            "other": {"complaint_outcome_late": 1},
            "total": 1,
        }
        t = hsp["time_to_removal"]
        assert (t["count"], t["min_s"], t["p50_s"], t["p90_s"], t["p95_s"], t["max_s"]) == (
            2,
            1200.0,
            1200.0,
            3600.0,
            3600.0,
            3600.0,
        )
        # 20 min in 15-30; exactly 60 min is on time and falls in 45-60.
        assert _buckets(t) == [0, 1, 0, 1, 0]

    def test_not_executed_with_grounds(self, hsp: dict[str, Any]) -> None:
        """A5 (manifest + insufficient, then insufficient again; open), A6 (force majeure;
        withdrawn), A7 (manifest; no legal effect). Grounds once per order."""
        c = hsp["art_7_3_c"]
        assert c["not_executed"] == {
            "orders": 3,
            "grounds": {"force_majeure": 1, "manifest_errors": 2, "insufficient_information": 1},
            "status_at_period_end": {"withdrawn": 1, "no_legal_effect": 1, "open": 1},
        }
        # Per notice: A5 x2, A6, A7.
        assert c["annex_iii_notices"] == {
            "count": 4,
            "reasons": {"force_majeure": 1, "manifest_errors": 2, "insufficient_information": 2},
        }

    def test_complaints_and_reinstatements(self, hsp: dict[str, Any]) -> None:
        """A8 upheld + reinstated (outcome and reinstatement event: one order), A9 rejected.
        A7's own-initiative scrutiny is not the HSP's review proceeding."""
        assert hsp["art_7_3_d_complaints"] == {
            "received": 2,
            "outcomes": {"upheld": 1, "rejected": 1},
        }
        assert hsp["art_7_3_g_reinstated_after_complaint"] == 1
        assert hsp["art_7_3_f_reinstated_after_review"] == 0
        assert hsp["art_7_3_e_review_proceedings"]["scrutiny_requests"] == 0
        assert hsp["art_7_3_e_review_proceedings"]["scrutiny_outcomes"] == {
            "infringement": 0,
            "no_infringement": 0,
        }
        assert hsp["art_7_3_c"]["specific_measures"]["exposure_decisions_received"] == 0


class TestArt8Authorities:
    def test_issuing_authority_de(self, report: dict[str, Any]) -> None:
        """Issued in 2026: A2, A3, A8, A9 (A0, A1 in 2025; A11 in 2027); all removed."""
        a = _by(report["authorities"], "id", "auth-de")
        assert a["member_state"] == "DE"
        assert a["art_8_1_a"] == {
            "orders_issued": 4,
            "cross_border": 1,  # A2
            "scrutinised": 1,  # A2
            "removed": 4,
            "not_removed": 0,
        }
        assert a["art_8_1_b"] == {
            "art_5_4_decisions": 0,
            "art_5_4_implemented": 0,
            "art_5_6_decisions": 0,
            "art_5_7_decisions": 0,
            "art_5_7_outcomes": {},
        }
        assert a["art_8_1_c"] == {
            "scrutiny_decisions_on_its_orders": {"infringement": 1, "no_infringement": 0},
            "scrutiny_decisions_taken": {"infringement": 0, "no_infringement": 0},
            "appeal_notices": {"appeal_lodged": 1, "confirmed": 0},  # A8
            "court_annulments": {"order": 1, "decision": 0},  # A8
            "legal_effect_ended": {"infringement_decision": 1, "court_annulment": 1},  # A2, A8
        }
        assert a["art_8_1_d"]["penalty_decisions"] == 0
        assert a["complaints_about_its_orders"] == {
            "received": 2,
            "outcomes": {"upheld": 1, "rejected": 1},
        }
        assert a["obligations_missed"] == {}
        # Annex II of its orders in 2026: A2 5, A8 20, A1 25, A9 60, A3 70 min.
        t = a["time_to_removal"]
        assert (t["count"], t["min_s"], t["p50_s"], t["p90_s"], t["max_s"]) == (
            5,
            300.0,
            1500.0,
            4200.0,
            4200.0,
        )

    def test_issuing_authorities_de2_and_fr(self, report: dict[str, Any]) -> None:
        """auth-de2: A7 (cross-border, scrutinised, not removed). auth-fr: A4, A5, A6, A10;
        only A4 removed by the end of 2026; A6 withdrawn."""
        de2 = _by(report["authorities"], "id", "auth-de2")
        assert de2["art_8_1_a"] == {
            "orders_issued": 1,
            "cross_border": 1,
            "scrutinised": 1,
            "removed": 0,
            "not_removed": 1,
        }
        assert de2["art_8_1_c"]["legal_effect_ended"]["infringement_decision"] == 1
        fr = _by(report["authorities"], "id", "auth-fr")
        assert fr["art_8_1_a"] == {
            "orders_issued": 4,
            "cross_border": 0,
            "scrutinised": 0,
            "removed": 1,
            "not_removed": 3,
        }
        assert fr["withdrawals"] == 1
        assert fr["time_to_removal"]["count"] == 1
        assert fr["time_to_removal"]["p50_s"] == 3000.0

    def test_host_authorities(self, report: dict[str, Any]) -> None:
        """ie-host: scrutiny of A2; 5(4) decision implemented by a report; a 5(6) decision;
        a 5(7) review. nl-host: scrutiny of A7, and its missed decision duty."""
        ie = _by(report["authorities"], "id", "ie-host")
        assert ie["art_8_1_a"]["orders_issued"] == 0
        assert ie["art_8_1_b"] == {
            "art_5_4_decisions": 1,
            "art_5_4_implemented": 1,
            "art_5_6_decisions": 1,
            "art_5_7_decisions": 1,
            "art_5_7_outcomes": {"confirmed": 1},
        }
        assert ie["art_8_1_c"]["scrutiny_decisions_taken"] == {
            "infringement": 1,
            "no_infringement": 0,
        }
        nl = _by(report["authorities"], "id", "nl-host")
        assert nl["art_8_1_c"]["scrutiny_decisions_taken"]["infringement"] == 1
        assert nl["obligations_missed"] == {"scrutiny_decision_late": 1}


class TestArt21MemberStates:
    def test_germany(self, report: dict[str, Any]) -> None:
        """auth-de + auth-de2: 5 orders (A2, A3, A8, A9, A7), 2 cross-border, 4 removed."""
        de = _by(report["member_states"], "member_state", "DE")
        assert de["authorities"] == ["auth-de", "auth-de2"]
        assert de["art_21_due_date"] == "2027-03-31"
        assert (de["orders_issued"], de["cross_border"], de["scrutinised"]) == (5, 2, 2)
        assert (de["removed"], de["not_removed"]) == (4, 1)
        speed = de["speed_of_removal"]
        assert speed["count"] == 5
        # A2 5 | A8 20, A1 25 | - | A9 60 | A3 70 min
        assert _buckets(speed) == [1, 2, 0, 1, 1]
        assert de["complaints"] == {"received": 2, "outcomes": {"upheld": 1, "rejected": 1}}
        assert de["reviews"] == {
            "scrutiny_decisions_taken": 0,
            "art_5_7_review_decisions": 0,
            "appeals_lodged": 1,
            "court_annulments": 1,
        }
        assert de["preserved_data_access_requests"] is None
        assert de["penalty_decisions"] == 0

    def test_france_ireland_netherlands(self, report: dict[str, Any]) -> None:
        """FR issues A4, A5, A6, A10; IE and NL only decide (scrutiny, Art. 5)."""
        fr = _by(report["member_states"], "member_state", "FR")
        assert (fr["orders_issued"], fr["removed"], fr["not_removed"]) == (4, 1, 3)
        assert _buckets(fr["speed_of_removal"]) == [0, 0, 0, 1, 0]  # A4 50 min
        ie = _by(report["member_states"], "member_state", "IE")
        assert ie["orders_issued"] == 0
        assert ie["reviews"]["scrutiny_decisions_taken"] == 1
        assert ie["reviews"]["art_5_7_review_decisions"] == 1
        nl = _by(report["member_states"], "member_state", "NL")
        assert nl["reviews"]["scrutiny_decisions_taken"] == 1


class TestOnlyIssueTwoKinds:
    def test_absent_kinds_count_zero(self) -> None:
        """A log of the one-hour path only: every issue-3 figure is 0, nothing fails."""
        log = Log()
        log.issue("A2", m(0))
        log.feedback("A2", m(11), m(10))
        report = compute_report(
            log.events, period=PERIOD, participants=PARTICIPANTS, generated_at=GENERATED
        )
        hsp = _by(report["hsps"], "id", "hsp-a")
        assert hsp["art_7_3_d_complaints"]["received"] == 0
        assert hsp["art_7_3_f_reinstated_after_review"] == 0
        assert hsp["art_7_3_g_reinstated_after_complaint"] == 0
        authority = _by(report["authorities"], "id", "auth-de")
        assert authority["art_8_1_a"]["cross_border"] == 0
        assert authority["art_8_1_a"]["scrutinised"] == 0
        assert authority["art_8_1_b"]["art_5_4_decisions"] == 0

    def test_empty_period(self) -> None:
        """No events: empty sections, the due dates still stated."""
        report = compute_report([], period=PERIOD, participants={}, generated_at=GENERATED)
        assert (report["hsps"], report["authorities"], report["member_states"]) == ([], [], [])
        assert report["due_dates"]["art_7_hsp_reports"] == "2027-03-01"

    def test_records_and_dicts_agree(self) -> None:
        """EventRecord instances and plain dicts are the same input."""
        events = scenario()
        records = [EventRecord.from_mapping(e) for e in events]
        as_records = compute_report(
            records, period=PERIOD, participants=PARTICIPANTS, generated_at=GENERATED
        )
        as_dicts = compute_report(
            events, period=PERIOD, participants=PARTICIPANTS, generated_at=GENERATED
        )
        assert as_records == as_dicts


class TestDistribution:
    def test_empty(self) -> None:
        """No removals: count 0, no statistics, empty buckets."""
        dist = distribution([])
        assert dist["count"] == 0
        assert dist["min_s"] is dist["p50_s"] is dist["max_s"] is None
        assert _buckets(dist) == [0] * len(BUCKETS)

    def test_nearest_rank(self) -> None:
        """1..10 minutes: p50 = 5th, p90 = 9th, p95 = 10th value."""
        dist = distribution([60.0 * i for i in range(10, 0, -1)])
        assert (dist["min_s"], dist["p50_s"], dist["p90_s"], dist["p95_s"], dist["max_s"]) == (
            60.0,
            300.0,
            540.0,
            600.0,
            600.0,
        )

    def test_bucket_bounds_are_inclusive_above(self) -> None:
        """15 min is <= 15; 60 min is 45-60 (on time, R8); one ms more is the next bucket."""
        dist = distribution([900.0, 900.001, 1800.0, 2700.0, 3600.0, 3600.001])
        assert _buckets(dist) == [1, 2, 1, 1, 1]


class TestPeriod:
    def test_parse_day_bounds(self) -> None:
        """--to DATE includes that day; a date-time is an exclusive end."""
        period = Period.parse("2026-01-01", "2026-12-31")
        assert period.start == datetime(2026, 1, 1, tzinfo=UTC)
        assert period.end == datetime(2027, 1, 1, tzinfo=UTC)
        exact = Period.parse("2026-03-01T10:00:00+01:00", "2026-03-01T12:00:00Z")
        assert exact.start == datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
        assert exact.end == datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
        assert exact.art_7_due == date(2027, 3, 1)
        assert exact.art_21_due == date(2027, 3, 31)

    @pytest.mark.parametrize(
        ("start", "end"), [("2026-12-31", "2026-01-01"), ("yesterday", "2026-01-01")]
    )
    def test_rejects(self, start: str, end: str) -> None:
        """A reversed or unreadable period is a ValueError (one CLI error line)."""
        with pytest.raises(ValueError, match=r"period|date"):
            Period.parse(start, end)

    def test_hsp_breach_codes(self) -> None:
        """Art. 18(1) HSP obligations by article number."""
        assert is_hsp_breach("breach_4_7")
        assert is_hsp_breach("breach_14_5")
        assert is_hsp_breach("breach_11")
        assert is_hsp_breach("exposure_report_late", "Art. 5(5)")
        assert is_hsp_breach("complaint_outcome_late", "Art. 10(2)")
        assert not is_hsp_breach("breach_12_1")
        assert not is_hsp_breach("scrutiny_decision_late", "Art. 4(3)")
        assert not is_hsp_breach("review_decision_late", "Art. 5(7)")
        assert not is_hsp_breach("finality_notice_late", "Art. 3(9)")
