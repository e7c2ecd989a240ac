"""Persistence of journal seals: the cut, the entries a seal takes, membership.

**Which entries** seal n+1 takes: every committed entry in no seal yet
(``seal_entries.entry_id`` is unique, so the database itself refuses an entry
in two seals). An entry whose transaction is still open is invisible to the
sealer and goes into a later seal, never lost.

**The cut** keeps that from reading the whole journal every time (an id taken
at insert time is not commit order, so "after the last entry sealed" would
lose late commits). On PostgreSQL each entry carries the id of the
transaction that wrote it (``xact_id``, a column default: nothing more on the
write path). Before it reads, a seal takes a snapshot's ``xmax`` and the ids
still running below it (``pg_current_snapshot()``): every other transaction
below ``xmax`` had finished, so all its entries were visible to that seal and
are sealed by it or before. The next seal therefore only looks at entries
with ``xact_id >= xmax`` or ``xact_id`` among those running ids (index
probes), minus what is sealed. A transaction left open anywhere on the
server is one id in that list: it costs one probe per seal, never a scan of
the journal, and delays no other entry. The first seal looks at everything.
SQLite: writers are serialized and the sealer holds the write lock, so
nothing is in flight; the sealer looks at every entry in no seal, in insert
order (rowid).

**Sealers at once**: PostgreSQL serializes them with a transaction advisory
lock taken before anything is read (the reads that follow are READ COMMITTED
statements, so each sees the seal the previous holder committed); SQLite's
write lock does it. Numbers are contiguous from 1, and no entry is in two seals.

The journal is read back as the exports read it (:mod:`service.db.exports`):
plain tuples from the driver's cursor, ids and times as text, a batch at a time.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from typing import cast as cast_type

import psycopg
from sqlalchemy import (
    ARRAY,
    BigInteger,
    ColumnElement,
    Connection,
    LargeBinary,
    Numeric,
    Select,
    String,
    and_,
    any_,
    bindparam,
    cast,
    exists,
    func,
    insert,
    literal_column,
    not_,
    or_,
    select,
    text,
    true,
    type_coerce,
)
from sqlalchemy.dialects.postgresql import aggregate_order_by

from service.db.exports import Batches, _prefetched, _raw_batches, _utc_text, _uuid_text
from service.db.tables import (
    assets,
    journal_entries,
    ledger_accounts,
    postings,
    seal_entries,
    seals,
)
from service.domain.seals import Seal

#: Key of the PostgreSQL advisory lock that serializes sealers.
SEAL_LOCK_KEY = 0x1ED6E125EA1

#: Posting rows fetched per round trip.
BATCH_ROWS = 20_000


@dataclass(frozen=True, slots=True)
class Cut:
    """Transactions a seal saw finished: every id below ``xmax`` but ``running``."""

    xmax: int
    running: tuple[int, ...]

    def running_text(self) -> str:
        return ",".join(map(str, self.running))

    @classmethod
    def parse(cls, xmax: int | None, running: str | None) -> Cut | None:
        if xmax is None:
            return None
        return cls(int(xmax), tuple(int(x) for x in (running or "").split(",") if x))


@dataclass(frozen=True, slots=True)
class SealRow:
    seal: Seal
    cut: Cut | None
    chunk_roots: bytes


def lock_sealing(conn: Connection) -> None:
    """Wait until no other sealer runs (released at commit or rollback)."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": SEAL_LOCK_KEY})


def current_cut(conn: Connection) -> Cut | None:
    """PostgreSQL: the cut of a snapshot taken now (see the module docstring)."""
    if conn.dialect.name != "postgresql":
        return None
    xmax, running = conn.execute(
        text(
            "SELECT pg_snapshot_xmax(s)::text::bigint, "
            "ARRAY(SELECT x::text::bigint FROM pg_snapshot_xip(s) AS x ORDER BY 1) "
            "FROM pg_current_snapshot() AS s"
        )
    ).one()
    return Cut(int(xmax), tuple(int(x) for x in running))


def _seal_of(row: Any) -> SealRow:
    return SealRow(
        Seal(row.number, row.entries, row.root, row.previous, row.sealed_at, row.hash),
        Cut.parse(row.cut, row.cut_running),
        bytes(row.chunk_roots),
    )


def last_seal(conn: Connection) -> SealRow | None:
    row = conn.execute(select(seals).order_by(seals.c.number.desc()).limit(1)).first()
    return None if row is None else _seal_of(row)


def find_seal(conn: Connection, number: int) -> SealRow | None:
    row = conn.execute(select(seals).where(seals.c.number == number)).first()
    return None if row is None else _seal_of(row)


def list_seals(conn: Connection, after: int, limit: int) -> list[Seal]:
    rows = conn.execute(
        select(seals).where(seals.c.number > after).order_by(seals.c.number).limit(limit)
    )
    return [_seal_of(row).seal for row in rows]


def stream_seals(conn: Connection, *, batch: int = 5000) -> Iterator[SealRow]:
    """Every seal in number order, a batch at a time."""
    result = conn.execute(
        select(seals)
        .order_by(seals.c.number)
        .execution_options(stream_results=True, yield_per=batch)
    )
    try:
        for row in result:
            yield _seal_of(row)
    finally:
        result.close()


def insert_seal(conn: Connection, seal: Seal, *, cut: Cut | None, chunk_roots: bytes) -> None:
    conn.execute(
        insert(seals).values(
            number=seal.number,
            entries=seal.entries,
            root=seal.root,
            previous=seal.previous,
            sealed_at=seal.sealed_at,
            hash=seal.hash,
            cut=None if cut is None else cut.xmax,
            cut_running=None if cut is None else cut.running_text(),
            chunk_roots=chunk_roots,
        )
    )


def _leaf_columns(conn: Connection) -> tuple[Any, ...]:
    e, p = journal_entries, postings
    return (
        _uuid_text(conn, e.c.id),
        _utc_text(conn, e.c.posted_at),
        type_coerce(e.c.type, String),
        type_coerce(e.c.reference, String),
        _uuid_text(conn, p.c.ledger_account_id),
        type_coerce(p.c.asset, String),
        type_coerce(p.c.amount, BigInteger),
    )


def _after(cut: Cut) -> ColumnElement[bool]:
    """Entries of transactions that had not finished at ``cut``."""
    xact = journal_entries.c.xact_id
    if not cut.running:
        return xact >= cut.xmax
    return or_(
        xact >= cut.xmax, xact == any_(bindparam(None, list(cut.running), ARRAY(BigInteger)))
    )


def unsealed_entries(conn: Connection, previous: Cut | None, *, first: bool = False) -> Batches:
    """PostgreSQL: the entries the next seal takes, in seal order (the order of
    their leaves), one row per entry with its postings already written out as
    its leaf has them (:func:`_grouped_leaf_rows`): batches of (entry_id,
    posted_at, type, reference, postings).

    Every committed entry in no seal yet, of which only those of transactions
    that had not finished at the ``previous`` seal's cut need looking at (see
    the module docstring), ordered by entry id (UUIDv7, so about creation
    order). Entry id order is the order of both primary keys
    (``journal_entries``, ``postings`` by entry then line): a large seal is
    one merge join of the two index scans, where (transaction id, entry id)
    order cost one probe of ``pk_postings`` per entry and took a third longer
    over a million.

    ``first``: no seal exists yet, so no entry is sealed and the "in no seal"
    probe is skipped. That probe is an anti-join against ``seal_entries``,
    which this very seal fills meanwhile from another connection; planned
    against statistics that say the table is empty (a fresh database), it
    becomes a scan of those uncommitted rows per entry, quadratic in the
    journal's size. (Were membership rows left without a seal, the unique
    ``entry_id`` would refuse them: the seal fails, nothing is sealed twice.)
    """
    e = journal_entries
    stmt = _grouped_leaf_rows(conn)
    if not first:
        if previous is not None:
            stmt = stmt.where(_after(previous))
        stmt = stmt.where(~exists().where(seal_entries.c.entry_id == e.c.id))
    return _prefetched(_raw_batches(conn, stmt.order_by(e.c.id), BATCH_ROWS // 2))


def unsealed_postings(conn: Connection) -> Batches:
    """SQLite: the postings of every entry in no seal yet, in insert order
    (rowid) then by line: batches of (entry_id, posted_at, type, reference,
    ledger_account_id, asset, amount), text as the exports return it. Writers
    are serialized and the sealer holds the write lock, so no entry is in
    flight (see the module docstring)."""
    e, p = journal_entries, postings
    sealed = exists().where(seal_entries.c.entry_id == e.c.id)
    stmt = (
        select(*_leaf_columns(conn))
        .select_from(e.join(p, p.c.entry_id == e.c.id))
        .where(~sealed)
        .order_by(literal_column("journal_entries.rowid"), p.c.line)
    )
    return _raw_batches(conn, stmt, BATCH_ROWS)


def _grouped_leaf_rows(conn: Connection) -> Select[Any]:
    """PostgreSQL: one row per entry, (entry_id, posted_at, type, reference,
    postings), ``postings`` being the entry's postings written out as its leaf
    has them, joined by commas in line order. The sealer's query: the server
    writes the postings' text on its own core while the client hashes, and
    sends half the rows.

    Each posting is ``{"account":<name>,"amount":"<amount>","asset":<code>}``,
    exactly the text :func:`~service.domain.seals.posting_parts` and
    :func:`~service.domain.money.format_minor` give in Python (and ``ledger
    verify``, which rebuilds every leaf in Python, would name any entry where
    the two differed): ``to_json`` of a text escapes ``"``, ``\\`` and control
    characters as RFC 8785 does (``\\n``, ``\\u001f``, lower-case hex) and
    leaves every other character as it is; the amount is the integer times
    ``1e-scale``, a numeric whose text has exactly ``scale`` decimals. The
    account's and the asset's parts are looked up once per account and asset
    (memoized lateral subqueries), not once per posting. A ledger account or
    asset missing from its table (possible only with the database's guards
    switched off) is written as the Python side writes it.
    """
    e, p, la, a = journal_entries, postings, ledger_accounts, assets
    account = (
        select(func.concat('{"account":', func.to_json(la.c.name), ',"amount":"').label("before"))
        .where(la.c.id == p.c.ledger_account_id)
        .offset(0)
        .lateral("leaf_account")
    )
    asset = (
        select(
            cast(func.concat("1e-", a.c.scale), Numeric).label("unit"),
            func.concat('","asset":', func.to_json(a.c.code), "}").label("after"),
        )
        .where(a.c.code == p.c.asset)
        .offset(0)
        .lateral("leaf_asset")
    )
    unknown = func.concat("<unknown ledger account ", p.c.ledger_account_id, ">")
    posting = func.concat(
        func.coalesce(
            account.c.before, func.concat('{"account":', func.to_json(unknown), ',"amount":"')
        ),
        p.c.amount * func.coalesce(asset.c.unit, 1),
        func.coalesce(asset.c.after, func.concat('","asset":', func.to_json(p.c.asset), "}")),
    )
    return (
        select(
            *_leaf_columns(conn)[:4],  # entry id, time, type, reference as the exports read them
            func.string_agg(posting, aggregate_order_by(literal_column("','"), p.c.line)),
        )
        .select_from(
            e.join(p, p.c.entry_id == e.c.id).outerjoin(account, true()).outerjoin(asset, true())
        )
        .group_by(e.c.id)
    )


def insert_members(
    conn: Connection, number: int, first_leaf: int, entry_ids: list[str], leaf_hashes: list[bytes]
) -> None:
    """Record entries ``entry_ids`` (as the sealer read them)
    at leaves ``first_leaf, first_leaf + 1, ...`` of seal ``number``."""
    if not entry_ids:
        return
    dbapi = conn.connection.dbapi_connection
    assert dbapi is not None
    if conn.dialect.name == "postgresql":
        # COPY in text format, one buffer per call: the ids are already UUID
        # text and a hash is cheap hex, so no value is converted twice and the
        # server parses no array (over a million rows, a third less time than
        # INSERT ... unnest).
        data = "".join(
            [
                f"{number}\t{first_leaf + i}\t{entry_id}\t\\\\x{leaf_hash.hex()}\n"
                for i, (entry_id, leaf_hash) in enumerate(zip(entry_ids, leaf_hashes, strict=True))
            ]
        )
        pg = cast_type(psycopg.Connection[Any], dbapi)
        with (
            pg.cursor() as pg_cursor,
            pg_cursor.copy(
                "COPY seal_entries (seal_number, leaf_index, entry_id, leaf_hash) FROM STDIN"
            ) as copy,
        ):
            copy.write(data)
        return
    cursor = dbapi.cursor()
    try:
        cursor.executemany(
            "INSERT INTO seal_entries (seal_number, leaf_index, entry_id, leaf_hash) "
            "VALUES (?, ?, ?, ?)",
            [
                (number, first_leaf + i, entry_id, leaf_hash)
                for i, (entry_id, leaf_hash) in enumerate(zip(entry_ids, leaf_hashes, strict=True))
            ],
        )
    finally:
        cursor.close()


def sealed_postings(
    conn: Connection, *, number: int | None = None, first_leaf: int = 0, end_leaf: int | None = None
) -> Batches:
    """The sealed entries as the journal holds them now, in seal then leaf order,
    then by line: batches of (seal_number, leaf_index, leaf_hash, entry_id,
    posted_at, type, reference, ledger_account_id, asset, amount). An entry gone
    from the journal comes back as one row with ``posted_at`` NULL; one without
    postings, with ``ledger_account_id`` NULL. ``number`` limits it to one seal,
    ``first_leaf`` / ``end_leaf`` to the leaves ``[first_leaf, end_leaf)`` of it.
    """
    s, e, p = seal_entries, journal_entries, postings
    stmt = (
        select(
            s.c.seal_number,
            s.c.leaf_index,
            type_coerce(s.c.leaf_hash, LargeBinary),
            _uuid_text(conn, s.c.entry_id),
            *_leaf_columns(conn)[1:],
        )
        .select_from(s.outerjoin(e, e.c.id == s.c.entry_id).outerjoin(p, p.c.entry_id == e.c.id))
        .order_by(s.c.seal_number, s.c.leaf_index, p.c.line)
    )
    if number is not None:
        stmt = stmt.where(s.c.seal_number == number, s.c.leaf_index >= first_leaf)
        if end_leaf is not None:
            stmt = stmt.where(s.c.leaf_index < end_leaf)
    batches = _raw_batches(conn, stmt, BATCH_ROWS)
    return _prefetched(batches) if conn.dialect.name == "postgresql" else batches


def membership(conn: Connection, entry_id: uuid.UUID) -> tuple[int, int] | None:
    """The seal and leaf index of an entry, if it is sealed."""
    row = conn.execute(
        select(seal_entries.c.seal_number, seal_entries.c.leaf_index).where(
            seal_entries.c.entry_id == entry_id
        )
    ).first()
    return None if row is None else (int(row[0]), int(row[1]))


def leaf_hashes(conn: Connection, number: int, first_leaf: int, end_leaf: int) -> list[bytes]:
    """The stored leaf hashes of leaves ``[first_leaf, end_leaf)`` of a seal."""
    s = seal_entries
    rows = conn.execute(
        select(s.c.leaf_hash)
        .where(s.c.seal_number == number, s.c.leaf_index >= first_leaf, s.c.leaf_index < end_leaf)
        .order_by(s.c.leaf_index)
    )
    return [bytes(row[0]) for row in rows]


def entry_exists(conn: Connection, entry_id: uuid.UUID) -> bool:
    return (
        conn.execute(select(journal_entries.c.id).where(journal_entries.c.id == entry_id)).first()
        is not None
    )


def unsealed_before(conn: Connection, cut: Cut, *, limit: int) -> list[str]:
    """PostgreSQL: entries of transactions that had finished at ``cut`` (so the
    seal with that cut had to take them) but which are in no seal."""
    e = journal_entries
    finished = and_(e.c.xact_id < cut.xmax, not_(_after(cut)))
    rows = conn.execute(
        select(_uuid_text(conn, e.c.id))
        .where(finished, ~exists().where(seal_entries.c.entry_id == e.c.id))
        .order_by(e.c.xact_id, e.c.id)
        .limit(limit)
    )
    return [str(row[0]) for row in rows]


def members_count(conn: Connection) -> int:
    return int(conn.execute(select(func.count()).select_from(seal_entries)).scalar_one())
