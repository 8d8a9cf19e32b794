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

Writers that queue behind each other share one transaction and one COMMIT, each in
its own SAVEPOINT (group commit, :mod:`.group_commit`).

Schema: Alembic migrations (:mod:`.schema`); :func:`open_database` brings a
fresh or older database to the head revision when asked to (``create=True``).
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import structlog
from sqlalchemy import Insert, Table, event, insert, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.orm import ORMExecuteState, Session, configure_mappers
from sqlalchemy.pool import StaticPool
from sqlmodel import SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

from perci_sim.storage import models  # noqa: F401  (registers the tables)
from perci_sim.storage.group_commit import DEFAULT_GROUP_LIMIT, GroupCommitter

__all__ = [
    "Database",
    "create_schema",
    "defer_insert",
    "detached_row",
    "flush_deferred",
    "normalise_url",
    "open_database",
]

_Model = TypeVar("_Model", bound=SQLModel)

log = structlog.get_logger(__name__)

#: Execution option that marks a connection as a serialized writer.
_WRITE_OPTION = "perci_write"
#: Execution option of a connection whose reads each run alone: no explicit BEGIN.
_SINGLE_OPTION = "perci_single_statement"
#: Key of the PostgreSQL advisory lock that serializes appends to the log.
_PG_LOG_LOCK = 0x5045_5243  # "PERC"
#: Connections kept open per process (beyond them, up to 10 more are opened when needed).
POOL_SIZE = 20
#: How long SQLite waits for another process's write lock before failing.
SQLITE_BUSY_TIMEOUT_MS = 15_000


#: ``session.info`` key of the rows inserted with :func:`defer_insert`, not yet written.
_DEFERRED_KEY = "perci_deferred_inserts"


#: One INSERT statement per table (its cache key is computed once).
_INSERTS: dict[Table, Insert] = {}


_CONFIGURED: set[type[SQLModel]] = set()


def detached_row(model: type[_Model], values: dict[str, Any]) -> _Model:
    """An instance of the table model ``model`` holding ``values``, built as a query builds
    the rows it loads (no validation, no change tracking): a tenth of the constructor's cost.

    For the hot path's rows written with :func:`defer_insert` (or Core) and only read
    afterwards: the instance belongs to no session, so changing it writes nothing.
    ``values`` must name every column (an absent one reads as a lazy load and fails).
    """
    if model not in _CONFIGURED:
        configure_mappers()  # the attributes' setters exist once the mappers are configured
        _CONFIGURED.add(model)
    instance: _Model = model._sa_class_manager.new_instance()  # type: ignore[attr-defined]
    instance.__dict__.update(values)
    return instance


def defer_insert(session: AsyncSession | Session, table: Table, row: dict[str, Any]) -> None:
    """Insert ``row`` into ``table`` in the session's transaction, batched (Core, no ORM).

    The hot path's write-only rows (log events, audiences, deliveries) are written
    together, one executemany per table in the order first deferred: before the next
    statement run through the session (so the transaction's own queries see them),
    at commit at the latest, or when :func:`flush_deferred` is called.  Nothing is
    written when the transaction rolls back.  ``table`` must not have a foreign key
    to a row the ORM has not flushed yet (the rows are written before the ORM's).
    """
    pending: dict[Table, list[dict[str, Any]]] = session.info.setdefault(_DEFERRED_KEY, {})
    pending.setdefault(table, []).append(row)


def _write_deferred(session: Session) -> None:
    pending: dict[Table, list[dict[str, Any]]] | None = session.info.pop(_DEFERRED_KEY, None)
    if pending:
        conn = session.connection()
        for table, rows in pending.items():
            statement = _INSERTS.get(table)
            if statement is None:
                statement = _INSERTS[table] = insert(table)
            conn.execute(statement, rows)


async def flush_deferred(session: AsyncSession) -> None:
    """Write the rows :func:`defer_insert` holds for the session's transaction now."""
    if session.info.get(_DEFERRED_KEY):
        await session.run_sync(_write_deferred)


@event.listens_for(Session, "do_orm_execute")
def _before_statement(orm_execute_state: ORMExecuteState) -> None:
    if orm_execute_state.session.info.get(_DEFERRED_KEY):
        _write_deferred(orm_execute_state.session)


@event.listens_for(Session, "before_commit")
def _before_commit(session: Session) -> None:
    _write_deferred(session)


@event.listens_for(Session, "after_rollback")
def _after_rollback(session: Session) -> None:
    session.info.pop(_DEFERRED_KEY, None)


async def _pg_log_lock(conn: AsyncConnection) -> None:
    # Seam for scale-out: replicas serialize appends on one advisory lock, held by the
    # batch's transaction until its COMMIT.
    await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOG_LOCK})


class Database:
    """An async engine with read sessions and serialized write transactions."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        #: Names this process's handle in cross-replica notices (storage/notify.py).
        self.instance_id = secrets.token_hex(8)
        self._write_engine = engine.execution_options(**{_WRITE_OPTION: True})
        self._single_engine = engine.execution_options(**{_SINGLE_OPTION: True})
        self._lock = asyncio.Lock()
        # One shared connection (SQLite :memory:): reads must not interleave with writes.
        self._serialize_reads = isinstance(engine.pool, StaticPool)
        self.writes = GroupCommitter(
            self._write_engine,
            self._lock,
            on_begin=_pg_log_lock if self.dialect == "postgresql" else None,
            # The shared connection's readers would see a batch before its COMMIT.
            limit=1 if self._serialize_reads else DEFAULT_GROUP_LIMIT,
        )

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
        """A Core connection for one-statement reads (no ORM session: the hot path).

        On SQLite no ``BEGIN`` is sent: each statement runs on its own, which is
        atomic and sees every transaction committed before it.  Several statements
        that must see one snapshot belong in :meth:`read`.  Rolled back on exit.
        """
        if self._serialize_reads:
            async with self._lock, self._single_engine.connect() as conn:
                yield conn
            return
        async with self._single_engine.connect() as conn:
            yield conn

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncSession]:
        """Open a serialized write transaction, committed on success, rolled back on error.

        Writers queued behind each other share one COMMIT (storage/group_commit.py);
        the block returns only once its work is durable, and a writer that fails
        rolls back only its own work.
        """
        async with self.writes.write() as session:
            yield session

    async def close(self) -> None:
        """Commit what the writers wait for, then dispose of the engine and its connections."""
        await self.writes.close()
        if self.writes.batches:
            log.info(
                "group_commit",
                writers=self.writes.writers,
                commits=self.writes.batches,
                writers_per_commit=round(self.writes.writers / self.writes.batches, 2),
            )
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
        options = conn.get_execution_options()
        if options.get(_SINGLE_OPTION, False):
            return  # one-statement reads (Database.connect): SQLite's autocommit
        conn.exec_driver_sql("BEGIN IMMEDIATE" if options.get(_WRITE_OPTION, False) else "BEGIN")


async def create_schema(engine: AsyncEngine) -> None:
    """Bring the database to the head revision (Alembic; see :mod:`.schema`)."""
    from perci_sim.storage.schema import upgrade

    await upgrade(engine)


def normalise_url(url: str) -> str:
    """Name the async driver when the URL names none: asyncpg, aiosqlite."""
    for prefix, driver in (
        ("postgresql://", "postgresql+asyncpg://"),
        ("postgres://", "postgresql+asyncpg://"),
        ("sqlite://", "sqlite+aiosqlite://"),
    ):
        if url.startswith(prefix):
            return driver + url.removeprefix(prefix)
    return url


async def open_database(url: str, *, create: bool = True) -> Database:
    """Open the database at ``url`` and (by default) migrate it to the head revision.

    ``sqlite+aiosqlite:///path`` creates the folder of ``path`` if needed;
    ``postgresql://`` means ``postgresql+asyncpg://`` (see :func:`normalise_url`).
    """
    url = normalise_url(url)
    parsed = make_url(url)
    is_sqlite = parsed.get_backend_name() == "sqlite"
    if is_sqlite and parsed.database and parsed.database != ":memory:":
        Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    # Connections are kept, not opened per request: opening one costs a thread (aiosqlite)
    # or a server round trip and authentication (asyncpg), more than the request itself.
    # The pool's default (5) is below the writers and readers a loaded broker runs at once;
    # each connection beyond it was opened and closed again for one transaction.
    pooled = {} if parsed.database in (None, "", ":memory:") else {"pool_size": POOL_SIZE}
    engine = create_async_engine(url, **pooled)
    if is_sqlite:
        _configure_sqlite(engine)
    if create:
        await create_schema(engine)
    log.debug("database_opened", dialect=engine.dialect.name)
    return Database(engine)
