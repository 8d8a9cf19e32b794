"""Authority SDK methods for TCO Art. 14 cooperation: referrals, holds, Art. 14(5) reports.

Europol uses this SDK too (credentials of role ``europol``): it may refer content,
place deconfliction holds and receive imminent-threat reports (Art. 14(1), 14(5)).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, cast

from perci_schemas.client_cooperation import (
    BATCH_MAX_BYTES,
    BATCH_MAX_ITEMS,
    REFERRAL_NATURE,
    CooperationAccepted,
    CooperationReads,
    HoldView,
)
from perci_schemas.client_support import ClientError, ContactPoint

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
        document = self._referral_document(
            hsp_id,
            urls,
            details,
            reference=reference,
            reasons=reasons,
            terms_of_service_reference=terms_of_service_reference,
            contact_point=contact_point,
        )
        return await self._submit_cooperation("/v1/referrals", "referral", "referral", document)

    async def send_referral_batch(
        self,
        referrals: Sequence[Mapping[str, Any]],
        *,
        batch_size: int = BATCH_MAX_ITEMS,
        max_batch_bytes: int = BATCH_MAX_BYTES,
    ) -> list[CooperationAccepted | ClientError]:
        """Send many referrals (a Referral Action Day), each its own signed document.

        Each mapping holds :meth:`send_referral`'s parameters by name: ``hsp_id``,
        ``urls``, ``details`` and optionally ``reference``, ``reasons``,
        ``terms_of_service_reference``, ``contact_point``.  The documents are built
        and signed exactly as :meth:`send_referral` does, and POSTed to
        ``/v1/referrals/batch`` in chunks of at most ``batch_size`` (500) documents
        and ``max_batch_bytes`` of JWS.  Returns one result per mapping, in order: a
        :class:`CooperationAccepted` with the verified receipt (an item the broker
        already had is answered with its original receipt), or the
        :class:`~authority_client.errors.ProblemError` refusing that item (e.g.
        ``deconfliction_hold``, ``unknown_addressee``).  A connection failure resends
        the same documents; when a request fails as a whole, its items and every later
        one carry that error.

        Raises:
            TypeError: a mapping lacks a required key or has an unknown one (before
                anything is sent).
        """
        documents = [self._referral_document(**dict(referral)) for referral in referrals]
        return await self._submit_cooperation_batch(
            "/v1/referrals/batch",
            "referral",
            "referral",
            documents,
            batch_size=batch_size,
            max_batch_bytes=max_batch_bytes,
        )

    def _referral_document(
        self,
        hsp_id: str,
        urls: Sequence[str] | Sequence[Mapping[str, Any]],
        details: str,
        *,
        reference: str | None = None,
        reasons: Sequence[str] | None = None,
        terms_of_service_reference: str | None = None,
        contact_point: ContactPoint | None = None,
    ) -> dict[str, Any]:
        """The unsigned ``referral`` document of :meth:`send_referral`."""
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
        return document

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
