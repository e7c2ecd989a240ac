"""Releasing holds (the scheduled job and the lazy release) and reading them.

Release rule: a hold is due when its ``release_at`` is at or before the
release time asked for (the job's ``--as-of``, default now). Releasing moves
every lot of the hold from ``Held`` to ``Available`` in one journal entry and
marks the hold ``released`` — exactly once, however many runners race (each
batch claims holds with ``FOR UPDATE SKIP LOCKED``, and the release entry's id
is the hold's id, so a second release could not even be written).

The job works in batches, one transaction each: a crash loses at most the
batch in flight, which the next run picks up. Reading an account's balances or
holds, or requesting a withdrawal, first releases that account's due holds,
so a late job never keeps due money from a customer.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from service import metrics
from service.db import holds as repo
from service.db.database import Database
from service.domain.holds import HoldStatus, check_release_as_of
from service.domain.money import Amount, format_minor
from service.domain.timestamps import format_utc
from service.services import pagination, reference
from service.services.views import HoldView, LotView, Page

#: Upper bound on what one lazy release may take on in a request.
LAZY_LIMIT = 10_000


@dataclass
class ReleaseSummary:
    as_of: datetime
    released: int = 0
    totals: dict[str, str] = field(default_factory=dict)
    batches: int = 0
    duration_seconds: float = 0.0
    dry_run: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "released": self.released,
            "as_of": format_utc(self.as_of),
            "totals": self.totals,
            "batches": self.batches,
            "duration_seconds": round(self.duration_seconds, 3),
            "dry_run": self.dry_run,
        }


def release_due_holds(
    db: Database,
    *,
    as_of: datetime,
    now: datetime,
    batch_size: int = 1000,
    dry_run: bool = False,
    allow_future: bool = False,
    on_batch: Callable[[int], None] | None = None,
) -> ReleaseSummary:
    """Release every hold due at ``as_of``, batch by batch; safe to run concurrently.

    Takes the database: each batch is its own transaction (see the module
    docstring), so it cannot run inside a caller's. ``as_of`` later than now is
    refused unless ``dry_run`` or ``allow_future``
    (:func:`~service.domain.holds.check_release_as_of`)."""
    check_release_as_of(as_of, now, forecast=dry_run, allow_future=allow_future)
    started = time.perf_counter()
    summary = ReleaseSummary(as_of=as_of, dry_run=dry_run)
    minor_totals: dict[str, int] = {}
    if dry_run:
        with db.read() as conn:
            result = repo.count_due(conn, as_of)
        summary.released = result.released
        minor_totals = dict(result.totals)
    else:
        while True:
            with db.write() as tx:
                result = repo.release_batch(tx, as_of=as_of, now=now, limit=batch_size)
            if result.released == 0:
                break
            summary.batches += 1
            summary.released += result.released
            for asset, total in result.totals.items():
                minor_totals[asset] = minor_totals.get(asset, 0) + total
            if on_batch is not None:
                on_batch(result.released)
    if minor_totals:
        with db.read() as conn:
            summary.totals = {
                code: format_minor(total, reference.scale_of(conn, code))
                for code, total in sorted(minor_totals.items())
            }
    summary.duration_seconds = time.perf_counter() - started
    if not dry_run:
        metrics.HOLDS_RELEASED.labels("job").inc(summary.released)
        metrics.RELEASE_DURATION.observe(summary.duration_seconds)
    return summary


def count_due(conn: Connection, as_of: datetime) -> int:
    """How many holds are due at ``as_of`` (the release job's progress total)."""
    return repo.count_due(conn, as_of).released


def release_account(tx: Connection, account_id: uuid.UUID, now: datetime) -> int:
    """The lazy release: free this account's due holds inside the caller's transaction."""
    released = repo.release_batch(
        tx, as_of=now, now=now, limit=LAZY_LIMIT, account_id=account_id
    ).released
    metrics.HOLDS_RELEASED.labels("lazy").inc(released)
    return released


def hold_gauges(conn: Connection, now: datetime) -> tuple[int, int, float]:
    """(active holds, overdue active holds, seconds the oldest overdue one has waited)."""
    active, overdue, oldest = repo.gauges(conn, now)
    waited = (now - oldest).total_seconds() if oldest is not None else 0.0
    return active, overdue, waited


def has_due(conn: Connection, account_id: uuid.UUID, now: datetime) -> bool:
    return repo.has_due(conn, account_id, now)


def _views(conn: Connection, rows: list[Any]) -> list[HoldView]:
    if not rows:
        return []
    lots: dict[uuid.UUID, list[LotView]] = {}
    for hold_id, asset, amount, status in repo.lots_of(conn, [r.id for r in rows]):
        lots.setdefault(hold_id, []).append(
            LotView(asset, Amount.from_minor(amount, reference.asset(conn, asset)), status)
        )
    return [
        HoldView(
            id=r.id,
            deposit_id=r.deposit_id,
            method=r.method,
            asset=r.asset,
            amount=Amount.from_minor(r.amount, reference.asset(conn, r.asset)),
            status=r.status,
            placed_at=r.placed_at,
            release_at=r.release_at,
            released_at=r.released_at,
            lots=tuple(lots.get(r.id, ())),
        )
        for r in rows
    ]


def get_holds(conn: Connection, hold_ids: list[uuid.UUID]) -> dict[uuid.UUID, HoldView]:
    return {view.id: view for view in _views(conn, repo.find_holds(conn, hold_ids))}


def list_holds(
    conn: Connection,
    account_id: uuid.UUID,
    *,
    status: HoldStatus | None,
    limit: int,
    cursor: str | None,
) -> Page[HoldView]:
    """An account's holds, newest first."""
    rows = repo.holds_page(
        conn,
        account_id,
        status=None if status is None else status.value,
        limit=limit + 1,
        after=None if cursor is None else pagination.decode(cursor),
    )
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = pagination.encode(rows[-1].placed_at, rows[-1].id) if more else None
    return Page(tuple(_views(conn, rows)), next_cursor)
