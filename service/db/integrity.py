"""The integrity checks of ``ledger verify`` as SQL: each a set-based query
that lists the rows breaking one invariant (fine for millions of postings).

What each check means is documented in :mod:`service.services.verify`. Raw
SQL on purpose: these queries restate the invariants independently of the
code (and the triggers) that maintain the tables.
"""

from __future__ import annotations

from sqlalchemy import Connection, text
from sqlalchemy.exc import OperationalError

from service.domain.chart import Bucket

#: Rows reported per check at most.
_LIMIT = 20

CHECKS: list[tuple[str, str]] = [
    (
        "entry {0} does not balance in {1}: postings sum to {2}",
        "SELECT entry_id, asset, sum(amount) FROM postings "
        "GROUP BY entry_id, asset HAVING sum(amount) <> 0",
    ),
    (
        "entry {0} has {1} posting(s); an entry needs two or more",
        "SELECT e.id, count(p.line) FROM journal_entries e "
        "LEFT JOIN postings p ON p.entry_id = e.id GROUP BY e.id HAVING count(p.line) < 2",
    ),
    (
        "balance of ledger account {0} in {1} is {2} but its postings sum to {3}",
        "SELECT coalesce(b.ledger_account_id, s.ledger_account_id), coalesce(b.asset, s.asset), "
        "coalesce(b.balance, 0), coalesce(s.total, 0) FROM (SELECT ledger_account_id, asset, "
        "sum(balance) AS balance FROM balances GROUP BY ledger_account_id, asset) b "
        "FULL OUTER JOIN "
        "(SELECT ledger_account_id, asset, sum(amount) AS total FROM postings "
        "GROUP BY ledger_account_id, asset) s "
        "ON s.ledger_account_id = b.ledger_account_id AND s.asset = b.asset "
        "WHERE coalesce(b.balance, 0) <> coalesce(s.total, 0)",
    ),
    (
        "lot of hold {0} in {1} is {2} but its Held postings sum to {3}",
        "SELECT coalesce(l.hold_id, s.hold_id), coalesce(l.asset, s.asset), "
        "coalesce(l.amount, 0), coalesce(s.total, 0) FROM hold_lots l FULL OUTER JOIN "
        "(SELECT hold_id, asset, -sum(amount) AS total FROM postings WHERE hold_id IS NOT NULL "
        "GROUP BY hold_id, asset) s ON s.hold_id = l.hold_id AND s.asset = l.asset "
        "WHERE coalesce(l.amount, 0) <> coalesce(s.total, 0)",
    ),
    (
        "Held balance of account {0} in {1} is {2} but minus its hold lots is {3}",
        "SELECT coalesce(h.account_id, l.account_id), coalesce(h.asset, l.asset), "
        "coalesce(h.balance, 0), coalesce(l.total, 0) FROM "
        "(SELECT b.account_id, b.asset, b.balance FROM balances b "
        " JOIN ledger_accounts a ON a.id = b.ledger_account_id "
        " WHERE a.bucket = :held) h FULL OUTER JOIN "
        "(SELECT account_id, asset, -sum(amount) AS total FROM hold_lots "
        " GROUP BY account_id, asset) l ON l.account_id = h.account_id AND l.asset = h.asset "
        "WHERE coalesce(h.balance, 0) <> coalesce(l.total, 0)",
    ),
    (
        "balance of customer account {0} in {1} has a row in slot {2}; only platform "
        "accounts are spread over slots",
        "SELECT account_id, asset, slot FROM balances WHERE account_id IS NOT NULL AND slot <> 0",
    ),
    (
        "balances in {0} sum to {1}; the books must sum to zero per asset",
        "SELECT asset, sum(balance) FROM balances GROUP BY asset HAVING sum(balance) <> 0",
    ),
    (
        "lot of hold {0} in {1} is {2} with status {3}; released and reversed lots are empty",
        "SELECT hold_id, asset, amount, status FROM hold_lots "
        "WHERE status IN ('released', 'reversed') AND amount <> 0",
    ),
    (
        "hold {0} is released but still has {1} of {2} on hold",
        "SELECT h.id, l.amount, l.asset FROM holds h JOIN hold_lots l ON l.hold_id = h.id "
        "WHERE h.status = 'released' AND l.amount <> 0",
    ),
    (
        "lot of hold {0} in {1} is {2} but the hold is {3}",
        "SELECT h.id, l.asset, l.status, h.status FROM holds h "
        "JOIN hold_lots l ON l.hold_id = h.id WHERE h.status = 'released' AND l.status = 'active'",
    ),
    (
        "posting {1} of entry {0} refers to a {2} that does not exist",
        "SELECT p.entry_id, p.line, 'journal entry' FROM postings p "
        "WHERE NOT EXISTS (SELECT 1 FROM journal_entries e WHERE e.id = p.entry_id) "
        "UNION ALL SELECT p.entry_id, p.line, 'ledger account' FROM postings p "
        "WHERE NOT EXISTS (SELECT 1 FROM ledger_accounts a WHERE a.id = p.ledger_account_id) "
        "UNION ALL SELECT p.entry_id, p.line, 'asset' FROM postings p "
        "WHERE NOT EXISTS (SELECT 1 FROM assets a WHERE a.code = p.asset)",
    ),
    (
        "lot of hold {0} in {1} belongs to no hold",
        "SELECT l.hold_id, l.asset FROM hold_lots l "
        "WHERE NOT EXISTS (SELECT 1 FROM holds h WHERE h.id = l.hold_id)",
    ),
]


def run_check(conn: Connection, message: str, sql: str) -> list[str]:
    """The problems one check finds, as text (at most :data:`_LIMIT`)."""
    try:
        with conn.begin_nested():
            rows = list(conn.execute(text(sql + f" LIMIT {_LIMIT}"), {"held": Bucket.HELD.value}))
    except OperationalError as exc:  # SQLite: a sum beyond 64 bits
        return [f"could not check {message.split(' ', 1)[0]!r} rows: {exc.orig}"]
    return [message.format(*row) for row in rows]
