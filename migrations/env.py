"""Alembic environment: migrates the database named by ``LEDGER_DATABASE_URL``.

A caller may pass an open connection in ``config.attributes["connection"]``
(the ``ledger db upgrade`` command and the tests do), so the migration runs on
the same engine settings the service uses.
"""

from __future__ import annotations

import sys
from pathlib import Path

from alembic import context
from sqlalchemy import Connection

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from service.config import Settings
from service.db.database import make_engine
from service.db.tables import metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    given = context.config.attributes.get("connection")
    if given is not None:
        _run(given)
        return
    engine = make_engine(Settings.from_env().database_url)
    with engine.connect() as connection:
        _run(connection)
    engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline (--sql) migrations are not supported; run against a database")
run_migrations_online()
