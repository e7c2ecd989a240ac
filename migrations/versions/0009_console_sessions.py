"""The console's session-signing secret, shared by every process on the database,
and its sign-ins.

Why: the console signs its session cookie with a secret. When the deployment
does not set ``LEDGER_SECRET_KEY``, a secret generated per process would make
each gunicorn worker refuse the cookies the others signed (and every restart
sign everyone out). The first process that needs a secret stores one here; all
others read it. ``console_sessions`` holds one row per sign-in, which the
session cookie names: signing out ends the row, so a copy of the cookie taken
before is refused too.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30 19:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "console_secrets",
        sa.Column("id", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("secret", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )

    op.create_table(
        "console_sessions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("api_key_id", sa.Uuid(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["api_key_id"], ["api_keys.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_console_sessions_api_key_id", "console_sessions", ["api_key_id"], unique=False
    )
    op.create_index(
        "ix_console_sessions_started_at", "console_sessions", ["started_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_console_sessions_started_at", table_name="console_sessions")
    op.drop_index("ix_console_sessions_api_key_id", table_name="console_sessions")
    op.drop_table("console_sessions")
    op.drop_table("console_secrets")
