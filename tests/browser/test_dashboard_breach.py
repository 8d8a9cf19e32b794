"""At drill speed the one-hour clock runs out under the platform's eyes, and the breach shows."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import pytest
from dashboard_harness import Dashboard, browser, dashboard, needs_browser

from authority_client import AuthorityClient

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
    page = await browser.new_page(viewport={"width": 1280, "height": 800})
    page.set_default_timeout(15_000)
    await page.goto(dashboard.url + "/ui/login")
    await page.fill("#participant_id", "hsp-alpha")
    await page.fill("#token", dashboard.token("hsp-alpha"))
    await page.click("#login-form button")
    await expect(page.locator("#live-status")).to_have_class(re.compile(r"\bon\b"))
    async with AuthorityClient.from_credentials(
        dashboard.credentials("de-bka"), broker_url=dashboard.url
    ) as authority:
        order = await authority.prepare_order(
            hsp_id="hsp-alpha",
            urls=["https://alpha.example/v/9"],
            reasons=["a"],
            details="Calls for attacks",
            emergency_justification="An attack is under way",
        )
        order_id = (await authority.issue_order(order)).order["order_id"]
    row = page.locator(f"#inbox-table tr[data-order='{order_id}']")
    await expect(row.locator(".countdown")).to_be_visible()
    await expect(row.locator(".state")).to_have_text("overdue")  # from the broker's event
    await expect(row).to_have_class(re.compile(r"\bbreached\b"))
    await expect(row.locator(".countdown")).to_contain_text("overdue by")
    await expect(page.locator("#flash")).to_contain_text("missed the one-hour deadline")
