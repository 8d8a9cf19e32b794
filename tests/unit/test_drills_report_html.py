"""Time axes of the drill report: readable labels whatever the scenario's length."""

from __future__ import annotations

import itertools

import pytest

from perci_sim.drills.report_html import _time_ticks


@pytest.mark.parametrize("end", [60.0, 3600.0, 11_788.5, 86_400.0, 3 * 86_400.0, 365 * 86_400.0])
def test_at_most_nine_ticks_from_zero(end: float) -> None:
    ticks = _time_ticks(end)
    assert ticks[0] == (0, "T+0d" if end > 2 * 86_400 else "T+00:00")
    assert 1 <= len(ticks) <= 9
    assert all(b[0] > a[0] for a, b in itertools.pairwise(ticks))
    assert ticks[-1][0] <= end


def test_labels_in_hours_then_days() -> None:
    assert [label for _, label in _time_ticks(3 * 3600)][:3] == ["T+00:00", "T+00:30", "T+01:00"]
    assert [label for _, label in _time_ticks(30 * 86_400)][:2] == ["T+0d", "T+7d"]
