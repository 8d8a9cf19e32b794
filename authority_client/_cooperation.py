"""Authority SDK methods for TCO Art. 14 cooperation: referrals, holds, Art. 14(5) reports.

Europol uses this SDK too (credentials of role ``europol``): it may refer content,
place deconfliction holds and receive imminent-threat reports (Art. 14(1), 14(5)).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, cast

from perci_schemas.client_cooperation import (
    REFERRAL_NATURE,
    CooperationAccepted,
    CooperationReads,
    HoldView,
)
from perci_schemas.client_support import ContactPoint

__all__ = ["CooperationAuthorityMethods"]


class CooperationAuthorityMethods(CooperationReads):
    """Mixed into the authority client; see the client's docstring."""

    #: Europol sends referrals and holds and receives Art. 14(5) reports with this SDK.
    extra_roles: ClassVar[tuple[str, ...]] = ("europol",)

    async def send_referral(
        self,
        hsp_id: str,
        urls: Sequence[str] | Sequence[Mapping[str, Any]],
        details: str,
        *,
        reference: str | None = None,
        reasons: Sequence[str] | None = None,
        terms_of_service_reference: str | None = None,
        contact_point: ContactPoint | None = None,
    ) -> CooperationAccepted:
        """Refer content to an HSP for voluntary consideration against its terms (R20).

        No order, no clock, no deadline: the HSP may answer with an outcome.  The
        answer's ``item`` (a ReferralView) carries ``flags``: ``deconfliction_coordinate``
        when another Member State has an active item for a URL, ``duplicate_url`` when
        the HSP already has an order for it (R19).  A URL under another authority's
        hold is refused with the problem ``deconfliction_hold`` (409).
        """
        content = [dict(u) if isinstance(u, Mapping) else {"url": str(u)} for u in urls]
        document: dict[str, Any] = {
            "recipient": hsp_id,
            "reference_number": reference
            or f"REF-{self.participant_id}-{uuid.uuid4().hex[:8].upper()}",
            "nature": REFERRAL_NATURE,
            "content": content,
            "reasons_details": details,
        }
        if reasons:
            document["reasons"] = list(reasons)
        if terms_of_service_reference:
            document["terms_of_service_reference"] = terms_of_service_reference
        if contact_point is not None:
            document["contact_point"] = contact_point
        return await self._submit_cooperation("/v1/referrals", "referral", "referral", document)

    async def place_hold(
        self,
        urls: Sequence[str],
        reason: str,
        *,
        contact_point: str | None = None,
        reference: str | None = None,
    ) -> CooperationAccepted:
        """Place a deconfliction hold (R19, Art. 14(1)): others' orders/referrals are refused.

        ``reason`` stays with the broker and this authority; others are only told whom
        to contact (``contact_point``, default: the directory's).  The answer's ``item``
        is a HoldView; its ``hold_id`` lifts it with :meth:`lift_hold`.
        """
        document: dict[str, Any] = {"urls": list(urls), "reason": reason}
        if contact_point:
            document["contact_point"] = contact_point
        if reference:
            document["reference_number"] = reference
        return await self._submit_cooperation(
            "/v1/deconfliction-holds", "deconfliction_hold", "hold", document
        )

    async def lift_hold(self, hold_id: str, reason: str | None = None) -> CooperationAccepted:
        """Lift this authority's hold: orders and referrals for its URLs are accepted again."""
        document: dict[str, Any] = {"hold_id": hold_id}
        if reason:
            document["reason"] = reason
        return await self._submit_cooperation(
            f"/v1/deconfliction-holds/{hold_id}/lift", "hold_lifted", "hold", document
        )

    async def holds(self) -> list[HoldView]:
        """This authority's holds, newest first."""
        body = await self._request("GET", "/v1/deconfliction-holds")
        return cast(list[HoldView], body["holds"])

    async def acknowledge_imminent_threat(
        self, report_id: str, note: str | None = None
    ) -> CooperationAccepted:
        """Confirm receipt of an Art. 14(5) report; the reporting HSP sees it (R21)."""
        document: dict[str, Any] = {"report_id": report_id}
        if note:
            document["note"] = note
        return await self._submit_cooperation(
            f"/v1/imminent-threats/{report_id}/acknowledgement",
            "imminent_threat_acknowledgement",
            "report",
            document,
        )
