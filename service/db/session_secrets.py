"""The stored session-signing secret of the console (table ``console_secrets``)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, insert, select
from sqlalchemy.exc import IntegrityError

from service.db.tables import console_secrets

#: The single row's key: there is one secret per database.
_ROW = 1


def find_secret(conn: Connection) -> str | None:
    return conn.execute(
        select(console_secrets.c.secret).where(console_secrets.c.id == _ROW)
    ).scalar_one_or_none()


def insert_secret_once(conn: Connection, secret: str, now: datetime) -> None:
    """Insert the secret unless another process inserted one first (its unique
    key decides the race; the loser's savepoint rolls back, nothing else)."""
    try:
        with conn.begin_nested():
            conn.execute(insert(console_secrets).values(id=_ROW, secret=secret, created_at=now))
    except IntegrityError:
        pass
