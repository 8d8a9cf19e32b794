"""SDK for competent authorities on the perci-sim removal-order exchange (TCO Art. 3).

An authority signs its documents (Annex I orders, advance information,
clarifications, withdrawals) with its registered key; the broker answers each
with a signed receipt that the SDK verifies before returning it.  The CLI is
``perci-authority``.

Example::

    import asyncio
    from authority_client import AuthorityClient

    async def main() -> None:
        async with AuthorityClient.from_credentials("de-bka.json") as client:
            order = await client.prepare_order(
                hsp_id="videohost",
                urls=["https://videohost.example/v/123"],
                reasons=["a"],
                details="Video glorifying an attack and calling for more.",
            )
            issued = await client.issue_order(order)
            print(issued.order["order_id"], issued.receipt.received_at)
            async for event in client.watch():
                print(event["kind"], event["order_id"])

    asyncio.run(main())
"""

from __future__ import annotations

from authority_client._lifecycle import CourtClient
from authority_client.annex import LEGAL_BASIS, REASONS, build_removal_order
from authority_client.client import AuthorityClient, IssuedOrder
from authority_client.errors import (
    AuthorityClientError,
    BrokerUnavailable,
    ProblemError,
    ReceiptInvalid,
)
from perci_schemas.client_support import (
    Accepted,
    BrokerClock,
    EventPage,
    EventView,
    OrderView,
    ParticipantView,
    Receipt,
)

__all__ = [
    "LEGAL_BASIS",
    "REASONS",
    "Accepted",
    "AuthorityClient",
    "AuthorityClientError",
    "BrokerClock",
    "BrokerUnavailable",
    "CourtClient",
    "EventPage",
    "EventView",
    "IssuedOrder",
    "OrderView",
    "ParticipantView",
    "ProblemError",
    "Receipt",
    "ReceiptInvalid",
    "build_removal_order",
]
