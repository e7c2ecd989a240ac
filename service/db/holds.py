"""Holds, their lots, hold policies and calendar overrides in the database.

The release (:func:`release_batch`) is set-based: one batch of due holds is
claimed and released with a fixed handful of statements whatever its size, and
memory does not grow with the number of holds. A release books one
journal entry per customer account and batch; each hold names the entry that
released it, and that name, once set, never changes (migration 0014), so no
hold is ever released twice.
"""

from __future__ import annotations

import json
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Connection,
    LargeBinary,
    Text,
    Uuid,
    and_,
    any_,
    bindparam,
    case,
    cast,
    func,
    insert,
    literal,
    or_,
    select,
    text,
    union_all,
    update,
)

from service.db import events
from service.db.dialect import (
    IdSet,
    id_in,
    pg_uuid7,
    select_ids,
    skip_locked,
    upsert,
    uuid_text,
)
from service.db.pagination import newest_first
from service.db.tables import (
    account_hold_policies,
    calendar_overrides,
    deposits,
    hold_lots,
    hold_policies,
    holds,
    journal_entries,
    ledger_accounts,
    postings,
)
from service.domain import ids
from service.domain.chart import Bucket
from service.domain.holds import HoldStatus, Lot
from service.domain.posting import EntryType
from service.domain.timestamps import format_utc


@dataclass
class ReleaseResult:
    released: int = 0
    totals: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def add(self, other: ReleaseResult) -> None:
        self.released += other.released
        for asset, amount in other.totals.items():
            self.totals[asset] += amount


# -- policies -----------------------------------------------------------------


def policy_days(conn: Connection, account_id: uuid.UUID, method: str) -> int:
    """The account's override for ``method``, else the platform policy (0 if none)."""
    override = select(
        account_hold_policies.c.business_days.label("d"), literal(0).label("p")
    ).where(
        account_hold_policies.c.account_id == account_id, account_hold_policies.c.method == method
    )
    platform = select(hold_policies.c.business_days.label("d"), literal(1).label("p")).where(
        hold_policies.c.method == method
    )
    both = union_all(override, platform).subquery()
    row = conn.execute(select(both.c.d).order_by(both.c.p).limit(1)).first()
    return 0 if row is None else int(row[0])


def all_policies(conn: Connection) -> dict[str, int]:
    return dict(conn.execute(select(hold_policies).order_by(hold_policies.c.method)).all())


def policies_column(dialect: str) -> Any:
    """The platform hold policies as one JSON object ``{method: days}``, a
    scalar subquery for embedding in the statement a deposit runs anyway.

    Read fresh by every deposit, never cached: a policy an operator changed
    for fraud reasons holds for every deposit accepted after the change's
    response, in every process, at the cost of reading four rows.
    """
    aggregate = (
        func.json_object_agg(hold_policies.c.method, hold_policies.c.business_days)
        if dialect == "postgresql"
        else func.json_group_object(hold_policies.c.method, hold_policies.c.business_days)
    )
    return cast(select(aggregate).scalar_subquery(), Text)


def parse_policies(value: str | None) -> dict[str, int]:
    return {str(k): int(v) for k, v in json.loads(value or "{}").items()}


def set_policy(conn: Connection, method: str, days: int) -> None:
    stmt = upsert(conn, hold_policies).values(method=method, business_days=days)
    conn.execute(
        stmt.on_conflict_do_update(index_elements=["method"], set_={"business_days": days})
    )


def set_account_policy(
    conn: Connection, account_id: uuid.UUID, method: str, days: int | None
) -> None:
    table = account_hold_policies
    conn.execute(table.delete().where(table.c.account_id == account_id, table.c.method == method))
    if days is not None:
        conn.execute(insert(table).values(account_id=account_id, method=method, business_days=days))


# -- calendar overrides -------------------------------------------------------


#: What a calendar read returns: (closures, openings), each a name by date.
Overrides = tuple[dict[date, str], dict[date, str]]


def overrides_column(dialect: str) -> Any:
    """A column that takes the calendar lock (shared) and reads the overrides,
    for embedding in a statement a use case runs anyway (PostgreSQL), or
    ``None`` where the overrides are read by :func:`overrides` (SQLite).

    Migration 0004's ``ledger_calendar_overrides`` takes the lock *before* it
    reads, with a fresh snapshot: a reader that waited for a calendar change
    sees that change. As a scalar subquery it runs once per statement; as text,
    the caller parses it once (:func:`parse_overrides`), not once per row."""
    if dialect != "postgresql":
        return None
    return cast(select(func.ledger_calendar_overrides(False)).scalar_subquery(), Text)


def overrides(conn: Connection, *, exclusive: bool = False) -> Overrides:
    """(closures, openings) by date, read under the calendar lock (PostgreSQL:
    shared, or ``exclusive`` for a change; SQLite's write lock is already held)."""
    if conn.dialect.name == "postgresql":
        stmt = select(func.ledger_calendar_overrides(bindparam("exclusive")))
        return parse_overrides(conn.execute(stmt, {"exclusive": exclusive}).scalar_one())
    table = calendar_overrides
    return _split(conn.execute(select(table.c.day, table.c.business_day, table.c.name)))


def parse_overrides(value: Any) -> Overrides:
    """The JSON array ``[[day, business_day, name], ...]`` that
    ``ledger_calendar_overrides`` returns (parsed, or as the text of
    :func:`overrides_column`)."""
    if isinstance(value, str):
        value = json.loads(value)
    return _split((date.fromisoformat(day), open_, name) for day, open_, name in value)


def _split(rows: Any) -> Overrides:
    closures: dict[date, str] = {}
    openings: dict[date, str] = {}
    for day, business_day, name in rows:
        (openings if business_day else closures)[day] = name
    return closures, openings


# -- holds and lots -------------------------------------------------------------


def lock_spendable_lots(
    conn: Connection, account_id: uuid.UUID, asset: str, needed: int
) -> list[tuple[uuid.UUID, int, datetime]]:
    """Lock the active holds whose lots in ``asset`` a sale of ``needed`` minor
    units will spend — the shortest run of lots, earliest release first, that
    covers it (all of them if they do not) — and return those lots (hold id,
    amount, release time) in spending order.

    Only that prefix is locked, so a trade costs the same whether the account has
    two active holds or two thousand. Holds are locked before any balance (the
    global lock order), and a lot only changes under its hold's lock, so the
    amounts returned stay true until commit. If a concurrent change left the
    locked prefix short, every candidate is locked instead.
    """
    rows = _lock_lots(conn, account_id, asset, needed)
    if sum(amount for _, amount, _ in rows) < needed:
        rows = _lock_lots(conn, account_id, asset, None)
    return rows


def _lock_lots(
    conn: Connection, account_id: uuid.UUID, asset: str, needed: int | None
) -> list[tuple[uuid.UUID, int, datetime]]:
    conditions = (
        holds.c.account_id == account_id,
        holds.c.status == HoldStatus.ACTIVE.value,
        hold_lots.c.asset == asset,
        hold_lots.c.amount > 0,
    )
    spending_order = (holds.c.release_at, holds.c.id)
    running = func.sum(hold_lots.c.amount).over(order_by=spending_order)
    ranked = (
        select(holds.c.id, hold_lots.c.amount, running.label("running"))
        .join(hold_lots, hold_lots.c.hold_id == holds.c.id)
        .where(*conditions)
        .subquery("ranked")
    )
    candidates = select(ranked.c.id)
    if needed is not None:
        # a lot is needed if what the earlier ones hold is still short of ``needed``
        candidates = candidates.where(ranked.c.running - ranked.c.amount < needed)
    ids = [row[0] for row in conn.execute(candidates)]
    if not ids:
        return []
    locked = (
        select(holds.c.id)
        .where(id_in(conn, holds.c.id, ids), holds.c.status == HoldStatus.ACTIVE.value)
        .order_by(holds.c.id)
        .with_for_update()
    )
    locked_ids = [row[0] for row in conn.execute(locked)]
    if not locked_ids:
        return []
    lots = (
        select(hold_lots.c.hold_id, hold_lots.c.amount, holds.c.release_at)
        .join(holds, holds.c.id == hold_lots.c.hold_id)
        .where(id_in(conn, hold_lots.c.hold_id, locked_ids), *conditions[2:])
        .order_by(*spending_order)
    )
    return [(h, a, r) for h, a, r in conn.execute(lots)]


def to_lots(rows: Sequence[tuple[uuid.UUID, int, datetime]], scale: int) -> list[Lot]:
    return [Lot(h, Decimal(a).scaleb(-scale), r) for h, a, r in rows]


# -- release ----------------------------------------------------------------------


def _due(conn: Connection, as_of: datetime, account_id: uuid.UUID | None, limit: int) -> Any:
    query = select(holds.c.id).where(
        holds.c.status == HoldStatus.ACTIVE.value, holds.c.release_at <= as_of
    )
    if account_id is not None:
        query = query.where(holds.c.account_id == account_id)
    return query.order_by(holds.c.release_at, holds.c.id).limit(limit)


def count_due(
    conn: Connection, as_of: datetime, account_id: uuid.UUID | None = None
) -> ReleaseResult:
    """What a release as of ``as_of`` would do (for ``--dry-run``)."""
    conditions = [holds.c.status == HoldStatus.ACTIVE.value, holds.c.release_at <= as_of]
    if account_id is not None:
        conditions.append(holds.c.account_id == account_id)
    result = ReleaseResult()
    result.released = conn.execute(select(func.count()).where(*conditions)).scalar_one()
    totals = (
        select(hold_lots.c.asset, func.sum(hold_lots.c.amount))
        .join(holds, holds.c.id == hold_lots.c.hold_id)
        .where(*conditions)
        .group_by(hold_lots.c.asset)
    )
    for asset, total in conn.execute(totals):
        if total:
            result.totals[asset] = int(total)
    return result


def release_batch(
    conn: Connection,
    *,
    as_of: datetime,
    now: datetime,
    limit: int,
    account_id: uuid.UUID | None = None,
) -> ReleaseResult:
    """Release up to ``limit`` holds due at ``as_of`` in the caller's transaction.

    1. claim due active holds, skipping any another runner has locked;
    2. append their ``hold.released`` events (the lots as they are before release);
    3. mark them ``released``, each hold naming the entry that released it
       (``release_entry_id``; none for a hold whose lots trades already spent);
    4. one ``hold_release`` journal entry per customer account of the batch,
       its id the smallest id of the holds it releases, with one pair of
       postings per asset: debit ``Held`` by what the account's released lots
       held in it, credit ``Available``. Setting ``release_entry_id`` empties
       the hold's lots and marks them released; a lot already empty, spent by
       trades, is marked directly. Why per account and not per hold: the
       books need the movement between the customer's two buckets, and
       10,000 holds of 1,000 accounts then cost 1,000 entries instead of
       10,000 (docs/design.md, "Why one entry per account, not per hold").

    PostgreSQL runs all four steps as ONE statement (:data:`_PG_RELEASE`): the
    claimed holds and their lots are read once, no id crosses to Python and
    back, and at the end of the statement the database empties the lots and
    checks each entry's ``Held`` debit against them (migration 0014), and
    checks the entries' postings (migration 0011). SQLite runs the same steps
    one statement each.

    Besides :func:`service.db.ledger.post`, this is the one writer of journal
    entries (set-based, see the module docstring of :mod:`service.db.ledger`).
    """
    result = ReleaseResult()
    if conn.dialect.name == "postgresql":
        # psycopg prepares a statement on its fifth run, and from its tenth
        # PostgreSQL may switch to a generic plan, which cannot see how many
        # holds are due: it guessed 10 for 10,000 and joined them in nested
        # loops, 13 s a batch instead of 0.5 s. So every batch is planned for
        # itself; without JIT (a batch is too short to repay compiling); and
        # reading by key, which the lookups of 10,000 holds among millions
        # are: one row each, never worth a bitmap (without statistics the
        # planner guessed 1,000 lots a hold and built one per probe, 20 ms a
        # batch).
        for setting in _PG_BATCH_SETTINGS:
            conn.execute(setting)
        params: dict[str, Any] = {
            "as_of": as_of,
            "limit": limit,
            "now": now,
            "now_text": format_utc(now),
            "first_event": ids.reserve(limit),
            "event_tail": ids.tail(),
            "held": Bucket.HELD.value,
            "available": Bucket.AVAILABLE.value,
        }
        if account_id is not None:
            params["account"] = account_id
        statement = _PG_RELEASE_ACCOUNT if account_id is not None else _PG_RELEASE
        for asset, total in conn.execute(statement, params):
            if asset is None:
                result.released = int(total)
            elif total:
                result.totals[asset] = int(total)
        ids.give_back(params["first_event"], limit, result.released)
        return result
    claimed = select_ids(
        conn, _due(conn, as_of, account_id, limit).with_for_update(**skip_locked(conn))
    )
    if not claimed:
        return result
    events.append_hold_released(conn, claimed, now)
    for asset, total in _sqlite_release(conn, claimed, now):
        if total:
            result.totals[asset] = int(total)
    result.released = claimed.count
    return result


_PG_BATCH_SETTINGS = [
    text("SET LOCAL plan_cache_mode = force_custom_plan"),
    text("SET LOCAL jit = off"),
    text("SET LOCAL random_page_cost = 1.1"),
    text("SET LOCAL enable_bitmapscan = off"),
]


#: :func:`release_batch` on PostgreSQL: one statement, whose result is the
#: number of holds released (asset NULL) and the released total per asset.
#: Data-modifying CTEs all run (referenced or not) on one snapshot, so the
#: events see the lots before the release; the triggers of every part run at
#: the end of the statement: ``holds_release_lots`` (migration 0014) then
#: empties the lots of the holds given a release entry and checks the entry's
#: ``Held`` debit against them, and the entry check sees every entry's
#: postings. The claim and the lots are read once (``MATERIALIZED``), the
#: lots by the primary key's ``hold_id`` prefix; the n-th claimed hold's event
#: gets the n-th id of a block reserved in Python, so no id travels. Rows of
#: big tables are reached by key whatever the statistics: a lateral probe kept
#: unflattened by ``OFFSET 0``, or ``= ANY(ARRAY(...))``, an index condition.
#: Without statistics, flattened joins were planned as hash joins over all of
#: ``hold_lots``, or merge joins walking its key from the start each batch.
_PG_RELEASE_SQL = """
WITH claimed AS MATERIALIZED (
    SELECT id, account_id, deposit_id, release_at,
           row_number() OVER (ORDER BY release_at, id) AS n
      FROM (SELECT id, account_id, deposit_id, release_at FROM holds
             WHERE status = 'active' AND release_at <= :as_of {account}
             ORDER BY release_at, id LIMIT :limit FOR UPDATE SKIP LOCKED) due
), lots AS MATERIALIZED (
    SELECT l.hold_id, l.asset, l.amount, l.account_id
      FROM claimed c
     CROSS JOIN LATERAL (SELECT * FROM hold_lots x
                          WHERE x.hold_id = c.id AND x.amount <> 0 OFFSET 0) l
), notices AS (
    -- txid is the column's default (migration 0010), computed once, not per row
    INSERT INTO events (txid, id, type, occurred_at, account_id, body)
    SELECT (SELECT pg_current_xact_id()::text::bigint),
           e.id, 'hold.released', :now, h.account_id, {body}
      FROM claimed h
     CROSS JOIN LATERAL (SELECT {event_id} AS id) e
      LEFT JOIN ({lots_json}) l ON l.hold_id = h.id
    RETURNING 1
), sums AS MATERIALIZED (
    SELECT account_id, asset, sum(amount) AS amount,
           row_number() OVER (PARTITION BY account_id ORDER BY asset) AS n
      FROM lots GROUP BY account_id, asset HAVING sum(amount) <> 0
), entries AS MATERIALIZED (
    -- min over the text form: PostgreSQL has no min(uuid); the orders agree
    SELECT account_id, min(hold_id::text)::uuid AS id, count(DISTINCT hold_id) AS holds
      FROM lots WHERE account_id IN (SELECT account_id FROM sums) GROUP BY account_id
), fate AS MATERIALIZED (
    -- each claimed hold and the entry that releases it (none: trades spent it)
    SELECT c.id, k.entry_id
      FROM claimed c
      LEFT JOIN (SELECT DISTINCT l.hold_id, e.id AS entry_id
                   FROM lots l JOIN entries e USING (account_id)) k ON k.hold_id = c.id
), released AS (
    UPDATE holds h SET status = 'released', released_at = :now, release_entry_id = f.entry_id
      FROM fate f
     WHERE h.id = ANY(ARRAY(SELECT id FROM claimed)) AND h.id = f.id
    RETURNING 1
), emptied AS (
    UPDATE hold_lots SET status = 'released'
     WHERE hold_id = ANY(ARRAY(SELECT id FROM fate WHERE entry_id IS NULL))
       AND amount = 0 AND status <> 'released'
    RETURNING 1
), journal AS (
    INSERT INTO journal_entries (id, type, posted_at, reference, memo, account_id)
    SELECT e.id, 'hold_release', :now,
           CASE WHEN e.holds = 1 THEN 'hold:' || e.id::text
                ELSE 'holds:' || e.id::text || '+' || (e.holds - 1)::text END,
           CASE WHEN e.holds = 1 THEN 'Temporary Hold released'
                ELSE e.holds::text || ' Temporary Holds released' END,
           e.account_id
      FROM entries e
    RETURNING 1
), posted AS (
    INSERT INTO postings (entry_id, line, ledger_account_id, asset, amount, account_id, hold_id)
    SELECT e.id, s.n * 2 - 1, a.id, s.asset, s.amount, s.account_id, NULL::uuid
      FROM sums s JOIN entries e USING (account_id)
      JOIN ledger_accounts a ON a.account_id = s.account_id AND a.bucket = :held
    UNION ALL
    SELECT e.id, s.n * 2, a.id, s.asset, -s.amount, s.account_id, NULL::uuid
      FROM sums s JOIN entries e USING (account_id)
      JOIN ledger_accounts a ON a.account_id = s.account_id AND a.bucket = :available
    RETURNING 1
)
SELECT NULL AS asset, count(*) AS total FROM claimed
UNION ALL
SELECT asset, sum(amount) FROM sums GROUP BY asset
"""


def _pg_release(account: bool) -> Any:
    sql = _PG_RELEASE_SQL.format(
        account="AND account_id = :account" if account else "",
        body=events.PG_HOLD_RELEASED_BODY,
        event_id=pg_uuid7("(:first_event + h.n - 1)", ":event_tail"),
        lots_json=events.PG_LOTS_JSON,
    )
    params = [
        bindparam("as_of", type_=holds.c.release_at.type),
        bindparam("now", type_=journal_entries.c.posted_at.type),
        bindparam("first_event", type_=BigInteger),
        bindparam("event_tail", type_=LargeBinary),
    ]
    if account:
        params.append(bindparam("account", type_=Uuid))
    return text(sql).bindparams(*params)


_PG_RELEASE = _pg_release(account=False)
_PG_RELEASE_ACCOUNT = _pg_release(account=True)


def _sqlite_release(conn: Connection, claimed: IdSet, now: datetime) -> list[tuple[str, int]]:
    """Steps 3 and 4 of :func:`release_batch`, one statement each (SQLite, which
    has no trigger emptying the lots: the last statement does it)."""
    mine = id_in(conn, hold_lots.c.hold_id, claimed)
    totals = (
        select(hold_lots.c.asset, func.sum(hold_lots.c.amount))
        .where(mine)
        .group_by(hold_lots.c.asset)
    )
    released = [(str(asset), int(total or 0)) for asset, total in conn.execute(totals)]
    lot = hold_lots.alias("lot")
    has_lot = select(lot.c.hold_id).where(lot.c.hold_id == holds.c.id, lot.c.amount != 0).exists()
    # per account of the batch, once: the smallest id of its holds with money
    first_of_account = (
        select(lot.c.account_id, func.min(lot.c.hold_id).label("entry_id"))
        .where(id_in(conn, lot.c.hold_id, claimed), lot.c.amount != 0)
        .group_by(lot.c.account_id)
        .subquery("first_of_account")
    )
    batch = id_in(conn, holds.c.id, claimed)
    done = {"status": HoldStatus.RELEASED.value, "released_at": now}
    conn.execute(
        update(holds)
        .where(batch, has_lot, holds.c.account_id == first_of_account.c.account_id)
        .values(release_entry_id=first_of_account.c.entry_id, **done)
    )
    conn.execute(update(holds).where(batch, ~has_lot).values(**done))
    linked = (
        select(holds.c.release_entry_id, holds.c.account_id, func.count().label("holds"))
        .where(batch, holds.c.release_entry_id.is_not(None))
        .group_by(holds.c.release_entry_id, holds.c.account_id)
        .subquery("linked")
    )
    several = linked.c.holds > 1
    conn.execute(
        insert(journal_entries).from_select(
            ["id", "type", "posted_at", "reference", "memo", "account_id"],
            select(
                linked.c.release_entry_id,
                literal(EntryType.HOLD_RELEASE.value),
                literal(now, journal_entries.c.posted_at.type),
                case(
                    (
                        several,
                        literal("holds:")
                        + uuid_text(conn, linked.c.release_entry_id)
                        + "+"
                        + cast(linked.c.holds - 1, Text),
                    ),
                    else_=literal("hold:") + uuid_text(conn, linked.c.release_entry_id),
                ),
                case(
                    (several, cast(linked.c.holds, Text) + " Temporary Holds released"),
                    else_=literal("Temporary Hold released"),
                ),
                linked.c.account_id,
            ),
        )
    )
    sums = (
        select(
            holds.c.release_entry_id.label("entry_id"),
            hold_lots.c.account_id,
            hold_lots.c.asset,
            func.sum(hold_lots.c.amount).label("amount"),
            func.row_number()
            .over(partition_by=holds.c.release_entry_id, order_by=hold_lots.c.asset)
            .label("n"),
        )
        .join(holds, holds.c.id == hold_lots.c.hold_id)
        .where(mine, holds.c.release_entry_id.is_not(None))
        .group_by(holds.c.release_entry_id, hold_lots.c.account_id, hold_lots.c.asset)
        .having(func.sum(hold_lots.c.amount) != 0)
        .subquery("sums")
    )
    bucket_account = ledger_accounts.alias("bucket_account")

    def leg(bucket: Bucket, line_offset: int, sign: int) -> Any:
        return select(
            sums.c.entry_id,
            sums.c.n * 2 - line_offset,
            bucket_account.c.id,
            sums.c.asset,
            sums.c.amount * sign,
            sums.c.account_id,
        ).join(
            bucket_account,
            and_(
                bucket_account.c.account_id == sums.c.account_id,
                bucket_account.c.bucket == bucket.value,
            ),
        )

    conn.execute(
        insert(postings).from_select(
            ["entry_id", "line", "ledger_account_id", "asset", "amount", "account_id"],
            union_all(leg(Bucket.HELD, 1, 1), leg(Bucket.AVAILABLE, 0, -1)),
        )
    )
    conn.execute(
        update(hold_lots)
        .where(mine, or_(hold_lots.c.amount != 0, hold_lots.c.status != HoldStatus.RELEASED.value))
        .values(amount=0, status=HoldStatus.RELEASED.value)
    )
    return released


def next_release_by_asset(conn: Connection, account_id: uuid.UUID) -> dict[str, datetime]:
    """Per asset, the earliest release time of the account's active, non-empty lots."""
    query = (
        select(hold_lots.c.asset, func.min(holds.c.release_at))
        .join(holds, holds.c.id == hold_lots.c.hold_id)
        .where(
            hold_lots.c.account_id == account_id,
            hold_lots.c.status == HoldStatus.ACTIVE.value,
            hold_lots.c.amount > 0,
        )
        .group_by(hold_lots.c.asset)
    )
    return {row[0]: row[1] for row in conn.execute(query)}


def gauges(conn: Connection, now: datetime) -> tuple[int, int, datetime | None]:
    """(active holds, active holds due at ``now``, the oldest due one's release time)."""
    active = conn.execute(
        select(func.count()).where(holds.c.status == HoldStatus.ACTIVE.value)
    ).scalar_one()
    overdue, oldest = conn.execute(
        select(func.count(), func.min(holds.c.release_at)).where(
            holds.c.status == HoldStatus.ACTIVE.value, holds.c.release_at <= now
        )
    ).one()
    return int(active), int(overdue), oldest


def has_due(conn: Connection, account_id: uuid.UUID, now: datetime) -> bool:
    """Whether the account has an active hold due at ``now``."""
    query = (
        select(holds.c.id)
        .where(
            holds.c.account_id == account_id,
            holds.c.status == HoldStatus.ACTIVE.value,
            holds.c.release_at <= now,
        )
        .limit(1)
    )
    return conn.execute(query).first() is not None


def lots_of(conn: Connection, hold_ids: list[uuid.UUID]) -> list[tuple[uuid.UUID, str, int, str]]:
    """(hold id, asset, amount, status) of the holds' lots, by hold and asset."""
    query = (
        select(hold_lots.c.hold_id, hold_lots.c.asset, hold_lots.c.amount, hold_lots.c.status)
        .where(id_in(conn, hold_lots.c.hold_id, hold_ids))
        .order_by(hold_lots.c.hold_id, hold_lots.c.asset)
    )
    return [
        (hold_id, asset, int(amount), status)
        for hold_id, asset, amount, status in conn.execute(query)
    ]


def find_holds(conn: Connection, hold_ids: list[uuid.UUID]) -> list[Any]:
    """The hold rows with these ids (any order)."""
    return list(conn.execute(select(holds).where(id_in(conn, holds.c.id, hold_ids))))


def released_by(
    conn: Connection, account_id: uuid.UUID, entry_ids: list[uuid.UUID]
) -> dict[uuid.UUID, list[tuple[uuid.UUID, uuid.UUID]]]:
    """Per release entry of the account, the (hold id, deposit id) of every hold
    it released, by hold id. Found through the account's holds
    (:func:`_every_hold_of`), so releasing holds maintains no index on
    ``release_entry_id``."""
    if not entry_ids:
        return {}
    query = (
        select(holds.c.release_entry_id, holds.c.id, holds.c.deposit_id)
        .where(
            *_every_hold_of(conn, account_id),
            id_in(conn, holds.c.release_entry_id, entry_ids),
        )
        .order_by(holds.c.release_entry_id, holds.c.id)
    )
    found: dict[uuid.UUID, list[tuple[uuid.UUID, uuid.UUID]]] = defaultdict(list)
    for entry_id, hold_id, deposit_id in conn.execute(query):
        found[entry_id].append((hold_id, deposit_id))
    return dict(found)


def holds_page(
    conn: Connection,
    account_id: uuid.UUID,
    *,
    status: str | None,
    limit: int,
    after: tuple[datetime, uuid.UUID] | None,
) -> list[Any]:
    """Up to ``limit`` of the account's hold rows, newest first, strictly older
    than ``after`` (placed_at, id) when given."""
    if status is None or status == HoldStatus.RELEASED.value:
        query = select(holds).where(*_every_hold_of(conn, account_id))
    else:  # the account index has every unreleased hold
        query = select(holds).where(holds.c.account_id == account_id)
    if status is not None:
        query = query.where(holds.c.status == status)
    query = newest_first(query, holds.c.placed_at, holds.c.id, after=after, limit=limit)
    return list(conn.execute(query))


def _every_hold_of(conn: Connection, account_id: uuid.UUID) -> list[ColumnElement[bool]]:
    """Conditions selecting every hold of the account, released or not.

    On PostgreSQL the account's index keeps only unreleased holds (migration
    0015: a release then writes no entry to it), so a reader of released holds
    reaches them through the account's deposits and the one hold of each
    (``uq_holds_deposit_id``), an index condition whatever the statistics
    (``= ANY(ARRAY(...))``). A hold's account is its deposit's (``ledger
    verify`` checks it); the account condition stays, so the rows are exactly
    the account's holds either way."""
    of_account = holds.c.account_id == account_id
    if conn.dialect.name != "postgresql":
        return [of_account]
    their_deposits = select(deposits.c.id).where(deposits.c.account_id == account_id)
    return [holds.c.deposit_id == any_(func.array(their_deposits.scalar_subquery())), of_account]


# -- calendar overrides and the release times they move -------------------------------


def set_override(conn: Connection, day: date, business_day: bool, name: str) -> None:
    """Make ``day`` a business day or a holiday named ``name`` (insert or replace)."""
    stmt = upsert(conn, calendar_overrides).values(day=day, business_day=business_day, name=name)
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=["day"], set_={"business_day": business_day, "name": name}
        )
    )


def delete_override(conn: Connection, day: date) -> str | None:
    """Remove the override of ``day``; its name, or ``None`` if there was none."""
    row = conn.execute(
        select(calendar_overrides.c.name).where(calendar_overrides.c.day == day)
    ).first()
    if row is None:
        return None
    conn.execute(calendar_overrides.delete().where(calendar_overrides.c.day == day))
    return str(row.name)


def lock_active_holds_near(
    conn: Connection, *, settled_before: datetime, releasing_from: datetime
) -> list[tuple[uuid.UUID, uuid.UUID, datetime, int, datetime]]:
    """Lock (by id) the active holds settled before ``settled_before`` that release
    at or after ``releasing_from``: (hold id, account id, release_at, business
    days, settled_at)."""
    query = (
        select(
            holds.c.id,
            holds.c.account_id,
            holds.c.release_at,
            holds.c.business_days,
            deposits.c.settled_at,
        )
        .join(deposits, deposits.c.id == holds.c.deposit_id)
        .where(
            holds.c.status == HoldStatus.ACTIVE.value,
            deposits.c.settled_at < settled_before,
            holds.c.release_at >= releasing_from,
        )
        .order_by(holds.c.id)
        .with_for_update(of=holds)
    )
    return [(h, a, r, int(d), s) for h, a, r, d, s in conn.execute(query)]


def set_release_times(conn: Connection, changes: list[dict[str, Any]]) -> None:
    """Move holds' ``release_at`` (``changes``: ``hold_id`` and ``release_at`` each),
    in one executemany."""
    if changes:
        conn.execute(
            update(holds)
            .where(holds.c.id == bindparam("hold_id"))
            .values(release_at=bindparam("release_at")),
            changes,
        )
