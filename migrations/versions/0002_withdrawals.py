"""Withdrawals, chargebacks and reference rates.

* ``withdrawals``: one row per payout request (standard or final), its status
  and the journal entries that reserved and then settled its funds; indexed
  by account and time (history, the rolling daily limit) and by status and
  time (the review and payout queues);
* ``chargebacks``: one row per reversed deposit (``deposit_id`` unique, so a
  deposit is charged back at most once) with what was recovered from the
  customer and what is left as a receivable;
* ``rates``: USD reference rates as exact decimal text (prices, not money);
* an index on the audit log by account and time, read newest first.

Balances and lots stay maintained by the triggers of ``0001``: nothing here
writes money.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21 19:50:17.622944
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
    op.create_table(
        "rates",
        sa.Column("asset", sa.String(length=16), nullable=False),
        sa.Column("usd", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=100), nullable=False),
        sa.ForeignKeyConstraint(["asset"], ["assets.code"], name=op.f("fk_rates_asset_assets")),
        sa.PrimaryKeyConstraint("asset", name=op.f("pk_rates")),
    )
    op.create_table(
        "withdrawals",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("asset", sa.String(length=16), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("destination", sa.String(length=500), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("txid", sa.String(length=255), nullable=True),
        sa.Column("reason", sa.String(length=1000), nullable=True),
        sa.Column("entry_id", sa.Uuid(), nullable=False),
        sa.Column("settle_entry_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_withdrawals_account_id_accounts")
        ),
        sa.ForeignKeyConstraint(
            ["asset"], ["assets.code"], name=op.f("fk_withdrawals_asset_assets")
        ),
        sa.ForeignKeyConstraint(
            ["entry_id"],
            ["journal_entries.id"],
            name=op.f("fk_withdrawals_entry_id_journal_entries"),
        ),
        sa.ForeignKeyConstraint(
            ["settle_entry_id"],
            ["journal_entries.id"],
            name=op.f("fk_withdrawals_settle_entry_id_journal_entries"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_withdrawals")),
        sa.UniqueConstraint("entry_id", name=op.f("uq_withdrawals_entry_id")),
        sa.UniqueConstraint("settle_entry_id", name=op.f("uq_withdrawals_settle_entry_id")),
    )
    with op.batch_alter_table("withdrawals", schema=None) as batch_op:
        batch_op.create_index(
            "ix_withdrawals_account_id_created_at", ["account_id", "created_at"], unique=False
        )
        batch_op.create_index(
            "ix_withdrawals_status_created_at", ["status", "created_at"], unique=False
        )

    op.create_table(
        "chargebacks",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("deposit_id", sa.Uuid(), nullable=False),
        sa.Column("asset", sa.String(length=16), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("recovered", sa.BigInteger(), nullable=False),
        sa.Column("receivable", sa.BigInteger(), nullable=False),
        sa.Column("reason", sa.String(length=1000), nullable=False),
        sa.Column("entry_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_chargebacks_account_id_accounts")
        ),
        sa.ForeignKeyConstraint(
            ["asset"], ["assets.code"], name=op.f("fk_chargebacks_asset_assets")
        ),
        sa.ForeignKeyConstraint(
            ["deposit_id"], ["deposits.id"], name=op.f("fk_chargebacks_deposit_id_deposits")
        ),
        sa.ForeignKeyConstraint(
            ["entry_id"],
            ["journal_entries.id"],
            name=op.f("fk_chargebacks_entry_id_journal_entries"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chargebacks")),
        sa.UniqueConstraint("deposit_id", name=op.f("uq_chargebacks_deposit_id")),
        sa.UniqueConstraint("entry_id", name=op.f("uq_chargebacks_entry_id")),
    )
    with op.batch_alter_table("chargebacks", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_chargebacks_account_id"), ["account_id"], unique=False)

    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.create_index("ix_audit_log_account_id_at", ["account_id", "at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_log_account_id_at")

    with op.batch_alter_table("chargebacks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_chargebacks_account_id"))

    op.drop_table("chargebacks")
    with op.batch_alter_table("withdrawals", schema=None) as batch_op:
        batch_op.drop_index("ix_withdrawals_status_created_at")
        batch_op.drop_index("ix_withdrawals_account_id_created_at")

    op.drop_table("withdrawals")
    op.drop_table("rates")
