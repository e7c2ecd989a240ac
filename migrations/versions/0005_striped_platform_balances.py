"""A platform account's balance is spread over 16 rows ("slots").

Why: every card deposit credits ``Assets:Clearing:Card``, every release and
payout touches its platform account, and a balance row stays locked from the
posting until COMMIT, WAL flush included. With one row per platform account
and asset, all deposits of the exchange queued for that one row lock, one
commit after another: the HTTP deposit rate was bounded by the commit latency,
whatever the number of workers (with ``synchronous_commit = off``, a test
setting only, the same load ran 40 % faster).

Now ``balances`` is keyed by (ledger account, asset, slot). The postings
trigger adds a platform account's share to slot ``txid % 16`` of the writing
transaction, so concurrent movements update different rows and commit
together (group commit). A customer's rows stay in slot 0: they are touched
only by that customer's movements, and their funds checks lock them. A balance
is the sum of its slots, read as an exact ``numeric`` (each slot is a 64-bit
integer, refused on overflow as before); the trial balance is unchanged.

``ledger_lock_balances`` is the funds check's lock: it locks slot 0 of each
key (creating it at zero), then reads the sum of all slots in a new query, so
with a fresh snapshot that sees every slot written by a movement that held the
lock before. SQLite writes slot 0 only: its writers are serialized anyway.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-21 23:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from migrations.ledger_sql import install_striped_balances

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_KEY = ["ledger_account_id", "asset"]


def _drop_sqlite_postings_apply() -> None:
    """SQLite refuses to rebuild a table that a trigger names; 0005's is put back after."""
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS postings_apply")


def upgrade() -> None:
    _drop_sqlite_postings_apply()
    with op.batch_alter_table("balances") as batch_op:
        batch_op.add_column(
            sa.Column("slot", sa.SmallInteger(), server_default=sa.text("0"), nullable=False)
        )
        batch_op.drop_constraint("pk_balances", type_="primary")
        batch_op.create_primary_key("pk_balances", [*_KEY, "slot"])
    install_striped_balances(striped=True)


def downgrade() -> None:
    _drop_sqlite_postings_apply()
    if op.get_bind().dialect.name == "postgresql":
        # Fold every slot into slot 0, behind the guards that keep balances
        # changing only through postings (the sums do not change).
        op.execute("ALTER TABLE balances DISABLE TRIGGER USER")
        op.execute(
            "UPDATE balances b SET balance = s.total FROM (SELECT ledger_account_id, asset, "
            "sum(balance) AS total FROM balances GROUP BY ledger_account_id, asset) s "
            "WHERE b.slot = 0 AND b.ledger_account_id = s.ledger_account_id AND b.asset = s.asset"
        )
        op.execute(
            "INSERT INTO balances (ledger_account_id, asset, slot, account_id, balance) "
            "SELECT ledger_account_id, asset, 0, account_id, sum(balance) FROM balances "
            "GROUP BY ledger_account_id, asset, account_id HAVING bool_and(slot <> 0)"
        )
        op.execute("DELETE FROM balances WHERE slot <> 0")
        op.execute("ALTER TABLE balances ENABLE TRIGGER USER")
    with op.batch_alter_table("balances") as batch_op:
        batch_op.drop_constraint("pk_balances", type_="primary")
        batch_op.create_primary_key("pk_balances", _KEY)
        batch_op.drop_column("slot")
    install_striped_balances(striped=False)
