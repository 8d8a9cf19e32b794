"""What the browser tests do on the dashboard's pages: sign in, load a key, sign, issue.

Shared by the tests of tests/browser/ (the harness, dashboard_harness.py, starts the
broker and the browser).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import pytest
from dashboard_harness import Dashboard

from authority_client import AuthorityClient

if TYPE_CHECKING:
    from playwright.async_api import Browser, BrowserContext, Page

expect = pytest.importorskip("playwright.async_api").expect

TIMEOUT_MS = 15_000


async def sign_in(
    opener: Browser | BrowserContext,
    dash: Dashboard,
    participant_id: str,
    *,
    viewport: dict[str, int] | None = None,
) -> Page:
    """Open the dashboard, sign in with id + token (keyboard only), wait for the live feed."""
    page = await (opener.new_page(viewport=viewport) if viewport else opener.new_page())
    page.set_default_timeout(TIMEOUT_MS)
    await page.goto(dash.url + "/ui/")
    await expect(page).to_have_url(re.compile(r"/ui/login$"))
    await page.fill("#participant_id", participant_id)
    await page.fill("#token", dash.token(participant_id))
    await page.press("#token", "Enter")
    await expect(page.locator("#live-status")).to_have_class(re.compile(r"\bon\b"))
    return page


async def load_key(page: Page, dash: Dashboard, participant_id: str) -> None:
    """Pick the participant's credentials file as the page's signing key."""
    await page.set_input_files("#key-file", str(dash.credentials(participant_id)))
    await expect(page.locator("#key-status")).to_contain_text(f"{participant_id}#")


async def confirm_signing(page: Page, title: str) -> None:
    """The "see what you sign" dialog is open on ``title``: sign and send."""
    dialog = page.locator("dialog#sign-preview")
    await expect(dialog).to_be_visible()
    await expect(dialog.locator("h2")).to_contain_text(title)
    await dialog.get_by_role("button", name="Sign and send").click()
    await expect(dialog).to_have_count(0)


async def fill_issue_form(page: Page, hsp: str, url: str) -> None:
    await page.select_option("#issue-hsp", hsp)
    await page.fill("#issue-urls", url)
    await page.check("input[name=reasons][value=a]")
    await page.fill("#issue-details", "Calls for attacks on a named group")
    await page.fill("#issue-emergency", "An attack is being livestreamed")


async def issue_from_form(page: Page, hsp: str, url: str) -> str:
    """Issue an emergency order from the authority's form; return its order id."""
    before = await page.locator("#orders-table tr[data-order]").count()
    await fill_issue_form(page, hsp, url)
    await page.click("#issue-form button[type=submit]")
    await confirm_signing(page, "Removal order")
    await expect(page.locator("#flash")).to_contain_text("Removal order accepted")
    await expect(page.locator("#orders-table tr[data-order]")).to_have_count(before + 1)
    # Newest first.
    order_id = await page.locator("#orders-table tr[data-order]").first.get_attribute("data-order")
    assert order_id
    return order_id


async def issue_with_sdk(
    dash: Dashboard, authority: str = "de-bka", hsp: str = "hsp-alpha", n: int = 1
) -> str:
    """An emergency order issued with the authority SDK (not through a page); its id."""
    async with AuthorityClient.from_credentials(
        dash.credentials(authority), broker_url=dash.url
    ) as client:
        order = await client.prepare_order(
            hsp_id=hsp,
            urls=[f"https://{hsp}.example/v/{n}"],
            reasons=["a"],
            details="Calls for attacks",
            emergency_justification="An attack is under way",
        )
        return str((await client.issue_order(order)).order["order_id"])


async def countdown_seconds(page: Page, table: str, order_id: str) -> int:
    """The seconds a row's countdown shows (``m:ss`` or ``h:mm:ss``)."""
    text = await page.locator(f"#{table} tr[data-order='{order_id}'] .countdown").inner_text()
    seconds = 0
    for part in (int(p) for p in re.findall(r"\d+", text)):
        seconds = seconds * 60 + part
    return seconds
