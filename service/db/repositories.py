"""Small repositories: reading and writing the rows of one concept each.

Each function takes the caller's connection, so it joins whatever transaction the
service opened. Money is never written here: only :mod:`service.db.ledger` posts.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from service.db.pagination import newest_first
from service.db.tables import accounts, api_keys, audit_log, ledger_accounts
from service.domain.accounts import AccountRecord, AccountStatus, Tier
from service.domain.chart import AccountType, Bucket, customer_account_name, ledger_account_id
from service.domain.ids import new_id
from service.domain.roles import ApiKeyRecord, Role


def _account(row: Any) -> AccountRecord:
    return AccountRecord(
        id=row.id,
        external_id=row.external_id,
        country=row.country,
        tier=Tier(row.tier),
        status=AccountStatus(row.status),
        created_at=row.created_at,
    )


def find_account(
    conn: Connection, account_id: uuid.UUID, *, lock: bool = False
) -> AccountRecord | None:
    """The account; with ``lock``, under a row lock (``FOR NO KEY UPDATE``: the first
    step of the lock order for movements that may change the account's status)."""
    query = select(accounts).where(accounts.c.id == account_id)
    if lock:
        query = query.with_for_update(key_share=True)
    row = conn.execute(query).first()
    return None if row is None else _account(row)


def find_account_by_external_id(conn: Connection, external_id: str) -> AccountRecord | None:
    row = conn.execute(select(accounts).where(accounts.c.external_id == external_id)).first()
    return None if row is None else _account(row)


def accounts_with_prefix(conn: Connection, prefix: str, *, limit: int) -> list[AccountRecord]:
    """Accounts whose external id starts with ``prefix`` (case-sensitive, no
    wildcards, the same on both databases), by external id. A scan of
    ``accounts``: no index serves a prefix under every collation."""
    rows = conn.execute(
        select(accounts)
        .where(func.substr(accounts.c.external_id, 1, len(prefix)) == prefix)
        .order_by(accounts.c.external_id)
        .limit(limit)
    )
    return [_account(row) for row in rows]


def insert_account(conn: Connection, record: AccountRecord) -> bool:
    """The account row and its three ledger sub-accounts; False (nothing written)
    if another account took the ``external_id`` first (its unique key: a
    concurrent request can win the race past the caller's own check)."""
    try:
        with conn.begin_nested():
            _insert_account(conn, record)
    except IntegrityError:
        return False
    return True


def _insert_account(conn: Connection, record: AccountRecord) -> None:
    conn.execute(
        insert(accounts).values(
            id=record.id,
            external_id=record.external_id,
            country=record.country,
            tier=record.tier.value,
            status=record.status.value,
            created_at=record.created_at,
        )
    )
    conn.execute(
        insert(ledger_accounts).values(
            [
                {
                    "id": ledger_account_id(customer_account_name(record.id, bucket)),
                    "name": customer_account_name(record.id, bucket),
                    "type": AccountType.LIABILITIES.value,
                    "account_id": record.id,
                    "bucket": bucket.value,
                }
                for bucket in Bucket
            ]
        )
    )


def set_account_status(conn: Connection, account_id: uuid.UUID, status: AccountStatus) -> None:
    conn.execute(update(accounts).where(accounts.c.id == account_id).values(status=status.value))


def insert_api_key(conn: Connection, name: str, role: Role, key_hash: str, now: datetime) -> None:
    conn.execute(
        insert(api_keys).values(
            id=new_id(), name=name, role=role.value, key_hash=key_hash, created_at=now
        )
    )


def find_api_key(conn: Connection, key_hash: str) -> ApiKeyRecord | None:
    """The key with this hash, unless it was revoked."""
    row = conn.execute(
        select(api_keys.c.id, api_keys.c.name, api_keys.c.role).where(
            api_keys.c.key_hash == key_hash, api_keys.c.revoked_at.is_(None)
        )
    ).first()
    return None if row is None else ApiKeyRecord(row.id, row.name, Role(row.role))


@dataclass(frozen=True, slots=True)
class ApiKeyListing:
    name: str
    role: Role
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


def list_api_keys(conn: Connection) -> list[ApiKeyListing]:
    columns = (
        api_keys.c.name,
        api_keys.c.role,
        api_keys.c.created_at,
        api_keys.c.last_used_at,
        api_keys.c.revoked_at,
    )
    return [
        ApiKeyListing(row.name, Role(row.role), row.created_at, row.last_used_at, row.revoked_at)
        for row in conn.execute(select(*columns).order_by(api_keys.c.created_at, api_keys.c.name))
    ]


def revoke_api_key(conn: Connection, name: str, now: datetime) -> bool:
    """Revoke the key ``name`` (again is harmless); False if there is none."""
    if not api_key_name_taken(conn, name):
        return False
    conn.execute(
        update(api_keys)
        .where(api_keys.c.name == name, api_keys.c.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    return True


def touch_api_key(conn: Connection, key_id: uuid.UUID, now: datetime) -> None:
    """Record a use, at most once a minute per key (no write on most lookups)."""
    stale = now - timedelta(minutes=1)
    conn.execute(
        update(api_keys)
        .where(
            api_keys.c.id == key_id,
            or_(api_keys.c.last_used_at.is_(None), api_keys.c.last_used_at < stale),
        )
        .values(last_used_at=now)
    )


def api_key_name_taken(conn: Connection, name: str) -> bool:
    return conn.execute(select(api_keys.c.id).where(api_keys.c.name == name)).first() is not None


def role_has_key(conn: Connection, role: Role) -> bool:
    return (
        conn.execute(select(api_keys.c.id).where(api_keys.c.role == role.value)).first() is not None
    )


def audit(
    conn: Connection,
    *,
    at: datetime,
    actor: str,
    action: str,
    reason: str = "",
    account_id: uuid.UUID | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    """Append to the audit log: every status change, override and manual action."""
    conn.execute(
        insert(audit_log).values(
            id=new_id(),
            account_id=account_id,
            at=at,
            actor=actor,
            action=action,
            reason=reason,
            details=json.dumps(details or {}, sort_keys=True, default=str),
        )
    )


def audit_page(
    conn: Connection,
    account_id: uuid.UUID,
    *,
    limit: int,
    after: tuple[datetime, uuid.UUID] | None,
) -> list[Any]:
    """Up to ``limit`` of the account's audit rows, newest first, strictly older
    than ``after`` (at, id) when given."""
    query = select(audit_log).where(audit_log.c.account_id == account_id)
    query = newest_first(query, audit_log.c.at, audit_log.c.id, after=after, limit=limit)
    return list(conn.execute(query))
