"""Withdrawal and grounds ceased from the pages (TCO Art. 3(7)), signed in the browser.

The platform answers an order with Annex III (force majeure): the clock pauses; one
click on "Grounds ceased", the document in the "see what you sign" dialog, and the
order is back in ``delivered`` with a fresh hour running.  The authority withdraws
another order through its small form (keyboard: focus in, Escape cancels, focus back)
and the dialog; the order shows ``withdrawn`` on both pages.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from dashboard_harness import Dashboard, browser, dashboard, needs_browser
from dashboard_pages import (
    confirm_signing,
    countdown_seconds,
    issue_with_sdk,
    load_key,
    sign_in,
)

if TYPE_CHECKING:
    from playwright.async_api import Browser

expect = pytest.importorskip("playwright.async_api").expect
pytestmark = needs_browser
__all__ = ["browser", "dashboard"]


async def test_grounds_ceased_and_withdrawal_from_the_pages(
    browser: Browser, dashboard: Dashboard
) -> None:
    suspended = await issue_with_sdk(dashboard, "de-bka", "hsp-alpha", n=1)
    withdrawn = await issue_with_sdk(dashboard, "de-bka", "hsp-alpha", n=2)
    desktop = {"width": 1280, "height": 900}
    platform_context = await browser.new_context(viewport=desktop, locale="en-GB")
    authority_context = await browser.new_context(viewport=desktop, locale="en-GB")
    platform = await sign_in(platform_context, dashboard, "hsp-alpha")
    authority = await sign_in(authority_context, dashboard, "de-bka")
    await load_key(platform, dashboard, "hsp-alpha")
    await load_key(authority, dashboard, "de-bka")

    # 1. Annex III, force majeure: the clock pauses; only then is "Grounds ceased" offered.
    row = platform.locator(f"#inbox-table tr[data-order='{suspended}']")
    grounds = row.locator("button[data-action=grounds]")
    await expect(grounds).to_have_count(0)
    await row.locator("button[data-action=annex3]").click()
    await platform.select_option("#annex3-reason", "force_majeure")
    await platform.fill("#annex3-further", "Our data centre is flooded")
    await platform.click("#annex3-send")
    await confirm_signing(platform, "Annex III")
    await expect(row.locator(".state")).to_have_text("suspended (force majeure)")
    await expect(row).to_contain_text("clock paused")

    # 2. One click, read the document, sign: delivered again, a fresh hour running.
    await grounds.click()
    dialog = platform.locator("dialog#sign-preview")
    await expect(dialog.locator("dl.sign-summary")).to_contain_text("has ceased to exist")
    await confirm_signing(platform, "Grounds ceased")
    await expect(platform.locator("#flash")).to_contain_text("Grounds ceased accepted")
    await expect(row.locator(".state")).to_have_text("delivered")
    await expect(row.locator(".countdown")).to_be_visible()
    left = await countdown_seconds(platform, "inbox-table", suspended)
    assert 55 * 60 < left <= 3600, left
    await expect(row.locator("button[data-action=grounds]")).to_have_count(0)

    # 3. The authority withdraws the other order. Keyboard first: focus moves into the
    # form, Escape cancels and gives focus back to "Withdraw…"; nothing is sent.
    own = authority.locator(f"#orders-table tr[data-order='{withdrawn}']")
    withdraw = own.locator("button[data-action=withdraw]")
    await withdraw.focus()
    await authority.keyboard.press("Enter")
    form = authority.locator("dialog#withdraw")
    await expect(form).to_be_visible()
    await expect(form.locator("#withdraw-reason")).to_be_focused()
    await authority.keyboard.press("Escape")
    await expect(form).to_be_hidden()
    await expect(withdraw).to_be_focused()
    await withdraw.click()
    await authority.fill("#withdraw-reason", "Issued to the wrong provider")
    await authority.click("#withdraw-send")
    preview = authority.locator("dialog#sign-preview")
    await expect(preview.locator("dl.sign-summary")).to_contain_text("Issued to the wrong provider")
    await confirm_signing(authority, "Withdrawal")
    await expect(form).to_be_hidden()
    await expect(own.locator(".state")).to_have_text("withdrawn")
    await expect(own.locator("button[data-action=withdraw]")).to_have_count(0)
    await expect(platform.locator(f"#inbox-table tr[data-order='{withdrawn}']")).to_have_count(0)
    # The order back in delivered can still be withdrawn; the platform's is untouched.
    await expect(
        authority.locator(
            f"#orders-table tr[data-order='{suspended}'] button[data-action=withdraw]"
        )
    ).to_have_count(1)
    history = await dashboard.api("GET", f"/v1/orders/{withdrawn}/history", party="de-bka")
    assert history["events"][-1]["kind"] == "withdrawal_received"
    for context in (platform_context, authority_context):
        await context.close()
