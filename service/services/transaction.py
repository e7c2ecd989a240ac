"""Running a use case as one transaction, optionally guarded by an idempotency key.

API.md: every POST that moves money carries an ``Idempotency-Key``. The same key
with the same body returns the original status and body; with a different body
it is ``idempotency_key_reused``; while the first request is still in flight it
is ``idempotency_key_in_use``. Only completed (committed) responses are stored:
a request that failed changed nothing and may be retried under the same key.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection

from service.db import idempotency
from service.db.database import Database
from service.domain.errors import Conflict


@dataclass(frozen=True, slots=True)
class IdempotencyKey:
    api_key_id: uuid.UUID
    key: str
    request_hash: str

    @classmethod
    def for_request(
        cls, api_key_id: uuid.UUID, key: str, method: str, path: str, body: Any
    ) -> IdempotencyKey:
        """Fingerprint the request by its method, path and JSON body (key order ignored)."""
        canonical = json.dumps([method, path, body], sort_keys=True, separators=(",", ":"))
        return cls(api_key_id, key, hashlib.sha256(canonical.encode()).hexdigest())


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    body: str
    replayed: bool = False


def run_idempotent(
    db: Database,
    key: IdempotencyKey,
    now: datetime,
    action: Callable[[Connection], tuple[int, str]],
) -> Response:
    """Run ``action`` once per key; replay its stored response afterwards."""
    with db.write() as tx:
        locked, stored = idempotency.lock_and_find(tx, key.api_key_id, key.key)
        if not locked:
            raise Conflict(
                "a request with this Idempotency-Key is still being processed",
                code="idempotency_key_in_use",
            )
        if stored is not None:
            if stored.request_hash != key.request_hash:
                raise Conflict(
                    "this Idempotency-Key was used with a different request",
                    code="idempotency_key_reused",
                )
            return Response(stored.status, stored.body, replayed=True)
        status, body = action(tx)
        idempotency.save(
            tx,
            key.api_key_id,
            key.key,
            idempotency.StoredResponse(key.request_hash, status, body),
            now,
        )
        return Response(status, body)


def forget_old_responses(tx: Connection, now: datetime, retention_days: int) -> int:
    """Drop stored responses older than ``retention_days`` (API.md: keys are kept
    at least 30 days; the scheduler calls this). Returns how many were dropped."""
    return idempotency.purge_before(tx, now - timedelta(days=retention_days))
