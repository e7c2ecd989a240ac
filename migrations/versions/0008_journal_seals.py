"""Journal seals: RFC 9162 Merkle roots over the journal, chained by hash.

``seals`` holds one row per seal, ``seal_entries`` the membership of each
entry (seal, leaf index, the leaf's hash as sealed). Both are append-only like
the journal: UPDATE, DELETE and TRUNCATE are refused by triggers (both
databases; PostgreSQL also refuses TRUNCATE).

``journal_entries.xact_id`` (PostgreSQL) is the id of the transaction that
wrote the entry, filled by the column's default (``pg_current_xact_id()``, no
extra statement or round trip on the write path). A seal takes every committed
entry in no seal yet; it records its cut (``cut``: the ``xmax`` of its
snapshot, ``cut_running``: the transactions then still running below it), so
the next seal only looks at entries of those transactions and of later ones
(service/db/seals.py says why that is enough). Existing rows get the
migration's own transaction id, so the first seal takes them. SQLite leaves
the column NULL: its writers are serialized, and the sealer (holding the
write lock) seals every entry not sealed yet.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30 18:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_PG_XACT_DEFAULT = "(pg_current_xact_id()::text::bigint)"

_PG_REFUSE = r"""
CREATE FUNCTION ledger_refuse_seal_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'seals are append-only: % on % refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'integrity_constraint_violation';
END $$
"""

_TABLES = ("seals", "seal_entries")


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.add_column(
            "journal_entries",
            sa.Column(
                "xact_id", sa.BigInteger(), server_default=sa.text(_PG_XACT_DEFAULT), nullable=True
            ),
        )
        op.create_index("ix_journal_entries_xact_id", "journal_entries", ["xact_id", "id"])
    else:  # in place (ALTER TABLE ADD COLUMN), keeping the journal's triggers
        op.execute("ALTER TABLE journal_entries ADD COLUMN xact_id BIGINT")
        op.create_index("ix_journal_entries_xact_id", "journal_entries", ["xact_id", "id"])
    op.create_table(
        "seals",
        sa.Column("number", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("entries", sa.Integer(), nullable=False),
        sa.Column("root", sa.String(length=64), nullable=False),
        sa.Column("previous", sa.String(length=64), nullable=True),
        sa.Column("sealed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("cut", sa.BigInteger(), nullable=True),
        sa.Column("cut_running", sa.Text(), nullable=True),
        sa.Column("chunk_roots", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("number", name=op.f("pk_seals")),
        sa.UniqueConstraint("hash", name=op.f("uq_seals_hash")),
    )
    op.create_table(
        "seal_entries",
        sa.Column("seal_number", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("leaf_index", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("entry_id", sa.Uuid(), nullable=False),
        sa.Column("leaf_hash", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("seal_number", "leaf_index", name=op.f("pk_seal_entries")),
        sa.UniqueConstraint("entry_id", name=op.f("uq_seal_entries_entry_id")),
    )
    if dialect == "postgresql":
        op.execute(_PG_REFUSE)
        for table in _TABLES:
            op.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION ledger_refuse_seal_change()"
            )
            op.execute(
                f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_seal_change()"
            )
    else:
        for table in _TABLES:
            for operation in ("UPDATE", "DELETE"):
                op.execute(
                    f"CREATE TRIGGER {table}_no_{operation.lower()} BEFORE {operation} ON {table} "
                    f"BEGIN SELECT RAISE(ABORT, 'seals are append-only: {operation} on {table} "
                    "refused'); END"
                )


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        for table in _TABLES:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")
        op.execute("DROP FUNCTION IF EXISTS ledger_refuse_seal_change()")
    else:
        for table in _TABLES:
            for operation in ("update", "delete"):
                op.execute(f"DROP TRIGGER IF EXISTS {table}_no_{operation}")
    op.drop_table("seal_entries")
    op.drop_table("seals")
    if dialect == "postgresql":
        op.drop_index("ix_journal_entries_xact_id", table_name="journal_entries")
        op.drop_column("journal_entries", "xact_id")
    else:
        # Not a batch (table copy): that would drop the journal's triggers and
        # trip over postings_apply, which names the table. SQLite >= 3.35 drops
        # an unindexed column in place.
        op.drop_index("ix_journal_entries_xact_id", table_name="journal_entries")
        op.execute("ALTER TABLE journal_entries DROP COLUMN xact_id")
