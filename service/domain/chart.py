"""The chart of ledger accounts.

Every ledger account sits under one of the five root types. A customer's money is
a *liability* of the platform, kept per customer account in three buckets:

* ``Liabilities:Customers:<account_id>:Available`` — free to trade and withdraw;
* ``...:Held`` — Temporary Holds: tradable, not withdrawable until released;
* ``...:Withdrawing`` — reserved for a payout in flight.

The asset is the commodity of a posting, never part of an account's name, so one
ledger account carries balances in any number of assets.

Ledger account ids are UUIDv5 of the name: every process derives the same id for
the same name without asking the database, so a money movement needs no lookup
round trip to find its accounts.
"""

from __future__ import annotations

import uuid
from enum import StrEnum

_NAMESPACE = uuid.UUID("6f1c1a4e-5b0e-4c1e-9a7e-3d0c2b8f4a10")


class AccountType(StrEnum):
    ASSETS = "Assets"
    LIABILITIES = "Liabilities"
    EQUITY = "Equity"
    INCOME = "Income"
    EXPENSES = "Expenses"


class Bucket(StrEnum):
    """The three sub-accounts of a customer account."""

    AVAILABLE = "Available"
    HELD = "Held"
    WITHDRAWING = "Withdrawing"


class Platform(StrEnum):
    """The platform's own ledger accounts (seeded by migration)."""

    CLEARING_CARD = "Assets:Clearing:Card"
    CLEARING_PAYPAL = "Assets:Clearing:PayPal"
    CLEARING_BANK = "Assets:Clearing:Bank"
    CLEARING_CRYPTO = "Assets:Clearing:Crypto"
    PAYOUTS = "Assets:Payouts"
    CHARGEBACK_RECEIVABLES = "Assets:Receivables:Chargebacks"
    TRADING = "Equity:Trading"
    FEES = "Income:Fees"


def ledger_account_id(name: str) -> uuid.UUID:
    return uuid.uuid5(_NAMESPACE, name)


def customer_account_name(account_id: uuid.UUID, bucket: Bucket) -> str:
    return f"Liabilities:Customers:{account_id}:{bucket.value}"


def customer_ledger_id(account_id: uuid.UUID, bucket: Bucket) -> uuid.UUID:
    return ledger_account_id(customer_account_name(account_id, bucket))
