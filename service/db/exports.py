"""Queries behind the accountant exports: the journal read back, set-based.

Every figure is rebuilt from the journal (postings and their entry's
``posted_at``), never from today's ``balances`` or ``hold_lots``, so a report
*as of* a past time ignores everything posted later. Periods are half-open UTC
intervals ``[start, end)`` (see :mod:`service.domain.exports`).

Rows that can number in the millions (journal postings, holds, trial-balance
lines) are *streamed*: the statement runs with ``stream_results`` and
``yield_per``, a server-side cursor on PostgreSQL and ``fetchmany`` on SQLite,
so the caller holds one batch at a time whatever the size of the books. The
journal's postings, the one stream measured in millions of rows per file, go
further and skip SQLAlchemy's per-row result processing (:func:`_raw_batches`).
The grouping is done by the database; Python only formats rows.

Order is part of the contract and the same on both databases: entries by
``posted_at``, ties broken by entry id; postings by line; account names compare
byte-wise (``COLLATE "C"`` on PostgreSQL, SQLite's default ``BINARY``)
whatever the server's locale.
"""

from __future__ import annotations

import queue
import threading
import typing
import uuid
from collections.abc import Generator, Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    BindParameter,
    ClauseElement,
    ColumnElement,
    Connection,
    DateTime,
    Row,
    Select,
    String,
    Text,
    and_,
    bindparam,
    case,
    cast,
    func,
    literal,
    null,
    select,
    type_coerce,
)
from sqlalchemy.sql.compiler import SQLCompiler

from service.db.dialect import id_in
from service.db.tables import (
    chargebacks,
    hold_lots,
    holds,
    journal_entries,
    ledger_accounts,
    postings,
)
from service.domain.chart import Bucket
from service.domain.exports import Period
from service.domain.posting import EntryType

#: Rows fetched per round trip when streaming.
YIELD_PER = 5000


def snapshot(conn: Connection) -> None:
    """Make the caller's read transaction one snapshot of the books: on PostgreSQL
    ``REPEATABLE READ, READ ONLY`` (allowed on a hot-standby replica too), so an
    export made of several statements never mixes two states of the journal.
    SQLite's read transaction already reads one snapshot. Must run first."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")


def _stream(conn: Connection, stmt: Select[Any], yield_per: int) -> Iterator[Row[Any]]:
    result = conn.execute(stmt.execution_options(stream_results=True, yield_per=yield_per))
    try:
        yield from result
    finally:
        result.close()


def _bytewise(conn: Connection, column: ColumnElement[str]) -> ColumnElement[str]:
    return column.collate("C") if conn.dialect.name == "postgresql" else column


def _uuid_text(conn: Connection, column: ColumnElement[Any]) -> ColumnElement[str]:
    """A UUID column as text as the database holds it: canonical on PostgreSQL
    (cast), 32 lower-case hex digits on SQLite (its storage). Render with
    :func:`~service.domain.exports.uuid_text` — once per entry, not per row."""
    if conn.dialect.name == "postgresql":
        return cast(column, Text)
    return type_coerce(column, String)


def _utc_text(conn: Connection, column: ColumnElement[Any]) -> ColumnElement[str]:
    """A UTC time column as text ``YYYY-MM-DD HH:MM:SS[.fraction]``: SQLite's
    storage format as is (six digits); on PostgreSQL the UTC wall time cast to
    text (fraction trimmed, absent when zero; several times cheaper than
    ``to_char``). Render with :func:`~service.domain.exports.iso_from_utc_text`."""
    if conn.dialect.name == "postgresql":
        return cast(func.timezone("UTC", column), Text)
    return type_coerce(column, String)


def _time_param(conn: Connection, name: str, value: datetime) -> BindParameter[Any]:
    """A time bound, pre-converted to what the column holds (no type processing)."""
    if conn.dialect.name == "postgresql":
        return bindparam(name, value, type_=DateTime(timezone=True))
    return bindparam(name, value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f"), type_=String)


Batches = Generator[list[tuple[Any, ...]], None, None]


def _raw_batches(conn: Connection, stmt: ClauseElement, batch: int) -> Batches:
    """Run ``stmt`` on the driver's own cursor, in the caller's transaction, and
    yield lists of plain tuples: no per-row result processing, which on a
    million-row journal costs more than the query. PostgreSQL gets a named
    (server-side) cursor, so the server streams; SQLite's cursor already does.
    Only for statements whose bound values and columns need no type processing
    (see :func:`_uuid_text`, :func:`_utc_text`, :func:`_time_param`)."""
    compiled = typing.cast(SQLCompiler, stmt.compile(dialect=conn.dialect))
    values = compiled.construct_params()
    params: Any = (
        tuple(values[name] for name in compiled.positiontup or ())
        if compiled.positional
        else values
    )
    dbapi = conn.connection.dbapi_connection
    assert dbapi is not None
    if conn.dialect.name == "postgresql":
        cursor = dbapi.cursor(name=f"ledger_export_{uuid.uuid4().hex}")
    else:
        cursor = dbapi.cursor()
    try:
        cursor.execute(str(compiled), params)
        while rows := cursor.fetchmany(batch):
            yield typing.cast(list[tuple[Any, ...]], rows)  # a list of tuples on both drivers
    finally:
        cursor.close()


_DONE = object()


def _prefetched(batches: Batches) -> Batches:
    """``batches``, with the next one fetched by a helper thread while the caller
    formats the current one. On PostgreSQL each batch is a round trip during
    which the server works and the client waits; overlapping the two is worth
    about a fifth of an export's time. At most two batches wait in the queue, so
    memory stays flat.

    Safe because the helper is the only user of its (server-side) cursor and
    psycopg serializes the connection between threads (the caller may look up
    account names meanwhile). Closing this generator early stops the helper,
    which closes the cursor, before the caller's transaction ends.
    """
    handoff: queue.Queue[Any] = queue.Queue(maxsize=2)
    stop = threading.Event()

    def offer(item: Any) -> bool:
        while not stop.is_set():
            try:
                handoff.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for batch in batches:
                if not offer(batch):
                    return
            offer(_DONE)
        except BaseException as exc:  # handed to the caller's thread, raised there
            offer(exc)
        finally:
            batches.close()

    helper = threading.Thread(target=produce, name="ledger-export-prefetch", daemon=True)
    helper.start()
    try:
        while (item := handoff.get()) is not _DONE:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        helper.join()


def journal_postings(conn: Connection, period: Period, *, batch: int | None = None) -> Batches:
    """Every posting of the entries posted in ``period``, in entry order, as
    batches of plain tuples (the hot path of the exports: see :func:`_raw_batches`;
    on PostgreSQL the next batch is fetched while this one is used, see
    :func:`_prefetched`). ``batch`` defaults to :data:`YIELD_PER`.

    Columns: entry_id (UUID text, see :func:`_uuid_text`), posted_at (UTC text,
    see :func:`_utc_text`), entry_type, reference, memo,
    ledger_account_id (UUID text: resolve names with :func:`ledger_account_names`,
    cheaper than joining a long name onto every posting), asset, amount (int,
    signed minor units), hold_id (UUID text or None).
    """
    e, p = journal_entries, postings
    stmt = (
        select(
            _uuid_text(conn, e.c.id),
            _utc_text(conn, e.c.posted_at),
            type_coerce(e.c.type, String),
            type_coerce(e.c.reference, String),
            type_coerce(e.c.memo, String),
            _uuid_text(conn, p.c.ledger_account_id),
            type_coerce(p.c.asset, String),
            type_coerce(p.c.amount, BigInteger),
            _uuid_text(conn, p.c.hold_id),
        )
        .select_from(e.join(p, p.c.entry_id == e.c.id))
        .where(
            e.c.posted_at >= _time_param(conn, "start", period.start),
            e.c.posted_at < _time_param(conn, "end", period.end),
        )
        .order_by(e.c.posted_at, e.c.id, p.c.line)
    )
    batches = _raw_batches(conn, stmt, batch or YIELD_PER)
    return _prefetched(batches) if conn.dialect.name == "postgresql" else batches


def ledger_account_names(conn: Connection, ids: Iterable[str]) -> dict[str, tuple[str, str]]:
    """Name and type of the ledger accounts ``ids`` (UUID text as
    :func:`journal_postings` returns it), keyed the same way."""
    wanted = [uuid.UUID(value) for value in ids]
    if not wanted:
        return {}
    a = ledger_accounts
    rows = conn.execute(
        select(_uuid_text(conn, a.c.id), a.c.name, a.c.type).where(id_in(conn, a.c.id, wanted))
    )
    return {key: (name, type_) for key, name, type_ in rows}


def accounts_used(
    conn: Connection, period: Period, *, yield_per: int = YIELD_PER
) -> Iterator[Row[Any]]:
    """Names of the ledger accounts posted to in ``period``, byte-wise ordered."""
    e, p, a = journal_entries, postings, ledger_accounts
    used = (
        select(p.c.ledger_account_id)
        .join(e, e.c.id == p.c.entry_id)
        .where(e.c.posted_at >= period.start, e.c.posted_at < period.end)
    )
    stmt = select(a.c.name).where(a.c.id.in_(used)).order_by(_bytewise(conn, a.c.name))
    return _stream(conn, stmt, yield_per)


def trial_balance(
    conn: Connection, end: datetime, *, yield_per: int = YIELD_PER
) -> Iterator[Row[Any]]:
    """Per ledger account and asset, the totals of debits and of credits (both as
    positive minor units) of the postings posted before ``end``.

    Columns: account (name), account_type, asset, debit, credit. Ordered by
    account name (byte-wise), then asset.
    """
    e, p, a = journal_entries, postings, ledger_accounts
    totals = (
        select(
            p.c.ledger_account_id,
            p.c.asset,
            func.sum(case((p.c.amount > 0, p.c.amount), else_=0)).label("debit"),
            func.sum(case((p.c.amount < 0, -p.c.amount), else_=0)).label("credit"),
        )
        .join(e, e.c.id == p.c.entry_id)
        .where(e.c.posted_at < end)
        .group_by(p.c.ledger_account_id, p.c.asset)
        .subquery("totals")
    )
    stmt = (
        select(a.c.name, a.c.type, totals.c.asset, totals.c.debit, totals.c.credit)
        .join(a, a.c.id == totals.c.ledger_account_id)
        .order_by(_bytewise(conn, a.c.name), _bytewise(conn, totals.c.asset))
    )
    return _stream(conn, stmt, yield_per)


def holds_as_of(
    conn: Connection, end: datetime, *, yield_per: int = YIELD_PER
) -> Iterator[Row[Any]]:
    """One row per lot of every hold placed before ``end``, with the lot's amount
    as of ``end``: zero if the hold's release entry was posted before ``end``,
    else minus the sum of the ``Held`` postings tagged with the hold and posted
    before ``end`` (lots are stored positive, customer money is
    credit-negative). A release entry moves the sum of an account's released
    lots in one posting per asset, tagged with no hold, so it is the hold's
    ``release_entry_id`` that says when each lot was emptied (holds released
    before migration 0014 name their own entry, whose tagged postings empty
    the lot as well). A lot exists once a posting has named it, so lots emptied
    by a trade are listed with amount zero, as the holds API does.

    Columns: hold_id, account_id, deposit_id, method, deposit_asset,
    deposit_amount, lot_asset, lot_amount, placed_at, release_at,
    released_at (when the hold was released — its release entry, or the final
    withdrawal that emptied it — if before ``end``), reversed_at (the time of
    the deposit's chargeback entry, if before ``end``), withdrawn_at (the last
    ``withdrawal`` entry before ``end`` that took from the lot). Ordered by
    placed_at, hold id, lot asset.
    """
    e, p, h = journal_entries, postings, holds
    withdrawn = case((e.c.type == EntryType.WITHDRAWAL.value, e.c.posted_at), else_=null())
    lots = (
        select(
            p.c.hold_id,
            p.c.asset,
            (-func.sum(p.c.amount)).label("amount"),
            func.max(withdrawn).label("withdrawn_at"),
        )
        .join(e, e.c.id == p.c.entry_id)
        .where(p.c.hold_id.is_not(None), e.c.posted_at < end)
        .group_by(p.c.hold_id, p.c.asset)
        .subquery("lots")
    )
    release = journal_entries.alias("release_entry")
    reversal = journal_entries.alias("chargeback_entry")
    released_at = func.coalesce(release.c.posted_at, h.c.released_at)
    stmt = (
        select(
            h.c.id,
            h.c.account_id,
            h.c.deposit_id,
            h.c.method,
            h.c.asset,
            h.c.amount,
            lots.c.asset,
            case((release.c.posted_at < end, literal(0)), else_=lots.c.amount).label("amount"),
            h.c.placed_at,
            h.c.release_at,
            case((released_at < end, released_at), else_=null()).label("released_at"),
            case((reversal.c.posted_at < end, reversal.c.posted_at), else_=null()).label(
                "reversed_at"
            ),
            lots.c.withdrawn_at,
        )
        .join(lots, lots.c.hold_id == h.c.id)
        .outerjoin(
            release,
            and_(
                release.c.id == h.c.release_entry_id,
                release.c.type == EntryType.HOLD_RELEASE.value,
            ),
        )
        .outerjoin(chargebacks, chargebacks.c.deposit_id == h.c.deposit_id)
        .outerjoin(reversal, reversal.c.id == chargebacks.c.entry_id)
        .where(h.c.placed_at < end)
        .order_by(h.c.placed_at, h.c.id, _bytewise(conn, lots.c.asset))
    )
    return _stream(conn, stmt, yield_per)


def held_movements(conn: Connection, period: Period) -> list[tuple[str, bool, str, bool, int]]:
    """Movements of every customer's ``Held`` bucket up to ``period.end``, summed
    by (asset, inside the period?, entry type, debit?). A handful of rows per
    asset whatever the size of the books.

    Amounts are signed minor units as posted (a credit to ``Held``, i.e. money
    placed on hold, is negative).
    """
    e, p = journal_entries, postings
    held_accounts = select(ledger_accounts.c.id).where(
        ledger_accounts.c.bucket == Bucket.HELD.value
    )
    inside = case((e.c.posted_at >= period.start, literal(1)), else_=literal(0)).label("inside")
    debit = case((p.c.amount > 0, literal(1)), else_=literal(0)).label("debit")
    stmt = (
        select(p.c.asset, inside, e.c.type, debit, func.sum(p.c.amount))
        .join(e, e.c.id == p.c.entry_id)
        .where(p.c.ledger_account_id.in_(held_accounts), e.c.posted_at < period.end)
        .group_by(p.c.asset, inside, e.c.type, debit)
        .order_by(p.c.asset)
    )
    return [
        (asset, bool(inside_), type_, bool(debit_), int(total))
        for asset, inside_, type_, debit_, total in conn.execute(stmt)
    ]


def count_postings(conn: Connection, period: Period) -> int:
    """How many rows :func:`journal_postings` gives for ``period`` (a progress total)."""
    e, p = journal_entries, postings
    stmt = (
        select(func.count())
        .select_from(e.join(p, p.c.entry_id == e.c.id))
        .where(
            e.c.posted_at >= _time_param(conn, "start", period.start),
            e.c.posted_at < _time_param(conn, "end", period.end),
        )
    )
    return int(conn.execute(stmt).scalar_one())


def count_lots(conn: Connection, end: datetime) -> int:
    """About how many rows :func:`holds_as_of` gives (a progress total): the lots
    of the holds placed before ``end``, counted from the live lots table."""
    stmt = (
        select(func.count())
        .select_from(hold_lots.join(holds, holds.c.id == hold_lots.c.hold_id))
        .where(holds.c.placed_at < end)
    )
    return int(conn.execute(stmt).scalar_one())
