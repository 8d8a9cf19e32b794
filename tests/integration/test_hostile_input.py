"""Hostile input against a real broker: each refusal is a precise problem and changes nothing.

test_broker_security.py covers the basic cases (a tampered payload, an unknown kid, a
revoked key, a feedback posted as an order, a declared oversized body, ``{not json``);
this module adds the rest of each hostile class: oversized bodies without a declared
length, malformed and type-confused JSON bodies, hostile JWS headers, signatures by
the wrong party, replays across routes and participants, type confusion between message
kinds, path traversal in ids and floods (per-participant rate limits, 429 with
``Retry-After``).  Every case asserts the status, the problem's ``type``/``title``/
``code`` (and the offending ``field`` where there is one) and that the broker's state —
the event count, the hash-chain tail, and every table's row count — did not move.
"""

from __future__ import annotations

import asyncio
import base64
import json
import sqlite3
import urllib.parse
from typing import Any

import pytest
from joserfc import jws as joserfc_jws

from perci_schemas import jws
from perci_schemas.keys import generate
from perci_schemas.validation import validate
from perci_sim.api.rate_limit import RATE_LIMITER, RateLimiter
from perci_sim.storage import registry

_TABLES = (
    "event",
    "removal_order",
    "timer",
    "delivery",
    "referral",
    "deconfliction_hold",
    "item_url",
    "participant",
    "participant_key",
)


def _problem(
    reply: Any, status: int, code: str, *, title: str | None = None, field: str | None = None
) -> dict[str, Any]:
    """Assert a problem+json of ``status``/``code`` (and ``title``, an error on ``field``)."""
    assert reply.status == status, reply.body
    assert reply.content_type == "application/problem+json", reply.content_type
    body: dict[str, Any] = reply.body
    assert body["code"] == code, body
    assert body["type"] == f"https://perci-sim.eu/problems/{code}"
    assert body["status"] == status
    assert isinstance(body["title"], str)
    assert body["title"]
    if title is not None:
        assert body["title"] == title, body
    if field is not None:
        assert field in [e["field"] for e in body["errors"]], body
    validate("problem", body)
    return body


def _state(b: Any) -> tuple[Any, ...]:
    """Every table's row count and the hash-chain tail (read from the SQLite file)."""
    with sqlite3.connect(f"file:{b.home / 'perci.db'}?mode=ro", uri=True) as conn:
        counts = tuple(conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in _TABLES)
        tail = conn.execute("SELECT seq, hash FROM event ORDER BY seq DESC LIMIT 1").fetchone()
    return (*counts, tail)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _forge(header: dict[str, Any], payload: dict[str, Any], signature: bytes = b"x") -> str:
    return ".".join(
        [_b64(json.dumps(header).encode()), _b64(jws.canonical_json(payload)), _b64(signature)]
    )


async def _started(broker: Any, **kwargs: Any) -> tuple[Any, dict[str, Any]]:
    """A broker with one delivered order, and that order."""
    b = await broker(**kwargs)
    order = await b.issue()
    return b, order


class TestOversizedBodies:
    async def test_undeclared_length_over_the_limit(self, broker: Any) -> None:
        """A chunked body (no Content-Length) larger than the limit: 413, nothing read on."""
        b, _ = await _started(broker)
        before = _state(b)
        limit = b.settings.max_body_bytes

        async def chunks() -> Any:
            yield b'{"jws": "'
            for _ in range(limit // 4096 + 2):
                yield b"a" * 4096
            yield b'"}'

        reply = await b.call("POST", "/v1/orders", party="de-bka", data=chunks())  # type: ignore[arg-type]
        _problem(reply, 413, "payload_too_large", title="Request body too large")
        assert _state(b) == before

    async def test_declared_length_on_every_document_route(self, broker: Any) -> None:
        """The declared-length check runs before authentication and before any handler."""
        b, order = await _started(broker)
        before = _state(b)
        big = b"{" + b" " * (b.settings.max_body_bytes + 1) + b"}"
        for path, party in (
            ("/v1/orders", "de-bka"),
            (f"/v1/orders/{order['order_id']}/feedback", "hsp-alpha"),
            ("/v1/referrals", "de-bka"),
            ("/v1/orders", None),  # unauthenticated: still 413, not 401
        ):
            reply = await b.call("POST", path, party=party, data=big)
            _problem(reply, 413, "payload_too_large")
        assert _state(b) == before

    async def test_too_many_documents_in_a_batch(self, broker: Any) -> None:
        """More than 500 documents in a batch: refused as a whole on /documents."""
        b, _ = await _started(broker)
        before = _state(b)
        reply = await b.call(
            "POST", "/v1/referrals/batch", party="de-bka", json={"documents": ["a.b.c"] * 501}
        )
        _problem(reply, 413, "payload_too_large", field="/documents")
        assert _state(b) == before


class TestMalformedJson:
    @pytest.mark.parametrize(
        "raw",
        [
            b"",
            b"{",
            b'{"jws": "a.b.c"',
            b"\xff\xfe{}",
            b'{"jws": "a.b.c"}trailing',
            b"NaN",
            b'{"jws": "a.b.c", "x": Infinity}',
            b"[" * 100_000 + b"]" * 100_000,
            b'{"a":' * 40_000 + b"1" + b"}" * 40_000,
        ],
        ids=[
            "empty",
            "open",
            "truncated",
            "bad-utf8",
            "trailing",
            "nan",
            "inf",
            "deep",
            "deep-obj",
        ],
    )
    async def test_malformed_bodies(self, broker: Any, raw: bytes) -> None:
        """Bodies that are not one RFC 8259 JSON document: invalid_json 400, never a 500.

        The nesting bombs were 500s (RecursionError escaped the body parser).
        """
        b, order = await _started(broker)
        before = _state(b)
        for path, party in (
            ("/v1/orders", "de-bka"),
            (f"/v1/orders/{order['order_id']}/acknowledgement", "hsp-alpha"),
            ("/v1/referrals/batch", "de-bka"),
            ("/v1/deconfliction-holds", "de-bka"),
        ):
            reply = await b.call(
                "POST", path, party=party, data=raw, headers={"Content-Type": "application/json"}
            )
            _problem(reply, 400, "invalid_json", title="Request body is not valid JSON")
        assert _state(b) == before

    async def test_a_jws_string_that_is_not_compact(self, broker: Any) -> None:
        """A string that is no compact JWS (lone surrogate, JSON serialisation): bad_signature."""
        b, _ = await _started(broker)
        before = _state(b)
        general = json.dumps({"payload": "e30", "signatures": [{"protected": "e30"}]})
        for token in ("\ud800", general, " . . ", "...", "a.b.c"):
            reply = await b.post_jws("/v1/orders", party="de-bka", token=token)
            _problem(reply, 422, "bad_signature", title="Signature does not verify")
        assert _state(b) == before

    @pytest.mark.parametrize(
        "body",
        [[], "a.b.c", 42, None, {"jws": 42}, {"jws": ["a.b.c"]}, {"jws": None}, {"jws": {}}],
        ids=["array", "string", "number", "null", "jws-number", "jws-list", "jws-null", "jws-obj"],
    )
    async def test_json_of_the_wrong_shape(self, broker: Any, body: Any) -> None:
        """JSON that is not ``{"jws": "<string>"}``: schema_violation naming the member."""
        b, order = await _started(broker)
        before = _state(b)
        for path, party in (
            ("/v1/orders", "de-bka"),
            (f"/v1/orders/{order['order_id']}/feedback", "hsp-alpha"),
            ("/v1/deconfliction-holds", "de-bka"),
        ):
            reply = await b.call("POST", path, party=party, data=json.dumps(body))
            problem = _problem(reply, 422, "schema_violation", field="/jws")
            assert problem["errors"] == [
                {"field": "/jws", "message": "is required and must be a string"}
            ]
        assert _state(b) == before

    async def test_batch_of_the_wrong_shape(self, broker: Any) -> None:
        """A batch whose ``documents`` is not a list of strings: schema_violation, per field."""
        b, _ = await _started(broker)
        before = _state(b)
        for body in ({"documents": "a.b.c"}, {"documents": []}, {"docs": ["a.b.c"]}, {}):
            reply = await b.call("POST", "/v1/referrals/batch", party="de-bka", json=body)
            _problem(reply, 422, "schema_violation")
        # Items are checked one by one: a non-string item is that item's problem.
        reply = await b.call(
            "POST", "/v1/referrals/batch", party="de-bka", json={"documents": [1, None, "a.b"]}
        )
        assert reply.status == 200, reply.body
        results = reply.body["results"]
        assert [(r["index"], r["status"]) for r in results] == [(0, 422), (1, 422), (2, 422)]
        codes = [r["problem"]["code"] for r in results]
        assert codes == ["schema_violation", "schema_violation", "bad_signature"], results
        assert _state(b) == before


class TestHostileSignatures:
    async def test_hostile_headers(self, broker: Any) -> None:
        """alg none/HS256, no kid, crit, b64, a non-JSON header, bad part counts: bad_signature."""
        b, _ = await _started(broker)
        before = _state(b)
        document = b.removal_order("de-bka", "hsp-alpha", emergency=True)
        kid = b.parties["de-bka"].kid
        typ = "perci.removal-order+jws"
        forged = [
            _forge({"alg": "none", "kid": kid, "typ": typ}, document, b""),
            _forge({"alg": "HS256", "kid": kid, "typ": typ}, document),
            _forge({"alg": "EdDSA", "typ": typ}, document),
            _forge({"alg": "EdDSA", "kid": kid, "typ": typ, "crit": ["b64"]}, document),
            _forge({"alg": "EdDSA", "kid": kid, "typ": typ, "b64": False}, document),
            ".".join(["bm90IGpzb24", _b64(jws.canonical_json(document)), "AA"]),
            "a.b",
            "a.b.c.d.e",
            "",
        ]
        for token in forged:
            reply = await b.post_jws("/v1/orders", party="de-bka", token=token)
            _problem(reply, 422, "bad_signature", title="Signature does not verify")
        assert _state(b) == before

    async def test_nesting_bomb_in_the_header(self, broker: Any) -> None:
        """A protected header nested 50,000 deep: bad_signature (was a 500: RecursionError)."""
        b, _ = await _started(broker)
        before = _state(b)
        token = ".".join([_b64(b"[" * 50_000 + b"]" * 50_000), "e30", "AA"])
        reply = await b.post_jws("/v1/orders", party="de-bka", token=token)
        _problem(reply, 422, "bad_signature")
        assert _state(b) == before

    async def test_nesting_bomb_in_a_signed_payload(self, broker: Any) -> None:
        """A correctly signed payload nested too deeply: bad_signature, not a 500."""
        b, _ = await _started(broker)
        before = _state(b)
        party = b.parties["de-bka"]
        header = {"alg": party.key.alg, "kid": party.kid, "typ": "perci.removal-order+jws"}
        payload = b'{"a":' + b"[" * 30_000 + b"]" * 30_000 + b"}"
        token = joserfc_jws.serialize_compact(
            header, payload, party.key.jwk, algorithms=[party.key.alg]
        )
        reply = await b.post_jws("/v1/orders", party="de-bka", token=token)
        _problem(reply, 422, "bad_signature")
        assert _state(b) == before

    @pytest.mark.parametrize("route", ["/v1/orders", "/v1/referrals/batch"])
    @pytest.mark.parametrize("bad", ["\\ud800", "before\\u0000after"])
    async def test_lone_surrogate_in_a_signed_payload(
        self, broker: Any, route: str, bad: str
    ) -> None:
        """A signed string holding a lone surrogate ("\\ud800") or a NUL (PostgreSQL's text
        columns refuse it): a 4xx problem, nothing stored."""
        b, _ = await _started(broker)
        before = _state(b)
        party = b.parties["de-bka"]
        if route == "/v1/orders":
            document = b.removal_order("de-bka", "hsp-alpha", emergency=True)
            document["legal_basis"] = "__X__"
            typ = "perci.removal-order+jws"
        else:
            document = {
                "message_type": "referral",
                "message_id": "5b0cf0a4-1d0f-4a55-9d1c-3f1f8c2f7a11",
                "sender": "de-bka",
                "sent_at": b.iso(b.clock.now()),
                "recipient": "hsp-alpha",
                "reference_number": "__X__",
                "nature": "voluntary consideration against terms of service",
                "content": [{"url": "https://alpha.example/r/1"}],
                "reasons_details": "Terms of service.",
            }
            typ = "perci.referral+jws"
        payload = json.dumps(document).replace('"__X__"', f'"{bad}"').encode()
        header = {"alg": party.key.alg, "kid": party.kid, "typ": typ}
        token = joserfc_jws.serialize_compact(
            header, payload, party.key.jwk, algorithms=[party.key.alg]
        )
        if route == "/v1/orders":
            reply = await b.post_jws(route, party="de-bka", token=token)
            _problem(reply, 422, "schema_violation")
        else:
            reply = await b.call("POST", route, party="de-bka", json={"documents": [token]})
            assert reply.status == 200, reply.body
            assert reply.body["results"][0]["status"] == 422, reply.body
        assert _state(b) == before

    async def test_signed_by_another_participants_key(self, broker: Any) -> None:
        """Own kid but another party's key: bad_signature; another party's kid: wrong_signer."""
        b, _ = await _started(broker)
        before = _state(b)
        document = b.removal_order("de-bka", "hsp-alpha", emergency=True)
        fr = b.parties["fr-ocrim"]
        own_kid_other_key = jws.sign(
            document, key=fr.key, kid=b.parties["de-bka"].kid, message_type="removal_order"
        )
        _problem(
            await b.post_jws("/v1/orders", party="de-bka", token=own_kid_other_key),
            422,
            "bad_signature",
        )
        # fr-ocrim signs a document claiming to be from de-bka and posts it as itself.
        other_kid = jws.sign(document, key=fr.key, kid=fr.kid, message_type="removal_order")
        _problem(
            await b.post_jws("/v1/orders", party="fr-ocrim", token=other_kid), 403, "wrong_signer"
        )
        # ... and as de-bka, whose token it stole: the signer is not the caller.
        _problem(
            await b.post_jws("/v1/orders", party="de-bka", token=other_kid), 403, "wrong_signer"
        )
        assert _state(b) == before

    async def test_revoked_and_unknown_keys_change_nothing(self, broker: Any) -> None:
        """revoked_key; unknown_key for a kid nobody registered, a hostile or a bare one."""
        b, order = await _started(broker)
        stranger = generate("EdDSA")
        await registry.rotate_key(
            b.db, participant_id="hsp-alpha", public_key=generate("EdDSA").public, now=b.clock.now()
        )
        before = _state(b)
        feedback = b.feedback(order)
        path = f"/v1/orders/{order['order_id']}/feedback"
        revoked = b.parties["hsp-alpha"].sign(feedback)
        _problem(await b.post_jws(path, party="hsp-alpha", token=revoked), 422, "revoked_key")
        for kid in ("hsp-alpha#9", "nobody#1", "../../etc/passwd#1", "hsp-alpha"):
            token = jws.sign(feedback, key=stranger, kid=kid, message_type="feedback")
            reply = await b.post_jws(path, party="hsp-alpha", token=token)
            _problem(reply, 422, "unknown_key")
        assert _state(b) == before


class TestReplays:
    async def test_replay_on_another_order_or_route(self, broker: Any) -> None:
        """A recorded acknowledgement replayed on another order, or as feedback: refused."""
        b = await broker()
        first, second = await b.issue(), await b.issue()
        ack = b.parties["hsp-alpha"].sign(b.acknowledgement(first))
        ok = await b.post_jws(
            f"/v1/orders/{first['order_id']}/acknowledgement", party="hsp-alpha", token=ack
        )
        assert ok.status == 201, ok.body
        before = _state(b)
        _problem(
            await b.post_jws(
                f"/v1/orders/{second['order_id']}/acknowledgement", party="hsp-alpha", token=ack
            ),
            422,
            "wrong_order",
            field="/order_id",
        )
        _problem(
            await b.post_jws(
                f"/v1/orders/{first['order_id']}/feedback", party="hsp-alpha", token=ack
            ),
            422,
            "wrong_type",
        )
        # The same document replayed by another HSP holding a stolen copy: refused on the
        # signer before the order is looked up (nothing about the order is disclosed).
        _problem(
            await b.post_jws(
                f"/v1/orders/{first['order_id']}/acknowledgement", party="hsp-beta", token=ack
            ),
            403,
            "wrong_signer",
        )
        assert _state(b) == before

    async def test_broker_receipt_and_event_posted_back(self, broker: Any) -> None:
        """A broker-signed receipt sent as a document is not a party document."""
        b = await broker()
        reply = await b.post_document(
            "/v1/orders",
            party="de-bka",
            document=b.removal_order("de-bka", "hsp-alpha", emergency=True),
        )
        assert reply.status == 201
        before = _state(b)
        receipt = reply.body["receipt"]
        replayed = await b.post_jws("/v1/orders", party="de-bka", token=receipt)
        _problem(replayed, 422, "wrong_type")
        assert _state(b) == before

    async def test_replay_with_a_changed_sent_at_is_a_duplicate(self, broker: Any) -> None:
        """Same message_id, one member changed (sent_at): duplicate_message, not a new order."""
        b = await broker()
        document = b.removal_order("de-bka", "hsp-alpha", emergency=True)
        assert (
            await b.post_document("/v1/orders", party="de-bka", document=document)
        ).status == 201
        before = _state(b)
        document["sent_at"] = b.iso(b.clock.advance(seconds=1))
        _problem(
            await b.post_document("/v1/orders", party="de-bka", document=document),
            409,
            "duplicate_message",
        )
        assert _state(b) == before


class TestTypeConfusion:
    @pytest.mark.parametrize(
        ("route", "document_kind"),
        [
            ("acknowledgement", "feedback"),
            ("feedback", "acknowledgement"),
            ("impossibility", "feedback"),
            ("grounds-ceased", "acknowledgement"),
        ],
    )
    async def test_a_document_on_another_kinds_route(
        self, broker: Any, route: str, document_kind: str
    ) -> None:
        """Each route takes its own typ only: wrong_type before anything is looked up."""
        b, order = await _started(broker)
        before = _state(b)
        document = getattr(b, document_kind)(order)
        reply = await b.post_document(
            f"/v1/orders/{order['order_id']}/{route}", party="hsp-alpha", document=document
        )
        _problem(reply, 422, "wrong_type")
        assert _state(b) == before

    async def test_typ_and_message_type_disagree(self, broker: Any) -> None:
        """An acknowledgement payload under a feedback typ, on either route: wrong_type."""
        b, order = await _started(broker)
        before = _state(b)
        ack = b.acknowledgement(order)
        mislabelled = b.parties["hsp-alpha"].sign(ack, "feedback")
        for route in ("feedback", "acknowledgement"):
            reply = await b.post_jws(
                f"/v1/orders/{order['order_id']}/{route}", party="hsp-alpha", token=mislabelled
            )
            _problem(reply, 422, "wrong_type")
        assert _state(b) == before

    async def test_order_members_in_a_referral(self, broker: Any) -> None:
        """A removal order signed as a referral: the closed referral schema refuses it."""
        b, _ = await _started(broker)
        before = _state(b)
        order = b.removal_order("de-bka", "hsp-alpha", emergency=True)
        order["message_type"] = "referral"
        reply = await b.post_document("/v1/referrals", party="de-bka", document=order)
        _problem(reply, 422, "schema_violation")
        assert _state(b) == before


class TestPathTraversal:
    @pytest.mark.parametrize(
        "order_id",
        [
            "..%2F..%2Fetc%2Fpasswd",
            "%2e%2e%2f%2e%2e%2fetc%2fpasswd",
            "..%5C..%5Cwindows",
            "%00",
            "x" * 5000,
            "%E2%80%AE",
            "1%20OR%201%3D1",
            "'%3B%20DROP%20TABLE%20event%3B--",
        ],
        ids=["slash", "dots", "backslash", "nul", "long", "rtl", "sql", "drop"],
    )
    async def test_hostile_order_ids(self, broker: Any, order_id: str) -> None:
        """An id that is not an order id: 404 on reads and on document routes, no state change."""
        b, order = await _started(broker)
        before = _state(b)
        for method, path, party in (
            ("GET", f"/v1/orders/{order_id}", "de-bka"),
            ("GET", f"/v1/orders/{order_id}/history", "de-bka"),
            ("GET", f"/v1/orders/{order_id}/lifecycle", "de-bka"),
            ("GET", f"/v1/referrals/{order_id}", "de-bka"),
            ("GET", f"/v1/imminent-threats/{order_id}", "hsp-alpha"),
        ):
            reply = await b.call(method, path, party=party)
            _problem(reply, 404, "not_found")
        ack = b.acknowledgement(order)
        ack["order_id"] = urllib.parse.unquote(order_id)
        reply = await b.post_document(
            f"/v1/orders/{order_id}/acknowledgement", party="hsp-alpha", document=ack
        )
        # The document names the same hostile id: its schema refuses it before any lookup.
        _problem(reply, 422, "schema_violation", field="/order_id")
        assert _state(b) == before

    async def test_dot_segments_do_not_reach_other_routes(self, broker: Any) -> None:
        """``..`` segments are resolved or refused; they never leave /v1 or skip auth."""
        b, _ = await _started(broker)
        before = _state(b)
        for path, status, code in (
            ("/v1/orders/../../etc/passwd", 404, "not_found"),
            ("/v1/orders/%2e%2e/%2e%2e/etc/passwd", 404, "not_found"),
            # Resolved to /v1/orders, which still needs a token.
            ("/v1/health/../orders", 401, "unauthenticated"),
        ):
            _problem(await b.call("GET", path), status, code)
        assert _state(b) == before


class TestFloods:
    async def test_participant_flood_is_answered_429_with_retry_after(self, broker: Any) -> None:
        """Beyond the burst: rate_limited 429, Retry-After ≥ 1, nothing recorded."""
        b = await broker()
        b.app[RATE_LIMITER].configure(1.0, 5)
        documents = [b.removal_order("de-bka", "hsp-alpha", emergency=True) for _ in range(8)]
        replies = [
            await b.post_document("/v1/orders", party="de-bka", document=d) for d in documents
        ]
        assert [r.status for r in replies] == [201] * 5 + [429] * 3
        before = _state(b)
        assert before[_TABLES.index("removal_order")] == 5  # the refused three were not stored
        problem = _problem(replies[5], 429, "rate_limited", title="Too many requests")
        retry_after = replies[5].headers["Retry-After"]
        assert retry_after.isdigit()
        assert int(retry_after) >= 1
        assert problem["retry_after"] == int(retry_after)
        # The refused orders were not recorded: resending one later creates it once.
        again = await b.post_document("/v1/orders", party="de-bka", document=documents[5])
        _problem(again, 429, "rate_limited")
        assert _state(b) == before
        orders = (await b.get("/v1/orders", party="fr-ocrim")).body
        assert orders == {"orders": []}  # another participant has its own bucket

    async def test_bucket_refills(self, broker: Any) -> None:
        """After Retry-After seconds the participant may send again."""
        b = await broker()
        b.app[RATE_LIMITER].configure(2.0, 2)
        statuses = [(await b.get("/v1/orders", party="hsp-alpha")).status for _ in range(3)]
        assert statuses == [200, 200, 429]
        await asyncio.sleep(0.6)  # 2 per second: one token after 0.5 s
        assert (await b.get("/v1/orders", party="hsp-alpha")).status == 200
        assert (await b.get("/v1/orders", party="hsp-alpha")).status == 429

    async def test_unauthenticated_flood_is_limited_per_ip(self, broker: Any) -> None:
        """Bad tokens and public routes spend the client IP's bucket; valid tokens do not."""
        b = await broker()
        b.app[RATE_LIMITER].configure(0.5, 3)
        bad = {"Authorization": "Bearer stolen"}
        statuses = [(await b.call("GET", "/v1/orders", headers=bad)).status for _ in range(3)]
        assert statuses == [401, 401, 401]
        _problem(await b.call("GET", "/v1/orders", headers=bad), 429, "rate_limited")
        _problem(await b.get("/v1/health"), 429, "rate_limited")
        # The same IP with a valid token is metered as its participant.
        assert (await b.get("/v1/orders", party="de-bka")).status == 200

    async def test_behind_a_trusted_proxy_each_client_has_its_own_bucket(self, broker: Any) -> None:
        """Behind nginx every request comes from the proxy: X-Forwarded-For names the
        client, but only when the peer is a trusted proxy (PERCI_TRUSTED_PROXIES)."""
        b = await broker()
        limiter = b.app[RATE_LIMITER]
        limiter.configure(0.5, 2)

        def via_proxy(client: str) -> dict[str, str]:
            return {"X-Forwarded-For": client}

        async def health(client: str) -> int:
            return int((await b.call("GET", "/v1/health", headers=via_proxy(client))).status)

        # The proxy's clients are not trusted yet: the header is ignored, one bucket.
        assert [await health(c) for c in ("198.51.100.1", "198.51.100.2", "x")] == [
            200,
            200,
            429,
        ]
        limiter.trusted_proxies = RateLimiter(trusted_proxies=["127.0.0.1"]).trusted_proxies
        limiter.configure(0.5, 2)
        assert [await health("198.51.100.1") for _ in range(3)] == [200, 200, 429]
        assert await health("198.51.100.2") == 200  # another client behind the proxy

    async def test_rate_limit_off(self, broker: Any) -> None:
        """rate 0 turns limiting off."""
        b = await broker()
        b.app[RATE_LIMITER].configure(0, 0)
        statuses = {(await b.get("/v1/orders", party="de-bka")).status for _ in range(50)}
        assert statuses == {200}
