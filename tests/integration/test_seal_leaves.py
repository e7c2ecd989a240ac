"""The sealer's leaves equal the leaves written in Python, for any text, on both databases.

On PostgreSQL the sealer has the server write each entry's postings
(``service.db.seals._grouped_leaf_rows``: ``to_json`` for names and asset
codes, a numeric for the amount); proofs and ``ledger verify`` rebuild every
leaf in Python. These entries carry what either side could get wrong: names
with quotes, backslashes, control characters and characters outside ASCII,
assets of 0, 2 and 8 decimals, negative and sub-unit amounts, times with and
without microseconds. Each entry's proof must verify against the root the
sealer made, and its leaf must be the RFC 8785 JSON written here by hand.
"""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime
from decimal import Decimal

import rfc8785
from sqlalchemy import insert

from service.db import ledger
from service.db.database import Database
from service.db.ledger import BalanceKey
from service.db.tables import assets, ledger_accounts
from service.domain.chart import ledger_account_id
from service.domain.money import Amount, Asset
from service.domain.posting import Entry, EntryType, Posting
from service.domain.roles import Role
from service.services import seals
from tests.api.test_seals import check_proof, seal_everything
from tests.conftest import Api

ODD_NAMES = [
    'Quote "double" and \\backslash\\',
    "Control \n\t\r\x01\x1f\x7f end",
    "Accents éü, mark ✓, emoji \U0001f600, separator \u2028",
    "'=spreadsheet guard",
]
WHOLE = Asset("ZZZ", 0)
USD = Asset("USD", 2)
BTC = Asset("BTC", 8)
TIMES = [
    datetime(2026, 11, 20, 20, 0, tzinfo=UTC),
    datetime(2026, 11, 20, 20, 0, 1, 120000, tzinfo=UTC),
    datetime(2026, 11, 21, 3, 4, 5, 6, tzinfo=UTC),
]
REFERENCES = ['ref "quoted" \\ back', "ctl \x03x\x02\n", "ünïcödé ✓ \U0001f600", ""]


def _odd_accounts(db: Database, owner: uuid.UUID) -> list[str]:
    """Ledger accounts named ``ODD_NAMES``, attached to the customer ``owner``
    (so the test database forgets them with the customer)."""
    with db.write() as tx:
        tx.execute(insert(assets), [{"code": WHOLE.code, "scale": WHOLE.scale}])
        tx.execute(
            insert(ledger_accounts),
            [
                {
                    "id": ledger_account_id(name),
                    "name": name,
                    "type": "liability",
                    "account_id": owner,
                    "bucket": f"odd{i}",
                }
                for i, name in enumerate(ODD_NAMES)
            ],
        )
    return ODD_NAMES


def _post(db: Database, kind: EntryType, at: datetime, reference: str, moves: list[Posting]) -> str:
    entry = Entry(type=kind, posted_at=at, reference=reference, postings=tuple(moves))
    with db.write() as tx:
        ledger.lock_balances(tx, {BalanceKey(p.account, p.amount.asset.code) for p in moves})
        return str(ledger.post(tx, entry))


def _minor(units: int, asset: Asset) -> Amount:
    return Amount(Decimal(units).scaleb(-asset.scale), asset)


def test_sealed_leaves_of_odd_names_amounts_and_times_verify(api: Api, db: Database) -> None:
    names = _odd_accounts(db, uuid.UUID(api.open_account()))
    expected: dict[str, dict[str, object]] = {}
    # (minor units, asset): sub-unit amounts, a large one, each scale
    amounts = [(3, USD), (12_345_678, USD), (3, BTC), (21, WHOLE)]
    for i, (at, reference) in enumerate(zip(TIMES * 3, REFERENCES * 3, strict=False)):
        units, asset = amounts[i % len(amounts)]
        debit, credit = names[i % len(names)], names[(i + 1) % len(names)]
        third = names[(i + 2) % len(names)]
        moves = [
            Posting(debit, _minor(units, asset)),
            Posting(credit, _minor(-(units // 2), asset)),
            Posting(third, _minor(units // 2 - units, asset)),
        ]
        kind = list(EntryType)[i % len(EntryType)]
        entry_id = _post(db, kind, at, reference, moves)
        expected[entry_id] = {
            "entry_id": entry_id,
            "type": kind.value,
            "posted_at": at.isoformat().replace("+00:00", "Z"),
            "reference": reference,
            "postings": [
                {
                    "account": p.account,
                    "asset": p.amount.asset.code,
                    "amount": format(p.amount.value, "f"),
                }
                for p in moves
            ],
        }
    seal_everything(db)
    for entry_id, leaf_object in expected.items():
        proof = api.get(f"/v1/entries/{entry_id}/proof", Role.ACCOUNTANT).get_json()
        leaf = check_proof(proof)
        assert leaf == base64.b64decode(proof["leaf"])
        assert leaf == rfc8785.dumps(leaf_object), (json.loads(leaf), leaf_object)
    assert seals.verify_seals(db) == []
