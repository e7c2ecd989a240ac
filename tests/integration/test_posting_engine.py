"""The posting engine on both databases: balances follow postings, the journal is
append-only, the database refuses broken books, and concurrent spends serialize."""

from __future__ import annotations

import threading
import time
import uuid
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Connection, func, select, text
from sqlalchemy.exc import DBAPIError

from service.db import ledger
from service.db.database import Database
from service.db.dialect import insert_together
from service.db.ledger import BalanceKey
from service.db.tables import balances, hold_lots, journal_entries, postings
from service.domain.accounts import Tier
from service.domain.chart import Bucket, Platform, customer_account_name, ledger_account_id
from service.domain.errors import Conflict
from service.domain.ids import new_id
from service.domain.money import Amount, Asset
from service.domain.posting import Entry, EntryType, Posting
from service.services.accounts import OpenAccount, open_account
from service.services.verify import verify_journal as verify

USD = Asset("USD", 2)
BTC = Asset("BTC", 8)
NOW = datetime(2026, 11, 20, 20, 0, tzinfo=UTC)


def new_account(db: Database) -> uuid.UUID:
    with db.write() as tx:
        record = open_account(
            tx,
            OpenAccount(f"ext-{uuid.uuid4().hex}", "GB", Tier.BASIC),
            client_country="GB",
            blocked=frozenset({"US"}),
            now=NOW,
        )
    return record.id


def available(account: uuid.UUID) -> str:
    return customer_account_name(account, Bucket.AVAILABLE)


def move(
    debit: str,
    credit: str,
    amount: Amount,
    *,
    kind: EntryType = EntryType.DEPOSIT,
    account: uuid.UUID | None = None,
) -> Entry:
    """An entry moving ``amount`` from ``credit`` to ``debit``."""
    return Entry(
        type=kind,
        posted_at=NOW,
        reference=f"test:{uuid.uuid4().hex[:8]}",
        postings=(Posting(debit, amount), Posting(credit, -amount)),
        account_id=account,
    )


def post(db: Database, entry: Entry) -> uuid.UUID:
    with db.write() as tx:
        keys = {BalanceKey(p.account, p.amount.asset.code) for p in entry.postings}
        ledger.lock_balances(tx, keys)
        return ledger.post(tx, entry)


def mentions(found: list[str], ident: uuid.UUID, rest: str) -> bool:
    """Some report line names ``ident`` (either UUID spelling) followed by ``rest``."""
    return any(
        f"{spelling}{rest}" in line for line in found for spelling in (str(ident), ident.hex)
    )


def problems(db: Database) -> list[str]:
    with db.read() as conn:
        return verify(conn)


def usd(text_value: str) -> Amount:
    return Amount.parse(text_value, USD)


def btc(text_value: str) -> Amount:
    return Amount.parse(text_value, BTC)


def tamper_balance(db: Database, name: str, asset: str, delta: int) -> None:
    """Change a balance behind the engine's back (on PostgreSQL only possible with
    triggers disabled, i.e. by a superuser)."""
    with db.write() as tx:
        if db.is_postgres:
            tx.execute(text("SET LOCAL session_replication_role = replica"))
        tx.execute(
            balances.update()
            .where(
                balances.c.ledger_account_id == ledger_account_id(name), balances.c.asset == asset
            )
            .values(balance=balances.c.balance + delta)
        )


def postings_sum(conn: Connection, name: str, asset: str) -> int:
    return int(
        conn.execute(
            select(func.coalesce(func.sum(postings.c.amount), 0)).where(
                postings.c.ledger_account_id == ledger_account_id(name), postings.c.asset == asset
            )
        ).scalar_one()
    )


# -- balances follow postings -----------------------------------------------------


def test_balances_equal_postings_after_several_entries(db: Database) -> None:
    alice, bob = new_account(db), new_account(db)
    entries = [
        move(Platform.CLEARING_BANK.value, available(alice), usd("100.00"), account=alice),
        move(Platform.CLEARING_CRYPTO.value, available(bob), btc("0.0015"), account=bob),
        move(Platform.CLEARING_BANK.value, available(bob), usd("0.01"), account=bob),
        move(
            available(alice),
            Platform.PAYOUTS.value,
            usd("30.50"),
            kind=EntryType.WITHDRAWAL,
            account=alice,
        ),
        move(Platform.CLEARING_CRYPTO.value, available(alice), btc("1.23456789"), account=alice),
    ]
    expected: dict[BalanceKey, int] = defaultdict(int)
    for entry in entries:
        post(db, entry)
        for p in entry.postings:
            expected[BalanceKey(p.account, p.amount.asset.code)] += p.amount.minor

    assert expected[BalanceKey(available(alice), "USD")] == -6950
    with db.read() as conn:
        got = ledger.read_balances(conn, expected)
        assert got == dict(expected)
        for key, value in expected.items():
            assert postings_sum(conn, key.ledger_account, key.asset) == value
        per_asset = dict(
            conn.execute(
                select(balances.c.asset, func.sum(balances.c.balance)).group_by(balances.c.asset)
            ).all()
        )
        assert all(total == 0 for total in per_asset.values())
        assert set(per_asset) == {"USD", "BTC"}
        count = conn.execute(select(func.count()).select_from(journal_entries)).scalar_one()
        assert count == len(entries)
    assert problems(db) == []


def test_read_balances_of_unknown_rows_are_zero_and_create_nothing(db: Database) -> None:
    alice = new_account(db)
    key = BalanceKey(available(alice), "ETH")
    with db.read() as conn:
        assert ledger.read_balances(conn, [key]) == {key: 0}
        assert ledger.read_balances(conn, []) == {}
        assert conn.execute(select(func.count()).select_from(balances)).scalar_one() == 0


def test_lock_balances_creates_missing_rows_at_zero_and_returns_current(db: Database) -> None:
    alice = new_account(db)
    post(db, move(Platform.CLEARING_BANK.value, available(alice), usd("12.34"), account=alice))
    keys = [
        BalanceKey(available(alice), "USD"),
        BalanceKey(available(alice), "EUR"),
        BalanceKey(Platform.CLEARING_BANK.value, "USD"),
    ]
    with db.write() as tx:
        locked = ledger.lock_balances(tx, keys)
    assert locked == {keys[0]: -1234, keys[1]: 0, keys[2]: 1234}
    with db.read() as conn:
        assert ledger.read_balances(conn, keys) == locked
    with db.write() as tx:
        assert ledger.lock_balances(tx, keys) == locked
        assert ledger.lock_balances(tx, []) == {}
    assert problems(db) == []


def test_post_refuses_nothing_the_domain_accepts_and_returns_the_entry_id(db: Database) -> None:
    alice = new_account(db)
    entry_id = new_id()
    entry = Entry(
        type=EntryType.DEPOSIT,
        posted_at=NOW,
        reference="ref",
        id=entry_id,
        account_id=alice,
        postings=(
            Posting(Platform.CLEARING_CARD.value, usd("5.00")),
            Posting(available(alice), -usd("5.00")),
        ),
    )
    with db.write() as tx:
        assert ledger.post(tx, entry) == entry_id
    with db.read() as conn:
        rows = conn.execute(
            select(postings.c.line, postings.c.amount, postings.c.account_id)
            .where(postings.c.entry_id == entry_id)
            .order_by(postings.c.line)
        ).all()
    assert [(r[0], r[1]) for r in rows] == [(1, 500), (2, -500)]
    assert rows[0][2] is None
    assert rows[1][2] == alice


def test_a_failed_transaction_leaves_no_trace(db: Database) -> None:
    alice = new_account(db)

    def post_then_fail() -> None:
        with db.write() as tx:
            ledger.post(tx, move(Platform.CLEARING_BANK.value, available(alice), usd("1.00")))
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        post_then_fail()
    with db.read() as conn:
        assert conn.execute(select(func.count()).select_from(postings)).scalar_one() == 0
        assert conn.execute(select(func.count()).select_from(balances)).scalar_one() == 0


# -- verify -------------------------------------------------------------------------


def test_verify_is_clean_on_good_books_and_reports_a_tampered_balance(db: Database) -> None:
    alice = new_account(db)
    post(db, move(Platform.CLEARING_BANK.value, available(alice), usd("100.00"), account=alice))
    assert problems(db) == []

    if db.is_postgres:
        # the database itself refuses a balance change that is not a posting
        with pytest.raises(DBAPIError, match="changes only through postings"), db.write() as tx:
            tx.execute(
                balances.update()
                .where(balances.c.ledger_account_id == ledger_account_id(available(alice)))
                .values(balance=balances.c.balance + 1)
            )
        assert problems(db) == []

    tamper_balance(db, available(alice), "USD", 1)
    found = problems(db)
    assert mentions(
        found,
        ledger_account_id(available(alice)),
        " in USD is -9999 but its postings sum to -10000",
    ), found
    assert any("balances in USD sum to 1" in p for p in found), found


def test_verify_reports_a_balance_row_without_postings(db: Database) -> None:
    alice = new_account(db)
    post(db, move(Platform.CLEARING_BANK.value, available(alice), usd("1.00"), account=alice))
    with db.write() as tx:
        ledger.lock_balances(tx, [BalanceKey(available(alice), "EUR")])  # a zero row is fine
    assert problems(db) == []
    tamper_balance(db, available(alice), "EUR", -7)
    found = problems(db)
    assert any("in EUR is -7 but its postings sum to 0" in p for p in found), found


# -- the database guards the journal -------------------------------------------------


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE postings SET amount = amount + 1",
        "UPDATE postings SET asset = 'EUR'",
        "DELETE FROM postings",
        "UPDATE journal_entries SET reference = 'changed'",
        "DELETE FROM journal_entries",
    ],
)
def test_journal_is_append_only_on_both_databases(db: Database, statement: str) -> None:
    alice = new_account(db)
    post(db, move(Platform.CLEARING_BANK.value, available(alice), usd("10.00"), account=alice))
    with pytest.raises(DBAPIError, match="append-only"), db.write() as tx:
        tx.execute(text(statement))
    with db.read() as conn:
        assert conn.execute(select(func.count()).select_from(postings)).scalar_one() == 2
        assert conn.execute(select(func.sum(postings.c.amount))).scalar_one() == 0
        assert conn.execute(select(journal_entries.c.reference)).scalar_one().startswith("test:")
    assert problems(db) == []


def _raw_entry(
    tx: Connection, amounts: list[int], account: str, kind: EntryType = EntryType.DEPOSIT
) -> uuid.UUID:
    """An entry of type ``kind`` and its postings of ``amounts``, bypassing the
    domain checks: ONE statement on PostgreSQL (as every writer of the ledger
    inserts an entry with its postings), two on SQLite."""
    entry_id = new_id()
    rows = _posting_rows(entry_id, amounts, account)
    insert_together(tx, [(journal_entries, [_entry_row(entry_id, kind)], ()), (postings, rows, ())])
    return entry_id


def _entry_row(entry_id: uuid.UUID, kind: EntryType) -> dict[str, Any]:
    return {
        "id": entry_id,
        "type": kind.value,
        "posted_at": NOW,
        "reference": "raw",
        "memo": "",
        "account_id": None,
    }


def _posting_rows(entry_id: uuid.UUID, amounts: list[int], account: str) -> list[dict[str, Any]]:
    """USD postings of ``amounts`` to the bank, ``account`` and payouts, in that order."""
    names = [Platform.CLEARING_BANK.value, account, Platform.PAYOUTS.value]
    return [
        {
            "entry_id": entry_id,
            "line": line,
            "ledger_account_id": ledger_account_id(name),
            "asset": "USD",
            "amount": amount,
            "account_id": None,
            "hold_id": None,
        }
        for line, (name, amount) in enumerate(zip(names, amounts, strict=False), start=1)
    ]


def _entries(db: Database) -> int:
    with db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(journal_entries)).scalar_one())


ALL_KINDS = pytest.mark.parametrize("kind", list(EntryType), ids=lambda kind: kind.value)


@ALL_KINDS
def test_entry_with_a_single_posting_is_refused_by_its_statement(
    db: Database, kind: EntryType
) -> None:
    """Every entry is checked at the end of the statement that inserts it
    (migrations 0011 and 0012): a single zero posting passes the zero sum, not
    the count, and the statement itself fails, before any commit."""
    alice = new_account(db)
    if db.is_postgres:
        with (
            db.engine.connect() as conn,
            conn.begin(),
            pytest.raises(DBAPIError, match=r"two or more postings .*\(it has 1\)"),
        ):
            _raw_entry(conn, [0], available(alice), kind)
        assert _entries(db) == 0
        return
    with db.write() as tx:
        entry_id = _raw_entry(tx, [0], available(alice), kind)
    found = problems(db)
    assert mentions(found, entry_id, " has 1 posting(s)"), found


@ALL_KINDS
def test_entry_that_does_not_balance_is_refused_by_its_statement(
    db: Database, kind: EntryType
) -> None:
    """The zero sum per asset: the postings trigger, same statement. SQLite has no
    such trigger, and there ``ledger verify`` is what catches it."""
    alice = new_account(db)
    if db.is_postgres:
        with pytest.raises(DBAPIError, match="unbalanced journal entry"), db.write() as tx:
            _raw_entry(tx, [100, -99], available(alice), kind)
        assert _entries(db) == 0
        assert problems(db) == []
        return
    with db.write() as tx:
        entry_id = _raw_entry(tx, [100, -99], available(alice), kind)
    found = problems(db)
    assert mentions(found, entry_id, " does not balance in USD: postings sum to 1"), found


@ALL_KINDS
def test_entry_inserted_alone_is_refused_by_its_statement(db: Database, kind: EntryType) -> None:
    """An entry whose postings would only come in a later statement is refused at
    once, whatever its type, deposits included (0012: their writer inserts an
    entry with its postings in one statement, like every other); were it let
    through, postings added later in the transaction would never be counted."""
    if not db.is_postgres:
        with db.write() as tx:
            entry_id = _raw_entry_row(tx, kind)
        found = problems(db)
        assert mentions(found, entry_id, " has 0 posting(s)"), found
        return
    with (
        db.engine.connect() as conn,
        conn.begin(),
        pytest.raises(DBAPIError, match=r"two or more postings .*\(it has 0\)"),
    ):
        _raw_entry_row(conn, kind)
    assert _entries(db) == 0


def _raw_postings(conn: Connection, entry_id: uuid.UUID, **changes: object) -> None:
    conn.execute(postings.insert().values(_raw_posting_pair(entry_id, **changes)))


def _raw_posting_pair(entry_id: uuid.UUID, **changes: object) -> list[dict[str, Any]]:
    """A balanced pair of postings, with ``changes`` applied to the first (an
    asset to both, so that the pair still balances)."""
    first = {
        "entry_id": entry_id,
        "line": 1,
        "ledger_account_id": ledger_account_id(Platform.CLEARING_BANK.value),
        "asset": "USD",
        "amount": 100,
        "account_id": None,
        "hold_id": None,
    }
    second = {
        **first,
        "line": 2,
        "ledger_account_id": ledger_account_id(Platform.PAYOUTS.value),
        "amount": -100,
        **({"asset": changes["asset"]} if "asset" in changes else {}),
    }
    return [{**first, **changes}, second]


def _raw_entry_row(conn: Connection, kind: EntryType = EntryType.DEPOSIT) -> uuid.UUID:
    entry_id = new_id()
    conn.execute(journal_entries.insert().values(_entry_row(entry_id, kind)))
    return entry_id


@pytest.mark.parametrize(
    ("changes", "refusal"),
    [
        ({"ledger_account_id": uuid.UUID(int=7)}, "(?i)foreign key"),
        ({"asset": "XXX"}, "(?i)foreign key"),
        ({"hold_id": uuid.UUID(int=9)}, "hold that does not exist"),
    ],
    ids=["unknown ledger account", "unknown asset", "unknown hold"],
)
def test_postings_to_unknown_references_are_refused(
    db: Database, changes: dict[str, object], refusal: str
) -> None:
    """``postings`` declares no foreign keys (migration 0003): the postings trigger
    checks each reference once per statement instead, on both databases."""
    entry_id = new_id()
    entry = (journal_entries, [_entry_row(entry_id, EntryType.DEPOSIT)], ())
    with pytest.raises(DBAPIError, match=refusal), db.write() as tx:
        insert_together(tx, [entry, (postings, _raw_posting_pair(entry_id, **changes), ())])
    assert _entries(db) == 0
    assert problems(db) == []


def test_postings_to_an_unknown_entry_are_refused(db: Database) -> None:
    with pytest.raises(DBAPIError, match=r"journal entry .*does not exist"), db.write() as tx:
        _raw_postings(tx, new_id())
    with db.read() as conn:
        assert conn.execute(select(func.count()).select_from(postings)).scalar_one() == 0
        assert conn.execute(select(func.count()).select_from(balances)).scalar_one() == 0


def test_verify_reports_postings_and_lots_whose_references_are_gone(db: Database) -> None:
    """With the postings trigger out of the way (a restored dump, a manual fix),
    ``verify`` still finds what the missing foreign keys would have refused."""
    entry_id, hold_id = new_id(), new_id()
    with db.engine.connect() as conn:
        tx = conn.begin()
        if db.is_postgres:
            conn.execute(text("SET LOCAL session_replication_role = replica"))
        else:
            conn.execute(text("DROP TRIGGER postings_apply"))
        _raw_postings(conn, entry_id)
        conn.execute(
            hold_lots.insert().values(
                hold_id=hold_id, asset="USD", account_id=new_id(), amount=0, status="active"
            )
        )
        found = verify(conn)
        tx.rollback()
    assert mentions(found, entry_id, " refers to a journal entry that does not exist"), found
    assert mentions(found, hold_id, " in USD belongs to no hold"), found
    assert problems(db) == []


def test_a_balance_never_overflows_into_an_inexact_number(db: Database) -> None:
    """Postings whose sum leaves the signed 64-bit range must be refused, on both
    databases; a balance must never silently become a float (SQLite turns an
    overflowing integer addition into REAL) or wrap. A customer's balance is one
    row; a platform account's is spread over rows on PostgreSQL (migration 0005),
    each a 64-bit integer, and read as their exact sum."""
    alice = new_account(db)
    big = 2**62 + 1

    def entry(tx: Connection) -> None:
        entry_id = new_id()
        rows = _posting_rows(entry_id, [big, -big], available(alice))
        rows[1]["account_id"] = alice
        head = {**_entry_row(entry_id, EntryType.DEPOSIT), "account_id": alice}
        insert_together(tx, [(journal_entries, [head], ()), (postings, rows, ())])

    with db.write() as tx:
        entry(tx)
    with pytest.raises(DBAPIError), db.write() as tx:
        entry(tx)  # alice's Available would reach -2**63 - 2
    with db.read() as conn:
        rows = conn.execute(select(balances.c.balance)).scalars().all()
        assert sorted(rows) == [-big, big]
        assert all(type(value) is int for value in rows), rows
    assert problems(db) == []


def test_balanced_raw_entry_updates_balances_through_the_trigger(db: Database) -> None:
    alice = new_account(db)
    with db.write() as tx:
        _raw_entry(tx, [250, -250], available(alice))
    with db.read() as conn:
        got = ledger.read_balances(conn, [BalanceKey(available(alice), "USD")])
    assert got == {BalanceKey(available(alice), "USD"): -250}
    assert problems(db) == []


def test_direct_balance_update_is_refused_on_postgres(db: Database) -> None:
    """``UPDATE balances SET balance = 5`` fails on PostgreSQL; on SQLite it goes
    through and ``verify`` reports it."""
    alice = new_account(db)
    post(db, move(Platform.CLEARING_BANK.value, available(alice), usd("1.00"), account=alice))
    if db.is_postgres:
        with pytest.raises(DBAPIError, match="changes only through postings"), db.write() as tx:
            tx.execute(text("UPDATE balances SET balance = 5"))
        with pytest.raises(DBAPIError, match="cannot be deleted"), db.write() as tx:
            tx.execute(text("DELETE FROM balances"))
        with pytest.raises(DBAPIError, match="changes only through postings"), db.write() as tx:
            tx.execute(
                balances.insert().values(
                    ledger_account_id=ledger_account_id(available(alice)),
                    asset="EUR",
                    account_id=alice,
                    balance=5,
                )
            )
        assert problems(db) == []
        return
    with db.write() as tx:
        tx.execute(text("UPDATE balances SET balance = 5"))
    found = problems(db)
    assert any("balances in USD sum to 10" in p for p in found), found


# -- concurrency ----------------------------------------------------------------------


def _spend(
    db: Database,
    account: uuid.UUID,
    amount: Amount,
    after_lock: threading.Event | None = None,
    hold_until: threading.Event | None = None,
    wait: float = 0.0,
) -> None:
    """The shape of every money movement: lock, check funds, post a debit."""
    key = BalanceKey(available(account), amount.asset.code)
    payout = BalanceKey(Platform.PAYOUTS.value, amount.asset.code)
    with db.write() as tx:
        locked = ledger.lock_balances(tx, [key, payout])
        if after_lock is not None:
            after_lock.set()
        if hold_until is not None:
            assert hold_until.wait(10)
        if wait:
            _wait_for_a_blocked_writer(db, wait)
        if -locked[key] < amount.minor:
            raise Conflict("not enough", code="insufficient_funds")
        ledger.post(
            tx,
            move(
                available(account),
                Platform.PAYOUTS.value,
                amount,
                kind=EntryType.WITHDRAWAL,
                account=account,
            ),
        )


def _wait_for_a_blocked_writer(db: Database, seconds: float) -> None:
    """Give the other writer time to reach its lock. On PostgreSQL wait until it is
    actually blocked on a lock (observable in pg_stat_activity); SQLite has no such view,
    so a short pause widens the window in which a missing lock would show."""
    if not db.is_postgres:
        time.sleep(seconds)
        return
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with db.engine.connect() as conn:
            waiting = conn.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND wait_event_type = 'Lock'"
                )
            ).scalar()
        if waiting:
            return
        time.sleep(0.01)
    raise AssertionError("the second writer never waited for the first one's lock")


def _balance(db: Database, account: uuid.UUID, asset: str = "USD") -> int:
    with db.read() as conn:
        key = BalanceKey(available(account), asset)
        return -ledger.read_balances(conn, [key])[key]


def test_two_concurrent_spends_of_the_same_funds_exactly_one_succeeds(db: Database) -> None:
    alice = new_account(db)
    post(db, move(Platform.CLEARING_BANK.value, available(alice), usd("100.00"), account=alice))
    first_locked, second_started = threading.Event(), threading.Event()
    outcomes: dict[str, BaseException | None] = {}

    def first() -> None:
        try:
            _spend(
                db,
                alice,
                usd("100.00"),
                after_lock=first_locked,
                hold_until=second_started,
                wait=0.2,
            )
            outcomes["first"] = None
        except BaseException as exc:
            outcomes["first"] = exc

    def second() -> None:
        assert first_locked.wait(10)
        second_started.set()
        try:
            _spend(db, alice, usd("100.00"))
            outcomes["second"] = None
        except BaseException as exc:
            outcomes["second"] = exc

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert outcomes["first"] is None
    refusal = outcomes["second"]
    assert isinstance(refusal, Conflict), refusal
    assert refusal.code == "insufficient_funds"
    assert _balance(db, alice) == 0
    assert problems(db) == []


def test_many_concurrent_spends_never_overdraw(db: Database) -> None:
    alice = new_account(db)
    post(db, move(Platform.CLEARING_BANK.value, available(alice), usd("250.00"), account=alice))
    workers = 8
    barrier = threading.Barrier(workers)
    results: list[str] = []
    lock = threading.Lock()

    def worker() -> None:
        barrier.wait(10)
        try:
            _spend(db, alice, usd("100.00"))
            outcome = "ok"
        except Conflict as exc:
            outcome = exc.code
        except BaseException as exc:  # pragma: no cover - reported by the assertion below
            outcome = repr(exc)
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=worker) for _ in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(results) == ["insufficient_funds"] * 6 + ["ok"] * 2
    assert _balance(db, alice) == 5000
    assert problems(db) == []
