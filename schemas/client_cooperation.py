"""Client-side TCO Art. 14 cooperation shared by both SDKs: views and read methods.

Referrals (R20), deconfliction holds (R19) and imminent-threat reports (R21,
Art. 14(5)) as docs/API.md "Cooperation (Art. 14)" describes them.  The writing
methods live in each SDK's ``_cooperation`` mixin (authority/Europol vs. HSP);
the reads both sides need are here, once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypedDict, cast

from perci_schemas.client_support import BrokerClient, EventView, Receipt

__all__ = [
    "REFERRAL_NATURE",
    "CooperationAccepted",
    "CooperationReads",
    "HoldView",
    "ReferralView",
    "ThreatRecipient",
    "ThreatReportView",
]

#: R20: what every referral asks for (its ``nature`` member).
REFERRAL_NATURE = "voluntary consideration against terms of service"


class ReferralView(TypedDict):
    """The broker's view of a referral (R20: voluntary, never a deadline)."""

    referral_id: str
    reference_number: str
    sender_id: str
    member_state: str
    hsp_id: str
    state: str
    voluntary: bool
    nature: str
    deadline_at: None
    urls: list[str]
    flags: list[str]
    received_at: str
    outcome: str | None
    outcome_reason: str | None
    outcome_at: str | None
    updated_at: str
    document: str


class HoldView(TypedDict):
    """A deconfliction hold, as its holder sees it (R19)."""

    hold_id: str
    holder_id: str
    member_state: str
    urls: list[str]
    contact_point: str
    state: str
    placed_at: str
    lifted_at: str | None
    document: str


class ThreatRecipient(TypedDict):
    """The delivery record of an Art. 14(5) report for one recipient."""

    participant_id: str
    member_state: str
    reason: str
    delivered_at: str
    delivery_seq: int
    acknowledged_at: str | None
    acknowledgement_seq: int | None


class ThreatReportView(TypedDict):
    """An Art. 14(5) report with its per-recipient delivery records (R21)."""

    report_id: str
    hsp_id: str
    member_states: list[str]
    unreachable_member_states: list[str]
    received_at: str
    recipients: list[ThreatRecipient]
    document: str


@dataclass(frozen=True, slots=True, kw_only=True)
class CooperationAccepted:
    """The broker accepted a cooperation document: the item's view now, and the receipt.

    ``item`` is a :class:`ReferralView`, :class:`HoldView` or :class:`ThreatReportView`.
    """

    item: dict[str, Any]
    receipt: Receipt


class CooperationReads(BrokerClient):
    """Reads of referrals and imminent-threat reports, for both SDKs."""

    async def referrals(self, state: str | None = None) -> list[ReferralView]:
        """Referrals this participant sent (authority, Europol) or received (HSP), newest first.

        ``state``: ``open`` (no outcome yet) or ``answered``.
        """
        body = await self._request("GET", "/v1/referrals", params={"state": state})
        return cast(list[ReferralView], body["referrals"])

    async def get_referral(self, referral_id: str) -> ReferralView:
        """One referral this participant sent or received."""
        return cast(ReferralView, await self._request("GET", f"/v1/referrals/{referral_id}"))

    async def referral_history(self, referral_id: str) -> list[EventView]:
        """The referral's events this participant may see (flags, notices, outcome)."""
        body = await self._request("GET", f"/v1/referrals/{referral_id}/history")
        return cast(list[EventView], body["events"])

    async def imminent_threats(self) -> list[ThreatReportView]:
        """Art. 14(5) reports sent (HSP) or received (authority, Europol), newest first."""
        body = await self._request("GET", "/v1/imminent-threats")
        return cast(list[ThreatReportView], body["reports"])

    async def get_imminent_threat(self, report_id: str) -> ThreatReportView:
        """One report, with its per-recipient delivery and acknowledgement records."""
        view = await self._request("GET", f"/v1/imminent-threats/{report_id}")
        return cast(ThreatReportView, view)

    async def imminent_threat_history(self, report_id: str) -> list[EventView]:
        """The report's events this participant may see."""
        body = await self._request("GET", f"/v1/imminent-threats/{report_id}/history")
        return cast(list[EventView], body["events"])

    async def _submit_cooperation(
        self, path: str, message_type: str, member: str, document: dict[str, Any]
    ) -> CooperationAccepted:
        body, receipt, _ = await self._submit(path, message_type, document)
        return CooperationAccepted(item=dict(body[member]), receipt=receipt)
