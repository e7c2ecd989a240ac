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


def test_a_database_that_cannot_be_reached_is_503_with_retry_after() -> None:
    """Issue 12, item 9: during a restart, refused connections ("Connection
    refused", "starting up", "shutting down") answered 500. Every failure to
    reach the database is 503 database_unavailable with Retry-After."""
    from service.api import create_app
    from service.config import Settings

    url = "postgresql+psycopg://postgres@127.0.0.1:9/ledger?connect_timeout=2"  # nothing listens
    db = Database(url)
    app = create_app(Settings(database_url=url), db)
    client = app.test_client()
    headers = {"Authorization": "Bearer some-key", "X-Client-Country": "GB"}
    for response in (
        client.get("/v1/accounts/00000000-0000-0000-0000-000000000001", headers=headers),
        client.post(
            "/v1/deposits",
            json={"account_id": "x"},
            headers={**headers, "Idempotency-Key": "k-1"},
        ),
    ):
        assert response.status_code == 503, response.get_data(as_text=True)
        assert response.mimetype == "application/problem+json"
        assert response.get_json()["code"] == "database_unavailable"
        assert response.headers["Retry-After"] == "1"
    db.dispose()
