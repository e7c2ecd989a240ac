"""Event types and webhook rules (API.md, Events and Webhooks): pure rules, no I/O."""

from __future__ import annotations

import random
from datetime import timedelta

from service.domain.accounts import AccountStatus

#: Every event type, in API.md's order.
EVENT_TYPES: tuple[str, ...] = (
    "account.opened",
    "account.status_changed",
    "deposit.settled",
    "deposit.reversed",
    "trade.settled",
    "hold.released",
    "hold.rescheduled",
    "withdrawal.requested",
    "withdrawal.approved",
    "withdrawal.rejected",
    "withdrawal.completed",
    "withdrawal.failed",
    "calendar.changed",
)

#: Statuses on which the trading engine must cancel the account's open orders.
CANCELS_OPEN_ORDERS = frozenset(
    {AccountStatus.READ_ONLY, AccountStatus.RESTRICTED, AccountStatus.ARCHIVED}
)

#: Webhook endpoint statuses.
ENDPOINT_STATUSES = ("enabled", "disabled")
#: Webhook delivery statuses.
DELIVERY_STATUSES = ("pending", "delivered", "failed")

#: The longest wait between two attempts of one delivery.
MAX_BACKOFF = timedelta(hours=1)
#: How long the secret before a rotation keeps signing beside the new one.
ROTATION_OVERLAP = timedelta(hours=24)


def retry_delay(attempts: int, rng: random.Random | None = None) -> timedelta:
    """The wait after the ``attempts``-th failed attempt: about 1, 2, 4 ... s
    (times a jitter of 0.75 to 1.25, so endpoints that failed together do not
    retry together), never more than an hour."""
    base = min(2.0 ** max(attempts - 1, 0), MAX_BACKOFF.total_seconds())
    jitter = (rng or random).uniform(0.75, 1.25)
    return min(timedelta(seconds=base * jitter), MAX_BACKOFF)
