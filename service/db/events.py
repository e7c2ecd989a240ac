"""The event outbox: appending events, numbering committed ones, reading the feed.

Rule (API.md, Events): an event is written by the same transaction as its
change, so a rolled-back change leaves no event and a committed one always has
its event. Callers pass their own ``tx``; nothing here commits.

Ordering: a reader that follows ``next_after`` must see every event once and
in order even when transactions commit out of order. So the sequence is not
taken at insert (A takes 104, B takes 105, B commits first: a reader past 105
never sees 104). On PostgreSQL events are inserted unnumbered, and
:func:`sequence_committed` numbers committed events afterwards, in one place.
Why a reader can then never miss an event:

1. numbering steps take turns on the ``event_sequence`` row lock, and each
   continues from the ``last`` the previous step committed: numbers are
   unique and grow in the order the steps commit;
2. a step numbers only events its snapshot sees, i.e. committed ones, and a
   number never changes;
3. a step takes the lock only after the previous step committed and became
   visible, so any snapshot that sees a step's numbers sees every earlier
   step's: what a reader can see is always the whole prefix ``1..last``;
4. so a reader that has read through ``n`` has seen every number up to ``n``,
   and an event not numbered yet (its transaction commits later, however
   early it started) gets a number above ``last >= n``.

Within a step, events are numbered by (inserting transaction id, id), which
keeps each transaction's events together in the order it wrote them. The
reader never waits for old open transactions (a snapshot-xmin cut would make
every event wait for the longest-running writer of the whole cluster). On
SQLite a trigger numbers each event at insert: its writers are serialized
(``BEGIN IMMEDIATE``), so insert order is commit order.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any, cast

from sqlalchemy import Connection, and_, delete, func, select, text, update

from service.db.dialect import IdSet, Part, id_in, insert_together
from service.db.tables import assets, event_sequence, events, hold_lots, holds
from service.domain.ids import new_id
from service.domain.money import format_minor
from service.domain.timestamps import format_utc

#: How many committed events one sequencer step numbers at most.
SEQUENCE_BATCH = 20_000

#: The PostgreSQL channel the sequencer notifies when it numbered events.
#: Writers do not notify: a NOTIFY takes a database-wide lock from its
#: commit's start to its end, so notifying writers would commit one at a time.
CHANNEL = "ledger_events"


def row(
    type_: str, data: dict[str, Any], *, account_id: uuid.UUID | None, occurred_at: datetime
) -> dict[str, Any]:
    """One event row, ready for :func:`append_rows` or :func:`part`.

    ``body`` is the event's JSON without its ``sequence`` (not known yet on
    PostgreSQL): a reader's page is then the stored bodies with the sequence
    spliced in, with no JSON made per event on the way out."""
    return row_json(type_, _COMPACT.encode(data), account_id=account_id, occurred_at=occurred_at)


#: The events' JSON: compact, not ASCII-escaped. One encoder for every event
#: (``json.dumps`` with options builds one per call).
_COMPACT = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def row_json(
    type_: str,
    data_json: str,
    *,
    account_id: uuid.UUID | None,
    occurred_at: datetime,
    event_id: uuid.UUID | None = None,
) -> dict[str, Any]:
    """:func:`row` of data already encoded as :data:`_COMPACT` JSON text."""
    if event_id is None:
        event_id = new_id()
    return {
        "id": event_id,
        "type": type_,
        "occurred_at": occurred_at,
        "account_id": account_id,
        "body": body_json(event_id, type_, data_json, account_id, occurred_at),
    }


def body_json(
    event_id: uuid.UUID,
    type_: str,
    data_json: str,
    account_id: uuid.UUID | None,
    occurred_at: datetime,
) -> str:
    """An event's stored body: ``_COMPACT.encode`` of ``{"id", "type",
    "occurred_at", "account_id", "data"}`` with the data already encoded,
    written out (an id, a UTC time and a type code need no escaping).
    tests/unit/test_deposit_dump.py compares it with the encoder's text."""
    account = "null" if account_id is None else f'"{account_id}"'
    return (
        f'{{"id":"{event_id}","type":{_type_json(type_)},'
        f'"occurred_at":"{format_utc(occurred_at)}","account_id":{account},"data":{data_json}}}'
    )


@lru_cache(maxsize=64)
def _type_json(type_: str) -> str:
    return _COMPACT.encode(type_)


def part(rows: Sequence[dict[str, Any]]) -> Part:
    """The events' share of :func:`service.db.dialect.insert_together`, so the hot
    deposit path writes its events in the statement it runs anyway."""
    return (events, rows, ())


def append_rows(tx: Connection, rows: Sequence[dict[str, Any]]) -> None:
    """Append events in the caller's transaction, in the order given."""
    if rows:
        insert_together(tx, [part(rows)])


def append(
    tx: Connection,
    type_: str,
    data: dict[str, Any],
    *,
    account_id: uuid.UUID | None,
    occurred_at: datetime,
) -> None:
    append_rows(tx, [row(type_, data, account_id=account_id, occurred_at=occurred_at)])


# -- the sequencer (PostgreSQL) ------------------------------------------------------

_PENDING = text("SELECT 1 FROM events WHERE sequence IS NULL LIMIT 1")

_NOTIFY = text(f"SELECT pg_notify('{CHANNEL}', '')")

_LOCK = text("SELECT last FROM event_sequence WHERE id = 1 FOR UPDATE")

_NUMBER = text(
    """
WITH todo AS (
    SELECT id, row_number() OVER (ORDER BY txid, id) AS n
    FROM (
        SELECT id, txid FROM events
        WHERE sequence IS NULL
        ORDER BY txid, id
        LIMIT :batch
    ) AS cut
),
numbered AS (
    UPDATE events SET sequence = :last + todo.n
    FROM todo WHERE events.id = todo.id
    RETURNING 1
)
UPDATE event_sequence SET last = :last + (SELECT count(*) FROM numbered)
WHERE id = 1
RETURNING last - :last
"""
)


def has_unsequenced(conn: Connection) -> bool:
    """Whether some committed event waits for its number (PostgreSQL; one
    probe of the partial index of unnumbered events)."""
    if conn.dialect.name != "postgresql":
        return False
    return conn.execute(_PENDING).first() is not None


def sequence_committed(tx: Connection, batch: int = SEQUENCE_BATCH) -> int:
    """Number the committed events not numbered yet; return how many (PostgreSQL).

    Run in a transaction of its own (the module docstring proves the rule).
    The numbering statement runs after the ``event_sequence`` row lock is
    granted, so its snapshot sees every number the previous holder committed.
    """
    if tx.dialect.name != "postgresql":
        return 0
    last = tx.execute(_LOCK).scalar_one()
    numbered = int(tx.execute(_NUMBER, {"last": last, "batch": batch}).scalar_one())
    if numbered:
        tx.execute(_NOTIFY)
    return numbered


# -- reading ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StoredEvent:
    id: uuid.UUID
    sequence: int
    type: str
    occurred_at: datetime
    account_id: uuid.UUID | None
    #: The event's JSON without ``sequence``, as stored.
    body: str


@dataclass(frozen=True, slots=True)
class Cursor:
    """The feed's bounds: the last sequence given, and the last one purged."""

    last: int
    purged_through: int


def cursor(conn: Connection) -> Cursor:
    last, purged = conn.execute(
        select(event_sequence.c.last, event_sequence.c.purged_through).where(
            event_sequence.c.id == 1
        )
    ).one()
    return Cursor(int(last), int(purged))


def read(
    conn: Connection,
    *,
    after: int,
    through: int,
    limit: int,
    types: Sequence[str] = (),
    account_id: uuid.UUID | None = None,
) -> list[StoredEvent]:
    """Numbered events with ``after < sequence <= through`` matching the filters,
    ascending, at most ``limit``."""
    query = select(
        events.c.id,
        events.c.sequence,
        events.c.type,
        events.c.occurred_at,
        events.c.account_id,
        events.c.body,
    ).where(events.c.sequence > after, events.c.sequence <= through)
    if types:
        query = query.where(events.c.type.in_(list(types)))
    if account_id is not None:
        query = query.where(events.c.account_id == account_id)
    query = query.order_by(events.c.sequence).limit(limit)
    return [StoredEvent(*r) for r in conn.execute(query)]


def event_json(e: StoredEvent) -> str:
    """One event as JSON text (a feed item, and a webhook's body)."""
    return spliced(e.sequence, e.body)


def spliced(sequence: int, body: str) -> str:
    """A stored body (the event's JSON object without ``sequence``) with the
    sequence spliced in as its first member."""
    return f'{{"sequence":{int(sequence)},{body[1:]}'


def read_json(
    conn: Connection,
    *,
    after: int,
    through: int,
    limit: int,
    types: Sequence[str] = (),
    account_id: uuid.UUID | None = None,
) -> tuple[str, int, int | None]:
    """Like :func:`read`, as the JSON text of the items joined by commas, with
    their count and last sequence. The stored bodies are read as they are and
    the sequence is spliced in here (:func:`spliced`): no JSON is parsed or
    made per event. Splicing in SQL (``substr`` of the body) cost PostgreSQL
    about 5 µs per event, two thirds of the page's query, because ``substr``
    of UTF-8 text counts characters; the Python slice copies bytes."""
    if conn.dialect.name != "postgresql":
        items = read(
            conn, after=after, through=through, limit=limit, types=types, account_id=account_id
        )
        pairs = [(e.sequence, e.body) for e in items]
    else:
        pairs = _pg_page(conn, after, through, limit, types, account_id)
    joined = ",".join([spliced(seq, body) for seq, body in pairs])
    return joined, len(pairs), int(pairs[-1][0]) if pairs else None


def _pg_page(
    conn: Connection,
    after: int,
    through: int,
    limit: int,
    types: Sequence[str],
    account_id: uuid.UUID | None,
) -> list[tuple[int, str]]:
    """(sequence, body) of one page, by a range scan of the sequence index
    (the cost of a page does not grow with its position in the feed)."""
    # The bounds and the limit are written into the statement (integers, so
    # safe): as parameters, psycopg prepares the statement after five runs and
    # PostgreSQL may then pick a generic plan that cannot know the range is
    # narrow (a reader catching up would scan and sort the whole table).
    conditions = [f"sequence > {int(after)}", f"sequence <= {int(through)}"]
    params: dict[str, Any] = {}
    if types:
        conditions.append("type = ANY(CAST(:types AS text[]))")
        params["types"] = list(types)
    if account_id is not None:
        conditions.append("account_id = :account_id")
        params["account_id"] = account_id
    sql = text(
        f"SELECT sequence, body FROM events WHERE {' AND '.join(conditions)} "
        f"ORDER BY sequence LIMIT {int(limit)}"
    )
    return cast(list[tuple[int, str]], conn.execute(sql, params).all())


def by_ids(conn: Connection, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, StoredEvent]:
    if not ids:
        return {}
    query = select(
        events.c.id,
        events.c.sequence,
        events.c.type,
        events.c.occurred_at,
        events.c.account_id,
        events.c.body,
    ).where(events.c.id.in_(list(ids)))
    return {r[0]: StoredEvent(*r) for r in conn.execute(query)}


# -- retention --------------------------------------------------------------------


def purge_before(tx: Connection, cutoff: datetime, batch: int = 10_000) -> int:
    """Delete the oldest numbered events, up to ``batch``, while they occurred
    before ``cutoff``, and remember the highest sequence purged: a reader
    behind it gets 410. Walks the sequence index from its start (events are
    numbered in about the order they occur), so it stops at the first recent
    event instead of scanning the table."""
    oldest = (
        select(events.c.sequence, events.c.occurred_at)
        .where(events.c.sequence.is_not(None))
        .order_by(events.c.sequence)
        .limit(batch)
        .subquery()
    )
    highest = tx.execute(
        select(func.max(oldest.c.sequence)).where(oldest.c.occurred_at < cutoff)
    ).scalar_one()
    if highest is None:
        return 0
    deleted = tx.execute(
        delete(events).where(events.c.sequence <= highest, events.c.sequence.is_not(None))
    ).rowcount
    tx.execute(
        update(event_sequence)
        .where(event_sequence.c.id == 1, event_sequence.c.purged_through < highest)
        .values(purged_through=highest)
    )
    return int(deleted)


# -- set-based events ---------------------------------------------------------------


def append_hold_released(tx: Connection, claimed: IdSet, now: datetime) -> None:
    """Append the ``hold.released`` events of a claimed release batch (ids in
    claim order: by release time, then id) as :func:`hold_released_rows`
    builds them, before the release empties the lots. On PostgreSQL the
    release statement writes them itself, from :data:`PG_HOLD_RELEASED_BODY`
    (``service.db.holds``): no JSON is built in Python."""
    append_rows(tx, hold_released_rows(tx, claimed, now))


#: The body of a ``hold.released`` event built by PostgreSQL, byte for byte
#: the JSON that :func:`row` makes of :func:`hold_released_rows`' data:
#: compact, keys in the same order, times as
#: :func:`~service.domain.timestamps.format_utc` writes them (microseconds
#: only when not zero), amounts as :func:`~service.domain.money.format_minor`
#: does. It reads the event id ``e.id``, the hold ``h`` (``id``, ``account_id``,
#: ``deposit_id``, ``release_at``), the hold's lots as :data:`PG_LOTS_JSON`
#: writes them in ``l.lots``, and the release time as text, ``:now_text``.
PG_HOLD_RELEASED_BODY = """
       '{"id":"' || e.id::text || '","type":"hold.released","occurred_at":"' || :now_text
       || '","account_id":"' || h.account_id::text || '","data":{"hold_id":"' || h.id::text
       || '","account_id":"' || h.account_id::text || '","deposit_id":"' || h.deposit_id::text
       || '","release_at":"'
       || to_char(h.release_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS')
       || CASE WHEN extract(microseconds FROM h.release_at)::bigint % 1000000 <> 0
               THEN '.' || to_char(h.release_at AT TIME ZONE 'UTC', 'US') ELSE '' END
       || 'Z","released_at":"' || :now_text || '","lots":[' || coalesce(l.lots, '') || ']}}'
"""

#: ``hold_id`` and ``lots``, the JSON of the non-empty lots of each hold, in
#: asset order, from the rows (``hold_id``, ``asset``, ``amount``) of the
#: release statement's ``lots``.
PG_LOTS_JSON = """
      SELECT l.hold_id,
             string_agg('{"asset":' || to_json(l.asset)::text || ',"amount":"'
                        || CASE WHEN l.amount < 0 THEN '-' ELSE '' END
                        || CASE WHEN a.scale = 0 THEN d.digits
                                ELSE left(d.digits, -a.scale) || '.' || right(d.digits, a.scale)
                           END || '"}', ',' ORDER BY l.asset) AS lots
        FROM lots l JOIN assets a ON a.code = l.asset
       CROSS JOIN LATERAL (
           SELECT lpad(abs(l.amount)::text,
                       greatest(length(abs(l.amount)::text), a.scale + 1), '0') AS digits
       ) d
       WHERE l.amount <> 0
       GROUP BY l.hold_id
"""


def hold_released_rows(conn: Connection, claimed: IdSet, now: datetime) -> list[dict[str, Any]]:
    """``hold.released`` rows for a claimed release batch, read before the
    release postings empty the lots (one query for the whole batch)."""
    query = (
        select(
            holds.c.id,
            holds.c.account_id,
            holds.c.deposit_id,
            holds.c.release_at,
            hold_lots.c.asset,
            hold_lots.c.amount,
            assets.c.scale,
        )
        .select_from(holds)
        .outerjoin(hold_lots, and_(hold_lots.c.hold_id == holds.c.id, hold_lots.c.amount != 0))
        .outerjoin(assets, assets.c.code == hold_lots.c.asset)
        .where(id_in(conn, holds.c.id, claimed))
        .order_by(holds.c.release_at, holds.c.id, hold_lots.c.asset)
    )
    released_at = format_utc(now)
    released: list[tuple[uuid.UUID, dict[str, Any]]] = []
    for hold_id, account_id, deposit_id, release_at, asset, amount, scale in conn.execute(query):
        if not released or released[-1][1]["hold_id"] != str(hold_id):
            data = {
                "hold_id": str(hold_id),
                "account_id": str(account_id),
                "deposit_id": str(deposit_id),
                "release_at": format_utc(release_at),
                "released_at": released_at,
                "lots": [],
            }
            released.append((account_id, data))
        if asset is not None:
            released[-1][1]["lots"].append({"asset": asset, "amount": format_minor(amount, scale)})
    return [
        row("hold.released", data, account_id=account_id, occurred_at=now)
        for account_id, data in released
    ]
