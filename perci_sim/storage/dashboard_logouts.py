"""Dashboard logouts, shared by every replica (the ``dashboard_logout`` table).

A dashboard session is a signed cookie any replica accepts (web/sessions.py); a
logout recorded here ends it everywhere.  Rows are kept until the session would have
expired on its own, then purged by the next logout.  Expiry is wall-clock time: how
long a browser stays signed in is a property of the real world, not of a drill.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from perci_sim.storage.db import Database
from perci_sim.storage.models import DashboardLogout

__all__ = ["is_logged_out", "record_logout"]

_TABLE = DashboardLogout.__table__  # type: ignore[attr-defined]


async def record_logout(
    db: Database, *, session_id: str, participant_id: str, expires_at: float, now: float
) -> None:
    """End ``session_id`` on every replica (idempotent); purge the logouts that expired."""
    values = {
        "session_id": session_id,
        "participant_id": participant_id,
        "expires_at": _at(expires_at),
    }
    insert = pg_insert if db.dialect == "postgresql" else sqlite_insert
    # A serialized write like any other (SQLite's one writer; the in-memory database's
    # one connection), though nothing of the log changes.
    async with db.write() as session:
        conn = await session.connection()
        await conn.execute(_TABLE.delete().where(_TABLE.c.expires_at <= _at(now)))
        await conn.execute(insert(_TABLE).values(values).on_conflict_do_nothing())


async def is_logged_out(db: Database, session_id: str) -> bool:
    """True when the session was logged out (on any replica)."""
    async with db.connect() as conn:
        found = await conn.execute(
            select(_TABLE.c.session_id).where(_TABLE.c.session_id == session_id)
        )
        return found.first() is not None


def _at(wall: float) -> datetime:
    return datetime.fromtimestamp(wall, UTC)
