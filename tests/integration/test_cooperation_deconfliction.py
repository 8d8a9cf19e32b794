"""R19 through the real HTTP API: holds, coordination flags and duplicate URLs (TCO Art. 14(1))."""

from __future__ import annotations

from typing import Any

import cooperation_docs as docs

URL = "https://hsp-alpha.example.com/v/777"
# The same content as URL once normalised: scheme/host case, default port, slash, fragment.
SAME = "HTTPS://HSP-Alpha.Example.com:443/v/777/#t=10"


async def test_hold_refuses_others_until_lifted_without_leaking(broker: Any) -> None:
    """A hold refuses others' orders and referrals (409 naming whom to contact, no details),
    tells the holder who tried, stays hidden from the HSP, and ends when the holder lifts it."""
    b = await broker()
    hold = await docs.place_hold(b, "fr-ocrim", URL)
    hold_id = hold["hold_id"]

    refused = await docs.post(
        b,
        "/v1/orders",
        "de-bka",
        docs.order_for(b, "de-bka", "hsp-alpha", "https://hsp-alpha.example.com/v/1", SAME),
    )
    assert (refused.status, refused.body["code"]) == (409, "deconfliction_hold")
    assert refused.body["errors"][0]["field"] == "/section_b/content/1/url"
    (held,) = refused.body["holds"]
    assert held["url"] == SAME
    assert held["contact"] == {
        "authority_id": "fr-ocrim",
        "name": "OCRIM",
        "member_state": "FR",
        "contact_point": "deconfliction@fr-ocrim.example.eu",
    }
    text = str(refused.body)
    assert "NIGHTJAR" not in text  # neither the reason nor the reference …
    assert hold_id not in text  # … nor the hold's id leaks
    by_europol = await docs.post(
        b, "/v1/referrals", "europol", docs.referral(b, "europol", "hsp-alpha", URL)
    )
    assert (by_europol.status, by_europol.body["code"]) == (409, "deconfliction_hold")
    assert (await b.get("/v1/orders", party="de-bka")).body["orders"] == []

    # The holder itself may act on its URL; the HSP never learns of the hold.
    await docs.order(b, "fr-ocrim", "hsp-alpha", URL)
    assert "deconfliction_hold" not in str(await docs.events(b, "hsp-alpha"))
    holder_sees = await docs.events(b, "fr-ocrim")
    refusals = [e for e in holder_sees if e["kind"] == "deconfliction_hold_refusal"]
    assert [r["data"]["refused"]["authority_id"] for r in refusals] == ["de-bka", "europol"]
    assert refusals[0]["data"]["article"] == "Art. 14(1)"
    assert refusals[0]["data"]["refused"]["member_state"] == "DE"
    assert refusals[1]["data"]["refused"]["member_state"] == "EU"

    path = f"/v1/deconfliction-holds/{hold_id}/lift"
    stranger = await docs.post(b, path, "de-bka", docs.hold_lifted(b, "de-bka", hold_id))
    assert stranger.status == 404
    lifted = await docs.post(b, path, "fr-ocrim", docs.hold_lifted(b, "fr-ocrim", hold_id))
    assert lifted.status == 201, lifted.body
    assert lifted.body["hold"]["state"] == "lifted"
    again = await docs.post(b, path, "fr-ocrim", docs.hold_lifted(b, "fr-ocrim", hold_id))
    assert (again.status, again.body["code"]) == (409, "illegal_transition")
    holds = (await b.get("/v1/deconfliction-holds", party="fr-ocrim")).body["holds"]
    assert [(h["hold_id"], h["state"]) for h in holds] == [(hold_id, "lifted")]
    assert (await b.get("/v1/deconfliction-holds", party="hsp-alpha")).status == 403

    accepted = await docs.order(b, "de-bka", "hsp-alpha", SAME)
    assert accepted["state"] == "delivered"
    kinds = docs.kinds(await docs.events(b, "fr-ocrim"))
    assert kinds.count("hold_lifted_received") == 1


async def test_active_item_of_another_member_state_is_flagged_both_ways(broker: Any) -> None:
    """R19: accepted but flagged deconfliction_coordinate naming the other item and Member
    State; the earlier issuer is told; answered referrals and other HSPs' URLs differ."""
    b = await broker()
    first = await docs.order(b, "fr-ocrim", "hsp-alpha", URL)
    referral = await docs.refer(b, "de-bka", "hsp-alpha", SAME)
    # The referral to the same HSP is also a duplicate of the open order.
    flag, duplicate = referral["flags"]
    assert flag.startswith("deconfliction_coordinate: ")
    assert duplicate.startswith(f"duplicate_url: {SAME} is already in order(s) {first['order_id']}")
    assert first["order_id"] in flag
    assert "FR (fr-ocrim)" in flag
    history = await b.get(f"/v1/referrals/{referral['referral_id']}/history", party="de-bka")
    flagged = history.body["events"][-1]
    assert flagged["kind"] == "deconfliction_flagged"
    assert flagged["data"]["article"] == "Art. 14(1)"
    assert flagged["data"]["coordinate"][0]["item_id"] == first["order_id"]
    assert flagged["data"]["coordinate"][0]["member_state"] == "FR"

    notices = [e for e in await docs.events(b, "fr-ocrim") if e["kind"] == "deconfliction_notice"]
    assert len(notices) == 1
    assert notices[0]["data"]["new_item"] == {
        "item_kind": "referral",
        "item_id": referral["referral_id"],
        "authority_id": "de-bka",
        "member_state": "DE",
        "hsp_id": "hsp-alpha",
    }
    assert notices[0]["data"]["earlier_item"]["item_id"] == first["order_id"]
    assert notices[0]["data"]["article"] == "Art. 14(1)"

    # An order of a third Member State meets both active items: two flags, two notices.
    third = await docs.order(b, "es-cgi", "hsp-beta", URL)
    coordinate = [f for f in third["flags"] if f.startswith("deconfliction_coordinate")]
    assert len(coordinate) == 2
    assert any(referral["referral_id"] in f and "DE (de-bka)" in f for f in coordinate)
    de_notices = [e for e in await docs.events(b, "de-bka") if e["kind"] == "deconfliction_notice"]
    assert de_notices[0]["data"]["new_item"]["item_id"] == third["order_id"]
    referral_history = await b.get(
        f"/v1/referrals/{referral['referral_id']}/history", party="de-bka"
    )
    assert docs.kinds(referral_history.body["events"])[-1] == "deconfliction_notice"
    # The HSP of the referral does not see the authorities' notice in its history.
    hsp_history = await b.get(f"/v1/referrals/{referral['referral_id']}/history", party="hsp-alpha")
    assert "deconfliction_notice" not in docs.kinds(hsp_history.body["events"])

    # Once the referral is answered and the orders are done, nothing is active any more.
    rid = referral["referral_id"]
    answered = await docs.post(
        b, f"/v1/referrals/{rid}/outcome", "hsp-alpha", docs.referral_outcome(b, "hsp-alpha", rid)
    )
    assert answered.status == 201
    for done in (first, third):
        fb = await b.post_document(
            f"/v1/orders/{done['order_id']}/feedback",
            party=done["hsp_id"],
            document=b.feedback(done),
        )
        assert fb.status == 201, fb.body
    later = await docs.refer(b, "europol", "hsp-gamma", URL)
    assert later["flags"] == []


async def test_same_member_state_and_stale_referrals_are_not_flagged(broker: Any) -> None:
    """Only another Member State's item counts, and a referral without outcome only for 30 days."""
    b = await broker()
    await docs.refer(b, "de-bka", "hsp-beta", URL)
    same_state = await docs.refer(b, "de-bka", "hsp-gamma", URL)
    assert same_state["flags"] == []
    await b.advance(hours=24 * 31)
    stale = await docs.refer(b, "fr-ocrim", "hsp-gamma", URL)
    assert stale["flags"] == []


async def test_duplicate_urls_are_flagged_per_url(broker: Any) -> None:
    """Duplicate detection: per URL, the earlier open or executed order(s) to the same HSP;
    other HSPs and withdrawn orders do not count.  The order is accepted (documented choice)."""
    b = await broker()
    a, c, d = (f"https://hsp-alpha.example.com/v/{n}" for n in ("a", "c", "d"))
    first = await docs.order(b, "de-bka", "hsp-alpha", a, c)
    fb = await b.post_document(
        f"/v1/orders/{first['order_id']}/feedback", party="hsp-alpha", document=b.feedback(first)
    )
    assert fb.status == 201  # executed orders still count
    second = await docs.order(b, "de-bka", "hsp-alpha", c)
    withdrawn = await docs.order(b, "de-bka", "hsp-alpha", d)
    wd = await b.post_document(
        f"/v1/orders/{withdrawn['order_id']}/withdrawal",
        party="de-bka",
        document=b.withdrawal(withdrawn),
    )
    assert wd.status == 201

    batch = await docs.order(
        b, "de-bka", "hsp-alpha", a + "/", "https://hsp-alpha.example.com/v/new", c, d
    )
    assert batch["state"] == "delivered"
    duplicates = [f for f in batch["flags"] if f.startswith("duplicate_url")]
    assert duplicates == [
        f"duplicate_url: {a}/ is already in order(s) {first['order_id']} to hsp-alpha (Art. 14(1))",
        f"duplicate_url: {c} is already in order(s) {first['order_id']}, {second['order_id']} "
        "to hsp-alpha (Art. 14(1))",
    ]
    assert not [f for f in batch["flags"] if f.startswith("deconfliction_coordinate")]
    history = await b.history(batch["order_id"], party="hsp-alpha")
    flagged = [e for e in history if e["kind"] == "deconfliction_flagged"]
    assert len(flagged) == 1
    assert flagged[0]["data"]["article"] == "Art. 14(1)"
    assert [(d["url"], d["earlier_order_ids"]) for d in flagged[0]["data"]["duplicates"]] == [
        (a + "/", [first["order_id"]]),
        (c, [first["order_id"], second["order_id"]]),
    ]
    other_hsp = await docs.order(b, "de-bka", "hsp-beta", a)
    assert other_hsp["flags"] == []
