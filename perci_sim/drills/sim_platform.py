"""Simulated hosting service providers: receiving orders (feed, polling or webhook),
acknowledging, Annex II in time or late, Annex III, never answering, reinstating
after an infringement decision (Art. 4(7)), through :class:`PlatformClient`.

Per order an HSP draws from ``random.Random(f"{seed}|{hsp}|{order key}")``,
always in the same order (docs/DRILLS.md): the plan does not depend on timing.
Referrals it receives are handed to :class:`~perci_sim.drills.sim_referrals.SimReferrals`.
"""

from __future__ import annotations

import asyncio
import random
from contextlib import aclosing
from datetime import datetime, timedelta

from perci_schemas.client_errors import ClientError
from perci_schemas.client_views import EventView, parse_time
from perci_sim.drills.context import DrillContext, OrderTrack
from perci_sim.drills.scenario import HOUR_MIN, Hsp
from perci_sim.drills.sim_referrals import SimReferrals
from perci_sim.drills.webhook_receiver import WebhookReceiver
from platform_client import PlatformClient
from platform_client.client import VerifiedOrder

#: The broker's Art. 3(6) "undue delay" (``Settings.undue_delay``, the default a drill's
#: broker runs with): a late Annex II is sent at least this long after the removal.
UNDUE_DELAY = timedelta(hours=1)

__all__ = ["SimPlatforms"]


class SimPlatforms:
    """Every simulated HSP of a drill."""

    def __init__(self, ctx: DrillContext, referrals: SimReferrals) -> None:
        self.ctx = ctx
        self.referrals = referrals
        self.tracks: dict[str, dict[str, OrderTrack]] = {h.id: {} for h in ctx.scenario.hsps}
        self.receivers: dict[str, WebhookReceiver] = {}
        self.channels: dict[str, str] = {}

    # ---- channels

    async def prepare(self) -> None:
        """Start and register the webhooks (before anything is sent: the broker queues
        a webhook call only for events recorded after the URL is set)."""
        ctx = self.ctx
        for hsp in ctx.scenario.hsps:
            if hsp.live:
                continue
            self.channels[hsp.id] = hsp.channel
            if hsp.channel != "webhook":
                continue
            client = ctx.platforms[hsp.id]
            receiver = WebhookReceiver(
                client,
                on_event=lambda event, hsp=hsp: self.on_event(hsp, event),  # type: ignore[misc]
                on_error=ctx.error,
            )
            try:
                url = await receiver.start()
                await client.set_webhook(url)
            except (OSError, ClientError) as exc:
                await receiver.stop()
                self.channels[hsp.id] = "feed"
                ctx.note(
                    0.0,
                    "webhook_fallback",
                    f"{hsp.id}: webhook registration failed ({type(exc).__name__}: {exc}); "
                    "it follows the feed instead",
                    hsp_id=hsp.id,
                )
                continue
            self.receivers[hsp.id] = receiver
            ctx.note(0.0, "webhook", f"{hsp.id}: webhook at {url}", hsp_id=hsp.id)

    async def close(self) -> None:
        """Unregister the webhooks and stop their servers."""
        for hsp_id, receiver in self.receivers.items():
            try:
                await self.ctx.platforms[hsp_id].set_webhook(None)
            except ClientError as exc:
                self.ctx.error(f"webhook of {hsp_id} not removed: {exc}")
            await receiver.stop()
        self.receivers.clear()

    async def follow(self, hsp: Hsp) -> None:
        """The HSP's channel: feed, polling, or (events arrive at its webhook) nothing to do."""
        ctx = self.ctx
        client = ctx.platforms[hsp.id]
        channel = self.channels.get(hsp.id, hsp.channel)
        if channel == "webhook":
            return
        if channel == "polling":
            cursor = ctx.start_seq
            interval = max(0.05, hsp.poll_interval_min * 60.0 / ctx.scenario.speed)
            while True:
                page = await client.events(cursor, limit=1000)
                for event in page.events:
                    self.on_event(hsp, event)
                cursor = page.last_seq
                if not page.events:
                    await asyncio.sleep(interval)
        async with aclosing(client.watch(ctx.start_seq)) as feed:
            async for event in feed:
                self.on_event(hsp, event)

    def on_event(self, hsp: Hsp, event: EventView) -> None:
        """One event of the HSP's channel (any order: webhook calls may be reordered)."""
        kind = event["kind"]
        if kind == "referral_received":
            self.referrals.received(hsp, event)
            return
        order_id = event.get("order_id")
        if not order_id:
            return
        tracks = self.tracks[hsp.id]
        track = tracks.get(order_id)
        if track is None:
            track = tracks[order_id] = OrderTrack(order_id)
        if kind == "order_delivered" and not track.started:
            track.started = True
            self.ctx.spawn(self._handle(hsp, track, parse_time(event["received_at"])))
        elif kind == "clarification_received":
            track.clarified_at = parse_time(event["received_at"])
            track.wake.set()
        elif kind == "withdrawal_received":
            track.withdrawn = True
            track.wake.set()
        elif kind == "legal_effect_ended":
            was_stopped = track.no_legal_effect
            track.no_legal_effect = True
            track.wake.set()
            cause = (event.get("data") or {}).get("cause")
            if cause == "infringement_decision" and not was_stopped:
                self.ctx.spawn(self._reinstate(hsp, track, parse_time(event["received_at"])))

    # ---- one order

    async def _handle(self, hsp: Hsp, track: OrderTrack, received_at: datetime) -> None:
        try:
            if not track.is_stopped():
                await self._handle_order(hsp, track, received_at)
        except ClientError as exc:
            # A withdrawal (or the end of legal effect) can cross an answer already on
            # its way: the broker refuses the answer (409), the feed tells us a moment
            # later.  That is the exchange working, not a failure of the simulated HSP.
            if getattr(exc, "status", 0) != 409 or not await self._stopped_meanwhile(hsp, track):
                raise
        finally:
            self.ctx.settled.add(track.order_id)
            track.finished.set()

    async def _stopped_meanwhile(self, hsp: Hsp, track: OrderTrack) -> bool:
        """Re-read the order: True (and the track marked) when it was stopped meanwhile."""
        view = await self.ctx.platforms[hsp.id].get_order(track.order_id)
        if view["state"] == "withdrawn":
            track.withdrawn = True
        elif view["state"] == "no_legal_effect":
            track.no_legal_effect = True
        return track.is_stopped()

    async def _handle_order(self, hsp: Hsp, track: OrderTrack, received_at: datetime) -> None:
        ctx = self.ctx
        client = ctx.platforms[hsp.id]
        profile = hsp.profile
        view = await client.get_order(track.order_id)
        verified: VerifiedOrder = await client.verify_order(view)
        key = ctx.key_of(view["reference_number"])
        rng = random.Random(f"{ctx.scenario.seed}|{hsp.id}|{key}")
        hour = timedelta(minutes=HOUR_MIN)
        # The draws, always in the same order: the decision does not depend on timing.
        u = rng.random()
        acknowledges = rng.random() < profile.ack_share
        ack_delay = timedelta(minutes=profile.ack_delay.draw(rng))
        on_time = timedelta(minutes=profile.time_to_removal.draw(rng))
        late = timedelta(minutes=profile.late_delay.draw(rng))
        annex_delay = timedelta(minutes=profile.annex_iii_delay.draw(rng))
        ceased_after = timedelta(minutes=profile.grounds_ceased_after.draw(rng))
        second = timedelta(minutes=profile.time_to_removal.draw(rng))
        reason = _weighted(rng, profile.annex_iii_reasons)
        # Drawn last: scenarios without it keep their earlier draws (seed-stability).
        slow_feedback = rng.random() < profile.feedback_late
        feedback_delay = timedelta(minutes=profile.feedback_delay.draw(rng))
        forced = ctx.forced_annex.get(key)
        missing_cut = profile.missing
        late_cut = missing_cut + profile.late
        annex_cut = late_cut + profile.annex_iii_share
        if forced:
            plan, reason = "annex_iii", forced
        elif u < missing_cut:
            plan = "missing"
        elif u < late_cut:
            plan = "late"
        elif u < annex_cut:
            plan = "annex_iii"
        else:
            plan = "on_time"

        def in_time(delay: timedelta) -> timedelta:
            return min(delay, hour - ctx.guard)

        if acknowledges:
            ack_at = min(received_at + ack_delay, received_at + hour - ctx.guard)
            await ctx.act_at(hsp, ack_at)
            if track.is_stopped():
                return
            await client.acknowledge(track.order_id, order_sha256=verified.sha256)
        if plan == "missing":
            # Never answered: it stays open past its deadline (overdue at the end).
            await ctx.clock.sleep_until(received_at + hour + ctx.guard)
            return
        if plan == "annex_iii":
            at = await ctx.act_at(hsp, received_at + in_time(annex_delay))
            if track.is_stopped():
                return
            clarify = reason != "force_majeure"
            answer = await client.send_impossibility(
                track.order_id,
                [reason],
                "Simulated Annex III answer (drill).",
                clarification_required="Which exact item is meant?" if clarify else None,
                order=verified,
            )
            if clarify:
                clarified = await _clarified(track)
                if clarified is None:
                    return
                fresh = clarified
            else:
                ceased = await ctx.act_at(hsp, at + ceased_after)
                if track.is_stopped():
                    return
                answer = await client.send_grounds_ceased(
                    track.order_id, "The outage is over (drill).", ceased_at=ceased
                )
                deadline = answer.order.get("deadline_at")
                fresh = parse_time(deadline) - hour if deadline else ceased
            measure = await ctx.act_at(hsp, fresh + in_time(second))
        elif plan == "late":
            measure = await ctx.act_at(hsp, received_at + max(late, hour + ctx.guard))
        else:
            measure = await ctx.act_at(hsp, received_at + in_time(on_time))
        if track.is_stopped():
            return
        if slow_feedback:
            # Art. 3(6) breached on purpose: removed now, told much later.
            await ctx.act_at(hsp, measure + max(feedback_delay, UNDUE_DELAY + ctx.guard))
            if track.is_stopped():
                return
        await self._feedback(client, track, measure, verified)
        track.executed = True

    async def _feedback(
        self, client: PlatformClient, track: OrderTrack, measure: datetime, order: VerifiedOrder
    ) -> None:
        # Content kept restorable (Art. 4(2), R14): a host authority may still scrutinise.
        for attempt in range(3):
            try:
                await client.send_feedback(
                    track.order_id, measure_at=measure, order=order, reinstatable=True
                )
                return
            except ClientError as exc:
                status = getattr(exc, "status", 0)
                if track.is_stopped() or status not in (409, 422) or attempt == 2:
                    raise
                await asyncio.sleep(0.05)

    async def _reinstate(self, hsp: Hsp, track: OrderTrack, decided_at: datetime) -> None:
        """Art. 4(7): after an infringement decision, reinstate what was removed."""
        ctx = self.ctx
        # Let the order's own handling finish (it stops at its next step).
        if track.started:
            await track.finished.wait()
        if not track.executed:
            return  # nothing was removed: nothing to reinstate
        client = ctx.platforms[hsp.id]
        view = await client.get_order(track.order_id)
        key = ctx.key_of(view["reference_number"])
        rng = random.Random(f"{ctx.scenario.seed}|{hsp.id}|{key}|reinstate")
        delay = timedelta(minutes=hsp.profile.reinstate_delay.draw(rng))
        at = await ctx.act_at(hsp, decided_at + delay)
        try:
            await client.reinstate(
                track.order_id, "Reinstated after the infringement decision (drill).", at=at
            )
        except ClientError as exc:
            ctx.error(f"reinstatement of {key} by {hsp.id}: {exc}")


async def _clarified(track: OrderTrack) -> datetime | None:
    """Wait for the authority's clarification (None: the order was stopped)."""
    while track.clarified_at is None and not track.is_stopped():
        await track.wake.wait()
        track.wake.clear()
    return None if track.is_stopped() else track.clarified_at


def _weighted(rng: random.Random, weights: tuple[tuple[str, float], ...]) -> str:
    total = sum(w for _, w in weights)
    x = rng.random() * total
    for name, weight in weights:
        x -= weight
        if x < 0:
            return name
    return weights[-1][0]
