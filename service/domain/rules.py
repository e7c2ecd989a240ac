"""Posting rules: which journal entry each business event makes.

Signs: debit positive, credit negative. A customer's money is a liability of
the platform, so crediting a customer bucket (a negative posting) *raises*
what the customer owns; the balances shown to customers are the negation.

* deposit: debit the method's clearing account, credit the customer's
  ``Held`` (tagged with the hold) or ``Available``;
* trade: debit the customer in the sold asset (lots first, then Available),
  credit ``Equity:Trading`` in it; debit ``Equity:Trading`` in the bought
  asset, credit the customer (held part to ``Held`` under the paying holds,
  the rest to ``Available``) and ``Income:Fees`` for the fee. Each asset
  balances against ``Equity:Trading``, so no price is ever needed;
* withdrawal request: debit ``Available``, credit ``Withdrawing``; a final
  withdrawal also debits ``Held`` lot by lot (tagged with each hold);
* withdrawal payout (complete): debit ``Withdrawing``, credit ``Assets:Payouts``;
* withdrawal return (reject, fail): debit ``Withdrawing``, credit ``Available``;
* chargeback: its entry and the split of the amount between the hold's lot,
  ``Available`` and the receivable (a negative ``Available``) are the rules of
  :mod:`service.domain.chargebacks`.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

from service.domain.chart import Bucket, Platform, customer_account_name
from service.domain.holds import CLEARING_ACCOUNT, Method
from service.domain.money import Amount, Asset
from service.domain.posting import Entry, EntryType, Posting, merge_postings


def deposit_entry(
    *,
    account_id: uuid.UUID,
    method: Method,
    amount: Amount,
    hold_id: uuid.UUID | None,
    reference: str,
    posted_at: datetime,
    entry_id: uuid.UUID,
) -> Entry:
    return Entry(
        type=EntryType.DEPOSIT,
        posted_at=posted_at,
        reference=reference,
        memo=deposit_memo(method),
        account_id=account_id,
        id=entry_id,
        postings=(
            Posting(deposit_debit_account(method), amount),
            Posting(deposit_credit_account(account_id, hold_id is not None), -amount, hold_id),
        ),
    )


def deposit_debit_account(method: Method) -> str:
    """The account a deposit's entry debits (line 1): the method's clearing account."""
    return CLEARING_ACCOUNT[method].value


def deposit_credit_account(account_id: uuid.UUID, held: bool) -> str:
    """The account a deposit's entry credits (line 2, tagged with the hold if
    held): the customer's ``Held``, or ``Available`` for an unheld method."""
    return customer_account_name(account_id, Bucket.HELD if held else Bucket.AVAILABLE)


def deposit_memo(method: Method) -> str:
    return f"{method.value} deposit"


def trade_entry(
    *,
    account_id: uuid.UUID,
    sold: Amount,
    sold_from_lots: tuple[tuple[uuid.UUID, Decimal], ...],
    sold_from_available: Decimal,
    bought: Amount,
    fee: Amount,
    bought_into_lots: tuple[tuple[uuid.UUID, Decimal], ...],
    bought_into_available: Decimal,
    reference: str,
    posted_at: datetime,
    entry_id: uuid.UUID,
) -> Entry:
    held = customer_account_name(account_id, Bucket.HELD)
    available = customer_account_name(account_id, Bucket.AVAILABLE)
    sell_asset, buy_asset = sold.asset, bought.asset

    def amt(value: Decimal, asset: Asset) -> Amount:
        return Amount(value, asset)

    postings = [Posting(held, amt(v, sell_asset), h) for h, v in sold_from_lots]
    postings.append(Posting(available, amt(sold_from_available, sell_asset)))
    postings.append(Posting(Platform.TRADING.value, -sold))
    postings.append(Posting(Platform.TRADING.value, bought))
    postings.extend(Posting(held, amt(-v, buy_asset), h) for h, v in bought_into_lots)
    postings.append(Posting(available, amt(-bought_into_available, buy_asset)))
    postings.append(Posting(Platform.FEES.value, -fee))
    return Entry(
        type=EntryType.TRADE,
        posted_at=posted_at,
        reference=reference,
        memo=f"sell {sold} {sell_asset.code} buy {bought} {buy_asset.code}",
        account_id=account_id,
        id=entry_id,
        postings=merge_postings(postings),
    )


def withdrawal_entry(
    *,
    account_id: uuid.UUID,
    amount: Amount,
    from_lots: tuple[tuple[uuid.UUID, Decimal], ...] = (),
    reference: str,
    posted_at: datetime,
    entry_id: uuid.UUID,
    memo: str = "withdrawal requested",
) -> Entry:
    """Reserve ``amount`` for a payout: from ``Held`` lots (final withdrawals only)
    and the rest from ``Available``, into ``Withdrawing``."""
    asset = amount.asset
    held = customer_account_name(account_id, Bucket.HELD)
    from_held = sum((value for _, value in from_lots), Decimal(0))
    postings = [Posting(held, Amount(value, asset), hold_id) for hold_id, value in from_lots]
    from_available = amount - Amount(from_held, asset)
    postings.append(Posting(customer_account_name(account_id, Bucket.AVAILABLE), from_available))
    postings.append(Posting(customer_account_name(account_id, Bucket.WITHDRAWING), -amount))
    return Entry(
        type=EntryType.WITHDRAWAL,
        posted_at=posted_at,
        reference=reference,
        memo=memo,
        account_id=account_id,
        id=entry_id,
        postings=merge_postings(postings),
    )


def withdrawal_payout_entry(
    *,
    account_id: uuid.UUID,
    amount: Amount,
    reference: str,
    posted_at: datetime,
    entry_id: uuid.UUID,
) -> Entry:
    """The payout left the platform: ``Withdrawing`` -> ``Assets:Payouts``."""
    return Entry(
        type=EntryType.WITHDRAWAL_PAYOUT,
        posted_at=posted_at,
        reference=reference,
        memo="withdrawal paid out",
        account_id=account_id,
        id=entry_id,
        postings=(
            Posting(customer_account_name(account_id, Bucket.WITHDRAWING), amount),
            Posting(Platform.PAYOUTS.value, -amount),
        ),
    )


def withdrawal_return_entry(
    *,
    account_id: uuid.UUID,
    amount: Amount,
    reference: str,
    posted_at: datetime,
    entry_id: uuid.UUID,
    memo: str,
) -> Entry:
    """A rejected or failed withdrawal: ``Withdrawing`` -> ``Available``."""
    return Entry(
        type=EntryType.WITHDRAWAL_RETURN,
        posted_at=posted_at,
        reference=reference,
        memo=memo,
        account_id=account_id,
        id=entry_id,
        postings=(
            Posting(customer_account_name(account_id, Bucket.WITHDRAWING), amount),
            Posting(customer_account_name(account_id, Bucket.AVAILABLE), -amount),
        ),
    )
