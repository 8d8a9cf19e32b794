"""TCO Art. 4 through the broker: host copy (R10), scrutiny windows (R11), pre-notice
(R12), infringement fan-out and reinstatement (R13), restorable content (R14)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from lifecycle_helpers import (
    event_of,
    kinds,
    lifecycle_doc,
    post,
    reinstatement,
    removed,
)


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text)


class TestHostCopy:
    async def test_copy_goes_to_the_host_authority_in_the_orders_transaction(
        self, broker: Any
    ) -> None:
        """R10, Art. 4(1): DE order to an IE host: the copy is recorded with the order."""
        b = await broker()
        order = await b.issue("de-bka", "hsp-alpha")
        history = await b.history(order["order_id"], party="de-bka")
        assert kinds(history)[:3] == ["order_received", "order_delivered", "host_copy_delivered"]
        copy = history[2]
        assert copy["received_at"] == history[0]["received_at"]  # same transaction, same instant
        assert copy["data"]["host_authority_id"] == "ie-cnam"
        assert copy["data"]["article"] == "Art. 4(1)"
        # The host authority sees the copy, and only what it was shown.
        shown = await b.history(order["order_id"], party="ie-cnam")
        assert kinds(shown) == ["host_copy_delivered"]
        events = (await b.get("/v1/events?after=0", party="ie-cnam")).body["events"]
        assert [e["kind"] for e in events] == ["host_copy_delivered"]
        # Other authorities see nothing of it.
        assert (await b.get(f"/v1/orders/{order['order_id']}", party="nl-atkm")).status == 404

    async def test_no_copy_when_issued_in_the_host_member_state(self, broker: Any) -> None:
        """R10: FR order to a FR host is not cross-border."""
        b = await broker()
        order = await b.issue("fr-ocrim", "hsp-gamma")
        assert "host_copy_delivered" not in kinds(
            await b.history(order["order_id"], party="fr-ocrim")
        )
        doc = lifecycle_doc(b, "hsp-gamma", "scrutiny_request", order, reasons="Not terrorist.")
        reply = await post(b, order, "scrutiny-request", "hsp-gamma", doc)
        assert (reply.status, reply.body["code"]) == (409, "not_cross_border")

    async def test_section_d_must_agree(self, broker: Any) -> None:
        """R10: Section D saying no copy is sent, for a cross-border order, is flagged."""
        b = await broker()
        document = b.removal_order("de-bka", "hsp-alpha", emergency=True)
        document["section_d"]["copy_sent_to_host_authority"] = False
        reply = await b.post_document("/v1/orders", party="de-bka", document=document)
        assert reply.status == 201, reply.body
        flags = reply.body["order"]["flags"]
        assert [f.split(":")[0] for f in flags] == ["section_d_mismatch"]
        received = (await b.history(reply.body["order"]["order_id"], party="de-bka"))[0]
        assert received["data"]["flags"] == flags


class TestScrutinyWindows:
    async def test_own_initiative_only_within_72_hours_of_the_copy(self, broker: Any) -> None:
        """R11, Art. 4(3): a decision after 72 h is refused; the window's end is recorded."""
        b = await broker()
        order = await b.issue()
        await b.advance(hours=71)
        pre = lifecycle_doc(
            b,
            "ie-cnam",
            "scrutiny_prenotice",
            order,
            intention="infringement",
            reasons="No statement of reasons.",
        )
        assert (await post(b, order, "scrutiny-prenotice", "ie-cnam", pre)).status == 201
        await b.advance(hours=2)
        decision = lifecycle_doc(
            b,
            "ie-cnam",
            "scrutiny_decision",
            order,
            outcome="infringement",
            initiative="own",
            reasons="Art. 3(4)(b) infringed.",
        )
        reply = await post(b, order, "scrutiny-decision", "ie-cnam", decision)
        assert (reply.status, reply.body["code"]) == (409, "scrutiny_window_closed")
        closed = event_of(await b.history(order["order_id"], party="de-bka"), "window_closed")
        assert closed["data"]["obligation"] in {
            "own_scrutiny_window",
            "hsp_scrutiny_request_window",
        }
        assert (await b.order(order["order_id"], party="de-bka"))["state"] == "overdue"

    async def test_only_the_host_authority_scrutinises(self, broker: Any) -> None:
        """R11: the issuing authority cannot decide on its own order's scrutiny."""
        b = await broker()
        order = await b.issue()
        decision = lifecycle_doc(
            b,
            "de-bka",
            "scrutiny_decision",
            order,
            outcome="no_infringement",
            initiative="own",
            reasons="Fine.",
        )
        reply = await post(b, order, "scrutiny-decision", "de-bka", decision)
        assert (reply.status, reply.body["code"]) == (403, "forbidden")

    async def test_hsp_request_within_48_hours_and_decision_due_in_72(self, broker: Any) -> None:
        """R11, Art. 4(4): request refused after 48 h; a decision later than 72 h is flagged."""
        b = await broker()
        late, timely = await b.issue(), await b.issue()
        await b.advance(hours=47)
        ok = lifecycle_doc(b, "hsp-alpha", "scrutiny_request", timely, reasons="News reporting.")
        reply = await post(b, timely, "scrutiny-request", "hsp-alpha", ok)
        assert reply.status == 201, reply.body
        request = event_of(
            await b.history(timely["order_id"], party="ie-cnam"), "scrutiny_request_received"
        )
        assert request["data"]["requester_role"] == "hsp"
        await b.advance(hours=2)
        too_late = lifecycle_doc(b, "hsp-alpha", "scrutiny_request", late, reasons="News.")
        reply = await post(b, late, "scrutiny-request", "hsp-alpha", too_late)
        assert (reply.status, reply.body["code"]) == (409, "scrutiny_request_window_closed")
        await b.advance(hours=71)  # 73 h after the request: the decision is late
        missed = event_of(await b.history(timely["order_id"], party="de-bka"), "obligation_missed")
        assert missed["data"]["breach"] == "scrutiny_decision_late"
        assert missed["data"]["article"] == "Art. 4(4)"
        assert missed["data"]["visible_to"] == ["ie-cnam"]
        decision = lifecycle_doc(
            b,
            "ie-cnam",
            "scrutiny_decision",
            timely,
            outcome="no_infringement",
            initiative="request",
            reasons="The order is lawful.",
        )
        reply = await post(b, timely, "scrutiny-decision", "ie-cnam", decision)
        assert reply.status == 201, reply.body
        recorded = event_of(
            await b.history(timely["order_id"], party="hsp-alpha"), "scrutiny_decision_received"
        )
        assert recorded["data"]["late"] is True
        view = await b.order(timely["order_id"], party="de-bka")
        assert any(f.startswith("scrutiny_decision_late") for f in view["flags"])
        # Answered: a second decision on the request finds nothing open.
        again = lifecycle_doc(
            b,
            "ie-cnam",
            "scrutiny_decision",
            timely,
            outcome="no_infringement",
            initiative="request",
            reasons="Again.",
        )
        reply = await post(b, timely, "scrutiny-decision", "ie-cnam", again)
        assert (reply.status, reply.body["code"]) == (409, "no_open_obligation")


class TestInfringement:
    async def test_infringement_needs_a_prior_prenotice(self, broker: Any) -> None:
        """R12, Art. 4(5): no pre-notice to the issuing authority, no infringement decision."""
        b = await broker()
        order = await b.issue()
        decision = lifecycle_doc(
            b,
            "ie-cnam",
            "scrutiny_decision",
            order,
            outcome="infringement",
            initiative="own",
            reasons="Infringes.",
        )
        reply = await post(b, order, "scrutiny-decision", "ie-cnam", decision)
        assert (reply.status, reply.body["code"]) == (409, "scrutiny_prenotice_required")

    async def test_fan_out_no_legal_effect_and_reinstatement(self, broker: Any) -> None:
        """R13, Art. 4(6)-(7): the decision reaches the issuing authority, the HSP, the
        requesting content provider and Europol; the HSP reinstates in time."""
        b = await broker()
        order = await b.issue()
        await b.advance(minutes=10)
        reply = await removed(b, order)
        assert reply.status == 201
        info = lifecycle_doc(
            b,
            "hsp-alpha",
            "content_provider_information",
            order,
            content_provider_id="cp-demo",
            information="Removed by order.",
        )
        assert (
            await post(b, order, "content-provider-information", "hsp-alpha", info)
        ).status == 201
        request = lifecycle_doc(b, "cp-demo", "scrutiny_request", order, reasons="Satire.")
        assert (await post(b, order, "scrutiny-request", "cp-demo", request)).status == 201
        pre = lifecycle_doc(
            b,
            "ie-cnam",
            "scrutiny_prenotice",
            order,
            intention="infringement",
            reasons="Satire is not incitement.",
        )
        assert (await post(b, order, "scrutiny-prenotice", "ie-cnam", pre)).status == 201
        decision = lifecycle_doc(
            b,
            "ie-cnam",
            "scrutiny_decision",
            order,
            outcome="infringement",
            initiative="request",
            reasons="Manifest infringement.",
        )
        reply = await post(b, order, "scrutiny-decision", "ie-cnam", decision)
        assert reply.status == 201, reply.body
        assert reply.body["order"]["state"] == "no_legal_effect"
        for party in ("de-bka", "hsp-alpha", "cp-demo", "europol", "ie-cnam"):
            seen = [e["kind"] for e in (await b.get("/v1/events", party=party)).body["events"]]
            assert "scrutiny_decision_received" in seen, party
            assert "legal_effect_ended" in seen, party
        ended = event_of(await b.history(order["order_id"], party="europol"), "legal_effect_ended")
        assert ended["data"]["cause"] == "infringement_decision"
        assert ended["data"]["article"] == "Art. 4(6)"
        await b.advance(minutes=30)
        reply = await post(b, order, "reinstatement", "hsp-alpha", reinstatement(b, order))
        assert reply.status == 201, reply.body
        assert reply.body["order"]["state"] == "reinstated"
        await b.advance(hours=2)
        assert "obligation_missed" not in kinds(await b.history(order["order_id"], party="de-bka"))

    async def test_reinstatement_not_immediate_is_breach_4_7(self, broker: Any) -> None:
        """R13, Art. 4(7): no reinstatement within the "immediately" setting."""
        b = await broker()
        order = await b.issue()
        assert (await removed(b, order)).status == 201
        pre = lifecycle_doc(
            b,
            "ie-cnam",
            "scrutiny_prenotice",
            order,
            intention="infringement",
            reasons="No reasons.",
        )
        await post(b, order, "scrutiny-prenotice", "ie-cnam", pre)
        decision = lifecycle_doc(
            b,
            "ie-cnam",
            "scrutiny_decision",
            order,
            outcome="infringement",
            initiative="own",
            reasons="Infringes.",
        )
        assert (await post(b, order, "scrutiny-decision", "ie-cnam", decision)).status == 201
        await b.advance(minutes=61)
        missed = event_of(await b.history(order["order_id"], party="de-bka"), "obligation_missed")
        assert (missed["data"]["breach"], missed["data"]["article"]) == ("breach_4_7", "Art. 4(7)")
        view = await b.order(order["order_id"], party="hsp-alpha")
        assert any(f.startswith("breach_4_7") for f in view["flags"])
        # Late, but still recorded as a reinstatement.
        reply = await post(b, order, "reinstatement", "hsp-alpha", reinstatement(b, order))
        assert reply.status == 201
        assert (
            event_of(await b.history(order["order_id"], party="de-bka"), "reinstatement_received")[
                "data"
            ]["late"]
            is True
        )


class TestRestorable:
    async def test_hard_removal_during_scrutiny_is_flagged(self, broker: Any) -> None:
        """R14, Art. 4(2): removed without `reinstatable` while scrutiny is possible."""
        b = await broker()
        hard, kept, domestic = (
            await b.issue(),
            await b.issue(),
            await b.issue("fr-ocrim", "hsp-gamma"),
        )
        assert (await removed(b, hard)).status == 201
        assert (await removed(b, kept, reinstatable=True)).status == 201
        assert (await removed(b, domestic)).status == 201
        flags = (await b.order(hard["order_id"], party="de-bka"))["flags"]
        assert [f.split(":")[0] for f in flags] == ["breach_4_2_risk"]
        assert (await b.order(kept["order_id"], party="de-bka"))["flags"] == []
        assert (await b.order(domestic["order_id"], party="fr-ocrim"))["flags"] == []
        feedback = event_of(await b.history(hard["order_id"], party="de-bka"), "feedback_received")
        assert feedback["data"]["breach_4_2_risk"] is True
        assert feedback["data"]["breach_4_2_risk_article"] == "Art. 4(2)"


class TestRestart:
    async def test_lifecycle_deadlines_survive_a_restart(self, broker: Any) -> None:
        """The obligation rows are the timers: a restart sweeps them, once."""
        b = await broker()
        order = await b.issue()
        request = lifecycle_doc(b, "hsp-alpha", "scrutiny_request", order, reasons="Lawful.")
        assert (await post(b, order, "scrutiny-request", "hsp-alpha", request)).status == 201
        await b.stop()
        b.clock.advance(hours=100)
        restarted = await broker(like=b)
        again = await broker(like=b)
        await again.fire_due()
        history = await restarted.history(order["order_id"], party="de-bka")
        assert kinds(history).count("obligation_missed") == 1
        lifecycle = (
            await restarted.get(f"/v1/orders/{order['order_id']}/lifecycle", party="de-bka")
        ).body
        statuses = {o["kind"]: o["status"] for o in lifecycle["obligations"]}
        assert statuses["scrutiny_decision"] == "missed"
        assert statuses["own_scrutiny_window"] == "closed"
        assert statuses["hsp_scrutiny_request_window"] == "met"
