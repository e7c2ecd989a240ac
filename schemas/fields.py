"""Fields with the contract's conventions: amounts as decimal strings, UTC times."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from marshmallow import ValidationError, fields

from service.domain.money import MAX_DIGITS, MAX_SCALE, Amount, AmountError, parse_decimal
from service.domain.timestamps import format_utc, parse_aware


def nonzero_digits(digits: int) -> str:
    """A regex of 1 to ``digits`` digits, at least one of them not 0 (without
    look-ahead, which JSON Schema generators handle badly: the first non-zero
    digit's position is spelled out)."""
    return "|".join(f"0{{{zeros}}}[1-9][0-9]{{0,{digits - zeros - 1}}}" for zeros in range(digits))


_WHOLE = f"0*[1-9][0-9]{{0,{MAX_DIGITS - 1}}}"
_FRACTION = f"[0-9]{{1,{MAX_SCALE}}}"
#: An amount in a request: a plain decimal (no sign, exponent or spaces), at
#: most 10 integer digits (leading zeros aside) and 8 decimals. The asset's own
#: scale, usually smaller, is checked by the service (422).
AMOUNT_PATTERN = f"^(0+|{_WHOLE})(\\.{_FRACTION})?$"
#: The same, above zero.
POSITIVE_AMOUNT_PATTERN = f"^({_WHOLE}(\\.{_FRACTION})?|0+\\.({nonzero_digits(MAX_SCALE)}))$"
#: An amount in a response: exactly the asset's scale; a balance may be
#: negative (a customer's debt after a chargeback).
SIGNED_AMOUNT_PATTERN = r"^-?[0-9]+(\.[0-9]+)?$"

#: An asset code as clients may send it (upper-cased on load).
ASSET_PATTERN = r"^[A-Za-z0-9]{1,16}$"
#: An ISO 3166-1 alpha-2 country code (upper-cased on load).
COUNTRY_PATTERN = r"^[A-Za-z]{2}$"
#: An ISO calendar date, YYYY-MM-DD.
DATE_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
#: A date-time with an offset, as RFC 3339 writes it (Python would also read
#: basic and week forms such as ``20261120T150000Z``; the contract does not).
DATETIME_PATTERN = (
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}"
    r"(\.[0-9]{1,6})?(Z|[+-][0-9]{2}:[0-9]{2})$"
)
_DATE = re.compile(DATE_PATTERN)
_DATETIME = re.compile(DATETIME_PATTERN)


def has_control_characters(text: str) -> bool:
    """C0 and C1 control characters and DEL, tab excepted (the contract's Text rule).

    NUL cannot be stored by PostgreSQL at all (a 500 there, stored on SQLite),
    and the others are never meant in a reference, a name or a reason: they
    hide text in logs, exports and the console.
    """
    return CONTROL_CHARACTERS.search(text) is not None


#: The characters :func:`has_control_characters` refuses, as one regex (a scan
#: in C: a settlement file checks thousands of texts per request).
CONTROL_CHARACTERS = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f]")


class Text(fields.String):
    """A string field that refuses control characters (tab excepted) with 422.

    Every text a request carries is loaded through this field (or one derived
    from it), so the rule lives in one place and holds on every database.
    """

    def _deserialize(
        self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any
    ) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        if has_control_characters(text):
            raise ValidationError("must not contain control characters (tab is allowed)")
        return text


class Money(fields.Field[Decimal]):
    """An amount as a JSON string of a plain decimal, e.g. ``"100.00"``.

    Loads to :class:`~decimal.Decimal`. A JSON number is refused (it may already
    have been rounded by the client's float), as are exponents, signs, and more
    than 8 decimals; the asset's own scale is checked by the service. Dumps an
    :class:`~service.domain.money.Amount` with exactly its asset's scale.
    """

    def __init__(self, *, positive: bool = True, **kwargs: Any) -> None:
        if kwargs.get("dump_only"):
            pattern = SIGNED_AMOUNT_PATTERN
        else:
            pattern = POSITIVE_AMOUNT_PATTERN if positive else AMOUNT_PATTERN
        kwargs["metadata"] = {
            "type": "string",
            "pattern": pattern,
            "example": "100.00",
            **kwargs.get("metadata", {}),
        }
        super().__init__(**kwargs)
        self.positive = positive

    def _deserialize(
        self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any
    ) -> Decimal:
        if isinstance(value, bool) or not isinstance(value, str):
            raise ValidationError('must be a string of a decimal number, e.g. "100.00"')
        try:
            amount = parse_decimal(value)
        except AmountError as exc:
            raise ValidationError(str(exc)) from exc
        if self.positive and amount <= 0:
            raise ValidationError("must be greater than zero")
        return amount

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> str | None:
        if value is None:
            return None
        if isinstance(value, Amount):
            return str(value)
        raise TypeError(f"Money field got {type(value).__name__}, expected Amount")


class UTCDateTime(fields.DateTime):
    """ISO 8601 (RFC 3339). Requests must carry an offset; responses are UTC with ``Z``."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs["metadata"] = {"pattern": DATETIME_PATTERN, **kwargs.get("metadata", {})}
        super().__init__(format="iso", **kwargs)

    def _deserialize(
        self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any
    ) -> datetime:
        if not isinstance(value, str):
            raise ValidationError("must be an ISO 8601 date-time string with an offset")
        if not _DATETIME.fullmatch(value):
            raise ValidationError(
                "must be an ISO 8601 date-time with a time zone offset, e.g. 2026-11-20T15:00:00Z"
            )
        try:
            return parse_aware(value)
        except ValueError as exc:
            raise ValidationError(
                "must be an ISO 8601 date-time with a time zone offset, e.g. 2026-11-20T15:00:00Z"
            ) from exc

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> str | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return format_utc(value)


class IsoDate(fields.Date):
    """``YYYY-MM-DD`` and nothing else (Python would also read ``20261120``)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs["metadata"] = {"pattern": DATE_PATTERN, **kwargs.get("metadata", {})}
        super().__init__(**kwargs)

    def _deserialize(
        self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any
    ) -> date:
        if not isinstance(value, str) or not _DATE.fullmatch(value):
            raise ValidationError("must be an ISO date, YYYY-MM-DD")
        return super()._deserialize(value, attr, data, **kwargs)


def parse_iso_date(text: str) -> date:
    """A ``YYYY-MM-DD`` path segment as a date; ``ValueError`` otherwise."""
    if not _DATE.fullmatch(text):
        raise ValueError(text)
    return date.fromisoformat(text)


class Country(Text):
    """ISO 3166-1 alpha-2, upper-cased on load."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs["metadata"] = {
            "example": "GB",
            "pattern": COUNTRY_PATTERN,
            **kwargs.get("metadata", {}),
        }
        super().__init__(**kwargs)

    def _deserialize(
        self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any
    ) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        if len(text) != 2 or not text.isascii() or not text.isalpha():
            raise ValidationError("must be an ISO 3166-1 alpha-2 country code, e.g. GB")
        return text.upper()


class AssetCode(Text):
    """An asset code such as ``USD`` or ``BTC``: 1 to 16 ASCII letters or digits."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs["metadata"] = {
            "pattern": ASSET_PATTERN,
            "example": "USD",
            **kwargs.get("metadata", {}),
        }
        super().__init__(**kwargs)

    def _deserialize(
        self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any
    ) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        if not 1 <= len(text) <= 16 or not text.isascii() or not text.isalnum():
            raise ValidationError("must be an asset code such as USD or BTC")
        return text.upper()


def plain(value: Any) -> Any:
    """Render nested service values (amounts, times, ids) as JSON-ready values."""
    if isinstance(value, Amount):
        return str(value)
    if isinstance(value, datetime):
        return format_utc(value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if value is None or isinstance(value, str | int | bool):
        return value
    return str(value)
