"""The after-action report as one self-contained HTML page (inline CSS and SVG, no
scripts, no external resources): charts of time to removal, one-hour compliance,
the timeline of the crisis with its injects, referrals, and the tables."""

from __future__ import annotations

import html
import statistics
from collections.abc import Mapping, Sequence
from typing import Any

from perci_sim.drills.report import percentile

__all__ = ["render_html"]


_COLORS = {
    "within": "#2e7d32",
    "late": "#ef6c00",
    "overdue": "#c62828",
    "withdrawn": "#9e9e9e",
    "open": "#1565c0",
}


#: Timeline marks by inject kind.
_KIND_COLORS = {
    "wave": "#6a1b9a",
    "order": "#6a1b9a",
    "referrals": "#00838f",
    "scrutiny": "#ad1457",
    "withdraw": "#5d4037",
    "offline": "#c62828",
    "online": "#c62828",
}
_REFERRAL_COLORS = {"removed": "#2e7d32", "not_removed": "#ef6c00", "unanswered": "#9e9e9e"}


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
    parts.extend(
        f'<text x="{x(tick):.1f}" y="{height - bottom + 14}" font-size="10" '
        f'text-anchor="middle">{label}</text>'
        for tick, label in _time_ticks(end)
    )
    for series, color in ((delivered, "#1565c0"), (executed, "#2e7d32")):
        points = [(0.0, 0)] + [(s, i + 1) for i, s in enumerate(series)] + [(end, len(series))]
        path = " ".join(f"{x(s):.1f},{y(n):.1f}" for s, n in points)
        parts.append(f'<polyline points="{path}" fill="none" stroke="{color}" stroke-width="2"/>')
    for n, inject in enumerate(injects, start=1):
        xi = x(inject["offset_s"])
        color = _KIND_COLORS.get(inject["kind"], "#555")
        parts.append(
            f'<line x1="{xi:.1f}" y1="15" x2="{xi:.1f}" y2="{height - bottom}" stroke="{color}" '
            f'stroke-dasharray="2 2"><title>{_e(inject["text"])}</title></line>'
            f'<text x="{xi + 2:.1f}" y="{12 + (n % 3) * 10}" font-size="10" fill="{color}">'
            f"{n}</text>"
        )
    parts.append(
        f'<text x="{left}" y="{height - 6}" font-size="11" fill="#1565c0">— delivered</text>'
        f'<text x="{left + 90}" y="{height - 6}" font-size="11" fill="#2e7d32">— executed</text>'
        f'<text x="{left + 180}" y="{height - 6}" font-size="11" fill="#6a1b9a">'
        "┆ orders</text>"
        f'<text x="{left + 240}" y="{height - 6}" font-size="11" fill="#00838f">'
        "┆ referrals</text>"
        f'<text x="{left + 315}" y="{height - 6}" font-size="11" fill="#ad1457">'
        "┆ scrutiny</text>"
        f'<text x="{left + 385}" y="{height - 6}" font-size="11" fill="#c62828">'
        "┆ offline/online</text>"
    )
    parts.append("</svg>")
    return "".join(parts)


def _referral_chart(report: Mapping[str, Any]) -> str:
    """Referral outcomes per HSP (stacked bars) and cumulative referrals over time."""
    names = [h for h, f in report["hsps"].items() if f["referrals_received"]]
    width, left, row_h = 640, 110, 24
    height = 20 + row_h * len(names)
    parts = [f'<svg viewBox="0 0 {width} {height}" role="img" class="chart">']
    top = max([1, *(report["hsps"][h]["referrals_received"] for h in names)])
    for i, hsp in enumerate(names):
        f = report["hsps"][hsp]
        y, cursor = 10 + i * row_h, float(left)
        parts.append(f'<text x="4" y="{y + 12}" font-size="12">{_e(hsp)}</text>')
        for name, count in (
            ("removed", f["referrals_removed"]),
            ("not_removed", f["referrals_not_removed"]),
            ("unanswered", f["referrals_unanswered"]),
        ):
            if not count:
                continue
            w = (width - left - 60) * count / top
            parts.append(
                f'<rect x="{cursor:.1f}" y="{y}" width="{w:.1f}" height="16" '
                f'fill="{_REFERRAL_COLORS[name]}"><title>{name}: {count}</title></rect>'
            )
            cursor += w
        parts.append(
            f'<text x="{cursor + 6:.1f}" y="{y + 12}" font-size="12">{f["referrals_received"]}'
            "</text>"
        )
    parts.append("</svg>")
    series = report.get("referrals") or {}
    received = [s for s in series.get("received_s", []) if s is not None]
    answered = [s for s in series.get("answered_s", []) if s is not None]
    if received:
        parts.append(_cumulative(report, [(received, "#00838f"), (answered, "#2e7d32")]))
    return "".join(parts)


def _cumulative(report: Mapping[str, Any], series: Sequence[tuple[list[float], str]]) -> str:
    """Cumulative counts over simulated time (at most ~400 points per line)."""
    end = float(
        max([60.0, report["scenario"]["simulated_seconds"], *(max(s) for s, _ in series if s)])
    )
    width, height, left, bottom = 640, 180, 50, 30
    total = max(1, *(len(s) for s, _ in series))

    def x(seconds: float) -> float:
        return left + (width - left - 10) * max(0.0, seconds) / end

    def y(count: float) -> float:
        return height - bottom - (height - bottom - 10) * count / total

    parts = [f'<svg viewBox="0 0 {width} {height}" role="img" class="chart">']
    parts.extend(
        f'<text x="{x(tick):.1f}" y="{height - bottom + 14}" font-size="10" '
        f'text-anchor="middle">{label}</text>'
        for tick, label in _time_ticks(end)
    )
    parts.append(f'<text x="4" y="{y(total) + 4:.1f}" font-size="10">{total}</text>')
    for values, color in series:
        ordered = sorted(values)
        stride = max(1, len(ordered) // 400)
        points = [(0.0, 0)] + [
            (s, i + 1) for i, s in enumerate(ordered) if i % stride == 0 or i == len(ordered) - 1
        ]
        points.append((end, len(ordered)))
        path = " ".join(f"{x(s):.1f},{y(n):.1f}" for s, n in points)
        parts.append(f'<polyline points="{path}" fill="none" stroke="{color}" stroke-width="2"/>')
    parts.append("</svg>")
    return "".join(parts)


def _table(rows: Sequence[Sequence[object]], head: Sequence[str], *, text: bool = False) -> str:
    """A table; ``text``: its last column is prose (left-aligned), not figures."""
    header = "".join(f"<th>{_e(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{_e(c)}</td>" for c in row) + "</tr>" for row in rows)
    cls = ' class="text"' if text else ""
    return f"<table{cls}><thead><tr>{header}</tr></thead><tbody>{body}</tbody></table>"


#: Tick spacings of the time axes (simulated seconds): at most eight labels.
_TICK_STEPS = (
    300,
    600,
    900,
    1800,
    3600,
    7200,
    10800,
    21600,
    43200,
    86400,
    7 * 86400,
    30 * 86400,
    61 * 86400,
    91 * 86400,
    182 * 86400,
    365 * 86400,
)


def _time_ticks(end: float) -> list[tuple[int, str]]:
    """Ticks for a time axis from T+0 to ``end``: ``T+HH:MM`` within two days, else ``T+Nd``."""
    step = next((s for s in _TICK_STEPS if end / s <= 8), _TICK_STEPS[-1])
    in_days = end > 2 * 86400
    return [
        (tick, f"T+{tick // 86400}d" if in_days else _clock(tick))
        for tick in range(0, int(end) + 1, step)
    ]


def _clock(seconds: float) -> str:
    return f"T+{int(seconds) // 3600:02d}:{int(seconds) % 3600 // 60:02d}"


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
            f.get("feedback_undue_delay", 0),
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
            f["referrals_sent"],
            f["referrals_refused"],
            ", ".join(f"{k} {v}" for k, v in f["scrutiny_decisions"].items()) or "–",
        ]
        for a, f in report["authorities"].items()
    ]
    referral_rows = [
        [
            hsp,
            f["referrals_received"],
            f["referrals_removed"],
            f["referrals_not_removed"],
            f["referrals_unanswered"],
            _fmt(f["referral_time_to_outcome_min"]["median"]),
            _fmt(f["referral_time_to_outcome_min"]["p95"]),
        ]
        for hsp, f in [*report["hsps"].items(), ("overall", report["overall"])]
        if f["referrals_received"] or hsp == "overall"
    ]
    scrutiny_rows = [
        [
            o["reference"].rsplit("/", 1)[-1],
            o["authority_id"],
            o["hsp_id"],
            ", ".join(o["scrutiny"]),
            o["state"],
            "–" if o["reinstated_s"] is None else _clock(o["reinstated_s"]),
        ]
        for o in report["orders"]
        if o["scrutiny"]
    ]
    inject_rows = [
        [n, _clock(i["offset_s"]), i["text"]] for n, i in enumerate(report["injects"], start=1)
    ]
    referral_section = ""
    if report["overall"]["referrals_received"] or report["overall"]["referrals_refused"]:
        referral_section = (
            "<h2>Referrals (voluntary, no deadline: R20)</h2>"
            + _referral_chart(report)
            + '<p><small><span style="color:#2e7d32">■</span> removed '
            '<span style="color:#ef6c00">■</span> not removed '
            '<span style="color:#9e9e9e">■</span> unanswered; lines: referrals received '
            '(<span style="color:#00838f">—</span>) and answered '
            '(<span style="color:#2e7d32">—</span>), cumulative.</small></p>'
            + _table(
                referral_rows,
                [
                    "HSP",
                    "received",
                    "removed",
                    "not removed",
                    "unanswered",
                    "median min",
                    "p95 min",
                ],
            )
        )
    scrutiny_section = ""
    if scrutiny_rows:
        scrutiny_section = "<h2>Cross-border scrutiny (Art. 4)</h2>" + _table(
            scrutiny_rows, ["order", "issued by", "HSP", "decision", "state", "reinstated at"]
        )
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
table.text td:last-child{{text-align:left}}
.chart{{width:100%;max-width:640px;height:auto;border:1px solid #eee}} small{{color:#666}}
</style></head><body>
<h1>Drill report: {_e(s["name"])}</h1>
<p>{_e(s["description"])}</p>
<p><small>Seed {_e(s["seed"])}, clock {_e(s["speed"])}x, T+0 {_e(s["t0"])} (simulated UTC),
{_e(s["simulated_seconds"])} simulated seconds in {_e(s["wall_seconds"])} s of wall time
({_e(s.get("skipped_seconds", 0))} s of quiet periods skipped).
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
{_table(inject_rows, ["#", "at", "inject"], text=True)}
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
                "Annex II undue delay",
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
                "referrals sent",
                "referrals refused",
                "scrutiny decisions",
            ],
        )
    }
{referral_section}
{scrutiny_section}
{f"<h2>Problems</h2><ul>{errors}</ul>" if errors else ""}
</body></html>
"""
