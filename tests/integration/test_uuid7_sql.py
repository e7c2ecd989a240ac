"""The database mints a release batch's event ids from a block Python reserved
(``service.domain.ids.reserve``): they must be the UUIDv7s Python would make
of the same counters, increasing, distinct, and never collide with ids Python
makes next."""

from __future__ import annotations

import time
from typing import Any

import pytest
from sqlalchemy import text

from service.db.database import Database
from service.db.dialect import pg_uuid7
from service.db.holds import release_batch
from service.domain import ids
from tests.integration.test_release import DUE, make_held_deposits


@pytest.mark.postgres
@pytest.mark.parametrize("db", ["postgresql"], indirect=True)
def test_sql_ids_are_pythons_ids_of_the_reserved_counters(db: Database) -> None:
    n = 9000  # more than one millisecond's 4,096 counters
    first = ids.reserve(n)
    tail = ids.tail()
    with db.engine.connect() as conn:
        minted = [
            row[0]
            for row in conn.execute(
                text(
                    f"SELECT {pg_uuid7('(:first + g - 1)', ':tail')} FROM generate_series(1, :n) g"
                ),
                {"first": first, "n": n, "tail": tail},
            )
        ]
    random_bits = int.from_bytes(tail, "big") & ((1 << 62) - 1)
    assert minted == [ids.at(first + i, random_bits) for i in range(n)]
    assert all(m.version == 7 and (m.int >> 62) & 0b11 == 0b10 for m in minted)
    assert minted == sorted(minted)
    assert len(set(minted)) == n
    assert ids.new_id() > minted[-1]


@pytest.mark.postgres
@pytest.mark.parametrize("db", ["postgresql"], indirect=True)
def test_a_release_gives_back_the_event_ids_it_did_not_use(db: Database, monkeypatch: Any) -> None:
    """A lazy release reserves a batch's worth of ids (10,000) for the one hold
    it finds; the rest go back, so the ids' clock does not run ahead."""
    [account] = make_held_deposits(db, 1, accounts_count=1)
    frozen = time.time_ns()
    monkeypatch.setattr(ids.time, "time_ns", lambda: frozen)
    before = ids.reserve(1)
    with db.write() as tx:
        released = release_batch(tx, as_of=DUE, now=DUE, limit=10_000, account_id=account)
    assert released.released == 1
    after = ids.reserve(1)
    assert before + 2 <= after < before + 1024
