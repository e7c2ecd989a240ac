"""The idempotency store: one stored response per (API key, Idempotency-Key).

The record is written in the same transaction as the money movement it guards,
so either both the movement and its response are kept, or neither is: a client
retrying after a timeout either gets the original response or a fresh attempt,
never a second movement.

"In flight" detection: on PostgreSQL the transaction first takes a
transaction-scoped advisory lock on the key; a concurrent request with the same
key fails to take it and is told ``idempotency_key_in_use``. SQLite writers are
serialized by ``BEGIN IMMEDIATE``, so there a second request simply waits and
then replays.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    bindparam,
    delete,
    func,
    insert,
    literal,
    select,
)

from service.db.tables import idempotency_keys


@dataclass(frozen=True, slots=True)
class StoredResponse:
    request_hash: str
    status: int
    body: str


def _lock_name(api_key_id: uuid.UUID, key: str) -> str:
    return f"{api_key_id}:{key}"


@lru_cache(maxsize=2)
def _lock_and_find_statement(dialect: str) -> Any:
    stored = (
        select(
            idempotency_keys.c.request_hash,
            idempotency_keys.c.status_code,
            idempotency_keys.c.response_body,
        )
        .where(
            idempotency_keys.c.api_key_id == bindparam("api_key_id"),
            idempotency_keys.c.key == bindparam("key"),
        )
        .subquery("stored")
    )
    lock: ColumnElement[Any] = literal(True)
    if dialect == "postgresql":
        lock = func.pg_try_advisory_xact_lock(func.hashtextextended(bindparam("lock_name"), 0))
    locked = select(lock.label("locked")).subquery("lock")
    return select(
        locked.c.locked, stored.c.request_hash, stored.c.status_code, stored.c.response_body
    ).select_from(locked.outerjoin(stored, literal(True)))


def lock_and_find(
    conn: Connection, api_key_id: uuid.UUID, key: str
) -> tuple[bool, StoredResponse | None]:
    """Take the key's advisory lock (PostgreSQL) and read any stored response, in
    one round trip. Returns (locked, stored)."""
    params: dict[str, Any] = {"api_key_id": api_key_id, "key": key}
    if conn.dialect.name == "postgresql":
        params["lock_name"] = _lock_name(api_key_id, key)
    row = conn.execute(_lock_and_find_statement(conn.dialect.name), params).one()
    found = None if row[1] is None else StoredResponse(row[1], row[2], row[3])
    return bool(row[0]), found


def save(
    conn: Connection,
    api_key_id: uuid.UUID,
    key: str,
    response: StoredResponse,
    now: datetime,
) -> None:
    conn.execute(
        _INSERT,
        {
            "api_key_id": api_key_id,
            "key": key,
            "request_hash": response.request_hash,
            "status_code": response.status,
            "response_body": response.body,
            "created_at": now,
        },
    )


_INSERT = insert(idempotency_keys)


def purge_before(conn: Connection, cutoff: datetime) -> int:
    """Forget responses stored before ``cutoff``; returns how many."""
    result = conn.execute(delete(idempotency_keys).where(idempotency_keys.c.created_at < cutoff))
    return int(result.rowcount)
