"""SQL the migrations install that autogenerate cannot see: seeds and triggers.

Kept apart from the revision files so each trigger is written once, readable,
per dialect. The rules they enforce are described in ``0001_ledger_core``.
"""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from alembic import op

NAMESPACE = uuid.UUID("6f1c1a4e-5b0e-4c1e-9a7e-3d0c2b8f4a10")  # = service.domain.chart

SEED_ASSETS = [("USD", 2), ("EUR", 2), ("GBP", 2), ("BTC", 8), ("ETH", 8), ("USDT", 6)]
SEED_PLATFORM_ACCOUNTS = [
    "Assets:Clearing:Card",
    "Assets:Clearing:PayPal",
    "Assets:Clearing:Bank",
    "Assets:Clearing:Crypto",
    "Assets:Payouts",
    "Assets:Receivables:Chargebacks",
    "Equity:Trading",
    "Income:Fees",
]
SEED_HOLD_POLICIES = [("card", 3), ("paypal", 3), ("bank_transfer", 0), ("crypto", 0)]


def seed_reference_data() -> None:
    assets = sa.table("assets", sa.column("code", sa.String), sa.column("scale", sa.SmallInteger))
    op.bulk_insert(assets, [{"code": c, "scale": s} for c, s in SEED_ASSETS])
    ledger_accounts = sa.table(
        "ledger_accounts",
        sa.column("id", sa.Uuid),
        sa.column("name", sa.String),
        sa.column("type", sa.String),
    )
    op.bulk_insert(
        ledger_accounts,
        [
            {"id": uuid.uuid5(NAMESPACE, n), "name": n, "type": n.split(":")[0]}
            for n in SEED_PLATFORM_ACCOUNTS
        ],
    )
    policies = sa.table(
        "hold_policies", sa.column("method", sa.String), sa.column("business_days", sa.SmallInteger)
    )
    op.bulk_insert(policies, [{"method": m, "business_days": d} for m, d in SEED_HOLD_POLICIES])


_PG_APPLY_POSTINGS_0001 = r"""
CREATE OR REPLACE FUNCTION ledger_apply_postings() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    bad record;
BEGIN
    SELECT entry_id, asset, sum(amount) AS total INTO bad
      FROM new_postings GROUP BY entry_id, asset HAVING sum(amount) <> 0 LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'unbalanced journal entry %: % postings sum to %',
            bad.entry_id, bad.asset, bad.total USING ERRCODE = 'check_violation';
    END IF;
    INSERT INTO balances AS b (ledger_account_id, asset, account_id, balance)
        SELECT ledger_account_id, asset, account_id, sum(amount) FROM new_postings
         GROUP BY ledger_account_id, asset, account_id ORDER BY ledger_account_id, asset
    ON CONFLICT (ledger_account_id, asset) DO UPDATE SET balance = b.balance + EXCLUDED.balance;
    INSERT INTO hold_lots AS l (hold_id, asset, account_id, amount, status)
        SELECT hold_id, asset, account_id, -sum(amount), 'active' FROM new_postings
         WHERE hold_id IS NOT NULL
         GROUP BY hold_id, asset, account_id ORDER BY hold_id, asset
    ON CONFLICT (hold_id, asset) DO UPDATE SET amount = l.amount + EXCLUDED.amount;
    RETURN NULL;
END $$;
"""

_PG_FUNCTIONS = r"""
CREATE FUNCTION ledger_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the journal is append-only: % on % refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'restrict_violation';
END $$;

CREATE FUNCTION ledger_check_entry() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
    unbalanced boolean;
BEGIN
    SELECT coalesce(sum(c), 0), coalesce(bool_or(s <> 0), false) INTO n, unbalanced
      FROM (SELECT count(*) AS c, sum(amount) AS s FROM postings
             WHERE entry_id = NEW.id GROUP BY asset) per_asset;
    IF n < 2 OR unbalanced THEN
        RAISE EXCEPTION 'journal entry % must have two or more postings summing to zero per asset',
            NEW.id USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END $$;

CREATE FUNCTION ledger_guard_balances() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- Depth 1 is a statement sent by a client; deeper is ledger_apply_postings.
    IF pg_trigger_depth() > 1 THEN
        RETURN NEW;
    END IF;
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'balances are derived from postings and cannot be deleted'
            USING ERRCODE = 'restrict_violation';
    END IF;
    IF (TG_OP = 'INSERT' AND NEW.balance <> 0)
       OR (TG_OP = 'UPDATE' AND NEW.balance IS DISTINCT FROM OLD.balance) THEN
        RAISE EXCEPTION 'a balance changes only through postings'
            USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN NEW;
END $$;

CREATE FUNCTION ledger_guard_lots() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF pg_trigger_depth() > 1 THEN
        RETURN NEW;
    END IF;
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'hold lots are derived from postings and cannot be deleted'
            USING ERRCODE = 'restrict_violation';
    END IF;
    IF (TG_OP = 'INSERT' AND NEW.amount <> 0)
       OR (TG_OP = 'UPDATE' AND NEW.amount IS DISTINCT FROM OLD.amount) THEN
        RAISE EXCEPTION 'a hold lot amount changes only through postings'
            USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN NEW;
END $$;
"""

_PG_TRIGGERS = [
    (
        "journal_entries_append_only",
        "journal_entries",
        "BEFORE UPDATE OR DELETE ON journal_entries FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change()",
    ),
    (
        "journal_entries_no_truncate",
        "journal_entries",
        "BEFORE TRUNCATE ON journal_entries FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change()",
    ),
    (
        "postings_append_only",
        "postings",
        "BEFORE UPDATE OR DELETE ON postings FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change()",
    ),
    (
        "postings_no_truncate",
        "postings",
        "BEFORE TRUNCATE ON postings FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change()",
    ),
    (
        "postings_apply",
        "postings",
        "AFTER INSERT ON postings REFERENCING NEW TABLE AS new_postings "
        "FOR EACH STATEMENT EXECUTE FUNCTION ledger_apply_postings()",
    ),
    # WHEN clauses keep PL/pgSQL out of the hot path: the function runs only for a
    # direct change by a client (depth 0), never for the postings trigger's own
    # updates nor for status-only updates.
    (
        "balances_guard_insert",
        "balances",
        "BEFORE INSERT ON balances FOR EACH ROW "
        "WHEN (pg_trigger_depth() = 0 AND NEW.balance <> 0) EXECUTE FUNCTION ledger_guard_balances()",
    ),
    (
        "balances_guard_update",
        "balances",
        "BEFORE UPDATE ON balances FOR EACH ROW "
        "WHEN (pg_trigger_depth() = 0 AND NEW.balance IS DISTINCT FROM OLD.balance) "
        "EXECUTE FUNCTION ledger_guard_balances()",
    ),
    (
        "balances_guard_delete",
        "balances",
        "BEFORE DELETE ON balances FOR EACH ROW EXECUTE FUNCTION ledger_guard_balances()",
    ),
    (
        "hold_lots_guard_insert",
        "hold_lots",
        "BEFORE INSERT ON hold_lots FOR EACH ROW "
        "WHEN (pg_trigger_depth() = 0 AND NEW.amount <> 0) EXECUTE FUNCTION ledger_guard_lots()",
    ),
    (
        "hold_lots_guard_update",
        "hold_lots",
        "BEFORE UPDATE ON hold_lots FOR EACH ROW "
        "WHEN (pg_trigger_depth() = 0 AND NEW.amount IS DISTINCT FROM OLD.amount) "
        "EXECUTE FUNCTION ledger_guard_lots()",
    ),
    (
        "hold_lots_guard_delete",
        "hold_lots",
        "BEFORE DELETE ON hold_lots FOR EACH ROW EXECUTE FUNCTION ledger_guard_lots()",
    ),
]

_SQLITE_TRIGGERS = {
    "postings_apply": """
CREATE TRIGGER postings_apply AFTER INSERT ON postings BEGIN
    INSERT INTO balances (ledger_account_id, asset, account_id, balance)
        VALUES (NEW.ledger_account_id, NEW.asset, NEW.account_id, NEW.amount)
        ON CONFLICT (ledger_account_id, asset) DO UPDATE SET balance = balance + excluded.balance;
    INSERT INTO hold_lots (hold_id, asset, account_id, amount, status)
        SELECT NEW.hold_id, NEW.asset, NEW.account_id, -NEW.amount, 'active'
         WHERE NEW.hold_id IS NOT NULL
        ON CONFLICT (hold_id, asset) DO UPDATE SET amount = amount + excluded.amount;
    -- SQLite turns an integer sum that overflows 64 bits into an inexact REAL:
    -- refuse instead, as PostgreSQL does ("bigint out of range").
    SELECT RAISE(ABORT, 'integer overflow: balance out of range')
     WHERE (SELECT typeof(balance) FROM balances
             WHERE ledger_account_id = NEW.ledger_account_id AND asset = NEW.asset) <> 'integer'
        OR coalesce((SELECT typeof(amount) FROM hold_lots
                      WHERE hold_id = NEW.hold_id AND asset = NEW.asset), 'integer') <> 'integer';
END""",
}
for _table in ("journal_entries", "postings"):
    for _op in ("UPDATE", "DELETE"):
        _SQLITE_TRIGGERS[f"{_table}_no_{_op.lower()}"] = (
            f"CREATE TRIGGER {_table}_no_{_op.lower()} BEFORE {_op} ON {_table} BEGIN "
            f"SELECT RAISE(ABORT, 'the journal is append-only: {_op} on {_table} refused'); END"
        )


def install_ledger_guards() -> None:
    """The guards of revision 0001 (0003 replaces ``postings_apply``)."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_PG_FUNCTIONS)
        op.execute(_PG_APPLY_POSTINGS_0001)
        for name, _table, body in _PG_TRIGGERS:
            op.execute(f"CREATE TRIGGER {name} {body}")
        op.execute(
            "CREATE CONSTRAINT TRIGGER journal_entries_balanced AFTER INSERT ON journal_entries "
            "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ledger_check_entry()"
        )
    else:
        for sql in _SQLITE_TRIGGERS.values():
            op.execute(sql)


def drop_ledger_guards() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS journal_entries_balanced ON journal_entries")
        for name, table, _body in _PG_TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS {name} ON {table}")
        for fn in (
            "ledger_refuse_change",
            "ledger_apply_postings",
            "ledger_check_entry",
            "ledger_guard_balances",
            "ledger_guard_lots",
        ):
            op.execute(f"DROP FUNCTION IF EXISTS {fn}()")
    else:
        for name in _SQLITE_TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")


# -- revision 0003: references checked once per statement, lots follow releases ---

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

_PG_APPLY_POSTINGS_SET_BASED = r"""
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

_SQLITE_POSTINGS_APPLY_SET_BASED = """
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

_SQLITE_POSTINGS_TRIGGERS = ("postings_apply", "postings_no_update", "postings_no_delete")


def drop_sqlite_postings_triggers() -> None:
    """SQLite drops a table's triggers with it, and batch mode rebuilds the table."""
    if op.get_bind().dialect.name != "sqlite":
        return
    for name in _SQLITE_POSTINGS_TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS {name}")


def install_set_based_postings(*, set_based: bool) -> None:
    """``postings_apply`` of 0003 (``set_based``) or of 0001 (to downgrade)."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_PG_APPLY_POSTINGS_SET_BASED if set_based else _PG_APPLY_POSTINGS_0001)
        return
    op.execute(
        _SQLITE_POSTINGS_APPLY_SET_BASED if set_based else _SQLITE_TRIGGERS["postings_apply"]
    )
    for name in _SQLITE_POSTINGS_TRIGGERS[1:]:
        op.execute(_SQLITE_TRIGGERS[name])


#: How many rows a platform account's balance is spread over (migration 0005).
PLATFORM_SLOTS = 16

_PG_APPLY_POSTINGS_STRIPED = _PG_APPLY_POSTINGS_SET_BASED.replace(
    """    INSERT INTO balances AS b (ledger_account_id, asset, account_id, balance)
        SELECT ledger_account_id, asset, account_id, sum(amount) FROM new_postings
         GROUP BY ledger_account_id, asset, account_id ORDER BY ledger_account_id, asset
    ON CONFLICT (ledger_account_id, asset) DO UPDATE SET balance = b.balance + EXCLUDED.balance;""",
    f"""    -- A platform account's share goes to this transaction's slot (migration 0005).
    INSERT INTO balances AS b (ledger_account_id, asset, slot, account_id, balance)
        SELECT ledger_account_id, asset,
               CASE WHEN account_id IS NULL
                    THEN (txid_current() % {PLATFORM_SLOTS})::smallint ELSE 0::smallint END,
               account_id, sum(amount) FROM new_postings
         GROUP BY ledger_account_id, asset, account_id ORDER BY ledger_account_id, asset
    ON CONFLICT (ledger_account_id, asset, slot)
        DO UPDATE SET balance = b.balance + EXCLUDED.balance;""",
)
assert _PG_APPLY_POSTINGS_STRIPED != _PG_APPLY_POSTINGS_SET_BASED

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

_SQLITE_POSTINGS_APPLY_STRIPED = _SQLITE_POSTINGS_APPLY_SET_BASED.replace(
    "ON CONFLICT (ledger_account_id, asset) DO UPDATE",
    "ON CONFLICT (ledger_account_id, asset, slot) DO UPDATE",
).replace(
    "WHERE ledger_account_id = NEW.ledger_account_id AND asset = NEW.asset) <> 'integer'",
    "WHERE ledger_account_id = NEW.ledger_account_id AND asset = NEW.asset\n"
    "               AND slot = 0) <> 'integer'",
)
assert _SQLITE_POSTINGS_APPLY_STRIPED.count("slot") == 2


def install_striped_balances(*, striped: bool) -> None:
    """``postings_apply`` and the balance lock of 0005 (``striped``) or of 0003."""
    if op.get_bind().dialect.name == "postgresql":
        if striped:
            op.execute(_PG_APPLY_POSTINGS_STRIPED)
            op.execute(_PG_LOCK_BALANCES)
        else:
            op.execute(_PG_APPLY_POSTINGS_SET_BASED)
            op.execute("DROP FUNCTION ledger_lock_balances(uuid[], text[], uuid[])")
        return
    op.execute("DROP TRIGGER IF EXISTS postings_apply")
    op.execute(_SQLITE_POSTINGS_APPLY_STRIPED if striped else _SQLITE_POSTINGS_APPLY_SET_BASED)
