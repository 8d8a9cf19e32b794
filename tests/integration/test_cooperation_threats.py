"""R21 through the real HTTP API: Art. 14(5) imminent-threat reports, routing and receipts."""

from __future__ import annotations

from typing import Any

import cooperation_docs as docs


def _recipients(view: dict[str, Any]) -> list[tuple[str, str]]:
    return [(r["participant_id"], r["reason"]) for r in view["recipients"]]


async def test_named_member_states_receive_it_with_delivery_records_and_acks(broker: Any) -> None:
    """Routed to the named States' authorities only; each gets it on its feed; the HSP has a
    receipt, a delivery record per recipient, and sees each recipient's acknowledgement."""
    b = await broker()
    document = docs.threat(b, "hsp-alpha", "FR", "DE")
    token = b.parties["hsp-alpha"].sign(document)
    reply = await b.post_jws("/v1/imminent-threats", party="hsp-alpha", token=token)
    assert reply.status == 201, reply.body
    report = reply.body["report"]
    rid = report["report_id"]
    assert _recipients(report) == [
        ("de-bka", "named_member_state"),
        ("fr-ocrim", "named_member_state"),
    ]
    now = b.iso(b.clock.now())
    assert {r["delivered_at"] for r in report["recipients"]} == {now}
    assert {r["acknowledged_at"] for r in report["recipients"]} == {None}
    receipt = await b.verify_broker_jws(reply.body["receipt"], "receipt")
    assert receipt["message_type"] == "imminent_threat_report"
    assert receipt["received_at"] == now

    for recipient in ("de-bka", "fr-ocrim"):
        (delivered,) = await docs.events(b, recipient)
        assert delivered["kind"] == "imminent_threat_delivered"
        assert delivered["data"]["article"] == "Art. 14(5)"
        assert delivered["data"]["report_jws"] == token
        assert delivered["data"]["recipient"] == recipient
        assert (await b.get(f"/v1/imminent-threats/{rid}", party=recipient)).status == 200
    for bystander in ("es-cgi", "ie-cnam", "europol", "hsp-beta"):
        assert await docs.events(b, bystander) == []
        assert (await b.get(f"/v1/imminent-threats/{rid}", party=bystander)).status == 404

    hsp_sees = await docs.events(b, "hsp-alpha")
    assert docs.kinds(hsp_sees) == [
        "imminent_threat_report_received",
        "imminent_threat_delivered",
        "imminent_threat_delivered",
    ]
    assert hsp_sees[0]["data"]["member_states"] == ["FR", "DE"]
    assert hsp_sees[0]["data"]["routed_to"] == ["de-bka", "fr-ocrim"]
    assert hsp_sees[0]["data"]["rule"] == "R21"

    await b.advance(minutes=2)
    path = f"/v1/imminent-threats/{rid}/acknowledgement"
    ack = await docs.post(b, path, "de-bka", docs.threat_ack(b, "de-bka", rid))
    assert ack.status == 201, ack.body
    records = {r["participant_id"]: r for r in ack.body["report"]["recipients"]}
    assert records["de-bka"]["acknowledged_at"] == b.iso(b.clock.now())
    assert records["fr-ocrim"]["acknowledged_at"] is None
    again = await docs.post(b, path, "de-bka", docs.threat_ack(b, "de-bka", rid))
    assert (again.status, again.body["code"]) == (409, "illegal_transition")
    stranger = await docs.post(b, path, "es-cgi", docs.threat_ack(b, "es-cgi", rid))
    assert stranger.status == 404

    seen = await b.get(f"/v1/imminent-threats/{rid}", party="hsp-alpha")
    assert [r["acknowledged_at"] is not None for r in seen.body["recipients"]] == [True, False]
    latest = (await docs.events(b, "hsp-alpha"))[-1]
    assert latest["kind"] == "imminent_threat_acknowledgement_received"
    assert latest["actor"] == "de-bka"
    history = await b.get(f"/v1/imminent-threats/{rid}/history", party="hsp-alpha")
    assert docs.kinds(history.body["events"])[-1] == "imminent_threat_acknowledgement_received"
    fr_history = await b.get(f"/v1/imminent-threats/{rid}/history", party="fr-ocrim")
    assert docs.kinds(fr_history.body["events"]) == ["imminent_threat_delivered"]


async def test_no_member_state_named_goes_to_host_state_and_europol(broker: Any) -> None:
    """Art. 14(5): none named → the HSP's own Member State's authorities AND Europol; a named
    State without any registered authority is covered by Europol; authorities cannot report."""
    b = await broker()
    reply = await docs.post(b, "/v1/imminent-threats", "hsp-beta", docs.threat(b, "hsp-beta"))
    assert reply.status == 201, reply.body
    report = reply.body["report"]
    assert _recipients(report) == [("europol", "europol"), ("nl-atkm", "host_member_state")]
    (delivered,) = await docs.events(b, "europol")
    assert delivered["kind"] == "imminent_threat_delivered"
    assert delivered["data"]["reason"] == "europol"
    rid = report["report_id"]
    ack = await docs.post(
        b,
        f"/v1/imminent-threats/{rid}/acknowledgement",
        "europol",
        docs.threat_ack(b, "europol", rid),
    )
    assert ack.status == 201, ack.body
    listed = await b.get("/v1/imminent-threats", party="europol")
    assert [r["report_id"] for r in listed.body["reports"]] == [rid]

    unknown = await docs.post(
        b, "/v1/imminent-threats", "hsp-gamma", docs.threat(b, "hsp-gamma", "IT", "ES")
    )
    assert unknown.status == 201, unknown.body
    assert _recipients(unknown.body["report"]) == [
        ("es-cgi", "named_member_state"),
        ("europol", "europol"),
    ]
    assert unknown.body["report"]["unreachable_member_states"] == ["IT"]

    by_authority = await docs.post(b, "/v1/imminent-threats", "de-bka", docs.threat(b, "de-bka"))
    assert (by_authority.status, by_authority.body["code"]) == (403, "forbidden")
