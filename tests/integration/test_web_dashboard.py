"""The dashboard's server side over HTTP: sessions, CSRF, visibility, browser-signed documents,
the event stream's resume point, hostile input (no browser needed)."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from conftest import Broker, BrokerFactory, ParticipantSpec, register_demo
from lifecycle_helpers import lifecycle_doc, post, removed
from sqlmodel import select

from perci_schemas import jws
from perci_sim.storage.models import DashboardLogout

Client = TestClient[web.Request, web.Application]
ClientFactory = Callable[..., Awaitable[Client]]

FACILITATOR = ParticipantSpec(
    id="facilitator", role="facilitator", name="Drill facilitator", member_state="NL",
    languages=("en",),
)  # fmt: skip


async def sign_in(aiohttp_client: ClientFactory, b: Broker, party: str) -> tuple[Client, str]:
    """A client with a session for ``party``, and the page's CSRF token."""
    assert b.server is not None
    client = await aiohttp_client(b.server)
    form = await client.get("/ui/login")
    login_csrf = re.search(r'name="csrf_token" value="([^"]+)"', await form.text())
    assert login_csrf is not None
    reply = await client.post(
        "/ui/login",
        data={"participant_id": party, "token": b.parties[party].token,
              "csrf_token": login_csrf.group(1)},
        allow_redirects=False,
    )  # fmt: skip
    assert reply.status == 303, await reply.text()
    page = await client.get("/ui/")
    assert page.status == 200
    csrf = re.search(r'<meta name="csrf-token" content="([^"]+)"', await page.text())
    assert csrf is not None
    return client, csrf.group(1)


async def json_of(reply: Any) -> Any:
    return json.loads(await reply.text())


class TestSessions:
    async def test_sign_in_sets_a_hardened_session_cookie(
        self, broker: BrokerFactory, aiohttp_client: ClientFactory
    ) -> None:
        """HttpOnly, SameSite=Strict, scoped to /ui; the page carries CSP and a CSRF token."""
        b = await broker()
        client = await aiohttp_client(b.server)
        form = await client.get("/ui/login")
        assert "SameSite=Strict" in form.headers["Set-Cookie"]
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', await form.text())
        assert csrf is not None
        reply = await client.post(
            "/ui/login",
            data={"participant_id": "de-bka", "token": b.parties["de-bka"].token,
                  "csrf_token": csrf.group(1)},
            allow_redirects=False,
        )  # fmt: skip
        assert reply.status == 303
        assert reply.headers["Location"] == "/ui/"
        cookie = next(c for c in reply.headers.getall("Set-Cookie") if "perci_session=" in c)
        assert "HttpOnly" in cookie
        assert "SameSite=Strict" in cookie
        assert "Path=/ui" in cookie
        page = await client.get("/ui/")
        assert "script-src 'self'" in page.headers["Content-Security-Policy"]
        assert 'data-role="authority"' in await page.text()

    @pytest.mark.parametrize(
        ("participant_id", "token_of", "with_csrf", "status"),
        [
            ("de-bka", "es-cgi", True, 401),  # someone else's token
            ("de-bka", "de-bka", False, 403),  # no double-submit token
        ],
    )
    async def test_sign_in_is_refused(
        self,
        broker: BrokerFactory,
        aiohttp_client: ClientFactory,
        participant_id: str,
        token_of: str,
        with_csrf: bool,
        status: int,
    ) -> None:
        """Wrong credentials, a forged form or an unsupported role get no session."""
        b = await broker()
        client = await aiohttp_client(b.server)
        form = await client.get("/ui/login")
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', await form.text())
        assert csrf is not None
        data = {"participant_id": participant_id, "token": b.parties[token_of].token}
        if with_csrf:
            data["csrf_token"] = csrf.group(1)
        reply = await client.post("/ui/login", data=data, allow_redirects=False)
        assert reply.status == status
        assert not any("perci_session=" in c for c in reply.headers.getall("Set-Cookie", []))
        assert (await client.get("/ui/api/state")).status == 401

    async def test_without_a_session_pages_redirect_and_data_is_refused(
        self, broker: BrokerFactory, aiohttp_client: ClientFactory
    ) -> None:
        """A page sends the browser to sign in; JSON and the stream answer problem+json 401."""
        b = await broker()
        client = await aiohttp_client(b.server)
        page = await client.get("/ui/", allow_redirects=False)
        assert page.status == 303
        assert page.headers["Location"] == "/ui/login"
        for path in ("/ui/api/state", "/ui/events"):
            reply = await client.get(path)
            assert reply.status == 401
            assert reply.content_type == "application/problem+json"
        forged = await client.get("/ui/api/state", headers={"Cookie": "perci_session=x.y"})
        assert forged.status == 401

    async def test_logout_needs_csrf_and_ends_the_session(
        self, broker: BrokerFactory, aiohttp_client: ClientFactory
    ) -> None:
        """A cross-site logout is refused; a real one makes the old cookie worthless."""
        b = await broker()
        client, csrf = await sign_in(aiohttp_client, b, "hsp-alpha")
        cookie = client.session.cookie_jar.filter_cookies(client.make_url("/ui/"))
        value = cookie["perci_session"].value
        refused = await client.post("/ui/logout", allow_redirects=False)
        assert refused.status == 403
        assert (await json_of(refused))["code"] == "csrf_failed"
        done = await client.post("/ui/logout", data={"csrf_token": csrf}, allow_redirects=False)
        assert done.status == 303
        again = await client.get("/ui/api/state", headers={"Cookie": f"perci_session={value}"})
        assert again.status == 401

    async def test_a_logout_ends_the_session_on_every_replica(
        self, broker: BrokerFactory, aiohttp_client: ClientFactory
    ) -> None:
        """Two brokers on one database and broker key (replicas): a cookie signed out on
        one is refused by the other, which never saw the logout in its memory."""
        a = await broker()
        b = await broker(like=a)  # same home: same broker key and database
        client, csrf = await sign_in(aiohttp_client, a, "hsp-alpha")
        value = client.session.cookie_jar.filter_cookies(client.make_url("/ui/"))[
            "perci_session"
        ].value
        other = await aiohttp_client(b.server)
        headers = {"Cookie": f"perci_session={value}"}
        assert (await other.get("/ui/api/state", headers=headers)).status == 200
        done = await client.post("/ui/logout", data={"csrf_token": csrf}, allow_redirects=False)
        assert done.status == 303
        assert (await other.get("/ui/api/state", headers=headers)).status == 401
        async with a.db.read() as session:
            rows = (await session.exec(select(DashboardLogout))).all()
        assert [row.participant_id for row in rows] == ["hsp-alpha"]


class TestVisibility:
    async def test_each_party_sees_its_own_orders_and_the_facilitator_all(
        self, broker: BrokerFactory, aiohttp_client: ClientFactory
    ) -> None:
        """TCO: a party sees only its orders; the drill facilitator sees the exchange."""
        b = await broker()
        b.parties.update(await register_demo(b.db, now=b.clock.now(), specs=(FACILITATOR,)))
        mine = await b.issue("de-bka", "hsp-alpha")
        theirs = await b.issue("es-cgi", "hsp-beta")
        await b.advance(minutes=61)  # both miss the deadline

        seen: dict[str, Any] = {}
        for party in ("de-bka", "hsp-beta", "facilitator"):
            client, _ = await sign_in(aiohttp_client, b, party)
            seen[party] = await json_of(await client.get("/ui/api/state"))
        assert [o["order_id"] for o in seen["de-bka"]["orders"]] == [mine["order_id"]]
        assert [o["order_id"] for o in seen["hsp-beta"]["inbox"]] == [theirs["order_id"]]
        assert {o["order_id"] for o in seen["facilitator"]["orders"]} == {
            mine["order_id"],
            theirs["order_id"],
        }
        assert [p["pct"] for p in seen["facilitator"]["series"]] == [0.0, 0.0]
        assert seen["facilitator"]["figures"][-1]["overdue"] == 2
        assert all("document" not in o for o in seen["facilitator"]["orders"])

        client, _ = await sign_in(aiohttp_client, b, "de-bka")
        other = await client.get(f"/ui/api/orders/{theirs['order_id']}")
        assert other.status == 404
        page = await client.get(f"/ui/orders/{theirs['order_id']}")
        assert page.status == 404
        assert page.content_type == "text/html"


READERS = ("de-court", "europol", "cp-demo")


async def reader_orders(b: Broker) -> dict[str, dict[str, Any]]:
    """Orders a court, Europol and a content provider read (or must not), set up via /v1.

    ``annulled``: DE -> IE; the HSP informs cp-demo without a copy of the order (Art.
    11(2)); de-court annuls it, which Europol is shown (Art. 9). ``copied``: DE -> IE; the
    HSP gives cp-demo a copy. ``foreign``: FR -> FR, neither the DE court's nor anyone else's.
    """
    annulled = await b.issue("de-bka", "hsp-alpha")
    copied = await b.issue("de-bka", "hsp-alpha")
    foreign = await b.issue("fr-ocrim", "hsp-gamma")
    for order, copy in ((annulled, False), (copied, True)):
        assert (await removed(b, order, reinstatable=True)).status == 201
        info = lifecycle_doc(
            b, "hsp-alpha", "content_provider_information", order,
            content_provider_id="cp-demo", information="Removed by order.", copy_of_order=copy,
        )  # fmt: skip
        reply = await post(b, order, "content-provider-information", "hsp-alpha", info)
        assert reply.status == 201, reply.body
    annul = lifecycle_doc(
        b, "de-court", "court_annulment", annulled, target="order",
        court="Verwaltungsgericht Wiesbaden", judgment_reference="6 K 1234/26.WI",
    )  # fmt: skip
    reply = await post(b, annulled, "court-annulment", "de-court", annul)
    assert reply.status == 201, reply.body
    return {"annulled": annulled, "copied": copied, "foreign": foreign}


def without_document(view: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in view.items() if k != "document"}


class TestReadOnlyRoles:
    async def test_readers_see_exactly_what_the_api_gives_them(
        self, broker: BrokerFactory, aiohttp_client: ClientFactory
    ) -> None:
        """Court (Art. 9), Europol and the content provider (Art. 4, 11) sign in and read
        the orders, order views and histories GET /v1 gives them with their tokens: no more."""
        b = await broker()
        orders = await reader_orders(b)
        ids = {name: order["order_id"] for name, order in orders.items()}
        expected = {
            "de-court": {ids["annulled"], ids["copied"]},  # its Member State's, not FR's
            "europol": {ids["annulled"]},  # shown the annulment (Art. 9)
            "cp-demo": {ids["annulled"], ids["copied"]},  # informed by the HSP (Art. 11)
        }
        for reader in READERS:
            client, _ = await sign_in(aiohttp_client, b, reader)
            cookies = client.session.cookie_jar.filter_cookies(client.make_url("/ui/"))
            assert "perci_session" in cookies
            page = await (await client.get("/ui/")).text()
            assert 'data-view="reader"' in page
            assert 'id="read-only-note"' in page
            assert 'id="issue-form"' not in page
            assert 'id="key-file"' not in page  # nothing to sign here
            state_reply = await client.get("/ui/api/state")
            assert state_reply.status == 200
            state = await json_of(state_reply)
            assert state["me"]["role"] == b.parties[reader].role
            api = (await b.get("/v1/orders", party=reader)).body["orders"]
            assert state["orders"] == [without_document(o) for o in api], reader
            assert {o["order_id"] for o in state["orders"]} == expected[reader], reader
            for order_id in expected[reader]:
                reply = await client.get(f"/ui/api/orders/{order_id}")
                assert reply.status == 200
                shown = await json_of(reply)
                assert shown["order"] == await b.order(order_id, party=reader)
                events = [{k: v for k, v in e.items() if k != "receipt"} for e in shown["events"]]
                assert events == await b.history(order_id, party=reader), reader
                assert (await client.get(f"/ui/orders/{order_id}")).status == 200
            for order_id in set(ids.values()) - expected[reader]:
                assert (await client.get(f"/ui/api/orders/{order_id}")).status == 404
                assert (await client.get(f"/ui/orders/{order_id}")).status == 404

    async def test_the_content_provider_gets_no_order_before_the_hsps_copy(
        self, broker: BrokerFactory, aiohttp_client: ClientFactory
    ) -> None:
        """Art. 11(2): without the HSP's copy, no dashboard JSON carries the order document;
        with it, the content provider gets the document exactly as from the API."""
        b = await broker()
        orders = await reader_orders(b)
        client, _ = await sign_in(aiohttp_client, b, "cp-demo")
        withheld = orders["annulled"]
        document = (await b.order(withheld["order_id"], party="de-bka"))["document"]
        assert document
        state = await client.get("/ui/api/state")
        assert document not in await state.text()
        reply = await client.get(f"/ui/api/orders/{withheld['order_id']}")
        assert reply.status == 200
        text = await reply.text()
        assert document not in text
        assert json.loads(text)["order"]["document"] is None
        copied = orders["copied"]
        shown = await json_of(await client.get(f"/ui/api/orders/{copied['order_id']}"))
        assert shown["order"]["document"] == copied["document"]

    @pytest.mark.parametrize("reader", READERS)
    async def test_readers_change_nothing_through_the_dashboard(
        self, broker: BrokerFactory, aiohttp_client: ClientFactory, reader: str
    ) -> None:
        """Every state-changing dashboard route but sign-out is refused with problem+json
        403 (their own documents go through the SDK or the CLI); sign-out works."""
        b = await broker()
        order = await b.issue("de-bka", "hsp-alpha")
        client, csrf = await sign_in(aiohttp_client, b, reader)
        headers = {"X-CSRF-Token": csrf}
        for path, body in (
            ("/ui/api/orders", {"jws": "a.b.c"}),
            ("/ui/api/drafts/removal_order", {"hsp_id": "hsp-alpha"}),
            (f"/ui/api/orders/{order['order_id']}/court-annulment", {"jws": "a.b.c"}),
            (f"/ui/api/orders/{order['order_id']}/complaint", {"jws": "a.b.c"}),
        ):
            reply = await client.post(path, json=body, headers=headers)
            assert reply.status == 403, path
            assert reply.content_type == "application/problem+json"
            assert (await json_of(reply))["code"] == "forbidden"
        history = await b.history(order["order_id"], party="de-bka")
        assert [e["actor"] for e in history if e["actor"] == reader] == []
        done = await client.post("/ui/logout", data={"csrf_token": csrf}, allow_redirects=False)
        assert done.status == 303
        assert (await client.get("/ui/api/state")).status == 401

    async def test_the_readers_stream_carries_what_their_feed_carries(
        self, broker: BrokerFactory, aiohttp_client: ClientFactory
    ) -> None:
        """Live updates: each reader's event stream gives the events GET /v1/events gives it."""
        b = await broker()
        await reader_orders(b)
        for reader in READERS:
            feed = (await b.get("/v1/events?after=0", party=reader)).body["events"]
            assert feed, reader
            client, _ = await sign_in(aiohttp_client, b, reader)
            reply = await client.get("/ui/events?after=0")
            assert reply.content_type == "text/event-stream"
            seqs: list[int] = []
            async with asyncio.timeout(5):
                while not seqs or seqs[-1] < feed[-1]["seq"]:
                    line = (await reply.content.readline()).decode().strip()
                    if line.startswith("id: "):
                        seqs.append(int(line[4:]))
            reply.close()
            assert seqs == [e["seq"] for e in feed], reader


async def _outsider_refused_as_by_the_api(
    aiohttp_client: ClientFactory,
    b: Broker,
    outsider: str,
    kind: str,
    body: dict[str, Any],
    document: dict[str, Any],
    submit_path: str,
) -> None:
    """A party of another order gets no draft (404), and its own signed document sent
    through the page is refused exactly as the same document sent to /v1."""
    other, csrf = await sign_in(aiohttp_client, b, outsider)
    headers = {"X-CSRF-Token": csrf}
    foreign = await other.post(f"/ui/api/drafts/{kind}", json=body, headers=headers)
    assert foreign.status == 404
    assert foreign.content_type == "application/problem+json"
    forged = {**document, "sender": outsider}
    refused = await other.post(
        submit_path, json={"jws": b.parties[outsider].sign(forged)}, headers=headers
    )
    assert refused.content_type == "application/problem+json"
    fresh = {**forged, "message_id": b._common(outsider, kind)["message_id"]}
    by_api = await b.post_document(
        submit_path.replace("/ui/api/", "/v1/"), party=outsider, document=fresh
    )
    assert refused.status in (403, 404)
    code = (await json_of(refused))["code"]
    assert (refused.status, code) == (by_api.status, by_api.body["code"])


async def _wrong_role_refused(
    aiohttp_client: ClientFactory, b: Broker, party: str, kind: str, body: dict[str, Any]
) -> None:
    """A role that does not sign ``kind`` gets no draft of it (403)."""
    client, csrf = await sign_in(aiohttp_client, b, party)
    refused = await client.post(f"/ui/api/drafts/{kind}", json=body, headers={"X-CSRF-Token": csrf})
    assert refused.status == 403


class TestBrowserSignedDocuments:
    async def test_a_drafted_order_signed_by_the_party_is_recorded_as_sent(
        self, broker: BrokerFactory, aiohttp_client: ClientFactory
    ) -> None:
        """Draft -> sign with the party's own key -> post with the session: the broker
        records exactly that JWS, with its receipt, as POST /v1/orders would."""
        b = await broker()
        client, csrf = await sign_in(aiohttp_client, b, "de-bka")
        headers = {"X-CSRF-Token": csrf}
        body = {"hsp_id": "hsp-alpha", "urls": "https://alpha.example/v/1\n",
                "reasons": ["a", "e"], "details": "Threats against a synagogue",
                "emergency_justification": "An attack is announced for tonight"}  # fmt: skip
        unsigned = await client.post("/ui/api/drafts/removal_order", json=body)
        assert unsigned.status == 403  # no CSRF token
        reply = await client.post("/ui/api/drafts/removal_order", json=body, headers=headers)
        draft = await json_of(reply)
        assert reply.status == 200, draft
        document = draft["document"]
        assert document["sender"] == "de-bka"
        assert document["section_b"]["content"] == [{"url": "https://alpha.example/v/1"}]
        token = b.parties["de-bka"].sign(document)
        sent = await client.post(draft["submit_path"], json={"jws": token}, headers=headers)
        answer = await json_of(sent)
        assert sent.status == 201, answer
        receipt = await b.verify_broker_jws(answer["receipt"], "receipt")
        assert receipt["document_sha256"] == jws.document_hash(token)
        order = await b.order(answer["order"]["order_id"], party="hsp-alpha")
        assert order["document"] == token

        # The HSP acknowledges the same way; a document signed by someone else is refused.
        hsp, hsp_csrf = await sign_in(aiohttp_client, b, "hsp-alpha")
        ack = await hsp.post(
            "/ui/api/drafts/acknowledgement",
            json={"order_id": order["order_id"]},
            headers={"X-CSRF-Token": hsp_csrf},
        )
        ack_draft = await json_of(ack)
        # The page signs an acknowledgement without showing it ("see what you sign" is for
        # the others): only if the draft holds exactly these members (app.js ACK_MEMBERS).
        assert sorted(ack_draft["document"]) == [
            "message_id", "message_type", "order_id", "order_sha256", "sender", "sent_at",
        ]  # fmt: skip
        assert ack_draft["document"]["order_sha256"] == jws.document_hash(token)
        forged = b.parties["hsp-beta"].sign({**ack_draft["document"], "sender": "hsp-beta"})
        wrong = await hsp.post(
            ack_draft["submit_path"], json={"jws": forged}, headers={"X-CSRF-Token": hsp_csrf}
        )
        assert wrong.status == 403
        assert (await json_of(wrong))["code"] == "wrong_signer"
        right = await hsp.post(
            ack_draft["submit_path"],
            json={"jws": b.parties["hsp-alpha"].sign(ack_draft["document"])},
            headers={"X-CSRF-Token": hsp_csrf},
        )
        assert right.status == 201
        assert (await json_of(right))["order"]["state"] == "acknowledged"

    async def test_a_withdrawal_drafted_and_signed_in_the_browser_withdraws_the_order(
        self, broker: BrokerFactory, aiohttp_client: ClientFactory
    ) -> None:
        """The authority's withdrawal: drafted as authority_client's ``withdraw`` builds it,
        signed by its key, posted with the session; the order is withdrawn, the state lists
        where "Withdraw…" is offered, and another authority is refused as by /v1."""
        b = await broker()
        order = await b.issue("de-bka", "hsp-alpha")
        oid = order["order_id"]
        client, csrf = await sign_in(aiohttp_client, b, "de-bka")
        headers = {"X-CSRF-Token": csrf}
        state = await json_of(await client.get("/ui/api/state"))
        assert state["withdrawable"] == [
            "acknowledged", "clarification_requested", "delivered", "overdue",
            "suspended_force_majeure",
        ]  # fmt: skip
        body = {"order_id": oid, "reason": "  Already removed by another order  "}
        reply = await client.post("/ui/api/drafts/withdrawal", json=body, headers=headers)
        draft = await json_of(reply)
        assert reply.status == 200, draft
        document = draft["document"]
        assert sorted(document) == [
            "message_id", "message_type", "order_id", "reason", "sender", "sent_at",
        ]  # fmt: skip
        assert document["sender"] == "de-bka"
        assert document["message_type"] == draft["message_type"] == "withdrawal"
        assert document["order_id"] == oid
        assert document["reason"] == "Already removed by another order"
        assert draft["submit_path"] == f"/ui/api/orders/{oid}/withdrawal"
        no_reason = await client.post(
            "/ui/api/drafts/withdrawal", json={"order_id": oid, "reason": " "}, headers=headers
        )
        assert no_reason.status == 422

        # Another authority: no draft of an order it did not issue, and its signed
        # withdrawal is refused exactly as POST /v1/orders/{id}/withdrawal refuses it.
        await _outsider_refused_as_by_the_api(
            aiohttp_client, b, "fr-ocrim", "withdrawal", body, document, draft["submit_path"]
        )
        await _wrong_role_refused(aiohttp_client, b, "hsp-alpha", "withdrawal", body)
        assert (await b.order(oid, party="de-bka"))["state"] == "delivered"

        token = b.parties["de-bka"].sign(document)
        sent = await client.post(draft["submit_path"], json={"jws": token}, headers=headers)
        answer = await json_of(sent)
        assert sent.status == 201, answer
        assert answer["order"]["state"] == "withdrawn"
        receipt = await b.verify_broker_jws(answer["receipt"], "receipt")
        assert receipt["document_sha256"] == jws.document_hash(token)
        history = await b.history(oid, party="de-bka")
        assert history[-1]["kind"] == "withdrawal_received"
        assert history[-1]["data"]["reason"] == "Already removed by another order"
        assert (await b.order(oid, party="hsp-alpha"))["state"] == "withdrawn"

    async def test_grounds_ceased_signed_in_the_browser_gives_a_fresh_hour(
        self, broker: BrokerFactory, aiohttp_client: ClientFactory
    ) -> None:
        """Art. 3(7): after an Annex III for force majeure, the HSP's grounds-ceased notice
        (drafted as platform_client's ``send_grounds_ceased`` builds it) puts the order back
        in ``delivered`` with a new deadline; another HSP is refused as by /v1."""
        b = await broker()
        order = await b.issue("de-bka", "hsp-alpha")
        oid = order["order_id"]
        suspended = await b.post_document(
            f"/v1/orders/{oid}/impossibility", party="hsp-alpha", document=b.impossibility(order)
        )
        assert suspended.body["order"]["state"] == "suspended_force_majeure", suspended.body
        await b.advance(minutes=90)
        client, csrf = await sign_in(aiohttp_client, b, "hsp-alpha")
        headers = {"X-CSRF-Token": csrf}
        inbox = (await json_of(await client.get("/ui/api/state")))["inbox"]
        assert [o["state"] for o in inbox if o["order_id"] == oid] == ["suspended_force_majeure"]
        body = {"order_id": oid, "explanation": "Power restored."}
        reply = await client.post("/ui/api/drafts/grounds_ceased", json=body, headers=headers)
        draft = await json_of(reply)
        assert reply.status == 200, draft
        document = draft["document"]
        assert sorted(document) == [
            "ceased_at", "explanation", "message_id", "message_type", "order_id", "sender",
            "sent_at",
        ]  # fmt: skip
        assert document["sender"] == "hsp-alpha"
        assert document["message_type"] == draft["message_type"] == "grounds_ceased"
        assert document["ceased_at"] == document["sent_at"] == b.iso(b.clock.now())
        assert document["explanation"] == "Power restored."
        assert draft["submit_path"] == f"/ui/api/orders/{oid}/grounds-ceased"

        # Another HSP: no draft, and its signed notice is refused as /v1 refuses it.
        await _outsider_refused_as_by_the_api(
            aiohttp_client, b, "hsp-beta", "grounds_ceased", body, document, draft["submit_path"]
        )
        await _wrong_role_refused(aiohttp_client, b, "de-bka", "grounds_ceased", body)

        token = b.parties["hsp-alpha"].sign(document)
        sent = await client.post(draft["submit_path"], json={"jws": token}, headers=headers)
        answer = await json_of(sent)
        assert sent.status == 201, answer
        now = b.clock.now()
        restarted = answer["order"]
        assert restarted["state"] == "delivered"
        assert restarted["deadline_at"] == b.iso(now + timedelta(hours=1))
        assert restarted["deadline_at"] != order["deadline_at"]
        assert (await b.order(oid, party="de-bka"))["deadline_at"] == restarted["deadline_at"]
        history = await b.history(oid, party="hsp-alpha")
        assert history[-1]["kind"] == "grounds_ceased_received"

    async def test_the_signing_preview_module_is_served(
        self, broker: BrokerFactory, aiohttp_client: ClientFactory
    ) -> None:
        """static/preview.js (the dialog before signing) is served as a module by app.js."""
        b = await broker()
        assert b.server is not None
        client = await aiohttp_client(b.server)
        app = await client.get("/ui/static/app.js")
        assert 'from "./preview.js"' in await app.text()
        reply = await client.get("/ui/static/preview.js")
        assert reply.status == 200
        assert reply.content_type in ("text/javascript", "application/javascript")
        assert "export async function confirmSigning" in await reply.text()

    @pytest.mark.parametrize(
        ("path", "body", "status", "code"),
        [
            ("/ui/api/orders", b"{not json", 400, "invalid_json"),
            ("/ui/api/orders", b'{"jws": 5}', 422, "schema_violation"),
            ("/ui/api/orders", b'{"jws": "a.b.c"}', 422, "bad_signature"),
            ("/ui/api/drafts/nonsense", b"{}", 404, "not_found"),
            ("/ui/api/drafts/removal_order", b'{"hsp_id": "hsp-alpha"}', 422, "schema_violation"),
            ("/ui/api/orders/nope/feedback", b'{"jws": "a.b.c"}', 403, "forbidden"),  # role first
            ("/ui/api/orders/nope/explode", b'{"jws": "a.b.c"}', 404, "not_found"),
        ],
    )
    async def test_hostile_input_gets_a_problem(
        self,
        broker: BrokerFactory,
        aiohttp_client: ClientFactory,
        path: str,
        body: bytes,
        status: int,
        code: str,
    ) -> None:
        """Garbage from a signed-in page is refused as RFC 9457 problem+json, never a 500."""
        b = await broker()
        client, csrf = await sign_in(aiohttp_client, b, "de-bka")
        reply = await client.post(
            path, data=body, headers={"X-CSRF-Token": csrf, "Content-Type": "application/json"}
        )
        problem = await json_of(reply)
        assert reply.content_type == "application/problem+json"
        assert (reply.status, problem["code"]) == (status, code), problem


class TestEventStream:
    async def test_the_stream_resumes_after_last_event_id(
        self, broker: BrokerFactory, aiohttp_client: ClientFactory
    ) -> None:
        """A reconnect with Last-Event-ID gets exactly the later events, ids = log seq."""
        b = await broker()
        first = await b.issue("de-bka", "hsp-alpha")
        second = await b.issue("de-bka", "hsp-alpha")
        client, _ = await sign_in(aiohttp_client, b, "hsp-alpha")
        history = await b.history(first["order_id"], party="hsp-alpha")
        resume_at = history[-1]["seq"]
        reply = await client.get("/ui/events", headers={"Last-Event-ID": str(resume_at)})
        assert reply.content_type == "text/event-stream"
        frames: list[dict[str, Any]] = []
        ids: list[int] = []
        async with asyncio.timeout(5):
            while not any(f["order_id"] == second["order_id"] for f in frames):
                line = (await reply.content.readline()).decode().strip()
                if line.startswith("id: "):
                    ids.append(int(line[4:]))
                elif line.startswith("data: "):
                    frames.append(json.loads(line[6:]))
        reply.close()
        assert ids
        assert min(ids) > resume_at
        assert all(f["order_id"] != first["order_id"] for f in frames)
        assert all("document" not in f for f in frames)
