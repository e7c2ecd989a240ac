"""Events (transactional outbox) and webhooks.

``events`` is the outbox: each change inserts its event in its own
transaction. An event's ``sequence`` (the feed's cursor) is NOT taken at
insert time: a number taken at insert is not commit order (A takes 104, B
takes 105, B commits first; a reader past 105 never sees 104).

PostgreSQL: an event is inserted with the inserting transaction's id
(``txid``, a column default) and no sequence; the sequencer
(``service.db.events.sequence_committed``, where the rule is proved) numbers
committed events afterwards, in one place, under the lock of the one
``event_sequence`` row, continuing from ``event_sequence.last``. An event
that commits late is numbered late, so a reader never moves past it. The
sequencer, not the writers, notifies ``ledger_events`` when it numbered
events: a NOTIFY serializes the commits of the transactions that send it, so
it stays off the deposit path.

SQLite: writers are serialized (``BEGIN IMMEDIATE``), so insert order is
commit order; a trigger numbers each event at insert from ``event_sequence``.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30 19:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PG_TXID_DEFAULT = "(pg_current_xact_id()::text::bigint)"

SQLITE_SEQUENCE_TRIGGER = """
CREATE TRIGGER events_sequence AFTER INSERT ON events
FOR EACH ROW WHEN NEW.sequence IS NULL
BEGIN
    UPDATE event_sequence SET last = last + 1 WHERE id = 1;
    UPDATE events SET sequence = (SELECT last FROM event_sequence WHERE id = 1)
    WHERE id = NEW.id;
END
"""


def _utc() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    op.create_table(
        "events",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("sequence", sa.BigInteger(), nullable=True),
        sa.Column(
            "txid",
            sa.BigInteger(),
            nullable=False,
            server_default=sa.text(PG_TXID_DEFAULT if postgres else "0"),
        ),
        sa.Column("type", sa.String(64), nullable=False),
        sa.Column("occurred_at", _utc(), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_events"),
    )
    # Numbered events only: an insert (on the deposit's path) touches the
    # primary key and the unnumbered index; the sequencer adds these later.
    op.create_index(
        "ix_events_sequence",
        "events",
        ["sequence"],
        unique=True,
        postgresql_where=sa.text("sequence IS NOT NULL"),
        sqlite_where=sa.text("sequence IS NOT NULL"),
    )
    op.create_index(
        "ix_events_account_id_sequence",
        "events",
        ["account_id", "sequence"],
        postgresql_where=sa.text("sequence IS NOT NULL"),
        sqlite_where=sa.text("sequence IS NOT NULL"),
    )
    op.create_index(
        "ix_events_unsequenced",
        "events",
        ["txid", "id"],
        postgresql_where=sa.text("sequence IS NULL"),
        sqlite_where=sa.text("sequence IS NULL"),
    )
    op.create_table(
        "event_sequence",
        sa.Column("id", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("last", sa.BigInteger(), nullable=False),
        sa.Column("purged_through", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_event_sequence"),
    )
    op.execute("INSERT INTO event_sequence (id, last, purged_through) VALUES (1, 0, 0)")
    if not postgres:
        op.execute(SQLITE_SEQUENCE_TRIGGER)

    op.create_table(
        "webhook_endpoints",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("url", sa.String(2000), nullable=False),
        sa.Column("event_types", sa.Text(), nullable=False),
        sa.Column("description", sa.String(500), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("secret", sa.String(100), nullable=False),
        sa.Column("previous_secret", sa.String(100), nullable=True),
        sa.Column("previous_secret_until", _utc(), nullable=True),
        sa.Column("cursor", sa.BigInteger(), nullable=False),
        sa.Column("lease_owner", sa.Uuid(), nullable=True),
        sa.Column("lease_until", _utc(), nullable=True),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("updated_at", _utc(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_webhook_endpoints"),
    )
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("endpoint_id", sa.Uuid(), nullable=False),
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("sequence", sa.BigInteger(), nullable=False),
        sa.Column("event_type", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_status_code", sa.SmallInteger(), nullable=True),
        sa.Column("last_error", sa.String(1000), nullable=True),
        sa.Column("next_attempt_at", _utc(), nullable=True),
        sa.Column("delivered_at", _utc(), nullable=True),
        sa.Column("created_at", _utc(), nullable=False),
        sa.ForeignKeyConstraint(
            ["endpoint_id"],
            ["webhook_endpoints.id"],
            name="fk_webhook_deliveries_endpoint_id_webhook_endpoints",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_webhook_deliveries"),
    )
    op.create_index(
        "ix_webhook_deliveries_endpoint_id_status_id",
        "webhook_deliveries",
        ["endpoint_id", "status", "id"],
    )


def downgrade() -> None:
    op.drop_index("ix_webhook_deliveries_endpoint_id_status_id", table_name="webhook_deliveries")
    op.drop_table("webhook_deliveries")
    op.drop_table("webhook_endpoints")
    if op.get_bind().dialect.name != "postgresql":
        op.execute("DROP TRIGGER events_sequence")
    op.drop_table("event_sequence")
    op.drop_index("ix_events_unsequenced", table_name="events")
    op.drop_index("ix_events_account_id_sequence", table_name="events")
    op.drop_index("ix_events_sequence", table_name="events")
    op.drop_table("events")
