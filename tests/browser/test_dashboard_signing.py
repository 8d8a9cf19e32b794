"""The page's WebCrypto signing makes the JWS the Python SDK makes, and the broker takes it.

Ed25519 signatures are deterministic, so a document signed in chromium with
``static/sign.js`` must be byte for byte the token ``perci_schemas.jws.sign``
makes from the same key.  P-256 signatures are randomised: there the header and
payload must be identical and the signature must verify with the Python stack.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest
from dashboard_harness import Dashboard, browser, dashboard, needs_browser

from perci_schemas import jws
from perci_schemas.credentials import load_credentials
from perci_sim.crypto.canonical import canonical_json

if TYPE_CHECKING:
    from playwright.async_api import Browser, Page

expect = pytest.importorskip("playwright.async_api").expect
pytestmark = needs_browser
__all__ = ["browser", "dashboard"]

#: Members that exercise JCS: ordering by UTF-16 code units (an astral key sorts before
#: U+FB01), escapes, non-ASCII text, nesting, integers, booleans and null.
TRICKY: dict[str, Any] = {
    "message_type": "clarification",
    "message_id": "9b2f6c1e-8d5a-4c1b-9f0e-2d7c3b4a5e6f",
    "sender": "de-bka",
    "sent_at": "2026-11-25T10:00:00.000+00:00",
    "order_id": "o-1",
    "clarification": 'Zitat: "Anschlag" \\ Tab\t Zeile\n é ß 😀 \u2028 \u0007',
    "z": [1, -2, 9007199254740991, True, False, None, {"b": 1, "a": [], "A": {}}],
    "\ufb01": "ligature key",
    "\U0001f600": "astral key",
    "é": 0,
}

_SIGN_IN_PAGE = """async ([credentials, document, messageType]) => {
  const sign = await import("/ui/static/sign.js");
  const signer = await sign.loadSigningKey(credentials);
  return {
    canonical: sign.canonicalJson(document),
    token: await sign.signDocument(document, messageType, signer),
  };
}"""


async def _page(browser: Browser, dashboard: Dashboard) -> Page:
    page = await browser.new_page()
    await page.goto(dashboard.url + "/ui/login")  # an origin serving sign.js
    return page


async def test_ed25519_token_is_byte_for_byte_the_python_sdks(
    browser: Browser, dashboard: Dashboard
) -> None:
    """Same canonical JSON, same header, same signature: the same compact JWS."""
    path = dashboard.credentials("de-bka")
    creds = load_credentials(path)
    page = await _page(browser, dashboard)
    result = await page.evaluate(_SIGN_IN_PAGE, [path.read_text(), TRICKY, "clarification"])
    assert result["canonical"].encode() == canonical_json(TRICKY)
    expected = jws.sign(TRICKY, key=creds.key, kid=creds.kid, message_type="clarification")
    assert result["token"] == expected


async def test_p256_token_verifies_with_the_python_stack(
    browser: Browser, dashboard: Dashboard
) -> None:
    """ES256: the same signing input, and a raw r||s signature that verifies."""
    path = dashboard.credentials("es-cgi")
    creds = load_credentials(path)
    page = await _page(browser, dashboard)
    result = await page.evaluate(_SIGN_IN_PAGE, [path.read_text(), TRICKY, "clarification"])
    token = result["token"]
    expected = jws.sign(TRICKY, key=creds.key, kid=creds.kid, message_type="clarification")
    assert token.rsplit(".", 1)[0] == expected.rsplit(".", 1)[0]
    signed = jws.verify(
        token, expected_type="clarification", resolve_key=lambda kid: creds.key.public
    )
    assert signed.payload == json.loads(canonical_json(TRICKY))
    assert signed.kid == "es-cgi#1"


async def test_a_key_of_another_participant_is_refused_in_the_page(
    browser: Browser, dashboard: Dashboard
) -> None:
    """The page will not sign as hsp-alpha with de-bka's credentials file."""
    page = await browser.new_page()
    await page.goto(dashboard.url + "/ui/login")
    await page.fill("#participant_id", "hsp-alpha")
    await page.fill("#token", dashboard.token("hsp-alpha"))
    await page.click("#login-form button")
    await expect(page.locator("#key-status")).to_be_visible()
    await page.set_input_files("#key-file", str(dashboard.credentials("de-bka")))
    await expect(page.locator("#key-status")).to_contain_text("belongs to de-bka")
