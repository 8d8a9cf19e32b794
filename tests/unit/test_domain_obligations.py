"""The pure obligation math of the order lifecycle (perci_sim/domain/obligations.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from perci_sim.domain.obligations import (
    NONDISCLOSURE_MAX,
    OBLIGATIONS,
    NondisclosureRefused,
    ObligationKind,
    Period,
    PreservationExtensionRefused,
    add_period,
    check_nondisclosure_extension,
    check_preservation_extension,
    due_at,
    exposure_prompted,
    final_orders_in_window,
    is_early_purge,
    nondisclosure_end,
    parse_duration,
    preserve_until,
    within,
)

K = ObligationKind
T0 = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
H = timedelta(hours=1)


@pytest.mark.parametrize(
    ("kind", "article", "after", "breach"),
    [
        (K.OWN_SCRUTINY_WINDOW, "Art. 4(3)", 72 * H, None),
        (K.HSP_SCRUTINY_REQUEST_WINDOW, "Art. 4(4)", 48 * H, None),
        (K.CP_SCRUTINY_REQUEST_WINDOW, "Art. 4(4)", 48 * H, None),
        (K.SCRUTINY_DECISION, "Art. 4(4)", 72 * H, "scrutiny_decision_late"),
        (K.COMPLAINT_OUTCOME, "Art. 10(2)", timedelta(weeks=2), "complaint_outcome_late"),
    ],
)
def test_fixed_periods_articles_and_breaches(
    kind: ObligationKind, article: str, after: timedelta, breach: str | None
) -> None:
    """R11, Art. 10(2): the table's periods, articles and what expiry means."""
    spec = OBLIGATIONS[kind]
    assert (spec.article, spec.breach) == (article, breach)
    assert due_at(kind, T0) == T0 + after


@pytest.mark.parametrize(
    ("kind", "due"),
    [
        (K.EXPOSURE_REPORT, datetime(2027, 2, 25, 10, 0, tzinfo=UTC)),  # Art. 5(5): 3 months
        (K.REVIEW_DECISION, datetime(2027, 2, 25, 10, 0, tzinfo=UTC)),  # Art. 5(7): 3 months
        (K.PRESERVATION, datetime(2027, 5, 25, 10, 0, tzinfo=UTC)),  # Art. 6(1): 6 months
    ],
)
def test_calendar_month_periods(kind: ObligationKind, due: datetime) -> None:
    """R15, R18: months are calendar months."""
    assert due_at(kind, T0) == due


def test_every_kind_is_in_the_table_and_per_instance_periods_need_one() -> None:
    """The table is complete; kinds without a fixed period refuse to guess."""
    assert set(OBLIGATIONS) == set(ObligationKind)
    for kind in (K.REINSTATEMENT, K.APPEAL_WINDOW, K.FINALITY_NOTICE):
        with pytest.raises(ValueError, match="no fixed period"):
            due_at(kind, T0)
        assert due_at(kind, T0, Period(delta=H)) == T0 + H


@pytest.mark.parametrize(
    ("text", "period"),
    [
        ("P1M", Period(months=1)),
        ("P1Y2M", Period(months=14)),
        ("P30D", Period(delta=timedelta(days=30))),
        ("P2W", Period(delta=timedelta(weeks=2))),
        ("PT72H", Period(delta=72 * H)),
        ("P1DT12H", Period(delta=timedelta(days=1, hours=12))),
    ],
)
def test_section_g_durations(text: str, period: Period) -> None:
    """R17, Annex I Section G: ISO 8601 appeal deadlines."""
    assert parse_duration(text) == period


@pytest.mark.parametrize("text", ["", "P", "1M", "PT", "one month", "P1.5M"])
def test_unreadable_durations(text: str) -> None:
    with pytest.raises(ValueError, match="ISO 8601"):
        parse_duration(text)


def test_month_end_is_clamped() -> None:
    """31 January + 1 month is the last day of February."""
    jan31 = datetime(2027, 1, 31, 9, 0, tzinfo=UTC)
    assert add_period(jan31, Period(months=1)) == datetime(2027, 2, 28, 9, 0, tzinfo=UTC)
    assert add_period(jan31, Period(months=-2)) == datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


def test_windows_include_their_end() -> None:
    """R11: a message at the very end of a window is within it; a millisecond later is not."""
    period = Period(delta=48 * H)
    assert within(T0 + 48 * H, opened_at=T0, period=period)
    assert not within(T0 + 48 * H + timedelta(milliseconds=1), opened_at=T0, period=period)
    assert not within(T0 - timedelta(seconds=1), opened_at=T0, period=period)


def test_rolling_twelve_months_of_final_orders() -> None:
    """R18, Art. 5(4): two final orders within twelve months prompt a decision."""
    now = datetime(2027, 6, 1, tzinfo=UTC)
    assert not exposure_prompted([now - timedelta(days=10)], now)
    assert exposure_prompted([now - timedelta(days=10), now - timedelta(days=300)], now)
    assert not exposure_prompted([now - timedelta(days=10), now - timedelta(days=400)], now)
    assert final_orders_in_window([now + timedelta(days=1)], now) == 0


@given(
    st.lists(st.integers(min_value=0, max_value=800), max_size=20),
    st.integers(min_value=0, max_value=800),
)
def test_exposure_count_is_monotonic_in_final_orders(days_ago: list[int], extra: int) -> None:
    """Adding a final order never lowers the count; only the last 12 months count."""
    now = datetime(2028, 3, 1, tzinfo=UTC)
    times = [now - timedelta(days=d) for d in days_ago]
    count = final_orders_in_window(times, now)
    # Twelve calendar months before 2028-03-01 is 2027-03-01 (366 days: 2028 is a leap year).
    window_start = datetime(2027, 3, 1, tzinfo=UTC)
    assert count == sum(1 for t in times if t > window_start)
    assert final_orders_in_window([*times, now - timedelta(days=extra)], now) >= count


class TestNondisclosure:
    def test_capped_at_six_weeks(self) -> None:
        """R16, Art. 11(3): at most six weeks; a missing end means six weeks."""
        assert nondisclosure_end(T0, T0 + timedelta(weeks=4)) == (T0 + timedelta(weeks=4), False)
        assert nondisclosure_end(T0, T0 + timedelta(weeks=9)) == (T0 + NONDISCLOSURE_MAX, True)
        assert nondisclosure_end(T0, None) == (T0 + NONDISCLOSURE_MAX, True)

    def test_one_extension_of_at_most_six_weeks_before_expiry(self) -> None:
        """R16: the extension rules, each refused on its own."""
        until = T0 + timedelta(weeks=6)
        ok = until + timedelta(weeks=6)
        check_nondisclosure_extension(
            current_until=until, requested=ok, now=T0, extended_before=False
        )
        for kwargs in (
            {"requested": ok, "now": T0, "extended_before": True},
            {"requested": ok, "now": until, "extended_before": False},
            {"requested": ok + timedelta(seconds=1), "now": T0, "extended_before": False},
            {"requested": until, "now": T0, "extended_before": False},
        ):
            with pytest.raises(NondisclosureRefused):
                check_nondisclosure_extension(current_until=until, **kwargs)  # type: ignore[arg-type]

    @given(st.integers(min_value=1, max_value=20 * 7 * 24))
    def test_an_accepted_extension_never_exceeds_twelve_weeks(self, hours: int) -> None:
        """R16 as a property: decision + 6 weeks + one extension <= 12 weeks."""
        until, _ = nondisclosure_end(T0, T0 + timedelta(weeks=6))
        requested = until + timedelta(hours=hours)
        try:
            check_nondisclosure_extension(
                current_until=until, requested=requested, now=T0, extended_before=False
            )
        except NondisclosureRefused:
            assert requested - T0 > 2 * NONDISCLOSURE_MAX
        else:
            assert requested - T0 <= 2 * NONDISCLOSURE_MAX


class TestPreservation:
    def test_six_months_from_the_measure_and_early_purge(self) -> None:
        """R15, Art. 6(1): six months from the measure; a purge before is a breach."""
        until = preserve_until(T0)
        assert until == datetime(2027, 5, 25, 10, 0, tzinfo=UTC)
        assert is_early_purge(until - timedelta(seconds=1), until)
        assert not is_early_purge(until, until)
        assert not is_early_purge(T0, None)

    def test_extension_needs_a_later_date_and_a_reason(self) -> None:
        """R15, Art. 6(2)."""
        until = preserve_until(T0)
        check_preservation_extension(until, until + timedelta(days=1), "Review pending.")
        with pytest.raises(PreservationExtensionRefused):
            check_preservation_extension(until, until, "Review pending.")
        with pytest.raises(PreservationExtensionRefused):
            check_preservation_extension(until, until + timedelta(days=1), "  ")
