"""R20 through the real HTTP API: a referral is voluntary, never an order, a clock or a breach."""

from __future__ import annotations

from typing import Any

import cooperation_docs as docs


async def test_referral_is_recorded_without_order_clock_or_breach(broker: Any) -> None:
    """R20: 201 with a receipt; no order, no timer, nothing due hours later; says 'voluntary'."""
    b = await broker()
    document = docs.referral(b, "de-bka", "hsp-beta", "https://hsp-beta.example.com/v/1")
    token = b.parties["de-bka"].sign(document)
    reply = await b.post_jws("/v1/referrals", party="de-bka", token=token)
    assert reply.status == 201, reply.body
    view = reply.body["referral"]
    assert view["voluntary"] is True
    assert view["nature"] == "voluntary consideration against terms of service"
    assert view["deadline_at"] is None
    assert view["state"] == "open"
    assert view["flags"] == []
    receipt = await b.verify_broker_jws(reply.body["receipt"], "receipt")
    assert receipt["message_type"] == "referral"
    assert receipt["order_id"] is None

    # Never an order: neither party has one, the HSP's inbox is empty.
    for party in ("de-bka", "hsp-beta"):
        assert (await b.get("/v1/orders", party=party)).body["orders"] == []
    assert (await b.get("/v1/inbox", party="hsp-beta")).body["orders"] == []
    # Never a clock: no timer is due, even days later, and nothing is breached.
    assert await b.advance(hours=2) == 0
    assert await b.advance(hours=72) == 0
    seen = await docs.events(b, "hsp-beta")
    assert docs.kinds(seen) == ["referral_received"]
    data = seen[0]["data"]
    assert data["voluntary"] is True
    assert data["article"] == "Art. 14"
    assert data["rule"] == "R20"
    assert data["deadline_at"] is None
    assert seen[0]["document"] == token
    assert "breach" not in str(seen)

    history = await b.get(f"/v1/referrals/{view['referral_id']}/history", party="de-bka")
    assert docs.kinds(history.body["events"]) == ["referral_received"]
    assert (await b.get(f"/v1/referrals/{view['referral_id']}", party="hsp-beta")).status == 200


async def test_referral_is_its_own_document_type(broker: Any) -> None:
    """R20: a referral JWS is refused as an order and an order JWS as a referral (wrong_type);
    a referral cannot carry order members nor another 'nature' (schema_violation)."""
    b = await broker()
    referral = docs.referral(b, "de-bka", "hsp-beta", "https://hsp-beta.example.com/v/2")
    as_order = await b.post_document("/v1/orders", party="de-bka", document=referral)
    assert (as_order.status, as_order.body["code"]) == (422, "wrong_type")
    order = docs.order_for(b, "de-bka", "hsp-beta", "https://hsp-beta.example.com/v/2")
    as_referral = await b.post_document("/v1/referrals", party="de-bka", document=order)
    assert (as_referral.status, as_referral.body["code"]) == (422, "wrong_type")

    binding = {**referral, "emergency": {"is_emergency": True}, "deadline_at": referral["sent_at"]}
    refused = await b.post_document("/v1/referrals", party="de-bka", document=binding)
    assert refused.status == 422
    assert {e["field"] for e in refused.body["errors"]} == {"/emergency", "/deadline_at"}
    other = {**referral, "nature": "removal order under Art. 3"}
    refused = await b.post_document("/v1/referrals", party="de-bka", document=other)
    assert [e["field"] for e in refused.body["errors"]] == ["/nature"]


async def test_hsp_answers_once_and_the_sender_sees_the_outcome(broker: Any) -> None:
    """The HSP's outcome is recorded once; the sender sees it; nobody else can answer."""
    b = await broker()
    view = await docs.refer(b, "fr-ocrim", "hsp-alpha", "https://hsp-alpha.example.com/v/9")
    rid = view["referral_id"]
    path = f"/v1/referrals/{rid}/outcome"

    missing_reason = docs.referral_outcome(b, "hsp-alpha", rid, "not_removed")
    refused = await docs.post(b, path, "hsp-alpha", missing_reason)
    assert (refused.status, refused.body["errors"][0]["field"]) == (422, "/reason")
    stranger = await docs.post(b, path, "hsp-beta", docs.referral_outcome(b, "hsp-beta", rid))
    assert stranger.status == 404
    wrong_role = await docs.post(b, path, "de-bka", docs.referral_outcome(b, "de-bka", rid))
    assert (wrong_role.status, wrong_role.body["code"]) == (403, "forbidden")

    await b.advance(hours=5)  # answering late is no breach: there is no deadline
    answer = docs.referral_outcome(
        b, "hsp-alpha", rid, "not_removed", reason="Satire; within our terms."
    )
    reply = await docs.post(b, path, "hsp-alpha", answer)
    assert reply.status == 201, reply.body
    assert reply.body["referral"]["state"] == "answered"
    assert reply.body["referral"]["outcome"] == "not_removed"
    again = await docs.post(b, path, "hsp-alpha", docs.referral_outcome(b, "hsp-alpha", rid))
    assert (again.status, again.body["code"]) == (409, "illegal_transition")
    resend = await b.post_document(path, party="hsp-alpha", document=answer)
    assert resend.status == 200
    assert resend.body["receipt"] == reply.body["receipt"]

    seen = await docs.events(b, "fr-ocrim")
    assert docs.kinds(seen) == ["referral_received", "referral_outcome_received"]
    assert seen[1]["data"]["outcome"] == "not_removed"
    assert seen[1]["data"]["reason"] == "Satire; within our terms."
    listed = await b.get("/v1/referrals?state=answered", party="fr-ocrim")
    assert [r["referral_id"] for r in listed.body["referrals"]] == [rid]


async def test_europol_refers_and_only_parties_see_it(broker: Any) -> None:
    """Europol (Art. 14) may refer; HSPs may not; other authorities see nothing of it."""
    b = await broker()
    view = await docs.refer(b, "europol", "hsp-gamma", "https://hsp-gamma.example.com/t/1")
    assert view["member_state"] == "EU"
    assert docs.kinds(await docs.events(b, "europol")) == ["referral_received"]
    assert docs.kinds(await docs.events(b, "hsp-gamma")) == ["referral_received"]
    assert await docs.events(b, "de-bka") == []
    hidden = await b.get(f"/v1/referrals/{view['referral_id']}", party="de-bka")
    assert hidden.status == 404
    listed = await b.get("/v1/referrals", party="hsp-gamma")
    assert [r["sender_id"] for r in listed.body["referrals"]] == ["europol"]

    by_hsp = docs.referral(b, "hsp-alpha", "hsp-gamma", "https://hsp-gamma.example.com/t/2")
    refused = await b.post_document("/v1/referrals", party="hsp-alpha", document=by_hsp)
    assert (refused.status, refused.body["code"]) == (403, "forbidden")
    unknown = docs.referral(b, "de-bka", "fr-ocrim", "https://hsp-gamma.example.com/t/3")
    refused = await b.post_document("/v1/referrals", party="de-bka", document=unknown)
    assert (refused.status, refused.body["code"]) == (422, "unknown_addressee")
