"""The secret that signs the console's session cookie.

Rule: every process serving one database must sign with the same secret, or a
cookie signed by one gunicorn worker is refused by the next. The deployment's
``LEDGER_SECRET_KEY`` wins; without it, the first process stores a random
secret in the database (``console_secrets``) and every other process, on any
host, reads that one. Whoever can read the database can then forge a console
session cookie (it still has to name a live sign-in), so production sets
``LEDGER_SECRET_KEY`` (docs/console.md).
"""

from __future__ import annotations

import secrets
from datetime import datetime

from sqlalchemy import Connection

from service.db import session_secrets


def console_secret(tx: Connection, now: datetime) -> str:
    """The database's secret, made on first use (a process that loses the race
    to make it reads the winner's)."""
    stored = session_secrets.find_secret(tx)
    if stored is None:
        session_secrets.insert_secret_once(tx, secrets.token_urlsafe(48), now)
        stored = session_secrets.find_secret(tx)
    assert stored is not None
    return stored
