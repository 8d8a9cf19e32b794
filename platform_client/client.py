"""The platform SDK: receive, verify and answer removal orders as a hosting provider."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar, cast

from perci_schemas import jws
from perci_schemas.client_support import (
    Accepted,
    BrokerClient,
    ErrorTypes,
    EventView,
    OrderView,
    ParticipantView,
    format_time,
    parse_time,
)
from perci_schemas.keys import PublicKey, load_public
from platform_client._cooperation import CooperationPlatformMethods
from platform_client._lifecycle import LifecyclePlatformMethods
from platform_client.annexes import build_feedback, build_impossibility
from platform_client.errors import ERROR_TYPES, OrderInvalid, ProblemError

__all__ = ["PlatformClient", "VerifiedOrder"]


@dataclass(frozen=True, slots=True, kw_only=True)
class VerifiedOrder:
    """An order whose signature and addressee were checked by :meth:`PlatformClient.verify_order`.

    ``document`` is the Annex I payload as signed by the issuing authority;
    ``view`` is the broker's record (state, ``received_at``, deadline).
    ``clarification`` is the latest Art. 3(8) clarification, if the clock was
    restarted by one.
    """

    order_id: str
    view: OrderView
    document: dict[str, Any]
    kid: str
    sha256: str
    authority: ParticipantView
    clarification: dict[str, Any] | None = None

    @property
    def reference_number(self) -> str:
        """The issuing authority's reference number (Annex I section A)."""
        return str(self.document.get("section_a", {}).get("reference_number", ""))

    @property
    def content(self) -> list[dict[str, Any]]:
        """The content to act on: the clarification's amended list, else section B's."""
        if self.clarification and self.clarification.get("amended_content"):
            return list(self.clarification["amended_content"])
        return list(self.document.get("section_b", {}).get("content", []))

    @property
    def urls(self) -> list[str]:
        """The exact URLs of the content (Art. 3(4)(c))."""
        return [str(item["url"]) for item in self.content if "url" in item]

    @property
    def deadline_at(self) -> datetime | None:
        """The broker's one-hour deadline, if the clock runs (R3)."""
        deadline = self.view.get("deadline_at")
        return parse_time(deadline) if deadline else None


class PlatformClient(LifecyclePlatformMethods, CooperationPlatformMethods, BrokerClient):
    """Async client for a hosting service provider's Art. 15 contact point.

    Every document is signed with the HSP's key, and every broker receipt is
    verified against the broker's published keys and the hash of the document
    sent; a mismatch raises :class:`~platform_client.ReceiptInvalid`.

    Inherited from :class:`perci_schemas.client_support.BrokerClient`:
    ``from_credentials``, ``clock``, ``broker_now``, ``participants``,
    ``participant``, ``me``, ``get_order``, ``list_orders``, ``history``,
    ``events``, ``watch``, ``verify_receipt``, ``close``.
    """

    role: ClassVar[str] = "hsp"
    errors: ClassVar[ErrorTypes] = ERROR_TYPES

    async def inbox(self) -> list[OrderView]:
        """Return the open orders addressed to this HSP, oldest deadline first."""
        body = await self._request("GET", "/v1/inbox")
        return cast(list[OrderView], body["orders"])

    async def verify_order(self, order: OrderView) -> VerifiedOrder:
        """Verify an order's JWS with its issuer's registered key and check it is ours.

        Raises:
            OrderInvalid: bad signature, unknown or revoked key, signer other
                than the issuing authority, or an addressee other than us.
        """
        order_id = order["order_id"]
        authority, signed = await self._verify_by_issuer(order, order["document"], "removal_order")
        payload = signed.payload
        addressee = payload.get("section_a", {}).get("addressee", {}).get("hsp_id")
        if payload.get("sender") != order["authority_id"]:
            raise OrderInvalid(order_id, f"document sender is {payload.get('sender')!r}")
        if addressee != self.participant_id or order["hsp_id"] != self.participant_id:
            raise OrderInvalid(order_id, f"addressed to {addressee!r}, not {self.participant_id!r}")
        return VerifiedOrder(
            order_id=order_id,
            view=order,
            document=payload,
            kid=signed.kid,
            sha256=signed.sha256,
            authority=authority,
        )

    async def acknowledge(self, order_id: str, *, order_sha256: str | None = None) -> Accepted:
        """Acknowledge receipt of an order; the clock is unchanged.

        ``order_sha256`` (the hash of the order JWS as received) is read from
        the broker's view when not given.
        """
        if order_sha256 is None:
            order_sha256 = jws.document_hash((await self.get_order(order_id))["document"])
        return await self._submit_for_order(
            order_id, "acknowledgement", "acknowledgement", {"order_sha256": order_sha256}
        )

    async def send_feedback(
        self,
        order_id: str,
        measure: str = "removed",
        measure_at: datetime | None = None,
        *,
        order: VerifiedOrder | None = None,
        addressee_file_reference: str | None = None,
        reinstatable: bool | None = None,
    ) -> Accepted:
        """Send Annex II (Art. 3(6)): the content was removed or disabled at ``measure_at``.

        ``measure_at`` defaults to the broker's time now.  Section A's
        ``order_received_at`` is the broker's ``received_at`` for the order (R9).
        ``reinstatable=True`` says the removed content is kept restorable (TCO Art.
        4(2), R14); a hard removal of a cross-border order is flagged ``breach_4_2_risk``.
        """
        order = order or await self.verify_order(await self.get_order(order_id))
        now = await self.broker_now()
        document = build_feedback(
            order.view,
            order.document,
            issuer=order.authority["name"],
            hsp=await self.participant(self.participant_id),
            measure=measure,
            measure_at=measure_at or now,
            today=now,
            addressee_file_reference=addressee_file_reference,
            profile=self.profile,
            reinstatable=reinstatable,
        )
        return await self._submit_for_order(order_id, "feedback", "feedback", document)

    async def send_impossibility(
        self,
        order_id: str,
        reasons: Sequence[str],
        further_information: str,
        clarification_required: str | None = None,
        *,
        order: VerifiedOrder | None = None,
        addressee_file_reference: str | None = None,
    ) -> Accepted:
        """Send Annex III (Art. 3(7)/(8)): the order cannot be executed in time.

        ``force_majeure`` suspends the clock until :meth:`send_grounds_ceased`
        (R6); ``manifest_errors`` or ``insufficient_information`` suspend it
        until the authority's clarification (R7) and need ``clarification_required``.
        """
        if order is not None:
            view, payload, issuer = order.view, order.document, order.authority["name"]
        else:
            view = await self.get_order(order_id)
            try:
                order = await self.verify_order(view)
                payload, issuer = order.document, order.authority["name"]
            except OrderInvalid:
                # Art. 3(8): an order that does not check out is exactly what Annex III
                # reports; section A then rests on the broker's record alone.
                payload, issuer = {}, view["authority_id"]
        document = build_impossibility(
            view,
            payload,
            issuer=issuer,
            hsp=await self.participant(self.participant_id),
            reasons=reasons,
            further_information=further_information,
            clarification_required=clarification_required,
            signed_at=await self.broker_now(),
            addressee_file_reference=addressee_file_reference,
            profile=self.profile,
        )
        return await self._submit_for_order(order_id, "impossibility", "impossibility", document)

    async def send_grounds_ceased(
        self, order_id: str, explanation: str, ceased_at: datetime | None = None
    ) -> Accepted:
        """Report that the force majeure has ended (Art. 3(7)); a fresh hour starts (R6)."""
        ceased = ceased_at or await self.broker_now()
        document = {"ceased_at": format_time(ceased), "explanation": explanation}
        return await self._submit_for_order(order_id, "grounds-ceased", "grounds_ceased", document)

    async def set_webhook(self, url: str | None) -> ParticipantView:
        """Register (or with ``None`` remove) the URL the broker POSTs events to."""
        body = await self._request("PUT", "/v1/participants/me/webhook", payload={"url": url})
        return cast(ParticipantView, body)

    async def verify_event(self, token: str) -> EventView:
        """Verify a webhook body's broker-signed ``perci.event+jws`` and return the event."""
        signed = await self.verify_broker_document(token, expected_type="event")
        return cast(EventView, signed.payload)

    async def latest_clarification(self, order_id: str) -> dict[str, Any] | None:
        """Return the latest verified clarification of an order (Art. 3(8)), if any."""
        view = await self.get_order(order_id)
        for event in reversed(await self.history(order_id)):
            document = event.get("document")
            if event["kind"] == "clarification_received" and document:
                _, signed = await self._verify_by_issuer(view, document, "clarification")
                return signed.payload
        return None

    async def _verify_by_issuer(
        self, order: OrderView, token: str, expected_type: str
    ) -> tuple[ParticipantView, jws.SignedDocument]:
        """Verify ``token`` with a key registered to the order's issuing authority."""
        try:
            kid = jws.peek_header(token).get("kid")
        except jws.JWSError as exc:
            raise OrderInvalid(order["order_id"], exc.message) from exc
        authority, public = await self._authority_key(order, str(kid))
        try:
            signed = jws.verify(token, expected_type=expected_type, resolve_key=lambda _: public)
        except jws.JWSError as exc:
            raise OrderInvalid(order["order_id"], f"{expected_type}: {exc.message}") from exc
        return authority, signed

    async def _authority_key(self, order: OrderView, kid: str) -> tuple[ParticipantView, PublicKey]:
        order_id, issuer = order["order_id"], order["authority_id"]
        if kid.split("#", 1)[0] != issuer:
            raise OrderInvalid(order_id, f"signed by {kid!r}, not by {issuer!r}")
        try:
            authority = await self.participant(issuer)
            entry = _key_entry(authority, kid)
            if entry is None:  # a key registered since the directory was cached
                authority = await self.participant(issuer, refresh=True)
                entry = _key_entry(authority, kid)
        except ProblemError as exc:
            raise OrderInvalid(order_id, f"issuer {issuer!r} is not in the directory") from exc
        if entry is None:
            raise OrderInvalid(order_id, f"{kid!r} is not a registered key of {issuer!r}")
        revoked_at = entry.get("revoked_at")
        if entry.get("status") == "revoked" and (
            not revoked_at or parse_time(revoked_at) <= parse_time(order["received_at"])
        ):
            raise OrderInvalid(order_id, f"{kid!r} was revoked before the order was received")
        try:
            return authority, load_public(entry["jwk"])
        except (KeyError, TypeError, ValueError) as exc:
            raise OrderInvalid(order_id, f"{kid!r} has an unusable JWK") from exc


def _key_entry(participant: ParticipantView, kid: str) -> dict[str, Any] | None:
    for entry in participant.get("keys", []):
        if entry.get("kid") == kid:
            return dict(entry)
    return None
