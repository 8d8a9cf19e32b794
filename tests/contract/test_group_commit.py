"""Group commit (storage/group_commit.py): queued writers share one COMMIT, each in its
own SAVEPOINT; none returns before its work is durable; one writer's failure is only
its own; a failed COMMIT fails every writer of its batch and stores nothing.

Run on file SQLite and PostgreSQL (``PERCI_TEST_DATABASE_URL``); in-memory SQLite
commits each writer alone (its one connection is shared with the readers).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from conftest import DURABLE, opened_database
from sqlalchemy import event, func
from sqlmodel import col, select

from perci_sim.storage.db import Database
from perci_sim.storage.log import append_event, verify_log
from perci_sim.storage.models import Event

NOW = datetime(2026, 11, 26, 6, 0, tzinfo=UTC)
WRITERS = 40


@pytest.fixture(params=DURABLE)
async def db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    async with opened_database(request.param, tmp_path) as database:
        yield database


class Boom(Exception):
    """A writer's own failure."""


async def _writer(db: Database, index: int, *, fail: bool = False) -> int:
    """Append one event (and fail after it when asked); return its seq once committed."""
    async with db.write() as session:
        # Yield inside the transaction, so the other writers queue on the lock.
        await asyncio.sleep(0)
        event_ = await append_event(
            session, kind="note", actor="broker", received_at=NOW, data={"writer": index}
        )
        await session.flush()
        if fail:
            raise Boom(index)
    assert event_.seq is not None
    return event_.seq


async def _notes(db: Database) -> list[int]:
    async with db.read() as session:
        rows = (await session.exec(select(Event.data).order_by(col(Event.seq)))).all()
    return [row["writer"] for row in rows]


async def test_queued_writers_share_commits_and_the_chain_holds(db: Database) -> None:
    async def write_then_read(index: int) -> None:
        await _writer(db, index)
        # Returned means durable: another connection already sees the event.
        async with db.read() as session:
            count = (
                await session.exec(
                    select(func.count()).select_from(Event).where(col(Event.kind) == "note")
                )
            ).one()
        assert count >= 1

    await asyncio.gather(*(write_then_read(i) for i in range(WRITERS)))
    assert sorted(await _notes(db)) == list(range(WRITERS))
    assert db.writes.writers == WRITERS
    assert db.writes.batches < WRITERS  # some writers shared a COMMIT
    report = await verify_log(db, broker_public_keys={})
    assert report.ok, report.problems


async def test_a_failing_writer_rolls_back_only_its_own_work(db: Database) -> None:
    results = await asyncio.gather(
        *(_writer(db, i, fail=i % 7 == 3) for i in range(WRITERS)), return_exceptions=True
    )
    failed = [i for i, r in enumerate(results) if isinstance(r, Boom)]
    assert failed == [i for i in range(WRITERS) if i % 7 == 3]
    assert all(isinstance(r, int) for i, r in enumerate(results) if i not in failed)
    stored = await _notes(db)
    assert sorted(stored) == [i for i in range(WRITERS) if i not in failed]
    # The failed writers' sequence numbers were taken by the next: no gap, no fork.
    report = await verify_log(db, broker_public_keys={})
    assert report.ok, report.problems
    assert report.events == len(stored)


async def test_a_failed_commit_fails_every_writer_of_its_batch(db: Database) -> None:
    await _writer(db, -1)  # one committed event before
    refuse = True

    def on_commit(conn: Any) -> None:
        if refuse:
            raise OSError("disk full")

    event.listen(db.engine.sync_engine, "commit", on_commit)
    try:
        results = await asyncio.gather(
            *(_writer(db, i) for i in range(WRITERS)), return_exceptions=True
        )
    finally:
        refuse = False
        event.remove(db.engine.sync_engine, "commit", on_commit)
    assert len(results) == WRITERS
    assert all(isinstance(r, OSError) for r in results), results
    assert await _notes(db) == [-1]  # nothing of the failed batches was stored
    # The writer after the failure starts a fresh batch on the intact log.
    await _writer(db, 99)
    assert await _notes(db) == [-1, 99]
    report = await verify_log(db, broker_public_keys={})
    assert report.ok, report.problems


async def test_a_cancelled_writer_does_not_cancel_the_commit(db: Database) -> None:
    tasks = [asyncio.create_task(_writer(db, i)) for i in range(10)]
    await asyncio.sleep(0)
    # Cancel one writer while the others still queue: the batch still commits.
    for _ in range(200):
        if tasks[0].done() or db.writes.writers:
            break
        await asyncio.sleep(0)
    tasks[0].cancel()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    committed = [r for r in results if isinstance(r, int)]
    assert len(committed) >= 9
    assert sorted(await _notes(db))[-9:] == list(range(1, 10))
    report = await verify_log(db, broker_public_keys={})
    assert report.ok, report.problems


async def test_an_idle_writer_commits_alone(db: Database) -> None:
    for i in range(3):
        await _writer(db, i)
    assert (db.writes.batches, db.writes.writers) == (3, 3)
