"""API keys: created by the ``ledger keys create`` command, checked on every request.

Only a SHA-256 hash of a key is stored: a leaked database does not leak keys.
Keys are long random tokens, so a plain hash (no salt, no slow KDF) is enough
and lets a request find its key with one indexed lookup.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from datetime import datetime
from threading import Lock

from sqlalchemy import Connection

from service.db import repositories
from service.db.database import Database
from service.domain.errors import Conflict
from service.domain.roles import ApiKeyRecord, Role

KEY_PREFIX = "lk_"
#: How long a verified key is remembered in this process. Keys are never edited
#: in place, so a short cache only delays nothing but the first lookup.
CACHE_SECONDS = 30.0


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
    """Authenticates bearer tokens, remembering hits for :data:`CACHE_SECONDS`."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._lock = Lock()
        self._hits: dict[str, tuple[float, ApiKeyRecord]] = {}

    def authenticate(self, token: str) -> ApiKeyRecord | None:
        digest = hash_key(token)
        now = time.monotonic()
        with self._lock:
            hit = self._hits.get(digest)
        if hit is not None and now - hit[0] < CACHE_SECONDS:
            return hit[1]
        with self._db.read() as conn:
            record = repositories.find_api_key(conn, digest)
        if record is not None:
            with self._lock:
                if len(self._hits) > 10_000:
                    self._hits.clear()
                self._hits[digest] = (now, record)
        return record
