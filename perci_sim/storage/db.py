"""Database engine setup: SQLAlchemy's async engine, sessions and serialized writes.

SQLite (WAL) is the embedded default; PostgreSQL is selected by URL
(``postgresql+asyncpg://…``).  Every write that touches the hash-chained log
goes through :meth:`Database.write`, which serializes writers so the chain can
never fork:

* in-process, an :class:`asyncio.Lock`;
* across processes on SQLite, ``BEGIN IMMEDIATE`` (the write lock is taken at
  the start of the transaction, so two writers never both read the same tail);
* on PostgreSQL, ``pg_advisory_xact_lock`` (seam: taken at the start of every
  write transaction, released by COMMIT/ROLLBACK).

Schema: tables are created with ``SQLModel.metadata.create_all``.
TODO(alembic): replace :func:`create_schema` by ``alembic upgrade head`` once
migrations exist; it is the only place that creates tables.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import structlog
from sqlalchemy import event, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import StaticPool
from sqlmodel import SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

from perci_sim.storage import models  # noqa: F401  (registers the tables)

__all__ = ["Database", "create_schema", "open_database"]

log = structlog.get_logger(__name__)

#: Execution option that marks a connection as a serialized writer.
_WRITE_OPTION = "perci_write"
#: Key of the PostgreSQL advisory lock that serializes appends to the log.
_PG_LOG_LOCK = 0x5045_5243  # "PERC"
#: How long SQLite waits for another process's write lock before failing.
SQLITE_BUSY_TIMEOUT_MS = 15_000


class Database:
    """An async engine with read sessions and serialized write transactions."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._write_engine = engine.execution_options(**{_WRITE_OPTION: True})
        self._lock = asyncio.Lock()
        # One shared connection (SQLite :memory:): reads must not interleave with writes.
        self._serialize_reads = isinstance(engine.pool, StaticPool)

    @property
    def dialect(self) -> str:
        """The SQLAlchemy dialect name: ``sqlite`` or ``postgresql``."""
        return self.engine.dialect.name

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """Open a session for reading; it is rolled back on exit."""
        if self._serialize_reads:
            async with self._lock, AsyncSession(self.engine, expire_on_commit=False) as session:
                yield session
            return
        async with AsyncSession(self.engine, expire_on_commit=False) as session:
            yield session

    @asynccontextmanager
    async def connect(self) -> AsyncIterator[AsyncConnection]:
        """A Core connection for reading (no ORM session: the hot path); rolled back on exit."""
        if self._serialize_reads:
            async with self._lock, self.engine.connect() as conn:
                yield conn
            return
        async with self.engine.connect() as conn:
            yield conn

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncSession]:
        """Open a serialized write transaction, committed on success, rolled back on error."""
        async with (
            self._lock,
            AsyncSession(self._write_engine, expire_on_commit=False) as session,
        ):
            # Start the transaction now so the lock is held from the first statement.
            conn = await session.connection()
            if self.dialect == "postgresql":
                # Seam for scale-out: replicas serialize appends on one advisory lock.
                await conn.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOG_LOCK}
                )
            try:
                yield session
            except BaseException:
                await session.rollback()
                raise
            await session.commit()

    async def close(self) -> None:
        """Dispose of the engine and its connections."""
        await self.engine.dispose()


def _configure_sqlite(engine: AsyncEngine) -> None:
    """WAL, busy timeout, foreign keys; SQLAlchemy emits BEGIN itself (DEFERRED or IMMEDIATE)."""

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Disable the driver's own BEGIN handling: see SQLAlchemy's SQLite notes on
        # "Enabling Non-Legacy SQLite Transactional Modes".
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA foreign_keys=ON")
            # The record is legal evidence: fsync every commit (R1).
            cursor.execute("PRAGMA synchronous=FULL")
        finally:
            cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get(_WRITE_OPTION, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


async def create_schema(engine: AsyncEngine) -> None:
    """Create the tables that do not exist yet (the Alembic seam)."""
    async with engine.begin() as conn:
        await conn.run_sync(SQLModel.metadata.create_all)


async def open_database(url: str, *, create: bool = True) -> Database:
    """Open the database at ``url`` and (by default) create missing tables.

    ``sqlite+aiosqlite:///path`` creates the folder of ``path`` if needed.
    """
    parsed = make_url(url)
    is_sqlite = parsed.get_backend_name() == "sqlite"
    if is_sqlite and parsed.database and parsed.database != ":memory:":
        Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = create_async_engine(url)
    if is_sqlite:
        _configure_sqlite(engine)
    if create:
        await create_schema(engine)
    log.debug("database_opened", dialect=engine.dialect.name)
    return Database(engine)
