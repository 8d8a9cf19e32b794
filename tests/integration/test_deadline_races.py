"""One state machine decides every race between a receipt and a deadline (DESIGN).

The wake-up that fires a deadline can run late (a busy broker, a fast drill
clock, a restart). A document that arrives after the deadline but before the
wake-up must still meet an order that has missed it: TCO Art. 3(3), R8.
"""

from __future__ import annotations

from typing import Any


def _kinds(history: list[dict[str, Any]]) -> list[str]:
    return [event["kind"] for event in history]


async def test_annex_ii_after_an_unfired_deadline_records_the_breach_first(broker: Any) -> None:
    """R8: no Annex II by the deadline is a breach of Art. 3(3), however late the wake-up."""
    b = await broker()
    order = await b.issue()
    b.clock.advance(minutes=61)  # the deadline passed; the wake-up has not run yet
    reply = await b.post_document(
        f"/v1/orders/{order['order_id']}/feedback", party="hsp-alpha", document=b.feedback(order)
    )
    assert reply.status == 201, reply.body
    assert reply.body["order"]["state"] == "executed_late"
    kinds = _kinds(await b.history(order["order_id"], party="de-bka"))
    assert kinds[-2:] == ["deadline_missed", "feedback_received"]
    missed = (await b.history(order["order_id"], party="de-bka"))[-2]
    assert missed["data"]["breach"] == "breach_3_3"
    # When the wake-up finally runs, nothing is fired twice.
    await b.fire_due()
    assert _kinds(await b.history(order["order_id"], party="de-bka")) == kinds


async def test_withdrawal_after_an_unfired_deadline(broker: Any) -> None:
    """The breach stands even if the authority withdraws the order afterwards."""
    b = await broker()
    order = await b.issue()
    b.clock.advance(minutes=75)
    reply = await b.post_document(
        f"/v1/orders/{order['order_id']}/withdrawal", party="de-bka", document=b.withdrawal(order)
    )
    assert reply.status == 201, reply.body
    kinds = _kinds(await b.history(order["order_id"], party="de-bka"))
    assert kinds[-2:] == ["deadline_missed", "withdrawal_received"]


async def test_annex_ii_before_the_deadline_is_not_a_breach(broker: Any) -> None:
    """The catch-up fires only what is due: an answer in time records no breach."""
    b = await broker()
    order = await b.issue()
    b.clock.advance(minutes=59)
    reply = await b.post_document(
        f"/v1/orders/{order['order_id']}/feedback", party="hsp-alpha", document=b.feedback(order)
    )
    assert reply.body["order"]["state"] == "executed"
    assert "deadline_missed" not in _kinds(await b.history(order["order_id"], party="de-bka"))
