"""Pooled connections the server dropped: pinged after idling, 503 inside the window.

The pool pings a connection only when it comes back from idling longer than
``PING_AFTER_IDLE_SECONDS`` (a ping per request would cost a round trip each).
PostgreSQL only: a SQLite connection is a file handle that no server can drop.
"""

from __future__ import annotations

import pytest
from sqlalchemy import text

from service.db import database as database_module
from service.db.database import Database
from service.domain.roles import Role
from tests.conftest import Api


def _drop_server_connections(db: Database) -> int:
    """What a server restart does to the pool: every other session is terminated."""
    with db.engine.connect() as conn:
        dropped = conn.execute(
            text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        ).scalar_one()
        conn.rollback()
    # That session is back in the pool, alive; drop it too, from outside the pool.
    engine = database_module.make_engine(db.url)
    with engine.connect() as conn:
        conn.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        )
    engine.dispose()
    return int(dropped)


#: Only PostgreSQL: its param of the ``db`` fixture (skipped only when no
#: PostgreSQL is reachable, as everywhere).
POSTGRES_ONLY = pytest.mark.parametrize(
    "db", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)


@POSTGRES_ONLY
def test_an_idle_dropped_connection_is_replaced_without_an_error(
    api: Api, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    account = api.open_account()
    _drop_server_connections(db)
    monkeypatch.setattr(database_module, "PING_AFTER_IDLE_SECONDS", 0.0)
    response = api.get(f"/v1/accounts/{account}", Role.TRADING)
    assert response.status_code == 200
    assert response.get_json()["id"] == account


@POSTGRES_ONLY
def test_a_connection_dropped_inside_the_window_fails_one_request_with_503(
    api: Api, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    account = api.open_account()
    monkeypatch.setattr(database_module, "PING_AFTER_IDLE_SECONDS", 3600.0)
    _drop_server_connections(db)
    failed = api.get(f"/v1/accounts/{account}", Role.TRADING)
    assert failed.status_code == 503
    assert failed.headers["Retry-After"] == "1"
    assert failed.get_json()["code"] == "database_unavailable"
    # The pool was invalidated with that failure: the retry gets a new connection.
    again = api.get(f"/v1/accounts/{account}", Role.TRADING)
    assert again.status_code == 200
