"""Platform SDK methods for TCO Art. 14 cooperation: referral outcomes, Art. 14(5) reports."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from perci_schemas.client_cooperation import (
    BATCH_MAX_BYTES,
    BATCH_MAX_ITEMS,
    CooperationAccepted,
    CooperationReads,
)
from perci_schemas.client_support import ClientError, format_time

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
        document = self._referral_outcome_document(
            referral_id, outcome, reason=reason, measure_at=measure_at
        )
        return await self._submit_cooperation(
            f"/v1/referrals/{referral_id}/outcome", "referral_outcome", "referral", document
        )

    async def answer_referral_batch(
        self,
        answers: Sequence[Mapping[str, Any]],
        *,
        batch_size: int = BATCH_MAX_ITEMS,
        max_batch_bytes: int = BATCH_MAX_BYTES,
    ) -> list[CooperationAccepted | ClientError]:
        """Answer many referrals, each with its own signed ``referral_outcome``.

        Each mapping holds :meth:`answer_referral`'s parameters by name:
        ``referral_id``, ``outcome`` and optionally ``reason``, ``measure_at`` (a
        datetime).  The documents are built and signed as :meth:`answer_referral`
        does and POSTed to ``/v1/referral-outcomes/batch`` in chunks of at most
        ``batch_size`` (500).  Returns one result per mapping, in order: a
        :class:`CooperationAccepted` with the verified receipt (a resent answer gets
        its original receipt), or the :class:`~platform_client.errors.ProblemError`
        refusing that item (``not_found``, ``illegal_transition`` for a second
        answer, ``schema_violation``).  When a request fails as a whole, its items
        and every later one carry that error.

        Raises:
            TypeError: a mapping lacks a required key or has an unknown one (before
                anything is sent).
        """
        documents = [self._referral_outcome_document(**dict(answer)) for answer in answers]
        return await self._submit_cooperation_batch(
            "/v1/referral-outcomes/batch",
            "referral_outcome",
            "referral",
            documents,
            batch_size=batch_size,
            max_batch_bytes=max_batch_bytes,
        )

    @staticmethod
    def _referral_outcome_document(
        referral_id: str,
        outcome: str,
        *,
        reason: str | None = None,
        measure_at: datetime | None = None,
    ) -> dict[str, Any]:
        """The unsigned ``referral_outcome`` document of :meth:`answer_referral`."""
        document: dict[str, Any] = {"referral_id": referral_id, "outcome": outcome}
        if reason:
            document["reason"] = reason
        if measure_at is not None:
            document["measure_at"] = format_time(measure_at)
        return document

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
