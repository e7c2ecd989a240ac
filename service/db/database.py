"""The database handle: engines, transactions and the dialect-specific rules.

Locking (DESIGN.md section 2): a money movement locks the balance rows it
touches, in a fixed order. On PostgreSQL that is ``SELECT ... FOR UPDATE`` (done
by the posting engine). SQLite silently ignores ``FOR UPDATE``, so a *write*
transaction there starts with ``BEGIN IMMEDIATE``, which takes the database's
single write lock up front: two writers can never both read a balance and then
both spend it. Read transactions start with a plain deferred ``BEGIN`` and, in
WAL mode, never wait for writers.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from psycopg.types.array import ListBinaryDumper
from sqlalchemy import Connection, Engine, create_engine, event, exc
from sqlalchemy.engine import make_url

_WRITE = "ledger_write"

#: A pooled connection back in the pool for less than this long is handed out
#: without a liveness ping; an older one is pinged first (see _ping_when_idle).
PING_AFTER_IDLE_SECONDS = 1.0


def _prepare_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event, not the driver, decide how a transaction starts.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get(_WRITE, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def _ping_when_idle(engine: Engine) -> None:
    """Ping a pooled connection before use only if it sat idle for a while.

    ``pool_pre_ping`` costs a round trip on every checkout, about a tenth of a
    deposit's. A connection that served a request a moment ago is alive unless
    the server went away in that moment (the same bypass window HikariCP uses);
    one that sat idle, when servers restart and firewalls drop connections, is
    pinged and replaced if dead. A server lost inside the window fails the one
    request in flight with 503 ``database_unavailable`` and the pool reconnects.
    """

    @event.listens_for(engine, "checkin")
    def _checked_in(_dbapi_connection: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checked_out(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        idle_since = record.info.pop("idle_since", None)
        if idle_since is None or time.monotonic() - idle_since < PING_AFTER_IDLE_SECONDS:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as error:
            # The pool discards this connection and checks out a fresh one.
            raise exc.DisconnectionError(str(error)) from error


def _binary_arrays(engine: Engine) -> None:
    """Send Python lists as binary arrays.

    Set-based writes pass one array per column (``unnest``), thousands of
    elements each. psycopg's default for a list is the text format, which
    quotes and escapes every string element in Python: about a quarter of the
    CPU of a 1,000-deposit batch. The binary format packs each element as it
    is. A list with no non-null element still goes as text (psycopg cannot tell
    its element type), and every array parameter is cast in SQL anyway.
    """

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.adapters.register_dumper(list, ListBinaryDumper)


def make_engine(url: str, *, pool_size: int = 5) -> Engine:
    """An engine for ``url`` with the settings the ledger relies on."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})
        _prepare_sqlite(engine)
        return engine
    if parsed.get_backend_name() == "postgresql" and parsed.get_driver_name() in ("", "psycopg2"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    engine = create_engine(parsed, pool_size=pool_size, max_overflow=10)
    _ping_when_idle(engine)
    _binary_arrays(engine)
    return engine


class Database:
    """One database: an engine plus the two kinds of transaction the services use."""

    def __init__(self, url: str, *, pool_size: int = 5) -> None:
        self.url = url
        self.engine = make_engine(url, pool_size=pool_size)
        self._write_engine = self.engine.execution_options(**{_WRITE: True})

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @property
    def is_postgres(self) -> bool:
        return self.dialect == "postgresql"

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A transaction that may move money; commits on success, rolls back on error."""
        with self._write_engine.begin() as conn:
            yield conn

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read-only transaction (rolled back at the end: nothing to keep)."""
        with self.engine.connect() as conn, conn.begin() as tx:
            yield conn
            tx.rollback()

    def dispose(self) -> None:
        self.engine.dispose()
