"""Journal seals (API.md, Journal seals; DESIGN.md §9): seal, read, prove, verify.

* :func:`seal` puts every entry committed since the last seal into seal n+1,
  in one transaction beside the write path: deposits never wait for it (the
  only shared thing is the sealers' own lock). Which entries, and why none is
  lost or taken twice: :mod:`service.db.seals`.
* :func:`proof` answers an entry's RFC 9162 inclusion proof from the seal's
  chunk roots and one chunk's leaf hashes: O(log n) work, whatever the seal's size.
* :func:`verify_seals` rebuilds every leaf from the journal as it is now and
  compares it with the leaf hash sealed, recomputes every root and seal hash,
  and follows the chain; the first seal and entry that differ are named.

Leaves are made from the journal with the functions that format
``journal.csv`` (:mod:`service.domain.exports`, :func:`format_minor`), so a
leaf's values are the export's (:mod:`service.domain.seals`). One exception,
for speed: on PostgreSQL the sealer has the database write each entry's
postings (:func:`service.db.seals.unsealed_entries`). Verification and proofs
always write the whole leaf in Python, so a leaf the database wrote
differently would be named by ``ledger verify``.
"""

from __future__ import annotations

import base64
import hashlib
import queue
import threading
import uuid
from collections.abc import Callable, Generator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from service.db import exports as export_queries
from service.db import seals as queries
from service.db.database import Database
from service.db.ledger import load_assets
from service.domain import merkle
from service.domain.errors import Conflict, NotFound
from service.domain.exports import csv_field, iso_from_utc_text, uuid_text
from service.domain.money import format_minor
from service.domain.seals import (
    Seal,
    leaf_of_parts,
    make_seal,
    posting_parts,
    seal_hash,
)
from service.domain.timestamps import format_utc

#: Leaves hashed and recorded per statement while sealing.
MEMBERS_PER_INSERT = 10_000
SEALS_COLUMNS = ("number", "sealed_at", "entries", "root", "previous", "hash")

OnEntries = Callable[[int], None]


class _Names:
    """Ledger account names by id (UUID text), looked up a batch at a time and
    kept in a bounded cache."""

    LIMIT = 100_000

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self.names: dict[str, str] = {}

    def load(self, batch: list[tuple[Any, ...]], column: int) -> dict[str, str]:
        missing = {row[column] for row in batch if row[column] is not None} - self.names.keys()
        if missing:
            if len(self.names) + len(missing) > self.LIMIT:
                self.names.clear()
                missing = {row[column] for row in batch if row[column] is not None}
            found = export_queries.ledger_account_names(self._conn, missing)
            self.names.update({key: name for key, (name, _type) in found.items()})
        return self.names


@dataclass(slots=True)
class _Entry:
    """One sealed entry read back from the journal: what its leaf is made of
    (its postings already written out, see :class:`_Postings`)."""

    entry_id: str
    posted_at: str | None
    type: str
    reference: str
    postings: list[str]
    seal_number: int = 0
    leaf_index: int = 0
    sealed_hash: bytes = b""

    def leaf(self) -> bytes:
        assert self.posted_at is not None
        return leaf_of_parts(
            uuid_text(self.entry_id),
            self.type,
            iso_from_utc_text(self.posted_at),
            self.reference,
            self.postings,
        )


def _unknown(account_id: str) -> str:
    return f"<unknown ledger account {uuid_text(account_id)}>"


class _Postings:
    """Writes out a leaf's postings (the sealer's and the verifier's hot path,
    run once per posting): the text of a posting around its amount is made
    once per (ledger account, asset) (:func:`posting_parts`) with the account's
    name and the asset's scale; the amount is :func:`format_minor`, as in
    ``journal.csv``. ``leaf()`` of the same values gives the same bytes
    (tested)."""

    def __init__(self, conn: Connection) -> None:
        self._scales = {code: asset.scale for code, asset in load_assets(conn).items()}
        self._names = _Names(conn)
        self.cache: dict[tuple[str, str], tuple[str, str, int]] = {}

    def parts(
        self, batch: list[tuple[Any, ...]], column: int, account_id: str, asset: str
    ) -> tuple[str, str, int]:
        """(text before the amount, text after it, scale) of a posting of
        ``account_id`` in ``asset``; names of a batch (whose ledger account ids
        are in ``column``) are looked up together."""
        part = self.cache.get((account_id, asset))
        if part is None:
            known = self._names.names
            if account_id not in known:
                known = self._names.load(batch, column)
            if len(self.cache) >= _Names.LIMIT:
                self.cache.clear()
            name = known.get(account_id) or _unknown(account_id)
            before, after = posting_parts(name, asset)
            part = self.cache[account_id, asset] = (before, after, self._scales.get(asset, 0))
        return part


def _entries(conn: Connection, batches: Iterator[list[tuple[Any, ...]]]) -> Iterator[_Entry]:
    """Group the rows of :func:`queries.sealed_postings` into entries (an
    entry's rows may span two batches)."""
    writer = _Postings(conn)
    cached = writer.cache
    current: _Entry | None = None
    postings: list[str] = []
    key: Any = None
    for batch in batches:
        for row in batch:
            number, index, sealed_hash, entry_id, posted_at, entry_type, reference = row[:7]
            if (number, index) != key:
                if current is not None:
                    yield current
                key, postings = (number, index), []
                current = _Entry(entry_id, posted_at, entry_type, reference, postings)
                current.seal_number, current.leaf_index = number, index
                current.sealed_hash = bytes(sealed_hash)
            account_id, asset, amount = row[7:]
            if account_id is not None:
                part = cached.get((account_id, asset)) or writer.parts(batch, 7, account_id, asset)
                postings.append(part[0] + format_minor(amount, part[2]) + part[1])
    if current is not None:
        yield current


# -- sealing ---------------------------------------------------------------------


def _leaf_hashes(
    conn: Connection, batches: Iterator[list[tuple[Any, ...]]]
) -> Iterator[tuple[str, bytes]]:
    """(entry id as read, leaf hash) of every entry of :func:`queries.unsealed_postings`.

    What :class:`_Entry` ``.leaf()`` and :func:`merkle.leaf_hash` compute, in
    one loop: the sealer's path on SQLite, run once per posting (postings
    written out by :class:`_Postings`; the time by :func:`iso_from_utc_text`,
    the id by :func:`uuid_text`, as in ``journal.csv``).
    """
    writer = _Postings(conn)
    cached = writer.cache
    sha256, prefix = hashlib.sha256, merkle.LEAF_PREFIX
    key: Any = None
    head: tuple[str, str, str, str] = ("", "", "", "")
    lines: list[str] = []
    for batch in batches:
        for entry_id, posted_at, entry_type, reference, account_id, asset, amount in batch:
            if entry_id != key:
                if key is not None:
                    yield key, sha256(prefix + leaf_of_parts(*head, lines)).digest()
                key, lines = entry_id, []
                head = (uuid_text(entry_id), entry_type, iso_from_utc_text(posted_at), reference)
            part = cached.get((account_id, asset)) or writer.parts(batch, 4, account_id, asset)
            lines.append(part[0] + format_minor(amount, part[2]) + part[1])
    if key is not None:
        yield key, sha256(prefix + leaf_of_parts(*head, lines)).digest()


def _grouped_leaf_hashes(batches: Iterator[list[tuple[Any, ...]]]) -> Iterator[tuple[str, bytes]]:
    """(entry id, leaf hash) of every entry of :func:`queries.unsealed_entries`
    (PostgreSQL), whose postings the server has written out: the client adds
    the entry's own fields and hashes. Over a million entries this halves the
    client's work per entry, which bounds the sealing rate on two cores."""
    sha256, prefix = hashlib.sha256, merkle.LEAF_PREFIX
    for batch in batches:
        for entry_id, posted_at, entry_type, reference, written in batch:
            leaf = leaf_of_parts(
                entry_id, entry_type, iso_from_utc_text(posted_at), reference, (written,)
            )
            yield entry_id, sha256(prefix + leaf).digest()


def _unsealed_leaf_hashes(
    reader: Connection, last: queries.SealRow | None
) -> Iterator[tuple[str, bytes]]:
    """(entry id, leaf hash) of every entry the next seal takes, in seal order."""
    if reader.dialect.name == "postgresql":
        previous, first = (None, True) if last is None else (last.cut, False)
        return _grouped_leaf_hashes(queries.unsealed_entries(reader, previous, first=first))
    return _leaf_hashes(reader, queries.unsealed_postings(reader))


class _Recorder:
    """Records membership rows on the sealer's connection from a helper thread,
    while the caller reads and hashes the next entries: on PostgreSQL the
    inserts (index maintenance in the server) overlap with the reading (another
    connection, another server process) and with the hashing (the client).
    At most two batches wait. The caller must not use the connection until
    :meth:`finish` returns. On SQLite (one connection, one writer) it records
    in the caller's thread."""

    def __init__(self, tx: Connection, number: int, on_entries: OnEntries | None) -> None:
        self._tx = tx
        self._number = number
        self._on_entries = on_entries
        self._queue: queue.Queue[tuple[int, list[str], list[bytes]] | None] = queue.Queue(2)
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None
        if tx.dialect.name == "postgresql":
            self._thread = threading.Thread(
                target=self._run, name="ledger-seal-recorder", daemon=True
            )
            self._thread.start()

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            if self._error is not None:
                continue
            try:
                self._record(*item)
            except BaseException as exc:  # raised in the caller's thread by finish()
                self._error = exc

    def _record(self, first: int, ids: list[str], hashes: list[bytes]) -> None:
        queries.insert_members(self._tx, self._number, first, ids, hashes)
        if self._on_entries is not None:
            self._on_entries(len(ids))

    def add(self, first: int, ids: list[str], hashes: list[bytes]) -> None:
        if self._thread is None:
            self._record(first, ids, hashes)
            return
        if self._error is not None:
            self.finish()
        self._queue.put((first, ids, hashes))

    def finish(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()
        if self._error is not None:
            raise self._error


@contextmanager
def _journal_reader(db: Database, tx: Connection) -> Iterator[Connection]:
    """Where the sealer reads the entries to seal. PostgreSQL: a connection of
    its own, opened after the cut was taken, so its snapshot sees committed
    every transaction the cut saw finished, and its reading runs beside the
    sealer's inserts. SQLite: the sealer's own transaction, which holds the
    write lock."""
    if tx.dialect.name != "postgresql":
        yield tx
        return
    with db.read() as reader:
        yield reader


def seal(db: Database, now: datetime, *, on_entries: OnEntries | None = None) -> Seal | None:
    """Seal every entry committed since the last seal; None when there is none."""
    with db.write() as tx:
        queries.lock_sealing(tx)
        last = queries.last_seal(tx)
        number = 1 if last is None else last.seal.number + 1
        cut = queries.current_cut(tx)
        chunks: list[bytes] = []
        chunk: list[bytes] = []
        ids: list[str] = []
        hashes: list[bytes] = []
        count = 0
        chunk_leaves, root_of = merkle.CHUNK_LEAVES, merkle.root_of
        recorder = _Recorder(tx, number, on_entries)
        try:
            with _journal_reader(db, tx) as reader:
                for entry_id, digest in _unsealed_leaf_hashes(reader, last):
                    chunk.append(digest)
                    if len(chunk) == chunk_leaves:
                        chunks.append(root_of(chunk))
                        chunk = []
                    ids.append(entry_id)
                    hashes.append(digest)
                    if len(ids) == MEMBERS_PER_INSERT:
                        recorder.add(count, ids, hashes)
                        count += len(ids)
                        ids, hashes = [], []
            if ids:
                recorder.add(count, ids, hashes)
                count += len(ids)
        finally:
            recorder.finish()
        if count == 0:
            return None
        if chunk:
            chunks.append(root_of(chunk))
        root = root_of(chunks).hex()
        result = make_seal(number, count, root, None if last is None else last.seal.hash, now)
        queries.insert_seal(tx, result, cut=cut, chunk_roots=b"".join(chunks))
        return result


# -- reading ---------------------------------------------------------------------


def _not_found(number: int) -> NotFound:
    return NotFound(f"there is no seal {number}", code="seal_not_found")


def get_seal(db: Database, number: int) -> Seal:
    with db.read() as conn:
        found = queries.find_seal(conn, number)
    if found is None:
        raise _not_found(number)
    return found.seal


def latest_seal(db: Database) -> Seal:
    with db.read() as conn:
        found = queries.last_seal(conn)
    if found is None:
        raise NotFound("nothing has been sealed yet", code="seal_not_found")
    return found.seal


def list_seals(db: Database, after: int, limit: int) -> tuple[list[Seal], int]:
    """Seals after number ``after``, ascending, and the ``next_after`` cursor."""
    with db.read() as conn:
        items = queries.list_seals(conn, after, limit)
    return items, items[-1].number if items else after


def proof(db: Database, entry_id: uuid.UUID) -> dict[str, Any]:
    """The RFC 9162 inclusion proof of an entry in its seal.

    404 ``entry_not_found`` for an unknown entry, 409 ``entry_not_sealed`` for
    one that no seal holds yet. The leaf is rebuilt from the journal as it is
    now, so a proof of an entry changed since it was sealed does not verify.
    """
    with db.read() as conn:
        found = queries.membership(conn, entry_id)
        if found is None:
            if not queries.entry_exists(conn, entry_id):
                raise NotFound(f"there is no journal entry {entry_id}", code="entry_not_found")
            raise Conflict(
                f"journal entry {entry_id} is not sealed yet; it goes into the next seal",
                code="entry_not_sealed",
            )
        number, index = found
        sealed = queries.find_seal(conn, number)
        assert sealed is not None, "membership names a seal that does not exist"
        chunk = index // merkle.CHUNK_LEAVES
        start = chunk * merkle.CHUNK_LEAVES
        end = min(start + merkle.CHUNK_LEAVES, sealed.seal.entries)
        leaves = queries.leaf_hashes(conn, number, start, end)
        rows = queries.sealed_postings(conn, number=number, first_leaf=index, end_leaf=index + 1)
        entry = next(_entries(conn, rows))
    if entry.posted_at is None:
        raise NotFound(
            f"journal entry {entry_id} is missing from the journal", code="entry_not_found"
        )
    tree = merkle.ChunkedTree(
        sealed.seal.entries, merkle.split_hashes(sealed.chunk_roots), chunk, leaves
    )
    return {
        "entry_id": str(entry_id),
        "seal": sealed.seal.as_dict(),
        "leaf_index": index,
        "leaf": base64.b64encode(entry.leaf()).decode("ascii"),
        "audit_path": [h.hex() for h in tree.path(index)],
    }


def seals_csv(db: Database) -> Generator[str, None, None]:
    """``seals.csv``: ``number,sealed_at,entries,root,previous,hash``, streamed in
    number order (CRLF, like the other exports)."""
    with db.read() as conn:
        export_queries.snapshot(conn)
        yield ",".join(SEALS_COLUMNS) + "\r\n"
        lines: list[str] = []
        for row in queries.stream_seals(conn):
            s = row.seal
            lines.append(
                f"{s.number},{format_utc(s.sealed_at)},{s.entries},{s.root},"
                f"{csv_field(s.previous or '')},{s.hash}\r\n"
            )
            if len(lines) == 2000:
                yield "".join(lines)
                lines = []
        if lines:
            yield "".join(lines)


# -- verification ------------------------------------------------------------------

_LIMIT = 20


class _Problems(list[str]):
    """Problems found so far; stops the check (:class:`_Enough`) at the limit."""

    def add(self, message: str) -> None:
        self.append(message)
        if len(self) >= _LIMIT:
            raise _Enough


class _Enough(Exception):
    pass


def verify_seals(
    db: Database,
    *,
    pinned: tuple[int, str] | None = None,
    on_entries: OnEntries | None = None,
) -> list[str]:
    """Every seal recomputed from the journal as it is now; problems, first first.

    Per seal: every member entry still exists and its leaf (rebuilt now) hashes
    to the leaf hash sealed (else the first such entry is named), the leaves are
    0..n-1, the chunk roots and the root follow from the leaf hashes, the hash
    follows from the seal's fields, and ``previous`` is the hash of the seal
    before (numbers contiguous from 1). On PostgreSQL, every entry whose
    transaction finished before the last cut is in a seal. ``pinned`` =
    (number, hash) of a seal kept outside the database, which must match.
    """
    problems = _Problems()
    with db.read() as conn:
        export_queries.snapshot(conn)
        try:
            last = _check_chain(conn, problems, pinned, on_entries)
            if last is not None and last.cut is not None:
                for entry_id in queries.unsealed_before(conn, last.cut, limit=_LIMIT):
                    problems.add(
                        f"entry {uuid_text(entry_id)} was committed before seal "
                        f"{last.seal.number} was cut but is in no seal"
                    )
        except _Enough:
            pass
    return list(problems)


def _check_chain(
    conn: Connection,
    problems: _Problems,
    pinned: tuple[int, str] | None,
    on_entries: OnEntries | None,
) -> queries.SealRow | None:
    """Walk the seals and their members side by side (both in number order)."""
    members = _entries(conn, queries.sealed_postings(conn))
    pending = next(members, None)
    previous_hash: str | None = None
    last: queries.SealRow | None = None
    pinned_seen = False
    for row in queries.stream_seals(conn):
        s = row.seal
        expected = 1 if last is None else last.seal.number + 1
        if s.number != expected:
            problems.add(f"seal {expected} is missing: the next seal is {s.number}")
        if s.previous != previous_hash:
            problems.add(
                f"seal {s.number}: previous is {s.previous} but the hash of the seal before "
                f"is {previous_hash}"
            )
        if seal_hash(s.number, s.entries, s.root, s.previous, s.sealed_at) != s.hash:
            problems.add(f"seal {s.number}: its hash does not match its fields")
        if pinned is not None and pinned[0] == s.number:
            pinned_seen = True
            if pinned[1] != s.hash:
                problems.add(
                    f"seal {s.number}: hash {s.hash} differs from the one kept outside the "
                    f"database, {pinned[1]}"
                )
        previous_hash, last = s.hash, row
        while pending is not None and pending.seal_number < s.number:
            problems.add(
                f"entry {uuid_text(pending.entry_id)} is recorded in seal "
                f"{pending.seal_number}, which does not exist"
            )
            pending = next(members, None)
        # The stored leaf hashes, folded into chunk roots as they come (memory
        # stays O(n / CHUNK_LEAVES) whatever the seal's size).
        chunks: list[bytes] = []
        chunk: list[bytes] = []
        leaves = 0
        intact = True
        while pending is not None and pending.seal_number == s.number:
            entry = pending
            if entry.leaf_index != leaves:
                problems.add(f"seal {s.number}: leaf {leaves} is missing")
                intact = False
                leaves += 1
                continue
            if entry.posted_at is None:
                digest, change = b"", "is missing from the journal"
            else:
                digest, change = merkle.leaf_hash(entry.leaf()), "differs from what was sealed"
            if intact and digest != entry.sealed_hash:
                problems.add(
                    f"seal {s.number}: entry {uuid_text(entry.entry_id)} "
                    f"(leaf {entry.leaf_index}) {change}"
                )
                intact = False
            chunk.append(entry.sealed_hash)
            if len(chunk) == merkle.CHUNK_LEAVES:
                chunks.append(merkle.root_of(chunk))
                chunk = []
            leaves += 1
            pending = next(members, None)
        if chunk:
            chunks.append(merkle.root_of(chunk))
        if on_entries is not None:
            on_entries(leaves)
        if leaves != s.entries:
            problems.add(f"seal {s.number}: holds {leaves} entries but says {s.entries}")
        elif intact:
            if merkle.root_of(chunks).hex() != s.root:
                problems.add(f"seal {s.number}: its root does not match its leaf hashes")
            elif b"".join(chunks) != row.chunk_roots:
                problems.add(f"seal {s.number}: its chunk roots do not match its leaf hashes")
    if pending is not None:
        problems.add(
            f"entry {uuid_text(pending.entry_id)} is recorded in seal {pending.seal_number}, "
            "which does not exist"
        )
    if pinned is not None and not pinned_seen:
        problems.add(f"seal {pinned[0]} (kept outside the database) does not exist")
    return last


def parse_pinned(text: str) -> tuple[int, str]:
    """``NUMBER:HASH`` (the ``--seal`` option); ValueError when malformed."""
    number, sep, value = text.partition(":")
    value = value.strip().lower()
    if not sep or not number.strip().isdigit() or len(value) != 64:
        raise ValueError("expected NUMBER:HASH, the hash as 64 hex digits")
    int(value, 16)
    return int(number), value


def seal_dict(value: Seal | None) -> dict[str, Any]:
    return {"sealed": 0} if value is None else value.as_dict()
