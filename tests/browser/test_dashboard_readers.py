"""A court signs in to its read-only view (TCO Art. 9): its Member State's orders, the order
page with the history, nothing to sign."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import pytest
from dashboard_harness import IMAGES, Dashboard, browser, dashboard, needs_browser
from dashboard_pages import issue_with_sdk, sign_in

if TYPE_CHECKING:
    from playwright.async_api import Browser

expect = pytest.importorskip("playwright.async_api").expect
pytestmark = needs_browser
__all__ = ["browser", "dashboard"]


async def test_the_court_reads_its_member_states_orders(
    browser: Browser, dashboard: Dashboard
) -> None:
    """de-court sees the German order (state, time left) but not the French one, opens the
    order page with its history, and is offered nothing to sign."""
    german = await issue_with_sdk(dashboard, "de-bka", "hsp-alpha")
    french = await issue_with_sdk(dashboard, "fr-ocrim", "hsp-gamma")
    page = await sign_in(browser, dashboard, "de-court", viewport={"width": 1280, "height": 800})
    await expect(page.locator("#role-line")).to_have_text("court (Art. 9)")
    await expect(page.locator("#read-only-note")).to_contain_text("SDK")
    row = page.locator(f"#orders-table tr[data-order='{german}']")
    await expect(row.locator(".state")).to_have_text("delivered")
    await expect(row.locator(".countdown")).to_have_text(re.compile(r"^\d+:\d\d"))
    await expect(row.locator("time")).to_have_attribute("title", re.compile(r"UTC$"))
    await expect(page.locator(f"#orders-table tr[data-order='{french}']")).to_have_count(0)
    await expect(page.locator("#orders-table tr[data-order]")).to_have_count(1)
    await expect(page.locator("button[data-action], #key-file, #issue-form")).to_have_count(0)
    await page.screenshot(path=str(IMAGES / "dashboard-court.png"), full_page=True)

    await row.locator("a").click()
    await expect(page).to_have_url(re.compile(f"/ui/orders/{german}$"))
    await expect(page.locator("#history-table")).to_contain_text("order_received")
    await expect(page.locator("#history-table")).to_contain_text("de-bka#")  # the signer's kid
    await expect(page.locator("#order-summary")).to_contain_text("hsp-alpha")
    await expect(page.locator("#read-only-note")).to_be_visible()
    await page.close()
