"""The pure domain model: money, the chart of accounts, postings, calendars and holds.

Nothing in this package imports Flask, SQLAlchemy or does I/O, so every rule of the
ledger can be unit-tested in microseconds.
"""
