"""Deadline timers: exactly-once effect, restarts, two instances, the real wake-up job."""

from __future__ import annotations

import asyncio
from typing import Any

from perci_sim.api.keys import BROKER, TIMERS
from perci_sim.services.fire_timers import fire_due_timers


async def _kinds(b: Any, order_id: str) -> list[str]:
    return [e["kind"] for e in await b.history(order_id, party="de-bka")]


class TestExactlyOnce:
    async def test_a_timer_fired_twice_records_one_breach(self, broker: Any) -> None:
        """Concurrent and repeated firing of the same due timers changes nothing twice."""
        b = await broker()
        order = await b.issue()
        b.clock.advance(minutes=61)
        ctx = b.app[BROKER]
        due = await asyncio.gather(fire_due_timers(ctx), fire_due_timers(ctx), b.fire_due())
        assert sum(due) == 3  # warning 45, warning 55, deadline: seen once in total
        assert await fire_due_timers(ctx) == 0
        kinds = await _kinds(b, order["order_id"])
        assert kinds.count("deadline_missed") == 1
        assert kinds.count("deadline_warning") == 2

    async def test_two_instances_on_one_database_record_one_breach(self, broker: Any) -> None:
        """Two apps on the same SQLite file race for the timer; one wins."""
        first = await broker()
        second = await broker(like=first)
        order = await first.issue()
        first.clock.advance(minutes=61)
        await asyncio.gather(first.fire_due(), second.fire_due(), first.fire_due())
        for b in (first, second):
            kinds = await _kinds(b, order["order_id"])
            assert kinds.count("deadline_missed") == 1
            assert kinds.count("deadline_warning") == 2
            assert (await b.order(order["order_id"], party="hsp-alpha"))["state"] == "overdue"

    async def test_restart_past_the_deadline_fires_once(self, broker: Any) -> None:
        """The start-up sweep fires every open deadline once; later sweeps find nothing."""
        b = await broker()
        order = await b.issue()
        open_order = await b.issue()
        done = await b.issue()
        await b.advance(minutes=30)
        reply = await b.post_document(
            f"/v1/orders/{done['order_id']}/feedback", party="hsp-alpha", document=b.feedback(done)
        )
        assert reply.status == 201
        await b.stop()

        b.clock.advance(hours=3)  # the broker was down when the deadlines passed
        restarted = await broker(like=b)
        for oid in (order["order_id"], open_order["order_id"]):
            assert (await _kinds(restarted, oid)).count("deadline_missed") == 1
            assert (await restarted.order(oid, party="de-bka"))["state"] == "overdue"
        assert "deadline_missed" not in await _kinds(restarted, done["order_id"])

        assert await restarted.fire_due() == 0
        await restarted.stop()
        again = await broker(like=b)
        for oid in (order["order_id"], open_order["order_id"]):
            assert (await _kinds(again, oid)).count("deadline_missed") == 1


class TestWakeUp:
    async def test_the_scheduler_job_fires_the_deadline(self, broker: Any) -> None:
        """Without any manual firing, the APScheduler wake-up fires what is due."""
        b = await broker()
        order = await b.issue()
        headers = b.parties["de-bka"].headers
        # seq 3 is the Art. 4(1) host copy (R10), written with the order.
        async with b.client.ws_connect("/v1/feed?after=3", headers=headers) as ws:
            b.clock.advance(minutes=61)
            b.app[TIMERS].notify(None)  # the clock moved: re-arm (ManualClock says "due now")
            kinds = []
            while "deadline_missed" not in kinds:
                message = await ws.receive_json(timeout=10)
                kinds.append(message["event"]["kind"])
        assert kinds == ["deadline_warning", "deadline_warning", "deadline_missed"]
        assert (await b.order(order["order_id"], party="de-bka"))["state"] == "overdue"
