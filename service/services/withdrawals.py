"""Withdrawals: request, review, payout or return, and the final withdrawal.

Each use case is one transaction and at most one journal entry (rules in
:mod:`service.domain.withdrawals` and :mod:`service.domain.rules`).

Request (trading role, an ``active`` account only):

1. lock the account row, then release the account's due holds (hold rows,
   then their balances), then lock the ``Available`` and ``Withdrawing``
   balance rows in one call — the order of :mod:`service.db.withdrawals`;
2. never more than ``available_to_withdraw`` (the positive part of
   ``Available``; held value is never withdrawable): 409
   ``insufficient_withdrawable_funds`` with the asset's withdrawable amount,
   Temporary Holds and next release;
3. the tier's rolling 24-hour limit in USD-equivalent at current reference
   rates (409 ``rate_unavailable`` without a rate, 409 ``daily_limit_exceeded``
   over it);
4. ``pending``, or ``review`` above the review threshold.

Because the balance row is locked before it is read (and the account row
before that), concurrent requests are served one at a time and can never
overdraw.

Final withdrawal (compliance, a ``restricted`` account only): the whole
balance of one asset — the positive part of ``Available`` plus every lot of
the account's active or frozen holds in it (each ``Held`` posting tagged with
its hold) — always into ``review``. The lots it empties become ``released``;
a hold left with nothing becomes ``released`` (if it was active) or
``reversed`` (if frozen by a chargeback). It is exempt from the daily limit:
support reviewed it. When it completes and no bucket of the account holds
anything any more, the account is ``archived``.

Transitions of a withdrawal (approve, reject, complete, fail) also lock its
account row first. ``approve`` sends money on its way, so a standard
withdrawal's account must still be ``active`` for it; ``complete`` and
``fail`` record what the payout integration did and ``reject`` gives money
back, so they are accepted whatever the account's status is.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import Connection

from service.config import Settings
from service.db import ledger, repositories
from service.db import withdrawals as repo
from service.db.ledger import BalanceKey
from service.domain.accounts import AccountRecord, AccountStatus, Tier, require_active
from service.domain.chart import Bucket, Platform
from service.domain.errors import Conflict, Forbidden, NotFound
from service.domain.ids import new_id
from service.domain.money import Amount, Asset
from service.domain.posting import EntryType
from service.domain.rules import withdrawal_entry, withdrawal_payout_entry, withdrawal_return_entry
from service.domain.timestamps import format_utc
from service.domain.withdrawals import (
    RETURNS_FUNDS,
    Transition,
    Valued,
    WithdrawalKind,
    WithdrawalStatus,
    check_daily_limit,
    initial_status,
    next_status,
    usd_value,
)
from service.services import events, pagination, reference
from service.services.account_status import locked_account, set_status
from service.services.holds import release_account
from service.services.rates import usd_rates
from service.services.views import Page, TransactionView

#: The daily limit's rolling window.
WINDOW = timedelta(hours=24)

_AUDIT_ACTION = {
    Transition.APPROVE: "withdrawal_approved",
    Transition.REJECT: "withdrawal_rejected",
    Transition.COMPLETE: "withdrawal_completed",
    Transition.FAIL: "withdrawal_failed",
}


_EVENT = {
    Transition.APPROVE: "approved",
    Transition.REJECT: "rejected",
    Transition.COMPLETE: "completed",
    Transition.FAIL: "failed",
}


@dataclass(frozen=True, slots=True)
class WithdrawalView:
    id: uuid.UUID
    account_id: uuid.UUID
    kind: str
    asset: str
    amount: Amount
    destination: str
    status: str
    txid: str | None
    reason: str | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class WithdrawalCommand:
    account_id: uuid.UUID
    asset: str
    amount: Decimal
    destination: str


def _view(conn: Connection, row: repo.WithdrawalRow) -> WithdrawalView:
    return WithdrawalView(
        id=row.id,
        account_id=row.account_id,
        kind=row.kind.value,
        asset=row.asset,
        amount=Amount.from_minor(row.amount, reference.asset(conn, row.asset)),
        destination=row.destination,
        status=row.status.value,
        txid=row.txid,
        reason=row.reason,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _keys(account_id: uuid.UUID, asset: str, *buckets: Bucket) -> list[BalanceKey]:
    return [BalanceKey.customer(account_id, bucket, asset) for bucket in buckets]


def daily_limit(tier: Tier, settings: Settings) -> Decimal:
    return (
        settings.verified_daily_limit_usd
        if tier is Tier.VERIFIED
        else settings.basic_daily_limit_usd
    )


# -- request ---------------------------------------------------------------------------


def request_withdrawal(
    tx: Connection, cmd: WithdrawalCommand, *, settings: Settings, now: datetime
) -> WithdrawalView:
    account = locked_account(tx, cmd.account_id)
    require_active(account.status)
    amount = reference.amount(tx, cmd.amount, cmd.asset)
    asset = amount.asset

    # Funds first: a customer whose money is still held must hear that (with
    # the hold's release time), not that the asset lacks a reference rate.
    release_account(tx, account.id, now)
    available_key, withdrawing_key = _keys(
        account.id, asset.code, Bucket.AVAILABLE, Bucket.WITHDRAWING
    )
    locked = ledger.lock_balances(tx, [available_key, withdrawing_key])
    available = -locked[available_key]
    if amount.minor > max(available, 0):
        _insufficient(tx, account.id, asset, available)

    # Then limits and review, valued at the reference rates (an asset without
    # one cannot be withdrawn: usd_value refuses it).
    used = repo.recent_totals(tx, account.id, now - WINDOW)
    prices = usd_rates(tx, {asset.code, *used})
    requested_usd = usd_value([Valued(asset.code, amount.value, prices[asset.code])])
    used_usd = usd_value(
        Valued(code, Amount.from_minor(minor, reference.asset(tx, code)).value, prices[code])
        for code, minor in sorted(used.items())
    )
    check_daily_limit(
        used=used_usd, requested=requested_usd, limit=daily_limit(account.tier, settings)
    )
    status = initial_status(
        kind=WithdrawalKind.STANDARD,
        value_usd=requested_usd,
        threshold=settings.review_threshold_usd,
    )
    return _reserve(
        tx, account.id, amount, (), cmd.destination, WithdrawalKind.STANDARD, status, now
    )


def _insufficient(tx: Connection, account_id: uuid.UUID, asset: Asset, available: int) -> None:
    (held_key,) = _keys(account_id, asset.code, Bucket.HELD)
    held = -ledger.read_balances(tx, [held_key])[held_key]
    next_at = repo.next_release(tx, account_id, asset.code)
    raise Conflict(
        f"not enough {asset.code} available to withdraw; Temporary Holds cannot be "
        "withdrawn before their release",
        code="insufficient_withdrawable_funds",
        asset=asset.code,
        available_to_withdraw=str(Amount.from_minor(max(available, 0), asset)),
        temporary_holds=str(Amount.from_minor(held, asset)),
        next_release_at=None if next_at is None else format_utc(next_at),
    )


def _reserve(
    tx: Connection,
    account_id: uuid.UUID,
    amount: Amount,
    from_lots: tuple[tuple[uuid.UUID, Decimal], ...],
    destination: str,
    kind: WithdrawalKind,
    status: WithdrawalStatus,
    now: datetime,
) -> WithdrawalView:
    withdrawal_id, entry_id = new_id(), new_id()
    entry = withdrawal_entry(
        account_id=account_id,
        amount=amount,
        from_lots=from_lots,
        reference=f"withdrawal:{withdrawal_id}",
        posted_at=now,
        entry_id=entry_id,
        memo="final withdrawal requested"
        if kind is WithdrawalKind.FINAL
        else "withdrawal requested",
    )
    ledger.post(tx, entry)
    row = repo.WithdrawalRow(
        id=withdrawal_id,
        account_id=account_id,
        kind=kind,
        asset=amount.asset.code,
        amount=amount.minor,
        destination=destination,
        status=status,
        txid=None,
        reason=None,
        entry_id=entry_id,
        settle_entry_id=None,
        created_at=now,
        updated_at=now,
    )
    repo.insert_withdrawal(tx, row)
    view = _view(tx, row)
    events.withdrawal_event(tx, "requested", view, now)
    return view


# -- final withdrawal ----------------------------------------------------------------------


def final_withdrawal(
    tx: Connection,
    account_id: uuid.UUID,
    asset_code: str,
    destination: str,
    *,
    reason: str,
    actor: str,
    now: datetime,
) -> WithdrawalView:
    account = locked_account(tx, account_id)
    if account.status is AccountStatus.ARCHIVED:
        raise Forbidden("the account is archived", code="account_archived")
    if account.status is not AccountStatus.RESTRICTED:
        raise Conflict(
            f"a final withdrawal closes a restricted account; this one is {account.status.value}",
            code="invalid_status_transition",
        )
    asset = reference.asset(tx, asset_code)
    release_account(tx, account.id, now)
    lots = repo.lock_held_lots(tx, account.id, asset.code)
    keys = _keys(account.id, asset.code, Bucket.AVAILABLE, Bucket.HELD, Bucket.WITHDRAWING)
    locked = ledger.lock_balances(tx, keys)
    held_in_lots = sum(lot.amount for lot in lots)
    if -locked[keys[1]] != held_in_lots:
        raise RuntimeError(f"Held {asset.code} of {account.id} does not match its lots")
    total = max(-locked[keys[0]], 0) + held_in_lots
    if total <= 0:
        raise Conflict(
            f"the account has no {asset.code} to withdraw",
            code="nothing_to_withdraw",
            asset=asset.code,
        )
    from_lots = tuple((lot.hold_id, Amount.from_minor(lot.amount, asset).value) for lot in lots)
    view = _reserve(
        tx,
        account.id,
        Amount.from_minor(total, asset),
        from_lots,
        destination,
        WithdrawalKind.FINAL,
        WithdrawalStatus.REVIEW,
        now,
    )
    repo.settle_emptied_lots(tx, [lot.hold_id for lot in lots], asset.code, now)
    repositories.audit(
        tx,
        at=now,
        actor=actor,
        action="final_withdrawal",
        reason=reason,
        account_id=account.id,
        details={
            "withdrawal_id": str(view.id),
            "asset": asset.code,
            "amount": str(view.amount),
            "from_holds": {
                str(lot.hold_id): str(Amount.from_minor(lot.amount, asset)) for lot in lots
            },
            "destination": destination,
        },
    )
    return view


# -- transitions ---------------------------------------------------------------------------


def account_of(conn: Connection, withdrawal_id: uuid.UUID) -> uuid.UUID:
    row = repo.find_withdrawal(conn, withdrawal_id)
    if row is None:
        raise NotFound(f"no withdrawal {withdrawal_id}", code="withdrawal_not_found")
    return row.account_id


def get_withdrawal(conn: Connection, withdrawal_id: uuid.UUID) -> WithdrawalView:
    row = repo.find_withdrawal(conn, withdrawal_id)
    if row is None:
        raise NotFound(f"no withdrawal {withdrawal_id}", code="withdrawal_not_found")
    return _view(conn, row)


def transition(
    tx: Connection,
    withdrawal_id: uuid.UUID,
    action: Transition,
    *,
    actor: str,
    now: datetime,
    txid: str | None = None,
    reason: str | None = None,
) -> WithdrawalView:
    """Approve, reject, complete or fail a withdrawal: one entry at most."""
    account = locked_account(tx, account_of(tx, withdrawal_id))
    row = repo.find_withdrawal(tx, withdrawal_id)  # re-read under the account's lock
    assert row is not None
    target = next_status(row.status, action)
    if action is Transition.APPROVE and row.kind is WithdrawalKind.STANDARD:
        require_active(account.status)
    amount = Amount.from_minor(row.amount, reference.asset(tx, row.asset))
    settle_entry_id: uuid.UUID | None = None
    if action is not Transition.APPROVE:
        settle_entry_id = _settle(tx, row, action, target, amount, now, reason)
    if not repo.move_status(
        tx,
        row.id,
        source=row.status,
        target=target,
        now=now,
        txid=txid,
        reason=reason,
        settle_entry_id=settle_entry_id,
    ):
        raise Conflict("the withdrawal changed meanwhile; retry", code="invalid_withdrawal_state")
    if action in (Transition.APPROVE, Transition.REJECT) or row.kind is WithdrawalKind.FINAL:
        repositories.audit(
            tx,
            at=now,
            actor=actor,
            account_id=account.id,
            action=_AUDIT_ACTION[action],
            reason=reason or "",
            details={
                "withdrawal_id": str(row.id),
                "kind": row.kind.value,
                "asset": row.asset,
                "amount": str(amount),
                "from": row.status.value,
                "to": target.value,
                **({"txid": txid} if txid else {}),
            },
        )
    updated = repo.find_withdrawal(tx, row.id)
    assert updated is not None
    view = _view(tx, updated)
    events.withdrawal_event(tx, _EVENT[action], view, now)
    if action is Transition.COMPLETE and row.kind is WithdrawalKind.FINAL:
        _archive_if_empty(tx, account, actor=actor, now=now, withdrawal_id=row.id)
    return view


def _settle(
    tx: Connection,
    row: repo.WithdrawalRow,
    action: Transition,
    target: WithdrawalStatus,
    amount: Amount,
    now: datetime,
    reason: str | None,
) -> uuid.UUID:
    """Return the funds to Available or pay them out: lock every balance row the
    entry touches (one call, sorted), then post."""
    (withdrawing_key,) = _keys(row.account_id, row.asset, Bucket.WITHDRAWING)
    entry_id = new_id()
    reference_text = f"withdrawal:{row.id}"
    if action in RETURNS_FUNDS:
        ledger.lock_balances(
            tx, _keys(row.account_id, row.asset, Bucket.WITHDRAWING, Bucket.AVAILABLE)
        )
        memo = f"withdrawal {target.value}" + (f": {reason}" if reason else "")
        entry = withdrawal_return_entry(
            account_id=row.account_id,
            amount=amount,
            reference=reference_text,
            posted_at=now,
            entry_id=entry_id,
            memo=memo[:500],
        )
    else:
        ledger.lock_balances(tx, [withdrawing_key, BalanceKey(Platform.PAYOUTS.value, row.asset)])
        entry = withdrawal_payout_entry(
            account_id=row.account_id,
            amount=amount,
            reference=reference_text,
            posted_at=now,
            entry_id=entry_id,
        )
    return ledger.post(tx, entry)


def _archive_if_empty(
    tx: Connection,
    account: AccountRecord,
    *,
    actor: str,
    now: datetime,
    withdrawal_id: uuid.UUID,
) -> None:
    if account.status is AccountStatus.RESTRICTED and not repo.has_any_balance(tx, account.id):
        set_status(
            tx,
            account,
            AccountStatus.ARCHIVED,
            actor=actor,
            now=now,
            reason="final withdrawal completed: no balance remains",
            details={"withdrawal_id": str(withdrawal_id)},
        )


# -- reads ---------------------------------------------------------------------------------


def list_withdrawals(
    conn: Connection,
    *,
    account_id: uuid.UUID | None,
    status: WithdrawalStatus | None,
    limit: int,
    cursor: str | None,
) -> Page[WithdrawalView]:
    """Newest first, optionally one account's or one status's (e.g. the review queue)."""
    before = pagination.decode(cursor) if cursor is not None else None
    rows = repo.list_withdrawals(
        conn, account_id=account_id, status=status, before=before, limit=limit + 1
    )
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = pagination.encode(rows[-1].created_at, rows[-1].id) if more else None
    return Page(tuple(_view(conn, row) for row in rows), next_cursor)


def history(conn: Connection, entry_ids: list[uuid.UUID]) -> dict[uuid.UUID, TransactionView]:
    """History lines for the request entries among ``entry_ids``: one line per
    withdrawal, with its current status and a positive amount."""
    result = {}
    for row in repo.find_by_entries(conn, entry_ids):
        view = _view(conn, row)
        result[row.entry_id] = TransactionView(
            id=row.id,
            type=EntryType.WITHDRAWAL.value,
            status=view.status,
            created_at=row.created_at,
            asset=row.asset,
            amount=view.amount,
            details={
                "kind": view.kind,
                "destination": view.destination,
                "txid": view.txid,
                "reason": view.reason,
                "updated_at": view.updated_at,
            },
        )
    return result
