"""Webhook endpoints and their deliveries in the database.

An endpoint's ``cursor`` is the last event sequence queued for it: queuing
(:func:`queue_new_events`) turns the numbered events after it that match the
endpoint's types into ``pending`` deliveries, in sequence order. Deliveries
of one endpoint are sent oldest first (by id, which follows queuing order),
and only by the deliverer holding the endpoint's lease (:func:`take_lease`):
a conditional UPDATE, so it needs no long transaction and works the same on
both databases.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, func, insert, literal, or_, select, update

from service.db.events import SEQUENCE_BATCH, sequence_committed
from service.db.tables import event_sequence, events, webhook_deliveries, webhook_endpoints
from service.domain.ids import new_id


@dataclass(frozen=True, slots=True)
class EndpointRow:
    id: uuid.UUID
    url: str
    event_types: tuple[str, ...]
    description: str
    status: str
    secret: str
    previous_secret: str | None
    previous_secret_until: datetime | None
    cursor: int
    created_at: datetime


@dataclass(frozen=True, slots=True)
class DeliveryRow:
    id: uuid.UUID
    endpoint_id: uuid.UUID
    event_id: uuid.UUID
    sequence: int
    event_type: str
    status: str
    attempts: int
    last_status_code: int | None
    last_error: str | None
    next_attempt_at: datetime | None
    delivered_at: datetime | None
    created_at: datetime


def _endpoint(row: Any) -> EndpointRow:
    return EndpointRow(
        id=row.id,
        url=row.url,
        event_types=tuple(json.loads(row.event_types)),
        description=row.description,
        status=row.status,
        secret=row.secret,
        previous_secret=row.previous_secret,
        previous_secret_until=row.previous_secret_until,
        cursor=int(row.cursor),
        created_at=row.created_at,
    )


_DELIVERY_COLUMNS = list(webhook_deliveries.c)


def _delivery(row: Any) -> DeliveryRow:
    return DeliveryRow(*row)


# -- endpoints ----------------------------------------------------------------------


def last_sequence(conn: Connection) -> int:
    return int(
        conn.execute(select(event_sequence.c.last).where(event_sequence.c.id == 1)).scalar_one()
    )


def insert_endpoint(
    tx: Connection,
    *,
    url: str,
    event_types: list[str],
    description: str,
    secret: str,
    now: datetime,
) -> EndpointRow:
    """A new endpoint receives the events committed after its creation.

    Its cursor is the last sequence once every event committed so far is
    numbered: on PostgreSQL an event is numbered after its commit, and one that
    committed before the endpoint but was not numbered yet would otherwise get
    a number above the cursor and be sent (replay is for older events). The
    numbering step holds the sequence lock to this transaction's commit.
    """
    while sequence_committed(tx) == SEQUENCE_BATCH:
        continue
    endpoint_id = new_id()
    tx.execute(
        insert(webhook_endpoints).values(
            id=endpoint_id,
            url=url,
            event_types=json.dumps(sorted(set(event_types))),
            description=description,
            status="enabled",
            secret=secret,
            cursor=last_sequence(tx),
            created_at=now,
            updated_at=now,
        )
    )
    found = find_endpoint(tx, endpoint_id)
    assert found is not None
    return found


def find_endpoint(conn: Connection, endpoint_id: uuid.UUID) -> EndpointRow | None:
    row = conn.execute(
        select(webhook_endpoints).where(webhook_endpoints.c.id == endpoint_id)
    ).first()
    return None if row is None else _endpoint(row)


def list_endpoints(
    conn: Connection, *, before: tuple[datetime, uuid.UUID] | None, limit: int
) -> list[EndpointRow]:
    """Newest first."""
    table = webhook_endpoints
    query = select(table)
    if before is not None:
        at, last_id = before
        query = query.where(
            (table.c.created_at < at) | ((table.c.created_at == at) & (table.c.id < last_id))
        )
    query = query.order_by(table.c.created_at.desc(), table.c.id.desc()).limit(limit)
    return [_endpoint(r) for r in conn.execute(query)]


def update_endpoint(tx: Connection, endpoint_id: uuid.UUID, values: dict[str, Any]) -> bool:
    if "event_types" in values:
        values = {**values, "event_types": json.dumps(sorted(set(values["event_types"])))}
    result = tx.execute(
        update(webhook_endpoints).where(webhook_endpoints.c.id == endpoint_id).values(**values)
    )
    return bool(result.rowcount)


def delete_endpoint(tx: Connection, endpoint_id: uuid.UUID) -> bool:
    tx.execute(delete(webhook_deliveries).where(webhook_deliveries.c.endpoint_id == endpoint_id))
    result = tx.execute(delete(webhook_endpoints).where(webhook_endpoints.c.id == endpoint_id))
    return bool(result.rowcount)


# -- deliveries ---------------------------------------------------------------------


def list_deliveries(
    conn: Connection,
    endpoint_id: uuid.UUID,
    *,
    status: str | None,
    before: tuple[datetime, uuid.UUID] | None,
    limit: int,
) -> list[DeliveryRow]:
    """Newest first."""
    table = webhook_deliveries
    query = select(*_DELIVERY_COLUMNS).where(table.c.endpoint_id == endpoint_id)
    if status is not None:
        query = query.where(table.c.status == status)
    if before is not None:
        at, last_id = before
        query = query.where(
            (table.c.created_at < at) | ((table.c.created_at == at) & (table.c.id < last_id))
        )
    query = query.order_by(table.c.created_at.desc(), table.c.id.desc()).limit(limit)
    return [_delivery(r) for r in conn.execute(query)]


def _queue(
    tx: Connection,
    endpoint: EndpointRow,
    *,
    after: int,
    through: int,
    limit: int | None,
    now: datetime,
) -> tuple[int, int]:
    """Queue the matching numbered events in ``(after, through]``, oldest first;
    return (queued, the last sequence looked at)."""
    query = (
        select(events.c.id, events.c.sequence, events.c.type)
        .where(events.c.sequence > after, events.c.sequence <= through)
        .order_by(events.c.sequence)
    )
    if endpoint.event_types:
        query = query.where(events.c.type.in_(list(endpoint.event_types)))
    if limit is not None:
        query = query.limit(limit)
    found = list(tx.execute(query))
    if found:
        tx.execute(
            insert(webhook_deliveries),
            [
                {
                    "id": new_id(),
                    "endpoint_id": endpoint.id,
                    "event_id": event_id,
                    "sequence": sequence,
                    "event_type": type_,
                    "status": "pending",
                    "attempts": 0,
                    "next_attempt_at": now,
                    "created_at": now,
                }
                for event_id, sequence, type_ in found
            ],
        )
    looked_at = through if limit is None or len(found) < limit else int(found[-1][1])
    return len(found), looked_at


def queue_new_events(tx: Connection, endpoint: EndpointRow, *, limit: int, now: datetime) -> int:
    """Queue the events numbered since the endpoint's cursor and move the cursor."""
    through = min(last_sequence(tx), endpoint.cursor + 100_000)
    if through <= endpoint.cursor:
        return 0
    queued, looked_at = _queue(
        tx, endpoint, after=endpoint.cursor, through=through, limit=limit, now=now
    )
    tx.execute(
        update(webhook_endpoints)
        .where(webhook_endpoints.c.id == endpoint.id, webhook_endpoints.c.cursor < looked_at)
        .values(cursor=looked_at)
    )
    return queued


def queue_replay(tx: Connection, endpoint: EndpointRow, *, after: int, now: datetime) -> int:
    """Queue again every matching event after ``after`` up to the endpoint's
    cursor (later ones are queued by the deliverer as usual)."""
    queued, _ = _queue(tx, endpoint, after=after, through=endpoint.cursor, limit=None, now=now)
    return queued


def next_pending(conn: Connection, endpoint_id: uuid.UUID) -> DeliveryRow | None:
    """The endpoint's oldest pending delivery: the only one that may be sent."""
    table = webhook_deliveries
    row = conn.execute(
        select(*_DELIVERY_COLUMNS)
        .where(table.c.endpoint_id == endpoint_id, table.c.status == "pending")
        .order_by(table.c.id)
        .limit(1)
    ).first()
    return None if row is None else _delivery(row)


def record_attempt(tx: Connection, delivery_id: uuid.UUID, values: dict[str, Any]) -> None:
    tx.execute(
        update(webhook_deliveries).where(webhook_deliveries.c.id == delivery_id).values(**values)
    )


# -- leases -------------------------------------------------------------------------


def endpoints_with_work(conn: Connection, now: datetime, limit: int = 100) -> list[uuid.UUID]:
    """Enabled endpoints nobody holds a lease on that have a due pending
    delivery or events past their cursor."""
    table, d = webhook_endpoints, webhook_deliveries
    first_pending = (
        select(d.c.next_attempt_at)
        .where(d.c.endpoint_id == table.c.id, d.c.status == "pending")
        .order_by(d.c.id)
        .limit(1)
        .scalar_subquery()
    )
    has_pending = (
        select(literal(1)).where(d.c.endpoint_id == table.c.id, d.c.status == "pending").exists()
    )
    last = select(event_sequence.c.last).where(event_sequence.c.id == 1).scalar_subquery()
    query = (
        select(table.c.id)
        .where(
            table.c.status == "enabled",
            or_(table.c.lease_until.is_(None), table.c.lease_until < now),
            or_(first_pending <= now, ~has_pending & (table.c.cursor < last)),
        )
        .order_by(func.coalesce(first_pending, now), table.c.id)
        .limit(limit)
    )
    return [r[0] for r in conn.execute(query)]


def take_lease(
    tx: Connection, endpoint_id: uuid.UUID, owner: uuid.UUID, *, now: datetime, until: datetime
) -> bool:
    """Take (or renew) the endpoint's lease: only when it is free, expired or
    ours, and the endpoint is enabled."""
    table = webhook_endpoints
    result = tx.execute(
        update(table)
        .where(
            table.c.id == endpoint_id,
            table.c.status == "enabled",
            or_(
                table.c.lease_until.is_(None),
                table.c.lease_until < now,
                table.c.lease_owner == owner,
            ),
        )
        .values(lease_owner=owner, lease_until=until)
    )
    return bool(result.rowcount)


def drop_lease(tx: Connection, endpoint_id: uuid.UUID, owner: uuid.UUID) -> None:
    table = webhook_endpoints
    tx.execute(
        update(table)
        .where(table.c.id == endpoint_id, table.c.lease_owner == owner)
        .values(lease_owner=None, lease_until=None)
    )
