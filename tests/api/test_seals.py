"""Journal seals over REST and the service (API.md, Journal seals), both databases.

Proofs are checked with the RFC 9162 verifier written independently in
tests/unit/test_merkle.py and seal hashes with the ``rfc8785`` package, never
with the code under test.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import rfc8785
from sqlalchemy import func, select, text

from service.config import Settings
from service.db.database import Database
from service.db.tables import journal_entries, seal_entries
from service.domain.accounts import Tier
from service.domain.holds import Method
from service.domain.roles import Role
from service.services import seals
from service.services.accounts import OpenAccount, open_account
from service.services.deposits import DepositCommand, record_deposit
from tests.api.test_chargebacks import charge_back
from tests.api.test_compliance import final_withdrawal
from tests.api.test_deposits import deposit
from tests.api.test_trades import trade
from tests.api.test_withdrawals import act, fund, withdraw
from tests.conftest import Api, Clock
from tests.unit.test_merkle import reference_verify

KINDS = {
    "deposit",
    "trade",
    "withdrawal",
    "withdrawal_payout",
    "withdrawal_return",
    "chargeback",
    "hold_release",
}


def count(db: Database, table: Any) -> int:
    with db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def seal_everything(db: Database, timeout: float = 20.0) -> list[seals.Seal]:
    """Seal until every committed entry is in a seal. On PostgreSQL a seal only
    takes transactions older than every one still open in the whole cluster
    (the cut), and the test server is shared, so this may take more than one seal."""
    made = []
    deadline = time.monotonic() + timeout
    while count(db, seal_entries) < count(db, journal_entries):
        assert time.monotonic() < deadline, "entries still unsealed"
        new = seals.seal(db, datetime.now(UTC))
        if new is None:
            time.sleep(0.05)
        else:
            made.append(new)
    return made


def entry_ids(db: Database) -> dict[str, str]:
    with db.read() as conn:
        rows = conn.execute(select(journal_entries.c.id, journal_entries.c.type))
        return {str(i): t for i, t in rows}


def every_kind(api: Api, clock: Clock) -> None:
    """One entry of every kind the ledger books."""
    a = api.open_account()
    deposit(api, a, "100.00")  # card: held
    assert trade(api, a, ("10.00", "USD"), ("9.00", "EUR")).status_code == 201
    fund(api, a, "500.00")
    paid = withdraw(api, a, "40.00").get_json()
    assert act(api, paid["id"], "complete", {"txid": "0xabc"}).status_code == 200
    failed = withdraw(api, a, "20.00").get_json()
    assert act(api, failed["id"], "fail", {"reason": "bounced"}).status_code == 200
    b = api.open_account()
    fund(api, b, "30.00")
    charged = deposit(api, b, "50.00").get_json()
    assert charge_back(api, charged["id"]).status_code == 201
    assert final_withdrawal(api, b, "USD").status_code == 201
    clock.now += timedelta(days=7)
    assert api.post("/v1/jobs/release-holds", {}, Role.OPERATIONS).status_code == 200


def check_proof(proof: dict[str, Any]) -> bytes:
    """The proof verified with the independent RFC 9162 verifier; the leaf."""
    leaf = base64.b64decode(proof["leaf"])
    seal = proof["seal"]
    path = [bytes.fromhex(h) for h in proof["audit_path"]]
    root = bytes.fromhex(seal["root"])
    assert reference_verify(leaf, proof["leaf_index"], seal["entries"], path, root)
    body = {k: seal[k] for k in ("number", "entries", "root", "previous", "sealed_at")}
    assert hashlib.sha256(rfc8785.dumps(body)).hexdigest() == seal["hash"]
    return leaf


def test_every_entry_kind_has_a_proof_that_verifies(api: Api, db: Database, clock: Clock) -> None:
    every_kind(api, clock)
    seal_everything(db)
    kinds = entry_ids(db)
    assert set(kinds.values()) == KINDS
    for entry_id, kind in kinds.items():
        response = api.get(f"/v1/entries/{entry_id}/proof", Role.ACCOUNTANT)
        assert response.status_code == 200, response.get_json()
        proof = response.get_json()
        assert proof["entry_id"] == entry_id
        leaf = json.loads(check_proof(proof))
        assert (leaf["entry_id"], leaf["type"]) == (entry_id, kind)
        # a proof does not verify for another leaf
        other = base64.b64decode(proof["leaf"]).replace(b'"type"', b'"Type"')
        path = [bytes.fromhex(h) for h in proof["audit_path"]]
        assert not reference_verify(
            other,
            proof["leaf_index"],
            proof["seal"]["entries"],
            path,
            bytes.fromhex(proof["seal"]["root"]),
        )
    assert seals.verify_seals(db) == []


def test_leaf_holds_the_journal_csv_values_of_its_entry(
    api: Api, db: Database, clock: Clock
) -> None:
    every_kind(api, clock)
    seal_everything(db)
    export = api.get("/v1/exports/journal.csv", Role.ACCOUNTANT)
    assert export.status_code == 200
    rows = list(csv.DictReader(io.StringIO(export.get_data(as_text=True))))
    by_entry: dict[str, list[dict[str, str]]] = {}
    for row in rows:
        by_entry.setdefault(row["entry_id"], []).append(row)
    assert set(by_entry) == set(entry_ids(db))
    for entry_id, lines in by_entry.items():
        proof = api.get(f"/v1/entries/{entry_id}/proof", Role.ACCOUNTANT).get_json()
        assert "leaf" in proof, proof
        leaf = base64.b64decode(proof["leaf"])
        head = lines[0]
        expected = {
            "entry_id": entry_id,
            "type": head["entry_type"],
            "posted_at": head["posted_at"],
            "reference": head["reference"],
            "postings": [
                {
                    "account": line["account"],
                    "asset": line["asset"],
                    "amount": line["debit"] or f"-{line['credit']}",
                }
                for line in lines
            ],
        }
        assert leaf == rfc8785.dumps(expected)


def test_seals_chain_by_hash_and_are_listed(api: Api, db: Database, clock: Clock) -> None:
    account = api.open_account()
    deposit(api, account, "10.00")
    first = seal_everything(db)
    deposit(api, account, "20.00")
    fund(api, account, "5.00")
    second = seal_everything(db)
    made = first + second
    assert [s.number for s in made] == list(range(1, len(made) + 1))
    listed = api.get("/v1/seals", Role.COMPLIANCE).get_json()
    assert [s["number"] for s in listed["items"]] == [s.number for s in made]
    assert listed["next_after"] == made[-1].number
    previous = None
    for item in listed["items"]:
        assert item["previous"] == previous
        body = {k: item[k] for k in ("number", "entries", "root", "previous", "sealed_at")}
        assert hashlib.sha256(rfc8785.dumps(body)).hexdigest() == item["hash"]
        previous = item["hash"]
    assert sum(s["entries"] for s in listed["items"]) == count(db, journal_entries)
    page = api.get("/v1/seals?after=1&limit=1", Role.OPERATIONS).get_json()
    assert [s["number"] for s in page["items"]] == [2]
    assert api.get(f"/v1/seals?after={len(made)}").get_json() == {
        "items": [],
        "next_after": len(made),
    }
    assert api.get("/v1/seals/latest", Role.ACCOUNTANT).get_json() == listed["items"][-1]
    assert api.get("/v1/seals/1", Role.ACCOUNTANT).get_json() == listed["items"][0]
    missing = api.get("/v1/seals/999", Role.ACCOUNTANT)
    assert (missing.status_code, missing.get_json()["code"]) == (404, "seal_not_found")
    assert api.get("/v1/seals/abc").status_code == 422
    assert api.get("/v1/seals?limit=0").status_code == 422
    assert api.get("/v1/seals", Role.TRADING).status_code == 403
    assert api.get("/v1/seals/latest", Role.PAYMENTS).status_code == 403
    exported = api.get("/v1/exports/seals.csv", Role.ACCOUNTANT)
    assert exported.status_code == 200
    assert exported.mimetype == "text/csv"
    lines = exported.get_data(as_text=True).split("\r\n")
    assert lines[0] == "number,sealed_at,entries,root,previous,hash"
    assert lines[1:-1] == [
        f"{s['number']},{s['sealed_at']},{s['entries']},{s['root']},{s['previous'] or ''},"
        f"{s['hash']}"
        for s in listed["items"]
    ]


def test_no_seal_yet(api: Api, db: Database) -> None:
    latest = api.get("/v1/seals/latest", Role.ACCOUNTANT)
    assert (latest.status_code, latest.get_json()["code"]) == (404, "seal_not_found")
    assert seals.seal(db, datetime.now(UTC)) is None
    assert api.get("/v1/seals").get_json() == {"items": [], "next_after": 0}


def test_entry_not_sealed_then_sealed(api: Api, db: Database) -> None:
    account = api.open_account()
    deposit(api, account, "10.00")
    (entry_id,) = entry_ids(db)
    waiting = api.get(f"/v1/entries/{entry_id}/proof", Role.ACCOUNTANT)
    assert (waiting.status_code, waiting.get_json()["code"]) == (409, "entry_not_sealed")
    unknown = api.get(f"/v1/entries/{uuid.uuid4()}/proof", Role.ACCOUNTANT)
    assert (unknown.status_code, unknown.get_json()["code"]) == (404, "entry_not_found")
    assert api.get("/v1/entries/not-a-uuid/proof").status_code == 422
    assert api.get(f"/v1/entries/{entry_id}/proof", Role.TRADING).status_code == 403
    seal_everything(db)
    sealed = api.get(f"/v1/entries/{entry_id}/proof", Role.ACCOUNTANT)
    assert sealed.status_code == 200
    check_proof(sealed.get_json())


def test_seals_and_membership_are_append_only(api: Api, db: Database) -> None:
    deposit(api, api.open_account(), "10.00")
    seal_everything(db)
    for sql in (
        "UPDATE seals SET root = 'x'",
        "DELETE FROM seals",
        "UPDATE seal_entries SET leaf_index = leaf_index + 1",
        "DELETE FROM seal_entries",
    ):
        with pytest.raises(Exception, match="append-only"), db.write() as tx:
            tx.execute(text(sql))
    assert seals.verify_seals(db) == []


def _deposit(db: Database, account: uuid.UUID, n: int) -> None:
    now = datetime(2026, 11, 20, 20, 0, tzinfo=UTC)
    cmd = DepositCommand(
        account_id=account,
        method=Method.CARD,
        asset="USD",
        amount=Decimal("1.00"),
        external_ref=f"seal-{uuid.uuid4().hex}-{n}",
        settled_at=now,
    )
    with db.write() as tx:
        record_deposit(tx, cmd, settings=Settings(database_url=db.url), now=now)


def _account(db: Database) -> uuid.UUID:
    with db.write() as tx:
        return open_account(
            tx,
            OpenAccount(f"seal-{uuid.uuid4().hex}", "GB", Tier.BASIC),
            client_country="GB",
            blocked=frozenset({"US"}),
            now=datetime(2026, 11, 20, tzinfo=UTC),
        ).id


def test_concurrent_sealers_while_deposits_run_put_every_entry_in_one_seal(db: Database) -> None:
    accounts = [_account(db) for _ in range(3)]
    done = threading.Event()
    errors: list[BaseException] = []

    def depositor(account: uuid.UUID) -> None:
        try:
            for n in range(40):
                _deposit(db, account, n)
        except BaseException as exc:
            errors.append(exc)

    def sealer() -> None:
        try:
            while not done.is_set():
                seals.seal(db, datetime.now(UTC))
        except BaseException as exc:
            errors.append(exc)

    writers = [threading.Thread(target=depositor, args=(a,)) for a in accounts]
    sealers = [threading.Thread(target=sealer) for _ in range(3)]
    for t in writers + sealers:
        t.start()
    for t in writers:
        t.join()
    done.set()
    for t in sealers:
        t.join()
    assert errors == []
    seal_everything(db)
    with db.read() as conn:
        numbers = [r[0] for r in conn.execute(text("SELECT number FROM seals ORDER BY number"))]
        members = conn.execute(
            text("SELECT count(*), count(DISTINCT entry_id) FROM seal_entries")
        ).one()
        per_seal = dict(
            conn.execute(text("SELECT seal_number, count(*) FROM seal_entries GROUP BY 1")).all()
        )
        declared = dict(conn.execute(text("SELECT number, entries FROM seals")).all())
    assert numbers == list(range(1, len(numbers) + 1))
    assert len(numbers) > 1
    assert tuple(members) == (120, 120) == (count(db, journal_entries),) * 2
    assert per_seal == declared
    assert seals.verify_seals(db) == []
