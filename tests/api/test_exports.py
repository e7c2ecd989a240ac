"""Accountant exports over REST and the command line: columns, conventions, and
figures that reconcile with each other and with the live API."""

from __future__ import annotations

import csv
import io
import shutil
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from service.cli import main
from service.config import Settings
from service.db import ledger
from service.db.database import Database
from service.db.ledger import BalanceKey
from service.domain.chart import Bucket, Platform, customer_account_name
from service.domain.ids import new_id
from service.domain.money import Amount, Asset
from service.domain.posting import Entry, EntryType, Posting
from service.domain.roles import Role
from service.services.holds import release_due_holds
from tests.api.test_deposits import assert_books_sound, deposit
from tests.api.test_trades import trade
from tests.conftest import Api, Clock

JOURNAL_HEADER = [
    "entry_id",
    "posted_at",
    "entry_type",
    "reference",
    "account",
    "account_type",
    "asset",
    "debit",
    "credit",
    "memo",
]
TRIAL_HEADER = ["account", "account_type", "asset", "debit", "credit", "balance"]
HOLDS_HEADER = [
    "hold_id",
    "account_id",
    "deposit_id",
    "method",
    "deposit_asset",
    "deposit_amount",
    "lot_asset",
    "lot_amount",
    "status",
    "placed_at",
    "release_at",
    "released_at",
]
ROLL_HEADER = [
    "asset",
    "opening",
    "placed",
    "released",
    "reversed",
    "traded_in",
    "traded_out",
    "closing",
]

# The scenario's clock: every step at its own time (New York is UTC-5 in November).
T0 = datetime(2026, 11, 16, 15, 0, tzinfo=UTC)  # Mon: deposits of every method (A)
T1 = datetime(2026, 11, 17, 15, 0, tzinfo=UTC)  # Tue: A trades held USD for BTC
T_MID = datetime(2026, 11, 17, 18, 0, tzinfo=UTC)  # a past moment to look back at
T2 = datetime(2026, 11, 18, 15, 0, tzinfo=UTC)  # Wed: B and C deposit by card
T2B = datetime(2026, 11, 18, 16, 0, tzinfo=UTC)  # Wed: C trades part of its held USD
T3 = datetime(2026, 11, 20, 16, 0, tzinfo=UTC)  # Fri: release job frees A's holds
T4 = datetime(2026, 11, 23, 13, 0, tzinfo=UTC)  # Mon: A withdraws USD (paid) and EUR (fails)
T5 = datetime(2026, 11, 23, 13, 30, tzinfo=UTC)  # C's running hold is charged back
T5B = datetime(2026, 11, 23, 13, 45, tzinfo=UTC)  # another moment to look back at
T6 = datetime(2026, 11, 23, 14, 0, tzinfo=UTC)  # A's released card deposit is charged back
T7 = datetime(2026, 11, 23, 14, 30, tzinfo=UTC)  # B restricted; final withdrawal of its held USD
# (B's hold is due at 15:00 UTC that Monday: the scenario ends before it.)
INJECTION = '=HYPERLINK("x")'


@dataclass
class Scenario:
    a: str
    b: str
    c: str = ""
    snapshot: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    holds_snapshot: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    holds_after_chargeback: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    @property
    def accounts(self) -> tuple[str, str, str]:
        return self.a, self.b, self.c


def all_balances(api: Api, account: str) -> dict[str, dict[str, Any]]:
    response = api.get(f"/v1/accounts/{account}/balances", Role.TRADING)
    assert response.status_code == 200, response.get_json()
    return {row["asset"]: row for row in response.get_json()["balances"]}


def api_holds(api: Api, account: str) -> list[dict[str, Any]]:
    response = api.get(f"/v1/accounts/{account}/holds?limit=500")
    assert response.status_code == 200, response.get_json()
    items: list[dict[str, Any]] = response.get_json()["items"]
    return items


def created(response: Any) -> dict[str, Any]:
    assert response.status_code in (200, 201), response.get_json()
    body: dict[str, Any] = response.get_json()
    return body


def build_scenario(api: Api, clock: Clock, db: Database) -> Scenario:
    """Deposits of every method, trades of held funds, releases, withdrawals (paid
    and failed), chargebacks of a running hold (freezing what its funds bought)
    and of a released one, and a final withdrawal of held funds from a
    restricted account; balances and holds captured on the way for the as-of
    checks."""
    clock.now = T0
    a, b, c = api.open_account(), api.open_account(), api.open_account()
    deposits_a = [
        created(deposit(api, a, amount, method=method, asset=asset))
        for amount, method, asset in [
            ("100.00", "card", "USD"),
            ("50.00", "paypal", "EUR"),
            ("200.00", "bank_transfer", "USD"),
            ("0.01000000", "crypto", "BTC"),
        ]
    ]
    clock.now = T1
    traded = created(trade(api, a, ("60.00", "USD"), ("0.00090000", "BTC")))
    assert traded["held_part"] == {"sold": "60.00", "bought": "0.00090000"}
    clock.now = T_MID
    scenario = Scenario(a, b, c)
    scenario.snapshot = {acct: all_balances(api, acct) for acct in (a, b)}
    scenario.holds_snapshot = {acct: api_holds(api, acct) for acct in (a, b)}
    clock.now = T2
    created(deposit(api, b, "30.00", external_ref=INJECTION))
    deposit_c = created(deposit(api, c, "80.00"))
    clock.now = T2B
    traded = created(trade(api, c, ("30.00", "USD"), ("0.00045000", "BTC")))
    assert traded["held_part"] == {"sold": "30.00", "bought": "0.00045000"}
    clock.now = T3
    summary = release_due_holds(db, as_of=T3, now=T3)
    assert summary.released == 2  # A's card and PayPal holds; B's and C's are due next week

    clock.now = T4
    for asset in ("USD", "EUR"):
        assert (
            api.client.put(
                f"/v1/rates/{asset}",
                json={"usd": "1.00"},
                headers=api.headers(Role.COMPLIANCE, idem=None),
            ).status_code
            == 200
        )
    paid = created(
        api.post(
            "/v1/withdrawals",
            {"account_id": a, "asset": "USD", "amount": "50.00", "destination": "GB00 BANK 1"},
            Role.TRADING,
        )
    )
    created(api.post(f"/v1/withdrawals/{paid['id']}/complete", {"txid": "tx-1"}, Role.PAYMENTS))
    failed = created(
        api.post(
            "/v1/withdrawals",
            {"account_id": a, "asset": "EUR", "amount": "10.00", "destination": "-1 DE"},
            Role.TRADING,
        )
    )
    created(
        api.post(f"/v1/withdrawals/{failed['id']}/fail", {"reason": "bank refused"}, Role.PAYMENTS)
    )
    clock.now = T5
    chargeback = created(
        api.post(f"/v1/deposits/{deposit_c['id']}/chargeback", {"reason": "fraud"}, Role.PAYMENTS)
    )
    assert (chargeback["recovered"], chargeback["receivable"]) == ("50.00", "30.00")
    clock.now = T5B
    scenario.holds_after_chargeback = {acct: api_holds(api, acct) for acct in (a, b, c)}
    clock.now = T6
    created(
        api.post(
            f"/v1/deposits/{deposits_a[0]['id']}/chargeback", {"reason": "dispute"}, Role.PAYMENTS
        )
    )
    clock.now = T7
    restricted = api.client.patch(
        f"/v1/accounts/{b}",
        json={"status": "restricted", "reason": "support review"},
        headers=api.headers(Role.COMPLIANCE, idem=None),
    )
    assert restricted.status_code == 200, restricted.get_json()
    final = created(
        api.post(
            f"/v1/accounts/{b}/final-withdrawal",
            {"asset": "USD", "destination": "GB00 BANK 2"},
            Role.COMPLIANCE,
        )
    )
    assert (final["amount"], final["status"]) == ("30.00", "review")
    assert_books_sound(db)
    return scenario


def get_csv(api: Api, path: str, role: Role = Role.ACCOUNTANT) -> list[dict[str, str]]:
    response = api.get(path, role)
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    assert response.mimetype == "text/csv"
    assert response.mimetype_params.get("charset") == "utf-8"
    return parse_csv(response.get_data(as_text=True))


def parse_csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text, newline="")))


def header(text: str) -> list[str]:
    return next(csv.reader(io.StringIO(text, newline="")))


def dec(text: str) -> Decimal:
    return Decimal(text) if text else Decimal(0)


@pytest.fixture
def scenario(api: Api, clock: Clock, db: Database) -> Scenario:
    return build_scenario(api, clock, db)


# -- journal.csv ------------------------------------------------------------------------


def test_journal_csv_rows_balance_per_entry_and_asset(api: Api, scenario: Scenario) -> None:
    response = api.get("/v1/exports/journal.csv", Role.ACCOUNTANT)
    assert response.status_code == 200
    assert response.is_streamed
    assert response.headers["Content-Disposition"] == 'attachment; filename="journal.csv"'
    text = response.get_data(as_text=True)
    assert header(text) == JOURNAL_HEADER
    assert text.endswith("\r\n")
    assert "\r\n" in text.split("\r\n", 1)[0] + "\r\n"
    rows = parse_csv(text)
    entries = {r["entry_id"]: r["entry_type"] for r in rows}
    assert sorted(entries.values()) == sorted(
        ["deposit"] * 6
        + ["trade"] * 2
        + ["hold_release"]  # A's two holds, released in one batch: one entry
        + ["withdrawal"] * 3
        + ["withdrawal_payout", "withdrawal_return"]
        + ["chargeback"] * 2
    )
    sums: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for row in rows:
        assert (row["debit"] == "") != (row["credit"] == ""), row
        amount = row["debit"] or row["credit"]
        assert not amount.startswith("-")
        assert Decimal(amount) > 0
        scale = 8 if row["asset"] == "BTC" else 2
        assert len(amount.split(".")[1]) == scale, row
        sums[(row["entry_id"], row["asset"])] += dec(row["debit"]) - dec(row["credit"])
        assert row["account_type"] == row["account"].split(":")[0]
    assert set(sums.values()) == {Decimal(0)}
    times = [r["posted_at"] for r in rows]
    assert times == sorted(times)
    assert all(t.endswith("Z") for t in times)
    # postings of one entry are contiguous (entry order)
    order = [r["entry_id"] for r in rows]
    assert [k for i, k in enumerate(order) if i == 0 or order[i - 1] != k] == list(entries)

    card = [
        r
        for r in rows
        if r["reference"].startswith("card:") and r["posted_at"].startswith("2026-11-16")
    ]
    assert [(r["account"], r["asset"], r["debit"], r["credit"], r["memo"]) for r in card] == [
        ("Assets:Clearing:Card", "USD", "100.00", "", "card deposit"),
        (customer_account_name_str(scenario.a, Bucket.HELD), "USD", "", "100.00", "card deposit"),
    ]
    assert card[0]["posted_at"] == "2026-11-16T15:00:00Z"
    assert card[0]["entry_type"] == "deposit"
    crypto = [r for r in rows if r["reference"].startswith("crypto:")]
    assert [(r["account"], r["debit"], r["credit"]) for r in crypto] == [
        ("Assets:Clearing:Crypto", "0.01000000", ""),
        (customer_account_name_str(scenario.a, Bucket.AVAILABLE), "", "0.01000000"),
    ]
    trade_rows = [
        r
        for r in rows
        if r["entry_type"] == "trade" and r["reference"] == rows_of(rows, "trade")[0]["reference"]
    ]
    assert {
        (r["account"].split(":")[-1], r["asset"], r["debit"], r["credit"]) for r in trade_rows
    } == {
        ("Held", "USD", "60.00", ""),
        ("Trading", "USD", "", "60.00"),
        ("Trading", "BTC", "0.00090000", ""),
        ("Held", "BTC", "", "0.00090000"),
    }
    release_rows = [r for r in rows if r["entry_type"] == "hold_release"]
    [entry_id] = {r["entry_id"] for r in release_rows}
    assert {(r["reference"], r["memo"]) for r in release_rows} == {
        (f"holds:{entry_id}+1", "2 Temporary Holds released")
    }
    assert {
        (r["account"].split(":")[-1], r["asset"], r["debit"] or "-" + r["credit"])
        for r in release_rows
    } == {
        ("Held", "USD", "40.00"),
        ("Available", "USD", "-40.00"),
        ("Held", "BTC", "0.00090000"),
        ("Available", "BTC", "-0.00090000"),
        ("Held", "EUR", "50.00"),
        ("Available", "EUR", "-50.00"),
    }
    chargebacks = rows_of(rows, "chargeback")
    assert [(r["account"].split(":")[-1], r["debit"], r["credit"]) for r in chargebacks] == [
        ("Card", "", "80.00"),
        ("Held", "50.00", ""),
        ("Available", "30.00", ""),  # what C no longer has: a debt, Available goes negative
        ("Card", "", "100.00"),
        ("Available", "100.00", ""),
    ]
    final = [r for r in rows_of(rows, "withdrawal") if r["account"].endswith(":Held")]
    assert [(r["account"], r["asset"], r["debit"]) for r in final] == [
        (customer_account_name_str(scenario.b, Bucket.HELD), "USD", "30.00")
    ]
    # the destination of the failed withdrawal does not reach the journal's text unescaped
    assert all(
        not r[c].startswith(("=", "+", "-", "@"))
        for r in rows
        for c in ("reference", "memo", "account", "entry_type")
    )


def rows_of(rows: list[dict[str, str]], entry_type: str) -> list[dict[str, str]]:
    return [r for r in rows if r["entry_type"] == entry_type]


def customer_account_name_str(account: str, bucket: Bucket) -> str:
    return f"Liabilities:Customers:{account}:{bucket.value}"


def test_journal_period_by_local_dates_and_instants(api: Api, scenario: Scenario) -> None:
    # Tuesday 17 November in New York holds only the trade
    tuesday = get_csv(api, "/v1/exports/journal.csv?from=2026-11-17&to=2026-11-17")
    assert {r["entry_type"] for r in tuesday} == {"trade"}
    # `to` is inclusive at the instant too; `from` inclusive
    at_trade = get_csv(
        api, "/v1/exports/journal.csv?from=2026-11-17T15:00:00Z&to=2026-11-17T10:00:00-05:00"
    )
    assert {r["entry_type"] for r in at_trade} == {"trade"}
    assert (
        get_csv(
            api,
            "/v1/exports/journal.csv?from=2026-11-17T15:00:00.000001Z&to=2026-11-18T09:59:59-05:00",
        )
        == []
    )
    # a date is a New York day: Monday 16 Nov 23:30 New York is Tuesday in UTC
    everything = get_csv(api, "/v1/exports/journal.csv?from=&to=")
    assert len(everything) == len(get_csv(api, "/v1/exports/journal.csv"))
    by_days = get_csv(api, "/v1/exports/journal.csv?to=2026-11-17") + get_csv(
        api, "/v1/exports/journal.csv?from=2026-11-18"
    )
    assert by_days == everything


def test_journal_day_boundary_is_the_calendar_time_zone(
    api: Api, clock: Clock, db: Database
) -> None:
    account = api.open_account()
    clock.now = datetime(2026, 11, 17, 4, 30, tzinfo=UTC)  # 23:30 Monday in New York
    assert deposit(api, account, "1.00", method="bank_transfer").status_code == 201
    monday = get_csv(api, "/v1/exports/journal.csv?from=2026-11-16&to=2026-11-16")
    assert {r["posted_at"] for r in monday} == {"2026-11-17T04:30:00Z"}
    assert get_csv(api, "/v1/exports/journal.csv?from=2026-11-17&to=2026-11-17") == []


def test_times_keep_their_microseconds_on_both_databases(api: Api, clock: Clock) -> None:
    account = api.open_account()
    for micro in (500000, 123, 0):
        clock.now = datetime(2026, 11, 17, 15, 0, 1, micro, tzinfo=UTC)
        assert deposit(api, account, "1.00").status_code == 201
    clock.now = T3
    rows = get_csv(api, "/v1/exports/journal.csv")
    assert [r["posted_at"] for r in rows[::2]] == [
        "2026-11-17T15:00:01Z",
        "2026-11-17T15:00:01.000123Z",
        "2026-11-17T15:00:01.500000Z",
    ]
    # instants are inclusive to the microsecond
    one = get_csv(
        api,
        "/v1/exports/journal.csv?from=2026-11-17T15:00:01.000123Z&to=2026-11-17T15:00:01.000123Z",
    )
    assert [r["posted_at"] for r in one] == ["2026-11-17T15:00:01.000123Z"] * 2
    holds = parse_csv(api.get("/v1/exports/holds.csv", Role.ACCOUNTANT).get_data(as_text=True))
    assert {h["placed_at"] for h in holds} == {
        "2026-11-17T15:00:01.500000Z",
        "2026-11-17T15:00:01.000123Z",
        "2026-11-17T15:00:01Z",
    }


# -- trial-balance.csv ----------------------------------------------------------------------


def trial(api: Api, query: str = "") -> list[dict[str, str]]:
    response = api.get(f"/v1/exports/trial-balance.csv{query}", Role.ACCOUNTANT)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert header(response.get_data(as_text=True)) == TRIAL_HEADER
    return parse_csv(response.get_data(as_text=True))


def customer_figures(rows: list[dict[str, str]], account: str) -> dict[str, dict[str, Decimal]]:
    """Trial-balance rows of one customer as the balances API shows them."""
    prefix = f"Liabilities:Customers:{account}:"
    found: dict[str, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    for row in rows:
        if row["account"].startswith(prefix):
            found[row["asset"]][row["account"][len(prefix) :]] = -Decimal(row["balance"])
    return {
        asset: {
            "total": b["Available"] + b["Held"] + b["Withdrawing"],
            "temporary_holds": b["Held"],
            "available_to_withdraw": max(b["Available"], Decimal(0)),
            "pending_withdrawals": b["Withdrawing"],
        }
        for asset, b in found.items()
    }


def api_figures(balances: dict[str, dict[str, Any]]) -> dict[str, dict[str, Decimal]]:
    keys = ("total", "temporary_holds", "available_to_withdraw", "pending_withdrawals")
    return {asset: {k: Decimal(row[k]) for k in keys} for asset, row in balances.items()}


def test_trial_balance_sums_to_zero_and_matches_balances(api: Api, scenario: Scenario) -> None:
    rows = trial(api)
    per_asset: dict[str, Decimal] = defaultdict(Decimal)
    for row in rows:
        assert Decimal(row["balance"]) == Decimal(row["debit"]) - Decimal(row["credit"])
        assert row["account_type"] == row["account"].split(":")[0]
        per_asset[row["asset"]] += Decimal(row["balance"])
    assert set(per_asset) == {"USD", "EUR", "BTC"}
    assert set(per_asset.values()) == {Decimal(0)}
    for account in scenario.accounts:
        assert customer_figures(rows, account) == api_figures(all_balances(api, account))
    card = next(r for r in rows if r["account"] == Platform.CLEARING_CARD.value)
    assert (card["asset"], card["debit"], card["credit"], card["balance"]) == (
        "USD",
        "210.00",
        "180.00",
        "30.00",
    )
    debt = next(
        r
        for r in rows
        if r["account"] == customer_account_name_str(scenario.c, Bucket.AVAILABLE)
        and r["asset"] == "USD"
    )
    assert debt["balance"] == "30.00"  # a debit balance: C owes what the chargeback took
    payouts = next(r for r in rows if r["account"] == Platform.PAYOUTS.value)
    assert (payouts["asset"], payouts["credit"], payouts["balance"]) == ("USD", "50.00", "-50.00")
    held_b = next(
        r for r in rows if r["account"] == customer_account_name_str(scenario.b, Bucket.HELD)
    )
    assert (held_b["debit"], held_b["credit"], held_b["balance"]) == ("30.00", "30.00", "0.00")
    withdrawing_b = next(
        r for r in rows if r["account"] == customer_account_name_str(scenario.b, Bucket.WITHDRAWING)
    )
    assert (withdrawing_b["credit"], withdrawing_b["balance"]) == ("30.00", "-30.00")
    assert [r["account"] for r in rows] == sorted(r["account"] for r in rows)


def test_trial_balance_as_of_a_past_time_ignores_later_entries(
    api: Api, scenario: Scenario
) -> None:
    past = trial(api, "?as_of=2026-11-17T18:00:00Z")
    assert customer_figures(past, scenario.a) == api_figures(scenario.snapshot[scenario.a])
    assert customer_figures(past, scenario.b) == {}
    assert not any(r["account"].startswith(f"Liabilities:Customers:{scenario.b}") for r in past)
    per_asset: dict[str, Decimal] = defaultdict(Decimal)
    for row in past:
        per_asset[row["asset"]] += Decimal(row["balance"])
    assert set(per_asset.values()) == {Decimal(0)}
    # a date means the end of that New York day
    assert trial(api, "?as_of=2026-11-17") == past
    assert trial(api, "?as_of=2026-11-15") == []


# -- holds.csv -------------------------------------------------------------------------------


def holds_rows(api: Api, query: str = "") -> list[dict[str, str]]:
    response = api.get(f"/v1/exports/holds.csv{query}", Role.ACCOUNTANT)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert header(response.get_data(as_text=True)) == HOLDS_HEADER
    return parse_csv(response.get_data(as_text=True))


def api_as_rows(account: str, holds: list[dict[str, Any]]) -> set[tuple[str, ...]]:
    return {
        (
            h["id"],
            account,
            h["deposit_id"],
            h["method"],
            h["asset"],
            h["amount"],
            lot["asset"],
            lot["amount"],
            lot["status"],
            h["placed_at"],
            h["release_at"],
            h["released_at"] or "",
        )
        for h in holds
        for lot in h["lots"]
    }


def test_holds_export_equals_the_holds_api(api: Api, scenario: Scenario) -> None:
    rows = holds_rows(api)
    exported = {tuple(r[c] for c in HOLDS_HEADER) for r in rows}
    expected = set().union(*(api_as_rows(acct, api_holds(api, acct)) for acct in scenario.accounts))
    assert exported == expected
    assert len(rows) == len(exported) == 6  # A card: USD + BTC; A PayPal; B; C: USD + BTC
    assert sorted((r["method"], r["lot_asset"], r["lot_amount"], r["status"]) for r in rows) == [
        ("card", "BTC", "0.00000000", "released"),  # A's, bought with held USD, released
        ("card", "BTC", "0.00045000", "frozen"),  # C's, bought with charged-back USD
        ("card", "USD", "0.00", "released"),  # B's, paid out by a final withdrawal
        ("card", "USD", "0.00", "reversed"),  # A's, charged back after its release
        ("card", "USD", "0.00", "reversed"),  # C's, charged back while running
        ("paypal", "EUR", "0.00", "released"),
    ]
    released_b = next(r for r in rows if r["account_id"] == scenario.b)
    assert released_b["released_at"] == "2026-11-23T14:30:00Z"


def test_holds_as_of_a_past_time(api: Api, scenario: Scenario) -> None:
    rows = holds_rows(api, "?as_of=2026-11-17T18:00:00Z")
    expected = api_as_rows(scenario.a, scenario.holds_snapshot[scenario.a])
    assert {tuple(r[c] for c in HOLDS_HEADER) for r in rows} == expected
    assert {
        (r["method"], r["lot_asset"], r["lot_amount"], r["status"], r["released_at"]) for r in rows
    } == {
        ("card", "USD", "40.00", "active", ""),
        ("card", "BTC", "0.00090000", "active", ""),
        ("paypal", "EUR", "50.00", "active", ""),
    }
    assert all(r["account_id"] == scenario.a for r in rows)


def test_holds_as_of_between_chargeback_and_final_withdrawal(api: Api, scenario: Scenario) -> None:
    rows = holds_rows(api, "?as_of=2026-11-23T13:45:00Z")
    expected = set().union(
        *(api_as_rows(acct, holds) for acct, holds in scenario.holds_after_chargeback.items())
    )
    assert {tuple(r[c] for c in HOLDS_HEADER) for r in rows} == expected
    assert sorted(
        (r["lot_asset"], r["lot_amount"], r["status"])
        for r in rows
        if r["account_id"] == scenario.c
    ) == [("BTC", "0.00045000", "frozen"), ("USD", "0.00", "reversed")]


# -- hold-rollforward.csv ------------------------------------------------------------------------


def rollforward(api: Api, query: str = "") -> dict[str, dict[str, Decimal]]:
    response = api.get(f"/v1/exports/hold-rollforward.csv{query}", Role.ACCOUNTANT)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert header(response.get_data(as_text=True)) == ROLL_HEADER
    result = {}
    for row in parse_csv(response.get_data(as_text=True)):
        figures = {k: Decimal(v) for k, v in row.items() if k != "asset"}
        assert figures["closing"] == (
            figures["opening"]
            + figures["placed"]
            - figures["released"]
            - figures["reversed"]
            + figures["traded_in"]
            - figures["traded_out"]
        ), row
        result[row["asset"]] = figures
    return result


def test_rollforward_identity_and_closing_equals_temporary_holds(
    api: Api, scenario: Scenario
) -> None:
    whole = rollforward(api)
    held: dict[str, Decimal] = defaultdict(Decimal)
    for account in scenario.accounts:
        for asset, row in all_balances(api, account).items():
            held[asset] += Decimal(row["temporary_holds"])
    assert {a: r["closing"] for a, r in whole.items()} == dict(held)

    def figures(*values: str) -> dict[str, Decimal]:
        return dict(zip(ROLL_HEADER[1:], map(Decimal, values), strict=True))

    assert whole == {
        "BTC": figures("0", "0", "0.0009", "0", "0.00135", "0", "0.00045"),
        "EUR": figures("0", "50", "50", "0", "0", "0", "0"),
        # B's final withdrawal of held USD counts as released (docs/exports.md)
        "USD": figures("0", "210", "70", "50", "0", "90", "0"),
    }


def test_rollforward_over_a_period(api: Api, scenario: Scenario) -> None:
    week = rollforward(api, "?from=2026-11-17&to=2026-11-20")
    zero = Decimal(0)

    def figures(*values: str) -> dict[str, Decimal]:
        return dict(zip(ROLL_HEADER[1:], map(Decimal, values), strict=True))

    assert week == {
        "BTC": figures("0", "0", "0.0009", "0", "0.00135", "0", "0.00045"),
        "EUR": figures("50", "0", "50", "0", "0", "0", "0"),
        "USD": figures("100", "110", "40", "0", "0", "90", "80"),
    }
    # the close of one period is the opening of the next
    before = rollforward(api, "?to=2026-11-16")
    for asset, row in week.items():
        assert row["opening"] == (before[asset]["closing"] if asset in before else zero)
    assert before["USD"]["closing"] == Decimal("100.00")
    assert before["EUR"]["closing"] == Decimal("50.00")


# -- conventions and bad input -------------------------------------------------------------------


def post_entry(db: Database, entry: Entry) -> None:
    with db.write() as tx:
        ledger.lock_balances(
            tx, {BalanceKey(p.account, p.amount.asset.code) for p in entry.postings}
        )
        ledger.post(tx, entry)


def test_formula_injection_is_escaped(api: Api, clock: Clock, db: Database) -> None:
    account = api.open_account()
    clock.now = T0
    assert deposit(api, account, "5.00", external_ref=INJECTION).status_code == 201
    usd = Asset("USD", 2)
    for reference, memo in [(INJECTION, "+SUM(A1:A9)"), ("-2+3", "@cmd"), ("\tTab", "\rCR")]:
        post_entry(
            db,
            Entry(
                type=EntryType.DEPOSIT,
                posted_at=T1,
                reference=reference,
                memo=memo,
                postings=(
                    Posting(Platform.CLEARING_BANK.value, Amount(Decimal("1.00"), usd)),
                    Posting(
                        customer_account_name(new_uuid(account), Bucket.AVAILABLE),
                        Amount(Decimal("-1.00"), usd),
                    ),
                ),
                id=new_id(),
            ),
        )
    clock.now = T3
    response = api.get("/v1/exports/journal.csv", Role.ACCOUNTANT)
    text = response.get_data(as_text=True)
    rows = parse_csv(text)
    references = [r["reference"] for r in rows[::2]]
    # the deposit's reference is "<method>:<external_ref>": quoted by CSV, not a formula
    assert references[0] == 'card:=HYPERLINK("x")'
    assert '"card:=HYPERLINK(""x"")"' in text
    assert references[1:] == ["'" + INJECTION, "'-2+3", "'\tTab"]
    assert [r["memo"] for r in rows[2::2]] == ["'+SUM(A1:A9)", "'@cmd", "'\rCR"]
    assert f'"\'{INJECTION.replace(chr(34), chr(34) * 2)}"' in text
    # amounts are numbers, never prefixed, even when negative
    balances = [r["balance"] for r in trial(api)]
    assert "-5.00" in balances
    assert not any(b.startswith("'") for b in balances)


def new_uuid(text: str) -> Any:
    import uuid

    return uuid.UUID(text)


@pytest.mark.parametrize(
    ("path", "detail_field"),
    [
        ("/v1/exports/journal.csv?from=2026-13-01", "from"),
        ("/v1/exports/journal.csv?from=yesterday", "from"),
        ("/v1/exports/journal.csv?to=2026-11-20T10:00:00", "to"),
        ("/v1/exports/journal.csv?from=2026-11-20&to=2026-11-19", "from"),
        ("/v1/exports/journal.ledger?from=2026-11-20T10:00:00Z&to=2026-11-20T09:59:59Z", "from"),
        ("/v1/exports/hold-rollforward.csv?from=2026-02-30", "from"),
        ("/v1/exports/trial-balance.csv?as_of=2026-11-20T25:00:00Z", "as_of"),
        ("/v1/exports/holds.csv?as_of=not-a-date", "as_of"),
        ("/v1/exports/journal.csv?to=9999-12-31", "to"),
    ],
)
def test_bad_dates_are_422_problems(api: Api, path: str, detail_field: str) -> None:
    response = api.get(path, Role.ACCOUNTANT)
    assert response.status_code == 422, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    assert body["status"] == 422
    assert detail_field in body["errors"]


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/v1/exports/trial-balance.csv?to=2026-11-02", "to"),
        ("/v1/exports/trial-balance.csv?from=2026-11-02", "from"),
        ("/v1/exports/holds.csv?to=2026-11-02", "to"),
        ("/v1/exports/holds.csv?bogus=1", "bogus"),
        ("/v1/exports/journal.csv?as_of=2026-11-02", "as_of"),
        ("/v1/exports/journal.ledger?as_of=2026-11-02", "as_of"),
        ("/v1/exports/hold-rollforward.csv?as_of=2026-11-02", "as_of"),
        ("/v1/exports/journal.csv?form=2026-11-02", "form"),
    ],
)
def test_a_parameter_an_export_does_not_take_is_422(api: Api, path: str, field: str) -> None:
    """Issue 12, item 3: ``trial-balance.csv?to=`` silently gave today's figures."""
    response = api.get(path, Role.ACCOUNTANT)
    assert response.status_code == 422, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    assert field in response.get_json()["errors"]


EXPORT_PATHS = [
    "/v1/exports/journal.csv",
    "/v1/exports/trial-balance.csv",
    "/v1/exports/holds.csv",
    "/v1/exports/journal.ledger",
    "/v1/exports/hold-rollforward.csv",
]


@pytest.mark.parametrize("path", EXPORT_PATHS)
def test_roles(api: Api, path: str) -> None:
    for role in (Role.TRADING, Role.PAYMENTS, Role.OPERATIONS, Role.COMPLIANCE):
        response = api.get(path, role)
        assert response.status_code == 403, (role, response.get_data(as_text=True))
        assert response.get_json()["code"] == "forbidden"
    for role in (Role.ACCOUNTANT, Role.ADMIN):
        assert api.get(path, role).status_code == 200
    assert api.client.get(path).status_code == 401
    # a wrong role is refused before its arguments are even looked at
    assert api.get(path + "?from=bad&as_of=bad", Role.TRADING).status_code == 403


def test_empty_books_export_headers_only(api: Api) -> None:
    assert api.get("/v1/exports/journal.csv", Role.ACCOUNTANT).get_data(as_text=True) == (
        ",".join(JOURNAL_HEADER) + "\r\n"
    )
    assert (
        api.get("/v1/exports/trial-balance.csv", Role.ACCOUNTANT).get_data(as_text=True)
        == ",".join(TRIAL_HEADER) + "\r\n"
    )
    assert (
        api.get("/v1/exports/holds.csv", Role.ACCOUNTANT).get_data(as_text=True)
        == ",".join(HOLDS_HEADER) + "\r\n"
    )
    assert (
        api.get("/v1/exports/hold-rollforward.csv", Role.ACCOUNTANT).get_data(as_text=True)
        == ",".join(ROLL_HEADER) + "\r\n"
    )


def test_exports_read_the_replica_when_configured(
    db: Database, clock: Clock, api_keys: dict[Role, str], tmp_path: Path
) -> None:
    from service.api import create_app

    if db.is_postgres:
        replica_url = db.url + ("&" if "?" in db.url else "?") + "application_name=export"
    else:
        replica_path = tmp_path / "replica.db"
        shutil.copy(db.url.removeprefix("sqlite:///"), replica_path)
        replica_url = f"sqlite:///{replica_path}"
    app = create_app(Settings(database_url=db.url, export_database_url=replica_url), db)
    app.extensions["ledger"].clock = clock
    client = Api(app.test_client(), api_keys)
    account = client.open_account()
    assert deposit(client, account, "7.00", method="bank_transfer").status_code == 201
    runtime = app.extensions["ledger"]
    rows = parse_csv(client.get("/v1/exports/journal.csv", Role.ACCOUNTANT).get_data(as_text=True))
    export_db = runtime.export_database()
    assert export_db is not db
    assert export_db.url == replica_url
    assert runtime.export_database() is export_db  # made once per app
    # the SQLite "replica" is a copy taken before the deposit; PostgreSQL's is the same database
    assert len(rows) == (2 if db.is_postgres else 0)
    export_db.dispose()


# -- command line -----------------------------------------------------------------------------


def run_cli(db: Database, *args: str) -> Any:
    return CliRunner().invoke(
        main, list(args), env={"LEDGER_DATABASE_URL": db.url}, catch_exceptions=False
    )


@pytest.mark.parametrize(
    ("name", "path", "query"),
    [
        ("journal", "journal.csv", ["--from", "2026-11-01", "--to", "2026-11-30"]),
        ("ledger-journal", "journal.ledger", ["--from", "2026-11-01", "--to", "2026-11-30"]),
        ("trial-balance", "trial-balance.csv", ["--as-of", "2026-11-20T16:00:00Z"]),
        ("holds", "holds.csv", ["--as-of", "2026-11-17T18:00:00Z"]),
        (
            "hold-rollforward",
            "hold-rollforward.csv",
            ["--from", "2026-11-17", "--to", "2026-11-20"],
        ),
    ],
)
def test_cli_export_writes_the_same_bytes_as_rest(
    api: Api,
    db: Database,
    scenario: Scenario,
    tmp_path: Path,
    name: str,
    path: str,
    query: list[str],
) -> None:
    out = tmp_path / path
    result = run_cli(db, "export", name, *query, "-o", str(out))
    assert result.exit_code == 0, result.output
    params = "&".join(
        f"{k.strip('-').replace('-', '_')}={v}"
        for k, v in zip(query[::2], query[1::2], strict=True)
    )
    rest = api.get(f"/v1/exports/{path}?{params}", Role.ACCOUNTANT).get_data()
    assert out.read_bytes() == rest
    assert len(rest.splitlines()) > 1


def test_cli_export_to_stdout_and_usage_errors(api: Api, db: Database, scenario: Scenario) -> None:
    result = run_cli(db, "export", "journal", "--from", "2026-11-17", "--to", "2026-11-17")
    assert result.exit_code == 0
    out = result.stdout_bytes.decode("utf-8")
    assert out.startswith(",".join(JOURNAL_HEADER) + "\r\n")
    assert out.count("\r\n") == 5  # header + the trade's four postings
    unknown = run_cli(db, "export", "ledger-balance")
    assert unknown.exit_code == 2
    assert "Usage:" in unknown.output
    assert "ledger-balance" in unknown.output
    wrong_option = run_cli(db, "export", "journal", "--as-of", "2026-11-17")
    assert wrong_option.exit_code == 2
    assert "as_of" in wrong_option.output
    bad_date = run_cli(db, "export", "trial-balance", "--as-of", "17/11/2026")
    assert bad_date.exit_code == 2
    assert "as_of" in bad_date.output
    backwards = run_cli(db, "export", "journal", "--from", "2026-11-18", "--to", "2026-11-17")
    assert backwards.exit_code == 2


# -- the files reconcile with each other (docs/exports.md) ----------------------------------


def test_files_reconcile_with_each_other(api: Api, scenario: Scenario) -> None:
    t = "2026-11-23T13:45:00Z"  # between the chargeback of C's hold and the final withdrawal
    journal = get_csv(api, f"/v1/exports/journal.csv?to={t}")
    # 1. the journal summed to T is the trial balance as of T
    totals: dict[tuple[str, str], list[Decimal]] = defaultdict(lambda: [Decimal(0)] * 2)
    for row in journal:
        pair = totals[(row["account"], row["asset"])]
        pair[0] += dec(row["debit"])
        pair[1] += dec(row["credit"])
    tb = trial(api, f"?as_of={t}")
    assert {
        (r["account"], r["asset"]): [Decimal(r["debit"]), Decimal(r["credit"])] for r in tb
    } == dict(totals)
    # 4. holds, Held balances and the roll-forward's closing agree per asset
    lots: dict[str, Decimal] = defaultdict(Decimal)
    for row in holds_rows(api, f"?as_of={t}"):
        lots[row["lot_asset"]] += Decimal(row["lot_amount"])
    held: dict[str, Decimal] = defaultdict(Decimal)
    for row in tb:
        if row["account"].endswith(":Held"):
            held[row["asset"]] -= Decimal(row["balance"])
    roll = rollforward(api, f"?from=2026-11-18&to={t}")
    assert dict(lots) == dict(held) == {a: r["closing"] for a, r in roll.items()}
    assert lots["BTC"] == Decimal("0.00045")  # C's frozen lot
    # 5. each movement column is the journal's Held rows of the period by entry type
    start = "2026-11-18T05:00:00Z"  # 00:00 on 18 November in New York
    moves: dict[str, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    for row in journal:
        if row["account"].endswith(":Held") and row["posted_at"] >= start:
            column = {
                ("deposit", "credit"): "placed",
                ("hold_release", "debit"): "released",
                ("withdrawal", "debit"): "released",
                ("chargeback", "debit"): "reversed",
                ("trade", "credit"): "traded_in",
                ("trade", "debit"): "traded_out",
            }[(row["entry_type"], "debit" if row["debit"] else "credit")]
            moves[row["asset"]][column] += dec(row["debit"]) + dec(row["credit"])
    for asset, figures in roll.items():
        for column in ("placed", "released", "reversed", "traded_in", "traded_out"):
            assert figures[column] == moves[asset][column], (asset, column)
    # the opening is the closing of the period before
    before = rollforward(api, "?to=2026-11-17")
    assert {a: r["opening"] for a, r in roll.items()} == {
        a: before[a]["closing"] if a in before else Decimal(0) for a in roll
    }


def test_an_export_closed_midway_ends_its_transaction(
    api: Api, clock: Clock, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A download cut short (client gone) closes the stream: the cursor, the
    prefetching helper on PostgreSQL and the read transaction all end, and the
    next export works."""
    import service.db.exports as queries
    from service.services import exports

    account = api.open_account()
    clock.now = T0
    for n in range(6):
        assert deposit(api, account, f"{n + 1}.00", method="bank_transfer").status_code == 201
    monkeypatch.setattr(queries, "YIELD_PER", 2)  # six batches of two postings
    bounds = exports.resolve_period(
        exports.ExportName.JOURNAL,
        from_text=None,
        to_text=None,
        as_of_text=None,
        tz_name="America/New_York",
        now=T3,
    )
    seen: list[int] = []
    chunks = exports.stream(
        db, exports.ExportName.JOURNAL, bounds, tz_name="America/New_York", on_rows=seen.append
    )
    assert next(chunks).startswith("entry_id,")
    assert next(chunks).count("\r\n") == 2
    chunks.close()
    assert db.engine.pool.checkedout() == 0  # type: ignore[attr-defined]
    whole = "".join(
        exports.stream(
            db, exports.ExportName.JOURNAL, bounds, tz_name="America/New_York", on_rows=seen.append
        )
    )
    assert whole.count("\r\n") == 13
    assert seen == [2] * 6
    # over REST: the response is closed after a partial read
    response = api.get("/v1/exports/journal.csv", Role.ACCOUNTANT)
    first = next(iter(response.response))
    response.close()
    assert first.startswith(b"entry_id,") or first.startswith("entry_id,")
    assert (
        api.get("/v1/exports/journal.csv", Role.ACCOUNTANT).get_data(as_text=True).count("\r\n")
        == 13
    )
