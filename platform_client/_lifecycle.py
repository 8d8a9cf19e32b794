"""Platform SDK methods for the TCO procedures of issue 3: lifecycle.

For the HSP: scrutiny requests (Art. 4(4)), reinstatement (Art. 4(7)), the
purge of preserved content (Art. 6), information to the content provider and
complaint outcomes (Art. 10-11), exposure reports and review requests (Art. 5).
A content provider uses :class:`~platform_client.ContentProviderClient`, with
the same methods plus :meth:`complain`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from perci_schemas.client_support import (
    Accepted,
    BrokerClient,
    ErrorTypes,
    Receipt,
    format_time,
)
from platform_client.errors import ERROR_TYPES

__all__ = ["ContentProviderClient", "LifecyclePlatformMethods"]


class LifecyclePlatformMethods(BrokerClient):
    """Mixed into the platform client; see the client's docstring."""

    async def lifecycle(self, order_id: str) -> dict[str, Any]:
        """The order's lifecycle record and obligations (``GET .../lifecycle``)."""
        body: dict[str, Any] = await self._request("GET", f"/v1/orders/{order_id}/lifecycle")
        return body

    async def request_scrutiny(self, order_id: str, reasons: str) -> Accepted:
        """Art. 4(4): ask the host authority to scrutinise (within 48 hours)."""
        return await self._submit_for_order(
            order_id, "scrutiny-request", "scrutiny_request", {"reasons": reasons}
        )

    async def reinstate(
        self, order_id: str, explanation: str | None = None, at: datetime | None = None
    ) -> Accepted:
        """Art. 4(7): the content is online again (after an infringement or annulment)."""
        document: dict[str, Any] = {"reinstated_at": format_time(at or await self.broker_now())}
        if explanation:
            document["explanation"] = explanation
        return await self._submit_for_order(order_id, "reinstatement", "reinstatement", document)

    async def purge_content(self, order_id: str, at: datetime | None = None) -> Accepted:
        """Art. 6: record the deletion of preserved content (before the end: breach_6)."""
        document = {"purged_at": format_time(at or await self.broker_now())}
        return await self._submit_for_order(order_id, "content-purged", "content_purged", document)

    async def inform_content_provider(
        self, order_id: str, content_provider_id: str, information: str, *, copy: bool = False
    ) -> Accepted:
        """Art. 11: inform the content provider (refused during non-disclosure)."""
        document = {
            "content_provider_id": content_provider_id,
            "information": information,
            "copy_of_order": copy,
        }
        return await self._submit_for_order(
            order_id, "content-provider-information", "content_provider_information", document
        )

    async def complaint_outcome(
        self, order_id: str, *, upheld: bool, reinstated: bool, reasons: str | None = None
    ) -> Accepted:
        """Art. 10(2): decide on the oldest open complaint (reasons when rejected)."""
        document: dict[str, Any] = {
            "outcome": "upheld" if upheld else "rejected",
            "reinstated": reinstated,
        }
        if reasons:
            document["reasons"] = reasons
        return await self._submit_for_order(
            order_id, "complaint-outcome", "complaint_outcome", document
        )

    async def complain(self, order_id: str, grounds: str) -> Accepted:
        """Art. 10(1), content providers: complain about the removal to the HSP."""
        return await self._submit_for_order(
            order_id, "complaint", "complaint", {"grounds": grounds}
        )

    async def exposure_report(self, decision_id: str, measures: str) -> Receipt:
        """Art. 5(5): report the specific measures taken under an exposure decision."""
        _, receipt, _ = await self._submit(
            f"/v1/exposure-decisions/{decision_id}/report",
            "exposure_report",
            {"decision_id": decision_id, "measures": measures},
        )
        return receipt

    async def review_request(self, decision_id: str, grounds: str) -> Receipt:
        """Art. 5(7): ask the deciding authority to review its exposure decision."""
        _, receipt, _ = await self._submit(
            f"/v1/exposure-decisions/{decision_id}/review-request",
            "review_request",
            {"decision_id": decision_id, "grounds": grounds},
        )
        return receipt


class ContentProviderClient(LifecyclePlatformMethods, BrokerClient):
    """Async client for a content provider (TCO Art. 4(4), 10, 11).

    Once the HSP has informed it (Art. 11), a content provider can read the
    order's events it was shown, :meth:`request_scrutiny` within 48 hours (for a
    cross-border order) and :meth:`complain` (Art. 10).
    """

    role: ClassVar[str] = "content_provider"
    errors: ClassVar[ErrorTypes] = ERROR_TYPES
