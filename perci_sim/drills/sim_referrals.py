"""Referral injects (TCO Art. 14, R20: voluntary, no clock) and the HSPs' outcomes.

A ``referrals`` inject sends ``items`` signed referrals from its authorities (or
Europol) to its HSPs, evenly spaced over ``over``, pairs round-robin; items that
are due at the same moment are sent together (``send_referral_batch`` when the
SDK has it, up to :data:`BATCH` a call; otherwise one ``send_referral`` each,
a few at a time).  Each simulated HSP answers each referral it receives after a
delay, drawn like everything else from an RNG keyed by (seed, HSP, item key):
``removed`` (with ``measure_at`` = the drawn instant), ``not_removed`` with a
reason, or never (``missing``).  Answers due at the same moment go together
(``answer_referral_batch`` when the SDK has it).
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import random
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from authority_client import AuthorityClient
from perci_schemas.client_cooperation import CooperationAccepted
from perci_schemas.client_errors import ClientError
from perci_schemas.client_views import EventView, parse_time
from perci_sim.drills.context import DrillContext
from perci_sim.drills.scenario import Hsp, Inject, referral_plan
from platform_client import PlatformClient

__all__ = ["BATCH", "NOT_REMOVED_REASONS", "SimReferrals", "answer_referrals", "send_referrals"]

#: Items per batch call (the broker's batch endpoints take up to a few hundred).
BATCH = 200
#: Concurrent single calls when the SDK has no batch method.
_SINGLE_CONCURRENCY = 6
#: Batch calls in flight across the drill (the broker works them one at a time).
_BATCHES_IN_FLIGHT = 2
#: Reasons a simulated HSP gives for not removing referred content (drawn).
NOT_REMOVED_REASONS = (
    "Not contrary to our terms of service: news reporting on the attack (drill).",
    "The content was no longer available at the URL (drill).",
    "Counter-speech: the video is shown to condemn the attack (drill).",
)
_REFUSALS_JOURNALLED = 20

Outcome = CooperationAccepted | ClientError


async def send_referrals(
    client: AuthorityClient,
    referrals: Sequence[Mapping[str, Any]],
    gate: asyncio.Semaphore | None = None,
) -> list[Outcome]:
    """Send referrals (keys: ``send_referral``'s parameters); one result per referral.

    ``gate`` bounds the calls in flight across the drill: the broker writes one
    transaction at a time, and a queue of batches longer than the SDK's timeout
    would only make it resend them.
    """
    batch = getattr(client, "send_referral_batch", None)

    async def one(referral: Mapping[str, Any]) -> Outcome:
        try:
            return await client.send_referral(**referral)
        except ClientError as exc:
            return exc

    return await _calls(batch, one, referrals, gate)


async def answer_referrals(
    client: PlatformClient,
    answers: Sequence[Mapping[str, Any]],
    gate: asyncio.Semaphore | None = None,
) -> list[Outcome]:
    """Answer referrals (keys ``referral_id``, ``outcome``, ``reason``, ``measure_at``)."""
    batch = getattr(client, "answer_referral_batch", None)

    async def one(answer: Mapping[str, Any]) -> Outcome:
        fields = dict(answer)
        try:
            return await client.answer_referral(fields.pop("referral_id"), **fields)
        except ClientError as exc:
            return exc

    return await _calls(batch, one, answers, gate)


async def _calls(
    batch: Callable[[Sequence[Mapping[str, Any]]], Awaitable[list[Outcome]]] | None,
    one: Callable[[Mapping[str, Any]], Awaitable[Outcome]],
    items: Sequence[Mapping[str, Any]],
    gate: asyncio.Semaphore | None,
) -> list[Outcome]:
    """``batch`` in chunks of :data:`BATCH` if the SDK has it, else ``one`` per item."""
    gate = gate or asyncio.Semaphore(_SINGLE_CONCURRENCY)
    if batch is not None:
        results: list[Outcome] = []
        for start in range(0, len(items), BATCH):
            async with gate:
                results.extend(await batch(items[start : start + BATCH]))
        return results

    async def gated(item: Mapping[str, Any]) -> Outcome:
        async with gate:
            return await one(item)

    return list(await asyncio.gather(*(gated(i) for i in items)))


@dataclass(order=True, slots=True)
class _Due:
    at: datetime
    seq: int
    answer: dict[str, Any] = field(compare=False)


class SimReferrals:
    """The referral waves of a drill, and every simulated HSP's answers to referrals."""

    def __init__(self, ctx: DrillContext) -> None:
        self.ctx = ctx
        self.refused: Counter[str] = Counter()  # per sender
        self._queues: dict[str, list[_Due]] = {h.id: [] for h in ctx.scenario.hsps}
        self._wakes: dict[str, asyncio.Event] = {h.id: asyncio.Event() for h in ctx.scenario.hsps}
        self._seen: set[str] = set()
        self._in_flight = 0
        self._order = itertools.count()
        # Drill-wide: batch calls in flight (or single calls, without the batch methods).
        batching = all(self.batching)
        self.gate = asyncio.Semaphore(_BATCHES_IN_FLIGHT if batching else _SINGLE_CONCURRENCY)

    @property
    def batching(self) -> tuple[bool, bool]:
        """Whether the SDKs have the batch methods (sending, answering)."""
        return (
            hasattr(AuthorityClient, "send_referral_batch"),
            hasattr(PlatformClient, "answer_referral_batch"),
        )

    def idle(self) -> bool:
        """No answer is queued or being sent, and every expected referral is settled."""
        ctx = self.ctx
        return (
            not self._in_flight
            and not any(self._queues.values())
            and ctx.referrals_expected <= ctx.referrals_settled
        )

    def next_due(self) -> datetime | None:
        """The earliest queued answer."""
        firsts = [q[0].at for q in self._queues.values() if q]
        return min(firsts) if firsts else None

    # ---- sending

    async def wave(self, inject: Inject) -> None:
        """Send the inject's items on schedule, those due together in one go."""
        ctx = self.ctx
        items = referral_plan(inject)
        i = 0
        while i < len(items):
            await ctx.clock.sleep_until(ctx.at(items[i][1]))
            now = ctx.offset(ctx.clock.now())
            j = i + 1
            while j < len(items) and items[j][1] <= now:
                j += 1
            due, i = items[i:j], j
            by_sender: dict[str, list[tuple[str, str]]] = {}
            for key, _, sender, hsp_id in due:
                by_sender.setdefault(sender, []).append((key, hsp_id))
            await asyncio.gather(*(self._send(s, batch) for s, batch in by_sender.items()))

    async def _send(self, sender: str, items: list[tuple[str, str]]) -> None:
        ctx = self.ctx
        if ctx.is_live(sender):
            return
        name = ctx.scenario.name
        referrals = [
            {
                "hsp_id": hsp_id,
                "urls": [f"https://{hsp_id}.example/drill/{name}/{ctx.run_id}/{key}"],
                "details": "Propaganda video of a terrorist organisation (drill, Art. 2(7)).",
                "reference": ctx.reference(key),
            }
            for key, hsp_id in items
        ]
        results = await send_referrals(ctx.authorities[sender], referrals, self.gate)
        for (key, hsp_id), result in zip(items, results, strict=True):
            if isinstance(result, ClientError):
                self.refused[sender] += 1
                if sum(self.refused.values()) <= _REFUSALS_JOURNALLED:
                    code = str(getattr(result, "code", None) or type(result).__name__)
                    ctx.note_now(
                        "referral_refused",
                        f"referral {key} {sender} → {hsp_id} refused: {code}",
                        key=key,
                        code=code,
                        authority_id=sender,
                        hsp_id=hsp_id,
                    )
                continue
            ctx.counters.referrals_sent += 1
            if not ctx.is_live(hsp_id):
                ctx.referrals_expected.add(str(result.item["referral_id"]))

    # ---- answering

    def received(self, hsp: Hsp, event: EventView) -> None:
        """A referral reached a simulated HSP: draw its answer and queue it."""
        ctx = self.ctx
        data = event.get("data") or {}
        referral_id = str(data.get("referral_id"))
        if referral_id in self._seen:
            return
        self._seen.add(referral_id)
        key = ctx.key_of(str(data.get("reference_number") or referral_id))
        profile = hsp.referrals
        rng = random.Random(f"{ctx.scenario.seed}|{hsp.id}|{key}")
        u = rng.random()
        delay = timedelta(minutes=profile.delay.draw(rng))
        reason = rng.choice(NOT_REMOVED_REASONS)
        if u < profile.missing:
            ctx.referrals_settled.add(referral_id)  # never answered: no breach (R20)
            return
        at = ctx.online_at(hsp, parse_time(event["received_at"]) + delay)
        answer: dict[str, Any] = {"referral_id": referral_id}
        if u < profile.missing + profile.removed:
            answer.update(outcome="removed", measure_at=at)
        else:
            answer.update(outcome="not_removed", reason=reason)
        heapq.heappush(self._queues[hsp.id], _Due(at, next(self._order), answer))
        self._wakes[hsp.id].set()

    async def answer(self, hsp: Hsp) -> None:
        """The HSP's outcome desk: sends the answers as they fall due (a daemon)."""
        ctx = self.ctx
        queue, wake = self._queues[hsp.id], self._wakes[hsp.id]
        client = ctx.platforms[hsp.id]
        while True:
            wake.clear()
            if not queue:
                await wake.wait()
                continue
            first = queue[0].at
            wait = (first - ctx.clock.now()).total_seconds() / ctx.clock.speed
            if wait > 0:
                # New, earlier answers or a clock jump wake it up early.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wake.wait(), timeout=min(wait + 0.01, 1.0))
                continue
            now = ctx.clock.now()
            due: list[dict[str, Any]] = []
            while queue and queue[0].at <= now and len(due) < BATCH * 5:
                due.append(heapq.heappop(queue).answer)
            self._in_flight += len(due)
            try:
                results = await answer_referrals(client, due, self.gate)
            finally:
                self._in_flight -= len(due)
            for answer, result in zip(due, results, strict=True):
                ctx.referrals_settled.add(str(answer["referral_id"]))
                if isinstance(result, ClientError):
                    ctx.error(f"referral outcome of {hsp.id}: {result}")
                else:
                    ctx.counters.referrals_answered += 1

    def wake_all(self) -> None:
        """The clock jumped: every outcome desk recomputes its wait."""
        for wake in self._wakes.values():
            wake.set()
