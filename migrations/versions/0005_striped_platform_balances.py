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
from alembic import context, op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_KEY = ["ledger_account_id", "asset"]

# -- SQL of this revision, frozen --------------------------------------------------

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
    -- A platform account's share goes to this transaction's slot (migration 0005).
    INSERT INTO balances AS b (ledger_account_id, asset, slot, account_id, balance)
        SELECT ledger_account_id, asset,
               CASE WHEN account_id IS NULL
                    THEN (txid_current() % 16)::smallint ELSE 0::smallint END,
               account_id, sum(amount) FROM new_postings
         GROUP BY ledger_account_id, asset, account_id ORDER BY ledger_account_id, asset
    ON CONFLICT (ledger_account_id, asset, slot)
        DO UPDATE SET balance = b.balance + EXCLUDED.balance;
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

_PG_LOCK_BALANCES = r"""
CREATE FUNCTION ledger_lock_balances(ids uuid[], assets text[], owners uuid[])
RETURNS TABLE (ledger_account_id uuid, asset varchar, balance numeric)
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    -- Slot 0 of every key, created at zero if missing, is the key's lock; the
    -- keys come sorted, which is the lock order.
    INSERT INTO balances AS b (ledger_account_id, asset, slot, account_id, balance)
        SELECT k.id, k.asset, 0, k.owner, 0 FROM unnest(ids, assets, owners) AS k(id, asset, owner)
         ORDER BY k.id, k.asset
    ON CONFLICT ON CONSTRAINT pk_balances DO UPDATE SET balance = b.balance;
    -- A new query, so a fresh snapshot: it sees every slot that a movement
    -- which held the lock before us committed, even a slot row it created.
    RETURN QUERY
        SELECT b.ledger_account_id, b.asset, sum(b.balance)
          FROM balances b JOIN unnest(ids, assets) AS k(id, asset)
            ON b.ledger_account_id = k.id AND b.asset = k.asset
         GROUP BY b.ledger_account_id, b.asset;
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
        ON CONFLICT (ledger_account_id, asset, slot) DO UPDATE SET balance = balance + excluded.balance;
    INSERT INTO hold_lots (hold_id, asset, account_id, amount, status)
        SELECT NEW.hold_id, NEW.asset, NEW.account_id, -NEW.amount, h.status
          FROM holds h WHERE h.id = NEW.hold_id
        ON CONFLICT (hold_id, asset) DO UPDATE SET amount = amount + excluded.amount,
            status = CASE WHEN excluded.status = 'released' THEN 'released' ELSE status END;
    -- SQLite turns an integer sum that overflows 64 bits into an inexact REAL:
    -- refuse instead, as PostgreSQL does ("bigint out of range").
    SELECT RAISE(ABORT, 'integer overflow: balance out of range')
     WHERE (SELECT typeof(balance) FROM balances
             WHERE ledger_account_id = NEW.ledger_account_id AND asset = NEW.asset
               AND slot = 0) <> 'integer'
        OR coalesce((SELECT typeof(amount) FROM hold_lots
                      WHERE hold_id = NEW.hold_id AND asset = NEW.asset), 'integer') <> 'integer';
END"""


def _of_0003(name: str) -> str:
    """A constant of revision 0003, exactly as 0003 installs it (to downgrade to it)."""
    value = getattr(context.script.get_revision("0003").module, name)
    assert isinstance(value, str)
    return value


def _install_postings_apply(*, striped: bool) -> None:
    """``postings_apply`` and the balance lock of this revision (``striped``) or of 0003."""
    if op.get_bind().dialect.name == "postgresql":
        if striped:
            op.execute(_PG_APPLY_POSTINGS)
            op.execute(_PG_LOCK_BALANCES)
        else:
            op.execute(_of_0003("_PG_APPLY_POSTINGS"))
            op.execute("DROP FUNCTION ledger_lock_balances(uuid[], text[], uuid[])")
        return
    op.execute("DROP TRIGGER IF EXISTS postings_apply")
    op.execute(_SQLITE_POSTINGS_APPLY if striped else _of_0003("_SQLITE_POSTINGS_APPLY"))


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
    _install_postings_apply(striped=True)


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
    _install_postings_apply(striped=False)
