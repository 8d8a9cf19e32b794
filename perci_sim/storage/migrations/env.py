"""Alembic environment: runs the migrations on a synchronous connection of the async engine.

:mod:`perci_sim.storage.schema` hands over a connection in
``config.attributes["connection"]`` (inside ``AsyncConnection.run_sync``).  Without one
(the ``alembic`` command line of a checkout), the database is ``sqlalchemy.url`` of the
configuration or ``PERCI_DATABASE_URL``, opened with the broker's own engine setup.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any, Literal

from alembic import context
from alembic.autogenerate.api import AutogenContext
from sqlalchemy.engine import Connection
from sqlmodel import SQLModel

from perci_sim.storage import models  # noqa: F401  (registers the tables)
from perci_sim.storage.schema import include_object

config = context.config
target_metadata = SQLModel.metadata


def render_item(kind: str, obj: Any, autogen_context: AutogenContext) -> str | Literal[False]:
    """Render the project's column types as plain SQLAlchemy types (same DDL).

    Migrations must not import application code that may change later: ``AutoString``
    (SQLModel) is ``sa.String`` and :class:`~perci_sim.storage.models.UTCDateTime` is
    ``sa.DateTime(timezone=True)`` in the database.
    """
    if kind != "type":
        return False
    name = type(obj).__name__
    if name == "AutoString":
        length = getattr(obj, "length", None)
        return f"sa.String(length={length})" if length else "sa.String()"
    if name == "UTCDateTime":
        return "sa.DateTime(timezone=True)"
    return False


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_item=render_item,
        # SQLite alters tables by copying them ("batch" mode).
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        include_object=include_object(connection.dialect.name),
    )


def _run(connection: Connection) -> None:
    _configure(connection)
    with context.begin_transaction():
        context.run_migrations()


async def _run_on_url(url: str) -> None:
    from perci_sim.storage.db import open_database

    db = await open_database(url, create=False)
    try:
        async with db.engine.begin() as conn:
            await conn.run_sync(_run)
    finally:
        await db.close()


def _main() -> None:
    if context.is_offline_mode():
        raise SystemExit("perci-sim migrations run online only (no --sql)")
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = config.get_main_option("sqlalchemy.url") or os.environ.get("PERCI_DATABASE_URL")
    if not url:
        raise SystemExit("set PERCI_DATABASE_URL (or sqlalchemy.url) to the database to migrate")
    asyncio.run(_run_on_url(url))


_main()
