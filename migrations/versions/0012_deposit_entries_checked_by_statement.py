"""Deposit entries checked at the end of their statement too; the deferred check goes.

Why: 0011 left entries of type ``deposit`` with the deferred per-entry check at
commit (one queued trigger event and one PL/pgSQL call per entry), because
the deposits then inserted their entries and their postings in two
statements. They no longer do: on PostgreSQL a deposit, or a settlement file
of up to 1,000, is one statement (``service.db.deposits.write``), entries and
postings together. So the statement-level count of 0011 proves for deposits
what the deferred call proved, as it already does for every other type.

The guarantee (DESIGN.md section 2) is unchanged: every journal entry has two
or more postings, summing to zero per asset, now proved for every entry the
same way: the zero sum per statement by ``postings_apply``, the count at the
end of the statement that inserts the entry by ``journal_entries_posted``. An
entry inserted alone, whatever its type, is refused at once.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01 03:20:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# -- SQL of this revision, frozen --------------------------------------------------

_PG_CHECK_POSTED = r"""
CREATE OR REPLACE FUNCTION ledger_check_entries_posted() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    bad record;
BEGIN
    -- One index probe (postings' primary key) per new entry, whatever the
    -- statistics say; the zero sum per asset is postings_apply's check.
    SELECT e.id, (SELECT count(*) FROM postings p WHERE p.entry_id = e.id) AS n INTO bad
      FROM new_entries e
     WHERE (SELECT count(*) FROM (SELECT 1 FROM postings p WHERE p.entry_id = e.id LIMIT 2) two) < 2
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION
            'journal entry % must have two or more postings summing to zero per asset (it has %)',
            bad.id, bad.n USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END $$;
"""

#: 0011's forms, to downgrade to.
_PG_CHECK_POSTED_0011 = r"""
CREATE OR REPLACE FUNCTION ledger_check_entries_posted() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    bad record;
BEGIN
    -- One index probe (postings' primary key) per new entry, whatever the
    -- statistics say; the zero sum per asset is postings_apply's check.
    SELECT e.id, (SELECT count(*) FROM postings p WHERE p.entry_id = e.id) AS n INTO bad
      FROM new_entries e
     WHERE e.type <> 'deposit'
       AND (SELECT count(*) FROM (SELECT 1 FROM postings p WHERE p.entry_id = e.id LIMIT 2) two) < 2
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION
            'journal entry % must have two or more postings summing to zero per asset (it has %)',
            bad.id, bad.n USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END $$;
"""

_PG_CHECK_ENTRY_0001 = r"""
CREATE FUNCTION ledger_check_entry() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
    unbalanced boolean;
BEGIN
    SELECT coalesce(sum(c), 0), coalesce(bool_or(s <> 0), false) INTO n, unbalanced
      FROM (SELECT count(*) AS c, sum(amount) AS s FROM postings
             WHERE entry_id = NEW.id GROUP BY asset) per_asset;
    IF n < 2 OR unbalanced THEN
        RAISE EXCEPTION 'journal entry % must have two or more postings summing to zero per asset',
            NEW.id USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END $$;
"""

_PG_DEFERRED_TRIGGER_0011 = (
    "CREATE CONSTRAINT TRIGGER journal_entries_balanced AFTER INSERT ON journal_entries "
    "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN (NEW.type = 'deposit') "
    "EXECUTE FUNCTION ledger_check_entry()"
)


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return  # SQLite has neither check; ``ledger verify`` is what finds such an entry
    op.execute("DROP TRIGGER journal_entries_balanced ON journal_entries")
    op.execute("DROP FUNCTION ledger_check_entry()")
    op.execute(_PG_CHECK_POSTED)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(_PG_CHECK_POSTED_0011)
    op.execute(_PG_CHECK_ENTRY_0001)
    op.execute(_PG_DEFERRED_TRIGGER_0011)
