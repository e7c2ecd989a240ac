"""Ledger core: assets, chart of accounts, journal, balances, holds, keys.

The database itself guards the books (DESIGN.md section 2):

* ``balances`` and ``hold_lots`` are maintained by a trigger from the postings
  inserted, so a balance can only change through a posting;
* journal entries and postings refuse UPDATE and DELETE (both databases);
* on PostgreSQL, every statement inserting postings must balance per entry and
  asset, a deferred constraint trigger refuses at commit any entry with fewer
  than two postings or a non-zero sum, and direct writes to balances or lot
  amounts are refused.

Revision ID: 0001
Revises:
Create Date: 2026-11-21 19:34:50.354067
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# -- SQL of this revision, frozen: later revisions carry their own copies --------

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

_PG_APPLY_POSTINGS = r"""
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
    "journal_entries_no_update": (
        "CREATE TRIGGER journal_entries_no_update BEFORE UPDATE ON journal_entries BEGIN "
        "SELECT RAISE(ABORT, 'the journal is append-only: UPDATE on journal_entries refused'); END"
    ),
    "journal_entries_no_delete": (
        "CREATE TRIGGER journal_entries_no_delete BEFORE DELETE ON journal_entries BEGIN "
        "SELECT RAISE(ABORT, 'the journal is append-only: DELETE on journal_entries refused'); END"
    ),
    "postings_no_update": (
        "CREATE TRIGGER postings_no_update BEFORE UPDATE ON postings BEGIN "
        "SELECT RAISE(ABORT, 'the journal is append-only: UPDATE on postings refused'); END"
    ),
    "postings_no_delete": (
        "CREATE TRIGGER postings_no_delete BEFORE DELETE ON postings BEGIN "
        "SELECT RAISE(ABORT, 'the journal is append-only: DELETE on postings refused'); END"
    ),
}


def _seed_reference_data() -> None:
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


def _install_ledger_guards() -> None:
    """The guards described in the module docstring."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_PG_FUNCTIONS)
        op.execute(_PG_APPLY_POSTINGS)
        for name, _table, body in _PG_TRIGGERS:
            op.execute(f"CREATE TRIGGER {name} {body}")
        op.execute(
            "CREATE CONSTRAINT TRIGGER journal_entries_balanced AFTER INSERT ON journal_entries "
            "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ledger_check_entry()"
        )
    else:
        for sql in _SQLITE_TRIGGERS.values():
            op.execute(sql)


def _drop_ledger_guards() -> None:
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


def upgrade() -> None:
    op.create_table(
        "accounts",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("external_id", sa.String(length=255), nullable=False),
        sa.Column("country", sa.String(length=2), nullable=False),
        sa.Column("tier", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_accounts")),
        sa.UniqueConstraint("external_id", name=op.f("uq_accounts_external_id")),
    )
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_api_keys_key_hash")),
        sa.UniqueConstraint("name", name=op.f("uq_api_keys_name")),
    )
    op.create_table(
        "assets",
        sa.Column("code", sa.String(length=16), nullable=False),
        sa.Column("scale", sa.SmallInteger(), nullable=False),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_assets")),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.String(length=1000), nullable=False),
        sa.Column("details", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_log_account_id"), ["account_id"], unique=False)

    op.create_table(
        "calendar_overrides",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("business_day", sa.Boolean(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("day", name=op.f("pk_calendar_overrides")),
    )
    op.create_table(
        "hold_policies",
        sa.Column("method", sa.String(length=32), nullable=False),
        sa.Column("business_days", sa.SmallInteger(), nullable=False),
        sa.PrimaryKeyConstraint("method", name=op.f("pk_hold_policies")),
    )
    op.create_table(
        "journal_entries",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("posted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reference", sa.String(length=255), nullable=False),
        sa.Column("memo", sa.String(length=500), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_journal_entries")),
    )
    with op.batch_alter_table("journal_entries", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_journal_entries_account_id"), ["account_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_journal_entries_posted_at"), ["posted_at"], unique=False
        )

    op.create_table(
        "account_hold_policies",
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("method", sa.String(length=32), nullable=False),
        sa.Column("business_days", sa.SmallInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_account_hold_policies_account_id_accounts"),
        ),
        sa.PrimaryKeyConstraint("account_id", "method", name=op.f("pk_account_hold_policies")),
    )
    op.create_table(
        "deposits",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("method", sa.String(length=32), nullable=False),
        sa.Column("asset", sa.String(length=16), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("settled_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("external_ref", sa.String(length=255), nullable=False),
        sa.Column("entry_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_deposits_account_id_accounts")
        ),
        sa.ForeignKeyConstraint(["asset"], ["assets.code"], name=op.f("fk_deposits_asset_assets")),
        sa.ForeignKeyConstraint(
            ["entry_id"], ["journal_entries.id"], name=op.f("fk_deposits_entry_id_journal_entries")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deposits")),
        sa.UniqueConstraint("method", "external_ref", name="uq_deposits_method_external_ref"),
    )
    with op.batch_alter_table("deposits", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_deposits_account_id"), ["account_id"], unique=False)

    op.create_table(
        "idempotency_keys",
        sa.Column("api_key_id", sa.Uuid(), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("status_code", sa.SmallInteger(), nullable=False),
        sa.Column("response_body", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["api_key_id"], ["api_keys.id"], name=op.f("fk_idempotency_keys_api_key_id_api_keys")
        ),
        sa.PrimaryKeyConstraint("api_key_id", "key", name=op.f("pk_idempotency_keys")),
    )
    with op.batch_alter_table("idempotency_keys", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_idempotency_keys_created_at"), ["created_at"], unique=False
        )

    op.create_table(
        "ledger_accounts",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=True),
        sa.Column("bucket", sa.String(length=16), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_ledger_accounts_account_id_accounts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_accounts")),
        sa.UniqueConstraint("name", name=op.f("uq_ledger_accounts_name")),
        sa.UniqueConstraint("account_id", "bucket", name="uq_ledger_accounts_account_id_bucket"),
    )
    op.create_table(
        "trades",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("sell_asset", sa.String(length=16), nullable=False),
        sa.Column("sell_amount", sa.BigInteger(), nullable=False),
        sa.Column("buy_asset", sa.String(length=16), nullable=False),
        sa.Column("buy_amount", sa.BigInteger(), nullable=False),
        sa.Column("fee_amount", sa.BigInteger(), nullable=False),
        sa.Column("held_sold", sa.BigInteger(), nullable=False),
        sa.Column("held_bought", sa.BigInteger(), nullable=False),
        sa.Column("external_ref", sa.String(length=255), nullable=False),
        sa.Column("entry_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_trades_account_id_accounts")
        ),
        sa.ForeignKeyConstraint(
            ["buy_asset"], ["assets.code"], name=op.f("fk_trades_buy_asset_assets")
        ),
        sa.ForeignKeyConstraint(
            ["entry_id"], ["journal_entries.id"], name=op.f("fk_trades_entry_id_journal_entries")
        ),
        sa.ForeignKeyConstraint(
            ["sell_asset"], ["assets.code"], name=op.f("fk_trades_sell_asset_assets")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trades")),
        sa.UniqueConstraint("account_id", "external_ref", name="uq_trades_account_id_external_ref"),
    )
    with op.batch_alter_table("trades", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_trades_account_id"), ["account_id"], unique=False)

    op.create_table(
        "balances",
        sa.Column("ledger_account_id", sa.Uuid(), nullable=False),
        sa.Column("asset", sa.String(length=16), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=True),
        sa.Column("balance", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["asset"], ["assets.code"], name=op.f("fk_balances_asset_assets")),
        sa.ForeignKeyConstraint(
            ["ledger_account_id"],
            ["ledger_accounts.id"],
            name=op.f("fk_balances_ledger_account_id_ledger_accounts"),
        ),
        sa.PrimaryKeyConstraint("ledger_account_id", "asset", name=op.f("pk_balances")),
    )
    with op.batch_alter_table("balances", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_balances_account_id"), ["account_id"], unique=False)

    op.create_table(
        "holds",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("deposit_id", sa.Uuid(), nullable=False),
        sa.Column("method", sa.String(length=32), nullable=False),
        sa.Column("asset", sa.String(length=16), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("business_days", sa.SmallInteger(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("placed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("release_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("released_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_holds_account_id_accounts")
        ),
        sa.ForeignKeyConstraint(["asset"], ["assets.code"], name=op.f("fk_holds_asset_assets")),
        sa.ForeignKeyConstraint(
            ["deposit_id"], ["deposits.id"], name=op.f("fk_holds_deposit_id_deposits")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_holds")),
        sa.UniqueConstraint("deposit_id", name=op.f("uq_holds_deposit_id")),
    )
    with op.batch_alter_table("holds", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_holds_account_id"), ["account_id"], unique=False)
        batch_op.create_index("ix_holds_status_release_at", ["status", "release_at"], unique=False)

    op.create_table(
        "postings",
        sa.Column("entry_id", sa.Uuid(), nullable=False),
        sa.Column("line", sa.SmallInteger(), nullable=False),
        sa.Column("ledger_account_id", sa.Uuid(), nullable=False),
        sa.Column("asset", sa.String(length=16), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=True),
        sa.Column("hold_id", sa.Uuid(), nullable=True),
        sa.ForeignKeyConstraint(["asset"], ["assets.code"], name=op.f("fk_postings_asset_assets")),
        sa.ForeignKeyConstraint(
            ["entry_id"], ["journal_entries.id"], name=op.f("fk_postings_entry_id_journal_entries")
        ),
        sa.ForeignKeyConstraint(
            ["ledger_account_id"],
            ["ledger_accounts.id"],
            name=op.f("fk_postings_ledger_account_id_ledger_accounts"),
        ),
        sa.PrimaryKeyConstraint("entry_id", "line", name=op.f("pk_postings")),
    )
    with op.batch_alter_table("postings", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_postings_hold_id"), ["hold_id"], unique=False)
        batch_op.create_index(
            "ix_postings_ledger_account_asset", ["ledger_account_id", "asset"], unique=False
        )

    op.create_table(
        "hold_lots",
        sa.Column("hold_id", sa.Uuid(), nullable=False),
        sa.Column("asset", sa.String(length=16), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(["asset"], ["assets.code"], name=op.f("fk_hold_lots_asset_assets")),
        sa.ForeignKeyConstraint(["hold_id"], ["holds.id"], name=op.f("fk_hold_lots_hold_id_holds")),
        sa.PrimaryKeyConstraint("hold_id", "asset", name=op.f("pk_hold_lots")),
    )
    with op.batch_alter_table("hold_lots", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_hold_lots_account_id"), ["account_id"], unique=False)

    _seed_reference_data()
    _install_ledger_guards()


def downgrade() -> None:
    _drop_ledger_guards()
    with op.batch_alter_table("hold_lots", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_hold_lots_account_id"))

    op.drop_table("hold_lots")
    with op.batch_alter_table("postings", schema=None) as batch_op:
        batch_op.drop_index("ix_postings_ledger_account_asset")
        batch_op.drop_index(batch_op.f("ix_postings_hold_id"))

    op.drop_table("postings")
    with op.batch_alter_table("holds", schema=None) as batch_op:
        batch_op.drop_index("ix_holds_status_release_at")
        batch_op.drop_index(batch_op.f("ix_holds_account_id"))

    op.drop_table("holds")
    with op.batch_alter_table("balances", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_balances_account_id"))

    op.drop_table("balances")
    with op.batch_alter_table("trades", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_trades_account_id"))

    op.drop_table("trades")
    op.drop_table("ledger_accounts")
    with op.batch_alter_table("idempotency_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_idempotency_keys_created_at"))

    op.drop_table("idempotency_keys")
    with op.batch_alter_table("deposits", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_deposits_account_id"))

    op.drop_table("deposits")
    op.drop_table("account_hold_policies")
    with op.batch_alter_table("journal_entries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_journal_entries_posted_at"))
        batch_op.drop_index(batch_op.f("ix_journal_entries_account_id"))

    op.drop_table("journal_entries")
    op.drop_table("hold_policies")
    op.drop_table("calendar_overrides")
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_log_account_id"))

    op.drop_table("audit_log")
    op.drop_table("assets")
    op.drop_table("api_keys")
    op.drop_table("accounts")
