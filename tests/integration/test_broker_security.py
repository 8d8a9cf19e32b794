"""Signatures, keys, signers, idempotency, visibility and the problem+json contract."""

from __future__ import annotations

import base64
import json
from typing import Any

from perci_schemas import jws
from perci_schemas.keys import generate
from perci_schemas.validation import validate
from perci_sim.api import handlers
from perci_sim.storage import registry
from perci_sim.storage.log import verify_log


def _problem(reply: Any, status: int, code: str) -> dict[str, Any]:
    assert reply.status == status, reply.body
    assert reply.content_type == "application/problem+json"
    body: dict[str, Any] = reply.body
    assert body["code"] == code, body
    assert body["type"] == f"https://perci-sim.eu/problems/{code}"
    assert body["status"] == status
    assert isinstance(body["title"], str)
    assert body["title"]
    assert isinstance(body["detail"], str)
    assert isinstance(body["errors"], list)
    validate("problem", body)
    return body


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


async def _event_count(b: Any, party: str) -> int:
    reply = await b.get("/v1/events?limit=1000", party=party)
    assert reply.status == 200
    return len(reply.body["events"])


class TestSignatures:
    async def test_tampered_jws_is_refused(self, broker: Any) -> None:
        """A payload changed after signing no longer verifies (bad_signature)."""
        b = await broker()
        token = b.parties["de-bka"].sign(b.removal_order("de-bka", "hsp-alpha", emergency=True))
        header, payload, signature = token.split(".")
        document = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        document["section_b"]["content"][0]["url"] = "https://example.com/innocent"
        forged = ".".join([header, _b64(jws.canonical_json(document)), signature])
        _problem(await b.post_jws("/v1/orders", party="de-bka", token=forged), 422, "bad_signature")
        _problem(
            await b.post_jws("/v1/orders", party="de-bka", token="not.a-jws"), 422, "bad_signature"
        )
        assert await _event_count(b, "de-bka") == 0

    async def test_signed_feedback_cannot_pass_as_an_order(self, broker: Any) -> None:
        """The JWS typ binds the document type (wrong_type)."""
        b = await broker()
        order = await b.issue()
        feedback = b.parties["hsp-alpha"].sign(b.feedback(order))
        _problem(
            await b.post_jws("/v1/orders", party="hsp-alpha", token=feedback), 403, "forbidden"
        )
        # An authority re-posting a feedback it got hold of: wrong type, before the signer check.
        _problem(await b.post_jws("/v1/orders", party="de-bka", token=feedback), 422, "wrong_type")
        # A removal order signed with the feedback typ.
        order_doc = b.removal_order("de-bka", "hsp-alpha", emergency=True)
        mislabelled = b.parties["de-bka"].sign(order_doc, "feedback")
        _problem(
            await b.post_jws("/v1/orders", party="de-bka", token=mislabelled), 422, "wrong_type"
        )

    async def test_unknown_key(self, broker: Any) -> None:
        """A kid that is not registered (unknown_key)."""
        b = await broker()
        stranger = generate("EdDSA")
        token = jws.sign(
            b.removal_order("de-bka", "hsp-alpha", emergency=True),
            key=stranger,
            kid="de-bka#9",
            message_type="removal_order",
        )
        _problem(await b.post_jws("/v1/orders", party="de-bka", token=token), 422, "unknown_key")

    async def test_signer_must_be_the_authenticated_sender(self, broker: Any) -> None:
        """wrong_signer: another party's key, or a sender that is not the signer."""
        b = await broker()
        document = b.removal_order("de-bka", "hsp-alpha", emergency=True)
        by_france = b.parties["fr-ocrim"].sign(document)
        _problem(
            await b.post_jws("/v1/orders", party="de-bka", token=by_france), 403, "wrong_signer"
        )
        document["sender"] = "fr-ocrim"
        own_key = b.parties["de-bka"].sign(document)
        _problem(await b.post_jws("/v1/orders", party="de-bka", token=own_key), 403, "wrong_signer")

    async def test_revoked_key_is_refused_but_old_documents_still_verify(self, broker: Any) -> None:
        """A revoked key's new signatures are refused; what it signed before stays valid."""
        b = await broker()
        order = await b.issue()
        await b.advance(minutes=1)
        new_key = generate("ES256")
        new_kid = await registry.rotate_key(
            b.db, participant_id="de-bka", public_key=new_key.public, now=b.clock.now()
        )
        assert new_kid == "de-bka#2"
        await b.advance(minutes=1)
        refused = await b.post_document(
            f"/v1/orders/{order['order_id']}/withdrawal",
            party="de-bka",
            document=b.withdrawal(order),
        )
        _problem(refused, 422, "revoked_key")
        party = b.parties["de-bka"]
        party.key, party.kid = new_key, new_kid
        accepted = await b.post_document(
            f"/v1/orders/{order['order_id']}/withdrawal",
            party="de-bka",
            document=b.withdrawal(order),
        )
        assert accepted.status == 201, accepted.body
        directory = (await b.get("/v1/participants/me", party="de-bka")).body
        assert [(k["kid"], k["status"]) for k in directory["keys"]] == [
            ("de-bka#1", "revoked"),
            ("de-bka#2", "active"),
        ]
        report = await verify_log(b.db, broker_public_keys=b.broker_keys)
        assert report.ok, report.problems
        assert report.events == 4  # with the Art. 4(1) host copy


class TestIdempotency:
    async def test_resend_returns_the_original_receipt_and_stores_nothing(
        self, broker: Any
    ) -> None:
        """Same (sender, message_id, payload): 200 with the identical receipt."""
        b = await broker()
        token = b.parties["de-bka"].sign(b.removal_order("de-bka", "hsp-alpha", emergency=True))
        first = await b.post_jws("/v1/orders", party="de-bka", token=token)
        assert first.status == 201, first.body
        before = await _event_count(b, "de-bka")
        await b.advance(minutes=3)
        again = await b.post_jws("/v1/orders", party="de-bka", token=token)
        assert again.status == 200, again.body
        assert again.body["receipt"] == first.body["receipt"]
        assert again.body["order"]["order_id"] == first.body["order"]["order_id"]
        assert await _event_count(b, "de-bka") == before
        assert len((await b.get("/v1/orders", party="de-bka")).body["orders"]) == 1

    async def test_re_signed_identical_payload_is_a_replay(self, broker: Any) -> None:
        """ES256 signatures differ each time; the payload hash decides (fr-ocrim uses ES256)."""
        b = await broker()
        document = b.removal_order("fr-ocrim", "hsp-gamma", emergency=True)
        first = await b.post_document("/v1/orders", party="fr-ocrim", document=document)
        assert first.status == 201, first.body
        second = await b.post_document("/v1/orders", party="fr-ocrim", document=document)
        assert second.status == 200, second.body
        assert second.body["receipt"] == first.body["receipt"]

    async def test_replayed_feedback_after_execution(self, broker: Any) -> None:
        """A resend after the state moved on still gets its original receipt, not a 409."""
        b = await broker()
        order = await b.issue()
        feedback = b.parties["hsp-alpha"].sign(b.feedback(order))
        path = f"/v1/orders/{order['order_id']}/feedback"
        first = await b.post_jws(path, party="hsp-alpha", token=feedback)
        assert first.status == 201, first.body
        again = await b.post_jws(path, party="hsp-alpha", token=feedback)
        assert again.status == 200, again.body
        assert again.body["receipt"] == first.body["receipt"]

    async def test_same_message_id_with_other_content_is_refused(self, broker: Any) -> None:
        """duplicate_message: a message_id is never reused for a different document."""
        b = await broker()
        document = b.removal_order("de-bka", "hsp-alpha", emergency=True)
        assert (
            await b.post_document("/v1/orders", party="de-bka", document=document)
        ).status == 201
        document["section_b"]["reasons_details"] = "changed"
        body = _problem(
            await b.post_document("/v1/orders", party="de-bka", document=document),
            409,
            "duplicate_message",
        )
        assert body["message_id"] == document["message_id"]


class TestVisibility:
    async def test_other_parties_get_404(self, broker: Any) -> None:
        """A participant that is not a party to an order cannot see or touch it."""
        b = await broker()
        order = await b.issue()
        oid = order["order_id"]
        for party in ("fr-ocrim", "hsp-beta"):
            _problem(await b.get(f"/v1/orders/{oid}", party=party), 404, "not_found")
            _problem(await b.get(f"/v1/orders/{oid}/history", party=party), 404, "not_found")
        # HSP beta acknowledging HSP alpha's order.
        ack = b.acknowledgement(order, sender="hsp-beta")
        reply = await b.post_document(
            f"/v1/orders/{oid}/acknowledgement", party="hsp-beta", document=ack
        )
        _problem(reply, 404, "not_found")
        assert (await b.get("/v1/orders", party="fr-ocrim")).body["orders"] == []

    async def test_document_about_another_order(self, broker: Any) -> None:
        """wrong_order: the document's order_id differs from the path's."""
        b = await broker()
        first, second = await b.issue(), await b.issue()
        document = b.feedback(first)
        reply = await b.post_document(
            f"/v1/orders/{second['order_id']}/feedback", party="hsp-alpha", document=document
        )
        body = _problem(reply, 422, "wrong_order")
        assert body["errors"][0]["field"] == "/order_id"
        # An acknowledgement of a different order document.
        ack = b.acknowledgement(first)
        ack["order_sha256"] = jws.document_hash(second["document"])
        reply = await b.post_document(
            f"/v1/orders/{first['order_id']}/acknowledgement", party="hsp-alpha", document=ack
        )
        _problem(reply, 422, "wrong_order")

    async def test_roles(self, broker: Any) -> None:
        """An HSP cannot issue orders; an authority has no inbox and no webhook."""
        b = await broker()
        order_doc = b.removal_order("de-bka", "hsp-alpha", emergency=True)
        token = b.parties["de-bka"].sign(order_doc)
        _problem(await b.post_jws("/v1/orders", party="hsp-alpha", token=token), 403, "forbidden")
        _problem(await b.get("/v1/inbox", party="de-bka"), 403, "forbidden")
        reply = await b.call(
            "PUT", "/v1/participants/me/webhook", party="de-bka", json={"url": "http://x.example"}
        )
        _problem(reply, 403, "forbidden")


class TestProblems:
    async def test_authentication(self, broker: Any) -> None:
        """401 unauthenticated without or with a wrong token; public routes need none."""
        b = await broker()
        _problem(await b.get("/v1/orders"), 401, "unauthenticated")
        reply = await b.call("GET", "/v1/orders", headers={"Authorization": "Bearer nope"})
        body = _problem(reply, 401, "unauthenticated")
        assert "internal" not in body["detail"]
        assert reply.headers["WWW-Authenticate"].startswith("Bearer")
        for path in ("/v1/health", "/v1/clock", "/v1/broker/jwks"):
            assert (await b.get(path)).status == 200, path
        clock = (await b.get("/v1/clock")).body
        assert clock == {"now": b.iso(b.clock.now()), "speed": 1.0}

    async def test_bodies(self, broker: Any) -> None:
        """invalid_json, schema_violation naming /jws and fields, payload_too_large."""
        b = await broker()
        reply = await b.call("POST", "/v1/orders", party="de-bka", data=b"{not json")
        _problem(reply, 400, "invalid_json")
        reply = await b.call("POST", "/v1/orders", party="de-bka", json={"jwt": "x"})
        body = _problem(reply, 422, "schema_violation")
        assert body["errors"] == [{"field": "/jws", "message": "is required and must be a string"}]
        order = await b.issue()
        feedback = b.feedback(order)
        del feedback["section_b"]["measure"]
        feedback["section_c"]["contact_email"] = "not an email"
        reply = await b.post_document(
            f"/v1/orders/{order['order_id']}/feedback", party="hsp-alpha", document=feedback
        )
        body = _problem(reply, 422, "schema_violation")
        fields = {e["field"] for e in body["errors"]}
        assert {"/section_b/measure", "/section_c/contact_email"} <= fields
        big = {"jws": "x" * (b.settings.max_body_bytes + 10)}
        _problem(
            await b.call("POST", "/v1/orders", party="de-bka", json=big), 413, "payload_too_large"
        )

    async def test_unknown_route_and_method(self, broker: Any) -> None:
        """aiohttp's 404 and 405 are problems too; the request id is echoed."""
        b = await broker()
        reply = await b.call("GET", "/v1/nowhere", headers={"X-Request-ID": "req-123"})
        _problem(reply, 404, "not_found")
        assert reply.headers["X-Request-ID"] == "req-123"
        reply = await b.call("DELETE", "/v1/orders", party="de-bka")
        _problem(reply, 405, "method_not_allowed")
        _problem(await b.get("/v1/orders/nope", party="de-bka"), 404, "not_found")
        _problem(await b.get("/v1/orders?state=bogus", party="de-bka"), 422, "schema_violation")

    async def test_unexpected_errors_are_500_problems_without_internals(
        self, broker: Any, monkeypatch: Any
    ) -> None:
        """Anything that is not a refusal is logged and answered with a bare 500 problem."""
        b = await broker()

        async def explode(*_args: Any, **_kwargs: Any) -> None:
            raise RuntimeError("secret database detail")

        monkeypatch.setattr(handlers.queries, "inbox", explode)
        reply = await b.get("/v1/inbox", party="hsp-alpha")
        body = _problem(reply, 500, "internal_error")
        assert "secret" not in json.dumps(body)
