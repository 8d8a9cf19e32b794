"""Readable documents of a transparency report: JSON, self-contained HTML, Markdown.

Every renderer takes the dict of :func:`perci_sim.reports.figures.compute_report`
and nothing else.  The HTML needs no network: inline CSS, and the time-to-removal
histograms are hand-written inline SVG.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from html import escape
from typing import Any

__all__ = ["FORMATS", "render", "render_html", "render_json", "render_markdown"]

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:2rem auto;max-width:62rem;
color:#1b1f24;line-height:1.4;padding:0 1rem}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{border-bottom:2px solid #d0d7de;padding-bottom:.2rem;
margin-top:2.2rem}h3{margin-top:1.6rem}
table{border-collapse:collapse;margin:.6rem 0 1rem}th,td{border:1px solid #d0d7de;
padding:.25rem .6rem;text-align:left;vertical-align:top}td.n{text-align:right;
font-variant-numeric:tabular-nums}th{background:#f6f8fa}
.meta{color:#57606a}.note{color:#57606a;font-size:.9rem}section.party{margin-bottom:2rem}
svg text{font-family:inherit;font-size:11px}
"""


def _fmt(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _minutes(seconds: Any) -> str:
    if seconds is None:
        return "n/a"
    return f"{float(seconds) / 60:.1f} min"


def _pairs(mapping: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}: {_fmt(v)}" for k, v in mapping.items()) or "none"


def _hsp_rows(h: Mapping[str, Any]) -> list[tuple[str, str]]:
    c = h["art_7_3_c"]
    d = h["art_7_3_d_complaints"]
    e = h["art_7_3_e_review_proceedings"]
    ne = c["not_executed"]
    b = h["breaches"]
    ex = h["execution"]
    return [
        ("Removal orders received", _fmt(h["orders_received"])),
        (
            "Art. 7(3)(c) items removed or disabled after removal orders",
            f"{c['removal_orders']['items_removed_or_disabled']} "
            f"({_pairs(c['removal_orders']['by_measure'])})",
        ),
        (
            "Art. 7(3)(c) specific measures (Art. 5)",
            f"decisions received {c['specific_measures']['exposure_decisions_received']}, "
            f"reports sent {c['specific_measures']['exposure_reports_sent']}, items "
            f"{_fmt(c['specific_measures']['items_removed_or_disabled'])}",
        ),
        (
            "Art. 7(3)(c) orders not executed under Art. 3(7)/(8)",
            f"{ne['orders']}; grounds: {_pairs(ne['grounds'])}; "
            f"at period end: {_pairs(ne['status_at_period_end'])}",
        ),
        (
            "Annex III notices",
            f"{c['annex_iii_notices']['count']} ({_pairs(c['annex_iii_notices']['reasons'])})",
        ),
        ("Art. 7(3)(d) complaints", f"{d['received']} received; {_pairs(d['outcomes'])}"),
        (
            "Art. 7(3)(e) review proceedings",
            f"scrutiny requests {e['scrutiny_requests']} ({_pairs(e['scrutiny_outcomes'])}); "
            f"Art. 5(7) requests {e['art_5_7_review_requests']} "
            f"({_pairs(e['art_5_7_review_outcomes'])})",
        ),
        ("Art. 7(3)(f) reinstated after review", _fmt(h["art_7_3_f_reinstated_after_review"])),
        (
            "Art. 7(3)(g) reinstated after complaint",
            _fmt(h["art_7_3_g_reinstated_after_complaint"]),
        ),
        (
            "Executed on time / late",
            f"{ex['on_time']} / {ex['late']} (of {ex['executed']})",
        ),
        (
            "Breaches",
            f"{b['total']}: Art. 3(3) {b['breach_3_3']}, Art. 3(6) {b['breach_3_6']}"
            + (f", {_pairs(b['other'])}" if b["other"] else ""),
        ),
    ]


def _ttr_row(t: Mapping[str, Any]) -> str:
    return (
        f"n={t['count']}; min {_minutes(t['min_s'])}, p50 {_minutes(t['p50_s'])}, "
        f"p90 {_minutes(t['p90_s'])}, p95 {_minutes(t['p95_s'])}, max {_minutes(t['max_s'])}"
    )


def _authority_rows(a: Mapping[str, Any]) -> list[tuple[str, str]]:
    x, y, z = a["art_8_1_a"], a["art_8_1_b"], a["art_8_1_c"]
    return [
        (
            "Art. 8(1)(a) orders issued",
            f"{x['orders_issued']}: cross-border {x['cross_border']}, scrutinised "
            f"{x['scrutinised']}, removed {x['removed']}, not removed {x['not_removed']}",
        ),
        (
            "Art. 8(1)(b) specific-measure decisions",
            f"Art. 5(4) {y['art_5_4_decisions']} (implemented {y['art_5_4_implemented']}), "
            f"Art. 5(6) {y['art_5_6_decisions']}, Art. 5(7) {y['art_5_7_decisions']} "
            f"({_pairs(y['art_5_7_outcomes'])})",
        ),
        (
            "Art. 8(1)(c) under review",
            f"scrutiny of its orders: {_pairs(z['scrutiny_decisions_on_its_orders'])}; "
            f"scrutiny decisions taken: {_pairs(z['scrutiny_decisions_taken'])}; "
            f"appeal notices: {_pairs(z['appeal_notices'])}; court annulments: "
            f"{_pairs(z['court_annulments'])}; legal effect ended: "
            f"{_pairs(z['legal_effect_ended'])}",
        ),
        ("Art. 8(1)(d) penalty decisions", f"{a['art_8_1_d']['penalty_decisions']} (note below)"),
        ("Withdrawals", _fmt(a["withdrawals"])),
        ("Time to removal of its orders", _ttr_row(a["time_to_removal"])),
    ]


def _ms_rows(m: Mapping[str, Any]) -> list[tuple[str, str]]:
    r = m["reviews"]
    return [
        ("Authorities", ", ".join(m["authorities"])),
        (
            "Removal orders",
            f"{m['orders_issued']} issued: cross-border {m['cross_border']}, scrutinised "
            f"{m['scrutinised']}, removed {m['removed']}, not removed {m['not_removed']}",
        ),
        ("Speed of removal", _ttr_row(m["speed_of_removal"])),
        (
            "Complaints",
            f"{m['complaints']['received']} received; {_pairs(m['complaints']['outcomes'])}",
        ),
        ("Reviews", _pairs(r)),
        ("Access requests to preserved data", _fmt(m["preserved_data_access_requests"])),
        ("Penalty decisions", _fmt(m["penalty_decisions"])),
    ]


# --- HTML ---------------------------------------------------------------------------------------


def histogram_svg(buckets: Sequence[Mapping[str, Any]], *, title: str) -> str:
    """An inline SVG bar chart of time-to-removal buckets (no script, no network)."""
    width, height, pad, axis = 420, 170, 28, 24
    top = max((int(b["count"]) for b in buckets), default=0) or 1
    slot = (width - 2 * pad) / max(len(buckets), 1)
    bar_w = slot * 0.7
    plot_h = height - axis - pad
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
        f'<line x1="{pad}" y1="{height - axis}" x2="{width - pad}" y2="{height - axis}" '
        'stroke="#57606a"/>',
    ]
    for i, b in enumerate(buckets):
        count = int(b["count"])
        bar_h = plot_h * count / top
        x = pad + i * slot + (slot - bar_w) / 2
        y = height - axis - bar_h
        colour = "#cf222e" if b["upper_s"] is None else "#0969da"
        parts.append(
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" height="{bar_h:.1f}" '
            f'fill="{colour}"><title>{escape(str(b["label"]))}: {count}</title></rect>'
        )
        parts.append(
            f'<text x="{x + bar_w / 2:.1f}" y="{y - 4:.1f}" text-anchor="middle">{count}</text>'
        )
        parts.append(
            f'<text x="{x + bar_w / 2:.1f}" y="{height - 8}" text-anchor="middle">'
            f"{escape(str(b['label']))}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def _html_table(rows: Sequence[tuple[str, str]]) -> str:
    body = "".join(f"<tr><th>{escape(k)}</th><td>{escape(v)}</td></tr>" for k, v in rows)
    return f"<table>{body}</table>"


def _title(party: Mapping[str, Any]) -> str:
    name = party.get("name") or ""
    ms = party.get("member_state")
    label = f"{party['id']}" + (f" — {name}" if name else "")
    return label + (f" ({ms})" if ms else "")


def render_html(report: Mapping[str, Any]) -> str:
    """A self-contained HTML document of ``report``."""
    period = report["period"]
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>TCO transparency report {escape(str(period['year']))}</title>",
        f"<style>{_CSS}</style></head><body>",
        "<h1>TCO transparency report</h1>",
        f'<p class="meta">{escape(report["regulation"])}<br>Period {escape(period["from"])} '
        f"to {escape(period['to'])} (end excluded, UTC) · generated "
        f"{escape(report['generated_at'])}<br>Art. 7 reports due before "
        f"{escape(report['due_dates']['art_7_hsp_reports'])} · Art. 21 reports due by "
        f"{escape(report['due_dates']['art_21_member_state_reports'])}</p>",
        "<h2>Hosting service providers (Art. 7)</h2>",
    ]
    if not report["hsps"]:
        out.append("<p>No hosting service provider acted or had to act in this period.</p>")
    for h in report["hsps"]:
        ttr = h["time_to_removal"]
        out += [
            '<section class="party">',
            f"<h3>{escape(_title(h))}</h3>",
            _html_table(_hsp_rows(h)),
            f"<p>Time to removal: {escape(_ttr_row(ttr))}</p>",
            histogram_svg(ttr["buckets"], title=f"Time to removal, {h['id']}"),
            "</section>",
        ]
    out.append("<h2>Competent authorities (Art. 8)</h2>")
    for a in report["authorities"]:
        out += [
            '<section class="party">',
            f"<h3>{escape(_title(a))}</h3>",
            _html_table(_authority_rows(a)),
            "</section>",
        ]
    out.append("<h2>Member States (Art. 21)</h2>")
    for m in report["member_states"]:
        speed = m["speed_of_removal"]
        out += [
            '<section class="party">',
            f"<h3>{escape(str(m['member_state']))}</h3>",
            _html_table(_ms_rows(m)),
            histogram_svg(speed["buckets"], title=f"Speed of removal, {m['member_state']}"),
            "</section>",
        ]
    out.append("<h2>Notes</h2><ul>")
    out += [f'<li class="note">{escape(note)}</li>' for note in report["notes"]]
    out.append("</ul></body></html>\n")
    return "\n".join(out)


# --- Markdown and JSON --------------------------------------------------------------------------


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _md_table(rows: Sequence[tuple[str, str]]) -> list[str]:
    lines = ["| figure | value |", "|---|---|"]
    lines += [f"| {_md_cell(k)} | {_md_cell(v)} |" for k, v in rows]
    return [*lines, ""]


def _md_buckets(buckets: Sequence[Mapping[str, Any]]) -> list[str]:
    head = "| " + " | ".join(str(b["label"]) for b in buckets) + " |"
    sep = "|" + "---|" * len(buckets)
    counts = "| " + " | ".join(str(b["count"]) for b in buckets) + " |"
    return [head, sep, counts, ""]


def render_markdown(report: Mapping[str, Any]) -> str:
    """A Markdown document of ``report``."""
    period = report["period"]
    out = [
        f"# TCO transparency report {period['year']}",
        "",
        f"{report['regulation']}. Period {period['from']} to {period['to']} (end excluded, "
        f"UTC); generated {report['generated_at']}. Art. 7 reports due before "
        f"{report['due_dates']['art_7_hsp_reports']}; Art. 21 reports due by "
        f"{report['due_dates']['art_21_member_state_reports']}.",
        "",
        "## Hosting service providers (Art. 7)",
        "",
    ]
    for h in report["hsps"]:
        out += [f"### {_title(h)}", "", *_md_table(_hsp_rows(h))]
        out += [f"Time to removal: {_ttr_row(h['time_to_removal'])}", ""]
        out += _md_buckets(h["time_to_removal"]["buckets"])
    out += ["## Competent authorities (Art. 8)", ""]
    for a in report["authorities"]:
        out += [f"### {_title(a)}", "", *_md_table(_authority_rows(a))]
    out += ["## Member States (Art. 21)", ""]
    for m in report["member_states"]:
        out += [f"### {m['member_state']}", "", *_md_table(_ms_rows(m))]
        out += _md_buckets(m["speed_of_removal"]["buckets"])
    out += ["## Notes", ""]
    out += [f"- {note}" for note in report["notes"]]
    return "\n".join(out) + "\n"


def render_json(report: Mapping[str, Any]) -> str:
    """The report as indented JSON with a final newline (stable key order)."""
    return json.dumps(report, indent=2, ensure_ascii=False) + "\n"


#: Output formats of ``perci-sim report --format``.
FORMATS: dict[str, Callable[[Mapping[str, Any]], str]] = {
    "json": render_json,
    "html": render_html,
    "md": render_markdown,
}


def render(report: Mapping[str, Any], fmt: str) -> str:
    """Render ``report`` as ``fmt`` (``json``, ``html`` or ``md``)."""
    try:
        renderer = FORMATS[fmt]
    except KeyError:
        raise ValueError(
            f"unknown report format {fmt!r}: use one of {', '.join(FORMATS)}"
        ) from None
    return renderer(report)
