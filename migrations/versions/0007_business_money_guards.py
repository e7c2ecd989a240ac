"""PostgreSQL refuses changes to the money a business record was booked with.

A deposit's, hold's, withdrawal's, trade's or chargeback's amount, asset,
account and journal entry are fixed when it is booked; only statuses and
settlement details change afterwards. An ``UPDATE deposits SET amount =
amount * 10`` by anyone who can write the table would otherwise make the
history disagree with the journal (``ledger verify`` reconciles the two and
would report it; this stops it happening). Trades and chargebacks never change
at all. The row triggers fire only when a guarded column actually changes
(their ``WHEN`` clause), so status updates pay nothing. SQLite: nothing (an
embedded database's owner can edit the file anyway; ``verify`` reports it).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 19:45:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

REFUSE = """
CREATE FUNCTION ledger_refuse_money_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the booked money of % cannot change; book a correcting entry instead',
        TG_TABLE_NAME USING ERRCODE = 'restrict_violation';
END
$$
"""

#: Table -> the columns fixed at booking (empty: the table is never updated).
GUARDED: dict[str, tuple[str, ...]] = {
    "deposits": ("account_id", "method", "asset", "amount", "entry_id"),
    "holds": ("account_id", "deposit_id", "asset", "amount"),
    "withdrawals": ("account_id", "kind", "asset", "amount", "entry_id"),
    "trades": (),
    "chargebacks": (),
}


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(REFUSE)
    for table, columns in GUARDED.items():
        if columns:
            changed = " OR ".join(f"OLD.{c} IS DISTINCT FROM NEW.{c}" for c in columns)
            op.execute(
                f"CREATE TRIGGER {table}_money_fixed BEFORE UPDATE ON {table} "
                f"FOR EACH ROW WHEN ({changed}) EXECUTE FUNCTION ledger_refuse_money_change()"
            )
        else:
            op.execute(
                f"CREATE TRIGGER {table}_money_fixed BEFORE UPDATE ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_money_change()"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in GUARDED:
        op.execute(f"DROP TRIGGER {table}_money_fixed ON {table}")
    op.execute("DROP FUNCTION ledger_refuse_money_change()")
