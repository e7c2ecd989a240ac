"""Jurisdiction enforcement on money movements (DESIGN.md section 5).

A money movement for an existing account from a blocked country is refused
(403 ``jurisdiction_blocked``) *and* flags the account ``read_only``. The flag
is committed in its own transaction before the refusal is raised: the refusal
rolls back the movement, but must not roll back the flag.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import Connection

from service.db import repositories
from service.db.database import Database
from service.domain.accounts import AccountStatus, is_blocked_country, require_allowed_country
from service.services import events


def guard_jurisdiction(
    db: Database,
    account_ids: Iterable[uuid.UUID],
    country: str,
    *,
    blocked: frozenset[str],
    actor: str,
    now: datetime,
) -> None:
    """Refuse a movement from a blocked ``country``, after flagging every active
    account it names (a settlement file names many) in one transaction.
    Takes the database: the flags commit in a transaction of their own, since
    the caller's is rolled back by the refusal."""
    if not is_blocked_country(country, blocked):
        return
    with db.write() as tx:
        for account_id in sorted(set(account_ids)):
            _flag(tx, account_id, country, actor=actor, now=now)
    require_allowed_country(country, blocked)


def _flag(
    tx: Connection, account_id: uuid.UUID, country: str, *, actor: str, now: datetime
) -> None:
    account = repositories.find_account(tx, account_id)
    if account is not None and account.status is AccountStatus.ACTIVE:
        repositories.set_account_status(tx, account_id, AccountStatus.READ_ONLY)
        repositories.audit(
            tx,
            at=now,
            actor=actor,
            action="jurisdiction_flag",
            reason=f"money movement attempted from blocked country {country}",
            account_id=account_id,
            details={
                "from": account.status.value,
                "to": AccountStatus.READ_ONLY.value,
                "country": country,
            },
        )
        events.status_changed(
            tx,
            account_id,
            account.status,
            AccountStatus.READ_ONLY,
            reason=f"money movement attempted from blocked country {country}",
            actor=actor,
            now=now,
        )
