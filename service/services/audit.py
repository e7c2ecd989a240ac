"""The audit log, read per account: who did what to it, why and when.

Written (by :func:`service.db.repositories.audit`) in the same transaction as
the change it records, so a change and its record are kept or lost together.
Actions recorded for an account: ``status_change`` (compliance, a chargeback,
an archive), ``jurisdiction_flag``, ``withdrawal_approved`` /
``withdrawal_rejected`` (review decisions), ``chargeback``,
``final_withdrawal`` and its outcome. The actor is the API key's name.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from service.db import repositories
from service.services import pagination
from service.services.accounts import get_account
from service.services.views import Page


@dataclass(frozen=True, slots=True)
class AuditView:
    id: uuid.UUID
    at: datetime
    actor: str
    action: str
    reason: str
    details: dict[str, Any]


def list_audit(
    conn: Connection, account_id: uuid.UUID, *, limit: int, cursor: str | None
) -> Page[AuditView]:
    """The account's audit entries, newest first (404 for an unknown account)."""
    get_account(conn, account_id)
    rows = repositories.audit_page(
        conn,
        account_id,
        limit=limit + 1,
        after=None if cursor is None else pagination.decode(cursor),
    )
    more = len(rows) > limit
    rows = rows[:limit]
    items = tuple(
        AuditView(r.id, r.at, r.actor, r.action, r.reason, json.loads(r.details or "{}"))
        for r in rows
    )
    next_cursor = pagination.encode(rows[-1].at, rows[-1].id) if more else None
    return Page(items, next_cursor)
