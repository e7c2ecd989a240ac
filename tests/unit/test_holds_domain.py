"""Hold lots: held funds are spent first (earliest release first), and the part of
the proceeds they bought stays held, rounded toward the held side."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import ROUND_CEILING, Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service.domain.holds import (
    Lot,
    Method,
    Spend,
    hold_days,
    spend_held_first,
    split_proceeds,
)

T0 = datetime(2026, 11, 25, 20, 0, tzinfo=UTC)
A, B, C = uuid.UUID(int=1), uuid.UUID(int=2), uuid.UUID(int=3)
CENT = Decimal("0.01")
SAT = Decimal("0.00000001")


def lot(hold: uuid.UUID, amount: str, days: int = 0) -> Lot:
    return Lot(hold, Decimal(amount), T0 + timedelta(days=days))


# -- policy -------------------------------------------------------------------------


def test_hold_days_uses_the_account_override_then_the_policy_then_zero() -> None:
    policies = {"card": 3, "paypal": 3, "bank_transfer": 0}
    assert hold_days(Method.CARD, policies, {}) == 3
    assert hold_days(Method.CARD, policies, {"card": 5}) == 5
    assert hold_days(Method.CARD, policies, {"card": 0}) == 0
    assert hold_days(Method.PAYPAL, policies, {"card": 5}) == 3
    assert hold_days(Method.CRYPTO, policies, {}) == 0


# -- spend_held_first ---------------------------------------------------------------


def test_spend_takes_earliest_release_first_regardless_of_listing_order() -> None:
    lots = [lot(A, "40.00", days=2), lot(B, "40.00", days=0), lot(C, "40.00", days=1)]
    spend = spend_held_first(lots, Decimal("50.00"))
    assert spend.from_lots == ((B, Decimal("40.00")), (C, Decimal("10.00")))
    assert spend.from_available == 0
    assert spend.held == Decimal("50.00")


def test_spend_ties_on_release_time_are_broken_by_hold_id() -> None:
    lots = [lot(B, "10.00"), lot(A, "10.00")]
    spend = spend_held_first(lots, Decimal("15.00"))
    assert spend.from_lots == ((A, Decimal("10.00")), (B, Decimal("5.00")))


def test_spend_beyond_the_lots_comes_from_available() -> None:
    spend = spend_held_first([lot(A, "30.00")], Decimal("100.00"))
    assert spend.from_lots == ((A, Decimal("30.00")),)
    assert spend.from_available == Decimal("70.00")
    assert spend.held == Decimal("30.00")


def test_spend_without_lots_is_all_available() -> None:
    spend = spend_held_first([], Decimal("12.34"))
    assert spend.from_lots == ()
    assert spend.from_available == Decimal("12.34")
    assert spend.held == 0


def test_spend_exactly_the_lots_leaves_nothing_for_available() -> None:
    spend = spend_held_first([lot(A, "1.00"), lot(B, "2.00", days=1)], Decimal("3.00"))
    assert spend.from_lots == ((A, Decimal("1.00")), (B, Decimal("2.00")))
    assert spend.from_available == 0


def test_spend_skips_empty_lots() -> None:
    spend = spend_held_first([lot(A, "0.00"), lot(B, "5.00", days=1)], Decimal("2.00"))
    assert spend.from_lots == ((B, Decimal("2.00")),)


# -- split_proceeds -----------------------------------------------------------------


def test_nothing_held_sold_means_all_proceeds_to_available() -> None:
    spend = Spend((), Decimal("100.00"))
    assert split_proceeds(Decimal("0.0015"), spend, Decimal("100.00"), SAT) == (
        (),
        Decimal("0.0015"),
    )


def test_all_held_sold_keeps_all_proceeds_held() -> None:
    spend = spend_held_first([lot(A, "100.00")], Decimal("100.00"))
    shares, to_available = split_proceeds(Decimal("0.00150000"), spend, Decimal("100.00"), SAT)
    assert shares == ((A, Decimal("0.00150000")),)
    assert to_available == 0


def test_held_part_is_rounded_up_to_the_quantum() -> None:
    # 30% of 0.00100001 BTC is 0.000300003: the held part rounds UP to 0.00030001
    spend = spend_held_first([lot(A, "30.00")], Decimal("100.00"))
    shares, to_available = split_proceeds(Decimal("0.00100001"), spend, Decimal("100.00"), SAT)
    assert shares == ((A, Decimal("0.00030001")),)
    assert to_available == Decimal("0.00070000")


def test_held_part_rounds_up_even_for_a_tiny_fraction() -> None:
    # 1 cent of 1,000,000.00 held: the held part is 1e-8 of 1.00 EUR -> one whole cent
    spend = spend_held_first([lot(A, "0.01")], Decimal("1000000.00"))
    shares, to_available = split_proceeds(Decimal("1.00"), spend, Decimal("1000000.00"), CENT)
    assert shares == ((A, Decimal("0.01")),)
    assert to_available == Decimal("0.99")


def test_shares_are_proportional_to_what_each_hold_paid() -> None:
    spend = spend_held_first([lot(A, "40.00"), lot(B, "40.00", days=1)], Decimal("50.00"))
    shares, to_available = split_proceeds(Decimal("500.00"), spend, Decimal("50.00"), CENT)
    assert shares == ((A, Decimal("400.00")), (B, Decimal("100.00")))
    assert to_available == 0


def test_largest_remainder_tie_goes_to_the_earliest_releasing_hold() -> None:
    # three equal payers share 0.10: 0.0333.. each, one cent left over for the first
    lots = [lot(A, "1.00"), lot(B, "1.00", days=1), lot(C, "1.00", days=2)]
    spend = spend_held_first(lots, Decimal("3.00"))
    shares, to_available = split_proceeds(Decimal("0.10"), spend, Decimal("3.00"), CENT)
    assert shares == ((A, Decimal("0.04")), (B, Decimal("0.03")), (C, Decimal("0.03")))
    assert to_available == 0


def test_largest_remainder_goes_to_the_largest_fraction() -> None:
    # A paid 1, B paid 2 of 3 held; 0.10 held: exact 0.0333.. and 0.0666..; B gets the cent
    spend = spend_held_first([lot(A, "1.00"), lot(B, "2.00", days=1)], Decimal("3.00"))
    shares, _ = split_proceeds(Decimal("0.10"), spend, Decimal("3.00"), CENT)
    assert shares == ((A, Decimal("0.03")), (B, Decimal("0.07")))


def test_hold_whose_share_rounds_to_nothing_gets_no_lot() -> None:
    spend = spend_held_first([lot(A, "0.01"), lot(B, "99.99", days=1)], Decimal("100.00"))
    shares, to_available = split_proceeds(Decimal("0.01"), spend, Decimal("100.00"), CENT)
    assert shares == ((B, Decimal("0.01")),)
    assert to_available == 0


# -- properties ---------------------------------------------------------------------


@st.composite
def trades(draw: st.DrawFn) -> tuple[list[Lot], Decimal, Decimal, Decimal, Decimal]:
    sell_scale = draw(st.integers(min_value=0, max_value=8))
    buy_scale = draw(st.integers(min_value=0, max_value=8))
    sell_q = Decimal(1).scaleb(-sell_scale)
    buy_q = Decimal(1).scaleb(-buy_scale)
    n = draw(st.integers(min_value=0, max_value=5))
    lots = [
        Lot(
            uuid.UUID(int=i + 1),
            draw(st.integers(min_value=1, max_value=10**9)) * sell_q,
            T0 + timedelta(hours=draw(st.integers(min_value=0, max_value=200))),
        )
        for i in range(n)
    ]
    held = sum((x.amount for x in lots), Decimal(0))
    held_minor = int(held / sell_q)
    total_minor = draw(st.integers(min_value=1, max_value=max(held_minor, 1) + 10**9))
    proceeds = draw(st.integers(min_value=1, max_value=10**12)) * buy_q
    return lots, total_minor * sell_q, proceeds, sell_q, buy_q


@given(trades())
@settings(max_examples=40, deadline=None)
def test_spend_and_split_properties(
    case: tuple[list[Lot], Decimal, Decimal, Decimal, Decimal],
) -> None:
    lots, total, proceeds, _, buy_q = case
    spend = spend_held_first(lots, total)

    # what is spent adds up to the sale, and no lot gives more than it has
    assert spend.held + spend.from_available == total
    assert spend.from_available >= 0
    held = sum((x.amount for x in lots), Decimal(0))
    assert spend.held == min(total, held)
    by_hold = {x.hold_id: x for x in lots}
    for hold_id, paid in spend.from_lots:
        assert 0 < paid <= by_hold[hold_id].amount
    # earliest release first: only the last lot taken may be partial, and every
    # lot releasing strictly earlier than a taken one is fully taken
    taken = dict(spend.from_lots)
    for x in lots:
        for y in lots:
            if y.hold_id in taken and (x.release_at, x.hold_id) < (y.release_at, y.hold_id):
                assert taken.get(x.hold_id) == x.amount

    shares, to_available = split_proceeds(proceeds, spend, total, buy_q)
    held_part = sum((share for _, share in shares), Decimal(0))
    # the proceeds are split exactly, nothing created or lost
    assert held_part + to_available == proceeds
    assert to_available >= 0
    assert all(share > 0 and share % buy_q == 0 for _, share in shares)
    assert to_available % buy_q == 0
    # rounding is toward the held side, by less than one quantum
    exact = proceeds * spend.held / total
    assert held_part >= exact
    assert held_part - exact < buy_q
    assert held_part == min(exact.quantize(buy_q, rounding=ROUND_CEILING), proceeds)
    # only holds that paid get a share, and each gets at least its floor
    assert {h for h, _ in shares} <= set(taken)
    for hold_id, share in shares:
        assert share >= (held_part * taken[hold_id] / spend.held) // buy_q * buy_q
    if spend.held == total:
        assert to_available == 0


@given(trades())
@settings(max_examples=20, deadline=None)
def test_spending_no_held_funds_frees_nothing_and_holds_nothing(
    case: tuple[list[Lot], Decimal, Decimal, Decimal, Decimal],
) -> None:
    _, total, proceeds, _, buy_q = case
    spend = spend_held_first([], total)
    assert split_proceeds(proceeds, spend, total, buy_q) == ((), proceeds)


@pytest.mark.parametrize("method", list(Method))
def test_every_method_has_a_clearing_account(method: Method) -> None:
    from service.domain.holds import CLEARING_ACCOUNT

    assert CLEARING_ACCOUNT[method].value.startswith("Assets:Clearing:")
