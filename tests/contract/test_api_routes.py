"""The running app serves exactly the routes of docs/API.md's route table (the web
dashboard's, under /ui, those of docs/DASHBOARD.md)."""

from __future__ import annotations

import re
from pathlib import Path

from perci_sim.app import create_app
from perci_sim.settings import Settings
from perci_sim.web import PREFIX as DASHBOARD

API_MD = Path(__file__).resolve().parents[2] / "docs" / "API.md"
DASHBOARD_MD = API_MD.with_name("DASHBOARD.md")
_ROW = re.compile(r"^\|\s*(GET|POST|PUT|DELETE|PATCH)\s*\|\s*`([^`]+)`\s*\|")


def _documented(page: Path = API_MD) -> set[tuple[str, str]]:
    rows = set()
    for line in page.read_text(encoding="utf-8").splitlines():
        match = _ROW.match(line)
        if match:
            rows.add((match.group(1), match.group(2)))
    return rows


def _served(tmp_path: Path) -> set[tuple[str, str]]:
    app = create_app(Settings(home=tmp_path))
    served = set()
    for route in app.router.routes():
        if route.method in ("HEAD", "OPTIONS") or route.resource is None:
            continue
        info = route.resource.get_info()
        served.add((route.method, str(info.get("path") or info.get("formatter"))))
    return served


def test_app_routes_match_api_md(tmp_path: Path) -> None:
    """No undocumented route and no documented route missing."""
    documented, served = _documented(), _served(tmp_path)
    assert len(documented) >= 20  # issue 2; issue 3 adds more
    assert {r for r in served if not r[1].startswith(DASHBOARD + "/")} == documented


def test_dashboard_routes_match_dashboard_md(tmp_path: Path) -> None:
    """The web dashboard's routes (issue 6) are the table of docs/DASHBOARD.md."""
    served = {r for r in _served(tmp_path) if r[1].startswith(DASHBOARD + "/")}
    assert len(served) >= 10
    assert served == _documented(DASHBOARD_MD)
