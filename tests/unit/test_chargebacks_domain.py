"""The pure rules of chargebacks: the split, the entry, the lots' new statuses;
and the one rule of a lot's status they share with the holds export."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from service.domain.chargebacks import (
    ChargebackSplit,
    HeldLot,
    chargeback_entry,
    reversed_lots,
    split_chargeback,
)
from service.domain.chart import Bucket, Platform, customer_account_name
from service.domain.holds import HoldStatus, Method, lot_status
from service.domain.money import Amount, Asset

USD = Asset("USD", 2)
T0 = datetime(2026, 11, 2, 12, tzinfo=UTC)
LATER = T0 + timedelta(days=1)


@pytest.mark.parametrize(
    ("amount", "lot", "available", "expected"),
    [
        (100, 100, 0, (100, 0, 0)),
        (100, 150, 0, (100, 0, 0)),
        (100, 40, 30, (40, 30, 30)),
        (100, 0, 500, (0, 100, 0)),
        (100, 0, 0, (0, 0, 100)),
        (100, 0, -20, (0, 0, 100)),
        (100, -5, 10, (0, 10, 90)),
    ],
)
def test_split_takes_the_lot_then_available_then_a_receivable(
    amount: int, lot: int, available: int, expected: tuple[int, int, int]
) -> None:
    split = split_chargeback(amount, lot=lot, available=available)
    assert (split.from_lot, split.from_available, split.receivable) == expected


@given(
    amount=st.integers(1, 10**12),
    lot=st.integers(-(10**12), 10**12),
    available=st.integers(-(10**12), 10**12),
)
def test_split_adds_up_and_never_takes_more_than_there_is(
    amount: int, lot: int, available: int
) -> None:
    split = split_chargeback(amount, lot=lot, available=available)
    assert split.recovered + split.receivable == amount
    assert 0 <= split.from_lot <= max(lot, 0)
    assert 0 <= split.from_available <= max(available, 0)
    assert split.receivable >= 0


def test_split_refuses_a_non_positive_amount() -> None:
    with pytest.raises(ValueError, match="positive"):
        split_chargeback(0, lot=0, available=0)


def _entry(split: ChargebackSplit, hold_id: uuid.UUID | None) -> dict[tuple[str, object], Decimal]:
    account = uuid.uuid4()
    entry = chargeback_entry(
        account_id=account,
        method=Method.CARD,
        amount=Amount.from_minor(10000, USD),
        hold_id=hold_id,
        split=split,
        reference="chargeback:d",
        posted_at=T0,
        entry_id=uuid.uuid4(),
    )
    names = {
        customer_account_name(account, Bucket.HELD): "held",
        customer_account_name(account, Bucket.AVAILABLE): "available",
        Platform.CLEARING_CARD.value: "clearing",
    }
    return {(names[p.account], p.hold_id): p.amount.value for p in entry.postings}


def test_entry_debits_the_lot_and_available_receivable_included() -> None:
    hold = uuid.uuid4()
    postings = _entry(ChargebackSplit(from_lot=4000, from_available=3000, receivable=3000), hold)
    assert postings == {
        ("clearing", None): Decimal("-100.00"),
        ("held", hold): Decimal("40.00"),
        # The receivable stays on Available (it goes negative), never on a
        # receivables account.
        ("available", None): Decimal("60.00"),
    }


def test_entry_refuses_a_split_that_does_not_add_up_or_a_lot_without_a_hold() -> None:
    with pytest.raises(ValueError, match="add up"):
        _entry(ChargebackSplit(from_lot=0, from_available=100, receivable=0), None)
    with pytest.raises(ValueError, match="under its hold"):
        _entry(ChargebackSplit(from_lot=10000, from_available=0, receivable=0), None)


def test_a_running_hold_reversed_freezes_what_still_holds_value() -> None:
    lots = [
        HeldLot("USD", 10000, HoldStatus.ACTIVE),
        HeldLot("BTC", 299000, HoldStatus.ACTIVE),
        HeldLot("ETH", 0, HoldStatus.ACTIVE),
        HeldLot("EUR", 0, HoldStatus.RELEASED),  # emptied by a final withdrawal
    ]
    assert reversed_lots(lots, deposit_asset="USD", taken=10000, released_at=None, at=T0) == {
        "USD": HoldStatus.REVERSED,
        "BTC": HoldStatus.FROZEN,
        "ETH": HoldStatus.REVERSED,
    }
    partly = reversed_lots(lots[:1], deposit_asset="USD", taken=4000, released_at=None, at=T0)
    assert partly == {"USD": HoldStatus.FROZEN}


def test_a_released_hold_reversed_marks_only_the_deposit_lot() -> None:
    lots = [HeldLot("USD", 0, HoldStatus.RELEASED), HeldLot("BTC", 0, HoldStatus.RELEASED)]
    changed = reversed_lots(lots, deposit_asset="USD", taken=0, released_at=T0, at=LATER)
    assert changed == {"USD": HoldStatus.REVERSED}


@pytest.mark.parametrize(
    ("amount", "deposit_asset", "released", "reversed_", "withdrawn", "expected"),
    [
        (100, True, None, None, None, HoldStatus.ACTIVE),
        (0, False, None, None, T0, HoldStatus.RELEASED),  # final withdrawal emptied it
        (0, True, T0, None, None, HoldStatus.RELEASED),
        (0, True, T0, LATER, None, HoldStatus.REVERSED),  # chargeback after release
        (0, False, T0, LATER, None, HoldStatus.RELEASED),
        (100, False, None, T0, None, HoldStatus.FROZEN),
        (0, True, None, T0, None, HoldStatus.REVERSED),
        (0, False, None, T0, LATER, HoldStatus.RELEASED),  # frozen lot paid out after
        (50, True, LATER, T0, None, HoldStatus.FROZEN),  # reversed before the release
    ],
)
def test_lot_status(
    amount: int,
    deposit_asset: bool,
    released: datetime | None,
    reversed_: datetime | None,
    withdrawn: datetime | None,
    expected: HoldStatus,
) -> None:
    status = lot_status(
        amount=amount,
        is_deposit_asset=deposit_asset,
        released_at=released,
        reversed_at=reversed_,
        withdrawn_at=withdrawn,
    )
    assert status is expected
