"""Withdrawals, reference rates and limits: the pure rules.

Lifecycle (API.md, Withdrawals). A request moves the amount from ``Available``
to ``Withdrawing`` and starts ``pending`` — or ``review`` when its
USD-equivalent is above the review threshold, and always for a final
withdrawal. Then:

* ``approve`` (compliance): ``review`` → ``pending``; no money moves;
* ``reject`` (compliance): ``review`` → ``rejected``; ``Withdrawing`` → ``Available``;
* ``complete`` (payments, with the ``txid``): ``pending`` → ``completed``;
  ``Withdrawing`` → ``Assets:Payouts``;
* ``fail`` (payments, with a ``reason``): ``pending`` → ``failed``;
  ``Withdrawing`` → ``Available``.

Every other move is 409 ``invalid_withdrawal_state``. ``completed``,
``rejected`` and ``failed`` are final. A withdrawal waiting for review cannot
be paid out, and one already handed to the payout integration (``pending``)
can no longer be rejected, only completed or failed by that integration.

Limits. A tier may withdraw at most its daily limit in USD-equivalent per
rolling 24 hours: the sum of the account's withdrawals created in the last 24
hours that are not ``rejected`` or ``failed``, valued at the *current*
reference rates, plus the new one. Rates are prices, not money amounts: they
are kept as exact decimals (text in the database), never floats, and an asset
without a rate cannot be withdrawn under a limit (409 ``rate_unavailable``):
without a price the limit cannot be proven to hold. USD is the unit of
account: its rate is 1 by definition.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum

from service.domain.errors import Conflict, ValidationFailed

#: The unit of account of limits and thresholds.
USD = "USD"

#: Digits accepted in a rate: a price of a small coin needs many decimals.
_RATE_TEXT = re.compile(r"^([0-9]{1,12})(?:\.([0-9]{1,18}))?$")


class WithdrawalStatus(StrEnum):
    PENDING = "pending"
    REVIEW = "review"
    COMPLETED = "completed"
    REJECTED = "rejected"
    FAILED = "failed"


class WithdrawalKind(StrEnum):
    #: Requested by the customer (trading role) from Available.
    STANDARD = "standard"
    #: Requested by compliance for a restricted account: the whole balance of
    #: an asset, Temporary Holds included, always reviewed.
    FINAL = "final"


class Transition(StrEnum):
    APPROVE = "approve"
    REJECT = "reject"
    COMPLETE = "complete"
    FAIL = "fail"


#: The only allowed moves: transition -> (from, to).
TRANSITIONS: Mapping[Transition, tuple[WithdrawalStatus, WithdrawalStatus]] = {
    Transition.APPROVE: (WithdrawalStatus.REVIEW, WithdrawalStatus.PENDING),
    Transition.REJECT: (WithdrawalStatus.REVIEW, WithdrawalStatus.REJECTED),
    Transition.COMPLETE: (WithdrawalStatus.PENDING, WithdrawalStatus.COMPLETED),
    Transition.FAIL: (WithdrawalStatus.PENDING, WithdrawalStatus.FAILED),
}

#: Transitions that give the reserved funds back to ``Available``.
RETURNS_FUNDS: frozenset[Transition] = frozenset({Transition.REJECT, Transition.FAIL})

#: Withdrawals that no longer count against the daily limit (their funds came back).
NOT_COUNTED: frozenset[WithdrawalStatus] = frozenset(
    {WithdrawalStatus.REJECTED, WithdrawalStatus.FAILED}
)


def next_status(current: WithdrawalStatus, transition: Transition) -> WithdrawalStatus:
    """The status after ``transition``, or 409 ``invalid_withdrawal_state``."""
    source, target = TRANSITIONS[transition]
    if current is not source:
        raise Conflict(
            f"cannot {transition.value} a withdrawal that is {current.value} "
            f"(only a {source.value} one)",
            code="invalid_withdrawal_state",
            withdrawal_status=current.value,
        )
    return target


# -- rates, limits, review --------------------------------------------------------


def parse_rate(text: object, *, field: str = "usd") -> Decimal:
    """A USD price as a plain decimal string greater than zero (``"67000.00"``).

    Refused: JSON numbers (a float may already be rounded), exponents, signs,
    zero. Up to 12 integer and 18 decimal digits, kept exactly as given.
    """
    if isinstance(text, bool) or not isinstance(text, str):
        raise ValidationFailed.field(field, 'must be a string of a decimal number, e.g. "67000.00"')
    if _RATE_TEXT.match(text) is None:
        raise ValidationFailed.field(
            field, "must be a plain decimal number with at most 12 integer and 18 decimal digits"
        )
    value = Decimal(text)
    if value <= 0:
        raise ValidationFailed.field(field, "must be greater than zero")
    return value


def rate_text(value: Decimal) -> str:
    """How a rate is stored and shown: the exact decimal, never in exponent form."""
    return format(value, "f")


def usd(value: Decimal) -> str:
    """A USD figure for a problem body: rounded to the cent for display only."""
    return format(value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP), "f")


@dataclass(frozen=True, slots=True)
class Valued:
    """An amount of an asset (in the asset's units) with its USD price, if known."""

    asset: str
    amount: Decimal
    rate: Decimal | None


def usd_value(items: Iterable[Valued]) -> Decimal:
    """The exact USD-equivalent of ``items``; 409 ``rate_unavailable`` if a price is missing."""
    total = Decimal(0)
    for item in items:
        if item.rate is None:
            raise Conflict(
                f"there is no reference rate for {item.asset}: it cannot be withdrawn "
                "under a daily limit",
                code="rate_unavailable",
                asset=item.asset,
            )
        total += item.amount * item.rate
    return total


def check_daily_limit(*, used: Decimal, requested: Decimal, limit: Decimal) -> None:
    """``used + requested`` may not exceed ``limit`` (409 ``daily_limit_exceeded``)."""
    if used + requested > limit:
        raise Conflict(
            f"this withdrawal of {usd(requested)} USD-equivalent would exceed the daily "
            f"limit of {usd(limit)} (already used in the last 24 hours: {usd(used)})",
            code="daily_limit_exceeded",
            limit=usd(limit),
            used=usd(used),
            requested=usd(requested),
        )


def initial_status(
    *, kind: WithdrawalKind, value_usd: Decimal, threshold: Decimal
) -> WithdrawalStatus:
    """``review`` for a final withdrawal or above the threshold, else ``pending``."""
    if kind is WithdrawalKind.FINAL or value_usd > threshold:
        return WithdrawalStatus.REVIEW
    return WithdrawalStatus.PENDING
