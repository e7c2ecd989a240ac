"""The release job: exactly once, crash-safe, on time, however it is run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select

from service.config import Settings
from service.db import events
from service.db.database import Database
from service.db.dialect import select_ids
from service.db.holds import release_batch
from service.db.tables import events as event_table
from service.db.tables import holds, journal_entries
from service.domain.accounts import Tier
from service.domain.holds import Method
from service.services import accounts, deposits
from service.services.balances import account_balances
from service.services.holds import release_due_holds
from service.services.verify import verify

SETTLED = datetime(2026, 11, 20, 20, 0, tzinfo=UTC)  # Friday 15:00 New York
DUE = datetime(2026, 11, 25, 20, 0, tzinfo=UTC)  # three business days later
LEDGER = Path(sys.executable).parent / "ledger"


def make_held_deposits(
    db: Database, n: int, *, accounts_count: int = 20, settled: datetime = SETTLED
) -> list[uuid.UUID]:
    """``n`` card deposits settled at ``settled`` (by default all due at DUE)."""
    settings = Settings(database_url=db.url)
    with db.write() as tx:
        ids = [
            accounts.open_account(
                tx,
                accounts.OpenAccount(f"bulk-{uuid.uuid4()}", "GB", Tier.BASIC),
                client_country="GB",
                blocked=settings.blocked_countries,
                now=settled,
            ).id
            for _ in range(accounts_count)
        ]
        for i in range(n):
            deposits.record_deposit(
                tx,
                deposits.DepositCommand(
                    ids[i % accounts_count],
                    Method.CARD,
                    "USD",
                    Decimal("10.01"),
                    f"bulk-{uuid.uuid4()}",
                    settled,
                ),
                settings=settings,
                now=settled,
            )
    return ids


def hold_statuses(db: Database) -> dict[str, int]:
    with db.read() as conn:
        rows = conn.execute(select(holds.c.status, func.count()).group_by(holds.c.status))
        return dict(rows.all())


def release_entries(db: Database) -> int:
    with db.read() as conn:
        return conn.execute(
            select(func.count()).where(journal_entries.c.type == "hold_release")
        ).scalar_one()


def holds_with_release_entry(db: Database) -> int:
    """Released holds naming a ``hold_release`` entry of their own account."""
    with db.read() as conn:
        return conn.execute(
            select(func.count())
            .select_from(holds)
            .join(
                journal_entries,
                (journal_entries.c.id == holds.c.release_entry_id)
                & (journal_entries.c.account_id == holds.c.account_id),
            )
            .where(holds.c.status == "released", journal_entries.c.type == "hold_release")
        ).scalar_one()


def assert_sound(db: Database) -> None:
    with db.read() as conn:
        assert verify(conn) == []


def test_concurrent_runners_release_every_hold_exactly_once(db: Database) -> None:
    total = 1500
    make_held_deposits(db, total)
    if db.is_postgres:
        env = {**os.environ, "LEDGER_DATABASE_URL": db.url}
        runners = [
            subprocess.Popen(
                [str(LEDGER), "release-holds", "--as-of", DUE.isoformat(), "--batch-size", "50"],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(4)
        ]
        outputs = [runner.communicate(timeout=300) for runner in runners]
        assert [r.returncode for r in runners] == [0, 0, 0, 0], [o[1] for o in outputs]
        released = [json.loads(out)["released"] for out, _ in outputs]
    else:
        released = []
        lock = threading.Lock()

        def run() -> None:
            summary = release_due_holds(db, as_of=DUE, now=DUE, batch_size=50)
            with lock:
                released.append(summary.released)

        threads = [threading.Thread(target=run) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert sum(released) == total
    assert hold_statuses(db) == {"released": total}
    assert holds_with_release_entry(db) == total
    # one entry per account and batch: 20 accounts, at most one per batch each
    assert 20 <= release_entries(db) < total
    assert_sound(db)


def test_a_runner_killed_mid_run_loses_nothing_and_doubles_nothing(db: Database) -> None:
    make_held_deposits(db, 120, accounts_count=5)

    class Killed(BaseException):
        pass

    def die_after_first_batch(_count: int) -> None:
        raise Killed

    with pytest.raises(Killed):
        release_due_holds(db, as_of=DUE, now=DUE, batch_size=50, on_batch=die_after_first_batch)
    assert hold_statuses(db) == {"released": 50, "active": 70}
    assert_sound(db)
    summary = release_due_holds(db, as_of=DUE, now=DUE, batch_size=50)
    assert summary.released == 70
    assert hold_statuses(db) == {"released": 120}
    assert holds_with_release_entry(db) == 120
    assert release_entries(db) == 15  # 5 accounts in each of 3 batches (50, then 50 + 20)
    assert release_due_holds(db, as_of=DUE, now=DUE).released == 0
    assert_sound(db)


def test_as_of_boundary_and_dry_run(db: Database) -> None:
    make_held_deposits(db, 3, accounts_count=1)
    just_before = DUE - timedelta(microseconds=1)
    assert release_due_holds(db, as_of=just_before, now=just_before).released == 0
    dry = release_due_holds(db, as_of=DUE, now=DUE, dry_run=True)
    assert (dry.released, dry.totals, dry.dry_run) == (3, {"USD": "30.03"}, True)
    assert hold_statuses(db) == {"active": 3}
    summary = release_due_holds(db, as_of=DUE, now=DUE)
    assert (summary.released, summary.totals) == (3, {"USD": "30.03"})
    assert hold_statuses(db) == {"released": 3}
    assert_sound(db)


def test_lazy_release_on_balance_read_records_the_release(db: Database) -> None:
    [account] = make_held_deposits(db, 2, accounts_count=1)
    before = account_balances(db, account, DUE - timedelta(seconds=1)).balances[0]
    assert str(before.available_to_withdraw) == "0.00"
    after = account_balances(db, account, DUE).balances[0]
    assert str(after.available_to_withdraw) == "20.02"
    assert str(after.temporary_holds) == "0.00"
    assert after.next_release_at is None
    assert holds_with_release_entry(db) == 2
    assert release_entries(db) == 1  # both holds of the account, one entry
    assert_sound(db)


def test_cli_release_holds(db: Database) -> None:
    make_held_deposits(db, 2, accounts_count=1)
    env = {**os.environ, "LEDGER_DATABASE_URL": db.url}

    def ledger(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(LEDGER), *args], env=env, capture_output=True, text=True, timeout=120
        )

    early = ledger("release-holds", "--as-of", (DUE - timedelta(microseconds=1)).isoformat())
    assert early.returncode == 0, early.stderr
    assert json.loads(early.stdout)["released"] == 0
    naive = ledger("release-holds", "--as-of", "2026-11-25T20:00:00")
    assert naive.returncode != 0
    assert "Traceback" not in naive.stderr
    assert "offset" in naive.stderr
    done = ledger("release-holds", "--as-of", DUE.isoformat(), "--batch-size", "1")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["released"] == 2
    assert summary["totals"] == {"USD": "20.02"}
    assert summary["as_of"] == "2026-11-25T20:00:00Z"
    assert hold_statuses(db) == {"released": 2}


@pytest.mark.postgres
@pytest.mark.parametrize("db", ["postgresql"], indirect=True)
def test_release_passes_claimed_ids_as_a_typed_array_on_tables_without_statistics(
    db: Database,
) -> None:
    """Issue 12, item 1: ``= ANY(CAST(:text AS uuid[]))`` is re-parsed per row under
    a sequential scan (58 s for one batch of 1,000 on 100,000 holds). The claimed
    ids now never leave the database (one statement claims and releases a
    batch), so no list of ids travels at all, and the release must be right on
    tables with no statistics and autovacuum off, where the planner only guesses."""
    from sqlalchemy import event, text

    with db.engine.begin() as conn:
        for table in ("holds", "hold_lots", "journal_entries", "postings"):
            conn.execute(text(f"ALTER TABLE {table} SET (autovacuum_enabled = false)"))
            conn.execute(text(f"DELETE FROM pg_statistic WHERE starelid = '{table}'::regclass"))
    try:
        make_held_deposits(db, 600, accounts_count=10)
        seen: list[tuple[str, object]] = []

        def record(_conn, _cursor, statement, parameters, _context, _many) -> None:  # type: ignore[no-untyped-def]
            seen.append((statement, parameters))

        event.listen(db.engine, "before_cursor_execute", record)
        try:
            summary = release_due_holds(db, as_of=DUE, now=DUE, batch_size=250)
        finally:
            event.remove(db.engine, "before_cursor_execute", record)
        assert summary.released == 600
        assert hold_statuses(db) == {"released": 600}
        values = [
            v
            for _sql, params in seen
            for v in (params.values() if isinstance(params, dict) else params or ())
        ]
        texts = [v for v in values if isinstance(v, str) and v.startswith("{")]
        assert texts == [], "ids sent as an array literal in text"
        arrays = [v for v in values if isinstance(v, list) and v and isinstance(v[0], uuid.UUID)]
        assert arrays == []  # the claimed ids never leave the database: one statement a batch
        batches = [sql for sql, _params in seen if sql.lstrip().startswith("WITH claimed")]
        assert len(batches) == 4  # 250 + 250 + 100, then one that finds nothing due
        assert_sound(db)
    finally:
        with db.engine.begin() as conn:
            for table in ("holds", "hold_lots", "journal_entries", "postings"):
                conn.execute(text(f"ALTER TABLE {table} RESET (autovacuum_enabled)"))


def test_cli_refuses_a_future_as_of_but_forecasts_it_and_takes_dates(db: Database) -> None:
    """Issue 12, item 2: ``--as-of <next week>`` released holds days early."""
    now = datetime.now(UTC)
    make_held_deposits(db, 2, accounts_count=1, settled=now - timedelta(hours=1))
    env = {**os.environ, "LEDGER_DATABASE_URL": db.url}
    env.pop("LEDGER_ALLOW_FUTURE_AS_OF", None)

    def ledger(*args: str, **extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(LEDGER), *args], env={**env, **extra}, capture_output=True, text=True, timeout=120
        )

    next_week = (now + timedelta(days=7)).isoformat()
    refused = ledger("release-holds", "--as-of", next_week)
    assert refused.returncode == 2, refused.stderr
    assert "future" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert hold_statuses(db) == {"active": 2}
    next_week_date = (now + timedelta(days=7)).date().isoformat()
    assert ledger("release-holds", "--as-of", next_week_date).returncode == 2
    assert hold_statuses(db) == {"active": 2}
    forecast = ledger("release-holds", "--as-of", next_week_date, "--dry-run")
    assert forecast.returncode == 0, forecast.stderr
    assert (json.loads(forecast.stdout)["released"], json.loads(forecast.stdout)["dry_run"]) == (
        2,
        True,
    )
    assert hold_statuses(db) == {"active": 2}
    # A date means the end of that day in the calendar's zone (New York): the
    # UTC date of yesterday still ends in the future between 00:00 and 05:00 UTC.
    past = ledger("release-holds", "--as-of", (now - timedelta(days=2)).date().isoformat())
    assert past.returncode == 0, past.stderr
    assert json.loads(past.stdout)["released"] == 0
    staging = ledger("release-holds", "--as-of", next_week, LEDGER_ALLOW_FUTURE_AS_OF="1")
    assert staging.returncode == 0, staging.stderr
    assert json.loads(staging.stdout)["released"] == 2
    assert hold_statuses(db) == {"released": 2}


@pytest.mark.postgres
@pytest.mark.parametrize("db", ["postgresql"], indirect=True)
def test_claimed_ids_reach_a_sequential_scan_as_a_uuid_array_not_as_text(db: Database) -> None:
    """Issue 12, item 1, on the plan itself: with the planner on a sequential scan
    (forced here; it picks one on tables without statistics), the filter must
    compare with a ``uuid[]`` value. A text cast in SQL shows as
    ``('{...}'::cstring)::uuid[]``: the whole array re-parsed for every row."""
    from sqlalchemy import event, text

    from service.db.dialect import id_in, select_ids

    make_held_deposits(db, 40, accounts_count=4)
    plans: list[str] = []

    def explain(_conn, _cursor, statement, parameters, _context, _many):  # type: ignore[no-untyped-def]
        return "EXPLAIN " + statement, parameters

    with db.engine.connect() as conn:
        tx = conn.begin()
        conn.execute(text("SET LOCAL enable_indexscan = off"))
        conn.execute(text("SET LOCAL enable_bitmapscan = off"))
        claimed = select_ids(conn, select(holds.c.id).limit(25))
        assert claimed
        event.listen(conn, "before_cursor_execute", explain, retval=True)
        try:
            rows = conn.execute(select(holds.c.id).where(id_in(conn, holds.c.id, claimed)))
            plans.append("\n".join(str(row[0]) for row in rows))
        finally:
            event.remove(conn, "before_cursor_execute", explain)
            tx.rollback()
    (plan,) = plans
    assert "Seq Scan on holds" in plan, plan
    assert "cstring" not in plan, plan
    assert "::text" not in plan, plan
    assert "::uuid[]" in plan, plan


def test_release_events_built_by_the_database_are_the_bodies_python_builds(
    db: Database,
) -> None:
    """``hold.released`` bodies the release writes (PostgreSQL builds the JSON and
    the event ids in its one statement) are byte for byte those
    :func:`events.hold_released_rows` builds, in the same order, times with and
    without microseconds (test_events checks lots in two assets)."""
    make_held_deposits(db, 3, accounts_count=2)
    make_held_deposits(db, 2, accounts_count=1, settled=SETTLED.replace(microsecond=120500))
    now = DUE + timedelta(days=1, microseconds=7)
    with db.write() as tx:
        claimed = select_ids(tx, select(holds.c.id).order_by(holds.c.release_at, holds.c.id))
        expected = events.hold_released_rows(tx, claimed, now)
        before = set(tx.execute(select(event_table.c.id)).scalars())
        assert release_batch(tx, as_of=now, now=now, limit=100).released == 5
        appended = list(
            tx.execute(
                select(event_table.c.id, event_table.c.body, event_table.c.account_id)
                .where(event_table.c.id.not_in(before))
                .order_by(event_table.c.id)
            )
        )
        tx.rollback()
    assert len(appended) == len(expected) == 5
    for (event_id, body, account_id), want in zip(appended, expected, strict=True):
        assert body == want["body"].replace(str(want["id"]), str(event_id))
        assert account_id == want["account_id"]
    assert any(".120500Z" in body for _, body, _ in appended)
