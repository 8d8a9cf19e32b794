"""Simulated competent authorities: advance information, orders, withdrawals,
clarifications (Art. 3(8)) and host-Member-State scrutiny (Art. 4), through
:class:`authority_client.AuthorityClient`.

Decisions are drawn from RNGs keyed by (seed, authority, order key, ...), never
by arrival order (docs/DRILLS.md, seed-stability).
"""

from __future__ import annotations

import asyncio
import itertools
import random
from contextlib import aclosing
from datetime import timedelta

from perci_schemas.client_errors import ClientError
from perci_schemas.client_views import parse_time
from perci_sim.drills.context import DrillContext
from perci_sim.drills.scenario import Authority, Inject

__all__ = ["SimAuthorities"]

_CLARIFY_REASONS = frozenset({"insufficient_information", "manifest_errors"})


def _code(exc: ClientError) -> str:
    return str(getattr(exc, "code", None) or type(exc).__name__)


class SimAuthorities:
    """Every simulated authority of a drill."""

    def __init__(self, ctx: DrillContext) -> None:
        self.ctx = ctx

    async def advance_information(self, authority_id: str, hsp_id: str) -> None:
        """Art. 3(2): procedures and deadlines, 12 hours before a first ordinary order."""
        if self.ctx.is_live(authority_id):
            return
        client = self.ctx.authorities[authority_id]
        try:
            await client.send_advance_information(
                hsp_id,
                procedures="Removal orders arrive through perci-sim, signed by "
                f"{authority_id}; answer with Annex II or Annex III.",
                deadlines="One hour from receipt (Art. 3(3)).",
                contact_point=f"tco@{authority_id}.example",
            )
        except ClientError as exc:
            self.ctx.error(f"advance information {authority_id} → {hsp_id}: {exc}")

    async def wave(self, inject: Inject) -> None:
        """Orders ``REF-NNN``, evenly spaced over ``over``, pairs round-robin."""
        ctx = self.ctx
        pairs = list(itertools.product(inject.senders, inject.recipients))
        for n in range(1, inject.orders + 1):
            offset = inject.at_s + inject.over_s * (n - 1) / inject.orders
            await ctx.clock.sleep_until(ctx.at(offset))
            sender, recipient = pairs[(n - 1) % len(pairs)]
            ctx.spawn(self.issue(f"{inject.id}-{n:03d}", sender, recipient, inject))

    async def issue(self, key: str, sender: str, recipient: str, inject: Inject) -> None:
        """Issue one order (refusals go to the journal: the broker logs none)."""
        ctx = self.ctx
        done = ctx.order_issued.setdefault(key, asyncio.Event())
        try:
            await self._issue(key, sender, recipient, inject)
        finally:
            done.set()

    async def _issue(self, key: str, sender: str, recipient: str, inject: Inject) -> None:
        ctx = self.ctx
        if ctx.is_live(sender):
            return
        client = ctx.authorities[sender]
        try:
            order = await client.prepare_order(
                hsp_id=recipient,
                urls=[f"https://{recipient}.example/drill/{ctx.scenario.name}/{key}"],
                reasons=["a"],
                details="Video calling for and glorifying terrorist attacks (Art. 2(7)(a)).",
                reference=ctx.reference(key),
                emergency_justification=(
                    "Ongoing attack: imminent threat to life (drill)." if inject.emergency else None
                ),
            )
            issued = await client.issue_order(order)
        except ClientError as exc:
            code = _code(exc)
            ctx.counters.refused += 1
            ctx.note_now(
                "refused",
                f"order {key} {sender} → {recipient} refused: {code}",
                key=key,
                code=code,
                authority_id=sender,
                hsp_id=recipient,
            )
            return
        order_id = issued.order["order_id"]
        ctx.order_ids[key] = order_id
        ctx.order_senders[key] = sender
        ctx.order_received[key] = parse_time(issued.order["received_at"])
        if not ctx.is_live(recipient):
            ctx.expected.add(order_id)

    async def withdraw(self, key: str, reason: str, offset: float) -> None:
        """Withdraw an order of the timeline (refusals go to the journal)."""
        ctx = self.ctx
        order_id = ctx.order_ids.get(key)
        sender = ctx.order_senders.get(key)
        if order_id is None or sender is None:
            ctx.note(offset, "withdraw_failed", f"withdrawal of {key}: never issued", key=key)
            return
        try:
            await ctx.authorities[sender].withdraw(order_id, reason)
        except ClientError as exc:
            ctx.note(
                offset,
                "withdraw_failed",
                f"withdrawal of {key} refused: {_code(exc)}",
                key=key,
                authority_id=sender,
            )

    async def scrutiny(self, inject: Inject) -> None:
        """Art. 4(3)/(5): the host authority's own-initiative scrutiny of a cross-border order.

        Counted from the broker's receipt of the order (the copy goes out with it,
        Art. 4(1)).  An infringement decision is preceded by the pre-notice to the
        issuing authority (Art. 4(5), R12).
        """
        ctx = self.ctx
        key, by = inject.order, inject.by
        done = ctx.order_issued.setdefault(key, asyncio.Event())
        await done.wait()
        order_id, received = ctx.order_ids.get(key), ctx.order_received.get(key)
        if order_id is None or received is None:
            ctx.note_now("scrutiny_failed", f"scrutiny of {key}: never issued", key=key)
            return
        await ctx.clock.sleep_until(received + timedelta(seconds=inject.after_s))
        if ctx.is_live(by):
            return
        client = ctx.authorities[by]
        infringement = inject.decision == "infringement"
        try:
            if infringement:
                await client.scrutiny_prenotice(
                    order_id, "The order does not state sufficient reasons (drill, Art. 4(5))."
                )
            await client.scrutiny_decision(
                order_id,
                infringement=infringement,
                reasons=(
                    "The order infringes Art. 3(4)(b): no statement of reasons (drill)."
                    if infringement
                    else "The order complies with the Regulation (drill)."
                ),
                initiative="own",
            )
        except ClientError as exc:
            ctx.note_now(
                "scrutiny_failed",
                f"scrutiny of {key} by {by} refused: {_code(exc)}",
                key=key,
                authority_id=by,
            )
            return
        ctx.note_now(
            "scrutiny",
            f"scrutiny of {key} by {by}: {inject.decision.replace('_', ' ')}",
            key=key,
            authority_id=by,
            decision=inject.decision,
        )

    async def follow(self, authority: Authority) -> None:
        """The authority's feed: progress counters, and Annex III clarification requests."""
        ctx = self.ctx
        client = ctx.authorities[authority.id]
        rounds: dict[str, int] = {}
        counters = ctx.counters
        async with aclosing(client.watch(ctx.start_seq)) as feed:
            async for event in feed:
                kind, order_id = event["kind"], event.get("order_id")
                if kind == "order_received" and event["actor"] == authority.id:
                    counters.issued += 1
                elif kind == "feedback_received":
                    counters.executed += 1
                    counters.overdue.discard(order_id or "")
                elif kind == "deadline_missed":
                    counters.overdue.add(order_id or "")
                elif kind == "withdrawal_received":
                    counters.overdue.discard(order_id or "")
                elif kind == "impossibility_received" and order_id:
                    reasons = set(event["data"].get("reasons") or ())
                    if reasons & _CLARIFY_REASONS:
                        rounds[order_id] = rounds.get(order_id, 0) + 1
                        ctx.spawn(self._clarify(authority, order_id, rounds[order_id]))

    async def _clarify(self, authority: Authority, order_id: str, round_no: int) -> None:
        ctx = self.ctx
        client = ctx.authorities[authority.id]
        view = await client.get_order(order_id)
        key = ctx.key_of(view["reference_number"])
        rng = random.Random(f"{ctx.scenario.seed}|{authority.id}|{key}|clarify|{round_no}")
        delay = authority.clarification_delay.draw(rng)
        await ctx.clock.sleep_until(ctx.clock.now() + timedelta(minutes=delay))
        try:
            await client.clarify(
                order_id,
                "The content is the video at the URL given; it calls for attacks (drill).",
            )
        except ClientError as exc:
            ctx.error(f"clarification of {key}: {exc}")
