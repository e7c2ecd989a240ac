"""Trade settlement: a fill from the matching engine, booked in one entry.

Held funds are spent first (the holds that release earliest first), then
Available. The proceeds (net of any fee, which is taken in the bought asset)
are split in the same proportion: the held part, rounded up, is credited to
``Held`` under the holds that paid, as lots in the bought asset; the rest to
``Available``. So a chain of trades can never make held value withdrawable.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import Connection

from service.db import holds as holds_repo
from service.db import ledger, repositories
from service.db import trades as trades_repo
from service.db.ledger import BalanceKey
from service.domain.accounts import require_active
from service.domain.chart import Bucket, Platform
from service.domain.errors import Conflict, NotFound, ValidationFailed
from service.domain.holds import spend_held_first, split_proceeds
from service.domain.ids import new_id
from service.domain.money import Amount
from service.domain.rules import trade_entry
from service.services import events, reference
from service.services.views import HeldPart, TradeView


@dataclass(frozen=True, slots=True)
class TradeCommand:
    account_id: uuid.UUID
    sell_asset: str
    sell_amount: Decimal
    buy_asset: str
    buy_amount: Decimal
    external_ref: str
    fee_asset: str | None = None
    fee_amount: Decimal | None = None


def settle_trade(tx: Connection, cmd: TradeCommand, *, now: datetime) -> TradeView:
    account = repositories.find_account(tx, cmd.account_id)
    if account is None:
        raise NotFound(f"no account {cmd.account_id}", code="account_not_found")
    require_active(account.status)
    if cmd.sell_asset == cmd.buy_asset:
        raise ValidationFailed.field("buy_asset", "must differ from sell_asset")
    sold = reference.amount(
        tx, cmd.sell_amount, cmd.sell_asset, field="sell_amount", asset_field="sell_asset"
    )
    bought = reference.amount(
        tx, cmd.buy_amount, cmd.buy_asset, field="buy_amount", asset_field="buy_asset"
    )
    if cmd.fee_asset is not None and cmd.fee_asset != cmd.buy_asset:
        raise ValidationFailed.field(
            "fee_asset", "the fee is taken from the proceeds: it must be in buy_asset"
        )
    fee = reference.amount(
        tx, cmd.fee_amount or Decimal(0), cmd.buy_asset, field="fee_amount", asset_field="fee_asset"
    )
    if fee.value >= bought.value:
        raise ValidationFailed.field("fee_amount", "must be less than buy_amount")

    lots = holds_repo.to_lots(
        holds_repo.lock_spendable_lots(tx, cmd.account_id, sold.asset.code, sold.minor),
        sold.asset.scale,
    )
    sell, buy = sold.asset.code, bought.asset.code
    keys = [
        BalanceKey.customer(cmd.account_id, bucket, code)
        for bucket in (Bucket.AVAILABLE, Bucket.HELD)
        for code in (sell, buy)
    ] + [BalanceKey(Platform.TRADING.value, sell), BalanceKey(Platform.TRADING.value, buy)]
    if fee.value:
        keys.append(BalanceKey(Platform.FEES.value, buy))
    locked = ledger.lock_balances(tx, keys)
    available = Amount.from_minor(
        -locked[BalanceKey.customer(cmd.account_id, Bucket.AVAILABLE, sell)], sold.asset
    ).value
    held = sum((lot.amount for lot in lots), Decimal(0))
    spend = spend_held_first(lots, sold.value)
    if sold.value > max(available + held, Decimal(0)) or spend.from_available > max(
        available, Decimal(0)
    ):
        raise Conflict(
            f"not enough {sell} available to trade",
            code="insufficient_funds",
            available_to_trade=str(Amount(max(available + held, Decimal(0)), sold.asset)),
        )
    proceeds = bought - fee
    shares, to_available = split_proceeds(proceeds.value, spend, sold.value, bought.asset.quantum)
    trade_id, entry_id = new_id(), new_id()
    entry = trade_entry(
        account_id=cmd.account_id,
        sold=sold,
        sold_from_lots=spend.from_lots,
        sold_from_available=spend.from_available,
        bought=bought,
        fee=fee,
        bought_into_lots=shares,
        bought_into_available=to_available,
        reference=f"trade:{cmd.external_ref}",
        posted_at=now,
        entry_id=entry_id,
    )
    ledger.post(tx, entry)
    held_part = HeldPart(
        sold=Amount(spend.held, sold.asset),
        bought=Amount(sum((v for _, v in shares), Decimal(0)), bought.asset),
    )
    inserted = trades_repo.insert_trade(
        tx,
        id=trade_id,
        account_id=cmd.account_id,
        sell_asset=sell,
        sell_amount=sold.minor,
        buy_asset=buy,
        buy_amount=bought.minor,
        fee_amount=fee.minor,
        held_sold=held_part.sold.minor,
        held_bought=held_part.bought.minor,
        external_ref=cmd.external_ref,
        entry_id=entry_id,
        created_at=now,
    )
    if not inserted:
        raise Conflict(f"trade {cmd.external_ref!r} was already settled", code="duplicate_trade")
    view = TradeView(
        id=trade_id,
        account_id=cmd.account_id,
        sell_asset=sell,
        sell_amount=sold,
        buy_asset=buy,
        buy_amount=bought,
        fee_asset=buy,
        fee_amount=fee,
        held_part=held_part,
        external_ref=cmd.external_ref,
        created_at=now,
    )
    events.trade_settled(tx, view, now)
    return view
