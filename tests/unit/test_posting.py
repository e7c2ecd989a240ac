"""Journal entries: the double-entry rule, checked before anything reaches a database."""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service.domain.errors import ValidationFailed
from service.domain.money import Amount, Asset
from service.domain.posting import Entry, EntryType, Posting, UnbalancedEntry, merge_postings

USD = Asset("USD", 2)
BTC = Asset("BTC", 8)
AT = datetime(2026, 11, 20, 20, 0, tzinfo=UTC)
CARD = "Assets:Clearing:Card"
TRADING = "Equity:Trading"
CUSTOMER = f"Liabilities:Customers:{uuid.UUID(int=1)}:Available"
HELD = f"Liabilities:Customers:{uuid.UUID(int=1)}:Held"


def usd(text: str) -> Amount:
    return Amount.parse(text, USD, allow_negative=True)


def btc(text: str) -> Amount:
    return Amount.parse(text, BTC, allow_negative=True)


def entry(*postings: Posting, posted_at: datetime = AT) -> Entry:
    return Entry(
        type=EntryType.DEPOSIT, posted_at=posted_at, reference="ref", postings=tuple(postings)
    )


def test_balanced_entry_is_accepted() -> None:
    made = entry(Posting(CARD, usd("100.00")), Posting(CUSTOMER, usd("-100.00")))
    assert len(made.postings) == 2
    assert made.type is EntryType.DEPOSIT


def test_entry_balanced_per_asset_with_several_assets_is_accepted() -> None:
    made = entry(
        Posting(CUSTOMER, usd("100.00")),
        Posting(TRADING, usd("-100.00")),
        Posting(TRADING, btc("0.0015")),
        Posting(HELD, btc("-0.001")),
        Posting(CUSTOMER, btc("-0.0005")),
    )
    assert len(made.postings) == 5


@pytest.mark.parametrize("count", [0, 1])
def test_entry_needs_two_postings(count: int) -> None:
    postings = [Posting(CARD, usd("0.01"))][:count]
    with pytest.raises(UnbalancedEntry) as info:
        entry(*postings)
    assert info.value.code == "unbalanced_entry"
    assert "postings" in info.value.errors
    assert isinstance(info.value, ValidationFailed)


def test_zero_posting_is_refused() -> None:
    with pytest.raises(UnbalancedEntry, match="zero posting"):
        entry(
            Posting(CARD, usd("1.00")),
            Posting(CUSTOMER, usd("-1.00")),
            Posting(TRADING, usd("0.00")),
        )


def test_entry_unbalanced_by_one_minor_unit_is_refused() -> None:
    with pytest.raises(UnbalancedEntry, match="do not sum to zero"):
        entry(Posting(CARD, usd("100.00")), Posting(CUSTOMER, usd("-99.99")))


def test_entry_must_balance_per_asset_not_in_total() -> None:
    """+1 USD and -1 BTC sum to zero as numbers but not per asset."""
    with pytest.raises(UnbalancedEntry) as info:
        entry(Posting(CUSTOMER, usd("1.00")), Posting(TRADING, btc("-1.00")))
    assert "USD" in info.value.detail
    assert "BTC" in info.value.detail


def test_entry_balanced_in_one_asset_but_not_the_other_is_refused() -> None:
    with pytest.raises(UnbalancedEntry, match="BTC"):
        entry(
            Posting(CUSTOMER, usd("1.00")),
            Posting(TRADING, usd("-1.00")),
            Posting(TRADING, btc("0.5")),
            Posting(CUSTOMER, btc("-0.49999999")),
        )


def test_naive_posting_time_is_refused() -> None:
    with pytest.raises(UnbalancedEntry) as info:
        entry(
            Posting(CARD, usd("1.00")),
            Posting(CUSTOMER, usd("-1.00")),
            posted_at=datetime(2026, 11, 20, 20, 0),
        )
    assert "posted_at" in info.value.errors


def test_aware_non_utc_posting_time_is_accepted() -> None:
    zone = timezone(timedelta(hours=-5))
    made = entry(
        Posting(CARD, usd("1.00")),
        Posting(CUSTOMER, usd("-1.00")),
        posted_at=datetime(2026, 11, 20, 15, 0, tzinfo=zone),
    )
    assert made.posted_at == AT


def test_entries_are_immutable() -> None:
    made = entry(Posting(CARD, usd("1.00")), Posting(CUSTOMER, usd("-1.00")))
    with pytest.raises(AttributeError):
        made.reference = "other"  # type: ignore[misc]


# -- merge_postings ---------------------------------------------------------------


def test_merge_combines_same_account_asset_and_hold() -> None:
    hold = uuid.UUID(int=7)
    merged = merge_postings(
        [
            Posting(HELD, usd("-10.00"), hold),
            Posting(CUSTOMER, usd("5.00")),
            Posting(HELD, usd("-2.50"), hold),
            Posting(CUSTOMER, usd("1.00")),
        ]
    )
    assert merged == (Posting(HELD, usd("-12.50"), hold), Posting(CUSTOMER, usd("6.00")))


def test_merge_keeps_different_holds_and_assets_apart() -> None:
    first, second = uuid.UUID(int=1), uuid.UUID(int=2)
    merged = merge_postings(
        [
            Posting(HELD, usd("-1.00"), first),
            Posting(HELD, usd("-2.00"), second),
            Posting(HELD, btc("-0.1"), first),
            Posting(HELD, usd("-3.00")),
        ]
    )
    assert len(merged) == 4
    assert set(merged) == {
        Posting(HELD, usd("-1.00"), first),
        Posting(HELD, usd("-2.00"), second),
        Posting(HELD, btc("-0.1"), first),
        Posting(HELD, usd("-3.00")),
    }


def test_merge_drops_postings_that_net_to_zero() -> None:
    merged = merge_postings(
        [
            Posting(CUSTOMER, usd("5.00")),
            Posting(TRADING, usd("-5.00")),
            Posting(CUSTOMER, usd("-5.00")),
            Posting(CARD, usd("0.00")),
        ]
    )
    assert merged == (Posting(TRADING, usd("-5.00")),)


def test_merge_of_nothing_is_nothing() -> None:
    assert merge_postings([]) == ()


accounts = st.sampled_from([CARD, TRADING, CUSTOMER, HELD])
holds = st.sampled_from([None, uuid.UUID(int=1), uuid.UUID(int=2)])
assets = st.sampled_from([USD, BTC])


@st.composite
def postings(draw: st.DrawFn) -> Posting:
    asset = draw(assets)
    minor = draw(st.integers(min_value=-(10**6), max_value=10**6))
    return Posting(draw(accounts), Amount.from_minor(minor, asset), draw(holds))


@given(st.lists(postings(), max_size=25))
@settings(max_examples=40, deadline=None)
def test_merge_preserves_sums_and_leaves_no_zero_or_duplicate(items: list[Posting]) -> None:
    merged = merge_postings(items)
    before: dict[tuple[str, str, uuid.UUID | None], Decimal] = defaultdict(Decimal)
    for p in items:
        before[(p.account, p.amount.asset.code, p.hold_id)] += p.amount.value
    after = {(p.account, p.amount.asset.code, p.hold_id): p.amount.value for p in merged}
    assert len(after) == len(merged)
    assert after == {key: total for key, total in before.items() if total != 0}
    assert all(p.amount.value != 0 for p in merged)


@given(st.lists(postings(), min_size=1, max_size=12))
@settings(max_examples=40, deadline=None)
def test_a_balanced_merge_makes_a_valid_entry(items: list[Posting]) -> None:
    """Balancing each asset against Equity:Trading always yields a valid entry
    (or too few postings to be one)."""
    totals: dict[str, Amount] = {}
    for p in items:
        code = p.amount.asset.code
        totals[code] = totals[code] + p.amount if code in totals else p.amount
    balancing = [Posting("Income:Fees", -total) for total in totals.values() if total.value]
    merged = merge_postings([*items, *balancing])
    if len(merged) < 2:
        with pytest.raises(UnbalancedEntry):
            entry(*merged)
    else:
        assert entry(*merged).postings == merged
