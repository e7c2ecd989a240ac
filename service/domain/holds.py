"""Temporary Holds: which deposits are held, for how long, and how lots move.

Policy. Each deposit method has a hold length in business days (defaults: card
3, paypal 3, bank_transfer 0, crypto 0), optionally overridden per account. A
deposit whose length is above zero is credited to the customer's ``Held``
bucket and gets a hold; otherwise it is credited to ``Available``.

Release time (computed once at deposit, stored in UTC): see
:meth:`service.domain.calendar.BusinessCalendar.release_time` — N business days
after settlement at the same local time, or from 00:00 of the next business day
when settlement falls on a closed day.

Lots. A hold starts with one lot: the deposit's asset and amount. Held funds
may be traded: a trade spends the lots that release earliest first, and the
part of the proceeds bought with held funds becomes new lots of the same holds,
so trading never turns held value into withdrawable value. Invariant: a
customer's ``Held`` balance in an asset equals the sum of its lots in it.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from enum import StrEnum

from service.domain.chart import Platform
from service.domain.errors import ValidationFailed


class Method(StrEnum):
    CARD = "card"
    PAYPAL = "paypal"
    BANK_TRANSFER = "bank_transfer"
    CRYPTO = "crypto"


CLEARING_ACCOUNT: Mapping[Method, Platform] = {
    Method.CARD: Platform.CLEARING_CARD,
    Method.PAYPAL: Platform.CLEARING_PAYPAL,
    Method.BANK_TRANSFER: Platform.CLEARING_BANK,
    Method.CRYPTO: Platform.CLEARING_CRYPTO,
}

MAX_HOLD_DAYS = 30


class HoldStatus(StrEnum):
    ACTIVE = "active"
    RELEASED = "released"
    REVERSED = "reversed"
    FROZEN = "frozen"


def hold_days(method: Method, policies: Mapping[str, int], overrides: Mapping[str, int]) -> int:
    """The account's override for the method if any, else the platform policy."""
    if method.value in overrides:
        return overrides[method.value]
    return policies.get(method.value, 0)


@dataclass(frozen=True, slots=True)
class Lot:
    """An asset-and-amount piece of a hold (amount in the asset's units, positive)."""

    hold_id: uuid.UUID
    amount: Decimal
    release_at: datetime


@dataclass(frozen=True, slots=True)
class Spend:
    """How a sale of ``total`` is paid: pieces of lots first, then ``from_available``."""

    from_lots: tuple[tuple[uuid.UUID, Decimal], ...]
    from_available: Decimal

    @property
    def held(self) -> Decimal:
        return sum((amount for _, amount in self.from_lots), Decimal(0))


def spend_held_first(lots: Sequence[Lot], total: Decimal) -> Spend:
    """Take ``total`` from the lots that release earliest first, then from Available."""
    remaining = total
    pieces: list[tuple[uuid.UUID, Decimal]] = []
    for lot in sorted(lots, key=lambda lot: (lot.release_at, lot.hold_id)):
        if remaining <= 0:
            break
        take = min(lot.amount, remaining)
        if take > 0:
            pieces.append((lot.hold_id, take))
            remaining -= take
    return Spend(tuple(pieces), remaining)


def split_proceeds(
    proceeds: Decimal, spend: Spend, total_sold: Decimal, quantum: Decimal
) -> tuple[tuple[tuple[uuid.UUID, Decimal], ...], Decimal]:
    """Split ``proceeds`` between the holds that paid and Available.

    The held part is ``proceeds * held / total_sold`` rounded **up** to the
    asset's quantum (toward the held side: rounding must never free held
    value). It is shared among the paying holds in proportion to what each
    paid, by largest remainder so the shares add up exactly; ties go to the
    hold that releases earliest (listed first). Returns (per-hold shares, the
    part credited to Available).
    """
    held_sold = spend.held
    if held_sold == 0:
        return (), proceeds
    held_part = (proceeds * held_sold / total_sold).quantize(quantum, rounding=ROUND_CEILING)
    held_part = min(held_part, proceeds)
    ids = [hold_id for hold_id, _ in spend.from_lots]
    exact = [held_part * paid / held_sold for _, paid in spend.from_lots]
    floors = [value.quantize(quantum, rounding=ROUND_FLOOR) for value in exact]
    leftover = int((held_part - sum(floors, Decimal(0))) / quantum)
    by_remainder = sorted(range(len(ids)), key=lambda i: floors[i] - exact[i])
    for index in by_remainder[:leftover]:
        floors[index] += quantum
    shares = tuple((ids[i], floors[i]) for i in range(len(ids)) if floors[i] > 0)
    return shares, proceeds - held_part


def lot_status(
    *,
    amount: int,
    is_deposit_asset: bool,
    released_at: datetime | None,
    reversed_at: datetime | None,
    withdrawn_at: datetime | None,
) -> HoldStatus:
    """A lot's status, from what happened to its hold and when: the one rule
    that the chargeback (live) and the holds export (replayed from the journal
    as of a time) both apply.

    * a chargeback while the hold was running reverses it: a lot that still
      holds value is ``frozen`` (never auto-released); an empty one is
      ``reversed`` — or ``released`` if a final withdrawal emptied it after
      the chargeback;
    * a released hold's lots are ``released``; a chargeback after the release
      marks the (empty) lot in the deposit's asset ``reversed``;
    * otherwise the hold is running: its lots are ``active``, except one a
      final withdrawal emptied, which is ``released``.

    ``amount`` is the lot's amount in minor units; the times are those of the
    release, the chargeback and the last final withdrawal from the lot, or
    ``None`` when they did not happen (yet).
    """
    if reversed_at is not None and (released_at is None or released_at > reversed_at):
        if amount > 0:
            return HoldStatus.FROZEN
        if withdrawn_at is not None and withdrawn_at >= reversed_at:
            return HoldStatus.RELEASED
        return HoldStatus.REVERSED
    if released_at is not None:
        if reversed_at is not None and is_deposit_asset:
            return HoldStatus.REVERSED
        return HoldStatus.RELEASED
    if amount == 0 and withdrawn_at is not None:
        return HoldStatus.RELEASED
    return HoldStatus.ACTIVE


#: How far ahead of the server's clock a release ``as_of`` may be: clock skew
#: between the host that schedules a job and the one that runs it.
AS_OF_SKEW = timedelta(minutes=1)


def check_release_as_of(
    as_of: datetime, now: datetime, *, forecast: bool, allow_future: bool
) -> None:
    """Refuse a release "as of" a time that has not come yet.

    The hold is the fraud control: releasing as of next week frees money days
    before its ``release_at``. So ``as_of`` may be at most :data:`AS_OF_SKEW`
    ahead of now, except for a forecast (``--dry-run``, which changes nothing)
    or on a test or staging system that simulates time
    (``LEDGER_ALLOW_FUTURE_AS_OF=1``; never production).
    """
    if as_of > now + AS_OF_SKEW and not forecast and not allow_future:
        raise ValidationFailed.field(
            "as_of",
            f"{as_of.isoformat()} is in the future: releasing as of a later time would "
            "free holds before their release time (use --dry-run for a forecast)",
            code="as_of_in_future",
        )
