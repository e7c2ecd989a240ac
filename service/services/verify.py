"""``ledger verify``: rebuild every derived figure from the journal and compare.

Checks, each a set-based query (fine for millions of postings):

1. every journal entry has two or more postings, summing to zero per asset;
2. every balance (the sum of its slots) equals the sum of its postings (and no
   postings lack a row), and a customer's balance lives in slot 0 alone;
3. every lot of a hold not yet released equals the sum of the ``Held``
   postings tagged with its hold (negated: postings to a liability are
   credit-negative, lots are positive); every release entry's ``Held`` debit,
   per asset, equals what the lots of the holds naming it held, i.e. their
   tagged postings other than the entry's own; and a hold names as its release
   entry only a ``hold_release`` entry of its own account;
4. every customer's ``Held`` balance per asset equals minus the sum of its lots;
5. per asset, all balances together sum to zero (the trial balance balances);
6. released and reversed lots, and every lot of a released hold, are empty (a reversed
   hold's lots in other assets stay, frozen), and a released hold has no active lot;
7. every posting's entry, ledger account and asset, and every lot's hold, exist
   (the tables declare no foreign keys for these: the postings trigger checks
   them once per statement, see migration 0003);
8. the business records agree with the journal: each deposit, trade,
   withdrawal, chargeback and hold carries the amounts, assets and account of
   the entry that booked it (an ``UPDATE deposits SET amount = amount * 10``
   made behind the service's back shows here), and every entry has the
   business record its type implies (a forged, balanced deposit entry with no
   deposit is found); a withdrawal's status matches its settling entry
   (``completed``: a payout; ``rejected`` or ``failed``: a return; still
   pending or in review: none), so a returned withdrawal cannot be shown as
   paid out.

Returns a list of human-readable problems; empty means the books are sound.

The queries are in :mod:`service.db.integrity`.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Connection

from service.db import integrity

#: How many checks :func:`verify` runs (the progress total of ``ledger verify``).
CHECK_COUNT = len(integrity.CHECKS) + len(integrity.RECONCILIATION)


def verify(conn: Connection, *, on_check: Callable[[], None] | None = None) -> list[str]:
    """Every check (1-8); ``on_check`` is called after each one."""
    return _run(conn, integrity.CHECKS + integrity.RECONCILIATION, on_check)


def verify_journal(conn: Connection) -> list[str]:
    """The journal's own invariants (checks 1-7) alone: for books written
    below the use cases (the posting engine's tests), where no business record
    is expected."""
    return _run(conn, integrity.CHECKS, None)


def _run(
    conn: Connection, checks: list[tuple[str, str]], on_check: Callable[[], None] | None
) -> list[str]:
    problems: list[str] = []
    for message, sql in checks:
        problems.extend(integrity.run_check(conn, message, sql))
        if on_check is not None:
            on_check()
    return problems
