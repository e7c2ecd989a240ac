"""API key roles. A key has exactly one; admin may do everything.

Which routes a role may use is listed beside each route (API.md, Conventions):
every role may read, and writes are granted role by role.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    TRADING = "trading"
    PAYMENTS = "payments"
    OPERATIONS = "operations"
    ACCOUNTANT = "accountant"
    COMPLIANCE = "compliance"
    ADMIN = "admin"


#: Roles that may use a read route: every role.
READERS: frozenset[Role] = frozenset(Role)


@dataclass(frozen=True, slots=True)
class ApiKeyRecord:
    """An API key as the service knows it once authenticated (never the secret)."""

    id: uuid.UUID
    name: str
    role: Role


#: Writes and sensitive reads, granted role by role (admin always may). The REST
#: routes and the console both check these, so a role can do the same in both.
CHANGE_ACCOUNT_STATUS: frozenset[Role] = frozenset({Role.COMPLIANCE})
READ_AUDIT: frozenset[Role] = frozenset({Role.COMPLIANCE})
REVIEW_WITHDRAWALS: frozenset[Role] = frozenset({Role.COMPLIANCE})
MANAGE_WEBHOOKS: frozenset[Role] = frozenset({Role.OPERATIONS})


def may(role: Role, granted: frozenset[Role]) -> bool:
    """Whether a key of ``role`` may do what ``granted`` roles may (admin may do all)."""
    return role is Role.ADMIN or role in granted
