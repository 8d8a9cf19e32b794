"""End to end in headless chromium: an authority and a platform work orders through the pages.

The authority issues orders from its page and answers an Annex III request; the
platform acknowledges, sends Annex II and Annex III from its inbox; every document
is signed in the browser with the key from the party's credentials file and
accepted by the broker, after the user has read the whole document in the
"see what you sign" dialog (all but the acknowledgement).  Countdowns run at the
broker's scaled speed, and a missed deadline (the facilitator skips the drill clock)
shows up live on the authority's and the facilitator's pages.  Screenshots of each
view go to build/screenshots/ (``make screenshots``: to docs/images/, which the README
shows).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from typing import TYPE_CHECKING, Any

import pytest
from dashboard_harness import IMAGES, Dashboard, browser, dashboard, needs_browser
from dashboard_pages import (
    confirm_signing,
    countdown_seconds,
    fill_issue_form,
    issue_from_form,
    load_key,
    sign_in,
)

from perci_sim.crypto.canonical import canonical_json

if TYPE_CHECKING:
    from playwright.async_api import Browser

expect = pytest.importorskip("playwright.async_api").expect
pytestmark = needs_browser
__all__ = ["browser", "dashboard"]  # fixtures used by the tests below


async def test_authority_and_platform_work_orders_through_the_pages(
    browser: Browser, dashboard: Dashboard
) -> None:
    """Issue, acknowledge, Annex II, Annex III + clarification, countdown, breach: all live."""
    desktop = {"width": 1280, "height": 900}
    contexts = {
        name: await browser.new_context(viewport=desktop, timezone_id=tz, locale="en-GB")
        for name, tz in (("de-bka", "Europe/Berlin"), ("hsp-alpha", "Europe/Dublin"))
    }
    authority = await sign_in(contexts["de-bka"], dashboard, "de-bka")
    platform = await sign_in(contexts["hsp-alpha"], dashboard, "hsp-alpha")
    await load_key(authority, dashboard, "de-bka")
    await load_key(platform, dashboard, "hsp-alpha")

    # 1. An order issued from the page reaches the open inbox live, with a running countdown.
    first = await issue_from_form(authority, "hsp-alpha", "https://alpha.example/v/1")
    inbox_row = platform.locator(f"#inbox-table tr[data-order='{first}']")
    await expect(inbox_row).to_be_visible()
    # Times in the viewer's zone (Dublin here), the UTC instant on hover.
    received = inbox_row.locator("time").first
    assert (await received.get_attribute("title") or "").endswith("Z UTC")
    assert (await received.get_attribute("datetime") or "").endswith("+00:00")
    left = await countdown_seconds(platform, "inbox-table", first)
    assert 50 * 60 < left <= 3600
    await platform.wait_for_timeout(2000)  # 2 s of wall time = 60 s of broker time at 30x
    later = await countdown_seconds(platform, "inbox-table", first)
    assert left - later >= 40, (left, later)  # the countdown runs at the broker's speed

    # 2. Acknowledge, then Annex II, from the inbox (keyboard: focus + Enter).
    await inbox_row.locator("button[data-action=ack]").focus()
    await platform.keyboard.press("Enter")
    await expect(inbox_row.locator(".state")).to_have_text("acknowledged")  # no dialog
    await inbox_row.locator("button[data-action=removed]").click()
    await confirm_signing(platform, "Annex II feedback")
    await expect(inbox_row).to_have_count(0)
    await expect(authority.locator(f"#orders-table tr[data-order='{first}'] .state")).to_have_text(
        "executed"
    )

    # 3. Annex III (insufficient information) -> the authority clarifies from its page.
    second = await issue_from_form(authority, "hsp-alpha", "https://alpha.example/v/2")
    second_row = platform.locator(f"#inbox-table tr[data-order='{second}']")
    await second_row.locator("button[data-action=annex3]").click()
    await platform.select_option("#annex3-reason", "insufficient_information")
    await platform.fill("#annex3-further", "Several videos match")
    await platform.fill("#annex3-clar", "Give the exact video URL")
    await platform.click("#annex3-send")
    await confirm_signing(platform, "Annex III")
    await expect(second_row.locator(".state")).to_have_text("clarification requested")
    request = authority.locator(f"#clarify-list form[data-order='{second}']")
    await expect(request).to_contain_text("Give the exact video URL")
    await request.locator("textarea").fill("It is https://alpha.example/v/2?t=10")
    await request.locator("button[type=submit]").click()
    await confirm_signing(authority, "Clarification")
    await expect(request).to_have_count(0)
    await expect(second_row.locator(".state")).to_have_text("delivered")  # a fresh hour

    # 4. A third order left unanswered; the facilitator watches; the clock is skipped.
    third = await issue_from_form(authority, "hsp-alpha", "https://alpha.example/v/3")
    facilitator_context = await browser.new_context(viewport=desktop, timezone_id="UTC")
    facilitator = await sign_in(facilitator_context, dashboard, "facilitator")
    await expect(facilitator.locator("#orders-table tr[data-order]")).to_have_count(3)
    await expect(facilitator.locator("#alerts-list")).to_contain_text("No deadline breached")
    await platform.screenshot(path=str(IMAGES / "dashboard-platform.png"), full_page=True)

    inject = {"offset_s": 300, "kind": "wave", "text": "DE issues 3 emergency orders to hsp-alpha"}
    await dashboard.api("POST", "/v1/drill/injects", party="facilitator", json=inject)
    await dashboard.api("POST", "/v1/clock/advance", party="facilitator", json={"by_seconds": 3700})

    for order_id in (second, third):
        breached = authority.locator(f"#orders-table tr[data-order='{order_id}']")
        await expect(breached.locator(".state")).to_have_text("overdue")
        await expect(breached).to_have_class(re.compile(r"\bbreached\b"))
        await expect(breached.locator(".countdown")).to_contain_text("overdue by")
    await expect(authority.locator("#flash")).to_contain_text("missed the one-hour deadline")
    await authority.screenshot(path=str(IMAGES / "dashboard-authority.png"), full_page=True)
    alerts = facilitator.locator("#alerts-list li")
    await expect(alerts).to_have_count(2)
    await expect(facilitator.locator("#compliance-chart")).to_be_visible()
    await expect(facilitator.locator("#chart-box figcaption")).to_contain_text("33.3%")
    total = facilitator.locator("#figures-table tr", has_text="All")
    await expect(total).to_contain_text("33.3%")
    await expect(facilitator.locator("#timeline-list")).to_contain_text(
        "T+00:05 wave DE issues 3 emergency orders"
    )
    await facilitator.screenshot(path=str(IMAGES / "dashboard-facilitator.png"), full_page=True)

    # 5. The order's history: each event's signer and the broker's receipt.
    await authority.goto(f"{dashboard.url}/ui/orders/{first}")
    history = authority.locator("#history-table")
    await expect(history).to_contain_text("feedback_received")
    await expect(history).to_contain_text("hsp-alpha#1")
    await expect(history).to_contain_text("de-bka#1")
    await expect(history.locator("details summary", has_text="broker#").first).to_be_visible()
    await authority.screenshot(path=str(IMAGES / "dashboard-order-history.png"), full_page=True)

    # 6. Tablet width: the platform's view still fits (no horizontal page scroll).
    await platform.set_viewport_size({"width": 820, "height": 1180})
    await platform.reload()
    await expect(platform.locator("#live-status")).to_have_class(re.compile(r"\bon\b"))
    overflow = await platform.evaluate(
        "document.documentElement.scrollWidth > document.documentElement.clientWidth"
    )
    assert overflow is False
    await platform.screenshot(path=str(IMAGES / "dashboard-platform-tablet.png"), full_page=True)
    for context in (*contexts.values(), facilitator_context):
        await context.close()


def _payload(token: str) -> Any:
    body = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))


async def _recorded(dash: Dashboard) -> tuple[int, int]:
    """(orders, signed documents in the log) as the authority sees them on the API."""
    orders = await dash.api("GET", "/v1/orders", party="de-bka")
    events = await dash.api("GET", "/v1/events?after=0&limit=500", party="de-bka")
    return len(orders["orders"]), sum(1 for e in events["events"] if e["document"])


async def test_the_user_sees_the_whole_document_before_signing_and_can_cancel(
    browser: Browser, dashboard: Dashboard
) -> None:
    """The dialog shows the removal order's URLs, the complete document and the SHA-256 of
    the canonical JSON that the broker then stores; Cancel (or Escape) sends nothing."""
    context = await browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-GB")
    authority = await sign_in(context, dashboard, "de-bka")
    await load_key(authority, dashboard, "de-bka")
    submit = authority.locator("#issue-form button[type=submit]")
    dialog = authority.locator("dialog#sign-preview")
    urls = ["https://alpha.example/v/7", "https://alpha.example/v/8?list=9"]

    # (a) What the user reads is what is signed and stored.
    await fill_issue_form(authority, "hsp-alpha", "\n".join(urls))
    await submit.click()
    await expect(dialog).to_be_visible()
    await expect(dialog.locator("#sign-preview-h")).to_be_focused()  # focus moved in
    labelled_by = await dialog.get_attribute("aria-labelledby")
    await expect(dialog.locator(f"#{labelled_by}")).to_contain_text("Removal order")
    summary = dialog.locator("dl.sign-summary")
    for url in urls:
        await expect(summary).to_contain_text(url)
    await expect(summary).to_contain_text("hsp-alpha")
    shown = json.loads(await dialog.locator("#sign-preview-json").inner_text())
    fingerprint = (await dialog.locator("#sign-preview-sha").inner_text()).strip()
    assert re.fullmatch(r"[0-9a-f]{64}", fingerprint), fingerprint
    await authority.evaluate("window.scrollTo(0, 0)")  # the top bar in the picture
    await authority.screenshot(path=str(IMAGES / "dashboard-sign-preview.png"))
    await dialog.get_by_role("button", name="Sign and send").click()
    await expect(authority.locator("#flash")).to_contain_text("Removal order accepted")
    await expect(submit).to_be_focused()  # back to the control that opened it
    order_id = await authority.locator("#orders-table tr[data-order]").first.get_attribute(
        "data-order"
    )
    order = await dashboard.api("GET", f"/v1/orders/{order_id}", party="de-bka")
    stored = _payload(order["document"])
    assert [c["url"] for c in stored["section_b"]["content"]] == urls
    assert shown == stored  # the complete document, nothing more, nothing less
    assert hashlib.sha256(canonical_json(stored)).hexdigest() == fingerprint
    # The order's history shows the same fingerprint for the recorded document (in
    # another tab: this one keeps its loaded key for part (b)).
    history = await authority.context.new_page()
    await history.goto(f"{dashboard.url}/ui/orders/{order_id}")
    await expect(history.locator("code.doc-fingerprint").first).to_have_text(fingerprint)
    await history.close()

    # (b) Cancel, then Escape: nothing is signed or sent, focus goes back.
    before = await _recorded(dashboard)
    await fill_issue_form(authority, "hsp-alpha", "https://alpha.example/v/never")
    for dismiss in ("click", "Escape"):
        await submit.click()
        await expect(dialog).to_be_visible()
        if dismiss == "click":
            await dialog.get_by_role("button", name="Cancel").click()
        else:
            await authority.keyboard.press("Escape")
        await expect(dialog).to_have_count(0)
        await expect(authority.locator("#flash")).to_have_text(
            "Cancelled: nothing was signed or sent."
        )
        await expect(authority.locator("#flash")).to_have_attribute("role", "status")
        await expect(submit).to_be_focused()
        await authority.locator("#flash").evaluate("box => (box.textContent = '')")
    assert await _recorded(dashboard) == before
    await expect(authority.locator("#orders-table tr[data-order]")).to_have_count(before[0])
    await context.close()
