"""API keys: created by the ``ledger keys create`` command, checked on every request.

Only a SHA-256 hash of a key is stored: a leaked database does not leak keys.
Keys are long random tokens, so a plain hash (no salt, no slow KDF) is enough
and lets a request find its key with one indexed lookup.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from datetime import UTC, datetime
from threading import Lock

from cachetools import TTLCache
from sqlalchemy import Connection

from service.db import repositories
from service.db.database import Database
from service.domain.errors import Conflict, NotFound
from service.domain.roles import ApiKeyRecord, Role

KEY_PREFIX = "lk_"
#: How long a verified key is remembered in this process: a revoked key is
#: refused by every server process within this time (the contract says 5 s).
#: A cache miss costs one indexed read; at this TTL that is one read per key,
#: per process, every two seconds, whatever the request rate.
CACHE_SECONDS = 2.0


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create_key(tx: Connection, role: Role, name: str | None, now: datetime) -> str:
    """Create a key and return it; this is the only time it is ever visible."""
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    name = name or f"{role.value}-{secrets.token_hex(4)}"
    if repositories.api_key_name_taken(tx, name):
        raise Conflict(f"an API key named {name!r} exists", code="key_name_taken")
    repositories.insert_api_key(tx, name, role, hash_key(key), now)
    return key


def admin_key_exists(conn: Connection) -> bool:
    return repositories.role_has_key(conn, Role.ADMIN)


class KeyCache:
    """Authenticates bearer tokens, remembering hits for :data:`CACHE_SECONDS`.

    Misses are not remembered, so a key created a moment ago works at once;
    a revoked one stops working when its entry expires.
    """

    def __init__(self, db: Database, clock: Callable[[], datetime] | None = None) -> None:
        self._db = db
        self._lock = Lock()
        self._clock = clock or (lambda: datetime.now(UTC))
        self._hits: TTLCache[str, ApiKeyRecord] = TTLCache(maxsize=10_000, ttl=CACHE_SECONDS)

    def authenticate(self, token: str) -> ApiKeyRecord | None:
        digest = hash_key(token)
        with self._lock:
            hit: ApiKeyRecord | None = self._hits.get(digest)
        if hit is not None:
            return hit
        with self._db.write() as tx:
            record = repositories.find_api_key(tx, digest)
            if record is not None:
                repositories.touch_api_key(tx, record.id, self._clock())
        if record is not None:
            with self._lock:
                self._hits[digest] = record
        return record


def list_keys(conn: Connection) -> list[repositories.ApiKeyListing]:
    return repositories.list_api_keys(conn)


def revoke_key(tx: Connection, name: str, now: datetime) -> None:
    """Revoke the key ``name``: refused by every server within :data:`CACHE_SECONDS`."""
    if not repositories.revoke_api_key(tx, name, now):
        raise NotFound(f"no API key named {name!r}", code="key_not_found")
