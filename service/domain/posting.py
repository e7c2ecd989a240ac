"""Journal entries and postings: the double-entry rules.

An entry records one business event (a deposit, a trade, a release...) as two or
more postings. Each posting moves a signed amount of one asset on one ledger
account: **debit positive, credit negative**. The rule that makes the books
balance is checked here, before anything reaches a database:

* an entry has at least two postings;
* no posting is zero;
* per asset, the postings of an entry sum to exactly zero.

A posting to a customer's ``Held`` bucket names the hold it belongs to
(``hold_id``): the sum of an entry's ``Held`` postings per hold and asset is how
that hold's *lots* change, so lots can always be rebuilt from the journal.

Entries are immutable; a correction is a new entry.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from service.domain.errors import ValidationFailed
from service.domain.money import Amount


class EntryType(StrEnum):
    DEPOSIT = "deposit"
    TRADE = "trade"
    HOLD_RELEASE = "hold_release"
    CHARGEBACK = "chargeback"
    WITHDRAWAL = "withdrawal"
    WITHDRAWAL_RETURN = "withdrawal_return"
    WITHDRAWAL_PAYOUT = "withdrawal_payout"


class UnbalancedEntry(ValidationFailed):
    """An entry that breaks the double-entry rule: a bug in the caller, never input."""

    code = "unbalanced_entry"


@dataclass(frozen=True, slots=True)
class Posting:
    account: str
    amount: Amount
    hold_id: uuid.UUID | None = None


@dataclass(frozen=True, slots=True)
class Entry:
    type: EntryType
    posted_at: datetime
    reference: str
    postings: tuple[Posting, ...]
    memo: str = ""
    account_id: uuid.UUID | None = None
    id: uuid.UUID | None = field(default=None)

    def __post_init__(self) -> None:
        if self.posted_at.tzinfo is None:
            raise UnbalancedEntry.field("posted_at", "must carry a time zone")
        if len(self.postings) < 2:
            raise UnbalancedEntry.field("postings", "an entry needs at least two postings")
        totals: dict[str, Decimal] = defaultdict(Decimal)
        for posting in self.postings:
            if posting.amount.value == 0:
                raise UnbalancedEntry.field("postings", f"zero posting to {posting.account}")
            totals[posting.amount.asset.code] += posting.amount.value
        unbalanced = {code: total for code, total in totals.items() if total != 0}
        if unbalanced:
            raise UnbalancedEntry.field(
                "postings", f"postings do not sum to zero per asset: {unbalanced}"
            )


def merge_postings(postings: list[Posting]) -> tuple[Posting, ...]:
    """Combine postings to the same (account, asset, hold) and drop those netting to zero.

    Posting rules build entries piece by piece (one piece per lot, say); the
    journal should show one line per account and asset.
    """
    merged: dict[tuple[str, str, uuid.UUID | None], Amount] = {}
    for posting in postings:
        key = (posting.account, posting.amount.asset.code, posting.hold_id)
        merged[key] = merged[key] + posting.amount if key in merged else posting.amount
    return tuple(
        Posting(account, amount, hold_id)
        for (account, _, hold_id), amount in merged.items()
        if amount.value != 0
    )
