"""The posting engine: how a money movement is written to the journal.

Journal entries are written in two places, both under the rules below: here,
one :class:`~service.domain.posting.Entry` at a time (every use case), and
:func:`service.db.holds.release_batch`, which writes the release entries of a
whole batch of holds set-based (``INSERT ... SELECT``: building 10,000
entries in Python would cost more than the release itself). Either way the
database triggers check each entry balances and derive ``balances`` and
``hold_lots`` from the postings.

A money movement goes through three steps, all in the caller's transaction:

1. :func:`lock_balances` — create any missing balance row and lock every row
   the movement touches, in one round trip, in a fixed order (ledger account
   id, then asset). Because the lock is taken before the balance is read, two
   movements can never both spend the same funds. A movement that only credits
   may skip this step: the trigger then locks its rows, in the same order.
2. The service checks funds on the locked figures and builds an
   :class:`~service.domain.posting.Entry` (the domain checks it balances).
3. :func:`post` inserts the entry and all its postings in one statement each.
   The database then updates ``balances`` and ``hold_lots`` from the postings
   (triggers), so a balance can only ever change by a posting.

Lock order, everywhere: hold rows first (by id), then balance rows (by ledger
account id and asset), each group taken in a single statement. Lots change only
under their hold's lock. With one global order, movements wait for each other
but never deadlock.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any

from sqlalchemy import Connection, func, select, text, tuple_

from service.db.dialect import Part, insert_together, upsert
from service.db.tables import assets, balances, journal_entries, postings
from service.domain.chart import Bucket, customer_account_name, ledger_account_id
from service.domain.ids import new_id
from service.domain.money import Asset
from service.domain.posting import Entry

_CUSTOMER_PREFIX = "Liabilities:Customers:"


@lru_cache(maxsize=65536)
def ledger_key(name: str) -> tuple[uuid.UUID, uuid.UUID | None]:
    """Ledger account id and, for a customer sub-account, the customer account id."""
    account_id = None
    if name.startswith(_CUSTOMER_PREFIX):
        account_id = uuid.UUID(name[len(_CUSTOMER_PREFIX) :].split(":", 1)[0])
    return ledger_account_id(name), account_id


@dataclass(frozen=True, slots=True, order=True)
class BalanceKey:
    ledger_account: str
    asset: str

    @classmethod
    def customer(cls, account_id: uuid.UUID, bucket: Bucket, asset: str) -> BalanceKey:
        return cls(customer_account_name(account_id, bucket), asset)


def lock_balances(conn: Connection, keys: Iterable[BalanceKey]) -> dict[BalanceKey, int]:
    """Lock (creating if missing) the balance rows of ``keys``; return their balances.

    The lock of a key is its slot-0 row (a platform account's balance is spread
    over slots, migration 0005; a customer's lives in slot 0 alone). Rows are
    locked in sorted order, which is the lock order, by one ``INSERT ... ON
    CONFLICT DO UPDATE`` that also creates missing rows at zero. PostgreSQL
    (``ledger_lock_balances``) then sums every slot with a fresh snapshot, in
    the same round trip. On SQLite the write transaction already holds the
    database lock and only slot 0 is written; the statement just reads.
    """
    wanted = sorted(set(keys), key=lambda k: (ledger_key(k.ledger_account)[0].bytes, k.asset))
    if not wanted:
        return {}
    by_id: dict[tuple[uuid.UUID, str], BalanceKey] = {}
    rows = []
    for key in wanted:
        ledger_id, account_id = ledger_key(key.ledger_account)
        rows.append((ledger_id, key.asset, account_id))
        by_id[(ledger_id, key.asset)] = key
    if conn.dialect.name == "postgresql":
        ids, assets_, owners = (list(column) for column in zip(*rows, strict=True))
        result = conn.execute(_PG_LOCK_BALANCES, {"ids": ids, "assets": assets_, "owners": owners})
    else:
        stmt = (
            upsert(conn, balances)
            .values(
                [
                    {"ledger_account_id": i, "asset": a, "slot": 0, "account_id": o, "balance": 0}
                    for i, a, o in rows
                ]
            )
            .on_conflict_do_update(
                index_elements=[balances.c.ledger_account_id, balances.c.asset, balances.c.slot],
                set_={"balance": balances.c.balance},
            )
            .returning(balances.c.ledger_account_id, balances.c.asset, balances.c.balance)
        )
        result = conn.execute(stmt)
    return {by_id[(row[0], row[1])]: int(row[2]) for row in result}


_PG_LOCK_BALANCES = text(
    "SELECT ledger_account_id, asset, balance FROM ledger_lock_balances("
    "CAST(:ids AS uuid[]), CAST(:assets AS text[]), CAST(:owners AS uuid[]))"
)


def read_balances(conn: Connection, keys: Iterable[BalanceKey]) -> dict[BalanceKey, int]:
    """Balances of ``keys`` without locking (missing rows read as zero; slots summed)."""
    by_id = {(ledger_key(k.ledger_account)[0], k.asset): k for k in keys}
    result = dict.fromkeys(by_id.values(), 0)
    if by_id:
        key = (balances.c.ledger_account_id, balances.c.asset)
        stmt = (
            select(*key, func.sum(balances.c.balance))
            .where(tuple_(*key).in_(list(by_id)))
            .group_by(*key)
        )
        for ledger_id, asset, balance in conn.execute(stmt):
            result[by_id[(ledger_id, asset)]] = int(balance)
    return result


def post(conn: Connection, entry: Entry) -> uuid.UUID:
    """Write ``entry`` and its postings (one statement on PostgreSQL); the
    database updates balances and lots."""
    if entry.id is None:
        entry = replace(entry, id=new_id())
    insert_together(conn, [entries_part([entry]), postings_part([entry])])
    assert entry.id is not None
    return entry.id


def entries_part(entries: list[Entry]) -> Part:
    """The entries' rows, for :func:`service.db.dialect.insert_together`."""
    return (journal_entries, entry_rows(entries), ())


def postings_part(entries: list[Entry]) -> Part:
    """The entries' postings, for :func:`service.db.dialect.insert_together`."""
    return (postings, posting_rows(entries), ())


def entry_rows(entries: list[Entry]) -> list[dict[str, Any]]:
    """The ``journal_entries`` rows of ``entries``, which must carry their ids."""
    rows: list[dict[str, Any]] = []
    for entry in entries:
        assert entry.id is not None, "give every entry its id first"
        rows.append(
            {
                "id": entry.id,
                "type": entry.type.value,
                "posted_at": entry.posted_at,
                "reference": entry.reference,
                "memo": entry.memo,
                "account_id": entry.account_id,
            }
        )
    return rows


def posting_rows(entries: list[Entry]) -> list[dict[str, Any]]:
    """All ``postings`` rows of ``entries``, to be written by one statement: on
    PostgreSQL a statement-level trigger checks that every entry in it balances
    per asset, and applies them to balances and lots."""
    rows = []
    for entry in entries:
        assert entry.id is not None, "give every entry its id first"
        for line, posting in enumerate(entry.postings, start=1):
            ledger_id, account_id = ledger_key(posting.account)
            rows.append(
                {
                    "entry_id": entry.id,
                    "line": line,
                    "ledger_account_id": ledger_id,
                    "asset": posting.amount.asset.code,
                    "amount": posting.amount.minor,
                    "account_id": account_id,
                    "hold_id": posting.hold_id,
                }
            )
    return rows


def load_assets(conn: Connection) -> Mapping[str, Asset]:
    return {code: Asset(code, scale) for code, scale in conn.execute(select(assets))}
