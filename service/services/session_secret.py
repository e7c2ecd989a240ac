"""The secret that signs the console's session cookie.

Rule: every process serving one database must sign with the same secret, or a
cookie signed by one gunicorn worker is refused by the next. The deployment's
``LEDGER_SECRET_KEY`` wins; without it, the first process stores a random
secret in the database (``console_secrets``) and every other process, on any
host, reads that one. Whoever can read the database can then forge a console
session, so production sets ``LEDGER_SECRET_KEY`` (docs/console.md).
"""

from __future__ import annotations

import secrets
from datetime import datetime

from sqlalchemy.exc import IntegrityError

from service.db import session_secrets
from service.db.database import Database


def console_secret(db: Database, configured: str | None, now: datetime) -> str:
    """The configured secret, else the database's (made on first use)."""
    if configured:
        return configured
    with db.read() as conn:
        stored = session_secrets.find_secret(conn)
    if stored is not None:
        return stored
    try:
        with db.write() as tx:
            session_secrets.insert_secret(tx, secrets.token_urlsafe(48), now)
    except IntegrityError:
        pass  # another process stored one first: use theirs
    with db.read() as conn:
        stored = session_secrets.find_secret(conn)
    assert stored is not None
    return stored
