"""Platform SDK methods for TCO Art. 14 cooperation: referral outcomes, Art. 14(5) reports."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from perci_schemas.client_cooperation import CooperationAccepted, CooperationReads
from perci_schemas.client_support import format_time

__all__ = ["CooperationPlatformMethods"]


class CooperationPlatformMethods(CooperationReads):
    """Mixed into the platform client; see the client's docstring."""

    async def answer_referral(
        self,
        referral_id: str,
        outcome: str,
        *,
        reason: str | None = None,
        measure_at: datetime | None = None,
    ) -> CooperationAccepted:
        """Answer a referral once: ``removed`` or ``not_removed`` (then ``reason`` is required).

        A referral is voluntary consideration against the terms of service (R20):
        there is no deadline, and answering late or never is no breach.
        """
        document: dict[str, Any] = {"referral_id": referral_id, "outcome": outcome}
        if reason:
            document["reason"] = reason
        if measure_at is not None:
            document["measure_at"] = format_time(measure_at)
        return await self._submit_cooperation(
            f"/v1/referrals/{referral_id}/outcome", "referral_outcome", "referral", document
        )

    async def report_imminent_threat(
        self,
        urls: Sequence[str] | Sequence[Mapping[str, Any]],
        description: str,
        member_states: Sequence[str] = (),
        *,
        aware_since: datetime | None = None,
        reference: str | None = None,
        contact: Mapping[str, str] | None = None,
    ) -> CooperationAccepted:
        """Report content involving an imminent threat to life (Art. 14(5), R21), promptly.

        ``member_states``: the Member States concerned, if known.  When none is named,
        the broker notifies the authorities of this HSP's own Member State and Europol.
        The answer's ``item`` (a ThreatReportView) lists every recipient with its
        ``delivered_at``; ``acknowledged_at`` fills in as recipients confirm
        (:meth:`get_imminent_threat`, or ``imminent_threat_acknowledgement_received``
        events on the feed).
        """
        content = [dict(u) if isinstance(u, Mapping) else {"url": str(u)} for u in urls]
        document: dict[str, Any] = {
            "member_states": list(member_states),
            "content": content,
            "threat_description": description,
        }
        if aware_since is not None:
            document["aware_since"] = format_time(aware_since)
        if reference:
            document["hsp_reference"] = reference
        if contact:
            document["contact"] = dict(contact)
        return await self._submit_cooperation(
            "/v1/imminent-threats", "imminent_threat_report", "report", document
        )
