"""A hold is placed with the calendar as it is when the hold's deposit commits.

A calendar change recomputes the active holds it can see, so a deposit must
never compute its release time from overrides that a change is replacing. On
PostgreSQL the deposit waits for the change's lock; what it reads after the wait
must be the changed calendar (migration 0004), not the snapshot its statement
started with.
"""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal

from sqlalchemy import insert

from service.config import Settings
from service.db import holds as holds_repo
from service.db.database import Database
from service.db.tables import calendar_overrides
from service.domain.accounts import Tier
from service.domain.holds import Method
from service.services import accounts, deposits
from tests.integration.test_posting_engine import _wait_for_a_blocked_writer

SETTLED = datetime(2026, 11, 20, 20, 0, tzinfo=UTC)  # Friday 15:00 New York
SNOW_DAY = date(2026, 11, 24)


def _open(db: Database, settings: Settings) -> uuid.UUID:
    with db.write() as tx:
        return accounts.open_account(
            tx,
            accounts.OpenAccount(f"cal-{uuid.uuid4()}", "GB", Tier.BASIC),
            client_country="GB",
            blocked=settings.blocked_countries,
            now=SETTLED,
        ).id


def _deposit(db: Database, settings: Settings, account: uuid.UUID) -> datetime:
    with db.write() as tx:
        view = deposits.record_deposit(
            tx,
            deposits.DepositCommand(
                account, Method.CARD, "USD", Decimal("10.00"), uuid.uuid4().hex, SETTLED
            ),
            settings=settings,
            now=SETTLED,
        )
    assert view.hold is not None
    return view.hold.release_at


def test_a_deposit_sees_a_calendar_change_committed_before_it(db: Database) -> None:
    settings = Settings(database_url=db.url)
    account = _open(db, settings)
    assert _deposit(db, settings, account) == datetime(2026, 11, 25, 20, 0, tzinfo=UTC)
    with db.write() as tx:
        tx.execute(insert(calendar_overrides).values(day=SNOW_DAY, business_day=False, name="Snow"))
    # The 24th closed and the 26th Thanksgiving: three business days end on the 27th.
    assert _deposit(db, settings, account) == datetime(2026, 11, 27, 20, 0, tzinfo=UTC)


def test_a_deposit_waiting_for_a_calendar_change_reads_the_changed_calendar(
    db: Database,
) -> None:
    """PostgreSQL: the deposit waits for the calendar lock. SQLite: for the one
    write lock, and its transaction only starts once that is granted."""
    settings = Settings(database_url=db.url)
    account = _open(db, settings)
    released: list[datetime] = []
    with db.write() as change:
        holds_repo.overrides(change, exclusive=True)
        change.execute(
            insert(calendar_overrides).values(day=SNOW_DAY, business_day=False, name="Snow")
        )
        waiter = threading.Thread(target=lambda: released.append(_deposit(db, settings, account)))
        waiter.start()
        _wait_for_a_blocked_writer(db, 0.3)
    waiter.join(timeout=30)
    assert released == [datetime(2026, 11, 27, 20, 0, tzinfo=UTC)]
