"""Batches of referrals and referral outcomes (a Referral Action Day) through a real broker.

``POST /v1/referrals/batch`` and ``POST /v1/referral-outcomes/batch``: each document is
verified and answered on its own, the valid ones are recorded in one transaction exactly as
when sent alone (events, receipts, R19 flags, feed), a refused one stores nothing and stops
nothing, and duplicates are answered per item (DESIGN.md, the DSA Transparency Database
lesson).  The SDK methods (``send_referral_batch``, ``answer_referral_batch``) are driven
against the same broker, the HSP following its WebSocket feed.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import aclosing
from dataclasses import replace
from typing import Any

import cooperation_docs as docs
import pytest
from sqlalchemy import func
from sqlmodel import select

from authority_client import AuthorityClient
from authority_client.errors import ProblemError
from perci_schemas import jws, validate
from perci_schemas.client_cooperation import CooperationAccepted
from perci_schemas.keys import generate
from perci_sim.storage.log import verify_log
from perci_sim.storage.models import Event
from platform_client import PlatformClient
from platform_client.errors import ProblemError as PlatformProblemError

REFERRALS = "/v1/referrals/batch"
OUTCOMES = "/v1/referral-outcomes/batch"


async def post_batch(b: Any, path: str, party: str, documents: list[Any]) -> Any:
    """POST ``{"documents": documents}`` as ``party``; a 200 answer must match its schema."""
    reply = await b.call("POST", path, party=party, json={"documents": documents})
    if reply.status == 200:
        validate("referral_batch_result", reply.body)
    return reply


def sign(b: Any, party: str, document: dict[str, Any]) -> str:
    return str(b.parties[party].sign(document))


async def referral_count(b: Any, party: str) -> int:
    reply = await b.get("/v1/referrals?limit=500", party=party)
    assert reply.status == 200, reply.body
    return len(reply.body["referrals"])


async def last_seq(b: Any) -> int:
    """The seq of the last event in the broker's log (0 when empty)."""
    async with b.db.read() as session:
        return int((await session.exec(select(func.max(Event.seq)))).one() or 0)


def problem_of(result: dict[str, Any]) -> tuple[int, str, list[str]]:
    problem = result["problem"]
    assert problem["status"] == result["status"]
    return result["status"], problem["code"], [e["field"] for e in problem["errors"]]


async def test_mixed_batch_is_answered_per_item(broker: Any) -> None:
    """Valid items are recorded (flags, events, receipts, feed); each invalid one is refused
    on its own with the problem naming the field, and nothing of it is stored."""
    b = await broker()
    # R19 context: a French hold, a Spanish referral and a German order for some URLs.
    held = "https://hsp-alpha.example.com/v/held"
    await docs.place_hold(b, "fr-ocrim", held)
    shared = "https://hsp-alpha.example.com/v/shared"
    spanish = await docs.refer(b, "es-cgi", "hsp-alpha", shared)
    ordered = "https://hsp-alpha.example.com/v/ordered"
    order = await docs.order(b, "de-bka", "hsp-alpha", ordered)
    referrals_before = await referral_count(b, "hsp-alpha")

    plain = docs.referral(b, "de-bka", "hsp-alpha", "https://hsp-alpha.example.com/v/1")
    to_beta = docs.referral(b, "de-bka", "hsp-beta", "https://hsp-beta.example.com/v/2")
    flagged = docs.referral(b, "de-bka", "hsp-alpha", shared, ordered)
    unknown_hsp = docs.referral(b, "de-bka", "fr-ocrim", "https://hsp-gamma.example.com/v/3")
    no_details = docs.referral(b, "de-bka", "hsp-gamma", "https://hsp-gamma.example.com/v/4")
    del no_details["reasons_details"]
    on_hold = docs.referral(b, "de-bka", "hsp-beta", "https://hsp-beta.example.com/v/5", held)
    wrong_typ = docs.referral(b, "de-bka", "hsp-beta", "https://hsp-beta.example.com/v/6")
    forged = docs.referral(b, "de-bka", "hsp-beta", "https://hsp-beta.example.com/v/7")
    documents: list[Any] = [
        sign(b, "de-bka", plain),  # 0: 201
        jws.sign(  # 1: bad signature (another key under de-bka's kid)
            forged, key=generate("EdDSA"), kid=b.parties["de-bka"].kid, message_type="referral"
        ),
        sign(b, "de-bka", {**wrong_typ, "message_type": "removal_order"}),  # 2: wrong typ
        sign(b, "de-bka", unknown_hsp),  # 3: unknown HSP
        sign(b, "de-bka", no_details),  # 4: schema violation
        sign(b, "de-bka", on_hold),  # 5: a URL under fr-ocrim's hold
        sign(b, "de-bka", to_beta),  # 6: 201
        sign(b, "de-bka", flagged),  # 7: 201, flagged
        sign(b, "de-bka", plain),  # 8: the same document as item 0: 200, its receipt
        42,  # 9: not a JWS at all
    ]
    reply = await post_batch(b, REFERRALS, "de-bka", documents)
    assert reply.status == 200, reply.body
    results = reply.body["results"]
    assert [r["index"] for r in results] == list(range(len(documents)))
    assert [r["status"] for r in results] == [201, 422, 422, 422, 422, 409, 201, 201, 200, 422]
    assert problem_of(results[1]) == (422, "bad_signature", [""])
    assert problem_of(results[2]) == (422, "wrong_type", [""])
    assert problem_of(results[3]) == (422, "unknown_addressee", ["/recipient"])
    assert problem_of(results[4]) == (422, "schema_violation", ["/reasons_details"])
    assert problem_of(results[5]) == (409, "deconfliction_hold", ["/content/1/url"])
    assert results[5]["problem"]["holds"][0]["contact"]["authority_id"] == "fr-ocrim"
    assert problem_of(results[9]) == (422, "schema_violation", [""])

    # Accepted items: a verifiable receipt for exactly that document, and the view.
    accepted = {i: results[i] for i in (0, 6, 7)}
    for index, result in accepted.items():
        receipt = await b.verify_broker_jws(result["receipt"], "receipt")
        assert receipt["document_sha256"] == jws.document_hash(documents[index])
        assert receipt["message_type"] == "referral"
        assert result["referral"]["document"] == documents[index]
        assert result["referral"]["voluntary"] is True
    assert results[8]["receipt"] == results[0]["receipt"]
    assert results[8]["referral"]["referral_id"] == results[0]["referral"]["referral_id"]
    assert accepted[0]["referral"]["flags"] == []
    flags = accepted[7]["referral"]["flags"]
    assert [f.split(":")[0] for f in flags] == ["deconfliction_coordinate", "duplicate_url"]
    assert spanish["referral_id"] in flags[0]
    assert order["order_id"] in flags[1]

    # Stored: three referrals, nothing of the refused items.
    assert await referral_count(b, "de-bka") == 3
    assert await referral_count(b, "hsp-alpha") == referrals_before + 2
    assert await referral_count(b, "hsp-beta") == 1
    assert await referral_count(b, "hsp-gamma") == 0
    # Delivered on the HSPs' feeds, with the same events as a single referral.
    alpha = [e for e in await docs.events(b, "hsp-alpha") if e["kind"] == "referral_received"]
    assert [e["document"] for e in alpha[-2:]] == [documents[0], documents[7]]
    beta = await docs.events(b, "hsp-beta")
    assert docs.kinds(beta) == ["referral_received"]
    assert beta[0]["data"]["referral_id"] == accepted[6]["referral"]["referral_id"]
    assert await docs.events(b, "hsp-gamma") == []
    history = await b.get(
        f"/v1/referrals/{accepted[7]['referral']['referral_id']}/history", party="de-bka"
    )
    assert docs.kinds(history.body["events"]) == ["referral_received", "deconfliction_flagged"]
    # The earlier Spanish issuer is told; the holder learns who tried (R19).
    assert "deconfliction_notice" in docs.kinds(await docs.events(b, "es-cgi"))
    refusals = [
        e for e in await docs.events(b, "fr-ocrim") if e["kind"] == "deconfliction_hold_refusal"
    ]
    assert [(e["data"]["urls"], e["data"]["refused"]["authority_id"]) for e in refusals] == [
        ([held], "de-bka")
    ]
    report = await verify_log(b.db, broker_public_keys=b.broker_keys)
    assert report.ok, report.problems


async def test_replayed_batch_returns_the_original_receipts(broker: Any) -> None:
    """The same batch again: every item 200 with its original receipt, nothing stored;
    a reused message_id with other content is refused for that item alone."""
    b = await broker()
    documents = [
        sign(b, "europol", docs.referral(b, "europol", hsp, f"https://{hsp}.example.com/r/{i}"))
        for i, hsp in enumerate(("hsp-alpha", "hsp-beta", "hsp-gamma"))
    ]
    first = await post_batch(b, REFERRALS, "europol", documents)
    assert [r["status"] for r in first.body["results"]] == [201, 201, 201]
    seq = await last_seq(b)

    again = await post_batch(b, REFERRALS, "europol", documents)
    assert again.status == 200, again.body
    assert [r["status"] for r in again.body["results"]] == [200, 200, 200]
    assert [r["receipt"] for r in again.body["results"]] == [
        r["receipt"] for r in first.body["results"]
    ]
    assert await referral_count(b, "europol") == 3
    assert await last_seq(b) == seq

    # A single resend is a replay too; a reused message_id with other content is not.
    single = await b.post_jws("/v1/referrals", party="europol", token=documents[1])
    assert (single.status, single.body["receipt"]) == (200, first.body["results"][1]["receipt"])
    reused = docs.referral(b, "europol", "hsp-alpha", "https://hsp-alpha.example.com/other")
    receipt = await b.verify_broker_jws(first.body["results"][0]["receipt"], "receipt")
    reused["message_id"] = receipt["message_id"]
    fresh = docs.referral(b, "europol", "hsp-alpha", "https://hsp-alpha.example.com/fresh")
    mixed = await post_batch(
        b,
        REFERRALS,
        "europol",
        [sign(b, "europol", reused), documents[2], sign(b, "europol", fresh)],
    )
    assert [r["status"] for r in mixed.body["results"]] == [409, 200, 201]
    assert problem_of(mixed.body["results"][0])[1] == "duplicate_message"
    assert await referral_count(b, "europol") == 4


async def test_outcome_batch(broker: Any) -> None:
    """The HSP answers many referrals at once; each answer is checked as when sent alone."""
    b = await broker()
    urls = [f"https://hsp-alpha.example.com/o/{i}" for i in range(4)]
    sent = await post_batch(
        b,
        REFERRALS,
        "de-bka",
        [sign(b, "de-bka", docs.referral(b, "de-bka", "hsp-alpha", url)) for url in urls]
        + [sign(b, "de-bka", docs.referral(b, "de-bka", "hsp-beta", "https://b.example/x"))],
    )
    ids = [r["referral"]["referral_id"] for r in sent.body["results"]]
    removed = sign(b, "hsp-alpha", docs.referral_outcome(b, "hsp-alpha", ids[0]))
    answers: list[Any] = [
        removed,  # 0: 201
        sign(  # 1: 201
            b, "hsp-alpha", docs.referral_outcome(b, "hsp-alpha", ids[1], "not_removed", "Satire.")
        ),
        sign(b, "hsp-alpha", docs.referral_outcome(b, "hsp-alpha", ids[2], "not_removed")),  # 2
        sign(b, "hsp-alpha", docs.referral_outcome(b, "hsp-alpha", ids[4])),  # 3: hsp-beta's
        sign(b, "hsp-alpha", docs.referral_outcome(b, "hsp-alpha", ids[0], "not_removed", "No.")),
        removed,  # 5: the same document as item 0
        sign(b, "hsp-alpha", docs.referral_outcome(b, "hsp-alpha", ids[3])),  # 6: 201
    ]
    reply = await post_batch(b, OUTCOMES, "hsp-alpha", answers)
    assert reply.status == 200, reply.body
    results = reply.body["results"]
    assert [r["status"] for r in results] == [201, 201, 422, 404, 409, 200, 201]
    assert problem_of(results[2]) == (422, "schema_violation", ["/reason"])
    assert problem_of(results[3]) == (404, "not_found", ["/referral_id"])
    assert problem_of(results[4])[1] == "illegal_transition"
    assert results[5]["receipt"] == results[0]["receipt"]
    assert [results[i]["referral"]["outcome"] for i in (0, 1, 5, 6)] == [
        "removed",
        "not_removed",
        "removed",
        "removed",
    ]
    for index in (0, 1, 6):
        receipt = await b.verify_broker_jws(results[index]["receipt"], "receipt")
        assert receipt["message_type"] == "referral_outcome"
        assert receipt["document_sha256"] == jws.document_hash(answers[index])

    # The sender sees exactly three outcomes; referral 2 is still open, hsp-beta's untouched.
    seen = [e for e in await docs.events(b, "de-bka") if e["kind"] == "referral_outcome_received"]
    assert sorted(e["data"]["referral_id"] for e in seen) == sorted([ids[0], ids[1], ids[3]])
    assert (await b.get(f"/v1/referrals/{ids[2]}", party="de-bka")).body["state"] == "open"
    assert (await b.get(f"/v1/referrals/{ids[4]}", party="de-bka")).body["outcome"] is None

    seq = await last_seq(b)
    again = await post_batch(b, OUTCOMES, "hsp-alpha", answers)
    assert [r["status"] for r in again.body["results"]] == [200, 200, 422, 404, 409, 200, 200]
    assert [again.body["results"][i]["receipt"] for i in (0, 1, 5, 6)] == [
        results[i]["receipt"] for i in (0, 1, 5, 6)
    ]
    assert await last_seq(b) == seq

    # Roles: authorities send referrals, HSPs answer them.
    refused = await post_batch(b, OUTCOMES, "de-bka", answers[:1])
    assert (refused.status, refused.body["code"]) == (403, "forbidden")
    refused = await post_batch(b, REFERRALS, "hsp-alpha", answers[:1])
    assert (refused.status, refused.body["code"]) == (403, "forbidden")


@pytest.mark.parametrize(
    ("body", "status", "code", "field"),
    [
        ({"documents": ["a.b.c"] * 501}, 413, "payload_too_large", "/documents"),
        ({"documents": []}, 422, "schema_violation", "/documents"),
        ({"jws": "a.b.c"}, 422, "schema_violation", "/documents"),
        ({"documents": ["a.b.c"], "extra": 1}, 422, "schema_violation", "/extra"),
        (["a.b.c"], 422, "schema_violation", "/documents"),
    ],
)
async def test_batch_envelope_is_refused_as_a_whole(
    broker: Any, body: Any, status: int, code: str, field: str
) -> None:
    """More than 500 documents, none, or another body shape: one problem, nothing stored."""
    b = await broker()
    for path, party in ((REFERRALS, "de-bka"), (OUTCOMES, "hsp-alpha")):
        reply = await b.call("POST", path, party=party, json=body)
        assert (reply.status, reply.body["code"]) == (status, code), reply.body
        assert reply.content_type == "application/problem+json"
        assert [e["field"] for e in reply.body["errors"]] == [field]
    assert await last_seq(b) == 0


async def test_sdk_batches_with_the_feed(broker: Any) -> None:
    """send_referral_batch / answer_referral_batch: one result per input, in order; the HSP
    learns of the referrals on its WebSocket feed; chunks stay within the limits."""
    b = await broker()
    url = str(b.server.make_url("")).rstrip("/")

    def client(cls: Any, pid: str) -> Any:
        party = b.parties[pid]
        return cls(url, pid, party.token, party.kid, party.key)

    await docs.place_hold(b, "fr-ocrim", "https://hsp-beta.example.com/held")
    inputs: list[dict[str, Any]] = [
        {
            "hsp_id": "hsp-beta",
            "urls": [f"https://hsp-beta.example.com/sdk/{i}"],
            "details": "Propaganda video (Referral Action Day).",
            "reference": f"RAD-{i:03d}",
            "reasons": ["a"],
        }
        for i in range(7)
    ]
    inputs[2] = {**inputs[2], "hsp_id": "es-cgi"}  # not an HSP
    inputs[5] = {**inputs[5], "urls": ["https://hsp-beta.example.com/held"]}
    async with client(AuthorityClient, "de-bka") as bka, client(PlatformClient, "hsp-beta") as hsp:
        seen: list[dict[str, Any]] = []
        all_seen = asyncio.Event()

        async def follow() -> None:
            async with aclosing(hsp.watch()) as feed:
                async for event in feed:
                    if event["kind"] == "referral_received":
                        seen.append(event)
                    if len(seen) == 5:
                        all_seen.set()

        watcher = asyncio.create_task(follow())
        try:
            # batch_size 3: three requests of 3, 3 and 1 documents.
            results = await bka.send_referral_batch(inputs, batch_size=3)
            async with asyncio.timeout(10):
                await all_seen.wait()
        finally:
            watcher.cancel()
            await asyncio.gather(watcher, return_exceptions=True)
        assert len(results) == len(inputs)
        refused = {i: r for i, r in enumerate(results) if not isinstance(r, CooperationAccepted)}
        assert set(refused) == {2, 5}
        assert isinstance(refused[2], ProblemError)
        assert refused[2].code == "unknown_addressee"
        assert isinstance(refused[5], ProblemError)
        assert refused[5].code == "deconfliction_hold"
        accepted = [r for r in results if isinstance(r, CooperationAccepted)]
        assert [a.item["reference_number"] for a in accepted] == [
            f"RAD-{i:03d}" for i in (0, 1, 3, 4, 6)
        ]
        assert all(a.receipt.message_type == "referral" for a in accepted)
        assert [e["data"]["referral_id"] for e in seen] == [a.item["referral_id"] for a in accepted]

        # The HSP answers them all at once (one of them twice: refused for that item alone).
        answers: list[dict[str, Any]] = [
            {
                "referral_id": a.item["referral_id"],
                "outcome": "removed",
                "measure_at": b.clock.now(),
            }
            for a in accepted
        ]
        answers.append(
            {
                "referral_id": accepted[0].item["referral_id"],
                "outcome": "not_removed",
                "reason": "x",
            }
        )
        outcomes = await hsp.answer_referral_batch(answers)
        assert [isinstance(o, CooperationAccepted) for o in outcomes] == [True] * 5 + [False]
        assert isinstance(outcomes[5], PlatformProblemError)
        assert outcomes[5].code == "illegal_transition"
        assert {o.item["state"] for o in outcomes if isinstance(o, CooperationAccepted)} == {
            "answered"
        }
        with pytest.raises(TypeError):
            await bka.send_referral_batch([{"hsp_id": "hsp-beta", "urls": ["https://x.example"]}])
    assert await referral_count(b, "de-bka") == 5


async def test_sdk_splits_a_batch_the_broker_finds_too_large(broker: Any) -> None:
    """Against a broker with a small body limit, a refused chunk (413) is split in halves
    until it fits; a document too large on its own is refused for itself alone."""
    first = await broker()
    b = await broker(
        like=first,
        settings=replace(first.settings, max_body_bytes=6_000, max_batch_body_bytes=6_000),
    )
    party = b.parties["de-bka"]
    url = str(b.server.make_url("")).rstrip("/")
    inputs: list[dict[str, Any]] = [
        {"hsp_id": "hsp-gamma", "urls": [f"https://hsp-gamma.example.com/s/{i}"], "details": "x"}
        for i in range(12)
    ]
    inputs[7] = {**inputs[7], "details": "y" * 8_000}
    async with AuthorityClient(url, "de-bka", party.token, party.kid, party.key) as bka:
        results = await bka.send_referral_batch(inputs)
    accepted = [r for r in results if isinstance(r, CooperationAccepted)]
    assert [a.item["urls"][0] for a in accepted] == [
        f"https://hsp-gamma.example.com/s/{i}" for i in range(12) if i != 7
    ]
    assert isinstance(results[7], ProblemError)
    assert (results[7].status, results[7].code) == (413, "payload_too_large")
    assert await referral_count(b, "de-bka") == 11


async def test_a_full_batch_fits_the_batch_body_limit(broker: Any) -> None:
    """With the default settings, 500 one-URL referrals (more than the 256 KiB every other
    route takes) are one request, and their 500 outcomes another."""
    b = await broker()
    assert b.settings.max_body_bytes == 256 * 1024
    assert b.settings.max_batch_body_bytes == 1024 * 1024
    documents = [
        sign(b, "de-bka", docs.referral(b, "de-bka", "hsp-beta", f"https://hsp-beta.example/{i}"))
        for i in range(500)
    ]
    size = len(json.dumps({"documents": documents}))
    assert b.settings.max_body_bytes < size < b.settings.max_batch_body_bytes
    reply = await post_batch(b, REFERRALS, "de-bka", documents)
    assert reply.status == 200, reply.body
    assert {r["status"] for r in reply.body["results"]} == {201}
    answers = [
        sign(b, "hsp-beta", docs.referral_outcome(b, "hsp-beta", r["referral"]["referral_id"]))
        for r in reply.body["results"]
    ]
    answered = await post_batch(b, OUTCOMES, "hsp-beta", answers)
    assert answered.status == 200, answered.body
    assert {r["status"] for r in answered.body["results"]} == {201}
    assert {r["referral"]["state"] for r in answered.body["results"]} == {"answered"}
    assert await last_seq(b) == 1000
    report = await verify_log(b.db, broker_public_keys=b.broker_keys)
    assert report.ok, report.problems


async def test_only_the_batch_routes_take_the_batch_body_limit(broker: Any) -> None:
    """The batch routes take up to ``max_batch_body_bytes``, declared or streamed; every other
    route keeps ``max_body_bytes``."""
    first = await broker()
    settings = replace(first.settings, max_body_bytes=4_000, max_batch_body_bytes=40_000)
    b = await broker(like=first, settings=settings)
    documents = [
        sign(b, "de-bka", docs.referral(b, "de-bka", "hsp-beta", f"https://hsp-beta.example/{i}"))
        for i in range(12)
    ]
    assert 4_000 < len(json.dumps({"documents": documents})) < 40_000
    reply = await post_batch(b, REFERRALS, "de-bka", documents)
    assert reply.status == 200, reply.body
    assert {r["status"] for r in reply.body["results"]} == {201}

    too_big = json.dumps({"documents": ["x" * 50_000]}).encode()

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: a streamed body
        for start in range(0, len(too_big), 8_192):
            yield too_big[start : start + 8_192]

    for path, party in ((REFERRALS, "de-bka"), (OUTCOMES, "hsp-beta")):
        refused = await b.call("POST", path, party=party, json={"documents": ["x" * 50_000]})
        assert (refused.status, refused.body["code"]) == (413, "payload_too_large"), path
        assert b.client is not None
        headers = {**b.parties[party].headers, "Content-Type": "application/json"}
        async with b.client.post(path, data=chunks(), headers=headers) as resp:
            assert resp.status == 413, path
            assert (await resp.json())["code"] == "payload_too_large"
    # Another route: the body that fits a batch is too large for one referral.
    single = await b.call("POST", "/v1/referrals", party="de-bka", json={"jws": "x" * 10_000})
    assert (single.status, single.body["code"]) == (413, "payload_too_large")
    assert await last_seq(b) == 12
