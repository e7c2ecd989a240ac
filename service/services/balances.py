"""What a customer sees: balances split for trading and withdrawing, and history.

Per asset, from the three buckets (shown positive: the ledger stores
customer money as credit-negative liabilities):

* ``total = available + held + withdrawing``;
* ``available_to_trade = available + held`` (never shown below zero);
* ``available_to_withdraw = available`` (never below zero) — held value is
  never withdrawable;
* ``temporary_holds = held``; ``pending_withdrawals = withdrawing``;
* ``next_release_at`` = the earliest release of the asset's active lots.

Reads are O(1) in the account's history: they touch the balance rows and the
active lots, never the postings.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from service.db import balances as balances_repo
from service.db import history as repo
from service.db import holds as holds_repo
from service.db.database import Database
from service.domain.chart import Bucket
from service.domain.money import Amount
from service.domain.posting import EntryType
from service.services import chargebacks, pagination, reference, withdrawals
from service.services.accounts import get_account
from service.services.holds import get_holds, has_due, release_account
from service.services.views import BalancesView, BalanceView, Page, TransactionView


def _read_balances(conn: Connection, account_id: uuid.UUID, now: datetime) -> BalancesView:
    buckets: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(Bucket, 0))
    for bucket, code, balance in balances_repo.customer_buckets(conn, account_id):
        buckets[code][bucket] = -balance
    next_release = holds_repo.next_release_by_asset(conn, account_id)
    rows = []
    for code in sorted(buckets):
        asset = reference.asset(conn, code)
        b = buckets[code]
        available, held, withdrawing = b[Bucket.AVAILABLE], b[Bucket.HELD], b[Bucket.WITHDRAWING]

        def amt(minor: int, asset: Any = asset) -> Amount:
            return Amount.from_minor(minor, asset)

        rows.append(
            BalanceView(
                asset=code,
                total=amt(available + held + withdrawing),
                available_to_trade=amt(max(available + held, 0)),
                available_to_withdraw=amt(max(available, 0)),
                temporary_holds=amt(held),
                pending_withdrawals=amt(withdrawing),
                next_release_at=next_release.get(code),
            )
        )
    return BalancesView(account_id=account_id, as_of=now, balances=tuple(rows))


def account_balances(db: Database, account_id: uuid.UUID, now: datetime) -> BalancesView:
    """Balances, after releasing the account's due holds (the lazy release).

    Takes the database, not a transaction: it reads first and opens a write
    transaction only when a hold is due, so a balance read stays off the write
    path (see :mod:`service.services`)."""
    with db.read() as conn:
        get_account(conn, account_id)
        if not has_due(conn, account_id, now):
            return _read_balances(conn, account_id, now)
    with db.write() as tx:
        release_account(tx, account_id, now)
        return _read_balances(tx, account_id, now)


def release_then(db: Database, account_id: uuid.UUID, now: datetime) -> None:
    """Release the account's due holds, if any (before reading its holds); a
    write transaction only when one is due, as :func:`account_balances`."""
    with db.read() as conn:
        get_account(conn, account_id)
        due = has_due(conn, account_id, now)
    if due:
        with db.write() as tx:
            release_account(tx, account_id, now)


_HISTORY_TYPES = [
    EntryType.DEPOSIT.value,
    EntryType.TRADE.value,
    EntryType.HOLD_RELEASE.value,
    EntryType.CHARGEBACK.value,
    EntryType.WITHDRAWAL.value,
]


def account_transactions(
    conn: Connection, account_id: uuid.UUID, *, limit: int, cursor: str | None
) -> Page[TransactionView]:
    """Newest first: deposits (with their hold), trades, releases, chargebacks, withdrawals."""
    get_account(conn, account_id)
    entries = repo.entries_page(
        conn,
        account_id,
        types=_HISTORY_TYPES,
        limit=limit + 1,
        after=None if cursor is None else pagination.decode(cursor),
    )
    more = len(entries) > limit
    entries = entries[:limit]
    ids = [e.id for e in entries]
    by_entry: dict[uuid.UUID, TransactionView] = {}
    if ids:
        by_entry.update(_deposits(conn, ids))
        by_entry.update(_trades(conn, ids))
        by_entry.update(withdrawals.history(conn, ids))
        by_entry.update(chargebacks.history(conn, ids))
        by_entry.update(_movements(conn, account_id, [e for e in entries if e.id not in by_entry]))
    items = tuple(by_entry[e.id] for e in entries if e.id in by_entry)
    next_cursor = pagination.encode(entries[-1].posted_at, entries[-1].id) if more else None
    return Page(items, next_cursor)


def _deposits(conn: Connection, entry_ids: list[uuid.UUID]) -> dict[uuid.UUID, TransactionView]:
    rows = repo.deposits_of_entries(conn, entry_ids)
    if not rows:
        return {}
    hold_by_deposit = repo.holds_of_deposits(conn, [r.id for r in rows])
    hold_views = get_holds(conn, list(hold_by_deposit.values()))
    result = {}
    for r in rows:
        hold_id = hold_by_deposit.get(r.id)
        hold = None if hold_id is None else hold_views.get(hold_id)
        result[r.entry_id] = TransactionView(
            id=r.id,
            type=EntryType.DEPOSIT.value,
            status=r.status,
            created_at=r.created_at,
            asset=r.asset,
            amount=Amount.from_minor(r.amount, reference.asset(conn, r.asset)),
            details={
                "method": r.method,
                "external_ref": r.external_ref,
                "settled_at": r.settled_at,
                "hold": None
                if hold is None
                else {"id": hold.id, "release_at": hold.release_at, "status": hold.status},
            },
        )
    return result


def _trades(conn: Connection, entry_ids: list[uuid.UUID]) -> dict[uuid.UUID, TransactionView]:
    result = {}
    for r in repo.trades_of_entries(conn, entry_ids):
        sell, buy = reference.asset(conn, r.sell_asset), reference.asset(conn, r.buy_asset)
        result[r.entry_id] = TransactionView(
            id=r.id,
            type=EntryType.TRADE.value,
            status="settled",
            created_at=r.created_at,
            asset=r.sell_asset,
            amount=Amount.from_minor(r.sell_amount, sell),
            details={
                "buy_asset": r.buy_asset,
                "buy_amount": Amount.from_minor(r.buy_amount, buy),
                "fee_amount": Amount.from_minor(r.fee_amount, buy),
                "held_part": {
                    "sold": Amount.from_minor(r.held_sold, sell),
                    "bought": Amount.from_minor(r.held_bought, buy),
                },
                "external_ref": r.external_ref,
            },
        )
    return result


def _movements(
    conn: Connection, account_id: uuid.UUID, entries: list[Any]
) -> dict[uuid.UUID, TransactionView]:
    """Releases, chargebacks, withdrawals: shown by what reached the customer's
    Available bucket (per asset) in the entry.

    A release entry moves every hold of the account released in one batch;
    its id is the smallest of their ids, so ``hold_id`` names that hold and
    ``holds`` lists them all."""
    if not entries:
        return {}
    moved = repo.moved_to_available(conn, [e.id for e in entries])
    releases = [e.id for e in entries if e.type == EntryType.HOLD_RELEASE.value]
    released = get_holds(conn, releases)
    released_holds = holds_repo.released_by(conn, account_id, releases)
    result = {}
    for e in entries:
        legs = moved.get(e.id) or []
        hold = released.get(e.id)
        details: dict[str, object] = {}
        if hold is not None:
            # Headline: the deposit's own asset when a lot of it was released,
            # the first lot otherwise; `lots` lists every asset the release freed.
            legs.sort(key=lambda leg: leg[0] != hold.asset)
            details = {
                "hold_id": hold.id,
                "deposit_id": hold.deposit_id,
                "holds": [{"hold_id": h, "deposit_id": d} for h, d in released_holds.get(e.id, [])],
                "lots": [
                    {"asset": a, "amount": Amount.from_minor(m, reference.asset(conn, a))}
                    for a, m in legs
                ],
            }
        asset_code, minor = legs[0] if legs else ("", 0)
        first = Amount.from_minor(minor, reference.asset(conn, asset_code)) if legs else None
        result[e.id] = TransactionView(
            id=e.id,
            type=e.type,
            status="completed",
            created_at=e.posted_at,
            asset=asset_code,
            amount=first,
            details=details,
        )
    return result
