"""``ledger seal`` and ``ledger verify`` (seals) against a real database of each kind,
the late-committing transaction, and tampering with the guards switched off."""

from __future__ import annotations

import json
import threading
import uuid
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import text

from service.cli import main
from service.config import Settings
from service.db.database import Database
from service.domain.holds import Method
from service.domain.seals import seal_hash
from service.scheduler import Scheduler
from service.services import seals
from service.services.deposits import DepositCommand, record_deposit
from tests.api.test_seals import _account, _deposit, seal_everything
from tests.e2e.test_cli import deposit, new_account

pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")


def run(db: Database, *args: str) -> Result:
    return CliRunner().invoke(main, list(args), env={"LEDGER_DATABASE_URL": db.url})


def sealed_in(db: Database, entry_id: uuid.UUID) -> int | None:
    with db.read() as conn:
        row = conn.execute(
            text("SELECT seal_number FROM seal_entries WHERE entry_id = :e"), {"e": entry_id}
        ).first()
    return None if row is None else int(row[0])


def test_seal_prints_the_new_seal_or_nothing_to_seal(db: Database) -> None:
    nothing = run(db, "seal")
    assert nothing.exit_code == 0, nothing.output
    assert json.loads(nothing.stdout) == {"sealed": 0}
    deposit(db, new_account(db))
    made = seal_everything(db)
    assert made
    again = run(db, "seal")
    assert json.loads(again.stdout) == {"sealed": 0}
    latest = seals.latest_seal(db).as_dict()
    assert set(latest) == {"number", "entries", "root", "previous", "sealed_at", "hash"}
    ok = run(db, "verify", "--seal", f"{latest['number']}:{latest['hash']}")
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.stdout)["ok"] is True


def test_seal_command_output_is_the_seal(db: Database) -> None:
    deposit(db, new_account(db))
    for _ in range(200):
        result = run(db, "seal")
        assert result.exit_code == 0, result.output
        printed = json.loads(result.stdout)
        if printed != {"sealed": 0}:
            break
    assert printed == seals.get_seal(db, printed["number"]).as_dict()


def test_verify_with_a_wrong_or_unknown_pinned_seal_exits_1(db: Database) -> None:
    deposit(db, new_account(db))
    seal_everything(db)
    latest = seals.latest_seal(db)
    wrong = run(db, "verify", "--seal", f"{latest.number}:{'0' * 64}")
    assert wrong.exit_code == 1
    problems = json.loads(wrong.stdout)["problems"]
    assert any(f"seal {latest.number}: hash {latest.hash} differs" in p for p in problems)
    unknown = run(db, "verify", "--seal", f"{latest.number + 5}:{latest.hash}")
    assert unknown.exit_code == 1
    assert "does not exist" in unknown.stdout
    malformed = run(db, "verify", "--seal", "one:abc")
    assert malformed.exit_code == 2
    assert "NUMBER:HASH" in malformed.output


def test_scheduler_seals(db: Database) -> None:
    deposit(db, new_account(db))
    scheduler = Scheduler(db, interval=60, batch_size=10, seal_interval=1)
    for _ in range(200):
        scheduler.seal_once()
        if seals.list_seals(db, 0, 10)[0]:
            break
    assert seals.latest_seal(db).number == 1


@pytest.mark.postgres
@pytest.mark.parametrize("db", ["postgresql"], indirect=True)
def test_a_transaction_committing_late_lands_in_a_later_seal(db: Database) -> None:
    account = _account(db)
    _deposit(db, account, 0)
    seal_everything(db)
    opened, release = threading.Event(), threading.Event()
    late: list[uuid.UUID] = []

    def held_open() -> None:
        now = datetime(2026, 11, 20, 20, 0, tzinfo=UTC)
        cmd = DepositCommand(
            account_id=account,
            method=Method.CARD,
            asset="USD",
            amount=Decimal("2.00"),
            external_ref=f"late-{uuid.uuid4().hex}",
            settled_at=now,
        )
        with db.write() as tx:
            record_deposit(tx, cmd, settings=Settings(database_url=db.url), now=now)
            late.append(
                tx.execute(
                    text(
                        "SELECT id FROM journal_entries "
                        "WHERE xact_id = pg_current_xact_id()::text::bigint"
                    )
                ).scalar_one()
            )
            opened.set()
            release.wait(30)

    thread = threading.Thread(target=held_open)
    thread.start()
    try:
        assert opened.wait(30)
        _deposit(db, _account(db), 1)  # starts after the late one, commits first
        with db.read() as conn:
            after = conn.execute(
                text("SELECT id FROM journal_entries ORDER BY xact_id DESC LIMIT 1")
            ).scalar_one()
        made_while_open = [seals.seal(db, datetime.now(UTC)) for _ in range(3)]
        assert late
        assert sealed_in(db, late[0]) is None
        # the deposit that committed while the late one was open did not wait for it
        assert sealed_in(db, after) is not None
    finally:
        release.set()
        thread.join()
    seal_everything(db)
    last_while_open = max((s.number for s in made_while_open if s is not None), default=0)
    late_seal = sealed_in(db, late[0])
    assert late_seal is not None
    assert late_seal > last_while_open
    assert seals.verify_seals(db) == []


@pytest.mark.postgres
@pytest.mark.parametrize("db", ["postgresql"], indirect=True)
def test_verify_names_an_entry_changed_with_the_guards_switched_off(db: Database) -> None:
    account = new_account(db)
    for _ in range(3):
        deposit(db, account)
    seal_everything(db)
    with db.read() as conn:
        target, number = conn.execute(
            text("SELECT entry_id, seal_number FROM seal_entries ORDER BY leaf_index DESC LIMIT 1")
        ).one()
    assert run(db, "verify").exit_code == 0
    with db.engine.begin() as conn:
        conn.execute(text("SET LOCAL session_replication_role = replica"))
        conn.execute(
            text("UPDATE journal_entries SET reference = 'card:forged' WHERE id = :id"),
            {"id": target},
        )
    result = run(db, "verify")
    assert result.exit_code == 1
    problems = json.loads(result.stdout)["problems"]
    assert problems[0].startswith(f"seal {number}: entry {target} ")
    assert "differs from what was sealed" in problems[0]


def _forge(db: Database, sql: str, **params: object) -> None:
    """A change made with the database's guards switched off (a superuser's)."""
    with db.engine.begin() as conn:
        conn.execute(text("SET LOCAL session_replication_role = replica"))
        conn.execute(text(sql), params)


@pytest.mark.postgres
@pytest.mark.parametrize("db", ["postgresql"], indirect=True)
def test_verify_finds_a_rewritten_seal_chain_or_a_removed_membership(db: Database) -> None:
    account = new_account(db)
    deposit(db, account)
    first = seal_everything(db)[-1]
    deposit(db, account)
    deposit(db, account)
    second = seal_everything(db)[-1]
    assert run(db, "verify").exit_code == 0
    # a seal's root rewritten (and its hash recomputed to match): the chain breaks
    forged_root = "00" * 32
    forged_hash = seal_hash(
        first.number, first.entries, forged_root, first.previous, first.sealed_at
    )
    _forge(
        db,
        "UPDATE seals SET root = :root, hash = :hash WHERE number = :n",
        root=forged_root,
        hash=forged_hash,
        n=first.number,
    )
    result = run(db, "verify", "--seal", f"{second.number}:{second.hash}")
    assert result.exit_code == 1
    problems = json.loads(result.stdout)["problems"]
    assert f"seal {first.number}: its root does not match its leaf hashes" in problems
    assert any(p.startswith(f"seal {second.number}: previous is") for p in problems)
    _forge(
        db,
        "UPDATE seals SET root = :root, hash = :hash WHERE number = :n",
        root=first.root,
        hash=first.hash,
        n=first.number,
    )
    assert run(db, "verify").exit_code == 0
    # an entry's membership removed: the seal is short, and the entry in no seal
    with db.read() as conn:
        entry_id = conn.execute(
            text("SELECT entry_id FROM seal_entries WHERE seal_number = :n ORDER BY leaf_index"),
            {"n": second.number},
        ).first()[0]
    _forge(db, "DELETE FROM seal_entries WHERE entry_id = :e", e=entry_id)
    result = run(db, "verify")
    assert result.exit_code == 1
    problems = json.loads(result.stdout)["problems"]
    assert any(p.startswith(f"seal {second.number}: ") for p in problems)
    assert (
        f"entry {entry_id} was committed before seal {second.number} was cut but is in no seal"
        in problems
    )
