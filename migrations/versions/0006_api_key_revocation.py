"""API keys can be revoked, and show when they were last used.

* ``revoked_at``: set by ``ledger keys revoke NAME``; a revoked key is refused
  (every server process re-reads a key at least every couple of seconds);
* ``last_used_at``: when a server process last looked the key up, kept to the
  minute (a write per request would cost more than it tells).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 19:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("api_keys") as batch:
        batch.add_column(sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_column("last_used_at")
        batch.drop_column("revoked_at")
