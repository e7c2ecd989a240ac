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
from typing import Any

import sqlalchemy as sa
from alembic import context, op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# -- SQL of this revision, frozen --------------------------------------------------

#: Foreign keys of the two tables the hot paths write most, each checked row by
#: row by PostgreSQL (a trigger call and a ``KEY SHARE`` lock per row and key):
#: 0003 drops them and checks the same references once per statement instead.
ROW_FOREIGN_KEYS = [
    ("postings", "fk_postings_entry_id_journal_entries", "journal_entries", ["entry_id"], ["id"]),
    (
        "postings",
        "fk_postings_ledger_account_id_ledger_accounts",
        "ledger_accounts",
        ["ledger_account_id"],
        ["id"],
    ),
    ("postings", "fk_postings_asset_assets", "assets", ["asset"], ["code"]),
    ("hold_lots", "fk_hold_lots_hold_id_holds", "holds", ["hold_id"], ["id"]),
    ("hold_lots", "fk_hold_lots_asset_assets", "assets", ["asset"], ["code"]),
]

_PG_APPLY_POSTINGS = r"""
CREATE OR REPLACE FUNCTION ledger_apply_postings() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    bad record;
    tagged bigint;
    applied bigint;
BEGIN
    SELECT entry_id, asset, sum(amount) AS total INTO bad
      FROM new_postings GROUP BY entry_id, asset HAVING sum(amount) <> 0 LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'unbalanced journal entry %: % postings sum to %',
            bad.entry_id, bad.asset, bad.total USING ERRCODE = 'check_violation';
    END IF;
    -- Scalar subqueries, not joins: one index probe per entry or hold of the
    -- statement, never a plan that scans the whole journal or all holds.
    SELECT p.entry_id INTO bad FROM (SELECT DISTINCT entry_id FROM new_postings) p
     WHERE (SELECT true FROM journal_entries e WHERE e.id = p.entry_id) IS NULL LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'posting to journal entry % which does not exist', bad.entry_id
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    -- The foreign keys of balances check the ledger account and asset of every
    -- pair seen for the first time; a pair already in balances was checked then.
    INSERT INTO balances AS b (ledger_account_id, asset, account_id, balance)
        SELECT ledger_account_id, asset, account_id, sum(amount) FROM new_postings
         GROUP BY ledger_account_id, asset, account_id ORDER BY ledger_account_id, asset
    ON CONFLICT (ledger_account_id, asset) DO UPDATE SET balance = b.balance + EXCLUDED.balance;
    SELECT count(*) INTO tagged
      FROM (SELECT DISTINCT hold_id, asset FROM new_postings WHERE hold_id IS NOT NULL) t;
    IF tagged > 0 THEN
        -- A lot is created with its hold's status and follows it into 'released'.
        INSERT INTO hold_lots AS l (hold_id, asset, account_id, amount, status)
            SELECT t.hold_id, t.asset, t.account_id, t.amount, t.status FROM (
                SELECT p.hold_id, p.asset, p.account_id, -sum(p.amount) AS amount,
                       (SELECT h.status FROM holds h WHERE h.id = p.hold_id) AS status
                  FROM new_postings p WHERE p.hold_id IS NOT NULL
                 GROUP BY p.hold_id, p.asset, p.account_id) t
             WHERE t.status IS NOT NULL ORDER BY t.hold_id, t.asset
        ON CONFLICT (hold_id, asset) DO UPDATE SET amount = l.amount + EXCLUDED.amount,
            status = CASE WHEN EXCLUDED.status = 'released' THEN 'released' ELSE l.status END;
        GET DIAGNOSTICS applied = ROW_COUNT;
        IF applied <> tagged THEN
            RAISE EXCEPTION 'posting tagged with a hold that does not exist'
                USING ERRCODE = 'foreign_key_violation';
        END IF;
    END IF;
    RETURN NULL;
END $$;
"""

_SQLITE_POSTINGS_APPLY = r"""
CREATE TRIGGER postings_apply AFTER INSERT ON postings BEGIN
    SELECT RAISE(ABORT, 'posting to a journal entry which does not exist')
     WHERE NOT EXISTS (SELECT 1 FROM journal_entries WHERE id = NEW.entry_id);
    SELECT RAISE(ABORT, 'posting tagged with a hold that does not exist')
     WHERE NEW.hold_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM holds WHERE id = NEW.hold_id);
    INSERT INTO balances (ledger_account_id, asset, account_id, balance)
        VALUES (NEW.ledger_account_id, NEW.asset, NEW.account_id, NEW.amount)
        ON CONFLICT (ledger_account_id, asset) DO UPDATE SET balance = balance + excluded.balance;
    INSERT INTO hold_lots (hold_id, asset, account_id, amount, status)
        SELECT NEW.hold_id, NEW.asset, NEW.account_id, -NEW.amount, h.status
          FROM holds h WHERE h.id = NEW.hold_id
        ON CONFLICT (hold_id, asset) DO UPDATE SET amount = amount + excluded.amount,
            status = CASE WHEN excluded.status = 'released' THEN 'released' ELSE status END;
    -- SQLite turns an integer sum that overflows 64 bits into an inexact REAL:
    -- refuse instead, as PostgreSQL does ("bigint out of range").
    SELECT RAISE(ABORT, 'integer overflow: balance out of range')
     WHERE (SELECT typeof(balance) FROM balances
             WHERE ledger_account_id = NEW.ledger_account_id AND asset = NEW.asset) <> 'integer'
        OR coalesce((SELECT typeof(amount) FROM hold_lots
                      WHERE hold_id = NEW.hold_id AND asset = NEW.asset), 'integer') <> 'integer';
END"""

#: SQLite's triggers on ``postings`` (a batch rebuild of the table drops them).
_SQLITE_POSTINGS_TRIGGERS = ("postings_apply", "postings_no_update", "postings_no_delete")


def _of_0001(name: str) -> Any:
    """A constant of revision 0001, exactly as 0001 installs it (to downgrade to it)."""
    return getattr(context.script.get_revision("0001").module, name)


def _drop_sqlite_postings_triggers() -> None:
    """SQLite drops a table's triggers with it, and batch mode rebuilds the table."""
    if op.get_bind().dialect.name != "sqlite":
        return
    for name in _SQLITE_POSTINGS_TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS {name}")


def _install_postings_apply(*, set_based: bool) -> None:
    """``postings_apply`` of this revision (``set_based``) or of 0001 (to downgrade)."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_PG_APPLY_POSTINGS if set_based else _of_0001("_PG_APPLY_POSTINGS"))
        return
    triggers_0001 = _of_0001("_SQLITE_TRIGGERS")
    for name in _SQLITE_POSTINGS_TRIGGERS:
        sql = triggers_0001[name]
        op.execute(_SQLITE_POSTINGS_APPLY if set_based and name == "postings_apply" else sql)


_TAGGED = sa.text("hold_id IS NOT NULL")


def upgrade() -> None:
    _drop_sqlite_postings_triggers()
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
    _install_postings_apply(set_based=True)


def downgrade() -> None:
    _drop_sqlite_postings_triggers()
    for table in ("postings", "hold_lots"):
        with op.batch_alter_table(table) as batch_op:
            for fk_table, name, referred, local, remote in ROW_FOREIGN_KEYS:
                if fk_table == table:
                    batch_op.create_foreign_key(name, referred, local, remote)
            if table == "postings":
                batch_op.drop_index("ix_postings_hold_id")
                batch_op.create_index("ix_postings_hold_id", ["hold_id"])
    _install_postings_apply(set_based=False)
