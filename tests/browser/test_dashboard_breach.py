"""At drill speed the one-hour clock runs out under the platform's eyes, and the breach shows."""

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


@pytest.mark.parametrize("dashboard", [1800.0], indirect=True)  # one hour in two seconds
async def test_a_missed_deadline_turns_the_row_red_live(
    browser: Browser, dashboard: Dashboard
) -> None:
    """No clock skip: the scaled clock runs past the deadline; the broker's deadline_missed
    reaches the open pages, which mark the order overdue."""
    page = await sign_in(browser, dashboard, "hsp-alpha", viewport={"width": 1280, "height": 800})
    order_id = await issue_with_sdk(dashboard, n=9)
    row = page.locator(f"#inbox-table tr[data-order='{order_id}']")
    await expect(row.locator(".countdown")).to_be_visible()
    await expect(row.locator(".state")).to_have_text("overdue")  # from the broker's event
    await expect(row).to_have_class(re.compile(r"\bbreached\b"))
    await expect(row.locator(".countdown")).to_contain_text("overdue by")
    await expect(page.locator("#flash")).to_contain_text("missed the one-hour deadline")
