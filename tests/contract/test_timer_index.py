"""The deadline wheel's queries use the partial index of open timers (migration 0002).

A wake-up and the re-arm at start-up must find the earliest open timer in one index
step however many cancelled timers executed orders left behind: the plan must name
``ix_timer_open``, on SQLite and on PostgreSQL.  The planner proves a partial index
applies only when the query's predicate matches the index's, which this checks.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import DURABLE, opened_database
from sqlalchemy import insert, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import col, func, select

from perci_sim.services.fire_timers import next_timer_due
from perci_sim.storage.db import Database
from perci_sim.storage.models import Timer

NOW = datetime(2026, 11, 26, 7, 0, tzinfo=UTC)

_OPEN = (col(Timer.fired_at).is_(None), col(Timer.cancelled).is_(False))
#: The wheel's two queries (services/fire_timers.py): the earliest, and the due ones.
QUERIES = {
    "earliest": select(func.min(Timer.due_at)).where(*_OPEN),
    "due": select(Timer.id)
    .where(*_OPEN, col(Timer.due_at) <= NOW)
    .order_by(col(Timer.due_at), col(Timer.id))
    .limit(100),
}


@pytest.fixture(params=DURABLE)
async def db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    async with opened_database(request.param, tmp_path) as database:
        yield database


async def _seed(db: Database) -> None:
    """Many cancelled timers due long ago, a few open ones, one fired."""
    rows = [
        {
            "order_id": f"o{i}",
            "clock_round": 1,
            "kind": "deadline",
            "minutes": 60,
            "due_at": NOW - timedelta(days=30, seconds=i),
            "fired_at": None,
            "cancelled": True,
        }
        for i in range(2000)
    ]
    rows += [
        {
            **rows[0],
            "order_id": f"open{i}",
            "due_at": NOW + timedelta(minutes=i),
            "cancelled": False,
        }
        for i in range(1, 4)
    ]
    rows.append(
        {**rows[0], "order_id": "fired", "due_at": NOW - timedelta(hours=1), "fired_at": NOW}
    )
    async with db.write() as session:
        await (await session.connection()).execute(insert(Timer), rows)


@pytest.mark.parametrize("query", sorted(QUERIES))
async def test_the_wheel_queries_use_the_open_timer_index(db: Database, query: str) -> None:
    await _seed(db)
    statement = QUERIES[query]
    async with db.engine.connect() as conn:
        if db.dialect == "sqlite":
            await conn.execute(text("ANALYZE"))
            sql = str(
                statement.compile(dialect=sqlite.dialect(), compile_kwargs={"literal_binds": True})
            )
            plan = (await conn.execute(text(f"EXPLAIN QUERY PLAN {sql}"))).all()
        else:
            await conn.execute(text("ANALYZE timer"))
            sql = str(
                statement.compile(
                    dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}
                )
            )
            plan = (await conn.execute(text(f"EXPLAIN {sql}"))).all()
    shown = " ".join(str(row) for row in plan)
    assert "ix_timer_open" in shown, plan
    # Read in firing order from the index: no sort of the due timers.
    assert "Sort" not in shown, plan
    assert "TEMP B-TREE" not in shown, plan


async def test_the_earliest_open_timer_skips_the_cancelled_and_the_fired(db: Database) -> None:
    await _seed(db)
    assert await next_timer_due(db) == NOW + timedelta(minutes=1)
