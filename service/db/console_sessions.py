"""Console sign-ins (table ``console_sessions``), each tied to its API key."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Connection, delete, insert, select, update

from service.db.tables import api_keys, console_sessions
from service.domain.roles import ApiKeyRecord, Role


def insert_session(
    conn: Connection, session_id: uuid.UUID, api_key_id: uuid.UUID, now: datetime
) -> None:
    conn.execute(
        insert(console_sessions).values(id=session_id, api_key_id=api_key_id, started_at=now)
    )


def live_session_key(
    conn: Connection, session_id: uuid.UUID, started_after: datetime
) -> ApiKeyRecord | None:
    """The key of a session not ended and started after ``started_after``; ``None``
    when the session ended or its key was revoked (one indexed lookup each)."""
    row = conn.execute(
        select(api_keys.c.id, api_keys.c.name, api_keys.c.role)
        .select_from(
            console_sessions.join(api_keys, api_keys.c.id == console_sessions.c.api_key_id)
        )
        .where(
            console_sessions.c.id == session_id,
            console_sessions.c.ended_at.is_(None),
            api_keys.c.revoked_at.is_(None),
            console_sessions.c.started_at > started_after,
        )
    ).first()
    return None if row is None else ApiKeyRecord(row.id, row.name, Role(row.role))


def end_session(conn: Connection, session_id: uuid.UUID, now: datetime) -> None:
    conn.execute(
        update(console_sessions)
        .where(console_sessions.c.id == session_id, console_sessions.c.ended_at.is_(None))
        .values(ended_at=now)
    )


def purge_sessions(conn: Connection, started_before: datetime) -> int:
    """Forget sessions that cannot be live any more; returns how many."""
    result = conn.execute(
        delete(console_sessions).where(console_sessions.c.started_at < started_before)
    )
    return int(result.rowcount)
