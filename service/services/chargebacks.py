"""Chargebacks: a card or PayPal deposit reversed by the payment network.

The network has already taken the money back from the platform, so a
chargeback is accepted whatever the account's status (even ``read_only``,
``restricted`` or ``archived``) and whether the hold is still running,
released, or its funds were traded or withdrawn. One journal entry, in the
deposit's asset; how the amount is split between the hold's lot, ``Available``
and the receivable, and which statuses the hold's lots take, are the rules of
:mod:`service.domain.chargebacks`.

Then, in the same transaction: the deposit and the hold become ``reversed``,
the lots take their new statuses, an ``active`` or ``read_only`` account
becomes ``restricted``; the chargeback and the status change are audited.

Lock order: the account row, the deposit's hold row, then the three balance
rows the entry touches (the customer's ``Available`` and ``Held`` and the
method's clearing account, in the deposit's asset) in one call.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection

from service.db import chargebacks as repo
from service.db import ledger, repositories
from service.db.ledger import BalanceKey
from service.domain.accounts import AccountStatus
from service.domain.chargebacks import (
    HeldLot,
    chargeback_entry,
    reversed_lots,
    split_chargeback,
)
from service.domain.chart import Bucket
from service.domain.errors import Conflict, NotFound
from service.domain.holds import CLEARING_ACCOUNT, HoldStatus, Method
from service.domain.ids import new_id
from service.domain.money import Amount
from service.domain.posting import EntryType
from service.services import events, reference
from service.services.account_status import locked_account, set_status
from service.services.views import TransactionView


@dataclass(frozen=True, slots=True)
class ChargebackView:
    id: uuid.UUID
    deposit_id: uuid.UUID
    account_id: uuid.UUID
    status: str
    asset: str
    amount: Amount
    recovered: Amount
    receivable: Amount
    hold_id: uuid.UUID | None
    hold_status: str | None
    reason: str
    created_at: datetime


def account_of_deposit(conn: Connection, deposit_id: uuid.UUID) -> uuid.UUID:
    deposit = repo.find_deposit(conn, deposit_id)
    if deposit is None:
        raise NotFound(f"no deposit {deposit_id}", code="deposit_not_found")
    return deposit.account_id


def charge_back(
    tx: Connection, deposit_id: uuid.UUID, *, reason: str, actor: str, now: datetime
) -> ChargebackView:
    account = locked_account(tx, account_of_deposit(tx, deposit_id))
    deposit = repo.find_deposit(tx, deposit_id)  # re-read under the account's lock
    assert deposit is not None
    if deposit.status == "reversed":
        raise Conflict(f"deposit {deposit_id} was already charged back", code="already_reversed")
    asset = reference.asset(tx, deposit.asset)
    method = Method(deposit.method)
    hold = repo.lock_hold_of_deposit(tx, deposit.id)
    lot = 0
    if hold is not None:
        lot = next((x.amount for x in hold.lots if x.asset == asset.code), 0)

    available_key = BalanceKey.customer(account.id, Bucket.AVAILABLE, asset.code)
    locked = ledger.lock_balances(
        tx,
        [
            available_key,
            BalanceKey.customer(account.id, Bucket.HELD, asset.code),
            BalanceKey(CLEARING_ACCOUNT[method].value, asset.code),
        ],
    )
    split = split_chargeback(deposit.amount, lot=lot, available=-locked[available_key])
    entry_id, chargeback_id = new_id(), new_id()

    def amt(minor: int) -> Amount:
        return Amount.from_minor(minor, asset)

    ledger.post(
        tx,
        chargeback_entry(
            account_id=account.id,
            method=method,
            amount=amt(deposit.amount),
            hold_id=None if hold is None else hold.id,
            split=split,
            reference=f"chargeback:{deposit.id}",
            posted_at=now,
            entry_id=entry_id,
        ),
    )
    if not repo.mark_reversed(tx, deposit.id):
        raise Conflict(f"deposit {deposit_id} was already charged back", code="already_reversed")
    hold_status = None if hold is None else _reverse_hold(tx, hold, asset.code, split.from_lot, now)
    repo.insert_chargeback(
        tx,
        repo.ChargebackRow(
            id=chargeback_id,
            account_id=account.id,
            deposit_id=deposit.id,
            asset=asset.code,
            amount=deposit.amount,
            recovered=split.recovered,
            receivable=split.receivable,
            reason=reason,
            entry_id=entry_id,
            created_at=now,
        ),
    )
    repositories.audit(
        tx,
        at=now,
        actor=actor,
        action="chargeback",
        reason=reason,
        account_id=account.id,
        details={
            "chargeback_id": str(chargeback_id),
            "deposit_id": str(deposit.id),
            "method": method.value,
            "asset": asset.code,
            "amount": str(amt(deposit.amount)),
            "recovered": str(amt(split.recovered)),
            "receivable": str(amt(split.receivable)),
            "hold_id": None if hold is None else str(hold.id),
            "hold_status": hold_status,
        },
    )
    events.deposit_reversed(
        tx,
        deposit_id=deposit.id,
        account_id=account.id,
        recovered=str(amt(split.recovered)),
        receivable=str(amt(split.receivable)),
        reason=reason,
        now=now,
    )
    if account.status in (AccountStatus.ACTIVE, AccountStatus.READ_ONLY):
        set_status(
            tx,
            account,
            AccountStatus.RESTRICTED,
            actor=actor,
            now=now,
            reason=f"chargeback of deposit {deposit.id}: {reason}"[:1000],
            details={"deposit_id": str(deposit.id)},
        )
    return ChargebackView(
        id=chargeback_id,
        deposit_id=deposit.id,
        account_id=account.id,
        status="reversed",
        asset=asset.code,
        amount=amt(deposit.amount),
        recovered=amt(split.recovered),
        receivable=amt(split.receivable),
        hold_id=None if hold is None else hold.id,
        hold_status=hold_status,
        reason=reason,
        created_at=now,
    )


def _reverse_hold(
    tx: Connection, hold: repo.LockedHold, asset: str, taken: int, now: datetime
) -> str:
    """Write the statuses :func:`reversed_lots` gives; returns the hold's."""
    lots = (HeldLot(lot.asset, lot.amount, HoldStatus(lot.status)) for lot in hold.lots)
    changed = reversed_lots(
        lots, deposit_asset=asset, taken=taken, released_at=hold.released_at, at=now
    )
    for lot_asset, status in changed.items():
        repo.set_lot_status(tx, hold.id, lot_asset, status.value)
    repo.set_hold_status(tx, hold.id, HoldStatus.REVERSED.value)
    return HoldStatus.REVERSED.value


def history(conn: Connection, entry_ids: list[uuid.UUID]) -> dict[uuid.UUID, TransactionView]:
    """History lines for the chargeback entries among ``entry_ids``."""
    result = {}
    for row in repo.find_by_entries(conn, entry_ids):
        asset = reference.asset(conn, row.asset)
        result[row.entry_id] = TransactionView(
            id=row.id,
            type=EntryType.CHARGEBACK.value,
            status="completed",
            created_at=row.created_at,
            asset=row.asset,
            amount=Amount.from_minor(row.amount, asset),
            details={
                "deposit_id": str(row.deposit_id),
                "recovered": Amount.from_minor(row.recovered, asset),
                "receivable": Amount.from_minor(row.receivable, asset),
                "reason": row.reason,
            },
        )
    return result
