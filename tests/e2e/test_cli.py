"""The ``ledger`` command line against a real database of each kind.

Most commands run in-process through click's CliRunner (fast); one test runs the
installed console script as a subprocess, as cron or an operator would."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from click.testing import CliRunner, Result
from sqlalchemy import func, select, text

from service.cli import main
from service.config import Settings
from service.db.database import Database
from service.db.tables import balances, holds, journal_entries
from service.domain.accounts import Tier
from service.domain.chart import Bucket, customer_ledger_id
from service.domain.holds import Method
from service.services.accounts import OpenAccount, open_account
from service.services.deposits import DepositCommand, record_deposit
from service.services.verify import CHECK_COUNT

LEDGER = Path(sys.executable).with_name("ledger")
SETTLED = datetime(2026, 11, 20, 20, 0, tzinfo=UTC)  # Friday 15:00 New York
DUE = "2026-11-25T20:00:00Z"  # its card hold releases Wednesday 15:00 New York
AFTER = datetime(2026, 11, 20, 21, 0, tzinfo=UTC)


def run(db: Database, *args: str) -> Result:
    runner = CliRunner()
    return runner.invoke(main, list(args), env={"LEDGER_DATABASE_URL": db.url})


def new_account(db: Database) -> uuid.UUID:
    with db.write() as tx:
        return open_account(
            tx,
            OpenAccount(f"cli-{uuid.uuid4().hex}", "GB", Tier.BASIC),
            client_country="GB",
            blocked=frozenset({"US"}),
            now=SETTLED,
        ).id


def deposit(
    db: Database,
    account: uuid.UUID,
    *,
    method: Method = Method.CARD,
    amount: str = "100.00",
    settled_at: datetime = SETTLED,
) -> Any:
    cmd = DepositCommand(
        account_id=account,
        method=method,
        asset="USD",
        amount=Decimal(amount),
        external_ref=f"cli-{uuid.uuid4().hex}",
        settled_at=settled_at,
    )
    with db.write() as tx:
        return record_deposit(tx, cmd, settings=Settings(database_url=db.url), now=AFTER)


def hold_status(db: Database, hold_id: uuid.UUID) -> str:
    with db.read() as conn:
        return str(conn.execute(select(holds.c.status).where(holds.c.id == hold_id)).scalar_one())


def journal_size(db: Database) -> int:
    with db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(journal_entries)).scalar_one())


def assert_clean_failure(result: Result, *fragments: str) -> None:
    """A non-zero exit with a message, not an exception escaping the command."""
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    assert result.exit_code != 0
    assert "Traceback" not in result.output
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in result.stderr, result.stderr


# -- keys ----------------------------------------------------------------------------


def test_keys_create_prints_only_the_key_and_the_key_works(db: Database, app: Any) -> None:
    result = run(db, "keys", "create", "--role", "payments", "--name", "x")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert len(lines) == 1
    key = lines[0]
    assert key.startswith("lk_")
    assert key == key.strip()
    assert len(key) > 20

    client = app.test_client()
    headers = {"Authorization": f"Bearer {key}", "X-Client-Country": "GB"}
    assert client.get("/v1/hold-policies", headers=headers).status_code == 200
    # the key carries its role: payments may not open accounts
    refused = client.post(
        "/v1/accounts", json={"external_id": "k", "country": "GB"}, headers=headers
    )
    assert refused.status_code == 403
    unknown = client.get(
        "/v1/hold-policies", headers={**headers, "Authorization": f"Bearer {key}x"}
    )
    assert unknown.status_code == 401


def test_keys_create_without_a_name_picks_a_unique_one(db: Database) -> None:
    first = run(db, "keys", "create", "--role", "trading")
    second = run(db, "keys", "create", "--role", "trading")
    assert first.exit_code == 0
    assert second.exit_code == 0
    assert first.stdout.strip() != second.stdout.strip()


def test_duplicate_key_name_fails_cleanly(db: Database) -> None:
    assert run(db, "keys", "create", "--role", "payments", "--name", "x").exit_code == 0
    result = run(db, "keys", "create", "--role", "admin", "--name", "x")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert_clean_failure(result, "'x'", "exists")


def test_bad_role_is_a_usage_error(db: Database) -> None:
    result = run(db, "keys", "create", "--role", "superuser", "--name", "y")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert_clean_failure(result, "Invalid value for '--role'", "superuser")
    missing = run(db, "keys", "create", "--name", "y")
    assert missing.exit_code == 2
    assert_clean_failure(missing, "--role")


# -- verify --------------------------------------------------------------------------


def tamper(db: Database, account: uuid.UUID) -> None:
    """Change a balance row behind the ledger's back (PostgreSQL refuses that unless
    its triggers are disabled, i.e. by a superuser)."""
    with db.write() as tx:
        if db.is_postgres:
            tx.execute(text("SET LOCAL session_replication_role = replica"))
        tx.execute(
            balances.update()
            .where(balances.c.ledger_account_id == customer_ledger_id(account, Bucket.HELD))
            .values(balance=balances.c.balance - 1)
        )


def test_verify_exits_0_on_sound_books_and_1_with_a_report_after_tampering(
    db: Database,
) -> None:
    account = new_account(db)
    deposit(db, account)
    deposit(db, account, method=Method.BANK_TRANSFER, amount="25.00")
    result = run(db, "verify")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"ok": True, "problems": []}

    tamper(db, account)
    result = run(db, "verify")
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    report = json.loads(result.stdout)
    assert report["ok"] is False
    problems = report["problems"]
    assert any("Held" in p or "balance of ledger account" in p for p in problems), problems
    assert any("USD" in p for p in problems), problems


# -- release-holds -------------------------------------------------------------------


def test_release_holds_dry_run_reports_and_changes_nothing(db: Database) -> None:
    account = new_account(db)
    made = deposit(db, account)
    before = journal_size(db)
    result = run(db, "release-holds", "--dry-run", "--as-of", DUE)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["dry_run"] is True
    assert summary["released"] == 1
    assert summary["as_of"] == DUE
    assert summary["totals"] == {"USD": "100.00"}
    assert hold_status(db, made.hold.id) == "active"
    assert journal_size(db) == before


def test_release_holds_as_of_is_inclusive_to_the_microsecond(db: Database) -> None:
    account = new_account(db)
    due = deposit(db, account)
    later = deposit(db, account, amount="7.00", settled_at=SETTLED.replace(microsecond=1))
    assert due.hold.release_at == datetime(2026, 11, 25, 20, 0, tzinfo=UTC)
    assert later.hold.release_at == datetime(2026, 11, 25, 20, 0, 0, 1, tzinfo=UTC)

    result = run(db, "release-holds", "--as-of", DUE)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["released"] == 1
    assert summary["dry_run"] is False
    assert summary["totals"] == {"USD": "100.00"}
    assert hold_status(db, due.hold.id) == "released"
    assert hold_status(db, later.hold.id) == "active"

    # running it again releases nothing more (idempotent)
    again = run(db, "release-holds", "--as-of", DUE)
    assert again.exit_code == 0
    assert json.loads(again.stdout)["released"] == 0

    # one microsecond later the second hold is due too
    result = run(db, "release-holds", "--as-of", "2026-11-25T20:00:00.000001+00:00")
    assert json.loads(result.stdout)["released"] == 1
    assert hold_status(db, later.hold.id) == "released"
    assert run(db, "verify").exit_code == 0


def test_release_holds_accepts_any_offset(db: Database) -> None:
    account = new_account(db)
    made = deposit(db, account)
    result = run(db, "release-holds", "--as-of", "2026-11-25T15:00:00-05:00")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["as_of"] == DUE
    assert hold_status(db, made.hold.id) == "released"


def _assert_as_of_refused(db: Database, *values: str) -> None:
    account = new_account(db)
    made = deposit(db, account)
    before = journal_size(db)
    for value in values:
        result = run(db, "release-holds", "--as-of", value)
        assert_clean_failure(result, "--as-of")
        assert result.exit_code == 2, (value, result.output)
        assert result.stdout == ""
    assert hold_status(db, made.hold.id) == "active"
    assert journal_size(db) == before


def test_release_holds_as_of_without_offset_fails_cleanly(db: Database) -> None:
    # a plain date is accepted (issue 12: as the exports take it), a nonsense one is not
    _assert_as_of_refused(db, "2026-11-25T20:00:00", "next tuesday", "2026-13-25")


def test_release_holds_as_of_out_of_range_in_utc_fails_cleanly(db: Database) -> None:
    """Valid ISO 8601 with an offset, but not representable in UTC."""
    _assert_as_of_refused(db, "9999-12-31T23:59:59-05:00", "0001-01-01T00:00:00+01:00")


# -- the installed console script ----------------------------------------------------------


def test_console_script_prints_the_key_alone(db: Database) -> None:
    env = {**os.environ, "LEDGER_DATABASE_URL": db.url}
    done = subprocess.run(
        [str(LEDGER), "keys", "create", "--role", "payments", "--name", "x"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("\n") == 1
    assert done.stdout.startswith("lk_")
    dup = subprocess.run(
        [str(LEDGER), "keys", "create", "--role", "payments", "--name", "x"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert dup.returncode == 1
    assert dup.stdout == ""
    assert "exists" in dup.stderr
    assert "Traceback" not in dup.stderr


# -- progress bars: stderr only, stdout unchanged -------------------------------------


def test_release_progress_goes_to_stderr_with_its_total(db: Database) -> None:
    account = new_account(db)
    for _ in range(3):
        deposit(db, account)
    result = run(db, "release-holds", "--as-of", DUE, "--batch-size", "2", "--progress")
    assert result.exit_code == 0, result.output
    assert result.stdout.count("\n") == 1  # the JSON summary alone
    assert json.loads(result.stdout)["released"] == 3
    assert "3/3 [" in result.stderr, result.stderr
    assert "holds/s" in result.stderr, result.stderr


def test_export_progress_leaves_the_file_on_stdout_byte_for_byte(db: Database) -> None:
    account = new_account(db)
    deposit(db, account)
    deposit(db, account, method=Method.BANK_TRANSFER, amount="25.00")
    args = ("export", "journal", "--from", "2026-11-01", "--to", "2026-11-30")
    quiet = run(db, *args, "--no-progress")
    loud = run(db, *args, "--progress")
    assert quiet.exit_code == loud.exit_code == 0, loud.output
    assert quiet.stderr == ""
    assert loud.stdout_bytes == quiet.stdout_bytes
    assert loud.stdout.startswith("entry_id,")
    assert "4/4 [" in loud.stderr, loud.stderr  # 2 entries x 2 postings
    assert "rows/s" in loud.stderr, loud.stderr


def test_verify_progress_counts_the_checks_on_stderr(db: Database) -> None:
    account = new_account(db)
    deposit(db, account)
    quiet = run(db, "verify", "--no-progress")
    loud = run(db, "verify", "--progress")
    assert quiet.exit_code == loud.exit_code == 0, loud.output
    assert loud.stdout == quiet.stdout == '{"ok": true, "problems": []}\n'
    assert f"{CHECK_COUNT}/{CHECK_COUNT}" in loud.stderr, loud.stderr
