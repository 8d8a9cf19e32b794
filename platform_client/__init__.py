"""SDK for hosting service providers on the perci-sim removal-order exchange (TCO Art. 3).

An HSP receives orders at its Art. 15 contact point (feed, inbox or webhook),
verifies each order's signature with the issuing authority's registered key,
acknowledges it, removes or disables the content within one hour of the
broker-recorded receipt, and answers with a signed Annex II (feedback) or
Annex III (impossibility).  Every broker receipt is verified before it is
returned.  The CLI is ``perci-platform``; ``perci-platform run`` is the daemon
(:func:`run_daemon`, handler contract in :mod:`platform_client.handler`).

Example::

    import asyncio
    from platform_client import PlatformClient

    async def main() -> None:
        async with PlatformClient.from_credentials("videohost.json") as client:
            for view in await client.inbox():
                order = await client.verify_order(view)
                await client.acknowledge(order.order_id, order_sha256=order.sha256)
                ...  # take down order.urls
                accepted = await client.send_feedback(order.order_id, "removed", order=order)
                print(accepted.order["state"], accepted.receipt.received_at)

    asyncio.run(main())
"""

from __future__ import annotations

from perci_schemas.client_support import (
    Accepted,
    BrokerClock,
    EventPage,
    EventView,
    OrderView,
    ParticipantView,
    Receipt,
)
from platform_client._lifecycle import ContentProviderClient
from platform_client.annexes import (
    IMPOSSIBILITY_REASONS,
    MEASURES,
    build_feedback,
    build_impossibility,
)
from platform_client.client import PlatformClient, VerifiedOrder
from platform_client.daemon import run_daemon
from platform_client.errors import (
    BrokerUnavailable,
    OrderInvalid,
    PlatformClientError,
    ProblemError,
    ReceiptInvalid,
)
from platform_client.handler import (
    ForceMajeure,
    Handler,
    InsufficientInformation,
    ManifestError,
    Removal,
)

__all__ = [
    "IMPOSSIBILITY_REASONS",
    "MEASURES",
    "Accepted",
    "BrokerClock",
    "BrokerUnavailable",
    "ContentProviderClient",
    "EventPage",
    "EventView",
    "ForceMajeure",
    "Handler",
    "InsufficientInformation",
    "ManifestError",
    "OrderInvalid",
    "OrderView",
    "ParticipantView",
    "PlatformClient",
    "PlatformClientError",
    "ProblemError",
    "Receipt",
    "ReceiptInvalid",
    "Removal",
    "VerifiedOrder",
    "build_feedback",
    "build_impossibility",
    "run_daemon",
]
