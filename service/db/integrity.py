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

#: Per entry, account and asset: what that entry moved on the customer's side
#: (liabilities are credit-negative, so a credit of 10.00 sums to -1000).
_CUSTOMER = (
    "(SELECT p.entry_id, p.account_id, p.asset, sum(p.amount) AS total FROM postings p "
    "WHERE p.account_id IS NOT NULL GROUP BY p.entry_id, p.account_id, p.asset)"
)
#: The same, for the Withdrawing bucket alone (a payout request moves money
#: between the customer's own buckets, so its customer total is zero).
_WITHDRAWING = (
    "(SELECT p.entry_id, p.asset, sum(p.amount) AS total FROM postings p "
    "JOIN ledger_accounts a ON a.id = p.ledger_account_id WHERE a.bucket = :withdrawing "
    "GROUP BY p.entry_id, p.asset)"
)

#: Entry types and the table whose rows name them (``entry_id`` columns).
_RECORD_OF_ENTRY = (
    "SELECT e.id, e.type, 'deposit' FROM journal_entries e WHERE e.type = 'deposit' "
    "AND NOT EXISTS (SELECT 1 FROM deposits d WHERE d.entry_id = e.id) "
    "UNION ALL SELECT e.id, e.type, 'trade' FROM journal_entries e WHERE e.type = 'trade' "
    "AND NOT EXISTS (SELECT 1 FROM trades t WHERE t.entry_id = e.id) "
    "UNION ALL SELECT e.id, e.type, 'chargeback' FROM journal_entries e "
    "WHERE e.type = 'chargeback' "
    "AND NOT EXISTS (SELECT 1 FROM chargebacks c WHERE c.entry_id = e.id) "
    "UNION ALL SELECT e.id, e.type, 'withdrawal' FROM journal_entries e "
    "WHERE e.type = 'withdrawal' "
    "AND NOT EXISTS (SELECT 1 FROM withdrawals w WHERE w.entry_id = e.id) "
    "UNION ALL SELECT e.id, e.type, 'settled withdrawal' FROM journal_entries e "
    "WHERE e.type IN ('withdrawal_payout', 'withdrawal_return') "
    "AND NOT EXISTS (SELECT 1 FROM withdrawals w WHERE w.settle_entry_id = e.id) "
    "UNION ALL SELECT e.id, e.type, 'released hold' FROM journal_entries e "
    "WHERE e.type = 'hold_release' "
    "AND NOT EXISTS (SELECT 1 FROM holds h WHERE h.release_entry_id = e.id "
    "AND h.released_at IS NOT NULL) "
    "UNION ALL SELECT e.id, e.type, 'known type' FROM journal_entries e WHERE e.type NOT IN "
    "('deposit', 'trade', 'chargeback', 'withdrawal', 'withdrawal_payout', "
    "'withdrawal_return', 'hold_release')"
)

RECONCILIATION: list[tuple[str, str]] = [
    (
        "deposit {0} says {1} {2} but its entry {3} credits the customer {4}",
        "SELECT d.id, d.amount, d.asset, d.entry_id, coalesce(-c.total, 0) FROM deposits d "
        "LEFT JOIN journal_entries e ON e.id = d.entry_id AND e.type = 'deposit' "
        f"LEFT JOIN {_CUSTOMER} c ON c.entry_id = e.id AND c.account_id = d.account_id "
        "AND c.asset = d.asset WHERE e.id IS NULL OR c.total IS NULL OR -c.total <> d.amount",
    ),
    (
        "hold {0} says {1} {2} of account {3} but its deposit is {4} {5} of account {6}",
        "SELECT h.id, h.amount, h.asset, h.account_id, d.amount, d.asset, d.account_id "
        "FROM holds h JOIN deposits d ON d.id = h.deposit_id "
        "WHERE h.amount <> d.amount OR h.asset <> d.asset OR h.account_id <> d.account_id",
    ),
    (
        "hold {0} has no deposit",
        "SELECT h.id FROM holds h WHERE NOT EXISTS (SELECT 1 FROM deposits d "
        "WHERE d.id = h.deposit_id)",
    ),
    (
        "lot of hold {0} in {1} belongs to account {2} but the hold to {3}",
        "SELECT l.hold_id, l.asset, l.account_id, h.account_id FROM hold_lots l "
        "JOIN holds h ON h.id = l.hold_id WHERE l.account_id <> h.account_id",
    ),
    (
        "trade {0} says it sold {1} {2} but its entry {3} debits the customer {4}",
        "SELECT t.id, t.sell_amount, t.sell_asset, t.entry_id, coalesce(c.total, 0) FROM trades t "
        "LEFT JOIN journal_entries e ON e.id = t.entry_id AND e.type = 'trade' "
        f"LEFT JOIN {_CUSTOMER} c ON c.entry_id = e.id AND c.account_id = t.account_id "
        "AND c.asset = t.sell_asset "
        "WHERE e.id IS NULL OR c.total IS NULL OR c.total <> t.sell_amount",
    ),
    (
        "trade {0} says it bought {1} {2} less a fee of {3} but its entry {4} credits the "
        "customer {5}",
        "SELECT t.id, t.buy_amount, t.buy_asset, t.fee_amount, t.entry_id, "
        "coalesce(-c.total, 0) FROM trades t "
        f"LEFT JOIN {_CUSTOMER} c ON c.entry_id = t.entry_id AND c.account_id = t.account_id "
        "AND c.asset = t.buy_asset "
        "WHERE c.total IS NULL OR -c.total <> t.buy_amount - t.fee_amount",
    ),
    (
        "withdrawal {0} says {1} {2} but its entry {3} reserves {4}",
        "SELECT w.id, w.amount, w.asset, w.entry_id, coalesce(-r.total, 0) FROM withdrawals w "
        "LEFT JOIN journal_entries e ON e.id = w.entry_id AND e.type = 'withdrawal' "
        f"LEFT JOIN {_WITHDRAWING} r ON r.entry_id = e.id AND r.asset = w.asset "
        "WHERE e.id IS NULL OR r.total IS NULL OR -r.total <> w.amount",
    ),
    (
        "withdrawal {0} says {1} {2} but its settling entry {3} releases {4} from Withdrawing",
        "SELECT w.id, w.amount, w.asset, w.settle_entry_id, coalesce(r.total, 0) "
        "FROM withdrawals w "
        f"LEFT JOIN {_WITHDRAWING} r ON r.entry_id = w.settle_entry_id AND r.asset = w.asset "
        "WHERE w.settle_entry_id IS NOT NULL AND (r.total IS NULL OR r.total <> w.amount)",
    ),
    (
        "withdrawal {0} is {1} but its settling entry is {2}",
        "SELECT w.id, w.status, coalesce(e.type, 'missing') FROM withdrawals w "
        "LEFT JOIN journal_entries e ON e.id = w.settle_entry_id "
        "WHERE CASE w.status WHEN 'completed' THEN 'withdrawal_payout' "
        "WHEN 'rejected' THEN 'withdrawal_return' WHEN 'failed' THEN 'withdrawal_return' "
        "ELSE 'missing' END <> coalesce(e.type, 'missing')",
    ),
    (
        "chargeback {0} says {1} {2} but its entry {3} debits the customer {4}",
        "SELECT b.id, b.amount, b.asset, b.entry_id, coalesce(c.total, 0) FROM chargebacks b "
        "LEFT JOIN journal_entries e ON e.id = b.entry_id AND e.type = 'chargeback' "
        f"LEFT JOIN {_CUSTOMER} c ON c.entry_id = e.id AND c.account_id = b.account_id "
        "AND c.asset = b.asset WHERE e.id IS NULL OR c.total IS NULL OR c.total <> b.amount",
    ),
    (
        "chargeback {0} of deposit {1} says {2} {3} (recovered {4} + receivable {5}) but the "
        "deposit was {6} {7}",
        "SELECT b.id, b.deposit_id, b.amount, b.asset, b.recovered, b.receivable, d.amount, "
        "d.asset FROM chargebacks b JOIN deposits d ON d.id = b.deposit_id "
        "WHERE b.amount <> d.amount OR b.asset <> d.asset OR b.account_id <> d.account_id "
        "OR b.recovered + b.receivable <> b.amount",
    ),
    ("entry {0} of type {1} has no {2} record", _RECORD_OF_ENTRY),
]

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
        "LEFT JOIN holds h ON h.id = coalesce(l.hold_id, s.hold_id) "
        "WHERE h.release_entry_id IS NULL AND coalesce(l.amount, 0) <> coalesce(s.total, 0)",
    ),
    (
        "release entry {0} takes {1} of {2} from Held but the lots of the holds it "
        "released held {3}",
        "SELECT coalesce(p.entry_id, l.entry_id), coalesce(p.total, 0), "
        "coalesce(p.asset, l.asset), coalesce(l.total, 0) FROM "
        "(SELECT p.entry_id, p.asset, sum(p.amount) AS total FROM postings p "
        " JOIN journal_entries e ON e.id = p.entry_id AND e.type = 'hold_release' "
        " JOIN ledger_accounts a ON a.id = p.ledger_account_id AND a.bucket = :held "
        " GROUP BY p.entry_id, p.asset) p FULL OUTER JOIN "
        "(SELECT h.release_entry_id AS entry_id, t.asset, -sum(t.amount) AS total "
        " FROM holds h JOIN postings t ON t.hold_id = h.id AND t.entry_id <> h.release_entry_id "
        " WHERE h.release_entry_id IS NOT NULL GROUP BY h.release_entry_id, t.asset) l "
        "ON l.entry_id = p.entry_id AND l.asset = p.asset "
        "WHERE coalesce(p.total, 0) <> coalesce(l.total, 0)",
    ),
    (
        "hold {0} names release entry {1}, which is not a hold_release entry of its "
        "account {2}, or the hold ({3}) has no release time",
        "SELECT h.id, h.release_entry_id, h.account_id, h.status FROM holds h "
        "LEFT JOIN journal_entries e ON e.id = h.release_entry_id "
        "WHERE h.release_entry_id IS NOT NULL AND (e.id IS NULL OR e.type <> 'hold_release' "
        "OR e.account_id <> h.account_id OR h.released_at IS NULL)",
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


_PARAMS = {"held": Bucket.HELD.value, "withdrawing": Bucket.WITHDRAWING.value}


def run_check(conn: Connection, message: str, sql: str) -> list[str]:
    """The problems one check finds, as text (at most :data:`_LIMIT`)."""
    try:
        with conn.begin_nested():
            rows = list(conn.execute(text(sql + f" LIMIT {_LIMIT}"), _PARAMS))
    except OperationalError as exc:  # SQLite: a sum beyond 64 bits
        return [f"could not check {message.split(' ', 1)[0]!r} rows: {exc.orig}"]
    return [message.format(*row) for row in rows]
