"""The after-action report of a drill: ``report.json`` and a self-contained ``report.html``.

Figures come from the broker's event log alone (the events every party of the
scenario may read over HTTP, merged by ``seq``), plus the runner's journal for
what the log cannot hold (the injects as played, orders the broker refused).
Counting rules (docs/DRILLS.md):

* an order is *received* by an HSP when ``order_delivered`` is logged; its time
  to removal is ``feedback_received.data.measure_at`` − the first delivery's
  ``received_at`` (docs/EVENTS.md);
* *executed within one hour* / *executed late*: ``feedback_received.data.on_time``
  (the broker's R8 verdict, which counts from the fresh hour after Annex III);
* *Annex III by reason*: each reason of each ``impossibility_received``;
* *overdue at the end*: orders whose last state in the log is ``overdue``;
* acknowledgement time: first ``acknowledgement_received`` − first delivery;
* clarification response time: ``clarification_received`` − the Annex III before it.
"""

from __future__ import annotations

import base64
import html
import json
import math
import statistics
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from perci_schemas.client_views import EventView, format_time, parse_time

if TYPE_CHECKING:
    from perci_sim.drills.scenario import Scenario

__all__ = [
    "SEED_STABLE",
    "OrderFacts",
    "build_report",
    "order_facts",
    "percentile",
    "render_html",
    "write_report",
]

#: Figures that are identical for the same scenario and seed (docs/DRILLS.md). Times
#: (medians, percentiles) are stable only within the jitter of the wall clock.
SEED_STABLE: tuple[str, ...] = (
    "orders_received",
    "executed_within_1h",
    "executed_late",
    "withdrawn",
    "annex_iii_by_reason",
    "overdue_at_end",
    "never_acknowledged",
    "orders_issued",
    "orders_refused",
    "clarifications_asked",
)

_OPEN = frozenset(
    {"delivered", "acknowledged", "overdue", "suspended_force_majeure", "clarification_requested"}
)


@dataclass(slots=True)
class OrderFacts:
    """What the log says about one order."""

    order_id: str
    authority_id: str
    hsp_id: str
    reference: str
    emergency: bool
    delivered_at: datetime | None = None
    acknowledged_at: datetime | None = None
    measure_at: datetime | None = None
    on_time: bool | None = None
    state: str = "delivered"
    withdrawn: bool = False
    deadlines_missed: int = 0
    deadline_at: datetime | None = None
    annex_iii: list[tuple[datetime, list[str]]] = field(default_factory=list)
    clarifications: list[datetime] = field(default_factory=list)

    @property
    def time_to_removal_min(self) -> float | None:
        """Minutes from the first delivery to the measure, if executed."""
        if self.measure_at is None or self.delivered_at is None:
            return None
        return (self.measure_at - self.delivered_at).total_seconds() / 60.0

    @property
    def ack_min(self) -> float | None:
        """Minutes from the first delivery to the first acknowledgement."""
        if self.acknowledged_at is None or self.delivered_at is None:
            return None
        return (self.acknowledged_at - self.delivered_at).total_seconds() / 60.0


def _payload(document: str | None) -> dict[str, Any]:
    if not document:
        return {}
    try:
        part = document.split(".")[1]
        data = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    except (IndexError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def order_facts(events: Iterable[Mapping[str, Any]]) -> dict[str, OrderFacts]:
    """Fold the log into one :class:`OrderFacts` per order, in log order."""
    orders: dict[str, OrderFacts] = {}
    for event in sorted(events, key=lambda e: int(e["seq"])):
        order_id, kind, data = event.get("order_id"), event["kind"], event.get("data") or {}
        if not order_id:
            continue
        at = parse_time(event["received_at"])
        if kind == "order_received":
            payload = _payload(event.get("document"))
            section_a = payload.get("section_a") or {}
            emergency = data.get("emergency")
            orders[order_id] = OrderFacts(
                order_id=order_id,
                authority_id=str(event["actor"]),
                hsp_id=str((section_a.get("addressee") or {}).get("hsp_id", "?")),
                reference=str(data.get("reference_number") or section_a.get("reference_number")),
                emergency=bool(emergency.get("is_emergency"))
                if isinstance(emergency, dict)
                else bool(emergency),
            )
        facts = orders.get(order_id)
        if facts is None:
            continue
        if isinstance(data.get("state"), str):
            facts.state = data["state"]
        if isinstance(data.get("deadline_at"), str):
            facts.deadline_at = parse_time(data["deadline_at"])
        if kind == "order_delivered" and facts.delivered_at is None:
            facts.delivered_at = parse_time(data.get("received_at") or event["received_at"])
        elif kind == "acknowledgement_received" and facts.acknowledged_at is None:
            facts.acknowledged_at = at
        elif kind == "feedback_received":
            facts.measure_at = parse_time(data["measure_at"])
            facts.on_time = bool(data.get("on_time"))
        elif kind == "impossibility_received":
            facts.annex_iii.append((at, [str(r) for r in data.get("reasons") or ()]))
        elif kind == "clarification_received":
            facts.clarifications.append(at)
        elif kind == "withdrawal_received":
            facts.withdrawn = True
        elif kind == "deadline_missed":
            facts.deadlines_missed += 1
    return orders


def percentile(values: Sequence[float], p: float) -> float | None:
    """Nearest-rank percentile ``p`` (0–100) of ``values``; ``None`` when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100.0 * len(ordered)))
    return ordered[rank - 1]


def _stats(values: Sequence[float]) -> dict[str, Any]:
    def r(value: float | None) -> float | None:
        return None if value is None else round(value, 2)

    return {
        "count": len(values),
        "median": r(statistics.median(values)) if values else None,
        "p95": r(percentile(values, 95)),
        "min": r(min(values)) if values else None,
        "max": r(max(values)) if values else None,
    }


def _overdue(order: OrderFacts, ended_at: datetime) -> bool:
    """Open past its deadline at the end (whether or not the broker's timer has fired)."""
    if order.state == "overdue":
        return True
    return (
        order.state in ("delivered", "acknowledged")
        and order.deadline_at is not None
        and order.deadline_at <= ended_at
    )


def _hsp_figures(orders: Sequence[OrderFacts], ended_at: datetime) -> dict[str, Any]:
    removal = [t for o in orders if (t := o.time_to_removal_min) is not None]
    acks = [t for o in orders if (t := o.ack_min) is not None]
    reasons: Counter[str] = Counter(r for o in orders for _, rs in o.annex_iii for r in rs)
    within = sum(1 for o in orders if o.on_time is True)
    late = sum(1 for o in orders if o.on_time is False)
    overdue = sum(1 for o in orders if _overdue(o, ended_at))
    withdrawn = sum(1 for o in orders if o.withdrawn)
    due = len(orders) - withdrawn
    return {
        "orders_received": len(orders),
        "executed_within_1h": within,
        "executed_late": late,
        "withdrawn": withdrawn,
        "annex_iii_by_reason": dict(sorted(reasons.items())),
        "overdue_at_end": overdue,
        "open_at_end": sum(1 for o in orders if o.state in _OPEN and not _overdue(o, ended_at)),
        "deadlines_missed": sum(o.deadlines_missed for o in orders),
        "compliance_1h": round(within / due, 4) if due else None,
        "time_to_removal_min": _stats(removal),
        "acknowledgement_min": _stats(acks),
        "never_acknowledged": sum(1 for o in orders if o.acknowledged_at is None),
    }


def _authority_figures(
    orders: Sequence[OrderFacts], refused: int, withdraw_failed: int
) -> dict[str, Any]:
    asked = 0
    responses: list[float] = []
    for order in orders:
        requests = [
            at
            for at, reasons in order.annex_iii
            if {"insufficient_information", "manifest_errors"} & set(reasons)
        ]
        asked += len(requests)
        for answered in order.clarifications:
            before = [at for at in requests if at <= answered]
            if before:
                responses.append((answered - max(before)).total_seconds() / 60.0)
    return {
        "orders_issued": len(orders),
        "orders_refused": refused,
        "emergency_orders": sum(1 for o in orders if o.emergency),
        "withdrawals": sum(1 for o in orders if o.withdrawn),
        "withdrawals_refused": withdraw_failed,
        "clarifications_asked": asked,
        "clarification_response_min": _stats(responses),
    }


def build_report(
    scenario: Scenario,
    events: Sequence[EventView] | Sequence[Mapping[str, Any]],
    *,
    journal: Sequence[Mapping[str, Any]],
    t0: datetime,
    ended_at: datetime,
    broker_url: str = "",
    wall_seconds: float | None = None,
    errors: Sequence[str] = (),
    verify_log: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The figures of a drill (the layout of ``report.json``)."""
    facts = order_facts(events)
    orders = sorted(facts.values(), key=lambda o: (o.delivered_at or t0, o.order_id))
    hsp_ids = [h.id for h in scenario.hsps]
    hsp_ids += sorted({o.hsp_id for o in orders} - set(hsp_ids))
    authority_ids = [a.id for a in scenario.authorities]
    refused = Counter(str(j.get("authority_id")) for j in journal if j.get("kind") == "refused")
    failed = Counter(
        str(j.get("authority_id", "")) for j in journal if j.get("kind") == "withdraw_failed"
    )

    def offset(at: datetime | None) -> float | None:
        return None if at is None else round((at - t0).total_seconds(), 3)

    return {
        "scenario": {
            "name": scenario.name,
            "description": scenario.description,
            "source": scenario.source,
            "seed": scenario.seed,
            "speed": scenario.speed,
            "t0": format_time(t0),
            "ended_at": format_time(ended_at),
            "simulated_seconds": round((ended_at - t0).total_seconds(), 1),
            "wall_seconds": None if wall_seconds is None else round(wall_seconds, 2),
            "broker_url": broker_url,
            "live_parties": [p.id for p in scenario.parties if p.live],
        },
        "seed_stable": list(SEED_STABLE),
        "overall": {
            **_hsp_figures(orders, ended_at),
            "orders_refused": sum(refused.values()),
            "events": len(events),
        },
        "hsps": {h: _hsp_figures([o for o in orders if o.hsp_id == h], ended_at) for h in hsp_ids},
        "authorities": {
            a: _authority_figures([o for o in orders if o.authority_id == a], refused[a], failed[a])
            for a in authority_ids
        },
        "injects": [
            {
                "offset_s": i.at_s,
                "kind": i.kind,
                "text": i.describe(),
                "line": i.line,
            }
            for i in scenario.injects
        ],
        "journal": [dict(j) for j in journal],
        "orders": [
            {
                "order_id": o.order_id,
                "reference": o.reference,
                "authority_id": o.authority_id,
                "hsp_id": o.hsp_id,
                "emergency": o.emergency,
                "state": o.state,
                "delivered_s": offset(o.delivered_at),
                "measure_s": offset(o.measure_at),
                "on_time": o.on_time,
                "time_to_removal_min": None
                if o.time_to_removal_min is None
                else round(o.time_to_removal_min, 3),
                "annex_iii": [r for _, rs in o.annex_iii for r in rs],
            }
            for o in orders
        ],
        "offline": [
            {"hsp": h.id, "from_s": a, "to_s": None if math.isinf(b) else b}
            for h in scenario.hsps
            for a, b in scenario.offline_windows(h.id)
        ],
        "errors": list(errors),
        "verify_log": dict(verify_log) if verify_log is not None else None,
    }


# --- HTML ----------------------------------------------------------------------------------------

_COLORS = {
    "within": "#2e7d32",
    "late": "#ef6c00",
    "overdue": "#c62828",
    "withdrawn": "#9e9e9e",
    "open": "#1565c0",
}


def _e(text: object) -> str:
    return html.escape(str(text))


def _box_chart(report: Mapping[str, Any]) -> str:
    """Time to removal per HSP: a box (quartiles), whiskers (min–max), the median, the hour."""
    rows: list[tuple[str, list[float]]] = []
    for hsp in report["hsps"]:
        values = sorted(
            o["time_to_removal_min"]
            for o in report["orders"]
            if o["hsp_id"] == hsp and o["time_to_removal_min"] is not None
        )
        rows.append((hsp, values))
    top = max([60.0, *(v[-1] for _, v in rows if v)]) * 1.05
    width, left, row_h = 640, 110, 34
    height = 30 + row_h * len(rows)

    def x(minutes: float) -> float:
        return left + (width - left - 20) * minutes / top

    parts = [f'<svg viewBox="0 0 {width} {height}" role="img" class="chart">']
    parts.extend(
        f'<line x1="{x(tick):.1f}" y1="10" x2="{x(tick):.1f}" y2="{height - 20}" '
        f'stroke="#eee"/><text x="{x(tick):.1f}" y="{height - 6}" font-size="10" '
        f'text-anchor="middle">{tick}</text>'
        for tick in range(0, int(top) + 1, 15 if top < 200 else 60)
    )
    parts.append(
        f'<line x1="{x(60):.1f}" y1="10" x2="{x(60):.1f}" y2="{height - 20}" '
        'stroke="#c62828" stroke-dasharray="4 3"><title>one hour (Art. 3(3))</title></line>'
    )
    for i, (hsp, values) in enumerate(rows):
        y = 20 + i * row_h
        parts.append(f'<text x="4" y="{y + 12}" font-size="12">{_e(hsp)}</text>')
        if not values:
            parts.append(f'<text x="{left}" y="{y + 12}" font-size="11" fill="#777">none</text>')
            continue
        q1, q3 = percentile(values, 25) or 0, percentile(values, 75) or 0
        med = statistics.median(values)
        parts.append(
            f'<line x1="{x(values[0]):.1f}" y1="{y + 8}" x2="{x(values[-1]):.1f}" '
            f'y2="{y + 8}" stroke="#555"/>'
            f'<rect x="{x(q1):.1f}" y="{y}" width="{max(1.0, x(q3) - x(q1)):.1f}" height="16" '
            f'fill="#90caf9" stroke="#1565c0"/>'
            f'<line x1="{x(med):.1f}" y1="{y}" x2="{x(med):.1f}" y2="{y + 16}" '
            f'stroke="#0d47a1" stroke-width="2"><title>median {med:.1f} min</title></line>'
        )
        parts.extend(
            f'<circle cx="{x(v):.1f}" cy="{y + 8}" r="2" fill="#0d47a1" opacity="0.4"/>'
            for v in values
        )
    parts.append("</svg>")
    return "".join(parts)


def _compliance_chart(report: Mapping[str, Any]) -> str:
    """One-hour compliance per HSP: stacked bars of outcomes."""
    width, left, row_h = 640, 110, 30
    names = list(report["hsps"])
    height = 20 + row_h * len(names)
    parts = [f'<svg viewBox="0 0 {width} {height}" role="img" class="chart">']
    for i, hsp in enumerate(names):
        f = report["hsps"][hsp]
        total = f["orders_received"] or 1
        segments = [
            ("within", f["executed_within_1h"]),
            ("late", f["executed_late"]),
            ("overdue", f["overdue_at_end"]),
            ("withdrawn", f["withdrawn"]),
            ("open", f["open_at_end"]),
        ]
        y, cursor = 10 + i * row_h, float(left)
        parts.append(f'<text x="4" y="{y + 13}" font-size="12">{_e(hsp)}</text>')
        for name, count in segments:
            if not count:
                continue
            w = (width - left - 60) * count / total
            parts.append(
                f'<rect x="{cursor:.1f}" y="{y}" width="{w:.1f}" height="18" '
                f'fill="{_COLORS[name]}"><title>{name}: {count}</title></rect>'
            )
            cursor += w
        share = f["compliance_1h"]
        label = "–" if share is None else f"{share * 100:.0f} %"
        parts.append(f'<text x="{cursor + 6:.1f}" y="{y + 13}" font-size="12">{label}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _timeline_chart(report: Mapping[str, Any]) -> str:
    """The crisis over simulated time: orders delivered and executed (cumulative), injects."""
    orders = report["orders"]
    delivered = sorted(o["delivered_s"] for o in orders if o["delivered_s"] is not None)
    executed = sorted(o["measure_s"] for o in orders if o["measure_s"] is not None)
    injects = report["injects"]
    end = float(max([60.0, report["scenario"]["simulated_seconds"], *delivered, *executed]))
    width, height, left, bottom = 640, 240, 40, 40
    total = max(1, len(delivered))

    def x(seconds: float) -> float:
        return left + (width - left - 10) * max(0.0, seconds) / end

    def y(count: float) -> float:
        return height - bottom - (height - bottom - 15) * count / total

    parts = [f'<svg viewBox="0 0 {width} {height}" role="img" class="chart">']
    for window in report["offline"]:
        a, b = window["from_s"], window["to_s"] if window["to_s"] is not None else end
        parts.append(
            f'<rect x="{x(a):.1f}" y="15" width="{max(1.0, x(b) - x(a)):.1f}" '
            f'height="{height - bottom - 15}" fill="#ffcdd2" opacity="0.5">'
            f"<title>{_e(window['hsp'])} offline</title></rect>"
        )
    step = max(1, int(end / 3600 / 8)) * 3600 if end > 4 * 3600 else 900
    parts.extend(
        f'<text x="{x(tick):.1f}" y="{height - bottom + 14}" font-size="10" '
        f'text-anchor="middle">T+{tick // 3600:02d}:{tick % 3600 // 60:02d}</text>'
        for tick in range(0, int(end) + 1, step)
    )
    for series, color in ((delivered, "#1565c0"), (executed, "#2e7d32")):
        points = [(0.0, 0)] + [(s, i + 1) for i, s in enumerate(series)] + [(end, len(series))]
        path = " ".join(f"{x(s):.1f},{y(n):.1f}" for s, n in points)
        parts.append(f'<polyline points="{path}" fill="none" stroke="{color}" stroke-width="2"/>')
    for n, inject in enumerate(injects, start=1):
        xi = x(inject["offset_s"])
        parts.append(
            f'<line x1="{xi:.1f}" y1="15" x2="{xi:.1f}" y2="{height - bottom}" stroke="#6a1b9a" '
            f'stroke-dasharray="2 2"><title>{_e(inject["text"])}</title></line>'
            f'<text x="{xi + 2:.1f}" y="{12 + (n % 3) * 10}" font-size="10" fill="#6a1b9a">'
            f"{n}</text>"
        )
    parts.append(
        f'<text x="{left}" y="{height - 6}" font-size="11" fill="#1565c0">— delivered</text>'
        f'<text x="{left + 90}" y="{height - 6}" font-size="11" fill="#2e7d32">— executed</text>'
        f'<text x="{left + 180}" y="{height - 6}" font-size="11" fill="#6a1b9a">'
        "┆ inject (numbered)</text>"
    )
    parts.append("</svg>")
    return "".join(parts)


def _table(rows: Sequence[Sequence[object]], head: Sequence[str]) -> str:
    header = "".join(f"<th>{_e(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{_e(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{header}</tr></thead><tbody>{body}</tbody></table>"


def _fmt(value: object) -> str:
    return "–" if value is None else str(value)


def render_html(report: Mapping[str, Any]) -> str:
    """One self-contained page (inline CSS and SVG, no scripts, no external resources)."""
    s = report["scenario"]
    hsp_rows = [
        [
            hsp,
            f["orders_received"],
            f["executed_within_1h"],
            f["executed_late"],
            f["overdue_at_end"],
            f["withdrawn"],
            ", ".join(f"{k} {v}" for k, v in f["annex_iii_by_reason"].items()) or "–",
            _fmt(f["time_to_removal_min"]["median"]),
            _fmt(f["time_to_removal_min"]["p95"]),
            _fmt(f["acknowledgement_min"]["median"]),
        ]
        for hsp, f in [*report["hsps"].items(), ("overall", report["overall"])]
    ]
    authority_rows = [
        [
            a,
            f["orders_issued"],
            f["orders_refused"],
            f["emergency_orders"],
            f["withdrawals"],
            f["clarifications_asked"],
            _fmt(f["clarification_response_min"]["median"]),
            _fmt(f["clarification_response_min"]["p95"]),
        ]
        for a, f in report["authorities"].items()
    ]
    inject_rows = [
        [n, f"T+{int(i['offset_s']) // 3600:02d}:{int(i['offset_s']) % 3600 // 60:02d}", i["text"]]
        for n, i in enumerate(report["injects"], start=1)
    ]
    verify = report.get("verify_log")
    verdict = "not run" if verify is None else ("passed" if verify.get("ok") else "FAILED")
    errors = "".join(f"<li>{_e(e)}</li>" for e in report.get("errors") or [])
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>Drill report: {_e(s["name"])}</title>
<style>
body{{font-family:system-ui,sans-serif;max-width:60rem;margin:1.5rem auto;padding:0 1rem;
color:#222}}
table{{border-collapse:collapse;margin:.5rem 0 1rem}}
td,th{{border:1px solid #ccc;padding:.2rem .5rem;
font-size:.85rem;text-align:right}}td:first-child,th:first-child{{text-align:left}}
.chart{{width:100%;max-width:640px;height:auto;border:1px solid #eee}} small{{color:#666}}
</style></head><body>
<h1>Drill report: {_e(s["name"])}</h1>
<p>{_e(s["description"])}</p>
<p><small>Seed {_e(s["seed"])}, clock {_e(s["speed"])}x, T+0 {_e(s["t0"])} (simulated UTC),
{_e(s["simulated_seconds"])} simulated seconds in {_e(s["wall_seconds"])} s of wall time.
Log check (verify-log): {verdict}. Live parties: {_e(", ".join(s["live_parties"]) or "none")}.
</small></p>
<h2>Time to removal per hosting provider (minutes)</h2>
{_box_chart(report)}
<p><small>Box: quartiles; line: median; whisker: min–max; dots: orders; red dashes:
the hour of Art. 3(3). Counted from the first delivery (R3).</small></p>
<h2>Compliance within one hour</h2>
{_compliance_chart(report)}
<p><small><span style="color:{_COLORS["within"]}">■</span> within 1 h
<span style="color:{_COLORS["late"]}">■</span> late
<span style="color:{_COLORS["overdue"]}">■</span> overdue at the end
<span style="color:{_COLORS["withdrawn"]}">■</span> withdrawn
<span style="color:{_COLORS["open"]}">■</span> open</small></p>
<h2>Timeline of the crisis</h2>
{_timeline_chart(report)}
{_table(inject_rows, ["#", "at", "inject"])}
<h2>Hosting providers</h2>
{
        _table(
            hsp_rows,
            [
                "HSP",
                "received",
                "within 1 h",
                "late",
                "overdue",
                "withdrawn",
                "Annex III",
                "median min",
                "p95 min",
                "ack median min",
            ],
        )
    }
<h2>Authorities</h2>
{
        _table(
            authority_rows,
            [
                "authority",
                "issued",
                "refused",
                "emergency",
                "withdrawn",
                "clarifications asked",
                "response median min",
                "p95 min",
            ],
        )
    }
{f"<h2>Problems</h2><ul>{errors}</ul>" if errors else ""}
</body></html>
"""


def write_report(directory: Path, report: Mapping[str, Any]) -> None:
    """Write ``report.json`` and ``report.html`` into ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "report.json").write_text(
        json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    (directory / "report.html").write_text(render_html(report), encoding="utf-8")
