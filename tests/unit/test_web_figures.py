"""One-hour compliance figures of the dashboard (perci_sim/web/figures.py)."""

from __future__ import annotations

from typing import Any

from perci_sim.web.figures import compliance_series, hsp_figures


def order(hsp: str, state: str, *, at: str = "2026-11-25T10:00:00.000+00:00") -> dict[str, Any]:
    return {
        "hsp_id": hsp,
        "state": state,
        "measure_at": at if state.startswith("executed") else None,
        "deadline_at": at,
        "updated_at": at,
    }


class TestHspFigures:
    def test_counts_per_hsp_and_a_total_row(self) -> None:
        """Executed in time over decided (in time + late + overdue); open ones wait."""
        rows = hsp_figures(
            [
                order("hsp-a", "executed"),
                order("hsp-a", "executed_late"),
                order("hsp-a", "overdue"),
                order("hsp-a", "acknowledged"),
                order("hsp-b", "executed"),
                order("hsp-b", "withdrawn"),
            ]
        )
        by_hsp = {row["hsp_id"]: row for row in rows}
        assert by_hsp["hsp-a"] == {
            "hsp_id": "hsp-a", "issued": 4, "executed": 1, "executed_late": 1, "overdue": 1,
            "open": 1, "compliance_pct": 33.3,
        }  # fmt: skip
        assert by_hsp["hsp-b"]["compliance_pct"] == 100.0
        assert by_hsp["hsp-b"]["issued"] == 2
        assert rows[-1]["hsp_id"] is None
        assert rows[-1]["compliance_pct"] == 50.0

    def test_nothing_decided_has_no_percentage(self) -> None:
        assert hsp_figures([order("hsp-a", "delivered")])[0]["compliance_pct"] is None
        assert hsp_figures([]) == []


class TestComplianceSeries:
    def test_one_point_per_decision_in_time_order(self) -> None:
        series = compliance_series(
            [
                order("a", "overdue", at="2026-11-25T11:00:00.000+00:00"),
                order("a", "executed", at="2026-11-25T10:10:00.000+00:00"),
                order("b", "delivered"),
                order("b", "executed_late", at="2026-11-25T11:30:00.000+00:00"),
            ]
        )
        assert [(p["pct"], p["decided"]) for p in series] == [(100.0, 1), (50.0, 2), (33.3, 3)]
        assert series[0]["at"] == "2026-11-25T10:10:00.000+00:00"

    def test_long_series_are_thinned_keeping_the_last_point(self) -> None:
        orders = [
            order(
                "a",
                "executed" if i % 4 else "overdue",
                at=f"2026-11-25T10:{i % 60:02d}:{i // 60:02d}.000+00:00",
            )
            for i in range(1000)
        ]
        series = compliance_series(orders)
        assert len(series) == 400
        assert series[-1]["decided"] == 1000
        assert series[-1]["pct"] == 75.0
