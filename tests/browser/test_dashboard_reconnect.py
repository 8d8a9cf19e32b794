"""A page left open survives a broker restart: the event stream reconnects and resumes."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import pytest
from dashboard_harness import Dashboard, browser, dashboard, needs_browser
from dashboard_pages import issue_with_sdk, sign_in

if TYPE_CHECKING:
    from playwright.async_api import Browser

expect = pytest.importorskip("playwright.async_api").expect
pytestmark = needs_browser
__all__ = ["browser", "dashboard"]


async def test_the_inbox_keeps_updating_after_a_broker_restart(
    browser: Browser, dashboard: Dashboard
) -> None:
    """Stop the broker under an open page, start it again: the page goes live and updates."""
    page = await sign_in(browser, dashboard, "hsp-alpha")
    live = page.locator("#live-status")
    first = await issue_with_sdk(dashboard, n=1)
    await expect(page.locator(f"#inbox-table tr[data-order='{first}']")).to_be_visible()

    await dashboard.stop()
    await expect(live).to_have_class(re.compile(r"\boff\b"))
    await dashboard.start()  # same port, same home: same broker key, so the session holds
    # Issued before the page has reconnected (it retries every 2 s): it arrives by the
    # replay from Last-Event-ID, or live; either way without reloading the page.
    second = await issue_with_sdk(dashboard, n=2)
    await expect(live).to_have_class(re.compile(r"\bon\b"))
    await expect(page.locator(f"#inbox-table tr[data-order='{second}']")).to_be_visible()
    await expect(page.locator("#inbox-table tr[data-order]")).to_have_count(2)
