"""`schemas/openapi.yaml` describes exactly the routes the broker serves."""

from __future__ import annotations

import importlib.resources
import re
from pathlib import Path
from typing import Any

import yaml

from perci_sim.app import create_app
from perci_sim.settings import Settings

_METHODS = {"get", "post", "put", "delete", "patch"}


def _spec() -> dict[str, Any]:
    text = importlib.resources.files("perci_schemas").joinpath("openapi.yaml").read_text()
    spec: dict[str, Any] = yaml.safe_load(text)
    return spec


def _spec_routes() -> set[tuple[str, str]]:
    return {
        (method.upper(), path)
        for path, item in _spec()["paths"].items()
        for method in item
        if method in _METHODS
    }


def _app_routes(tmp_path: Path) -> set[tuple[str, str]]:
    app = create_app(Settings(home=tmp_path))
    routes = set()
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource is not None else {}
        path = info.get("path") or info.get("formatter")
        if route.method in ("HEAD", "OPTIONS") or path is None:
            continue
        if str(path).startswith("/ui/"):
            continue  # the web dashboard: HTML pages for browsers, docs/DASHBOARD.md
        # aiohttp writes {order_id:regex}; OpenAPI writes {order_id}.
        routes.add((route.method, re.sub(r"\{(\w+):[^}]*\}", r"{\1}", str(path))))
    return routes


def test_every_app_route_is_in_the_spec_and_the_reverse(tmp_path: Path) -> None:
    """No undocumented route, no documented route that does not exist."""
    app_routes = _app_routes(tmp_path)
    spec_routes = _spec_routes()
    assert app_routes - spec_routes == set(), "served but not in openapi.yaml"
    assert spec_routes - app_routes == set(), "in openapi.yaml but not served"
    assert ("POST", "/v1/orders") in app_routes
