"""Money: assets, exact amounts, parsing that refuses instead of rounding."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service.domain.money import (
    MAX_BALANCE_MINOR,
    MAX_DIGITS,
    MAX_MINOR,
    MAX_SCALE,
    Amount,
    AmountError,
    Asset,
    format_minor,
    parse_decimal,
)

USD = Asset("USD", 2)
BTC = Asset("BTC", 8)
JPY = Asset("JPY", 0)
USDT = Asset("USDT", 6)

scales = st.integers(min_value=0, max_value=MAX_SCALE)


# -- assets ---------------------------------------------------------------------


@pytest.mark.parametrize("scale", [-1, MAX_SCALE + 1, 18])
def test_asset_scale_outside_0_to_8_is_refused(scale: int) -> None:
    with pytest.raises(AmountError):
        Asset("BAD", scale)


@pytest.mark.parametrize(
    ("asset", "quantum"),
    [(USD, Decimal("0.01")), (BTC, Decimal("0.00000001")), (JPY, Decimal("1"))],
)
def test_quantum_is_one_minor_unit(asset: Asset, quantum: Decimal) -> None:
    assert asset.quantum == quantum


# -- parsing --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("100.00", Decimal("100.00")),
        ("0.1", Decimal("0.1")),
        ("7", Decimal("7")),
        ("0.00000001", Decimal("0.00000001")),
        ("9999999999.99999999", Decimal("9999999999.99999999")),
        ("0009999999999", Decimal("9999999999")),
    ],
)
def test_parse_decimal_accepts_plain_decimals(text: str, expected: Decimal) -> None:
    value = parse_decimal(text)
    assert value == expected
    assert isinstance(value, Decimal)


@pytest.mark.parametrize(
    "text",
    [
        "1e2",
        "1E2",
        "1.5e-3",
        "+5",
        "-5.00",
        " 5",
        "5 ",
        "5.",
        ".5",
        "1,00",
        "1_000",
        "NaN",
        "nan",
        "Infinity",
        "-Infinity",
        "",
        "0x10",
        "5.0.0",
        "--5",
        "5\n",
    ],
)
def test_parse_decimal_refuses_anything_but_a_plain_unsigned_decimal(text: str) -> None:
    with pytest.raises(AmountError):
        parse_decimal(text)


@pytest.mark.parametrize("text", ["\u0661\u0662", "1\u0660.00", "\uff11\uff10"])
def test_parse_decimal_refuses_non_ascii_digits(text: str) -> None:
    """Arabic-Indic or full-width digits are not the plain ASCII decimal the contract
    (and the OpenAPI pattern) describes."""
    with pytest.raises(AmountError):
        parse_decimal(text)


@pytest.mark.parametrize("value", [1.5, 100, Decimal("1.00"), None, b"1.00", ["1.00"]])
def test_parse_decimal_refuses_non_strings_including_floats(value: object) -> None:
    with pytest.raises(AmountError):
        parse_decimal(value)  # type: ignore[arg-type]


def test_parse_decimal_refuses_more_than_max_digits_integer_digits() -> None:
    assert parse_decimal("9" * MAX_DIGITS) == Decimal("9" * MAX_DIGITS)
    with pytest.raises(AmountError, match="integer digits"):
        parse_decimal("1" + "0" * MAX_DIGITS)
    with pytest.raises(AmountError):
        parse_decimal("12345678901234567890")
    with pytest.raises(AmountError):
        parse_decimal("12345678901234567890.00")


def test_parse_decimal_refuses_more_than_max_scale_decimals() -> None:
    assert parse_decimal("0." + "1" * MAX_SCALE) == Decimal("0." + "1" * MAX_SCALE)
    with pytest.raises(AmountError, match="decimal places"):
        parse_decimal("0." + "1" * (MAX_SCALE + 1))
    with pytest.raises(AmountError):
        parse_decimal("0.000000001")


def test_parse_decimal_negative_only_when_allowed() -> None:
    with pytest.raises(AmountError, match="negative"):
        parse_decimal("-1.00")
    assert parse_decimal("-1.00", allow_negative=True) == Decimal("-1.00")


# -- amounts --------------------------------------------------------------------


def test_amount_always_carries_exactly_the_asset_scale() -> None:
    assert str(Amount(Decimal("100"), USD)) == "100.00"
    assert str(Amount(Decimal("0.0015"), BTC)) == "0.00150000"
    assert str(Amount(Decimal("5"), JPY)) == "5"
    assert Amount.parse("1.5", USD).value.as_tuple().exponent == -2


@pytest.mark.parametrize(
    ("text", "asset"),
    [("1.001", USD), ("0.000000001", BTC), ("0.5", JPY), ("0.0000001", USDT)],
)
def test_more_decimals_than_the_asset_scale_are_refused_not_rounded(
    text: str, asset: Asset
) -> None:
    with pytest.raises(AmountError):
        Amount.parse(text, asset)
    with pytest.raises(AmountError):
        Amount(Decimal(text), asset)


@pytest.mark.parametrize(("text", "asset"), [("1.000", USD), ("0.000000000", BTC), ("5.0", JPY)])
def test_parse_refuses_more_decimals_than_the_scale_even_when_they_are_zeros(
    text: str, asset: Asset
) -> None:
    """DESIGN.md 2 / API.md: input with more decimals than the asset's scale is refused."""
    with pytest.raises(AmountError):
        Amount.parse(text, asset)


@pytest.mark.parametrize("value", [1.5, 1, "1.00", None])
def test_amount_value_must_be_a_decimal(value: object) -> None:
    with pytest.raises(AmountError):
        Amount(value, USD)  # type: ignore[arg-type]


@pytest.mark.parametrize("text", ["NaN", "Infinity", "-Infinity", "sNaN"])
def test_amount_must_be_finite(text: str) -> None:
    with pytest.raises(AmountError):
        Amount(Decimal(text), USD)


def test_input_above_max_minor_is_refused_but_balances_may_exceed_it() -> None:
    """One amount a client sends is capped at MAX_MINOR; a balance (a sum of many)
    may exceed it, up to what a 64-bit column holds."""
    assert Amount.from_input(Amount.from_minor(MAX_MINOR, BTC).value, BTC).minor == MAX_MINOR
    with pytest.raises(AmountError, match="too large"):
        Amount.from_input(Amount.from_minor(MAX_MINOR + 1, BTC).value, BTC)
    with pytest.raises(AmountError):
        Amount.parse(format_minor(MAX_MINOR + 1, 2), USD)
    assert Amount.from_minor(-2 * MAX_MINOR, USD).minor == -2 * MAX_MINOR
    assert Amount.from_minor(MAX_BALANCE_MINOR, BTC).minor == MAX_BALANCE_MINOR
    with pytest.raises(AmountError, match="too large"):
        Amount.from_minor(MAX_BALANCE_MINOR + 1, BTC)


@given(
    minor=st.integers(min_value=MAX_BALANCE_MINOR + 1, max_value=10**40),
    scale=scales,
    negative=st.booleans(),
)
@settings(max_examples=40, deadline=None)
def test_any_amount_beyond_max_minor_is_an_amount_error(
    minor: int, scale: int, negative: bool
) -> None:
    """Too large is refused as an AmountError (a ValueError the API turns into 422),
    never as a decimal-module signal that would surface as a 500."""
    with pytest.raises(AmountError):
        Amount.from_minor(-minor if negative else minor, Asset("X", scale))


def test_amount_arithmetic_stays_exact_and_refuses_mixing_assets() -> None:
    a = Amount.parse("0.10", USD)
    b = Amount.parse("0.20", USD)
    assert (a + b) == Amount.parse("0.30", USD)
    assert (b - a).minor == 10
    assert (-a).minor == -10
    assert (a - b).is_positive() is False
    assert a.is_positive() is True
    assert Amount.zero(BTC).minor == 0
    assert str(Amount.zero(BTC)) == "0.00000000"
    with pytest.raises(AmountError, match="cannot combine"):
        a + Amount.parse("0.10", Asset("EUR", 2))
    with pytest.raises(AmountError):
        a - Amount.parse("0.10", BTC)


def test_amounts_of_different_assets_are_not_equal() -> None:
    assert Amount.parse("1.00", USD) != Amount.parse("1.00", Asset("EUR", 2))
    assert Amount.parse("1.00", USD) == Amount.parse("1.0", USD)


@pytest.mark.parametrize(
    ("minor", "scale", "text"),
    [
        (0, 2, "0.00"),
        (1, 2, "0.01"),
        (-1, 2, "-0.01"),
        (150000, 8, "0.00150000"),
        (-123456789, 8, "-1.23456789"),
        (42, 0, "42"),
        (-42, 0, "-42"),
        (10**18 - 1, 8, "9999999999.99999999"),
    ],
)
def test_format_minor(minor: int, scale: int, text: str) -> None:
    assert format_minor(minor, scale) == text


# -- properties -----------------------------------------------------------------


@given(minor=st.integers(min_value=-MAX_BALANCE_MINOR, max_value=MAX_BALANCE_MINOR), scale=scales)
@settings(max_examples=40, deadline=None)
def test_minor_units_round_trip(minor: int, scale: int) -> None:
    asset = Asset("X", scale)
    amount = Amount.from_minor(minor, asset)
    assert amount.minor == minor
    text = str(amount)
    if scale == 0:
        assert "." not in text
    else:
        assert len(text.split(".")[1]) == scale
    assert Decimal(text) == amount.value
    assert format_minor(minor, scale) == text


@st.composite
def parseable_amounts(draw: st.DrawFn) -> tuple[int, Asset]:
    """Minor units of amounts parse accepts: at most MAX_DIGITS integer digits and
    at most MAX_MINOR minor units."""
    scale = draw(scales)
    bound = min(10 ** (MAX_DIGITS + scale) - 1, MAX_MINOR)
    return draw(st.integers(min_value=-bound, max_value=bound)), Asset("X", scale)


@given(parseable_amounts())
@settings(max_examples=40, deadline=None)
def test_parse_of_str_round_trips(case: tuple[int, Asset]) -> None:
    minor, asset = case
    amount = Amount.from_minor(minor, asset)
    assert Amount.parse(str(amount), asset, allow_negative=True) == amount
    if minor >= 0:
        assert Amount.parse(str(amount), asset) == amount


@given(
    scale=st.integers(min_value=0, max_value=MAX_SCALE - 1),
    whole=st.integers(min_value=0, max_value=10**MAX_DIGITS - 1),
    extra=st.integers(min_value=1, max_value=MAX_SCALE),
    last=st.integers(min_value=1, max_value=9),
)
@settings(max_examples=40, deadline=None)
def test_text_with_excess_nonzero_decimals_is_always_refused(
    scale: int, whole: int, extra: int, last: int
) -> None:
    places = min(scale + extra, MAX_SCALE)
    text = f"{whole}." + "0" * (places - 1) + str(last)
    with pytest.raises(AmountError):
        Amount.parse(text, Asset("X", scale))
