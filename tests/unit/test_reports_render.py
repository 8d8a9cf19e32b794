"""The readable documents of a report: self-contained HTML with SVG histograms, Markdown, JSON."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from perci_sim.reports.figures import compute_report
from perci_sim.reports.records import ParticipantRef, Period
from perci_sim.reports.render import histogram_svg, render, render_html, render_markdown

T = datetime(2026, 5, 4, 8, 0, tzinfo=UTC)
PERIOD = Period(datetime(2026, 1, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC))
PARTICIPANTS = {
    "de-bka": ParticipantRef(id="de-bka", role="authority", name="BKA", member_state="DE"),
    "hsp-x": ParticipantRef(id="hsp-x", role="hsp", name="X <Video> & Co", member_state="IE"),
}


def _order(order_id: str, minutes: int) -> list[dict[str, Any]]:
    common = {"order_id": order_id, "authority_id": "de-bka", "hsp_id": "hsp-x"}
    at = T.isoformat()
    return [
        {**common, "kind": "order_received", "actor": "de-bka", "received_at": at},
        {**common, "kind": "order_delivered", "received_at": at},
        {
            **common,
            "kind": "feedback_received",
            "actor": "hsp-x",
            "received_at": (T + timedelta(minutes=minutes + 1)).isoformat(),
            "data": {
                "measure": "removed",
                "measure_at": (T + timedelta(minutes=minutes)).isoformat(),
                "on_time": minutes <= 60,
            },
        },
    ]


@pytest.fixture(scope="module")
def report() -> dict[str, Any]:
    events = _order("o1", 10) + _order("o2", 12) + _order("o3", 75)
    return compute_report(
        events,
        period=PERIOD,
        participants=PARTICIPANTS,
        generated_at=datetime(2027, 1, 2, tzinfo=UTC),
    )


class TestHtml:
    def test_self_contained(self, report: dict[str, Any]) -> None:
        """No scripts, stylesheets or images from elsewhere: inline CSS and SVG only."""
        html = render_html(report)
        assert html.startswith("<!DOCTYPE html>")
        assert "<style>" in html
        assert not re.search(r"<script|<link|<img|src=|@import|url\(", html)
        # The SVG namespace is an identifier, not a fetch.
        assert set(re.findall(r"https?://[^\"' ]+", html)) <= {"http://www.w3.org/2000/svg"}

    def test_content_and_escaping(self, report: dict[str, Any]) -> None:
        """Figures and due dates appear; participant names are escaped."""
        html = render_html(report)
        assert "X &lt;Video&gt; &amp; Co" in html
        assert "<Video>" not in html
        assert "2027-03-01" in html
        assert "2027-03-31" in html
        assert "Art. 7(3)(c) items removed or disabled after removal orders" in html
        # One histogram for the HSP, one for the Member State.
        assert html.count("<svg") == 2

    def test_histogram_bars(self) -> None:
        """One bar per bucket, its height proportional to the count, labelled."""
        buckets = [
            {"key": "a", "label": "<= 15 min", "upper_s": 900.0, "count": 2},
            {"key": "b", "label": "> 60 min", "upper_s": None, "count": 1},
        ]
        svg = histogram_svg(buckets, title="t")
        heights = [float(h) for h in re.findall(r'<rect[^>]* height="([0-9.]+)"', svg)]
        assert len(heights) == 2
        assert heights[0] == pytest.approx(2 * heights[1])
        assert "&lt;= 15 min" in svg


class TestMarkdownAndJson:
    def test_markdown(self, report: dict[str, Any]) -> None:
        """Headings per section; the histogram as a table: 10 and 12 min, then 75 min."""
        md = render_markdown(report)
        assert md.startswith("# TCO transparency report 2026")
        for heading in ("## Hosting service providers (Art. 7)", "## Member States (Art. 21)"):
            assert heading in md
        assert "| 2 | 0 | 0 | 0 | 1 |" in md
        assert "X <Video> & Co" in md

    def test_json_round_trip(self, report: dict[str, Any]) -> None:
        """The JSON document is the report dict."""
        assert json.loads(render(report, "json")) == report

    def test_unknown_format(self, report: dict[str, Any]) -> None:
        """A format that does not exist is a ValueError."""
        with pytest.raises(ValueError, match="unknown report format"):
            render(report, "pdf")
