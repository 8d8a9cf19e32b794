"""The order lifecycle through the real HTTP API (TCO Art. 3, R2–R9)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from perci_schemas import jws


def _at(value: str) -> datetime:
    return datetime.fromisoformat(value)


def _kinds(events: list[dict[str, Any]]) -> list[str]:
    return [e["kind"] for e in events]


class TestHappyPath:
    async def test_order_ack_feedback_executed_with_verifiable_receipts(self, broker: Any) -> None:
        """Order → delivered (deadline = receipt + 1 h) → ack → Annex II on time → executed."""
        b = await broker()
        await b.introduce("de-bka", "hsp-alpha")
        document = b.removal_order("de-bka", "hsp-alpha")
        token = b.parties["de-bka"].sign(document)
        reply = await b.post_jws("/v1/orders", party="de-bka", token=token)
        assert reply.status == 201, reply.body
        order = reply.body["order"]
        assert order["state"] == "delivered"
        assert order["flags"] == []
        # R3: the clock starts at the broker's received_at, deadline one hour later.
        assert order["received_at"] == b.iso(b.clock.now())
        assert order["clock_started_at"] == order["received_at"]
        assert _at(order["deadline_at"]) - _at(order["received_at"]) == timedelta(hours=1)

        receipt = await b.verify_broker_jws(reply.body["receipt"], "receipt")
        assert receipt["document_sha256"] == jws.document_hash(token)
        assert receipt["order_id"] == order["order_id"]
        assert receipt["message_id"] == document["message_id"]
        assert receipt["sender"] == "de-bka"
        assert receipt["received_at"] == order["received_at"]
        history = await b.history(order["order_id"], party="hsp-alpha")
        # R10, Art. 4(1): a DE order to an IE host is copied to the host authority.
        assert _kinds(history) == ["order_received", "order_delivered", "host_copy_delivered"]
        assert receipt["event_hash"] == history[0]["hash"]
        assert receipt["seq"] == history[0]["seq"]

        await b.advance(minutes=5)
        ack = await b.post_document(
            f"/v1/orders/{order['order_id']}/acknowledgement",
            party="hsp-alpha",
            document=b.acknowledgement(order),
        )
        assert ack.status == 201, ack.body
        assert ack.body["order"]["state"] == "acknowledged"
        assert ack.body["order"]["deadline_at"] == order["deadline_at"]  # clock unchanged

        await b.advance(minutes=15)
        measure_at = b.clock.now() - timedelta(minutes=2)
        fb = await b.post_document(
            f"/v1/orders/{order['order_id']}/feedback",
            party="hsp-alpha",
            document=b.feedback(order, measure_at=measure_at),
        )
        assert fb.status == 201, fb.body
        executed = fb.body["order"]
        assert executed["state"] == "executed"
        assert executed["measure_at"] == b.iso(measure_at)
        fb_receipt = await b.verify_broker_jws(fb.body["receipt"], "receipt")
        assert fb_receipt["message_type"] == "feedback"

        history = await b.history(order["order_id"], party="de-bka")
        assert _kinds(history) == [
            "order_received",
            "order_delivered",
            "host_copy_delivered",
            "acknowledgement_received",
            "feedback_received",
        ]
        assert history[-1]["data"]["on_time"] is True
        assert history[-1]["data"]["breach_3_6"] is False
        # Nothing fires after execution: the timers were cancelled.
        await b.advance(hours=2)
        assert len(await b.history(order["order_id"], party="de-bka")) == 5  # + host copy


class TestDeadlines:
    async def test_late_annex_ii_is_executed_late(self, broker: Any) -> None:
        """R8: a measure after the deadline makes the order executed_late."""
        b = await broker()
        order = await b.issue()
        b.clock.advance(minutes=70)  # no timer fired: the order is still delivered
        reply = await b.post_document(
            f"/v1/orders/{order['order_id']}/feedback",
            party="hsp-alpha",
            document=b.feedback(order),
        )
        assert reply.status == 201, reply.body
        assert reply.body["order"]["state"] == "executed_late"

    async def test_deadline_missed_makes_the_order_overdue(self, broker: Any) -> None:
        """R8, Art. 3(3): no answer within the hour → overdue + deadline_missed (breach_3_3)."""
        b = await broker()
        order = await b.issue()
        await b.advance(minutes=59)
        assert (await b.order(order["order_id"], party="de-bka"))["state"] == "delivered"
        await b.advance(minutes=1)
        view = await b.order(order["order_id"], party="de-bka")
        assert view["state"] == "overdue"
        assert any(f.startswith("breach_3_3") for f in view["flags"])
        missed = [
            e for e in await b.history(order["order_id"], party="de-bka")
            if e["kind"] == "deadline_missed"
        ]  # fmt: skip
        assert len(missed) == 1
        assert missed[0]["actor"] == "broker"
        assert missed[0]["data"]["breach"] == "breach_3_3"
        assert missed[0]["data"]["article"] == "Art. 3(3)"
        assert missed[0]["data"]["due_at"] == order["deadline_at"]
        # Annex II of a measure after the deadline: executed late.
        await b.advance(minutes=5)
        late = await b.post_document(
            f"/v1/orders/{order['order_id']}/feedback",
            party="hsp-alpha",
            document=b.feedback(order),
        )
        assert late.status == 201, late.body
        assert late.body["order"]["state"] == "executed_late"

    async def test_warnings_at_45_and_55_minutes(self, broker: Any) -> None:
        """Warnings fire before the deadline without changing the state."""
        b = await broker()
        order = await b.issue()
        await b.advance(minutes=44)
        assert "deadline_warning" not in _kinds(
            await b.history(order["order_id"], party="hsp-alpha")
        )
        await b.advance(minutes=1)
        await b.advance(minutes=10)
        history = await b.history(order["order_id"], party="hsp-alpha")
        warnings = [e for e in history if e["kind"] == "deadline_warning"]
        assert [w["data"]["minutes"] for w in warnings] == [45, 55]
        assert (await b.order(order["order_id"], party="hsp-alpha"))["state"] == "delivered"


class TestSuspensions:
    async def test_force_majeure_suspends_and_grounds_ceased_gives_a_fresh_hour(
        self, broker: Any
    ) -> None:
        """R6, Art. 3(7): suspended until grounds cease, then 60 min from that receipt."""
        b = await broker()
        order = await b.issue()
        oid = order["order_id"]
        await b.advance(minutes=10)
        reply = await b.post_document(
            f"/v1/orders/{oid}/impossibility", party="hsp-alpha", document=b.impossibility(order)
        )
        assert reply.status == 201, reply.body
        suspended = reply.body["order"]
        assert suspended["state"] == "suspended_force_majeure"
        assert suspended["deadline_at"] is None
        assert suspended["suspended_reason"] == "force_majeure"

        await b.advance(hours=3)  # the old deadline passes: nothing fires
        assert "deadline_missed" not in _kinds(await b.history(oid, party="de-bka"))

        reply = await b.post_document(
            f"/v1/orders/{oid}/grounds-ceased", party="hsp-alpha", document=b.grounds_ceased(order)
        )
        assert reply.status == 201, reply.body
        restarted = reply.body["order"]
        now = b.clock.now()
        assert restarted["state"] == "delivered"
        assert restarted["clock_started_at"] == b.iso(now)
        assert restarted["deadline_at"] == b.iso(now + timedelta(hours=1))
        assert restarted["received_at"] == order["received_at"]

        await b.advance(minutes=61)
        history = await b.history(oid, party="de-bka")
        missed = [e for e in history if e["kind"] == "deadline_missed"]
        assert len(missed) == 1
        assert missed[0]["data"]["clock_round"] == 2

    async def test_clarification_rounds_each_restart_the_hour(self, broker: Any) -> None:
        """R7, Art. 3(8): each clarification starts a fresh hour; rounds are logged."""
        b = await broker()
        order = await b.issue()
        oid = order["order_id"]
        for round_number, reason in ((2, "insufficient_information"), (3, "manifest_errors")):
            await b.advance(minutes=20)
            reply = await b.post_document(
                f"/v1/orders/{oid}/impossibility",
                party="hsp-alpha",
                document=b.impossibility(order, reason),
            )
            assert reply.status == 201, reply.body
            assert reply.body["order"]["state"] == "clarification_requested"
            assert reply.body["order"]["suspended_reason"] == reason
            await b.advance(hours=2)
            reply = await b.post_document(
                f"/v1/orders/{oid}/clarification", party="de-bka", document=b.clarification(order)
            )
            assert reply.status == 201, reply.body
            view = reply.body["order"]
            assert view["state"] == "delivered"
            assert view["deadline_at"] == b.iso(b.clock.now() + timedelta(hours=1))
            history = await b.history(oid, party="hsp-alpha")
            assert history[-1]["kind"] == "clarification_received"
            assert history[-1]["data"]["clock_round"] == round_number
        history = await b.history(oid, party="de-bka")
        assert _kinds(history).count("clarification_received") == 2
        assert "deadline_missed" not in _kinds(history)
        # A clarification when none was requested is an illegal transition.
        again = await b.post_document(
            f"/v1/orders/{oid}/clarification", party="de-bka", document=b.clarification(order)
        )
        assert again.status == 409
        assert again.body["code"] == "illegal_transition"

    async def test_withdrawal_stops_everything(self, broker: Any) -> None:
        """A withdrawn order has no deadline to miss and takes no further answers."""
        b = await broker()
        order = await b.issue()
        oid = order["order_id"]
        reply = await b.post_document(
            f"/v1/orders/{oid}/withdrawal", party="de-bka", document=b.withdrawal(order)
        )
        assert reply.status == 201, reply.body
        assert reply.body["order"]["state"] == "withdrawn"
        await b.advance(hours=2)
        assert "deadline_missed" not in _kinds(await b.history(oid, party="de-bka"))
        late = await b.post_document(
            f"/v1/orders/{oid}/feedback", party="hsp-alpha", document=b.feedback(order)
        )
        assert late.status == 409
        assert late.body["code"] == "illegal_transition"


class TestOrderRules:
    async def test_incomplete_order_is_flagged_and_still_delivered(self, broker: Any) -> None:
        """R2: missing Art. 3(4) elements and registry mismatches are flagged, not refused."""
        b = await broker()
        document = b.removal_order("de-bka", "hsp-alpha", emergency=True)
        del document["section_e"]
        del document["section_g"]
        del document["legal_basis"]
        document["section_a"]["issuing_member_state"] = "AT"
        document["section_d"]["host_member_state_differs"] = False
        reply = await b.post_document("/v1/orders", party="de-bka", document=document)
        assert reply.status == 201, reply.body
        order = reply.body["order"]
        assert order["state"] == "delivered"
        codes = {flag.split(":", 1)[0] for flag in order["flags"]}
        assert codes == {
            "art_3_4_a",
            "art_3_4_d",
            "art_3_4_f",
            "issuing_member_state_mismatch",
            "section_d_mismatch",
        }
        received = (await b.history(order["order_id"], party="hsp-alpha"))[0]
        assert received["data"]["flags"] == order["flags"]

    async def test_first_order_needs_advance_information(self, broker: Any) -> None:
        """R4, Art. 3(2): refused without 12 h advance information, unless a justified emergency."""
        b = await broker()
        plain = b.removal_order("de-bka", "hsp-beta")
        reply = await b.post_document("/v1/orders", party="de-bka", document=plain)
        assert reply.status == 409
        assert reply.body["code"] == "advance_information_missing"
        assert "not_before" not in reply.body

        # An emergency flag without a justification does not lift the rule.
        unjustified = b.removal_order("de-bka", "hsp-beta", emergency=True, justification=None)
        reply = await b.post_document("/v1/orders", party="de-bka", document=unjustified)
        assert reply.status == 409

        info = await b.post_document(
            "/v1/advance-information",
            party="de-bka",
            document=b.advance_information("de-bka", "hsp-beta"),
        )
        assert info.status == 201, info.body
        info_receipt = await b.verify_broker_jws(info.body["receipt"], "receipt")
        assert info_receipt["order_id"] is None
        not_before = _at(info_receipt["received_at"]) + timedelta(hours=12)

        await b.advance(hours=11, minutes=59)
        reply = await b.post_document(
            "/v1/orders", party="de-bka", document=b.removal_order("de-bka", "hsp-beta")
        )
        assert reply.status == 409
        assert _at(reply.body["not_before"]) == not_before

        await b.advance(minutes=1)
        reply = await b.post_document(
            "/v1/orders", party="de-bka", document=b.removal_order("de-bka", "hsp-beta")
        )
        assert reply.status == 201, reply.body
        # Not the first order any more: no advance information needed.
        reply = await b.post_document(
            "/v1/orders", party="de-bka", document=b.removal_order("de-bka", "hsp-beta")
        )
        assert reply.status == 201, reply.body

    async def test_justified_emergency_lifts_the_advance_information_rule(
        self, broker: Any
    ) -> None:
        """R4: a duly justified emergency may be the first order of a pair."""
        b = await broker()
        document = b.removal_order("es-cgi", "hsp-gamma", emergency=True)
        reply = await b.post_document("/v1/orders", party="es-cgi", document=document)
        assert reply.status == 201, reply.body
        assert reply.body["order"]["emergency"] is True

    async def test_language_not_designated_is_refused(self, broker: Any) -> None:
        """R5, Art. 15(2): hsp-beta takes orders in nl or en only."""
        b = await broker()
        document = b.removal_order("de-bka", "hsp-beta", emergency=True, language="de")
        reply = await b.post_document("/v1/orders", party="de-bka", document=document)
        assert reply.status == 422
        assert reply.body["code"] == "language_not_designated"
        assert reply.body["designated"] == ["nl", "en"]

    async def test_unknown_addressee(self, broker: Any) -> None:
        """The addressee must be a registered HSP."""
        b = await broker()
        document = b.removal_order("de-bka", "hsp-alpha", emergency=True)
        document["section_a"]["addressee"]["hsp_id"] = "es-cgi"
        reply = await b.post_document("/v1/orders", party="de-bka", document=document)
        assert reply.status == 422
        assert reply.body["code"] == "unknown_addressee"

    async def test_backdated_receipt_time_is_refused(self, broker: Any) -> None:
        """R9: Annex II/III must state the broker's received_at."""
        b = await broker()
        order = await b.issue()
        await b.advance(minutes=10)
        shifted = dict(order, received_at=b.iso(_at(order["received_at"]) - timedelta(seconds=1)))
        for path, document in (
            ("feedback", b.feedback(shifted)),
            ("impossibility", b.impossibility(shifted)),
        ):
            reply = await b.post_document(
                f"/v1/orders/{order['order_id']}/{path}", party="hsp-alpha", document=document
            )
            assert reply.status == 422, path
            assert reply.body["code"] == "receipt_time_mismatch"
            assert reply.body["recorded_received_at"] == order["received_at"]
        # Same instant written with another offset is the same receipt time (R24).
        other_offset = _at(order["received_at"]).astimezone(
            datetime.fromisoformat("2026-01-01T00:00:00+02:00").tzinfo
        )
        fine = b.feedback(order)
        fine["section_a"]["order_received_at"] = other_offset.isoformat(timespec="milliseconds")
        reply = await b.post_document(
            f"/v1/orders/{order['order_id']}/feedback", party="hsp-alpha", document=fine
        )
        assert reply.status == 201, reply.body

    async def test_feedback_long_after_the_measure_is_flagged_breach_3_6(self, broker: Any) -> None:
        """R8: an Annex II later than the configured undue delay after the measure."""
        b = await broker()
        order = await b.issue()
        await b.advance(minutes=10)
        measure_at = b.clock.now()
        await b.advance(minutes=150)  # deadline fired, and the report is 2.5 h late
        reply = await b.post_document(
            f"/v1/orders/{order['order_id']}/feedback",
            party="hsp-alpha",
            document=b.feedback(order, measure_at=measure_at),
        )
        assert reply.status == 201, reply.body
        view = reply.body["order"]
        assert view["state"] == "executed"  # the measure itself was within the hour
        assert any(f.startswith("breach_3_6") for f in view["flags"])
        event = (await b.history(order["order_id"], party="de-bka"))[-1]
        assert event["data"]["breach_3_6"] is True
        assert event["data"]["breach"] == "breach_3_6"
