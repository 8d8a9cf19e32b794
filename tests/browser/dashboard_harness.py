"""Harness of the dashboard's browser tests: headless Debian ``chromium`` via Playwright.

A real broker (the app of ``perci-sim serve``) runs on an ephemeral 127.0.0.1 port
from a ``perci-sim init`` setup (authorities, HSPs, the facilitator and their
credentials files) on a scaled clock.  Playwright drives ``/usr/bin/chromium``
(``executable_path``: no browser download, ``.ci/run`` installs the Debian package).
Without chromium or playwright these tests skip, so ``make test`` passes anywhere.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from perci_schemas.credentials import load_credentials
from perci_sim.app import create_app
from perci_sim.bootstrap import credentials_path, init_home
from perci_sim.clock import ScaledClock
from perci_sim.settings import Settings

CHROMIUM = os.environ.get("PERCI_TEST_CHROMIUM", "/usr/bin/chromium")
START = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
#: Where the screenshots of each view are written: ``build/screenshots`` (ignored by git),
#: so that a test run leaves the checkout as it was; ``make screenshots`` writes the ones
#: the README shows into docs/images (``PERCI_SCREENSHOTS``).
IMAGES = Path(
    os.environ.get("PERCI_SCREENSHOTS")
    or Path(__file__).resolve().parents[2] / "build" / "screenshots"
)
IMAGES.mkdir(parents=True, exist_ok=True)

try:
    from playwright.async_api import Browser, async_playwright
except ImportError:  # pragma: no cover - the dev extra installs it
    async_playwright = None  # type: ignore[assignment]


def _skip_reason() -> str | None:
    if async_playwright is None:
        return "playwright is not installed (pip install -e '.[dev]')"
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        return f"no chromium at {CHROMIUM} (apt-get install chromium)"
    return None


SKIP_REASON = _skip_reason()
#: Put on every browser test module: skips with the reason when chromium/playwright is missing.
needs_browser = [
    pytest.mark.slow,
    pytest.mark.skipif(SKIP_REASON is not None, reason=SKIP_REASON or ""),
]


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    """Headless chromium (root in CI needs --no-sandbox)."""
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox"]
        )
        try:
            yield launched
        finally:
            await launched.close()


@dataclass(slots=True)
class Dashboard:
    """A broker serving the dashboard, restartable on the same port and home."""

    home: Path
    clock: ScaledClock
    start_server: Callable[[int | None], Awaitable[TestServer]]
    server: TestServer | None = None
    port: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def credentials(self, participant_id: str) -> Path:
        """The participant's credentials file (what the user picks as its key file)."""
        return credentials_path(self.home, participant_id)

    def token(self, participant_id: str) -> str:
        return load_credentials(self.credentials(participant_id)).token

    async def start(self) -> None:
        self.server = await self.start_server(self.port or None)
        self.port = self.server.port or 0

    async def stop(self) -> None:
        if self.server is not None:
            await self.server.close()
            self.server = None

    async def api(self, method: str, path: str, *, party: str, json: Any = None) -> Any:
        """Call the broker's HTTP API as ``party`` (bearer token)."""
        headers = {"Authorization": f"Bearer {self.token(party)}"}
        async with (
            aiohttp.ClientSession() as session,
            session.request(method, self.url + path, json=json, headers=headers) as resp,
        ):
            body = await resp.json(content_type=None)
            assert resp.status < 300, body
            return body


@pytest.fixture
async def dashboard(tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[Dashboard]:
    """A started broker at 30x (one hour of the Regulation in two minutes).

    ``@pytest.mark.parametrize("dashboard", [speed], indirect=True)`` picks another speed.
    """
    clock = ScaledClock(start=START, speed=float(getattr(request, "param", 30.0)))
    home = tmp_path / "setup"
    await init_home(home, broker_url="http://127.0.0.1", clock=clock)

    async def start_server(port: int | None) -> TestServer:
        server = TestServer(
            create_app(Settings(home=home), clock=clock), host="127.0.0.1", port=port
        )
        await server.start_server()
        return server

    harness = Dashboard(home=home, clock=clock, start_server=start_server)
    await harness.start()
    yield harness
    await harness.stop()
