"""Dashboard logouts: a signed-cookie session ended on one replica is ended on all.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26 06:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "dashboard_logout",
        sa.Column("session_id", sa.String(length=32), nullable=False),
        sa.Column("participant_id", sa.String(length=63), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("session_id"),
    )
    with op.batch_alter_table("dashboard_logout", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_dashboard_logout_expires_at"), ["expires_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("dashboard_logout", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_dashboard_logout_expires_at"))
    op.drop_table("dashboard_logout")
