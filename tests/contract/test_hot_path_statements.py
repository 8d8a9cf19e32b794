"""The hot path's SQL budget: statements and transactions per step of one exchange.

The core exchange (issue, GET, acknowledge, Annex II: what ``bench/exchange.py``
drives) is counted in process with ``before_cursor_execute``, one order at a
time.  The bounds are the figures of bench/README.md "Measured"; a change that adds
round-trips to the hot path fails here before it shows up as a slower benchmark.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
from sqlalchemy import event

from perci_sim.storage.db import Database


@dataclass
class _Count:
    lines: list[str] = field(default_factory=list)


class _Counter:
    """One engine listener, added once, while the broker is idle (a listener
    added while a background task runs a statement breaks SQLAlchemy's iteration)."""

    def __init__(self, db: Database) -> None:
        self.current: _Count | None = None
        engine = db.engine.sync_engine
        event.listen(engine, "before_cursor_execute", self._on_execute)

    def _on_execute(self, *args: Any) -> None:
        if self.current is not None:
            self.current.lines.append(" ".join(str(args[2]).split())[:120])

    @contextmanager
    def counting(self) -> Iterator[_Count]:
        self.current = _Count()
        try:
            yield self.current
        finally:
            self.current = None


async def _exchange(b: Any, counter: _Counter, authority: str, hsp: str) -> dict[str, _Count]:
    counts: dict[str, _Count] = {}
    with counter.counting() as counts["issue"]:
        order = await b.issue(authority, hsp)
    with counter.counting() as counts["get"]:
        view = await b.order(order["order_id"], party=hsp)
    with counter.counting() as counts["acknowledge"]:
        reply = await b.post_document(
            f"/v1/orders/{order['order_id']}/acknowledgement",
            party=hsp,
            document=b.acknowledgement(view),
        )
        assert reply.status == 201, reply.body
    with counter.counting() as counts["feedback"]:
        reply = await b.post_document(
            f"/v1/orders/{order['order_id']}/feedback", party=hsp, document=b.feedback(view)
        )
        assert reply.status == 201, reply.body
    return counts


#: Per step: (statements, transactions) at most; a transaction is a BEGIN sent to SQLite
#: (not counted as a statement).  The request's registry-version read runs alone.
_BUDGET = {"issue": (10, 1), "get": (2, 1), "acknowledge": (5, 1), "feedback": (9, 1)}


@pytest.mark.sqlite_file  # the budget is SQLite's (bench/README.md); PostgreSQL adds a lock
async def test_exchange_stays_within_its_sql_budget(broker: Any) -> None:
    """Cross-border (de-bka -> hsp-alpha, IE) and domestic (fr-ocrim -> hsp-gamma, FR)."""
    b = await broker()
    await b.issue("de-bka", "hsp-alpha")  # warm: the registry cache and the tail
    await asyncio.sleep(0.2)  # let the start-up's background tasks settle
    counter = _Counter(b.db)
    for authority, hsp in (("de-bka", "hsp-alpha"), ("fr-ocrim", "hsp-gamma")):
        counts = await _exchange(b, counter, authority, hsp)
        for step, (statements, transactions) in _BUDGET.items():
            seen = counts[step]
            begins = [s for s in seen.lines if s.startswith("BEGIN")]
            # One order at a time: each writer is the first of its batch, no SAVEPOINT.
            assert not [s for s in seen.lines if "SAVEPOINT" in s], (authority, step)
            assert len(seen.lines) - len(begins) <= statements, (authority, step, seen.lines)
            assert len(begins) <= transactions, (authority, step, seen.lines)
