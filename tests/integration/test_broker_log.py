"""The hash-chained log as legal evidence: verify_log, tampering, independent verification."""

from __future__ import annotations

import itertools
import json
import sqlite3
from typing import Any

import pytest
from jwcrypto import jwk as jc_jwk
from jwcrypto import jws as jc_jws

from perci_schemas.validation import validate
from perci_sim.storage.log import GENESIS_HASH, verify_log


async def _lifecycle(b: Any) -> dict[str, Any]:
    await b.introduce("de-bka", "hsp-beta")
    order = await b.issue("de-bka", "hsp-beta", emergency=False)
    oid = order["order_id"]
    for path, party, document in (
        ("acknowledgement", "hsp-beta", b.acknowledgement(order)),
        ("impossibility", "hsp-beta", b.impossibility(order, "insufficient_information")),
        ("clarification", "de-bka", b.clarification(order)),
    ):
        reply = await b.post_document(f"/v1/orders/{oid}/{path}", party=party, document=document)
        assert reply.status == 201, reply.body
    await b.advance(minutes=61)
    reply = await b.post_document(
        f"/v1/orders/{oid}/feedback", party="hsp-beta", document=b.feedback(order)
    )
    assert reply.status == 201, reply.body
    result: dict[str, Any] = order
    return result


def _db_path(b: Any) -> str:
    return str(b.home / "perci.db")


class TestVerifyLog:
    async def test_a_whole_lifecycle_verifies(self, broker: Any) -> None:
        """Chain, party signatures and broker receipts all check out; views match the schemas."""
        b = await broker()
        order = await _lifecycle(b)
        report = await verify_log(b.db, broker_public_keys=b.broker_keys)
        assert report.ok, report.problems
        history = await b.history(order["order_id"], party="de-bka")
        assert report.events == len(history) + 1  # + the advance information
        events = (await b.get("/v1/events", party="de-bka")).body["events"]
        assert events[0]["prev_hash"] == GENESIS_HASH
        for previous, current in itertools.pairwise(events):
            assert current["prev_hash"] == previous["hash"]
        for event in events:
            validate("event", event)
        validate("order_view", await b.order(order["order_id"], party="de-bka"))
        for participant in (await b.get("/v1/participants", party="hsp-beta")).body["participants"]:
            validate("participant_view", participant)

    @pytest.mark.sqlite_file
    async def test_a_tampered_event_row_is_detected(self, broker: Any) -> None:
        """Changing any hashed member of a stored event breaks the chain at that event."""
        b = await broker()
        await _lifecycle(b)
        with sqlite3.connect(_db_path(b)) as conn:
            conn.execute(
                "UPDATE event SET data = ? WHERE seq = 3",
                (json.dumps({"state": "executed", "article": "Art. 3(3)"}),),
            )
        report = await verify_log(b.db, broker_public_keys=b.broker_keys)
        assert not report.ok
        assert any(p.startswith("event 3: hash") for p in report.problems), report.problems

    @pytest.mark.sqlite_file
    async def test_a_swapped_document_is_detected(self, broker: Any) -> None:
        """A stored document replaced by another (validly signed) one no longer matches."""
        b = await broker()
        await _lifecycle(b)
        with sqlite3.connect(_db_path(b)) as conn:
            other = conn.execute("SELECT document FROM event WHERE seq = 1").fetchone()[0]
            conn.execute("UPDATE event SET document = ? WHERE seq = 2", (other,))
        report = await verify_log(b.db, broker_public_keys=b.broker_keys)
        assert not report.ok
        assert any(p.startswith("event 2: document") for p in report.problems), report.problems

    @pytest.mark.sqlite_file
    async def test_a_deleted_event_is_detected(self, broker: Any) -> None:
        """Removing an event leaves a gap the verifier reports."""
        b = await broker()
        await _lifecycle(b)
        with sqlite3.connect(_db_path(b)) as conn:
            conn.execute("DELETE FROM event WHERE seq = 4")
        report = await verify_log(b.db, broker_public_keys=b.broker_keys)
        assert not report.ok
        assert any("sequence gap" in p for p in report.problems), report.problems

    async def test_receipts_verify_with_an_independent_jose_library(self, broker: Any) -> None:
        """jwcrypto verifies the broker's receipts with the published JWKS."""
        b = await broker()
        document = b.removal_order("fr-ocrim", "hsp-gamma", emergency=True)
        reply = await b.post_document("/v1/orders", party="fr-ocrim", document=document)
        assert reply.status == 201
        jwks = (await b.get("/v1/broker/jwks")).body
        key_set = jc_jwk.JWKSet.from_json(json.dumps(jwks))
        token = jc_jws.JWS()
        token.deserialize(reply.body["receipt"])
        token.verify(key_set)
        assert token.jose_header["typ"] == "perci.receipt+jws"
        payload = json.loads(token.payload)
        validate("receipt", payload)
        assert payload["sender"] == "fr-ocrim"
        # The ES256 order itself, verified with the registered public key.
        me = (await b.get("/v1/participants/me", party="fr-ocrim")).body
        order_jws = jc_jws.JWS()
        order_jws.deserialize(reply.body["order"]["document"])
        order_jws.verify(jc_jwk.JWK(**me["keys"][0]["jwk"]))
