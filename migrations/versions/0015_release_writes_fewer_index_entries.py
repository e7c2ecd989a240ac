"""A release writes fewer index entries: the account index of holds keeps only
unreleased holds, and balance rows leave room on their pages (PostgreSQL).

Why: releasing a hold rewrites its row, and a rewritten row gets a new entry
in every index of the table whose condition it meets. Of the three indexes a
release wrote to, the account's was the dear one: 200 holds share each key,
so every new entry lands in a full page of duplicates, and PostgreSQL first
visits the table for each of them to see which it may delete. Measured on
200,000 holds (10,000 a batch), leaving released holds out of that index
took the release job from 377 to 330 ms of database time a batch (issue 17).

Every reader of unreleased holds (trades, withdrawals, the lazy release, the
due count) filters on a status the index condition covers. The two readers of
an account's released holds (the holds list, and history naming the holds a
release entry released) find them through the account's deposits and the
one hold of each (``uq_holds_deposit_id``): a hold's account is its
deposit's, which ``ledger verify`` checks.

Balances: every posting rewrites a balance row. With room left on its page
(``fillfactor`` 50) the new version stays there and no index changes (a HOT
update; the balance is in no index): a release batch rewrote 2,000 balance
rows, a third of them with new index entries when pages were full. The
setting applies to pages written from now on; ``VACUUM FULL balances``
applies it to the rows already there (it locks the table while it runs).

SQLite keeps the full index: its planner uses a partial index only for a
condition written exactly as the index's, and its release is not the
measured one. It has no fill factor.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-01 12:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.drop_index("ix_holds_account_id", table_name="holds")
    op.create_index(
        "ix_holds_account_id",
        "holds",
        ["account_id"],
        postgresql_where=sa.text("status <> 'released'"),
    )
    op.execute("ALTER TABLE balances SET (fillfactor = 50)")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("ALTER TABLE balances RESET (fillfactor)")
    op.drop_index("ix_holds_account_id", table_name="holds")
    op.create_index("ix_holds_account_id", "holds", ["account_id"])
