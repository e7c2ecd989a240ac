"""The journal.ledger export read by a real accounting tool (hledger).

hledger checks on load that every transaction balances per commodity; these
tests then compare what hledger computes with the service's own exports. In CI
(``LEDGER_REQUIRE_POSTGRES=1``) a missing hledger is a failure, not a skip.
"""

from __future__ import annotations

import csv
import io
import os
import re
import shutil
import subprocess
import uuid
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import insert

from service.db.database import Database
from service.db.tables import assets
from service.domain.chart import Bucket, Platform, customer_account_name
from service.domain.ids import new_id
from service.domain.money import Amount, Asset
from service.domain.posting import Entry, EntryType, Posting
from service.domain.roles import Role
from tests.api.test_exports import (
    T1,
    T7,
    build_scenario,
    parse_csv,
    post_entry,
)
from tests.conftest import Api, Clock


@pytest.fixture(scope="session")
def hledger() -> str:
    found = shutil.which("hledger")
    if found is None:
        if os.environ.get("LEDGER_REQUIRE_POSTGRES") == "1":
            pytest.fail("hledger is required in CI (apt-get install hledger)")
        pytest.skip("hledger is not installed")
    return found


def run(hledger: str, journal: Path, *args: str) -> str:
    done = subprocess.run(
        [hledger, "-f", str(journal), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, f"hledger {' '.join(args)} failed:\n{done.stderr}"
    return done.stdout


def download(api: Api, path: str, target: Path) -> Path:
    response = api.get(path, Role.ACCOUNTANT)
    assert response.status_code == 200, response.get_data(as_text=True)
    target.write_bytes(response.get_data())
    return target


def hledger_balances(hledger: str, journal: Path) -> dict[tuple[str, str], Decimal]:
    out = run(hledger, journal, "balance", "--flat", "--no-total", "--layout", "bare", "-O", "csv")
    result = {}
    for row in csv.DictReader(io.StringIO(out)):
        value = Decimal(row["balance"])
        if value:
            result[(row["account"], row["commodity"].strip('"'))] = value
    return result


def trial_balances(api: Api, query: str = "") -> dict[tuple[str, str], Decimal]:
    response = api.get(f"/v1/exports/trial-balance.csv{query}", Role.ACCOUNTANT)
    assert response.status_code == 200
    return {
        (row["account"], row["asset"]): Decimal(row["balance"])
        for row in parse_csv(response.get_data(as_text=True))
        if Decimal(row["balance"])
    }


def add_odd_entries(db: Database, account: str) -> None:
    """An asset whose code needs quoting in a journal file (digits, scale 0), and
    free text that could break a plain-text journal line (``;``, line breaks)."""
    with db.write() as tx:
        tx.execute(insert(assets).values(code="1INCH", scale=0))
    inch, usd = Asset("1INCH", 0), Asset("USD", 2)
    available = customer_account_name(uuid.UUID(account), Bucket.AVAILABLE)
    post_entry(
        db,
        Entry(
            type=EntryType.DEPOSIT,
            posted_at=T1,
            reference="odd; ref\nwith  break",
            memo="memo, with; punctuation\r\n=1+1",
            postings=(
                Posting(Platform.CLEARING_CRYPTO.value, Amount(Decimal(1234), inch)),
                Posting(available, Amount(Decimal(-1234), inch)),
                Posting(Platform.CLEARING_BANK.value, Amount(Decimal("0.01"), usd)),
                Posting(available, Amount(Decimal("-0.01"), usd)),
            ),
            id=new_id(),
        ),
    )


def test_hledger_reads_the_journal_and_agrees_with_the_trial_balance(
    api: Api, clock: Clock, db: Database, tmp_path: Path, hledger: str
) -> None:
    scenario = build_scenario(api, clock, db)
    add_odd_entries(db, scenario.b)
    journal = download(api, "/v1/exports/journal.ledger", tmp_path / "books.journal")
    run(hledger, journal, "check")  # parses; every transaction balanced per commodity
    run(hledger, journal, "check", "--strict")  # and every account and commodity declared
    balances = hledger_balances(hledger, journal)
    assert balances == trial_balances(api)
    assert balances[(Platform.CLEARING_CRYPTO.value, "1INCH")] == Decimal(1234)
    # one hledger transaction per journal entry, one posting per journal.csv row
    rows = parse_csv(api.get("/v1/exports/journal.csv", Role.ACCOUNTANT).get_data(as_text=True))
    register = list(csv.DictReader(io.StringIO(run(hledger, journal, "register", "-O", "csv"))))
    assert len(register) == len(rows)
    assert [r["code"] for r in register] == [r["entry_id"] for r in rows]
    assert [r["account"] for r in register] == [r["account"] for r in rows]
    assert [Decimal(r["amount"].split()[0].strip('"')) for r in register] == [
        Decimal(r["debit"] or "-" + r["credit"]) for r in rows
    ]
    stats = re.search(r"^Transactions\s*:\s*(\d+)", run(hledger, journal, "stats"), re.M)
    assert stats is not None
    assert int(stats.group(1)) == len({r["entry_id"] for r in rows})


def test_hledger_periods_match_the_exports(
    api: Api, clock: Clock, db: Database, tmp_path: Path, hledger: str
) -> None:
    build_scenario(api, clock, db)
    assert clock.now == T7
    # a journal up to a past moment balances to the trial balance as of that moment
    past = download(
        api, "/v1/exports/journal.ledger?to=2026-11-17T18:00:00Z", tmp_path / "past.journal"
    )
    run(hledger, past, "check", "--strict")
    assert hledger_balances(hledger, past) == trial_balances(api, "?as_of=2026-11-17T18:00:00Z")
    # transactions are dated in the calendar's time zone, so hledger's day
    # filter selects what the export's date filter selects
    whole = download(api, "/v1/exports/journal.ledger", tmp_path / "whole.journal")
    tuesday = csv.DictReader(
        io.StringIO(
            run(hledger, whole, "register", "-b", "2026-11-17", "-e", "2026-11-18", "-O", "csv")
        )
    )
    exported = parse_csv(
        api.get("/v1/exports/journal.csv?from=2026-11-17&to=2026-11-17", Role.ACCOUNTANT).get_data(
            as_text=True
        )
    )
    assert [(r["code"], r["account"]) for r in tuesday] == [
        (r["entry_id"], r["account"]) for r in exported
    ]
    assert {r["entry_type"] for r in exported} == {"trade"}
    # the same period exported as journal.ledger parses to the same postings
    period = download(
        api,
        "/v1/exports/journal.ledger?from=2026-11-17&to=2026-11-17",
        tmp_path / "tuesday.journal",
    )
    run(hledger, period, "check", "--strict")
    assert len(
        list(csv.DictReader(io.StringIO(run(hledger, period, "register", "-O", "csv"))))
    ) == len(exported)
