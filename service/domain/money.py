"""Money: assets with a fixed number of decimal places, and exact amounts.

The model (DESIGN.md section 2):

* An :class:`Asset` has a code and a *scale*, the number of decimal places its
  amounts carry (USD 2, BTC 8). Scale is at most :data:`MAX_SCALE`.
* Amounts are :class:`decimal.Decimal` in Python and integers of *minor units*
  (``amount * 10**scale``) in the database. Floats never appear: a float cannot
  represent 0.10 exactly, and a lost cent is a defect.
* Input is refused, never rounded: text with more decimals than the asset's scale,
  an exponent, a sign where none is wanted, or more than :data:`MAX_DIGITS`
  integer digits is an error. Rounding silently would move money nobody asked to
  move.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal

MAX_SCALE = 8
#: Integer digits accepted on input. With scale 8 this keeps every amount, and the
#: sum of very many of them, far inside a signed 64-bit integer of minor units.
MAX_DIGITS = 10
#: The largest magnitude of minor units a client may send in one amount: 10^15 - 1
#: (ten million BTC, ten trillion USD). Balances are signed 64-bit integers, so
#: thousands of maximal amounts can accumulate on one account before a sum could
#: overflow — and the database refuses that too (a 422, never a wrong balance).
MAX_MINOR = 10**15 - 1
#: What a balance column can hold (signed 64-bit): the bound of any Amount.
MAX_BALANCE_MINOR = 2**63 - 1

_DECIMAL_TEXT = re.compile(r"(-)?([0-9]+)(?:\.([0-9]+))?")


class AmountError(ValueError):
    """Text or a number that is not an acceptable amount of an asset."""


@dataclass(frozen=True, slots=True)
class Asset:
    """A currency or coin: the commodity of every posting."""

    code: str
    scale: int

    def __post_init__(self) -> None:
        if not 0 <= self.scale <= MAX_SCALE:
            raise AmountError(f"scale of {self.code} must be between 0 and {MAX_SCALE}")

    @property
    def quantum(self) -> Decimal:
        return Decimal(1).scaleb(-self.scale)


def parse_decimal(text: str, *, allow_negative: bool = False) -> Decimal:
    """Parse a plain decimal string such as ``"100.00"``.

    Only digits, an optional point and (if allowed) a leading minus are accepted:
    no exponent, no ``+``, no spaces, no ``NaN`` or ``Infinity``.
    """
    if not isinstance(text, str):
        raise AmountError('amount must be a string of a decimal number, e.g. "100.00"')
    match = _DECIMAL_TEXT.fullmatch(text)
    if match is None:
        raise AmountError(f'{text[:40]!r} is not a plain decimal number such as "100.00"')
    sign, whole, fraction = match.groups()
    if sign and not allow_negative:
        raise AmountError("amount must not be negative")
    if len(whole.lstrip("0")) > MAX_DIGITS:
        raise AmountError(f"amount has more than {MAX_DIGITS} integer digits")
    if fraction is not None and len(fraction) > MAX_SCALE:
        raise AmountError(f"amount has more than {MAX_SCALE} decimal places")
    return Decimal(text)


@dataclass(frozen=True, slots=True)
class Amount:
    """An exact quantity of one asset, always carrying exactly the asset's scale."""

    value: Decimal
    asset: Asset
    #: ``value`` in minor units, computed once: every amount is written, summed
    #: and rendered through it, thousands of times per settlement file.
    _minor: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.value, Decimal):
            raise AmountError("amount value must be a Decimal")
        if not self.value.is_finite():
            raise AmountError("amount must be finite")
        # Checked before quantizing: beyond 19 digits of minor units the value
        # cannot be a 64-bit balance, and quantize would exceed decimal precision.
        if self.value and self.value.adjusted() + self.asset.scale >= 19:
            raise AmountError("amount is too large")
        exponent = self.value.as_tuple().exponent
        assert isinstance(exponent, int)
        if -exponent > self.asset.scale and self.value != self.value.quantize(self.asset.quantum):
            raise AmountError(
                f"{self.asset.code} amounts have at most {self.asset.scale} decimal places"
            )
        object.__setattr__(self, "value", self.value.quantize(self.asset.quantum))
        object.__setattr__(self, "_minor", int(self.value.scaleb(self.asset.scale)))
        if abs(self.minor) > MAX_BALANCE_MINOR:
            raise AmountError("amount is too large")

    @classmethod
    def parse(cls, text: str, asset: Asset, *, allow_negative: bool = False) -> Amount:
        return cls.from_input(parse_decimal(text, allow_negative=allow_negative), asset)

    @classmethod
    def from_input(cls, value: Decimal, asset: Asset) -> Amount:
        """An amount a client sent: more decimals than the asset's scale are refused
        even when they are zeros ("1.000" USD), since the client meant a precision
        the asset does not have. (Computed amounts only need to be exact.)"""
        exponent = value.as_tuple().exponent
        if isinstance(exponent, int) and -exponent > asset.scale:
            raise AmountError(f"{asset.code} amounts have at most {asset.scale} decimal places")
        amount = cls(value, asset)
        if abs(amount.minor) > MAX_MINOR:
            raise AmountError("amount is too large")
        return amount

    @classmethod
    def from_minor(cls, minor: int, asset: Asset) -> Amount:
        return cls(Decimal(minor).scaleb(-asset.scale), asset)

    @classmethod
    def zero(cls, asset: Asset) -> Amount:
        return cls(Decimal(0), asset)

    @property
    def minor(self) -> int:
        return self._minor

    def __neg__(self) -> Amount:
        return Amount(-self.value, self.asset)

    def __add__(self, other: Amount) -> Amount:
        self._same_asset(other)
        return Amount(self.value + other.value, self.asset)

    def __sub__(self, other: Amount) -> Amount:
        self._same_asset(other)
        return Amount(self.value - other.value, self.asset)

    def __str__(self) -> str:
        return format_minor(self.minor, self.asset.scale)

    def is_positive(self) -> bool:
        return self.value > 0

    def _same_asset(self, other: Amount) -> None:
        if other.asset != self.asset:
            raise AmountError(f"cannot combine {self.asset.code} with {other.asset.code}")


def format_minor(minor: int, scale: int) -> str:
    """Render integer minor units as a plain decimal with exactly ``scale`` places.

    Pure integer arithmetic: this runs for every row of a million-row export.
    """
    sign = "-" if minor < 0 else ""
    digits = str(abs(minor))
    if scale == 0:
        return sign + digits
    digits = digits.rjust(scale + 1, "0")
    return f"{sign}{digits[:-scale]}.{digits[-scale:]}"
