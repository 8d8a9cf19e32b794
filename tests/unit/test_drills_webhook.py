"""The simulated HSP's webhook receiver: verifies each body, answers 200, hands each
``seq`` on once; refuses what does not verify (docs/DRILLS.md, "Channels")."""

from __future__ import annotations

from typing import Any, cast

import aiohttp

from perci_schemas.client_errors import ClientError
from perci_schemas.client_views import EventView
from perci_sim.drills.webhook_receiver import WebhookReceiver


class _Client:
    """Stands in for PlatformClient.verify_event: a token "seq:N" verifies, others do not."""

    async def verify_event(self, token: str) -> EventView:
        if not token.startswith("seq:"):
            raise ClientError("the event's signature does not verify")
        return cast(EventView, {"seq": int(token[4:]), "kind": "order_delivered"})


async def test_verified_once_per_seq_and_bad_bodies_refused() -> None:
    """Retries and duplicates are answered 200 but handled once; a bad body gets 400."""
    seen: list[int] = []
    problems: list[str] = []
    receiver = WebhookReceiver(
        cast(Any, _Client()), on_event=lambda e: seen.append(e["seq"]), on_error=problems.append
    )
    url = await receiver.start()
    assert url.startswith("http://127.0.0.1:")
    try:
        async with aiohttp.ClientSession() as session:
            statuses = []
            for body in ({"jws": "seq:2"}, {"jws": "seq:1"}, {"jws": "seq:2"}, {"jws": "forged"}):
                async with session.post(url, json=body) as response:
                    statuses.append(response.status)
            async with session.post(url, data=b"not json") as response:
                statuses.append(response.status)
    finally:
        await receiver.stop()
    assert statuses == [200, 200, 200, 400, 400]
    assert seen == [2, 1]  # out of order is fine; the duplicate is dropped
    assert len(problems) == 2
    assert receiver.received == 3
    assert receiver.rejected == 2
