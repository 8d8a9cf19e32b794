"""Group commit: the write transactions that queue behind each other share one COMMIT.

Every write that touches the hash-chained log is serialized (:meth:`Database.write`).
Committing each one alone costs a ``BEGIN``, a ``COMMIT`` (an fsync: the record is
legal evidence, R1), a connection checkout and its reset, per request.  Under load
the writers queue on the write lock anyway, so the writers that are queued when one
finishes join its database transaction instead (the model is PostgreSQL's and
InnoDB's group commit):

* the first writer opens a *batch*: a connection, ``BEGIN`` (``BEGIN IMMEDIATE`` on
  SQLite; the advisory lock on PostgreSQL);
* each writer after the first runs in its own session joined to the batch through a
  ``SAVEPOINT`` (``join_transaction_mode="create_savepoint"``): a writer that fails
  rolls back only its own work, and its error reaches only its own caller (the
  first writer's failure rolls back the transaction, which holds nothing else);
* a writer that finishes while nobody waits for the lock commits the batch at once
  (an idle broker commits every request alone, as before); otherwise the batch
  stays open for the next writer, and a *flusher* queued behind the waiting
  writers commits it when their turn has passed.  A batch also commits once it
  holds ``limit`` writers;
* no writer returns before the batch's ``COMMIT`` succeeded: a client is never
  answered with a receipt for an event that is not durable.  If the ``COMMIT``
  fails, every writer of the batch gets the error and nothing of it was stored.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

import structlog
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlmodel.ext.asyncio.session import AsyncSession

__all__ = ["DEFAULT_GROUP_LIMIT", "GroupCommitter"]

log = structlog.get_logger(__name__)

#: Writers at most in one batch: bounds the work one failed COMMIT can refuse.
DEFAULT_GROUP_LIMIT = 256


@dataclass(slots=True, eq=False)
class _Batch:
    """One open database transaction and the writers that joined it."""

    conn: AsyncConnection
    committed: asyncio.Future[None]
    writers: int = 0


class GroupCommitter:
    """Serialized write transactions with group commit (see the module docstring).

    ``engine`` is the write engine (its connections start with the write lock:
    ``BEGIN IMMEDIATE`` on SQLite); ``on_begin`` runs once per batch after ``BEGIN``
    (the PostgreSQL advisory lock).  ``limit`` 1 turns grouping off: each writer
    commits alone, which a single shared connection (SQLite ``:memory:``) needs, as
    its readers would otherwise see a batch before its COMMIT.
    """

    def __init__(
        self,
        engine: AsyncEngine,
        lock: asyncio.Lock,
        *,
        on_begin: Callable[[AsyncConnection], Awaitable[None]] | None = None,
        limit: int = DEFAULT_GROUP_LIMIT,
    ) -> None:
        if limit < 1:
            raise ValueError("a batch holds at least one writer")
        self._engine = engine
        self._lock = lock
        self._on_begin = on_begin
        self._limit = limit
        self._batch: _Batch | None = None
        #: Writers waiting for the lock (the flusher is not counted).
        self._waiting = 0
        self._flusher: asyncio.Task[None] | None = None
        #: COMMITs running (a writer returns once its batch is durable, before the
        #: connection is back in the pool): :meth:`close` waits for them.
        self._commits: set[asyncio.Task[None]] = set()
        #: Batches committed and writers in them (for tests and benchmarks).
        self.batches = 0
        self.writers = 0

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncSession]:
        """A session in a serialized write transaction; returns once it is committed."""
        self._waiting += 1
        try:
            await self._lock.acquire()
        finally:
            self._waiting -= 1
        batch: _Batch | None = None
        try:
            batch = self._batch or await self._open()
            self._batch = batch
            # The batch's first writer has no one's work to protect: its failure rolls
            # the whole transaction back (an idle broker sends no SAVEPOINT at all).
            async with AsyncSession(
                bind=batch.conn,
                join_transaction_mode="create_savepoint" if batch.writers else "rollback_only",
                expire_on_commit=False,
            ) as session:
                # The SAVEPOINT now, so the writer's first statement runs inside it.
                await session.connection()
                try:
                    yield session
                    await session.commit()  # RELEASE SAVEPOINT (deferred rows written first)
                except BaseException:
                    await session.rollback()  # to the SAVEPOINT: only this writer's work
                    raise
            batch.writers += 1
        finally:
            self._hand_over(batch)
        # Answer only once the batch is durable (shielded: a cancelled caller must not
        # cancel the COMMIT the other writers wait for).
        await asyncio.shield(batch.committed)

    async def _open(self) -> _Batch:
        conn = await self._engine.connect()
        try:
            await conn.begin()
            if self._on_begin is not None:
                await self._on_begin(conn)
        except BaseException:
            await conn.close()
            raise
        return _Batch(conn=conn, committed=asyncio.get_running_loop().create_future())

    def _hand_over(self, batch: _Batch | None) -> None:
        """Release the lock; commit first unless a waiting writer can join the batch.

        Runs with the lock held.  The COMMIT itself runs in a task so that it is not
        part of the caller's cancellation; the lock is released when it is done.
        """
        if batch is None:
            self._lock.release()
            return
        if self._waiting and batch.writers < self._limit and batch.writers:
            # Writers are queued: the next one joins; the flusher queued behind them
            # commits what they added (or a later writer that finds nobody waiting).
            if self._flusher is None or self._flusher.done():
                self._flusher = asyncio.create_task(self._flush())
            self._lock.release()
            return
        self._batch = None
        commit = asyncio.create_task(self._commit(batch))
        self._commits.add(commit)
        commit.add_done_callback(self._committed)

    def _committed(self, task: asyncio.Task[None]) -> None:
        self._commits.discard(task)
        self._lock.release()

    async def _flush(self) -> None:
        async with self._lock:
            batch, self._batch = self._batch, None
            if batch is not None:
                await self._commit(batch)

    async def _commit(self, batch: _Batch) -> None:
        try:
            if batch.writers:
                await batch.conn.commit()
            else:
                await batch.conn.rollback()
        except BaseException as exc:
            log.error("group_commit_failed", writers=batch.writers, error=repr(exc))
            # A connection whose COMMIT failed is not trusted again: whatever state its
            # transaction is in, it leaves the pool.
            with contextlib.suppress(Exception):
                await batch.conn.invalidate()
            if not batch.committed.done():
                batch.committed.set_exception(exc)
            # Retrieved here too: a batch whose writers all left must not warn.
            batch.committed.exception()
        else:
            self.batches += 1
            self.writers += batch.writers
            if not batch.committed.done():
                batch.committed.set_result(None)
        finally:
            await batch.conn.close()

    async def close(self) -> None:
        """Commit an open batch (writers are waiting on it) and return every connection
        to the pool before the engine goes."""
        if self._flusher is not None:
            await self._flusher
        await asyncio.gather(*self._commits, return_exceptions=True)
