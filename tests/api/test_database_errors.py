"""Database errors the API translates: told apart by SQLSTATE (PostgreSQL) or
the SQLite error, never by words that happen to be in a message."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from service.api.problems import from_database_error
from service.db.database import Database

#: A real out-of-range error on each database: PostgreSQL's bigint (SQLSTATE
#: 22003), SQLite's integer sum.
_OVERFLOW = {
    "postgresql": "SELECT CAST(9223372036854775807 AS bigint) + 1",
    "sqlite": "SELECT sum(x) FROM (SELECT 9223372036854775807 AS x UNION ALL SELECT 1)",
}


def _error(db: Database, sql: str) -> DBAPIError:
    with pytest.raises(DBAPIError) as caught, db.read() as conn:
        conn.execute(text(sql))
    return caught.value


def test_a_number_out_of_range_is_422(app: Any, db: Database) -> None:
    error = _error(db, _OVERFLOW[db.engine.dialect.name])
    with app.app_context():
        response = from_database_error(error)
    assert response.status_code == 422
    assert response.get_json()["code"] == "amount_out_of_range"


@pytest.mark.postgres
@pytest.mark.parametrize("db", ["postgresql"], indirect=True)
def test_a_message_that_only_says_out_of_range_is_not_a_client_error(
    app: Any, db: Database
) -> None:
    """A constraint violation whose text says "out of range" is a bug (500), not input."""
    error = _error(
        db,
        "DO $$ BEGIN RAISE EXCEPTION 'lot overflow: value out of range' "
        "USING ERRCODE = 'check_violation'; END $$",
    )
    with app.app_context():
        response = from_database_error(error)
    assert response.status_code == 500
    assert response.get_json()["code"] == "internal_error"
