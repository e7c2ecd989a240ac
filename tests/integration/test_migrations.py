"""Migrations: each revision installs its own frozen SQL (a downgrade reads the
earlier revision's constants through Alembic, never a shared module), and every
step downgrades back to exactly the schema it started from (both databases)."""

from __future__ import annotations

import ast
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, text
from sqlalchemy.engine import make_url

from service.db.database import Database
from service.services import schema_version
from tests.conftest import _admin, _pg_url

VERSIONS = schema_version.MIGRATIONS / "versions"

#: What a revision file may import: nothing of this project, so editing one
#: revision (or a shared module) can never change what another one installs.
_ALLOWED_IMPORTS = {"__future__", "collections.abc", "typing", "uuid", "sqlalchemy", "alembic"}


def test_revisions_import_nothing_of_the_project() -> None:
    for path in sorted(VERSIONS.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                assert node.module in _ALLOWED_IMPORTS, f"{path.name} imports {node.module}"
            elif isinstance(node, ast.Import):
                names = {alias.name for alias in node.names}
                assert names <= _ALLOWED_IMPORTS, f"{path.name} imports {names}"
    assert not (schema_version.MIGRATIONS / "ledger_sql.py").exists()


def _schema(conn: Connection) -> list[tuple[str, ...]]:
    """Tables, columns, constraints, indexes, triggers and functions, as text."""
    if conn.dialect.name == "sqlite":
        return _sqlite_schema(conn)
    queries = [
        "SELECT table_name, column_name, data_type, is_nullable, coalesce(column_default, '') "
        "FROM information_schema.columns WHERE table_schema = 'public' "
        "ORDER BY table_name, column_name",
        "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE connamespace = 'public'::regnamespace ORDER BY 1, 2",
        "SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' "
        "ORDER BY 1, 2",
        "SELECT tgrelid::regclass::text, tgname, pg_get_triggerdef(oid) FROM pg_trigger "
        "WHERE NOT tgisinternal ORDER BY 1, 2",
        "SELECT proname, pg_get_functiondef(oid) FROM pg_proc "
        "WHERE pronamespace = 'public'::regnamespace ORDER BY 1",
    ]
    return [tuple(row) for query in queries for row in conn.execute(text(query))]


def _sqlite_schema(conn: Connection) -> list[tuple[str, ...]]:
    """Described through PRAGMAs: a batch migration rebuilds a table and may write
    its ``CREATE TABLE`` with other quoting or constraint order."""
    rows: list[tuple[str, ...]] = []
    objects = conn.execute(text("SELECT type, name, sql FROM sqlite_master ORDER BY type, name"))
    for kind, name, sql in objects.all():
        if kind == "trigger" or (kind == "index" and sql is not None):
            rows.append((kind, name, " ".join(sql.split())))
        elif kind == "table":
            # Ordinal columns (a foreign key's id, an index's seq) follow the rebuild.
            for pragma, skip in (("table_info", 0), ("foreign_key_list", 2), ("index_list", 1)):
                found = conn.execute(text(f"SELECT * FROM pragma_{pragma}('{name}')"))
                described = sorted(repr(tuple(r)[skip:]) for r in found)
                if pragma == "index_list":  # automatic index names depend on the rebuild
                    described = sorted(d for d in described if "sqlite_autoindex" not in d)
                rows.append((kind, name, pragma, *described))
    return rows


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def empty_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """A database with nothing in it, of its own (migrations are taken down here)."""
    if request.param == "sqlite":
        db = Database(f"sqlite:///{tmp_path / 'empty.db'}")
        yield db
        db.dispose()
        return
    request.getfixturevalue("_pg_database")  # skips when PostgreSQL is not reachable
    url = make_url(_pg_url()).set(database=f"ledger_test_migrations_{os.getpid()}")
    admin = _admin(url.render_as_string(hide_password=False))
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{url.database}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{url.database}"'))
    db = Database(url.render_as_string(hide_password=False))
    yield db
    db.dispose()
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{url.database}" WITH (FORCE)'))
    admin.dispose()


def _migrate(db: Database, step: str, revision: str) -> list[tuple[str, ...]]:
    config = schema_version.alembic_config()
    with db.engine.begin() as conn:
        config.attributes["connection"] = conn
        getattr(command, step)(config, revision)
    with db.engine.connect() as conn:
        return _schema(conn)


def test_each_revision_downgrades_to_the_schema_it_started_from(empty_db: Database) -> None:
    script = ScriptDirectory.from_config(schema_version.alembic_config())
    revisions = [r.revision for r in reversed(list(script.walk_revisions()))]
    after = {rev: _migrate(empty_db, "upgrade", rev) for rev in revisions}
    assert any("ledger_lock_balances" in " ".join(row) for row in after[revisions[-1]]) or (
        empty_db.engine.dialect.name == "sqlite"
    )
    for below, rev in zip(reversed(revisions[:-1]), reversed(revisions[1:]), strict=True):
        assert _migrate(empty_db, "downgrade", below) == after[below], f"downgrade of {rev}"
    assert _migrate(empty_db, "upgrade", "head") == after[revisions[-1]]


def test_0014_links_holds_released_before_it_to_their_own_entries(empty_db: Database) -> None:
    """Holds released before 0014 have their own entry (id = hold id, the Held
    posting tagged with the hold); 0014 names it as their release entry, so
    ``verify``, history and ``holds.csv`` find it as they find the new ones."""
    from service.services.balances import account_transactions
    from service.services.verify import verify
    from tests.integration.test_release import make_held_deposits

    _migrate(empty_db, "upgrade", "0013")
    [account] = make_held_deposits(empty_db, 1, accounts_count=1)
    db = empty_db
    pg = db.engine.dialect.name == "postgresql"
    with db.engine.begin() as conn:
        hold_id, amount = conn.execute(text("SELECT id, amount FROM holds")).one()
        held, available = (
            conn.execute(
                text("SELECT id FROM ledger_accounts WHERE account_id = :a AND bucket = :b"),
                {"a": account if pg else account.hex, "b": bucket},
            ).scalar_one()
            for bucket in ("Held", "Available")
        )
        params = {
            "h": hold_id,
            "a": account if pg else account.hex,
            "held": held,
            "available": available,
            "amount": amount,
        }
        conn.execute(
            text(
                "UPDATE holds SET status = 'released', released_at = '2026-11-25 20:00:00' "
                "WHERE id = :h"
            ),
            params,
        )
        entry = (
            "INSERT INTO journal_entries (id, type, posted_at, reference, memo, account_id) "
            "VALUES (:h, 'hold_release', '2026-11-25 20:00:00', 'hold:old', "
            "'Temporary Hold released', :a)"
        )
        legs = (
            "INSERT INTO postings (entry_id, line, ledger_account_id, asset, amount, "
            "account_id, hold_id) VALUES (:h, 1, :held, 'USD', :amount, :a, :h), "
            "(:h, 2, :available, 'USD', -:amount, :a, NULL)"
        )
        if pg:  # the entry and its postings in one statement, as 0011 checks
            conn.execute(text(f"WITH e AS ({entry} RETURNING 1) {legs}"), params)
        else:
            conn.execute(text(entry), params)
            conn.execute(text(legs), params)
    _migrate(db, "upgrade", "head")
    with db.engine.connect() as conn:
        linked = conn.execute(text("SELECT release_entry_id FROM holds")).scalar_one()
        assert str(linked).replace("-", "") == str(hold_id).replace("-", "")
        assert verify(conn) == []
        page = account_transactions(conn, account, limit=10, cursor=None)
    [release] = [item for item in page.items if item.type == "hold_release"]
    holds_listed = release.details["holds"]
    assert [str(h["hold_id"]) for h in holds_listed] == [str(release.id)]
