"""Reading a drill's event log back from the broker.

With the facilitator's credentials (a broker the runner started, or a joined
setup that has them) the log is read once, whole: a facilitator may read every
event.  Without them (``--broker URL`` joins), it is the union of what each
party of the scenario may read, merged by ``seq``.
"""

from __future__ import annotations

from collections.abc import Sequence

from perci_schemas.client_support import BrokerClient
from perci_schemas.client_views import EventView

__all__ = ["collect_events", "last_seq", "read_all"]

_PAGE = 1000


async def _pages(client: BrokerClient, after: int) -> list[EventView]:
    found: list[EventView] = []
    cursor = after
    while True:
        page = await client.events(cursor, limit=_PAGE)
        found.extend(page.events)
        if not page.events:
            return found
        cursor = page.last_seq


async def read_all(facilitator: BrokerClient, *, after: int) -> list[EventView] | None:
    """Every event after ``after``, as the facilitator reads it; ``None`` if it has gaps
    (a broker on which a facilitator cannot read every event)."""
    events = await _pages(facilitator, after)
    seqs = [int(e["seq"]) for e in events]
    if seqs != list(range(after + 1, after + 1 + len(seqs))):
        return None
    return events


async def collect_events(clients: Sequence[BrokerClient], *, after: int) -> list[EventView]:
    """Every event after ``after`` that any of ``clients`` may see, once each, in log order."""
    found: dict[int, EventView] = {}
    for client in clients:
        for event in await _pages(client, after):
            found[int(event["seq"])] = event
    return [found[seq] for seq in sorted(found)]


async def last_seq(clients: Sequence[BrokerClient]) -> int:
    """The highest ``seq`` any of ``clients`` sees now."""
    last = 0
    for client in clients:
        cursor = 0
        while True:
            page = await client.events(cursor, limit=_PAGE)
            if not page.events:
                break
            cursor = page.last_seq
        last = max(last, cursor)
    return last
