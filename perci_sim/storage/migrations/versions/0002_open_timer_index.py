"""Index only the open timers by due time (the deadline wheel's one query).

The composite ``(fired_at, due_at)`` index held the cancelled timers too: every
executed order leaves its cancelled, never-fired timers behind, all due in the past,
and the earliest open one was found only after stepping over all of them (about
90 ms with a million, growing without bound).  The partial index holds only the
open timers: one step, whatever the history.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 06:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("timer", schema=None) as batch_op:
        batch_op.drop_index("ix_timer_open_due")
        batch_op.create_index(
            "ix_timer_open",
            ["due_at", "id"],
            unique=False,
            sqlite_where=sa.text("fired_at IS NULL AND cancelled IS 0"),
            postgresql_where=sa.text("fired_at IS NULL AND cancelled IS false"),
        )


def downgrade() -> None:
    with op.batch_alter_table("timer", schema=None) as batch_op:
        batch_op.drop_index("ix_timer_open")
        batch_op.create_index("ix_timer_open_due", ["fired_at", "due_at"], unique=False)
