"""API key roles. A key has exactly one; admin may do everything.

Which routes a role may use is listed beside each route (API.md, Conventions):
every role may read, and writes are granted role by role.
"""

from __future__ import annotations

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
