"""Finality and exposure (Art. 3(9), 5; R17–R18), preservation (Art. 6; R15), content
providers (Art. 10–11; R16) and court annulment (Art. 9) through the broker."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from lifecycle_helpers import at, event_of, kinds, lifecycle_doc, post, reinstatement, removed

DAY = 24.0


async def _lifecycle(b: Any, order: dict[str, Any], party: str = "de-bka") -> dict[str, Any]:
    reply = await b.get(f"/v1/orders/{order['order_id']}/lifecycle", party=party)
    assert reply.status == 200, reply.body
    view: dict[str, Any] = reply.body
    return view


class TestFinality:
    async def test_final_after_the_appeal_deadline_then_notice_due(self, broker: Any) -> None:
        """R17, Art. 3(9): P1M passes unused: final; the host authority must be informed."""
        b = await broker()
        order = await b.issue()
        await b.advance(hours=29 * DAY)
        assert "order_final" not in kinds(await b.history(order["order_id"], party="de-bka"))
        await b.advance(hours=2 * DAY)
        final = event_of(await b.history(order["order_id"], party="ie-cnam"), "order_final")
        assert (final["data"]["cause"], final["data"]["article"]) == (
            "appeal_deadline_passed",
            "Art. 3(9)",
        )
        await b.advance(hours=3 * DAY)  # the notice (due within two days) was not sent
        missed = event_of(await b.history(order["order_id"], party="de-bka"), "obligation_missed")
        assert missed["data"]["breach"] == "finality_notice_late"
        notice = lifecycle_doc(b, "de-bka", "finality_notice", order, note="Final.")
        reply = await post(b, order, "finality-notice", "de-bka", notice)
        assert reply.status == 201, reply.body
        seen = event_of(
            await b.history(order["order_id"], party="ie-cnam"), "finality_notice_received"
        )
        assert seen["data"]["late"] is True

    async def test_appeal_lodged_stops_finality_and_confirmation_makes_it_final(
        self, broker: Any
    ) -> None:
        """R17: an appeal in time prevents finality by lapse; a confirmation makes it final."""
        b = await broker()
        order = await b.issue()
        early = lifecycle_doc(b, "de-bka", "finality_notice", order)
        reply = await post(b, order, "finality-notice", "de-bka", early)
        assert (reply.status, reply.body["code"]) == (409, "no_open_obligation")
        appeal = lifecycle_doc(b, "de-court", "appeal_notice", order, kind="appeal_lodged")
        assert (await post(b, order, "appeal-notice", "de-court", appeal)).status == 201
        await b.advance(hours=40 * DAY)
        assert "order_final" not in kinds(await b.history(order["order_id"], party="de-bka"))
        confirmed = lifecycle_doc(b, "de-court", "appeal_notice", order, kind="confirmed")
        assert (await post(b, order, "appeal-notice", "de-court", confirmed)).status == 201
        final = event_of(await b.history(order["order_id"], party="de-bka"), "order_final")
        assert final["data"]["cause"] == "confirmed"
        notice = lifecycle_doc(b, "de-bka", "finality_notice", order)
        assert (await post(b, order, "finality-notice", "de-bka", notice)).status == 201
        assert (await _lifecycle(b, order))["lifecycle"]["final_at"] is not None


class TestExposure:
    async def test_two_final_orders_prompt_a_decision_then_reports_and_reviews(
        self, broker: Any
    ) -> None:
        """R18, Art. 5(4)-(7): prompt at 2 final orders in 12 months; report due in 3
        months then yearly; a review answered later than 3 months is flagged."""
        b = await broker()
        first, second = await b.issue(), await b.issue()
        await b.advance(hours=32 * DAY)
        prompts = [
            e
            for e in (await b.get("/v1/events?limit=500", party="ie-cnam")).body["events"]
            if e["kind"] == "exposure_decision_prompted"
        ]
        assert len(prompts) == 1
        assert prompts[0]["data"]["final_orders_12m"] == 2
        assert set(prompts[0]["data"]["final_order_ids"]) == {first["order_id"], second["order_id"]}

        wrong = lifecycle_doc(b, "nl-atkm", "exposure_decision", hsp_id="hsp-alpha", reasons="No.")
        reply = await b.post_document("/v1/exposure-decisions", party="nl-atkm", document=wrong)
        assert (reply.status, reply.body["code"]) == (403, "forbidden")
        decision = lifecycle_doc(
            b,
            "ie-cnam",
            "exposure_decision",
            hsp_id="hsp-alpha",
            reasons="Two final orders in twelve months.",
        )
        reply = await b.post_document("/v1/exposure-decisions", party="ie-cnam", document=decision)
        assert reply.status == 201, reply.body
        decision_id = (await b.verify_broker_jws(reply.body["receipt"], "receipt"))["event_id"]

        await b.advance(hours=93 * DAY)  # > 3 months: the first report is late
        events = (await b.get("/v1/events?limit=500", party="hsp-alpha")).body["events"]
        missed = [e for e in events if e["kind"] == "obligation_missed"]
        assert [e["data"]["breach"] for e in missed][-1] == "exposure_report_late"
        report = lifecycle_doc(
            b,
            "hsp-alpha",
            "exposure_report",
            decision_id=decision_id,
            measures="Upload hash matching.",
        )
        path = f"/v1/exposure-decisions/{decision_id}"
        assert (
            await b.post_document(f"{path}/report", party="hsp-alpha", document=report)
        ).status == 201

        review = lifecycle_doc(
            b,
            "hsp-alpha",
            "review_request",
            decision_id=decision_id,
            grounds="No orders for months.",
        )
        assert (
            await b.post_document(f"{path}/review-request", party="hsp-alpha", document=review)
        ).status == 201
        await b.advance(hours=95 * DAY)
        events = (await b.get("/v1/events?limit=500", party="ie-cnam")).body["events"]
        assert "review_decision_late" in [e["data"].get("breach") for e in events]
        answer = lifecycle_doc(
            b,
            "ie-cnam",
            "review_decision",
            decision_id=decision_id,
            outcome="revoked",
            reasons="Exposure ended.",
        )
        reply = await b.post_document(f"{path}/review-decision", party="ie-cnam", document=answer)
        assert reply.status == 201, reply.body
        again = lifecycle_doc(
            b,
            "ie-cnam",
            "review_decision",
            decision_id=decision_id,
            outcome="upheld",
            reasons="Again.",
        )
        reply = await b.post_document(f"{path}/review-decision", party="ie-cnam", document=again)
        assert (reply.status, reply.body["code"]) == (409, "no_open_obligation")
        # Revoked: no more yearly reports are owed.
        report = lifecycle_doc(
            b, "hsp-alpha", "exposure_report", decision_id=decision_id, measures="More."
        )
        reply = await b.post_document(f"{path}/report", party="hsp-alpha", document=report)
        assert (reply.status, reply.body["code"]) == (409, "no_open_obligation")


class TestPreservation:
    async def test_six_months_extension_and_early_purge(self, broker: Any) -> None:
        """R15, Art. 6: preserve_until = measure + 6 months; a court extends it with a
        reason; purging before the end is breach_6."""
        b = await broker()
        order = await b.issue()
        await b.advance(minutes=5)
        measure_at = b.clock.now()
        assert (await removed(b, order)).status == 201
        until = at((await _lifecycle(b, order))["lifecycle"]["preserve_until"])
        assert until == measure_at.replace(year=2027, month=5)
        bad = lifecycle_doc(
            b,
            "de-court",
            "preservation_extension",
            order,
            preserve_until=b.iso(until - timedelta(days=1)),
            reason="Review.",
        )
        reply = await post(b, order, "preservation-extension", "de-court", bad)
        assert (reply.status, reply.body["code"]) == (422, "preservation_extension_invalid")
        longer = until + timedelta(days=90)
        ext = lifecycle_doc(
            b,
            "de-court",
            "preservation_extension",
            order,
            preserve_until=b.iso(longer),
            reason="Review pending.",
        )
        assert (await post(b, order, "preservation-extension", "de-court", ext)).status == 201
        await b.advance(hours=200 * DAY)  # after six months, before the extended end
        purge = lifecycle_doc(
            b, "hsp-alpha", "content_purged", order, purged_at=b.iso(b.clock.now())
        )
        reply = await post(b, order, "content-purged", "hsp-alpha", purge)
        assert reply.status == 201, reply.body
        assert any(f.startswith("breach_6") for f in reply.body["order"]["flags"])
        purged = event_of(
            await b.history(order["order_id"], party="de-bka"), "content_purged_received"
        )
        assert (purged["data"]["early"], purged["data"]["breach"]) == (True, "breach_6")

    async def test_purge_after_the_end_is_no_breach(self, broker: Any) -> None:
        """R15: after six months the purge is lawful."""
        b = await broker()
        order = await b.issue()
        assert (await removed(b, order, reinstatable=True)).status == 201
        await b.advance(hours=185 * DAY)
        purge = lifecycle_doc(
            b, "hsp-alpha", "content_purged", order, purged_at=b.iso(b.clock.now())
        )
        reply = await post(b, order, "content-purged", "hsp-alpha", purge)
        assert reply.status == 201
        assert reply.body["order"]["flags"] == []


class TestContentProvider:
    async def test_nondisclosure_blocks_information_one_extension_before_expiry(
        self, broker: Any
    ) -> None:
        """R16, Art. 11(3): no information while non-disclosure runs; one extension of at
        most six weeks, only before expiry; then the information and a complaint."""
        b = await broker()
        document = b.removal_order("de-bka", "hsp-alpha", emergency=True)
        document["section_c"] = {
            "nondisclosure": True,
            "nondisclosure_until": b.iso(b.clock.now() + timedelta(weeks=4)),
        }
        reply = await b.post_document("/v1/orders", party="de-bka", document=document)
        assert reply.status == 201, reply.body
        order = reply.body["order"]
        assert (await removed(b, order, reinstatable=True)).status == 201
        info = lifecycle_doc(
            b,
            "hsp-alpha",
            "content_provider_information",
            order,
            content_provider_id="cp-demo",
            information="Removed.",
        )
        reply = await post(b, order, "content-provider-information", "hsp-alpha", info)
        assert (reply.status, reply.body["code"]) == (409, "nondisclosure_active")
        assert (await b.get(f"/v1/orders/{order['order_id']}", party="cp-demo")).status == 404
        current = b.clock.now() + timedelta(weeks=4)
        too_long = lifecycle_doc(
            b,
            "de-bka",
            "nondisclosure_extension",
            order,
            nondisclosure_until=b.iso(current + timedelta(weeks=7)),
            reason="Investigation.",
        )
        reply = await post(b, order, "nondisclosure-extension", "de-bka", too_long)
        assert (reply.status, reply.body["code"]) == (409, "nondisclosure_extension_refused")
        ext = lifecycle_doc(
            b,
            "de-bka",
            "nondisclosure_extension",
            order,
            nondisclosure_until=b.iso(current + timedelta(weeks=6)),
            reason="Investigation.",
        )
        assert (await post(b, order, "nondisclosure-extension", "de-bka", ext)).status == 201
        second = lifecycle_doc(
            b,
            "de-bka",
            "nondisclosure_extension",
            order,
            nondisclosure_until=b.iso(current + timedelta(weeks=8)),
            reason="More.",
        )
        reply = await post(b, order, "nondisclosure-extension", "de-bka", second)
        assert (reply.status, reply.body["code"]) == (409, "nondisclosure_extension_refused")
        await b.advance(hours=10 * 7 * DAY + 1)
        assert "nondisclosure_ended" in kinds(await b.history(order["order_id"], party="de-bka"))
        info = lifecycle_doc(
            b,
            "hsp-alpha",
            "content_provider_information",
            order,
            content_provider_id="cp-demo",
            information="Removed.",
        )
        assert (
            await post(b, order, "content-provider-information", "hsp-alpha", info)
        ).status == 201
        assert kinds(await b.history(order["order_id"], party="cp-demo")) == [
            "content_provider_information_received"
        ]
        # Art. 11(2): informed without a copy of the order: the view withholds the document.
        seen = await b.get(f"/v1/orders/{order['order_id']}", party="cp-demo")
        assert (seen.status, seen.body["document"]) == (200, None)
        # Once informed, it finds the order in its list too (no id needed).
        listed = await b.get("/v1/orders", party="cp-demo")
        assert [o["order_id"] for o in listed.body["orders"]] == [order["order_id"]]
        assert listed.body["orders"][0]["document"] is None  # Art. 11(2), as above
        assert (await b.order(order["order_id"], party="de-bka"))["document"]
        complaint = lifecycle_doc(b, "cp-demo", "complaint", order, grounds="Satire.")
        assert (await post(b, order, "complaint", "cp-demo", complaint)).status == 201
        await b.advance(hours=15 * DAY)
        missed = event_of(await b.history(order["order_id"], party="cp-demo"), "obligation_missed")
        assert missed["data"]["breach"] == "complaint_outcome_late"
        outcome = lifecycle_doc(
            b,
            "hsp-alpha",
            "complaint_outcome",
            order,
            outcome="rejected",
            reasons="Binding order.",
            reinstated=False,
        )
        assert (await post(b, order, "complaint-outcome", "hsp-alpha", outcome)).status == 201
        seen = event_of(
            await b.history(order["order_id"], party="cp-demo"), "complaint_outcome_received"
        )
        assert (seen["data"]["outcome"], seen["data"]["late"]) == ("rejected", True)

    async def test_nondisclosure_longer_than_six_weeks_is_capped(self, broker: Any) -> None:
        """R16: Section C cannot exceed six weeks: flagged and capped."""
        b = await broker()
        document = b.removal_order("de-bka", "hsp-alpha", emergency=True)
        document["section_c"] = {
            "nondisclosure": True,
            "nondisclosure_until": b.iso(b.clock.now() + timedelta(weeks=10)),
        }
        reply = await b.post_document("/v1/orders", party="de-bka", document=document)
        order = reply.body["order"]
        assert [f.split(":")[0] for f in order["flags"]] == ["nondisclosure_capped"]
        until = at((await _lifecycle(b, order))["lifecycle"]["nondisclosure_until"])
        assert until - at(order["received_at"]) == timedelta(weeks=6)

    async def test_information_deadline_when_configured(self, broker: Any) -> None:
        """R16, Art. 11(1): with the setting on, no information in time is breach_11."""
        from dataclasses import replace

        b = await broker()
        await b.stop()
        configured = replace(b.settings, content_provider_information_due=timedelta(hours=24))
        b = await broker(like=b, settings=configured)
        order = await b.issue()
        assert (await removed(b, order, reinstatable=True)).status == 201
        await b.advance(hours=25)
        missed = event_of(await b.history(order["order_id"], party="de-bka"), "obligation_missed")
        assert (missed["data"]["breach"], missed["data"]["article"]) == ("breach_11", "Art. 11(1)")


class TestCourtAnnulment:
    async def test_annulment_ends_legal_effect_and_requires_reinstatement(
        self, broker: Any
    ) -> None:
        """Art. 9: the court's annulment has the consequences of an infringement decision."""
        b = await broker()
        order = await b.issue()
        assert (await removed(b, order, reinstatable=True)).status == 201
        outsider = lifecycle_doc(
            b,
            "hsp-beta",
            "court_annulment",
            order,
            target="order",
            court="None",
            judgment_reference="X",
        )
        reply = await post(b, order, "court-annulment", "hsp-beta", outsider)
        assert reply.status in (403, 404)
        annul = lifecycle_doc(
            b,
            "de-court",
            "court_annulment",
            order,
            target="order",
            court="Verwaltungsgericht Wiesbaden",
            judgment_reference="6 K 1234/26.WI",
        )
        reply = await post(b, order, "court-annulment", "de-court", annul)
        assert reply.status == 201, reply.body
        assert reply.body["order"]["state"] == "no_legal_effect"
        ended = event_of(
            await b.history(order["order_id"], party="hsp-alpha"), "legal_effect_ended"
        )
        assert (ended["data"]["cause"], ended["data"]["article"]) == ("court_annulment", "Art. 9")
        await b.advance(minutes=20)
        reply = await post(b, order, "reinstatement", "hsp-alpha", reinstatement(b, order))
        assert reply.body["order"]["state"] == "reinstated"
        again = lifecycle_doc(
            b,
            "de-court",
            "court_annulment",
            order,
            target="order",
            court="VG",
            judgment_reference="again",
        )
        reply = await post(b, order, "court-annulment", "de-court", again)
        assert (reply.status, reply.body["code"]) == (409, "illegal_transition")

    async def test_a_court_lists_the_orders_of_its_member_state(self, broker: Any) -> None:
        """Art. 9: de-court finds the orders of German authorities without knowing their ids;
        a third party that was shown nothing of an order (here Europol) lists none."""
        b = await broker()
        order = await b.issue()
        listed = await b.get("/v1/orders", party="de-court")
        assert listed.status == 200, listed.body
        assert [o["order_id"] for o in listed.body["orders"]] == [order["order_id"]]
        nothing = await b.get("/v1/orders", party="europol")
        assert (nothing.status, nothing.body["orders"]) == (200, [])
