"""The database schema's version: Alembic migrations, applied and checked.

The migrations live in :mod:`perci_sim.storage.migrations` (shipped in the wheel).
``perci-sim db upgrade`` runs :func:`upgrade`; the broker checks :func:`require_head`
at start-up and refuses an unmigrated or outdated database.

Every database, fresh ones included (``perci-sim init``, drills, test fixtures), is
built by running the migrations: ``metadata.create_all`` + ``alembic stamp head``
was measured no faster (about 50 ms per fresh SQLite file either way, most of it
fsync), so there is one path, the one every upgrade takes.
tests/contract/test_migrations.py checks that the migrated schema is the models'.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import SQLModel

from perci_sim.storage import models  # noqa: F401  (registers the tables)

__all__ = [
    "MIGRATIONS",
    "SchemaOutOfDate",
    "alembic_config",
    "current_revision",
    "head_revision",
    "include_object",
    "require_head",
    "upgrade",
]

#: The Alembic script directory inside the package.
MIGRATIONS = Path(__file__).with_name("migrations")
#: PostgreSQL advisory lock taken while a process changes the schema.
_PG_SCHEMA_LOCK = 0x5045_5253  # "PERS"


class SchemaOutOfDate(Exception):
    """The database is not at the revision this code expects."""

    def __init__(self, current: str | None, expected: str) -> None:
        self.current = current
        self.expected = expected
        super().__init__(
            f"database at revision {current or 'none'}, expected {expected}: "
            "run `perci-sim db upgrade`"
        )


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic configuration for the packaged migrations (on ``connection`` if given)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


@cache
def _scripts() -> ScriptDirectory:
    return ScriptDirectory(str(MIGRATIONS))


def head_revision() -> str:
    """The revision this code expects (the migrations' single head)."""
    head = _scripts().get_current_head()
    assert head is not None, "no migrations"
    return head


def _current(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


async def current_revision(engine: AsyncEngine) -> str | None:
    """The database's revision; ``None`` when it has never been migrated."""
    async with engine.connect() as conn:
        return await conn.run_sync(_current)


async def require_head(engine: AsyncEngine) -> None:
    """Raise :class:`SchemaOutOfDate` unless the database is at :func:`head_revision`."""
    current, expected = await current_revision(engine), head_revision()
    if current != expected:
        raise SchemaOutOfDate(current, expected)


def _lock(connection: Connection) -> None:
    if connection.dialect.name == "postgresql":
        # Two processes (replicas, `init` and `db upgrade`) never migrate at once.
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_SCHEMA_LOCK})


def _has_broker_tables(connection: Connection) -> bool:
    return bool(set(inspect(connection).get_table_names()) & set(SQLModel.metadata.tables))


def include_object(dialect: str) -> Callable[..., bool]:
    """Alembic's ``include_object`` hook for ``dialect``: leave out the indexes that
    ``Index.ddl_if`` reserves for another backend (Alembic does not read ``ddl_if``)."""

    def include(obj: Any, _name: Any, type_: str, reflected: bool, _compare_to: Any) -> bool:
        ddl_if = getattr(obj, "_ddl_if", None) if type_ == "index" and not reflected else None
        return ddl_if is None or ddl_if.dialect in (None, dialect)

    return include


def _differences(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(
        connection, opts={"include_object": include_object(connection.dialect.name)}
    )
    return list(compare_metadata(context, SQLModel.metadata))


def _upgrade(connection: Connection) -> tuple[str | None, str]:
    _lock(connection)
    context = MigrationContext.configure(connection)
    before, head = context.get_current_revision(), head_revision()
    if before == head:
        return before, head
    if before is None and _has_broker_tables(connection):
        # Created before the migrations existed (metadata.create_all): adopt it when its
        # schema is the head's, else refuse to guess.
        if _differences(connection):
            raise RuntimeError(
                "the database has broker tables but no Alembic revision, and they differ "
                "from the current schema: migrate it by hand"
            )
        context.stamp(_scripts(), head)
    else:
        command.upgrade(alembic_config(connection), "head")
    return before, head


async def upgrade(engine: AsyncEngine) -> tuple[str | None, str]:
    """Apply the migrations up to the head; return the revisions before and after.

    A database already at the head is left alone (one query).  One made by
    ``metadata.create_all`` before the migrations existed is stamped when its schema
    is the head's.
    """
    async with engine.connect() as conn:
        if await conn.run_sync(_current) == head_revision():
            return head_revision(), head_revision()
    async with engine.begin() as conn:
        return await conn.run_sync(_upgrade)
