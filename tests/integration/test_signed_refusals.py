"""Signed refusals: every problem answer under /v1/ carries the broker's signature over
what it refused, when and why (api/refusals.py, docs/API.md "Signed refusals"); the
SDKs verify it and keep it on their ProblemError."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestServer

from authority_client import AuthorityClient
from authority_client.errors import ProblemError, ReceiptInvalid
from perci_schemas import jws
from perci_schemas.messages import REFUSAL_HEADER
from perci_sim.api.rate_limit import RATE_LIMITER
from perci_sim.app import create_app
from perci_sim.bootstrap import credentials_path, init_home
from perci_sim.settings import Settings


async def _raw(b: Any, method: str, path: str, **kwargs: Any) -> tuple[int, bytes, Any]:
    async with b.client.request(method, path, **kwargs) as resp:
        return resp.status, await resp.read(), resp.headers


def _verified(b: Any, token: str) -> dict[str, Any]:
    signed = jws.verify(token, expected_type="refusal", resolve_key=b.broker_keys.__getitem__)
    return dict(signed.payload)


async def test_a_refused_order_is_answered_with_a_signed_refusal(broker: Any) -> None:
    b = await broker()
    order = b.removal_order("de-bka", "hsp-alpha", emergency=True)
    order["section_a"]["addressee"]["hsp_id"] = "hsp-nobody"
    token = b.parties["de-bka"].sign(order)
    status, raw, headers = await _raw(
        b, "POST", "/v1/orders", json={"jws": token}, headers=b.parties["de-bka"].headers
    )
    assert status == 422
    refusal = _verified(b, headers[REFUSAL_HEADER])
    assert refusal == {
        "status": 422,
        "code": "unknown_addressee",
        "problem_sha256": hashlib.sha256(raw).hexdigest(),
        "method": "POST",
        "path": "/v1/orders",
        "path_sha256": hashlib.sha256(b"/v1/orders").hexdigest(),
        "request_id": headers["X-Request-ID"],
        "participant": "de-bka",
        "document_sha256": jws.document_hash(token),
        "refused_at": b.iso(b.clock.now()),
    }
    assert "hsp-nobody" in json.loads(raw)["detail"]  # bound by problem_sha256


async def test_a_hostile_path_keeps_the_refusal_small(broker: Any) -> None:
    """An 8,000-character id: the refusal cuts the path and binds it by its hash."""
    b = await broker()
    path = "/v1/orders/" + "x" * 8000
    status, _, headers = await _raw(b, "GET", path, headers=b.parties["de-bka"].headers)
    assert status in (400, 404)
    token = headers[REFUSAL_HEADER]
    assert len(token) < 2048
    refusal = _verified(b, token)
    assert refusal["path"].startswith("/v1/orders/xxx")
    assert len(refusal["path"]) == 200
    assert refusal["path_sha256"] == hashlib.sha256(path.encode()).hexdigest()


@pytest.mark.parametrize(
    ("method", "path", "expected"),
    [
        ("GET", "/v1/orders", 401),  # no bearer token: signed, no participant
        ("GET", "/v1/nowhere", 404),
        ("DELETE", "/v1/orders", 405),
    ],
)
async def test_every_problem_answer_is_signed(
    broker: Any, method: str, path: str, expected: int
) -> None:
    b = await broker()
    status, raw, headers = await _raw(b, method, path)
    assert status == expected
    refusal = _verified(b, headers[REFUSAL_HEADER])
    assert refusal["status"] == expected
    assert refusal["problem_sha256"] == hashlib.sha256(raw).hexdigest()
    assert (refusal["participant"], refusal["document_sha256"]) == (None, None)


async def test_rate_limited_answers_are_signed_and_successes_are_not(broker: Any) -> None:
    b = await broker()
    b.app[RATE_LIMITER].configure(1.0, 1)
    headers = b.parties["hsp-alpha"].headers
    ok_status, _, ok_headers = await _raw(b, "GET", "/v1/orders", headers=headers)
    assert ok_status == 200
    assert REFUSAL_HEADER not in ok_headers
    status, _, limited = await _raw(b, "GET", "/v1/orders", headers=headers)
    assert status == 429
    assert _verified(b, limited[REFUSAL_HEADER])["participant"] == "hsp-alpha"


async def test_the_sdk_keeps_the_verified_refusal_of_its_document(
    tmp_path: Path, aiohttp_server: Callable[..., Awaitable[TestServer]], manual_clock: Any
) -> None:
    """AuthorityClient.issue_order refused: the ProblemError holds the broker's signed
    refusal naming the document the client sent; a refusal of anything else fails."""
    manual_clock.speed = 0.0
    home = tmp_path / "setup"
    await init_home(home, broker_url="http://unused.invalid", clock=manual_clock)
    server = await aiohttp_server(create_app(Settings(home=home), clock=manual_clock))
    url = str(server.make_url("")).rstrip("/")
    path = credentials_path(home, "de-bka")
    async with AuthorityClient.from_credentials(path, broker_url=url) as client:
        order = await client.prepare_order(
            hsp_id="hsp-alpha", urls=["https://a.example/1"], reasons=["a"], details="x"
        )  # no advance information, no emergency: refused (Art. 3(2))
        with pytest.raises(ProblemError) as caught:
            await client.issue_order(order)
        problem = caught.value
        assert problem.code == "advance_information_missing"
        assert problem.refusal_payload is not None
        assert problem.refusal_payload["code"] == "advance_information_missing"
        assert problem.refusal_payload["participant"] == "de-bka"
        # Another document's refusal does not pass for this one, nor another answer's.
        with pytest.raises(ReceiptInvalid, match="another document"):
            await client.verify_refusal(problem, sent_jws="a.b.c")
        problem.raw_body += " "
        with pytest.raises(ReceiptInvalid, match="not for this answer"):
            await client.verify_refusal(problem)
