"""Delivery to parties: WebSocket feed, poll feed, inbox, webhooks with retries (R22)."""

from __future__ import annotations

from typing import Any

from sqlmodel import col, select

from perci_sim.storage.models import Delivery


async def _next_event(ws: Any) -> dict[str, Any]:
    message = await ws.receive_json(timeout=10)
    assert message["type"] == "event"
    event: dict[str, Any] = message["event"]
    return event


async def _deliveries(b: Any) -> list[Delivery]:
    async with b.db.read() as session:
        return list((await session.exec(select(Delivery).order_by(col(Delivery.id)))).all())


class TestWebSocketFeed:
    async def test_hsp_receives_its_orders_live(self, broker: Any) -> None:
        """The addressee's feed pushes order_received and order_delivered; others' orders not."""
        b = await broker()
        headers = b.parties["hsp-alpha"].headers
        async with b.client.ws_connect("/v1/feed", headers=headers) as ws:
            await b.issue("de-bka", "hsp-beta")  # not for hsp-alpha
            order = await b.issue("de-bka", "hsp-alpha")
            first, second = await _next_event(ws), await _next_event(ws)
            assert [first["kind"], second["kind"]] == ["order_received", "order_delivered"]
            assert first["order_id"] == order["order_id"]
            assert first["document"] == order["document"]
            assert second["data"]["deadline_at"] == order["deadline_at"]

    async def test_replay_after_seq_then_live(self, broker: Any) -> None:
        """?after= replays the visible backlog, then continues live without duplicates."""
        b = await broker()
        first = await b.issue("de-bka", "hsp-alpha")
        await b.issue("fr-ocrim", "hsp-gamma")  # invisible to de-bka
        headers = b.parties["de-bka"].headers
        async with b.client.ws_connect("/v1/feed?after=1", headers=headers) as ws:
            replayed = await _next_event(ws)
            assert (replayed["seq"], replayed["kind"]) == (2, "order_delivered")
            assert replayed["order_id"] == first["order_id"]
            # Issue 3, R10: the copy to the host authority is written with the order.
            copy = await _next_event(ws)
            assert (copy["seq"], copy["kind"]) == (3, "host_copy_delivered")
            reply = await b.post_document(
                f"/v1/orders/{first['order_id']}/acknowledgement",
                party="hsp-alpha",
                document=b.acknowledgement(first),
            )
            assert reply.status == 201
            live = await _next_event(ws)
            assert live["kind"] == "acknowledgement_received"
            assert live["seq"] == 6

    async def test_a_court_follows_the_orders_of_its_member_state(self, broker: Any) -> None:
        """TCO Art. 9: a court's feed carries the orders it may read (issued in, or hosted
        in, its Member State), live and replayed; another Member State's order not."""
        b = await broker()
        headers = b.parties["de-court"].headers
        async with b.client.ws_connect("/v1/feed", headers=headers) as ws:
            await b.issue("fr-ocrim", "hsp-gamma")  # FR issues, hosted in FR: not for it
            german = await b.issue("de-bka", "hsp-alpha")  # DE issues (host IE)
            first = await _next_event(ws)
            assert (first["kind"], first["order_id"]) == ("order_received", german["order_id"])
            assert (await _next_event(ws))["kind"] == "order_delivered"
        replay = (await b.get("/v1/events?after=0&limit=50", party="de-court")).body["events"]
        assert {e["order_id"] for e in replay} == {german["order_id"]}
        listed = (await b.get("/v1/orders", party="de-court")).body["orders"]
        assert [o["order_id"] for o in listed] == [german["order_id"]]  # the same orders

    async def test_feed_needs_authentication(self, broker: Any) -> None:
        """No token, no feed."""
        b = await broker()
        reply = await b.get("/v1/feed")
        assert reply.status == 401


class TestPolling:
    async def test_events_are_filtered_per_participant(self, broker: Any) -> None:
        """Advance information and orders are visible only to their two parties."""
        b = await broker()
        await b.introduce("de-bka", "hsp-alpha")
        await b.issue("fr-ocrim", "hsp-gamma")
        seen = {}
        for party in ("de-bka", "hsp-alpha", "hsp-beta", "fr-ocrim", "hsp-gamma", "es-cgi"):
            reply = await b.get("/v1/events?after=0&limit=50", party=party)
            assert reply.status == 200
            seen[party] = [e["kind"] for e in reply.body["events"]]
        assert seen["de-bka"] == seen["hsp-alpha"] == ["advance_information_received"]
        assert seen["fr-ocrim"] == seen["hsp-gamma"] == ["order_received", "order_delivered"]
        assert seen["hsp-beta"] == seen["es-cgi"] == []
        paged = (await b.get("/v1/events?after=2&limit=1", party="hsp-gamma")).body
        assert [e["seq"] for e in paged["events"]] == [3]
        assert paged["last_seq"] == 3

    async def test_inbox_lists_open_orders_earliest_deadline_first(self, broker: Any) -> None:
        """Executed and suspended orders leave the head of the inbox; others' orders never show."""
        b = await broker()
        first = await b.issue()
        await b.advance(minutes=10)
        second = await b.issue()
        await b.advance(minutes=10)
        third = await b.issue()
        await b.issue("de-bka", "hsp-beta")
        reply = await b.post_document(
            f"/v1/orders/{second['order_id']}/feedback",
            party="hsp-alpha",
            document=b.feedback(second),
        )
        assert reply.status == 201
        reply = await b.post_document(
            f"/v1/orders/{first['order_id']}/impossibility",
            party="hsp-alpha",
            document=b.impossibility(first),
        )
        assert reply.status == 201
        inbox = (await b.get("/v1/inbox", party="hsp-alpha")).body["orders"]
        assert [o["order_id"] for o in inbox] == [third["order_id"], first["order_id"]]
        listed = await b.get("/v1/orders?state=executed", party="de-bka")
        assert [o["order_id"] for o in listed.body["orders"]] == [second["order_id"]]


class TestWebhooks:
    async def test_webhook_receives_broker_signed_events(
        self, broker: Any, webhook_sink: Any
    ) -> None:
        """Each event visible to the HSP is POSTed as a broker-signed perci.event+jws."""
        b = await broker()
        reply = await b.call(
            "PUT", "/v1/participants/me/webhook", party="hsp-alpha", json={"url": webhook_sink.url}
        )
        assert reply.status == 200, reply.body
        assert reply.body["webhook_url"] == webhook_sink.url
        order = await b.issue("de-bka", "hsp-alpha")
        await b.issue("de-bka", "hsp-beta")  # hsp-beta has no webhook
        await b.deliver_webhooks()
        assert len(webhook_sink.received) == 2
        payloads = [
            await b.verify_broker_jws(body["jws"], "event") for body in webhook_sink.received
        ]
        assert sorted(p["kind"] for p in payloads) == ["order_delivered", "order_received"]
        assert {p["order_id"] for p in payloads} == {order["order_id"]}
        assert {d.status for d in await _deliveries(b)} == {"delivered"}
        listed = (await b.get("/v1/participants", party="de-bka")).body["participants"]
        directory = {p["id"]: p for p in listed}
        assert directory["hsp-alpha"]["webhook_url"] is None  # only the owner sees it
        me = (await b.get("/v1/participants/me", party="hsp-alpha")).body
        assert me["webhook_url"] == webhook_sink.url
        cleared = await b.call(
            "PUT", "/v1/participants/me/webhook", party="hsp-alpha", json={"url": None}
        )
        assert cleared.body["webhook_url"] is None
        bad = await b.call(
            "PUT", "/v1/participants/me/webhook", party="hsp-alpha", json={"url": "ftp://x"}
        )
        assert bad.status == 422

    async def test_failing_webhook_is_retried_with_backoff_and_never_stops_the_clock(
        self, broker: Any, webhook_sink: Any
    ) -> None:
        """R22: 503, 503, then 2xx after 1 s and 2 s backoff; the order's deadline is untouched."""
        b = await broker()
        webhook_sink.fail_first = 4  # both events fail twice
        await b.call(
            "PUT", "/v1/participants/me/webhook", party="hsp-alpha", json={"url": webhook_sink.url}
        )
        order = await b.issue("de-bka", "hsp-alpha")
        await b.deliver_webhooks()
        assert webhook_sink.calls == 2
        assert {(d.attempts, d.status) for d in await _deliveries(b)} == {(1, "pending")}
        assert await b.deliver_webhooks() == 0  # not due before the 1 s backoff
        await b.advance(seconds=1)
        await b.deliver_webhooks()
        assert webhook_sink.calls == 4
        await b.advance(seconds=1)
        assert await b.deliver_webhooks() == 0  # second backoff is 2 s
        await b.advance(seconds=1)
        await b.deliver_webhooks()
        assert webhook_sink.calls == 6
        assert len(webhook_sink.received) == 2
        assert {(d.attempts, d.status) for d in await _deliveries(b)} == {(3, "delivered")}
        view = await b.order(order["order_id"], party="hsp-alpha")
        assert view["state"] == "delivered"
        assert view["received_at"] == order["received_at"]
        assert view["deadline_at"] == order["deadline_at"]

    async def test_queued_deliveries_survive_a_restart_and_give_up_eventually(
        self, broker: Any, webhook_sink: Any
    ) -> None:
        """The rows are the queue; after the maximum attempts a delivery is marked failed."""
        b = await broker()
        webhook_sink.fail_first = 10**6
        await b.call(
            "PUT", "/v1/participants/me/webhook", party="hsp-alpha", json={"url": webhook_sink.url}
        )
        await b.post_document(
            "/v1/advance-information",
            party="de-bka",
            document=b.advance_information("de-bka", "hsp-alpha"),
        )
        await b.deliver_webhooks()
        await b.stop()
        restarted = await broker(like=b)
        for _ in range(restarted.settings.webhook_max_attempts):
            await restarted.advance(seconds=restarted.settings.webhook_max_backoff_s)
            await restarted.deliver_webhooks()
        (delivery,) = await _deliveries(restarted)
        assert delivery.status == "failed"
        assert delivery.attempts == restarted.settings.webhook_max_attempts
        assert webhook_sink.calls == restarted.settings.webhook_max_attempts
