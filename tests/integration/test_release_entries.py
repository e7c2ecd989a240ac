"""One release entry per customer account and batch (issue 17, migration 0014).

The release job books one ``hold_release`` entry per account and batch, its
postings summing that account's released lots per asset; each hold names the
entry that released it. What must stay exactly right around it: the lots
(emptied and released), ``ledger verify``, ``holds.csv`` as of any time, the
history line, the ``hold.released`` events (one per hold), and, on
PostgreSQL, the database refusing a release whose entry does not match the
lots it empties.
"""

from __future__ import annotations

import csv
import io
import json
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import event, select, text
from sqlalchemy.exc import DBAPIError

from service.db.database import Database
from service.db.holds import holds_page
from service.db.tables import events, hold_lots, holds, journal_entries, postings
from service.domain.roles import Role
from service.services.holds import release_due_holds
from service.services.verify import verify
from tests.api.test_deposits import deposit
from tests.api.test_trades import trade
from tests.conftest import Api, Clock
from tests.integration.test_verify_reconciliation import behind_the_service

SETTLED = "2026-11-20T20:00:00Z"  # Friday 15:00 New York
DUE = datetime(2026, 11, 25, 20, 0, tzinfo=UTC)  # three business days later


def scenario(api: Api, clock: Clock) -> dict[str, Any]:
    """Account A: three due card holds, part of one traded into BTC, and one
    hold not yet due; account B: one due hold."""
    a, b = api.open_account(), api.open_account()
    a_holds = [
        deposit(api, a, amount, settled_at=SETTLED).get_json()["hold"]["id"]
        for amount in ("10.00", "20.00", "30.00")
    ]
    # Trades spend held money earliest release first: 10.00 of the first hold
    # and 5.00 of the second become BTC held under those holds.
    bought = trade(api, a, ("15.00", "USD"), ("0.00020000", "BTC"))
    assert bought.status_code == 201, bought.get_json()
    b_hold = deposit(api, b, "40.00", settled_at=SETTLED).get_json()["hold"]["id"]
    clock.now = datetime(2026, 11, 24, 20, 0, tzinfo=UTC)  # due after DUE
    later = deposit(api, a, "7.00").get_json()["hold"]["id"]
    return {"a": a, "b": b, "a_holds": a_holds, "later": later, "b_hold": b_hold}


def entry_lines(db: Database, entry_id: Any) -> list[tuple[str, int, bool]]:
    with db.read() as conn:
        rows = conn.execute(
            select(postings.c.asset, postings.c.amount, postings.c.hold_id)
            .where(postings.c.entry_id == entry_id)
            .order_by(postings.c.line)
        )
        return [(asset, int(amount), hold_id is None) for asset, amount, hold_id in rows]


def holds_csv(api: Api, as_of: datetime) -> list[dict[str, str]]:
    stamp = as_of.strftime("%Y-%m-%dT%H:%M:%SZ")
    response = api.get(f"/v1/exports/holds.csv?as_of={stamp}", Role.ACCOUNTANT)
    assert response.status_code == 200
    return list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))


def test_one_entry_per_account_sums_its_released_lots(api: Api, clock: Clock, db: Database) -> None:
    s = scenario(api, clock)
    summary = release_due_holds(db, as_of=DUE, now=DUE)
    assert summary.released == 4
    assert summary.totals == {"USD": "85.00", "BTC": "0.00020000"}

    with db.read() as conn:
        linked = {
            str(h): None if e is None else str(e)
            for h, e in conn.execute(select(holds.c.id, holds.c.release_entry_id))
        }
        entries = {
            row.id: row
            for row in conn.execute(
                select(journal_entries).where(journal_entries.c.type == "hold_release")
            )
        }
        lots = conn.execute(
            select(hold_lots.c.hold_id, hold_lots.c.asset, hold_lots.c.amount, hold_lots.c.status)
        ).all()
    a_entry = min(s["a_holds"], key=str)
    assert {linked[h] for h in s["a_holds"]} == {a_entry}
    assert linked[s["b_hold"]] == s["b_hold"]
    assert linked[s["later"]] is None
    assert sorted(str(e) for e in entries) == sorted([a_entry, s["b_hold"]])
    by_id = {str(k): v for k, v in entries.items()}
    assert (by_id[a_entry].reference, by_id[a_entry].memo) == (
        f"holds:{a_entry}+2",
        "3 Temporary Holds released",
    )
    assert (by_id[s["b_hold"]].reference, by_id[s["b_hold"]].memo) == (
        f"hold:{s['b_hold']}",
        "Temporary Hold released",
    )
    # A's entry: one pair per asset, in asset order, tagged with no hold:
    # 60.00 - 15.00 traded = 45.00 USD and the 0.0002 BTC bought with held money.
    assert entry_lines(db, by_id[a_entry].id) == [
        ("BTC", 20000, True),
        ("BTC", -20000, True),
        ("USD", 4500, True),
        ("USD", -4500, True),
    ]
    released = {str(h) for h in s["a_holds"]} | {s["b_hold"]}
    for hold_id, _asset, amount, status in lots:
        if str(hold_id) in released:
            assert (amount, status) == (0, "released")
        else:
            assert (amount, status) == (700, "active")
    with db.read() as conn:
        assert verify(conn) == []
        bodies = [
            json.loads(body)["data"]
            for (body,) in conn.execute(
                select(events.c.body).where(events.c.type == "hold.released")
            )
        ]
    # Still one hold.released event per hold, with the lots it freed.
    assert sorted(d["hold_id"] for d in bodies) == sorted(released)
    freed: dict[str, Decimal] = {}
    for data in bodies:
        if data["hold_id"] in {str(h) for h in s["a_holds"]}:
            for lot in data["lots"]:
                freed[lot["asset"]] = freed.get(lot["asset"], Decimal(0)) + Decimal(lot["amount"])
    assert freed == {"USD": Decimal("45.00"), "BTC": Decimal("0.00020000")}


def test_holds_csv_and_history_see_each_hold_released_by_the_shared_entry(
    api: Api, clock: Clock, db: Database
) -> None:
    s = scenario(api, clock)
    before = {(r["hold_id"], r["lot_asset"]): r for r in holds_csv(api, DUE)}
    release_due_holds(db, as_of=DUE, now=DUE)
    just_before = {
        (r["hold_id"], r["lot_asset"]): r for r in holds_csv(api, DUE - timedelta(seconds=1))
    }
    after = {(r["hold_id"], r["lot_asset"]): r for r in holds_csv(api, DUE + timedelta(seconds=1))}
    assert just_before == before  # as of a time before the release, nothing released
    for key, row in after.items():
        hold_id = key[0]
        if hold_id == s["later"]:
            assert (row["lot_amount"], row["released_at"]) == ("7.00", "")
        else:
            assert row["lot_amount"] in {"0.00", "0.00000000"}, row
            assert row["released_at"] == "2026-11-25T20:00:00Z", row
            assert before[key]["released_at"] == ""
    held_before = sum(Decimal(r["lot_amount"]) for r in before.values() if r["lot_asset"] == "USD")
    assert held_before == Decimal("92.00")  # A's 45.00 and 7.00, B's 40.00

    items = api.get(f"/v1/accounts/{s['a']}/transactions").get_json()["items"]
    [release] = [i for i in items if i["type"] == "hold_release"]
    a_entry = min(s["a_holds"], key=str)
    assert release["id"] == a_entry
    assert release["hold_id"] == a_entry
    assert [h["hold_id"] for h in release["holds"]] == sorted(s["a_holds"], key=str)
    assert all(h["deposit_id"] for h in release["holds"])
    assert sorted((lot["asset"], lot["amount"]) for lot in release["lots"]) == [
        ("BTC", "0.00020000"),
        ("USD", "45.00"),
    ]
    assert (release["asset"], release["amount"]) == ("USD", "45.00")
    b_items = api.get(f"/v1/accounts/{s['b']}/transactions").get_json()["items"]
    [b_release] = [i for i in b_items if i["type"] == "hold_release"]
    assert b_release["hold_id"] == s["b_hold"]
    assert [h["hold_id"] for h in b_release["holds"]] == [s["b_hold"]]


def test_the_holds_list_still_finds_released_holds(api: Api, clock: Clock, db: Database) -> None:
    """Released holds leave the account index on PostgreSQL (migration 0015);
    the holds list and its status filter find them through their deposits."""
    s = scenario(api, clock)
    release_due_holds(db, as_of=DUE, now=DUE)

    def listed(query: str = "") -> list[tuple[str, str]]:
        page = api.get(f"/v1/accounts/{s['a']}/holds{query}")
        assert page.status_code == 200, page.get_json()
        return [(h["id"], h["status"]) for h in page.get_json()["items"]]

    # newest first: the hold placed later, then the three released ones
    assert listed() == [(s["later"], "active")] + [(h, "released") for h in s["a_holds"][::-1]]
    assert listed("?status=released") == [(h, "released") for h in s["a_holds"][::-1]]
    assert listed("?status=active") == [(s["later"], "active")]
    assert listed("?limit=2") == listed()[:2]
    # another account's holds never appear
    assert {h for h, _ in listed()}.isdisjoint({s["b_hold"]})


@pytest.mark.postgres
@pytest.mark.parametrize("db", ["postgresql"], indirect=True)
def test_released_holds_are_reached_by_key_without_statistics(api: Api, db: Database) -> None:
    """Without statistics the planner guesses; the deposits' hold ids are an
    index condition on ``uq_holds_deposit_id`` all the same, never a scan of
    every hold, and the account index holds only unreleased holds."""
    account = api.open_account()
    with db.write() as tx:
        tx.execute(text("DELETE FROM pg_statistic WHERE starelid = 'holds'::regclass"))
        index = tx.execute(
            text("SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_holds_account_id'")
        ).scalar_one()
        assert "WHERE ((status)::text <> 'released'::text)" in index

        ran: list[tuple[str, Any]] = []

        @event.listens_for(tx, "before_cursor_execute")
        def capture(_c: Any, _cur: Any, statement: str, params: Any, *_: Any) -> None:
            ran.append((statement, params))

        holds_page(tx, uuid.UUID(account), status=None, limit=50, after=None)
        [(statement, params)] = ran
        cursor = tx.connection.driver_connection.cursor()
        cursor.execute("EXPLAIN " + statement, params)
        lines = " ".join(row[0] for row in cursor.fetchall())
    assert "uq_holds_deposit_id" in lines, lines
    assert "Seq Scan on holds" not in lines, lines


@pytest.mark.postgres
@pytest.mark.parametrize("db", ["postgresql"], indirect=True)
def test_the_database_refuses_a_release_that_does_not_match_its_lots(
    api: Api, clock: Clock, db: Database
) -> None:
    """PostgreSQL only: SQLite has no such trigger, and ``ledger verify`` finds
    such a release there (the next test, on both)."""
    s = scenario(api, clock)
    release_due_holds(db, as_of=DUE, now=DUE)
    a_entry = min(s["a_holds"], key=str)
    refused = [
        # a released hold's entry is never changed
        (
            "UPDATE holds SET release_entry_id = CAST(:b AS uuid) WHERE id = CAST(:a AS uuid)",
            {"a": s["a_holds"][1], "b": s["b_hold"]},
            "cannot change",
        ),
        # an active hold released "by" an entry that did not move its lots
        (
            "UPDATE holds SET status = 'released', released_at = now(), "
            "release_entry_id = CAST(:entry AS uuid) WHERE id = CAST(:later AS uuid)",
            {"entry": a_entry, "later": s["later"]},
            "takes",
        ),
        # another account's entry
        (
            "UPDATE holds SET release_entry_id = CAST(:entry AS uuid) "
            "WHERE id = CAST(:later AS uuid)",
            {"entry": s["b_hold"], "later": s["later"]},
            "not a hold_release entry of the hold.s account",
        ),
    ]
    for sql, params, message in refused:
        with pytest.raises(DBAPIError, match=message), db.engine.begin() as conn:
            conn.execute(text(sql), params)
    with db.read() as conn:
        assert verify(conn) == []


def test_verify_finds_a_release_that_does_not_match_its_lots(
    api: Api, clock: Clock, db: Database
) -> None:
    s = scenario(api, clock)
    release_due_holds(db, as_of=DUE, now=DUE)
    a_entry = min(s["a_holds"], key=str)
    with behind_the_service(db) as conn:
        later = {"later": s["later"], "entry": a_entry}
        if db.is_postgres:
            conn.execute(
                text(
                    "UPDATE holds SET status = 'released', released_at = now(), "
                    "release_entry_id = CAST(:entry AS uuid) WHERE id = CAST(:later AS uuid)"
                ),
                later,
            )
            conn.execute(
                text(
                    "UPDATE hold_lots SET amount = 0, status = 'released' "
                    "WHERE hold_id = CAST(:later AS uuid)"
                ),
                later,
            )
        else:
            hexed = {k: v.replace("-", "") for k, v in later.items()}
            conn.execute(
                text(
                    "UPDATE holds SET status = 'released', released_at = '2026-11-25', "
                    "release_entry_id = :entry WHERE id = :later"
                ),
                hexed,
            )
            conn.execute(
                text("UPDATE hold_lots SET amount = 0, status = 'released' WHERE hold_id = :later"),
                hexed,
            )
    with db.read() as conn:
        problems = verify(conn)
    named = {f"release entry {a_entry} ", f"release entry {a_entry.replace('-', '')} "}
    assert any(p.startswith(tuple(named)) for p in problems), problems
