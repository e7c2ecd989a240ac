"""Journal entries checked at the end of their statement, not one by one at commit.

Why: ``journal_entries_balanced`` (0001) is a deferred constraint trigger FOR
EACH ROW: every entry queues an event, and at COMMIT a PL/pgSQL call per entry
counts and sums its postings. A release batch of 10,000 holds paid 10,000 such
calls (110 ms, an eighth of the batch) for a guarantee the statement already
proves.

The guarantee (DESIGN.md section 2) is unchanged: every journal entry has two
or more postings, summing to zero per asset. It is now proved in two parts:

* the zero sum, per statement, by ``postings_apply`` (0001/0003/0005, not
  changed here): every statement that inserts postings balances per entry and
  asset, and postings can never be updated or deleted, so whatever statements
  an entry's postings come in, they sum to zero per asset;
* the count, by ``journal_entries_posted``, a statement-level trigger over the
  new entries' transition table: at the end of the statement that inserts an
  entry, the entry must already have two postings or more. AFTER STATEMENT
  triggers run when the whole statement is done, data-modifying CTEs
  included, so a writer that inserts an entry with its postings in one
  statement (``service.db.ledger.post`` and the release job do) passes; an
  entry inserted alone is refused at once.

One writer inserts entries and postings in two statements of one transaction:
the deposits (``service.db.deposits``: the entries with the deposit rows, the
postings with the holds). Entries of type ``deposit`` keep the deferred check
at commit, and only they (the WHEN clause of the constraint trigger); every
other type is checked at the end of its statement. A deposit entry can thus
never escape a check, nor can an entry of any other type.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30 23:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# -- SQL of this revision, frozen --------------------------------------------------

_PG_CHECK_POSTED = r"""
CREATE FUNCTION ledger_check_entries_posted() RETURNS trigger LANGUAGE plpgsql AS $$
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

_PG_TRIGGERS_NEW = [
    "CREATE TRIGGER journal_entries_posted AFTER INSERT ON journal_entries "
    "REFERENCING NEW TABLE AS new_entries "
    "FOR EACH STATEMENT EXECUTE FUNCTION ledger_check_entries_posted()",
    "CREATE CONSTRAINT TRIGGER journal_entries_balanced AFTER INSERT ON journal_entries "
    "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN (NEW.type = 'deposit') "
    "EXECUTE FUNCTION ledger_check_entry()",
]

#: 0001's form, to downgrade to.
_PG_TRIGGER_OLD = (
    "CREATE CONSTRAINT TRIGGER journal_entries_balanced AFTER INSERT ON journal_entries "
    "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ledger_check_entry()"
)


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return  # SQLite has neither check; ``ledger verify`` is what finds such an entry
    op.execute("DROP TRIGGER journal_entries_balanced ON journal_entries")
    op.execute(_PG_CHECK_POSTED)
    for sql in _PG_TRIGGERS_NEW:
        op.execute(sql)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER journal_entries_balanced ON journal_entries")
    op.execute("DROP TRIGGER journal_entries_posted ON journal_entries")
    op.execute("DROP FUNCTION ledger_check_entries_posted()")
    op.execute(_PG_TRIGGER_OLD)
