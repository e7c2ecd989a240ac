"""Opening and reading customer accounts."""

from __future__ import annotations

import contextlib
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection

from service.db import repositories
from service.domain.accounts import (
    AccountRecord,
    AccountStatus,
    Tier,
    require_allowed_country,
    require_allowed_registration,
)
from service.domain.errors import Conflict, NotFound
from service.domain.ids import new_id
from service.services import events


@dataclass(frozen=True, slots=True)
class OpenAccount:
    external_id: str
    country: str
    tier: Tier


def open_account(
    tx: Connection,
    cmd: OpenAccount,
    *,
    client_country: str,
    blocked: frozenset[str],
    now: datetime,
) -> AccountRecord:
    """Open an account, refusing blocked jurisdictions (both the client's and the
    account's registered country) and duplicate external ids."""
    require_allowed_country(client_country, blocked)
    require_allowed_registration(cmd.country, blocked)
    if repositories.find_account_by_external_id(tx, cmd.external_id) is not None:
        raise Conflict(
            f"an account with external_id {cmd.external_id!r} exists", code="account_exists"
        )
    record = AccountRecord(
        id=new_id(),
        external_id=cmd.external_id,
        country=cmd.country.upper(),
        tier=cmd.tier,
        status=AccountStatus.ACTIVE,
        created_at=now,
    )
    if not repositories.insert_account(tx, record):  # a concurrent request won the race
        raise Conflict(
            f"an account with external_id {cmd.external_id!r} exists", code="account_exists"
        )
    events.account_opened(tx, record, now)
    return record


def get_account(conn: Connection, account_id: uuid.UUID) -> AccountRecord:
    record = repositories.find_account(conn, account_id)
    if record is None:
        raise NotFound(f"no account {account_id}", code="account_not_found")
    return record


def search_accounts(conn: Connection, text: str, *, limit: int) -> list[AccountRecord]:
    """Staff look an account up by its id, its external id, or the start of it:
    exact matches first (index lookups), then external ids starting with ``text``."""
    text = text.strip()
    if not text:
        return []
    found: dict[uuid.UUID, AccountRecord] = {}
    with contextlib.suppress(ValueError):
        by_id = repositories.find_account(conn, uuid.UUID(text))
        if by_id is not None:
            found[by_id.id] = by_id
    exact = repositories.find_account_by_external_id(conn, text)
    if exact is not None:
        found[exact.id] = exact
    for record in repositories.accounts_with_prefix(conn, text, limit=limit):
        found.setdefault(record.id, record)
    return list(found.values())[:limit]
