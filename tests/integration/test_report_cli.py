"""`perci-sim report` through `main()`: JSON and HTML files, Markdown on stdout, errors."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from perci_sim.__main__ import main


async def _cli(*args: str) -> int:
    # main() runs its own event loop: call it off the test's loop.
    return await asyncio.to_thread(main, list(args))


@pytest.fixture
async def home(broker: Any) -> Path:
    """A broker home with one order executed after 12 min (de-bka -> hsp-alpha)."""
    b = await broker()
    order = await b.issue("de-bka", "hsp-alpha")
    await b.advance(minutes=12)
    reply = await b.post_document(
        f"/v1/orders/{order['order_id']}/feedback", party="hsp-alpha", document=b.feedback(order)
    )
    assert reply.status == 201, reply.body
    home: Path = b.home
    return home


PERIOD = ("--from", "2026-01-01", "--to", "2026-12-31")


class TestReportCommand:
    async def test_json_and_html_files(self, home: Path, tmp_path: Path) -> None:
        """--format json|html --out FILE writes the document; exit 0."""
        out_json, out_html = tmp_path / "r.json", tmp_path / "r.html"
        assert await _cli("report", "--home", str(home), *PERIOD, "--out", str(out_json)) == 0
        report = json.loads(out_json.read_text())
        assert report["period"]["from"] == "2026-01-01T00:00:00.000+00:00"
        assert report["period"]["to"] == "2027-01-01T00:00:00.000+00:00"  # 31 Dec included
        assert {"generated_at", "hsps", "authorities", "member_states"} <= set(report)
        (alpha,) = report["hsps"]
        assert alpha["id"] == "hsp-alpha"
        assert alpha["art_7_3_c"]["removal_orders"]["items_removed_or_disabled"] == 1
        assert alpha["time_to_removal"]["p50_s"] == 720.0  # 12 min
        assert [m["member_state"] for m in report["member_states"]] == ["DE"]

        code = await _cli(
            "report", "--home", str(home), *PERIOD, "--format", "html", "--out", str(out_html)
        )
        assert code == 0
        html = out_html.read_text()
        assert html.startswith("<!DOCTYPE html>")
        assert "hsp-alpha" in html
        assert "<svg" in html

    async def test_markdown_on_stdout(self, home: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """Without --out the document goes to standard output."""
        assert await _cli("report", "--home", str(home), *PERIOD, "--format", "md") == 0
        out = capsys.readouterr().out
        assert out.startswith("# TCO transparency report 2026")
        assert "### hsp-alpha" in out

    async def test_errors_are_one_line(
        self, home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A bad date, a reversed period, a missing setup: one line on stderr, exit 1."""
        for args in (
            ("--home", str(home), "--from", "2026-13-01", "--to", "2026-12-31"),
            ("--home", str(home), "--from", "2026-12-31", "--to", "2026-01-01"),
            ("--home", str(tmp_path / "nothing"), *PERIOD),
        ):
            capsys.readouterr()
            assert await _cli("report", *args) == 1
            err = capsys.readouterr().err
            assert err.startswith("perci-sim: error:"), err
            assert err.count("\n") == 1
