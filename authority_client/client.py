"""The authority SDK: issue and follow removal orders through the broker."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, cast

from authority_client._cooperation import CooperationAuthorityMethods
from authority_client._lifecycle import LifecycleAuthorityMethods
from authority_client.annex import build_removal_order
from authority_client.errors import ERROR_TYPES
from perci_schemas.client_support import (
    Accepted,
    BrokerClient,
    ContactPoint,
    ErrorTypes,
    OrderView,
    Receipt,
)

__all__ = ["AuthorityClient", "IssuedOrder"]


@dataclass(frozen=True, slots=True, kw_only=True)
class IssuedOrder(Accepted):
    """An order the broker accepted: its view, the receipt and the document as signed."""

    document: dict[str, Any]


class AuthorityClient(LifecycleAuthorityMethods, CooperationAuthorityMethods, BrokerClient):
    """Async client for a competent authority (Art. 12(1)(a) TCO).

    Every document is signed with the authority's key, and every broker
    receipt is verified against the broker's published keys and the hash of
    the document sent; a mismatch raises :class:`~authority_client.ReceiptInvalid`.

    Inherited from :class:`perci_schemas.client_support.BrokerClient`:
    ``from_credentials``, ``clock``, ``broker_now``, ``participants``,
    ``participant``, ``me``, ``get_order``, ``list_orders``, ``history``,
    ``events``, ``watch``, ``verify_receipt``, ``close``.
    """

    role: ClassVar[str] = "authority"
    errors: ClassVar[ErrorTypes] = ERROR_TYPES

    async def issue_order(self, order: Mapping[str, Any]) -> IssuedOrder:
        """Sign and send an Annex I order; return the broker's view and receipt.

        ``message_type``, ``message_id`` (a UUID4), ``sender`` and ``sent_at``
        (broker time) are filled in when missing.  Resending an
        ``IssuedOrder.document`` is idempotent.
        """
        body, receipt, document = await self._submit("/v1/orders", "removal_order", order)
        return IssuedOrder(order=cast(OrderView, body["order"]), receipt=receipt, document=document)

    async def prepare_order(
        self,
        *,
        hsp_id: str,
        urls: Sequence[str],
        reasons: Sequence[str],
        details: str,
        reference: str | None = None,
        language: str | None = None,
        emergency_justification: str | None = None,
    ) -> dict[str, Any]:
        """Build a complete Annex I order for ``hsp_id`` from the directory (unsigned)."""
        authority = await self.participant(self.participant_id)
        hsp = await self.participant(hsp_id)
        return build_removal_order(
            authority=authority,
            hsp=hsp,
            urls=urls,
            reasons=reasons,
            details=details,
            issued_at=await self.broker_now(),
            reference=reference,
            language=language,
            emergency_justification=emergency_justification,
            profile=self.profile,
        )

    async def send_advance_information(
        self, recipient: str, procedures: str, deadlines: str, contact_point: ContactPoint
    ) -> Receipt:
        """Send the Art. 3(2) advance information on procedures and deadlines to an HSP.

        It must reach the HSP at least 12 hours before this authority's first
        non-emergency order to it (R4).
        """
        document = {
            "recipient": recipient,
            "procedures": procedures,
            "deadlines": deadlines,
            "contact_point": contact_point,
        }
        _, receipt, _ = await self._submit(
            "/v1/advance-information", "advance_information", document
        )
        return receipt

    async def clarify(
        self,
        order_id: str,
        text: str,
        amended_content: Sequence[Mapping[str, Any]] | None = None,
    ) -> Accepted:
        """Answer an Annex III request for clarification (Art. 3(8)); a fresh hour starts.

        ``amended_content`` replaces section B's content list
        (``[{"url": ..., "additional_information": ...}]``).
        """
        document: dict[str, Any] = {"clarification": text}
        if amended_content is not None:
            document["amended_content"] = [dict(item) for item in amended_content]
        return await self._submit_for_order(order_id, "clarification", "clarification", document)

    async def withdraw(self, order_id: str, reason: str) -> Accepted:
        """Withdraw an open order."""
        return await self._submit_for_order(
            order_id, "withdrawal", "withdrawal", {"reason": reason}
        )
