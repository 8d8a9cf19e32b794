"""Referrals in drills: the one function that sends (batch or single calls), and the
report's fold of referral events (docs/DRILLS.md)."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from typing import Any, cast

from perci_schemas.client_cooperation import CooperationAccepted
from perci_schemas.client_errors import ClientError
from perci_sim.drills.report import referral_facts
from perci_sim.drills.sim_referrals import BATCH, answer_referrals, send_referrals


def _accepted(n: int) -> CooperationAccepted:
    return CooperationAccepted(item={"referral_id": f"r{n}"}, receipt=cast(Any, {}))


class _Single:
    """An SDK without the batch methods: one call per referral; "bad" is refused."""

    def __init__(self) -> None:
        self.calls = 0

    async def send_referral(self, hsp_id: str, urls: Sequence[str], details: str, **_: Any) -> Any:
        self.calls += 1
        if hsp_id == "bad":
            raise ClientError("unknown_addressee")
        return _accepted(self.calls)

    async def answer_referral(self, referral_id: str, outcome: str, **_: Any) -> Any:
        self.calls += 1
        return _accepted(self.calls)


class _Batch(_Single):
    """An SDK with the batch methods: records the chunk sizes."""

    def __init__(self) -> None:
        super().__init__()
        self.chunks: list[int] = []

    async def send_referral_batch(self, referrals: Sequence[Mapping[str, Any]]) -> list[Any]:
        self.chunks.append(len(referrals))
        return [_accepted(i) for i in range(len(referrals))]

    async def answer_referral_batch(self, answers: Sequence[Mapping[str, Any]]) -> list[Any]:
        self.chunks.append(len(answers))
        return [_accepted(i) for i in range(len(answers))]


def _referrals(n: int) -> list[dict[str, Any]]:
    return [{"hsp_id": "hsp-a", "urls": [f"https://x/{i}"], "details": "d"} for i in range(n)]


async def test_single_calls_without_the_batch_methods() -> None:
    """One result per referral, in order; a refusal is returned, not raised."""
    client = _Single()
    referrals = [*_referrals(3), {"hsp_id": "bad", "urls": ["https://x/bad"], "details": "d"}]
    results = await send_referrals(cast(Any, client), referrals)
    assert client.calls == 4
    assert [isinstance(r, ClientError) for r in results] == [False, False, False, True]
    answers = await answer_referrals(
        cast(Any, client), [{"referral_id": "r1", "outcome": "removed"}]
    )
    assert isinstance(answers[0], CooperationAccepted)


async def test_batches_of_at_most_200() -> None:
    """With the batch methods, items go in chunks of BATCH, never one call each."""
    client = _Batch()
    results = await send_referrals(cast(Any, client), _referrals(450))
    assert len(results) == 450
    assert client.chunks == [BATCH, BATCH, 50]
    assert client.calls == 0
    await answer_referrals(cast(Any, client), [{"referral_id": "r", "outcome": "removed"}] * 3)
    assert client.chunks[-1] == 3


def _jws(payload: dict[str, Any]) -> str:
    body = base64.urlsafe_b64encode(json.dumps(payload).encode()).rstrip(b"=").decode()
    return f"e30.{body}.sig"


def test_referral_facts_fold_the_log() -> None:
    """Recipient from the document, outcome and time to outcome from the outcome event."""
    events = [
        {
            "seq": 1,
            "kind": "referral_received",
            "actor": "europol",
            "received_at": "2026-01-01T10:00:00Z",
            "document": _jws({"recipient": "hsp-a"}),
            "data": {"referral_id": "r1", "reference_number": "d/x/r1-001"},
        },
        {
            "seq": 2,
            "kind": "referral_received",
            "actor": "de-bka",
            "received_at": "2026-01-01T10:01:00Z",
            "document": _jws({"recipient": "hsp-b"}),
            "data": {"referral_id": "r2", "reference_number": "d/x/r1-002"},
        },
        {
            "seq": 3,
            "kind": "referral_outcome_received",
            "actor": "hsp-a",
            "received_at": "2026-01-01T11:00:00Z",
            "data": {
                "referral_id": "r1",
                "outcome": "removed",
                "measure_at": "2026-01-01T10:30:00Z",
            },
        },
    ]
    facts = referral_facts(events)
    assert facts["r1"].sender_id == "europol"
    assert facts["r1"].hsp_id == "hsp-a"
    assert facts["r1"].outcome == "removed"
    assert facts["r1"].time_to_outcome_min == 30.0
    assert facts["r2"].hsp_id == "hsp-b"
    assert facts["r2"].outcome is None
    assert facts["r2"].time_to_outcome_min is None
