"""References on the journal checked once per statement; lots follow releases.

Why: PostgreSQL checks a foreign key with a trigger call and a ``KEY SHARE``
row lock per inserted row and key. ``postings`` had three keys and
``hold_lots`` two, so releasing 10,000 holds (20,000 postings, 10,000 lots)
spent about half of its time in 80,000 such checks. The same references are
now checked once per statement by ``postings_apply`` (the trigger that already
checks the zero sum and maintains ``balances`` and ``hold_lots``):

* every posting's journal entry exists (an anti-join over the statement's
  distinct entries; journal entries can never be deleted);
* every posting's ledger account and asset exist: the foreign keys of
  ``balances`` check each (ledger account, asset) pair when it first appears,
  and every posting's pair is upserted there by the same trigger;
* every hold a posting is tagged with exists, and so every lot's hold: the lot
  upsert joins ``holds`` and must touch one lot per (hold, asset) tagged.

Lots now take their hold's status when created and follow it into
``released`` when a posting empties them after the hold was marked released,
so the release job no longer updates its lots a second time.

``ix_postings_hold_id`` becomes partial (``hold_id IS NOT NULL``): most
postings (the clearing side of a deposit, the ``Available`` side of a release)
carry no hold and need no index entry.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21 10:05:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from migrations.ledger_sql import (
    ROW_FOREIGN_KEYS,
    drop_sqlite_postings_triggers,
    install_set_based_postings,
)

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TAGGED = sa.text("hold_id IS NOT NULL")


def upgrade() -> None:
    drop_sqlite_postings_triggers()
    for table in ("postings", "hold_lots"):
        with op.batch_alter_table(table) as batch_op:
            for fk_table, name, *_ in ROW_FOREIGN_KEYS:
                if fk_table == table:
                    batch_op.drop_constraint(name, type_="foreignkey")
            if table == "postings":
                batch_op.drop_index("ix_postings_hold_id")
                batch_op.create_index(
                    "ix_postings_hold_id",
                    ["hold_id"],
                    postgresql_where=_TAGGED,
                    sqlite_where=_TAGGED,
                )
    install_set_based_postings(set_based=True)


def downgrade() -> None:
    drop_sqlite_postings_triggers()
    for table in ("postings", "hold_lots"):
        with op.batch_alter_table(table) as batch_op:
            for fk_table, name, referred, local, remote in ROW_FOREIGN_KEYS:
                if fk_table == table:
                    batch_op.create_foreign_key(name, referred, local, remote)
            if table == "postings":
                batch_op.drop_index("ix_postings_hold_id")
                batch_op.create_index("ix_postings_hold_id", ["hold_id"])
    install_set_based_postings(set_based=False)
