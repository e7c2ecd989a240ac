"""What use cases return: immutable views with amounts as :class:`Amount`.

The REST schemas and the command line render these; nothing here knows JSON.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

from service.domain.money import Amount


@dataclass(frozen=True, slots=True)
class LotView:
    asset: str
    amount: Amount
    status: str


@dataclass(frozen=True, slots=True)
class HoldView:
    id: uuid.UUID
    deposit_id: uuid.UUID
    method: str
    asset: str
    amount: Amount
    status: str
    placed_at: datetime
    release_at: datetime
    released_at: datetime | None
    lots: tuple[LotView, ...]


@dataclass(frozen=True, slots=True)
class DepositView:
    id: uuid.UUID
    account_id: uuid.UUID
    method: str
    asset: str
    amount: Amount
    status: str
    settled_at: datetime
    external_ref: str
    hold: HoldView | None


@dataclass(frozen=True, slots=True)
class QuoteView:
    method: str
    asset: str
    amount: Amount
    hold_business_days: int
    available_to_trade_at: datetime
    available_to_withdraw_at: datetime


@dataclass(frozen=True, slots=True)
class HeldPart:
    sold: Amount
    bought: Amount


@dataclass(frozen=True, slots=True)
class TradeView:
    id: uuid.UUID
    account_id: uuid.UUID
    sell_asset: str
    sell_amount: Amount
    buy_asset: str
    buy_amount: Amount
    fee_asset: str
    fee_amount: Amount
    held_part: HeldPart
    external_ref: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class BalanceView:
    asset: str
    total: Amount
    available_to_trade: Amount
    available_to_withdraw: Amount
    temporary_holds: Amount
    pending_withdrawals: Amount
    next_release_at: datetime | None


@dataclass(frozen=True, slots=True)
class BalancesView:
    account_id: uuid.UUID
    as_of: datetime
    balances: tuple[BalanceView, ...]


T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: tuple[T, ...]
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class TransactionView:
    """One line of a customer's history; ``details`` are type-specific extra fields."""

    id: uuid.UUID
    type: str
    status: str
    created_at: datetime
    asset: str
    amount: Amount | None
    details: dict[str, object]
