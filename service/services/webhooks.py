"""Webhook endpoints: create, list, change, delete, rotate the secret, list
deliveries, replay (API.md, Webhooks). The console uses these too.

Secrets are ``whsec_`` + base64 of 24 random bytes (the Standard Webhooks
form). A rotation keeps the previous secret signing beside the new one for
24 hours, so a consumer can switch without rejecting a single delivery.
"""

from __future__ import annotations

import base64
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from service.db import webhooks as repo
from service.domain.errors import NotFound
from service.domain.events import ROTATION_OVERLAP
from service.services import pagination
from service.services.views import Page


@dataclass(frozen=True, slots=True)
class EndpointView:
    id: uuid.UUID
    url: str
    event_types: tuple[str, ...]
    description: str
    status: str
    created_at: datetime
    #: Only when it was just created or rotated.
    secret: str | None = None


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def _view(row: repo.EndpointRow, secret: str | None = None) -> EndpointView:
    return EndpointView(
        id=row.id,
        url=row.url,
        event_types=row.event_types,
        description=row.description,
        status=row.status,
        created_at=row.created_at,
        secret=secret,
    )


def _found(conn: Connection, endpoint_id: uuid.UUID) -> repo.EndpointRow:
    row = repo.find_endpoint(conn, endpoint_id)
    if row is None:
        raise NotFound(f"no webhook endpoint {endpoint_id}", code="webhook_endpoint_not_found")
    return row


def create_endpoint(
    tx: Connection, *, url: str, event_types: list[str], description: str, now: datetime
) -> EndpointView:
    """A new endpoint gets the events committed from now on (replay for older ones)."""
    secret = new_secret()
    row = repo.insert_endpoint(
        tx, url=url, event_types=event_types, description=description, secret=secret, now=now
    )
    return _view(row, secret)


def get_endpoint(conn: Connection, endpoint_id: uuid.UUID) -> EndpointView:
    return _view(_found(conn, endpoint_id))


def list_endpoints(conn: Connection, *, limit: int, cursor: str | None) -> Page[EndpointView]:
    before = pagination.decode(cursor) if cursor is not None else None
    rows = repo.list_endpoints(conn, before=before, limit=limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = pagination.encode(rows[-1].created_at, rows[-1].id) if more else None
    return Page(tuple(_view(r) for r in rows), next_cursor)


def update_endpoint(
    tx: Connection, endpoint_id: uuid.UUID, changes: dict[str, Any], *, now: datetime
) -> EndpointView:
    """Change ``url``, ``event_types``, ``description`` or ``status``. A changed
    type filter applies to events queued from then on."""
    _found(tx, endpoint_id)
    allowed = {
        k: v for k, v in changes.items() if k in ("url", "event_types", "description", "status")
    }
    repo.update_endpoint(tx, endpoint_id, {**allowed, "updated_at": now})
    return get_endpoint(tx, endpoint_id)


def delete_endpoint(tx: Connection, endpoint_id: uuid.UUID) -> None:
    if not repo.delete_endpoint(tx, endpoint_id):
        raise NotFound(f"no webhook endpoint {endpoint_id}", code="webhook_endpoint_not_found")


def rotate_secret(tx: Connection, endpoint_id: uuid.UUID, *, now: datetime) -> str:
    """A new secret; the current one keeps signing beside it for 24 hours."""
    row = _found(tx, endpoint_id)
    secret = new_secret()
    repo.update_endpoint(
        tx,
        endpoint_id,
        {
            "secret": secret,
            "previous_secret": row.secret,
            "previous_secret_until": now + ROTATION_OVERLAP,
            "updated_at": now,
        },
    )
    return secret


def list_deliveries(
    conn: Connection,
    endpoint_id: uuid.UUID,
    *,
    status: str | None,
    limit: int,
    cursor: str | None,
) -> Page[repo.DeliveryRow]:
    """The endpoint's deliveries, newest first."""
    _found(conn, endpoint_id)
    before = pagination.decode(cursor) if cursor is not None else None
    rows = repo.list_deliveries(conn, endpoint_id, status=status, before=before, limit=limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = pagination.encode(rows[-1].created_at, rows[-1].id) if more else None
    return Page(tuple(rows), next_cursor)


def replay(tx: Connection, endpoint_id: uuid.UUID, *, after: int, now: datetime) -> int:
    """Queue again every matching event after ``after``; returns how many."""
    return repo.queue_replay(tx, _found(tx, endpoint_id), after=after, now=now)
