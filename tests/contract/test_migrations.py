"""The Alembic migrations build exactly the models' schema, on SQLite and PostgreSQL,
and the broker refuses a database that is not at the expected revision."""

from __future__ import annotations

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlmodel import SQLModel

from perci_sim.storage import schema
from perci_sim.storage.db import normalise_url, open_database


def _differences(connection: Connection) -> list[object]:
    opts = {"include_object": schema.include_object(connection.dialect.name)}
    context = MigrationContext.configure(connection, opts=opts)
    return list(compare_metadata(context, SQLModel.metadata))


def _upgrade_with_alembic(connection: Connection) -> None:
    command.upgrade(schema.alembic_config(connection), "head")


async def test_upgrade_head_builds_the_models_schema(database_url: str) -> None:
    """`alembic upgrade head` on an empty database: no difference from the metadata."""
    db = await open_database(database_url, create=False)
    try:
        assert await schema.current_revision(db.engine) is None
        async with db.engine.begin() as conn:
            await conn.run_sync(_upgrade_with_alembic)
        assert await schema.current_revision(db.engine) == schema.head_revision()
        async with db.engine.connect() as conn:
            assert await conn.run_sync(_differences) == []
        await schema.require_head(db.engine)
    finally:
        await db.close()


async def test_unmigrated_database_is_refused(database_url: str) -> None:
    """No revision, or another revision: SchemaOutOfDate names both."""
    db = await open_database(database_url, create=False)
    try:
        with pytest.raises(schema.SchemaOutOfDate) as refused:
            await schema.require_head(db.engine)
        head = schema.head_revision()
        assert str(refused.value) == (
            f"database at revision none, expected {head}: run `perci-sim db upgrade`"
        )
        assert await schema.upgrade(db.engine) == (None, head)
        assert await schema.upgrade(db.engine) == (head, head)  # idempotent
        async with db.engine.begin() as conn:
            await conn.execute(text("UPDATE alembic_version SET version_num = '0000'"))
        with pytest.raises(schema.SchemaOutOfDate, match="at revision 0000, expected"):
            await schema.require_head(db.engine)
    finally:
        await db.close()


async def test_a_database_from_before_the_migrations_is_adopted(database_url: str) -> None:
    """Tables made by metadata.create_all (no alembic_version) are stamped, not re-created."""
    db = await open_database(database_url, create=False)
    try:
        async with db.engine.begin() as conn:
            await conn.run_sync(SQLModel.metadata.create_all)
        assert await schema.upgrade(db.engine) == (None, schema.head_revision())
        await schema.require_head(db.engine)
    finally:
        await db.close()


def test_one_head_and_packaged_scripts() -> None:
    """A linear history inside the package (a wheel ships it)."""
    scripts = ScriptDirectory(str(schema.MIGRATIONS))
    assert scripts.get_heads() == [schema.head_revision()]
    assert (schema.MIGRATIONS / "env.py").is_file()
    assert (schema.MIGRATIONS / "script.py.mako").is_file()


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgresql://127.0.0.1:5432/x", "postgresql+asyncpg://127.0.0.1:5432/x"),
        ("postgres://u@h/x", "postgresql+asyncpg://u@h/x"),
        ("postgresql+asyncpg://h/x", "postgresql+asyncpg://h/x"),
        ("sqlite:///a.db", "sqlite+aiosqlite:///a.db"),
        ("sqlite+aiosqlite:///a.db", "sqlite+aiosqlite:///a.db"),
    ],
)
def test_urls_name_the_async_driver(given: str, expected: str) -> None:
    assert normalise_url(given) == expected
