"""Use cases: plain values in, domain values out; no Flask, no HTTP, no SQL.

SQL lives in :mod:`service.db` (a repository per concept); the use cases call
it and the domain rules.

Who owns the transaction: the entry point. A REST handler, a ``ledger``
command or the scheduler opens the unit of work — ``with db.write() as tx``
(or ``db.read()`` for a read) — and hands ``tx`` to the use case, which runs
in it and never commits, rolls back or opens another. The commit is the entry
point's, when the block ends; an exception rolls everything back. So a use
case can call another and both are one transaction, and an entry point can
compose several use cases atomically. An idempotent POST uses
:func:`service.services.transaction.run_idempotent` as its unit of work: it
opens the transaction, stores the response in it and gives the use case its
``tx``.

A use case takes a :class:`~service.db.database.Database` instead only when
its work cannot be one transaction, and says why in its docstring:

* :func:`service.services.holds.release_due_holds` — one transaction per
  batch, so a crash loses one batch and locks stay short;
* :func:`service.services.balances.account_balances` and
  :func:`~service.services.balances.release_then` — a read first, and a write
  transaction only when a hold is due (the lazy release);
* :func:`service.services.compliance.guard_jurisdiction` — the flag it sets
  must commit although the request is then refused (its rollback would undo
  it);
* the exports (:mod:`service.services.exports`) — a read snapshot held while
  the file streams, after the handler has returned;
* :class:`service.services.keys.KeyCache` — a lookup per request, outside any
  use case;
* :mod:`service.services.schema_version` — Alembic runs the migrations in a
  transaction of its own;
* the event feed (:func:`service.services.events.read_feed`,
  :func:`~service.services.events.sequence`, :func:`~service.services.events.purge`)
  — numbering committed events is a transaction of its own (its row lock must
  be released at once), and a long poll reads again after each wake-up;
* :class:`service.services.webhook_delivery.Deliverer` — a delivery is never
  sent inside a transaction (it would hold locks and the sequencer's readers
  for up to the 10 s timeout): lease, send, then record, each committed.
"""
