"""Client-side TCO Art. 14 cooperation shared by both SDKs: views and read methods.

Referrals (R20), deconfliction holds (R19) and imminent-threat reports (R21,
Art. 14(5)) as docs/API.md "Cooperation (Art. 14)" describes them.  The writing
methods live in each SDK's ``_cooperation`` mixin (authority/Europol vs. HSP);
the reads both sides need are here, once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypedDict, cast

from perci_schemas.client_support import (
    BrokerClient,
    BrokerUnavailableBase,
    ClientError,
    EventView,
    ProblemBase,
    Receipt,
)

__all__ = [
    "BATCH_MAX_BYTES",
    "BATCH_MAX_ITEMS",
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
#: The most documents the broker takes in one batch request (docs/API.md).
BATCH_MAX_ITEMS = 500
#: The batch body size the SDK stays under: the broker takes batch bodies up to 1 MiB
#: by default (``max_batch_body_bytes``; 256 KiB on every other route) and refuses a
#: larger one (``payload_too_large``); a refused batch is split in halves and resent.
BATCH_MAX_BYTES = 1_000_000


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

    async def _submit_cooperation_batch(
        self,
        path: str,
        message_type: str,
        member: str,
        documents: Sequence[Mapping[str, Any]],
        *,
        batch_size: int = BATCH_MAX_ITEMS,
        max_batch_bytes: int = BATCH_MAX_BYTES,
    ) -> list[CooperationAccepted | ClientError]:
        """Sign each document as :meth:`_submit` would, POST them in batches, answer each.

        Every document is signed before the first request.  Chunks hold at most
        ``batch_size`` documents and ``max_batch_bytes`` of JWS; a chunk the broker
        refuses as too large (413) is split in halves.  A connection failure resends
        the *same* documents, which the broker answers with their original receipts.
        An item's result is its :class:`CooperationAccepted` (receipt verified) or the
        SDK's error for it: the item's problem, an invalid receipt, or, when a whole
        request failed, that request's error (then every later item carries it too,
        unsent).
        """
        if not 1 <= batch_size <= BATCH_MAX_ITEMS:
            raise ValueError(f"batch_size must be 1 to {BATCH_MAX_ITEMS}, got {batch_size}")
        signed = [await self._sign(message_type, document) for document in documents]
        results: list[CooperationAccepted | ClientError | None] = [None] * len(signed)
        pending = _chunks([len(token) for token, _ in signed], batch_size, max_batch_bytes)
        while pending:
            chunk = pending.pop(0)
            try:
                body = await self._post_batch(path, [signed[i][0] for i in chunk])
            except ProblemBase as exc:
                if exc.status == 413 and len(chunk) > 1:
                    half = len(chunk) // 2
                    pending[:0] = [chunk[:half], chunk[half:]]
                    continue
                if exc.status == 413:  # one document alone is too large: its own refusal
                    results[chunk[0]] = exc
                    continue
                _fail(results, exc)
                break
            except BrokerUnavailableBase as exc:
                _fail(results, exc)
                break
            answers = body.get("results") if isinstance(body, dict) else None
            for position, index in enumerate(chunk):
                answer = answers[position] if isinstance(answers, list) else None
                token, document = signed[index]
                results[index] = await self._batch_item(answer, position, member, token, document)
        return [r for r in results if r is not None]

    async def _post_batch(self, path: str, tokens: list[str]) -> Any:
        for attempt in range(self._retries + 1):
            try:
                return await self._request("POST", path, payload={"documents": tokens})
            except BrokerUnavailableBase:
                if attempt == self._retries:
                    raise
                await asyncio.sleep(0.5 * 2**attempt)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _batch_item(
        self, answer: Any, position: int, member: str, token: str, document: Mapping[str, Any]
    ) -> CooperationAccepted | ClientError:
        """One item of a batch answer: verify its receipt, or turn its problem into an error."""
        if not isinstance(answer, dict) or answer.get("index") != position:
            return self.errors.problem(
                502, "invalid_response", "Invalid response", f"no result for item {position}"
            )
        problem = answer.get("problem")
        if isinstance(problem, dict):
            errors = problem.get("errors")
            status = problem.get("status", answer.get("status"))
            return self.errors.problem(
                status if isinstance(status, int) else 400,
                str(problem.get("code", "problem")),
                str(problem.get("title", "Refused")),
                problem.get("detail"),
                [e for e in errors if isinstance(e, dict)] if isinstance(errors, list) else (),
                problem,
            )
        try:
            receipt = await self.verify_receipt(str(answer.get("receipt", "")), token)
            if receipt.message_id != document["message_id"]:
                raise self.errors.receipt_invalid(
                    f"receipt is for message {receipt.message_id!r}", receipt=receipt.token
                )
        except ClientError as exc:
            return exc
        return CooperationAccepted(item=dict(answer.get(member) or {}), receipt=receipt)


def _chunks(sizes: Sequence[int], most: int, budget: int) -> list[list[int]]:
    """Split item indices into runs of at most ``most`` items and ``budget`` bytes of JWS."""
    chunks: list[list[int]] = []
    current: list[int] = []
    used = 0
    for index, size in enumerate(sizes):
        cost = size + 4  # the quotes and the separator in the JSON array
        if current and (len(current) == most or used + cost > budget):
            chunks.append(current)
            current, used = [], 0
        current.append(index)
        used += cost
    if current:
        chunks.append(current)
    return chunks


def _fail(results: list[CooperationAccepted | ClientError | None], error: ClientError) -> None:
    """A request failed as a whole: its items and every later one carry its error."""
    for index, result in enumerate(results):
        if result is None:
            results[index] = error
