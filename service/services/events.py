"""Events: what other services act on (API.md, Events; DESIGN.md section 8).

Every use case that makes a change listed in API.md's event table calls one of
the ``*_event`` helpers here with its own ``tx``, so the event commits or rolls
back with the change: no change without its event, no event without its
change. Payloads that API.md calls "the deposit", "the withdrawal" and so on
are the very JSON the REST API returns for that object (the same schemas).

The feed (:func:`read_feed`) reads numbered events only; numbering is
:func:`service.db.events.sequence_committed` (the ordering rule is there).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from marshmallow import Schema
from sqlalchemy import Connection

from schemas.accounts import AccountSchema
from schemas.money import TradeSchema
from schemas.withdrawals import WithdrawalSchema
from service.db import events as repo
from service.db.database import Database
from service.db.notifications import EventNotifier as EventNotifier
from service.domain.accounts import AccountRecord, AccountStatus
from service.domain.errors import Gone
from service.domain.events import CANCELS_OPEN_ORDERS
from service.domain.ids import new_ids
from service.domain.timestamps import format_utc
from service.services.views import TradeView

_schemas: dict[type[Schema], Schema] = {}


def _dump(schema: type[Schema], obj: Any) -> dict[str, Any]:
    found = _schemas.get(schema)
    if found is None:
        found = _schemas[schema] = schema()
    result: dict[str, Any] = found.dump(obj)
    return result


# -- writing (in the caller's transaction) -------------------------------------------


def account_opened(tx: Connection, account: AccountRecord, now: datetime) -> None:
    repo.append(
        tx,
        "account.opened",
        _dump(AccountSchema, account),
        account_id=account.id,
        occurred_at=now,
    )


def status_changed(
    tx: Connection,
    account_id: uuid.UUID,
    source: AccountStatus,
    target: AccountStatus,
    *,
    reason: str,
    actor: str,
    now: datetime,
) -> None:
    repo.append(
        tx,
        "account.status_changed",
        {
            "account_id": str(account_id),
            "from": source.value,
            "to": target.value,
            "reason": reason,
            "actor": actor,
            "cancel_open_orders": target in CANCELS_OPEN_ORDERS,
        },
        account_id=account_id,
        occurred_at=now,
    )


def deposit_rows(deposits: Sequence[tuple[uuid.UUID, str]], now: datetime) -> dict[str, list[Any]]:
    """``deposit.settled`` rows for the caller's multi-table insert (one per
    deposit), by column (:data:`service.db.deposits.Columns`), from (account
    id, the deposit as the API returns it, as compact JSON text:
    :func:`schemas.money.new_deposit_json`)."""
    n = len(deposits)
    ids = new_ids(n)
    account_ids = [account_id for account_id, _ in deposits]
    type_ = "deposit.settled"
    return {
        "id": ids,
        "type": [type_] * n,
        "occurred_at": [now] * n,
        "account_id": account_ids,
        "body": [
            repo.body_json(i, type_, data, account_id, now)
            for i, (account_id, data) in zip(ids, deposits, strict=True)
        ],
    }


def deposit_reversed(
    tx: Connection,
    *,
    deposit_id: uuid.UUID,
    account_id: uuid.UUID,
    recovered: str,
    receivable: str,
    reason: str,
    now: datetime,
) -> None:
    repo.append(
        tx,
        "deposit.reversed",
        {
            "deposit_id": str(deposit_id),
            "account_id": str(account_id),
            "recovered": recovered,
            "receivable": receivable,
            "reason": reason,
        },
        account_id=account_id,
        occurred_at=now,
    )


def trade_settled(tx: Connection, trade: TradeView, now: datetime) -> None:
    repo.append(
        tx, "trade.settled", _dump(TradeSchema, trade), account_id=trade.account_id, occurred_at=now
    )


def withdrawal_event(tx: Connection, type_: str, withdrawal: Any, now: datetime) -> None:
    """``withdrawal.<type_>`` with the withdrawal as the API returns it."""
    repo.append(
        tx,
        f"withdrawal.{type_}",
        _dump(WithdrawalSchema, withdrawal),
        account_id=withdrawal.account_id,
        occurred_at=now,
    )


def hold_rescheduled_rows(
    changes: Sequence[tuple[uuid.UUID, uuid.UUID, datetime, datetime]], now: datetime
) -> list[dict[str, Any]]:
    """``hold.rescheduled`` rows from (hold, account, before, after)."""
    return [
        repo.row(
            "hold.rescheduled",
            {
                "hold_id": str(hold_id),
                "account_id": str(account_id),
                "release_at_before": format_utc(before),
                "release_at": format_utc(after),
            },
            account_id=account_id,
            occurred_at=now,
        )
        for hold_id, account_id, before, after in changes
    ]


def calendar_changed(
    tx: Connection,
    *,
    day: str,
    business_day: bool | None,
    name: str | None,
    holds_rescheduled: int,
    now: datetime,
) -> None:
    repo.append(
        tx,
        "calendar.changed",
        {
            "date": day,
            "business_day": business_day,
            "name": name,
            "holds_rescheduled": holds_rescheduled,
        },
        account_id=None,
        occurred_at=now,
    )


# -- the feed ----------------------------------------------------------------------

#: The most events one feed request looks at past ``after`` when filters skip
#: them: a sparse filter answers with ``next_after`` moved on, not a long scan.
SCAN_WINDOW = 100_000


@dataclass(frozen=True, slots=True)
class FeedPage:
    """A page of the feed: its items as JSON text already (the stored ``data``
    is never parsed on the way out), how many, and the cursor to pass back."""

    items_json: str
    count: int
    next_after: int

    def to_json(self) -> str:
        return f'{{"items":[{self.items_json}],"next_after":{int(self.next_after)}}}'


#: One event as JSON text (a webhook's body).
event_json = repo.event_json


def sequence(db: Database) -> int:
    """Number the committed events not numbered yet (PostgreSQL; a no-op on
    SQLite). Cheap when there is nothing to number: one index probe, no lock."""
    if not db.is_postgres:
        return 0
    with db.read() as conn:
        if not repo.has_unsequenced(conn):
            return 0
    total = 0
    while True:
        with db.write() as tx:
            numbered = repo.sequence_committed(tx)
        total += numbered
        if numbered < repo.SEQUENCE_BATCH:
            return total


def read_page(
    db: Database,
    *,
    after: int,
    limit: int,
    types: Sequence[str] = (),
    account_id: uuid.UUID | None = None,
) -> FeedPage:
    """One page of the feed after ``after`` (no waiting). 410 ``cursor_expired``
    when events after ``after`` were purged."""
    with db.read() as conn:
        bounds = repo.cursor(conn)
        if after < bounds.purged_through:
            raise Gone(
                f"events after {after} were purged (retention); "
                f"the oldest cursor still valid is {bounds.purged_through}",
                code="cursor_expired",
                oldest_after=bounds.purged_through,
            )
        through = bounds.last
        if types or account_id is not None:
            through = min(through, after + SCAN_WINDOW)
        joined, count, last = repo.read_json(
            conn, after=after, through=through, limit=limit, types=types, account_id=account_id
        )
    if count == limit and last is not None:
        return FeedPage(joined, count, last)
    return FeedPage(joined, count, max(after, through))


def read_feed(
    db: Database,
    *,
    after: int,
    limit: int,
    types: Sequence[str] = (),
    account_id: uuid.UUID | None = None,
    wait: float = 0.0,
    waiter: Callable[[int, float], int] | None = None,
    clock: Callable[[], float],
) -> FeedPage:
    """The feed with an optional long poll: with nothing to return, wait up to
    ``wait`` seconds for a new event (``waiter(generation, timeout)`` blocks
    until a notification newer than ``generation`` or the timeout and returns
    the newest generation) and look again.

    Committed events are numbered (:func:`sequence`) only when a page is not
    full: a reader catching up reads numbered events and costs the sequencer
    nothing; a reader at the head numbers what committed and reads again."""
    deadline = clock() + wait
    generation = waiter(-1, 0.0) if waiter is not None else 0
    while True:
        page = read_page(db, after=after, limit=limit, types=types, account_id=account_id)
        if page.count < limit and sequence(db):
            page = read_page(db, after=after, limit=limit, types=types, account_id=account_id)
        left = deadline - clock()
        if page.count or left <= 0 or waiter is None:
            return page
        after = page.next_after
        generation = waiter(generation, left)


def purge(db: Database, now: datetime, retention_days: int) -> int:
    """Delete events older than the retention (the scheduler calls this)."""
    cutoff = now - timedelta(days=retention_days)
    sequence(db)  # only numbered events are purged
    total = 0
    while True:
        with db.write() as tx:
            deleted = repo.purge_before(tx, cutoff)
        total += deleted
        if deleted == 0:
            return total


def notifier(db: Database, poll_seconds: float | None) -> EventNotifier:
    """The process's long-poll waker for ``db``: one LISTEN connection on
    PostgreSQL, which also numbers committed events while requests wait
    (``poll_seconds`` None: 1 s on PostgreSQL, 0.2 s on SQLite)."""
    if poll_seconds is None:
        poll_seconds = 1.0 if db.is_postgres else 0.2
    return EventNotifier(db.url, poll_seconds=poll_seconds, sequencer=lambda: sequence(db))
