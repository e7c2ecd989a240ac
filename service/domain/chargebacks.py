"""Chargebacks: how a reversed deposit is paid back, and what becomes of its hold.

The payment network has already taken the deposit amount back from the
platform's clearing account. The customer pays it back in the deposit's asset,
in this order (DESIGN.md section 3):

1. the hold's lot in that asset (what is still held of the deposit);
2. the positive part of ``Available``;
3. what is still missing is the *receivable*: it is debited to ``Available``
   too, which goes negative — the customer's debt to the platform, paid down
   by the next deposits and never withdrawable. No posting goes to
   ``Assets:Receivables:Chargebacks``: the debt is the customer's own
   negative balance, so the books need no second account to carry it.

``recovered`` (1 + 2) + ``receivable`` (3) = the deposit amount, always.

The hold becomes ``reversed``. Its lots take the statuses that
:func:`service.domain.holds.lot_status` gives a lot reversed now: the lot in
the deposit's asset ``reversed`` when emptied (``frozen`` if value is left),
a running lot in another asset (bought with the held funds) ``frozen`` while
it holds value — it stays in ``Held``, never auto-released, and leaves only
through a final withdrawal. Lots already over (released, emptied by a final
withdrawal) keep their status.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from service.domain.chart import Bucket, customer_account_name
from service.domain.holds import CLEARING_ACCOUNT, HoldStatus, Method, lot_status
from service.domain.money import Amount
from service.domain.posting import Entry, EntryType, Posting, merge_postings


@dataclass(frozen=True, slots=True)
class ChargebackSplit:
    """Where the deposit amount of a chargeback is taken from (minor units, >= 0)."""

    from_lot: int
    from_available: int
    receivable: int

    @property
    def recovered(self) -> int:
        return self.from_lot + self.from_available


def split_chargeback(amount: int, *, lot: int, available: int) -> ChargebackSplit:
    """Take ``amount`` first from the hold's lot in the deposit's asset, then from
    what is positive in ``Available``; the rest is the receivable.

    ``lot`` and ``available`` are what the customer has (positive = owned).
    """
    if amount <= 0:
        raise ValueError("a chargeback amount is positive")
    from_lot = min(max(lot, 0), amount)
    from_available = min(max(available, 0), amount - from_lot)
    return ChargebackSplit(from_lot, from_available, amount - from_lot - from_available)


def chargeback_entry(
    *,
    account_id: uuid.UUID,
    method: Method,
    amount: Amount,
    hold_id: uuid.UUID | None,
    split: ChargebackSplit,
    reference: str,
    posted_at: datetime,
    entry_id: uuid.UUID,
) -> Entry:
    """The one journal entry of a chargeback, in the deposit's asset: credit the
    method's clearing account for ``amount``; debit the hold's lot (a ``Held``
    posting tagged with the hold) for ``split.from_lot`` and ``Available`` for
    the rest, receivable included."""
    if split.recovered + split.receivable != amount.minor:
        raise ValueError("a chargeback split must add up to the deposit amount")
    if split.from_lot > 0 and hold_id is None:
        raise ValueError("a chargeback takes from a lot only under its hold")
    asset = amount.asset
    from_available = split.from_available + split.receivable
    postings = [
        Posting(CLEARING_ACCOUNT[method].value, -amount),
        Posting(
            customer_account_name(account_id, Bucket.HELD),
            Amount.from_minor(split.from_lot, asset),
            hold_id,
        ),
        Posting(
            customer_account_name(account_id, Bucket.AVAILABLE),
            Amount.from_minor(from_available, asset),
        ),
    ]
    return Entry(
        type=EntryType.CHARGEBACK,
        posted_at=posted_at,
        reference=reference,
        memo=f"{method.value} chargeback",
        account_id=account_id,
        id=entry_id,
        postings=merge_postings(postings),
    )


@dataclass(frozen=True, slots=True)
class HeldLot:
    """A lot of the charged-back hold as it stands before the chargeback."""

    asset: str
    amount: int
    status: HoldStatus


def reversed_lots(
    lots: Iterable[HeldLot],
    *,
    deposit_asset: str,
    taken: int,
    released_at: datetime | None,
    at: datetime,
) -> dict[str, HoldStatus]:
    """The new status of each lot the chargeback changes, by asset (see the
    module docstring); ``taken`` is ``split.from_lot``, ``released_at`` the
    hold's release time if it was released, ``at`` the chargeback's time."""
    changed = {}
    for lot in lots:
        is_deposit_asset = lot.asset == deposit_asset
        if not is_deposit_asset and lot.status is not HoldStatus.ACTIVE:
            continue
        changed[lot.asset] = lot_status(
            amount=lot.amount - taken if is_deposit_asset else lot.amount,
            is_deposit_asset=is_deposit_asset,
            released_at=released_at,
            reversed_at=at,
            withdrawn_at=None,
        )
    return changed
