"""One release entry per account and batch: holds name the entry that released them.

Why: until now every released hold had its own journal entry (id = the hold's
id) with a pair of postings per lot, the ``Held`` one tagged with the hold, and
the postings trigger emptied each lot from its tagged posting. Releasing
10,000 holds wrote 10,000 entries, 20,000 postings and 10,000 lot upserts:
the release job ran at a quarter of the speed of a plain set-based release
(issue 17). Now the job writes one ``hold_release`` entry per customer account
and batch, its postings summing that account's released lots per asset, and
each hold records the entry that released it in ``holds.release_entry_id``.

The guarantees stay the database's:

* a lot still changes only through the books: either its tagged postings
  (``postings_apply``), or, once, the release of its hold. Setting
  ``release_entry_id`` empties the hold's lots and marks them released
  (trigger ``holds_release_lots``), and that same trigger refuses the
  statement unless, per release entry and asset, the entry's ``Held`` debit
  equals what the lots it emptied held; a release entry is never changed or
  moved to another hold once set;
* ``ledger verify`` restates both: a lot of a hold without a release entry
  equals minus its tagged postings, a lot of a released hold is empty, and a
  release entry's ``Held`` debit equals the lots of its holds as their tagged
  postings left them.

Holds released before this revision keep their own entries (id = hold id,
tagged postings); ``release_entry_id`` is filled in for them, so every reader
finds a release the same way.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-01 08:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# -- SQL of this revision, frozen --------------------------------------------------

_BACKFILL = (
    "UPDATE holds SET release_entry_id = id WHERE EXISTS (SELECT 1 FROM journal_entries e "
    "WHERE e.id = holds.id AND e.type = 'hold_release')"
)

_PG_RELEASE_LOTS = r"""
CREATE FUNCTION ledger_release_lots() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    bad record;
BEGIN
    SELECT n.id, o.release_entry_id AS was INTO bad
      FROM new_holds n JOIN old_holds o ON o.id = n.id
     WHERE o.release_entry_id IS NOT NULL
       AND n.release_entry_id IS DISTINCT FROM o.release_entry_id
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'hold % was released by entry %, which cannot change', bad.id, bad.was
            USING ERRCODE = 'restrict_violation';
    END IF;
    -- The lots of the holds given a release entry are read as they were and
    -- emptied (both by the primary key's hold_id prefix, whatever the
    -- statistics: ANY(ARRAY(...)) is an index condition); then, per release
    -- entry and asset, the entry's Held debit must be what they held, and the
    -- entry a hold_release entry of the holds' account. A data-modifying CTE
    -- runs to completion even though no row of it is read.
    WITH released AS MATERIALIZED (
        SELECT n.id, n.account_id, n.release_entry_id
          FROM new_holds n JOIN old_holds o ON o.id = n.id
         WHERE o.release_entry_id IS NULL AND n.release_entry_id IS NOT NULL
    ), was AS MATERIALIZED (
        -- OFFSET 0 keeps the lateral subquery a probe of the primary key per
        -- hold: flattened, the planner may hash or merge the whole table.
        SELECT r.release_entry_id AS entry_id, r.account_id, x.asset, x.amount
          FROM released r
         CROSS JOIN LATERAL (SELECT asset, amount FROM hold_lots x
                              WHERE x.hold_id = r.id OFFSET 0) x
    ), emptied AS (
        UPDATE hold_lots SET amount = 0, status = 'released'
         WHERE hold_id = ANY(ARRAY(SELECT id FROM released))
        RETURNING 1
    ), lots AS (
        SELECT entry_id, account_id, asset, sum(amount) AS total FROM was
         GROUP BY entry_id, account_id, asset
    ), posted AS (
        -- by the postings' primary key (entry_id prefix), whatever the
        -- estimates: OFFSET 0 keeps the account's index out of it
        SELECT e.entry_id, p.asset, p.total
          FROM (SELECT DISTINCT entry_id, account_id FROM lots) e
         CROSS JOIN LATERAL (
             SELECT p.asset, sum(p.amount) AS total
               FROM (SELECT asset, amount, ledger_account_id FROM postings
                      WHERE entry_id = e.entry_id OFFSET 0) p
              WHERE p.ledger_account_id = (SELECT a.id FROM ledger_accounts a
                                            WHERE a.account_id = e.account_id
                                              AND a.bucket = 'Held')
              GROUP BY p.asset) p
    )
    SELECT * INTO bad FROM (
        SELECT coalesce(l.entry_id, p.entry_id) AS entry_id,
               coalesce(l.asset, p.asset) AS asset,
               coalesce(l.total, 0) AS lots, coalesce(p.total, 0) AS posted,
               l.entry_id IS NOT NULL AND (SELECT true FROM journal_entries e
                    WHERE e.id = l.entry_id AND e.type = 'hold_release'
                      AND e.account_id = l.account_id) IS NULL AS stranger
          FROM lots l FULL OUTER JOIN posted p ON p.entry_id = l.entry_id AND p.asset = l.asset
    ) compared
     WHERE compared.lots <> compared.posted OR compared.stranger
     LIMIT 1;
    IF FOUND AND bad.stranger THEN
        RAISE EXCEPTION 'release entry % is not a hold_release entry of the hold''s account',
            bad.entry_id USING ERRCODE = 'foreign_key_violation';
    ELSIF FOUND THEN
        RAISE EXCEPTION
            'release entry % takes % % from Held but the lots it releases held %',
            bad.entry_id, bad.posted, bad.asset, bad.lots USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END $$;
"""

_PG_TRIGGER = (
    "CREATE TRIGGER holds_release_lots AFTER UPDATE ON holds "
    "REFERENCING OLD TABLE AS old_holds NEW TABLE AS new_holds "
    "FOR EACH STATEMENT EXECUTE FUNCTION ledger_release_lots()"
)


def upgrade() -> None:
    # No index: releasing would maintain one more entry per hold, and every
    # reader finds the holds through their account or joins whole tables.
    op.add_column("holds", sa.Column("release_entry_id", sa.Uuid(), nullable=True))
    op.execute(_BACKFILL)
    # The release claims active holds ORDER BY release_at, id: with id in the
    # index, a batch is the index's next 10,000 entries (5 ms at 200,000
    # holds) instead of a scan and sort of every due hold (56 ms, spilling to
    # disk, and growing with the table). Only active holds are in it, so a
    # release adds no entry to it (one index fewer to write per hold), and it
    # stays the size of what is still held.
    op.drop_index("ix_holds_status_release_at", table_name="holds")
    op.create_index(
        "ix_holds_due",
        "holds",
        ["release_at", "id"],
        postgresql_where=sa.text("status = 'active'"),
        sqlite_where=sa.text("status = 'active'"),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_PG_RELEASE_LOTS)
        op.execute(_PG_TRIGGER)
        # A lot is rewritten when its hold is released (and when trades move
        # it). With room left on its page the new version stays there and no
        # index changes (a HOT update: amount and status are in no index):
        # emptying 10,000 lots took 65 ms with full pages, about 20 with room.
        # Pages written from now on keep half their space for it.
        op.execute("ALTER TABLE hold_lots SET (fillfactor = 50)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE hold_lots RESET (fillfactor)")
        op.execute("DROP TRIGGER holds_release_lots ON holds")
        op.execute("DROP FUNCTION ledger_release_lots()")
    op.drop_index("ix_holds_due", table_name="holds")
    op.create_index("ix_holds_status_release_at", "holds", ["status", "release_at"])
    # SQLite 3.35+ drops a column in place; a batch copy of holds would break
    # the triggers that name the table.
    op.drop_column("holds", "release_entry_id")
