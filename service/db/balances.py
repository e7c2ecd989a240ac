"""A customer's balances as stored: per bucket and asset, read (never written:
balances change only through postings, see :mod:`service.db.ledger`)."""

from __future__ import annotations

import uuid

from sqlalchemy import Connection, select

from service.db.tables import balances, ledger_accounts
from service.domain.chart import Bucket


def customer_buckets(conn: Connection, account_id: uuid.UUID) -> list[tuple[Bucket, str, int]]:
    """(bucket, asset, stored balance) of every balance row of the account; a
    customer's balance lives in slot 0 alone, so a row is the whole balance."""
    query = (
        select(ledger_accounts.c.bucket, balances.c.asset, balances.c.balance)
        .join(ledger_accounts, ledger_accounts.c.id == balances.c.ledger_account_id)
        .where(balances.c.account_id == account_id)
    )
    return [(Bucket(bucket), asset, int(balance)) for bucket, asset, balance in conn.execute(query)]
