"""Moving an account between statuses, always under its row lock and audited.

* compliance (``PATCH /v1/accounts/{id}``) may only follow
  :data:`service.domain.accounts.ALLOWED_TRANSITIONS`; anything else,
  including any move to ``archived`` or to the status it already has, is 409
  ``invalid_status_transition``;
* a chargeback restricts an ``active`` or ``read_only`` account (a
  ``restricted`` one stays so; an ``archived`` one stays closed);
* a completed final withdrawal that leaves nothing on a ``restricted``
  account archives it.
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from service.db import repositories
from service.db.withdrawals import lock_account
from service.domain.accounts import AccountRecord, AccountStatus, check_transition
from service.domain.errors import NotFound
from service.services import events


def locked_account(tx: Connection, account_id: uuid.UUID) -> AccountRecord:
    account = lock_account(tx, account_id)
    if account is None:
        raise NotFound(f"no account {account_id}", code="account_not_found")
    return account


def set_status(
    tx: Connection,
    account: AccountRecord,
    status: AccountStatus,
    *,
    reason: str,
    actor: str,
    now: datetime,
    details: dict[str, Any] | None = None,
) -> AccountRecord:
    """Write the new status and its audit entry (the caller holds the row lock)."""
    repositories.set_account_status(tx, account.id, status)
    repositories.audit(
        tx,
        at=now,
        actor=actor,
        action="status_change",
        reason=reason,
        account_id=account.id,
        details={"from": account.status.value, "to": status.value, **(details or {})},
    )
    events.status_changed(
        tx, account.id, account.status, status, reason=reason, actor=actor, now=now
    )
    return replace(account, status=status)


def change_status(
    tx: Connection,
    account_id: uuid.UUID,
    wanted: AccountStatus,
    *,
    reason: str,
    actor: str,
    now: datetime,
) -> AccountRecord:
    """Compliance moves an account along an allowed transition."""
    account = locked_account(tx, account_id)
    check_transition(account.status, wanted)
    return set_status(tx, account, wanted, reason=reason, actor=actor, now=now)
