"""The in-process feed hub: per-participant visibility and slow-consumer cut-off."""

from __future__ import annotations

from datetime import UTC, datetime

from perci_sim.api.feed import FeedHub, Subscription
from perci_sim.storage.models import Event
from perci_sim.storage.registry import ParticipantInfo

NOW = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)


def _participant(pid: str, role: str) -> ParticipantInfo:
    return ParticipantInfo(
        id=pid,
        role=role,
        name=pid,
        member_state="IE",
        legal_representative_member_state=None,
        languages=["en"],
        contact_point="",
        webhook_url=None,
        created_at=NOW,
        keys=[],
    )


def _event(seq: int, authority_id: str | None, hsp_id: str | None) -> Event:
    return Event(
        seq=seq,
        event_id=f"e{seq}",
        kind="order_delivered",
        actor="broker",
        authority_id=authority_id,
        hsp_id=hsp_id,
        received_at=NOW,
        data={},
        prev_hash="0" * 64,
        hash=f"{seq:064d}",
    )


def _drain(sub: Subscription) -> list[int | None]:
    items = [sub.queue.get_nowait() for _ in range(sub.queue.qsize())]
    return [None if item is None else int(item["seq"]) for item in items]


def test_each_subscriber_gets_only_its_events() -> None:
    """An HSP sees its orders, an authority its own, a facilitator every event."""
    hub = FeedHub()
    with (
        hub.subscribe(_participant("hsp-a", "hsp")) as hsp,
        hub.subscribe(_participant("auth-b", "authority")) as authority,
        hub.subscribe(_participant("fac", "facilitator")) as facilitator,
    ):
        hub.publish(
            [
                _event(1, "auth-b", "hsp-a"),
                _event(2, "auth-c", "hsp-a"),
                _event(3, "auth-b", "hsp-z"),
            ]
        )
        assert _drain(hsp) == [1, 2]
        assert _drain(authority) == [1, 3]
        assert _drain(facilitator) == [1, 2, 3]
    assert hub.subscribers == 0


def test_a_slow_consumer_is_cut_off() -> None:
    """Past the queue bound the subscriber gets a stop marker and nothing more."""
    hub = FeedHub(max_queue=2)
    with hub.subscribe(_participant("hsp-a", "hsp")) as sub:
        hub.publish([_event(n, None, "hsp-a") for n in range(1, 6)])
        assert _drain(sub) == [1, 2, None]
        assert sub.overflowed
        hub.publish([_event(9, None, "hsp-a")])
        assert sub.queue.empty()
