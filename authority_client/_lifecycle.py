"""Authority SDK methods for the TCO procedures of issue 3: lifecycle.

Host-Member-State scrutiny (Art. 4(3)-(6)), finality (Art. 3(9)), preservation
(Art. 6(2)), non-disclosure (Art. 11(3)), exposure decisions and reviews (Art.
5(4), 5(7)) and court annulments (Art. 9).  The broker decides who may send what:
a court uses :class:`~authority_client.CourtClient`, which has the same methods.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from authority_client.errors import ERROR_TYPES
from perci_schemas.client_support import (
    Accepted,
    BrokerClient,
    ErrorTypes,
    Receipt,
    format_time,
)

__all__ = ["CourtClient", "LifecycleAuthorityMethods"]


class LifecycleAuthorityMethods(BrokerClient):
    """Mixed into the authority client; see the client's docstring."""

    async def lifecycle(self, order_id: str) -> dict[str, Any]:
        """The order's lifecycle record and obligations (``GET .../lifecycle``)."""
        body: dict[str, Any] = await self._request("GET", f"/v1/orders/{order_id}/lifecycle")
        return body

    async def scrutiny_prenotice(self, order_id: str, reasons: str) -> Accepted:
        """Art. 4(5): tell the issuing authority that an infringement decision is intended."""
        return await self._submit_for_order(
            order_id,
            "scrutiny-prenotice",
            "scrutiny_prenotice",
            {"intention": "infringement", "reasons": reasons},
        )

    async def scrutiny_decision(
        self, order_id: str, *, infringement: bool, reasons: str, initiative: str = "own"
    ) -> Accepted:
        """Art. 4(3)/(4): decide; ``initiative`` is ``own`` (72 h of the copy) or ``request``."""
        document = {
            "outcome": "infringement" if infringement else "no_infringement",
            "initiative": initiative,
            "reasons": reasons,
        }
        return await self._submit_for_order(
            order_id, "scrutiny-decision", "scrutiny_decision", document
        )

    async def appeal_notice(self, order_id: str, kind: str, details: str | None = None) -> Accepted:
        """Art. 3(9): ``appeal_lodged`` (no finality by lapse) or ``confirmed`` (final now)."""
        document: dict[str, Any] = {"kind": kind}
        if details:
            document["details"] = details
        return await self._submit_for_order(order_id, "appeal-notice", "appeal_notice", document)

    async def finality_notice(self, order_id: str, note: str | None = None) -> Accepted:
        """Art. 3(9): inform the host Member State's authority that the order is final."""
        document = {"note": note} if note else {}
        return await self._submit_for_order(
            order_id, "finality-notice", "finality_notice", document
        )

    async def extend_preservation(
        self, order_id: str, preserve_until: datetime, reason: str
    ) -> Accepted:
        """Art. 6(2): keep the removed content and data longer, with a reason."""
        return await self._submit_for_order(
            order_id,
            "preservation-extension",
            "preservation_extension",
            {"preserve_until": format_time(preserve_until), "reason": reason},
        )

    async def extend_nondisclosure(
        self, order_id: str, nondisclosure_until: datetime, reason: str
    ) -> Accepted:
        """Art. 11(3): one extension of at most six weeks, before the expiry."""
        return await self._submit_for_order(
            order_id,
            "nondisclosure-extension",
            "nondisclosure_extension",
            {"nondisclosure_until": format_time(nondisclosure_until), "reason": reason},
        )

    async def annul(
        self, order_id: str, *, court: str, judgment_reference: str, target: str = "order"
    ) -> Accepted:
        """Art. 9: record a court's annulment; the order ceases to have legal effect."""
        document = {"target": target, "court": court, "judgment_reference": judgment_reference}
        return await self._submit_for_order(
            order_id, "court-annulment", "court_annulment", document
        )

    async def exposure_decision(
        self, hsp_id: str, reasons: str, factors: str | None = None
    ) -> Receipt:
        """Art. 5(4): decide that ``hsp_id`` is exposed; the receipt's event_id names it."""
        document: dict[str, Any] = {"hsp_id": hsp_id, "reasons": reasons}
        if factors:
            document["factors"] = factors
        _, receipt, _ = await self._submit("/v1/exposure-decisions", "exposure_decision", document)
        return receipt

    async def review_decision(self, decision_id: str, outcome: str, reasons: str) -> Receipt:
        """Art. 5(7): answer the HSP's review request (``upheld``/``amended``/``revoked``)."""
        _, receipt, _ = await self._submit(
            f"/v1/exposure-decisions/{decision_id}/review-decision",
            "review_decision",
            {"decision_id": decision_id, "outcome": outcome, "reasons": reasons},
        )
        return receipt


class CourtClient(LifecycleAuthorityMethods, BrokerClient):
    """Async client for a court (TCO Art. 9): :meth:`annul`, :meth:`appeal_notice`,
    :meth:`extend_preservation` (Art. 6(2)) on the orders of its Member State."""

    role: ClassVar[str] = "court"
    errors: ClassVar[ErrorTypes] = ERROR_TYPES
