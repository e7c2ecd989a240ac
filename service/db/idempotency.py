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

from sqlalchemy import Connection, delete, func, insert, select, text

from service.db.tables import idempotency_keys


@dataclass(frozen=True, slots=True)
class StoredResponse:
    request_hash: str
    status: int
    body: str


def try_lock(conn: Connection, api_key_id: uuid.UUID, key: str) -> bool:
    if conn.dialect.name != "postgresql":
        return True
    return bool(
        conn.execute(
            text("SELECT pg_try_advisory_xact_lock(hashtextextended(:k, 0))"),
            {"k": f"{api_key_id}:{key}"},
        ).scalar_one()
    )


def find(conn: Connection, api_key_id: uuid.UUID, key: str) -> StoredResponse | None:
    row = conn.execute(
        select(
            idempotency_keys.c.request_hash,
            idempotency_keys.c.status_code,
            idempotency_keys.c.response_body,
        ).where(idempotency_keys.c.api_key_id == api_key_id, idempotency_keys.c.key == key)
    ).first()
    return None if row is None else StoredResponse(row[0], row[1], row[2])


def save(
    conn: Connection,
    api_key_id: uuid.UUID,
    key: str,
    response: StoredResponse,
    now: datetime,
) -> None:
    conn.execute(
        insert(idempotency_keys).values(
            api_key_id=api_key_id,
            key=key,
            request_hash=response.request_hash,
            status_code=response.status,
            response_body=response.body,
            created_at=now,
        )
    )


def purge_before(conn: Connection, cutoff: datetime) -> int:
    """Forget keys older than ``cutoff`` (kept at least 30 days, API.md)."""
    count = conn.execute(
        select(func.count()).where(idempotency_keys.c.created_at < cutoff)
    ).scalar_one()
    conn.execute(delete(idempotency_keys).where(idempotency_keys.c.created_at < cutoff))
    return int(count)
