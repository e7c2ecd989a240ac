"""Customer accounts: status, tier, jurisdiction.

Status decides what an account may do (DESIGN.md section 5):

* ``active`` — everything;
* ``read_only`` — balances and history only (e.g. flagged by the geofence);
* ``restricted`` — support required: no trading, only a support-approved final
  withdrawal (e.g. after a chargeback);
* ``archived`` — closed after the final withdrawal; history only.

Compliance may move an account only along :data:`ALLOWED_TRANSITIONS`;
``archived`` is reached only through a final withdrawal, and never left.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from service.domain.errors import Conflict, Forbidden


class AccountStatus(StrEnum):
    ACTIVE = "active"
    READ_ONLY = "read_only"
    RESTRICTED = "restricted"
    ARCHIVED = "archived"


class Tier(StrEnum):
    BASIC = "basic"
    VERIFIED = "verified"


ALLOWED_TRANSITIONS: frozenset[tuple[AccountStatus, AccountStatus]] = frozenset(
    {
        (AccountStatus.ACTIVE, AccountStatus.READ_ONLY),
        (AccountStatus.READ_ONLY, AccountStatus.ACTIVE),
        (AccountStatus.ACTIVE, AccountStatus.RESTRICTED),
        (AccountStatus.READ_ONLY, AccountStatus.RESTRICTED),
        (AccountStatus.RESTRICTED, AccountStatus.ACTIVE),
    }
)


def check_transition(current: AccountStatus, wanted: AccountStatus) -> None:
    if (current, wanted) not in ALLOWED_TRANSITIONS:
        raise Conflict(
            f"an account cannot go from {current.value} to {wanted.value}",
            code="invalid_status_transition",
        )


def require_active(status: AccountStatus) -> None:
    """Refuse a money movement on an account that is not ``active``."""
    if status is not AccountStatus.ACTIVE:
        raise Forbidden(f"the account is {status.value}", code=f"account_{status.value}")


def is_blocked_country(country: str, blocked: frozenset[str]) -> bool:
    return country.upper() in blocked


def require_allowed_country(country: str, blocked: frozenset[str]) -> None:
    """Refuse a request made from a blocked country (the gateway's header)."""
    if is_blocked_country(country, blocked):
        raise Forbidden(
            f"requests from {country.upper()} are not permitted",
            code="jurisdiction_blocked",
            country=country.upper(),
        )


def require_allowed_registration(country: str, blocked: frozenset[str]) -> None:
    """Refuse opening an account registered in a blocked country, wherever the
    request comes from; the message names the registration, not the request."""
    if is_blocked_country(country, blocked):
        raise Forbidden(
            f"accounts registered in {country.upper()} are not permitted",
            code="jurisdiction_blocked",
            country=country.upper(),
        )


@dataclass(frozen=True, slots=True)
class AccountRecord:
    """A customer account as stored."""

    id: uuid.UUID
    external_id: str
    country: str
    tier: Tier
    status: AccountStatus
    created_at: datetime
