"""Console sessions: who signed in with which key, until when.

Rule: a session is live from sign-in until sign-out or :data:`SESSION_LIFETIME`,
whichever comes first, and only while its API key exists (and is not
revoked). The browser's cookie only names the session; the row decides, so a
signed-out cookie, or a copy of it, is refused like a forged one.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import Connection

from service.db import console_sessions
from service.domain.roles import ApiKeyRecord

#: The longest a console session lives after sign-in, however active.
SESSION_LIFETIME = timedelta(hours=8)


def start(tx: Connection, key: ApiKeyRecord, now: datetime) -> uuid.UUID:
    """A new session for ``key``; sessions past their lifetime are forgotten."""
    session_id = uuid.uuid4()  # random, not time-ordered: nothing to guess from
    console_sessions.purge_sessions(tx, now - SESSION_LIFETIME)
    console_sessions.insert_session(tx, session_id, key.id, now)
    return session_id


def live_key(conn: Connection, session_id: uuid.UUID, now: datetime) -> ApiKeyRecord | None:
    """The key a live session was opened with, read afresh on every request."""
    return console_sessions.live_session_key(conn, session_id, now - SESSION_LIFETIME)


def end(tx: Connection, session_id: uuid.UUID, now: datetime) -> None:
    console_sessions.end_session(tx, session_id, now)
