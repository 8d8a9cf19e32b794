"""Deadline math (TCO Art. 3(3)) and the arrival rules (R2, R4, R5, R8, R9)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from perci_sim.domain import rules
from perci_sim.domain.deadlines import (
    TimerKind,
    execution_deadline,
    is_on_time,
    is_undue_delay,
    timers_for_round,
)
from perci_sim.domain.errors import (
    AdvanceInformationMissing,
    LanguageNotDesignated,
    MeasureTimeInvalid,
    ReceiptTimeMismatch,
)
from perci_sim.domain.member_states import MEMBER_STATES, designates_host_language
from perci_sim.domain.states import Trigger

T0 = datetime(2026, 3, 29, 0, 30, tzinfo=UTC)  # the night Europe springs forward


class TestExecutionDeadline:
    @pytest.mark.parametrize(
        ("start", "deadline"),
        [
            (T0, datetime(2026, 3, 29, 1, 30, tzinfo=UTC)),
            # 01:30 Berlin winter time (UTC+1) = 00:30 UTC; DST starts at 01:00 UTC:
            # one elapsed hour later is 01:30 UTC, i.e. 03:30 Berlin summer time.
            (
                datetime(2026, 3, 29, 1, 30, tzinfo=ZoneInfo("Europe/Berlin")),
                datetime(2026, 3, 29, 1, 30, tzinfo=UTC),
            ),
            (
                datetime(2026, 10, 25, 2, 30, tzinfo=timezone(timedelta(hours=2))),
                datetime(2026, 10, 25, 1, 30, tzinfo=UTC),
            ),
        ],
    )
    def test_one_elapsed_hour_in_utc(self, start: datetime, deadline: datetime) -> None:
        """R3/R24: the deadline is receipt + 3600 s, whatever the offset or DST."""
        assert execution_deadline(start) == deadline
        assert execution_deadline(start).utcoffset() == timedelta(0)

    def test_naive_times_are_refused(self) -> None:
        """No naive datetime ever enters the deadline math."""
        with pytest.raises(ValueError, match="aware"):
            execution_deadline(datetime(2026, 1, 1))

    @given(st.datetimes(timezones=st.sampled_from([UTC, ZoneInfo("Europe/Dublin")])))
    def test_deadline_is_always_exactly_one_hour_of_elapsed_time(self, start: datetime) -> None:
        """Property: for any aware start, the deadline is 3600 s later."""
        assert (execution_deadline(start) - start).total_seconds() == 3600

    def test_timers_of_a_round(self) -> None:
        """Warnings at 45 and 55 minutes, then the deadline at 60."""
        timers = timers_for_round(T0)
        assert [(t.kind, t.minutes) for t in timers] == [
            (TimerKind.WARNING, 45),
            (TimerKind.WARNING, 55),
            (TimerKind.DEADLINE, 60),
        ]
        assert [t.due_at - T0 for t in timers] == [
            timedelta(minutes=45),
            timedelta(minutes=55),
            timedelta(hours=1),
        ]


class TestOnTime:
    @pytest.mark.parametrize(
        ("measure_offset", "on_time"),
        [(timedelta(0), True), (timedelta(seconds=-1), True), (timedelta(milliseconds=1), False)],
    )
    def test_boundary(self, measure_offset: timedelta, on_time: bool) -> None:
        """R8: a measure at the deadline itself is on time; a millisecond later is not."""
        deadline = execution_deadline(T0)
        assert is_on_time(deadline + measure_offset, deadline) is on_time

    def test_undue_delay(self) -> None:
        """R8: Annex II sent later than the allowed delay after the measure."""
        assert not is_undue_delay(T0, T0 + timedelta(hours=1), timedelta(hours=1))
        assert is_undue_delay(T0, T0 + timedelta(hours=1, seconds=1), timedelta(hours=1))


class TestAdvanceInformation:
    def test_later_orders_need_nothing(self) -> None:
        """R4 applies to the first order of the (authority, HSP) pair only."""
        rules.check_advance_information(
            is_first_order=False,
            advance_received_at=None,
            now=T0,
            emergency=False,
            justification=None,
        )

    def test_missing_advance_information(self) -> None:
        """R4: refused, and the error says what to do."""
        with pytest.raises(AdvanceInformationMissing, match="advance information") as info:
            rules.check_advance_information(
                is_first_order=True,
                advance_received_at=None,
                now=T0,
                emergency=False,
                justification=None,
            )
        assert info.value.not_before is None

    @pytest.mark.parametrize(
        ("received_before", "refused"),
        [(timedelta(hours=11, minutes=59), True), (timedelta(hours=12), False)],
    )
    def test_twelve_hours(self, received_before: timedelta, refused: bool) -> None:
        """TCO Art. 3(2): at least 12 hours before; the error names the first allowed instant."""
        kwargs = {
            "is_first_order": True,
            "advance_received_at": T0 - received_before,
            "now": T0,
            "emergency": False,
            "justification": None,
        }
        if refused:
            with pytest.raises(AdvanceInformationMissing) as info:
                rules.check_advance_information(**kwargs)  # type: ignore[arg-type]
            assert info.value.not_before == T0 + timedelta(minutes=1)
            assert info.value.extensions["not_before"].startswith("2026-03-29T00:31:00.000")
        else:
            rules.check_advance_information(**kwargs)  # type: ignore[arg-type]

    @pytest.mark.parametrize(
        ("justification", "refused"), [("", True), ("   ", True), ("x", False)]
    )
    def test_emergency_needs_a_justification(self, justification: str, refused: bool) -> None:
        """Art. 3(2) 'duly justified cases of emergency': a bare flag is not enough."""
        call = {
            "is_first_order": True,
            "advance_received_at": None,
            "now": T0,
            "emergency": True,
            "justification": justification,
        }
        if refused:
            with pytest.raises(AdvanceInformationMissing):
                rules.check_advance_information(**call)  # type: ignore[arg-type]
        else:
            rules.check_advance_information(**call)  # type: ignore[arg-type]


class TestLanguagesAndReceipts:
    def test_language_must_be_designated(self) -> None:
        """R5: an order in a language the HSP did not designate is refused."""
        rules.check_language("en", ["en", "ga"])
        with pytest.raises(LanguageNotDesignated) as info:
            rules.check_language("de", ["en", "ga"])
        assert info.value.extensions["designated"] == ["en", "ga"]

    def test_registry_needs_a_host_language(self) -> None:
        """Art. 15(2): at least one official language of the host Member State."""
        assert designates_host_language("IE", ("ga",))
        assert not designates_host_language("DE", ("en", "fr"))
        assert len(MEMBER_STATES) == 27

    @pytest.mark.parametrize(
        ("stated", "ok"),
        [
            ("2026-03-29T00:30:00.000+00:00", True),
            ("2026-03-29T02:30:00.000+02:00", True),
            ("2026-03-29T00:30:00Z", True),
            ("2026-03-29T00:30:00.001+00:00", False),
            ("2026-03-29T00:29:59.999Z", False),
            ("2026-03-29T00:30:00", False),
            ("yesterday", False),
        ],
    )
    def test_receipt_time_is_the_brokers(self, stated: str, ok: bool) -> None:
        """R9: no backdating: Annex II/III state exactly the broker's receipt time."""
        if ok:
            rules.check_receipt_time(stated, T0)
        else:
            with pytest.raises(ReceiptTimeMismatch):
                rules.check_receipt_time(stated, T0)

    def test_measure_between_receipt_and_feedback(self) -> None:
        """Annex II Section B: the measure cannot precede receipt or follow the feedback."""
        rules.check_measure_time(T0, order_received_at=T0, feedback_received_at=T0)
        with pytest.raises(MeasureTimeInvalid):
            rules.check_measure_time(
                T0 - timedelta(seconds=1), order_received_at=T0, feedback_received_at=T0
            )
        with pytest.raises(MeasureTimeInvalid):
            rules.check_measure_time(
                T0 + timedelta(seconds=1), order_received_at=T0, feedback_received_at=T0
            )

    @pytest.mark.parametrize(
        ("reasons", "trigger"),
        [
            (["force_majeure"], Trigger.IMPOSSIBILITY_FORCE_MAJEURE),
            (["manifest_errors"], Trigger.IMPOSSIBILITY_NEEDS_CLARIFICATION),
            (["insufficient_information"], Trigger.IMPOSSIBILITY_NEEDS_CLARIFICATION),
            (["force_majeure", "manifest_errors"], Trigger.IMPOSSIBILITY_NEEDS_CLARIFICATION),
        ],
    )
    def test_annex_iii_reasons(self, reasons: list[str], trigger: Trigger) -> None:
        """R6/R7: which Annex III reasons wait for which answer."""
        assert rules.impossibility_trigger(reasons) is trigger


COMPLETE_ORDER = {
    "legal_basis": "Regulation (EU) 2021/784",
    "section_a": {"issued_at": "2026-03-29T00:00:00+00:00"},
    "section_b": {
        "content": [{"url": "https://example.com/x"}],
        "reasons": ["a"],
        "reasons_details": "calls for attacks",
    },
    "section_e": {"authority_name": "BKA", "authority_type": "law_enforcement"},
    "section_g": {"competent_body": "VG Wiesbaden", "appeal_deadline": {"duration": "P1M"}},
}


class TestArt34Completeness:
    def test_complete_order_has_no_flags(self) -> None:
        """R2: nothing to flag on a complete Annex I."""
        assert rules.art_3_4_gaps(COMPLETE_ORDER) == []

    @pytest.mark.parametrize(
        ("drop", "code"),
        [
            (("section_b", "reasons"), "art_3_4_b"),
            (("section_b", "content"), "art_3_4_c"),
            (("legal_basis",), "art_3_4_d"),
            (("section_a", "issued_at"), "art_3_4_e"),
            (("section_g", "appeal_deadline"), "art_3_4_f"),
            (("section_e", "authority_name"), "art_3_4_a"),
        ],
    )
    def test_each_missing_element_is_flagged(self, drop: tuple[str, ...], code: str) -> None:
        """R2: a missing Art. 3(4) element is named, by letter and by field."""
        import copy

        order = copy.deepcopy(COMPLETE_ORDER)
        node: dict[str, object] = order
        for key in drop[:-1]:
            node = node[key]  # type: ignore[assignment]
        del node[drop[-1]]
        flags = rules.art_3_4_gaps(order)
        assert len(flags) == 1
        assert flags[0].startswith(code)
        assert ".".join(drop) in flags[0]

    def test_content_item_without_url_is_flagged(self) -> None:
        """Art. 3(4)(c) asks for the exact URL of every item."""
        order = {**COMPLETE_ORDER, "section_b": {**COMPLETE_ORDER["section_b"]}}
        order["section_b"]["content"] = [  # type: ignore[index]
            {"url": "https://example.com/x"},
            {"additional_information": "the second video"},
        ]
        flags = rules.art_3_4_gaps(order)
        assert flags == [
            "art_3_4_c: missing exact URL of the content (Section B): section_b.content[1].url"
        ]
