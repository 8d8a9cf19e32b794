"""Compliance figures for the dashboard, from OrderViews: per HSP and over time.

Pure functions (no I/O) so the numbers the facilitator watches are unit-tested.
"Within one hour" is TCO Art. 3(3): an order counts as compliant when it was
executed before its deadline (state ``executed``), and as a breach once it is
``overdue`` or ``executed_late``.  Withdrawn orders and orders without legal
effect count in "issued" only; open orders are not decided yet.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["BREACHED", "compliance_series", "hsp_figures", "outcome"]

#: States in which the one-hour deadline was missed (Art. 3(3)).
BREACHED = frozenset({"overdue", "executed_late"})
_OPEN = frozenset(
    {"delivered", "acknowledged", "suspended_force_majeure", "clarification_requested"}
)
_MAX_POINTS = 400


def outcome(order: Mapping[str, Any]) -> tuple[str, bool] | None:
    """When the order's one-hour outcome became known and whether it was met, or None."""
    state = order["state"]
    if state == "executed":
        return str(order.get("measure_at") or order["updated_at"]), True
    if state in BREACHED:
        # The breach happened at the deadline (still recorded while overdue).
        return str(order.get("deadline_at") or order["updated_at"]), False
    return None


def _pct(good: int, decided: int) -> float | None:
    return round(100.0 * good / decided, 1) if decided else None


def hsp_figures(orders: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Issued / executed in time / late / overdue / open per HSP, and an ``all`` row last."""
    rows: dict[str, dict[str, Any]] = {}

    def row(name: str) -> dict[str, Any]:
        return rows.setdefault(
            name,
            {"hsp_id": name, "issued": 0, "executed": 0, "executed_late": 0, "overdue": 0,
             "open": 0},
        )  # fmt: skip

    for order in orders:
        for target in (row(str(order["hsp_id"])), row("")):
            target["issued"] += 1
            state = order["state"]
            if state in ("executed", "executed_late", "overdue"):
                target[state] += 1
            elif state in _OPEN:
                target["open"] += 1
    total = rows.pop("", None)
    result = [rows[name] for name in sorted(rows)]
    if total is not None:
        result.append({**total, "hsp_id": None})
    for entry in result:
        decided = entry["executed"] + entry["executed_late"] + entry["overdue"]
        entry["compliance_pct"] = _pct(entry["executed"], decided)
    return result


def compliance_series(orders: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Share of decided orders executed within one hour, after each decision, in time order.

    Each point is ``{"at": <ISO instant>, "pct": <0..100>, "decided": n}``.  At most
    400 points are returned (evenly thinned, the last one always kept).
    """
    decided = sorted(filter(None, (outcome(order) for order in orders)))
    points: list[dict[str, Any]] = []
    good = 0
    for count, (at, in_time) in enumerate(decided, start=1):
        good += in_time
        points.append({"at": at, "pct": _pct(good, count), "decided": count})
    if len(points) > _MAX_POINTS:
        step = len(points) / _MAX_POINTS
        thinned = [points[int(i * step)] for i in range(_MAX_POINTS - 1)]
        points = [*thinned, points[-1]]
    return points
