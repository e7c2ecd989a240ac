"""The ceiling: the least a double-entry HTTP endpoint on this stack can do.

``POST /transfer`` inserts one journal entry and two postings and updates two
balance rows, in one transaction, with SQLAlchemy Core under gunicorn — no
validation, no auth, no idempotency. ``GET /ping`` touches no database. Served
with exactly the gunicorn settings of ``ledger serve``, it is the yardstick every
HTTP figure of the service is divided by.

Run as a WSGI app: ``gunicorn bench.ceiling_app:app`` with CEILING_DATABASE_URL.
"""

from __future__ import annotations

import os
import random
import uuid
from datetime import UTC, datetime

from flask import Flask, Response
from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    Uuid,
    create_engine,
    insert,
    update,
)

metadata = MetaData()
entries = Table(
    "ceiling_entries",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("posted_at", DateTime(timezone=True), nullable=False),
)
postings = Table(
    "ceiling_postings",
    metadata,
    Column("entry_id", Uuid, primary_key=True),
    Column("line", Integer, primary_key=True),
    Column("account", String(64)),
    Column("amount", BigInteger),
)
balances = Table(
    "ceiling_balances",
    metadata,
    Column("account", String(64), primary_key=True),
    Column("balance", BigInteger, nullable=False),
)
ACCOUNTS = [f"acct-{i}" for i in range(1000)]


def setup(url: str) -> None:
    engine = create_engine(url)
    metadata.drop_all(engine)
    metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(insert(balances), [{"account": a, "balance": 0} for a in ACCOUNTS])
    engine.dispose()


def make_app() -> Flask:
    app = Flask("ceiling")
    engine = create_engine(os.environ["CEILING_DATABASE_URL"], pool_size=5)

    @app.get("/healthz")
    def health() -> Response:
        return Response("ok")

    @app.get("/ping")
    def ping() -> Response:
        return Response('{"ok": true}', mimetype="application/json")

    @app.post("/transfer")
    def transfer() -> Response:
        source, target = sorted(random.sample(ACCOUNTS, 2))
        entry_id = uuid.uuid4()
        with engine.begin() as conn:
            conn.execute(insert(entries).values(id=entry_id, posted_at=datetime.now(UTC)))
            conn.execute(
                insert(postings).values(
                    [
                        {"entry_id": entry_id, "line": 1, "account": source, "amount": -1000},
                        {"entry_id": entry_id, "line": 2, "account": target, "amount": 1000},
                    ]
                )
            )
            for account, amount in ((source, -1000), (target, 1000)):
                conn.execute(
                    update(balances)
                    .where(balances.c.account == account)
                    .values(balance=balances.c.balance + amount)
                )
        return Response(f'{{"id": "{entry_id}"}}', status=201, mimetype="application/json")

    return app


app = make_app() if "CEILING_DATABASE_URL" in os.environ else None
