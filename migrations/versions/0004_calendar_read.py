"""Calendar overrides read under the calendar lock with a fresh snapshot.

Why: a hold's release time is computed from the calendar overrides, and a
calendar change recomputes the active holds it can see. Deposits therefore take
the calendar lock shared and a change takes it exclusively (advisory lock
7402001). The lock alone is not enough under READ COMMITTED when it is taken in
the same statement that reads the overrides: the statement's snapshot is taken
before the lock is granted, so a deposit that waited for a change would read
the overrides as they were before that change committed, and place a hold the
change could not see with the old release time.

``ledger_calendar_overrides(exclusive)`` takes the lock and then reads the
overrides: a VOLATILE function starts each query it runs with a fresh snapshot,
so the read sees every change committed before the lock was granted. It returns
them as one JSON array of ``[day, business_day, name]``, which also lets a
deposit fetch the calendar inside the statement that reads its accounts,
without a round trip of its own. PostgreSQL only: SQLite writers hold the
database lock for the whole transaction, which starts after it is granted.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-21 23:10:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_CREATE = r"""
CREATE FUNCTION ledger_calendar_overrides(exclusive boolean) RETURNS json
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    IF exclusive THEN
        PERFORM pg_advisory_xact_lock(7402001);
    ELSE
        PERFORM pg_advisory_xact_lock_shared(7402001);
    END IF;
    RETURN (
        SELECT coalesce(json_agg(json_build_array(day, business_day, name) ORDER BY day), '[]')
          FROM calendar_overrides
    );
END $$;
"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_CREATE)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION ledger_calendar_overrides(boolean)")
