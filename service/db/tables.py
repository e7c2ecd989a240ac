"""The schema, as SQLAlchemy Core tables.

Alembic migrations create it (``alembic check`` compares them with this module);
nothing calls ``create_all``. Core rather than the ORM: the hot paths are a few
set-based statements each, and mapped objects would only add work per row.

Conventions:

* money is ``BIGINT`` minor units; the asset's scale says where the point goes;
* times are stored in UTC (:class:`UTCDateTime`);
* keys are UUIDs, and every customer table carries ``account_id`` so the schema
  can be sharded by account.

``balances`` and ``hold_lots`` are maintained *by the database* from the postings
(triggers installed by the migrations): the application inserts postings and
never writes a balance or a lot amount itself.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    Uuid,
    text,
)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class UTCDateTime(TypeDecorator[datetime]):
    """An aware UTC datetime on both databases.

    PostgreSQL stores ``timestamptz``; SQLite has no time zones, so the value is
    stored as naive UTC text in a fixed-width format that sorts correctly.
    A naive datetime is refused: it is a bug to guess its zone.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _money(name: str) -> Column[int]:
    return Column(name, BigInteger, nullable=False)


def _created_at() -> Column[datetime]:
    return Column("created_at", UTCDateTime, nullable=False)


assets = Table(
    "assets",
    metadata,
    Column("code", String(16), primary_key=True),
    Column("scale", SmallInteger, nullable=False),
)

accounts = Table(
    "accounts",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("external_id", String(255), nullable=False, unique=True),
    Column("country", String(2), nullable=False),
    Column("tier", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    _created_at(),
)

ledger_accounts = Table(
    "ledger_accounts",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("type", String(16), nullable=False),
    Column("account_id", Uuid, ForeignKey("accounts.id"), nullable=True),
    #: Available / Held / Withdrawing for a customer sub-account, else NULL.
    Column("bucket", String(16), nullable=True),
    UniqueConstraint("account_id", "bucket", name="uq_ledger_accounts_account_id_bucket"),
)

journal_entries = Table(
    "journal_entries",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("type", String(32), nullable=False),
    Column("posted_at", UTCDateTime, nullable=False, index=True),
    Column("reference", String(255), nullable=False),
    Column("memo", String(500), nullable=False),
    Column("account_id", Uuid, nullable=True, index=True),
    #: Commit-order marker for sealing (PostgreSQL: the writing transaction's id,
    #: ``pg_current_xact_id()``, set by the column's default; NULL on SQLite,
    #: whose writers are serialized). Migration 0008 says why.
    Column("xact_id", BigInteger, nullable=True),
    #: The order a seal reads new entries in (no sort of the postings beyond each entry's).
    Index("ix_journal_entries_xact_id", "xact_id", "id"),
)

#: No declared foreign keys: ``postings_apply`` checks the entry, ledger account,
#: asset and hold of every posting once per statement (migration 0003 says why).
postings = Table(
    "postings",
    metadata,
    Column("entry_id", Uuid, primary_key=True),
    Column("line", SmallInteger, primary_key=True),
    Column("ledger_account_id", Uuid, nullable=False),
    Column("asset", String(16), nullable=False),
    _money("amount"),
    Column("account_id", Uuid, nullable=True),
    Column("hold_id", Uuid, nullable=True),
    Index("ix_postings_ledger_account_asset", "ledger_account_id", "asset"),
    Index(
        "ix_postings_hold_id",
        "hold_id",
        postgresql_where=text("hold_id IS NOT NULL"),
        sqlite_where=text("hold_id IS NOT NULL"),
    ),
)

balances = Table(
    "balances",
    metadata,
    Column("ledger_account_id", Uuid, ForeignKey("ledger_accounts.id"), primary_key=True),
    Column("asset", String(16), ForeignKey("assets.code"), primary_key=True),
    # A platform account's balance is spread over slots (migration 0005 says why).
    Column("slot", SmallInteger, primary_key=True, autoincrement=False, server_default=text("0")),
    Column("account_id", Uuid, nullable=True, index=True),
    _money("balance"),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("name", String(100), nullable=False, unique=True),
    Column("role", String(16), nullable=False),
    Column("key_hash", String(64), nullable=False, unique=True),
    _created_at(),
    Column("revoked_at", UTCDateTime, nullable=True),
    Column("last_used_at", UTCDateTime, nullable=True),
)

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("api_key_id", Uuid, ForeignKey("api_keys.id"), primary_key=True),
    Column("key", String(255), primary_key=True),
    Column("request_hash", String(64), nullable=False),
    Column("status_code", SmallInteger, nullable=False),
    Column("response_body", Text, nullable=False),
    Column("created_at", UTCDateTime, nullable=False, index=True),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("account_id", Uuid, nullable=True, index=True),
    Column("at", UTCDateTime, nullable=False),
    Column("actor", String(100), nullable=False),
    Column("action", String(64), nullable=False),
    Column("reason", String(1000), nullable=False),
    Column("details", Text, nullable=False),
)

hold_policies = Table(
    "hold_policies",
    metadata,
    Column("method", String(32), primary_key=True),
    Column("business_days", SmallInteger, nullable=False),
)

account_hold_policies = Table(
    "account_hold_policies",
    metadata,
    Column("account_id", Uuid, ForeignKey("accounts.id"), primary_key=True),
    Column("method", String(32), primary_key=True),
    Column("business_days", SmallInteger, nullable=False),
)

deposits = Table(
    "deposits",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("account_id", Uuid, ForeignKey("accounts.id"), nullable=False, index=True),
    Column("method", String(32), nullable=False),
    Column("asset", String(16), ForeignKey("assets.code"), nullable=False),
    _money("amount"),
    Column("status", String(16), nullable=False),
    Column("settled_at", UTCDateTime, nullable=False),
    Column("external_ref", String(255), nullable=False),
    Column("entry_id", Uuid, ForeignKey("journal_entries.id"), nullable=False),
    _created_at(),
    UniqueConstraint("method", "external_ref", name="uq_deposits_method_external_ref"),
)

holds = Table(
    "holds",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("account_id", Uuid, ForeignKey("accounts.id"), nullable=False),
    Column("deposit_id", Uuid, ForeignKey("deposits.id"), nullable=False, unique=True),
    Column("method", String(32), nullable=False),
    Column("asset", String(16), ForeignKey("assets.code"), nullable=False),
    _money("amount"),
    Column("business_days", SmallInteger, nullable=False),
    Column("status", String(16), nullable=False),
    Column("placed_at", UTCDateTime, nullable=False),
    Column("release_at", UTCDateTime, nullable=False),
    Column("released_at", UTCDateTime, nullable=True),
    # The hold_release entry that moved its lots to Available (migration 0014);
    # null while active, and for a hold emptied by trades or withdrawals.
    Column("release_entry_id", Uuid, nullable=True),
    # No index on release_entry_id: a release would maintain one more index
    # entry per hold. The account's index keeps unreleased holds only
    # (PostgreSQL; all of them on SQLite), so a release writes no entry to it
    # either (migration 0015): released holds are found through their deposits.
    Index(
        "ix_holds_account_id",
        "account_id",
        postgresql_where=text("status <> 'released'"),
    ),
    # Active holds by release time: the release job's queue (migration 0014).
    Index(
        "ix_holds_due",
        "release_at",
        "id",
        postgresql_where=text("status = 'active'"),
        sqlite_where=text("status = 'active'"),
    ),
)

hold_lots = Table(
    "hold_lots",
    metadata,
    Column("hold_id", Uuid, primary_key=True),  # checked by postings_apply
    Column("asset", String(16), primary_key=True),
    Column("account_id", Uuid, nullable=False, index=True),
    _money("amount"),
    Column("status", String(16), nullable=False),
)

trades = Table(
    "trades",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("account_id", Uuid, ForeignKey("accounts.id"), nullable=False, index=True),
    Column("sell_asset", String(16), ForeignKey("assets.code"), nullable=False),
    _money("sell_amount"),
    Column("buy_asset", String(16), ForeignKey("assets.code"), nullable=False),
    _money("buy_amount"),
    Column("fee_amount", BigInteger, nullable=False),
    _money("held_sold"),
    _money("held_bought"),
    Column("external_ref", String(255), nullable=False),
    Column("entry_id", Uuid, ForeignKey("journal_entries.id"), nullable=False),
    _created_at(),
    UniqueConstraint("account_id", "external_ref", name="uq_trades_account_id_external_ref"),
)

calendar_overrides = Table(
    "calendar_overrides",
    metadata,
    Column("day", Date, primary_key=True),
    Column("business_day", Boolean, nullable=False),
    Column("name", String(200), nullable=False),
)

# -- withdrawals, chargebacks, reference rates (issue 5) ----------------------------

withdrawals = Table(
    "withdrawals",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("account_id", Uuid, ForeignKey("accounts.id"), nullable=False),
    #: standard (requested by the customer) or final (compliance, restricted account).
    Column("kind", String(16), nullable=False),
    Column("asset", String(16), ForeignKey("assets.code"), nullable=False),
    _money("amount"),
    Column("destination", String(500), nullable=False),
    Column("status", String(16), nullable=False),
    Column("txid", String(255), nullable=True),
    #: Why it was rejected or failed.
    Column("reason", String(1000), nullable=True),
    #: The entry that reserved the funds (Available/Held -> Withdrawing).
    Column("entry_id", Uuid, ForeignKey("journal_entries.id"), nullable=False, unique=True),
    #: The entry that paid it out or returned it, once it is final.
    Column("settle_entry_id", Uuid, ForeignKey("journal_entries.id"), nullable=True, unique=True),
    _created_at(),
    Column("updated_at", UTCDateTime, nullable=False),
    Index("ix_withdrawals_account_id_created_at", "account_id", "created_at"),
    Index("ix_withdrawals_status_created_at", "status", "created_at"),
)

chargebacks = Table(
    "chargebacks",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("account_id", Uuid, ForeignKey("accounts.id"), nullable=False, index=True),
    #: Unique: a deposit is charged back at most once, whatever runs concurrently.
    Column("deposit_id", Uuid, ForeignKey("deposits.id"), nullable=False, unique=True),
    Column("asset", String(16), ForeignKey("assets.code"), nullable=False),
    _money("amount"),
    _money("recovered"),
    _money("receivable"),
    Column("reason", String(1000), nullable=False),
    Column("entry_id", Uuid, ForeignKey("journal_entries.id"), nullable=False, unique=True),
    _created_at(),
)

rates = Table(
    "rates",
    metadata,
    Column("asset", String(16), ForeignKey("assets.code"), primary_key=True),
    #: USD per unit of the asset as exact decimal text: a price, not a money amount.
    Column("usd", Text, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("updated_by", String(100), nullable=False),
)

# -- journal seals (issue 16) --------------------------------------------------------

#: One row per seal: an RFC 9162 Merkle root over the entries committed since
#: the previous seal, chained to it by hash. Append-only (UPDATE/DELETE refused).
seals = Table(
    "seals",
    metadata,
    Column("number", Integer, primary_key=True, autoincrement=False),
    Column("entries", Integer, nullable=False),
    Column("root", String(64), nullable=False),
    Column("previous", String(64), nullable=True),
    Column("sealed_at", UTCDateTime, nullable=False),
    Column("hash", String(64), nullable=False, unique=True),
    #: PostgreSQL: the seal's cut, taken before it read the journal: ``cut`` is
    #: the snapshot's ``xmax`` and ``cut_running`` the ids (comma-separated) of
    #: the transactions still running below it; every other transaction below
    #: ``cut`` had finished. NULL on SQLite. service/db/seals.py says why.
    Column("cut", BigInteger, nullable=True),
    Column("cut_running", Text, nullable=True),
    #: Merkle Tree Hashes of the seal's aligned blocks of ``CHUNK_LEAVES`` leaves,
    #: concatenated: what makes an inclusion proof O(log n) (service/domain/merkle.py).
    Column("chunk_roots", LargeBinary, nullable=False),
)

#: Which seal holds each entry, at which leaf, with the leaf's hash as sealed.
#: ``entry_id`` is unique: an entry is in exactly one seal. Append-only.
seal_entries = Table(
    "seal_entries",
    metadata,
    Column("seal_number", Integer, primary_key=True, autoincrement=False),
    Column("leaf_index", Integer, primary_key=True, autoincrement=False),
    Column("entry_id", Uuid, nullable=False, unique=True),
    Column("leaf_hash", LargeBinary, nullable=False),
)

#: The audit list of an account is read newest first, a page at a time.
Index("ix_audit_log_account_id_at", audit_log.c.account_id, audit_log.c.at)

#: The console's session-signing secret when ``LEDGER_SECRET_KEY`` is not set:
#: one row, made by the first process that needs it, so every worker and host
#: on this database signs and checks the same session cookies (migration 0009).
console_secrets = Table(
    "console_secrets",
    metadata,
    Column("id", SmallInteger, primary_key=True, autoincrement=False),
    Column("secret", String(128), nullable=False),
    _created_at(),
)

#: Console sign-ins: a session cookie names its row, so signing out (or the
#: 8 hours running out) ends the session on the server too, not only in the
#: browser that held the cookie.
console_sessions = Table(
    "console_sessions",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("api_key_id", Uuid, ForeignKey("api_keys.id"), nullable=False, index=True),
    Column("started_at", UTCDateTime, nullable=False, index=True),
    Column("ended_at", UTCDateTime, nullable=True),
)


# -- events and webhooks (issue 14) ------------------------------------------------

#: The transactional outbox (migration 0010 explains how ``sequence`` is given).
#: ``txid`` is the inserting transaction's id on PostgreSQL (a column default).
events = Table(
    "events",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("sequence", BigInteger, nullable=True),
    Column("txid", BigInteger, nullable=False, server_default=text("0")),
    Column("type", String(64), nullable=False),
    Column("occurred_at", UTCDateTime, nullable=False),
    Column("account_id", Uuid, nullable=True),
    #: The event's JSON without its sequence (service.db.events.row says why).
    Column("body", Text, nullable=False),
    # Numbered events only: an insert touches the primary key and the
    # unnumbered index alone; the sequencer adds these entries later.
    Index(
        "ix_events_sequence",
        "sequence",
        unique=True,
        postgresql_where=text("sequence IS NOT NULL"),
        sqlite_where=text("sequence IS NOT NULL"),
    ),
    Index(
        "ix_events_account_id_sequence",
        "account_id",
        "sequence",
        postgresql_where=text("sequence IS NOT NULL"),
        sqlite_where=text("sequence IS NOT NULL"),
    ),
    Index(
        "ix_events_unsequenced",
        "txid",
        "id",
        postgresql_where=text("sequence IS NULL"),
        sqlite_where=text("sequence IS NULL"),
    ),
)

#: One row: the last sequence given to an event (never reused, even after a purge).
event_sequence = Table(
    "event_sequence",
    metadata,
    Column("id", SmallInteger, primary_key=True, autoincrement=False),
    Column("last", BigInteger, nullable=False),
    #: Events up to this sequence were purged: a cursor below it has expired.
    Column("purged_through", BigInteger, nullable=False),
)

webhook_endpoints = Table(
    "webhook_endpoints",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("url", String(2000), nullable=False),
    #: JSON array of event types; empty means all.
    Column("event_types", Text, nullable=False),
    Column("description", String(500), nullable=False),
    Column("status", String(16), nullable=False),
    Column("secret", String(100), nullable=False),
    #: The secret before the last rotation, still signing until ``previous_secret_until``.
    Column("previous_secret", String(100), nullable=True),
    Column("previous_secret_until", UTCDateTime, nullable=True),
    #: The last event sequence queued for this endpoint.
    Column("cursor", BigInteger, nullable=False),
    #: The deliverer that may send to this endpoint now, and until when.
    Column("lease_owner", Uuid, nullable=True),
    Column("lease_until", UTCDateTime, nullable=True),
    _created_at(),
    Column("updated_at", UTCDateTime, nullable=False),
)

webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column(
        "endpoint_id",
        Uuid,
        ForeignKey("webhook_endpoints.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("event_id", Uuid, nullable=False),
    Column("sequence", BigInteger, nullable=False),
    Column("event_type", String(64), nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("last_status_code", SmallInteger, nullable=True),
    Column("last_error", String(1000), nullable=True),
    Column("next_attempt_at", UTCDateTime, nullable=True),
    Column("delivered_at", UTCDateTime, nullable=True),
    _created_at(),
    Index("ix_webhook_deliveries_endpoint_id_status_id", "endpoint_id", "status", "id"),
)
