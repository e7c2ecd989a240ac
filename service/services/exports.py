"""The accountant exports (API.md, Exports): journal, trial balance, holds, hold
roll-forward, and the journal as a plain-text journal for hledger / ledger-cli.

Each export is a generator of text chunks that opens its own read transaction
when first advanced and closes it when exhausted or closed. That makes the same
function serve both entry points: the REST layer hands the generator to a
streamed response (the transaction then lives exactly as long as the
download), the command line writes the chunks to a file. Rows are formatted as
they come from the database, a batch at a time, so memory stays flat for
millions of postings; the read transaction is one snapshot
(:func:`~service.db.exports.snapshot`), so a file is internally consistent
even while money keeps moving.

Rules shared by every file:

* CSV per RFC 4180: UTF-8, a header row, CRLF line ends, fields quoted only
  when needed;
* amounts are plain decimals with exactly the asset's scale, formatted from
  integer minor units (:func:`~service.domain.money.format_minor`), never
  through floats;
* signs: **debit positive, credit negative** in the ledger; ``debit`` and
  ``credit`` columns hold magnitudes; customer money is a liability, so a
  customer's balance is credit-negative;
* text that a spreadsheet could run as a formula is prefixed with ``'``
  (:func:`~service.domain.exports.escape_text`);
* times are UTC ISO 8601 with ``Z``;
* periods and as-of views are rebuilt from the journal (postings and their
  entry's ``posted_at``), so later entries never leak into a past view.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import tempfile
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from itertools import islice
from typing import Any

from sqlalchemy import Connection

from service.db import exports as queries
from service.db.database import Database
from service.db.ledger import load_assets
from service.domain.errors import ValidationFailed
from service.domain.exports import (
    Period,
    RollColumn,
    as_of,
    csv_text,
    escape_text,
    iso_from_utc_text,
    ledger_commodity,
    ledger_text,
    period,
    rollforward_column,
    uuid_text,
    zone,
)
from service.domain.holds import lot_status
from service.domain.money import Asset, format_minor
from service.domain.timestamps import format_utc

#: Rows formatted and handed on per chunk (and per progress tick).
CHUNK_ROWS = 2000

JOURNAL_COLUMNS = (
    "entry_id",
    "posted_at",
    "entry_type",
    "reference",
    "account",
    "account_type",
    "asset",
    "debit",
    "credit",
    "memo",
)
TRIAL_BALANCE_COLUMNS = ("account", "account_type", "asset", "debit", "credit", "balance")
HOLDS_COLUMNS = (
    "hold_id",
    "account_id",
    "deposit_id",
    "method",
    "deposit_asset",
    "deposit_amount",
    "lot_asset",
    "lot_amount",
    "status",
    "placed_at",
    "release_at",
    "released_at",
)
ROLLFORWARD_COLUMNS = (
    "asset",
    "opening",
    "placed",
    "released",
    "reversed",
    "traded_in",
    "traded_out",
    "closing",
)

OnRows = Callable[[int], None]
#: An export: text chunks, produced as the caller asks for them (``close()``
#: ends it early and closes its transaction).
Chunks = Generator[str, None, None]


class ExportName(StrEnum):
    JOURNAL = "journal"
    LEDGER_JOURNAL = "ledger-journal"
    TRIAL_BALANCE = "trial-balance"
    HOLDS = "holds"
    HOLD_ROLLFORWARD = "hold-rollforward"


@dataclass(frozen=True, slots=True)
class ExportKind:
    name: ExportName
    filename: str
    media_type: str
    #: True: the export is a view *as of* a time (``as_of``); False: it covers
    #: a period (``from`` / ``to``).
    as_of: bool


KINDS: Mapping[ExportName, ExportKind] = {
    ExportName.JOURNAL: ExportKind(ExportName.JOURNAL, "journal.csv", "text/csv", False),
    ExportName.LEDGER_JOURNAL: ExportKind(
        ExportName.LEDGER_JOURNAL, "journal.ledger", "text/plain", False
    ),
    ExportName.TRIAL_BALANCE: ExportKind(
        ExportName.TRIAL_BALANCE, "trial-balance.csv", "text/csv", True
    ),
    ExportName.HOLDS: ExportKind(ExportName.HOLDS, "holds.csv", "text/csv", True),
    ExportName.HOLD_ROLLFORWARD: ExportKind(
        ExportName.HOLD_ROLLFORWARD, "hold-rollforward.csv", "text/csv", False
    ),
}


def resolve_period(
    name: ExportName,
    *,
    from_text: str | None,
    to_text: str | None,
    as_of_text: str | None,
    tz_name: str,
    now: datetime,
) -> Period:
    """The bounds an export covers, from its arguments (422 on bad input).

    Period exports take ``from`` / ``to``; as-of exports take ``as_of`` (their
    period starts at the beginning of the books). Giving the other kind of
    argument (possible on the command line, which has all three options) is an
    error rather than silently ignored.
    """
    if KINDS[name].as_of:
        if from_text is not None or to_text is not None:
            field = "from" if from_text is not None else "to"
            raise ValidationFailed.field(field, f"the {name.value} export takes as_of, not from/to")
        return as_of(as_of_text, tz_name=tz_name, now=now)
    if as_of_text is not None:
        raise ValidationFailed.field("as_of", f"the {name.value} export takes from/to, not as_of")
    return period(from_text, to_text, tz_name=tz_name, now=now)


def row_count(conn: Connection, name: ExportName, bounds: Period) -> int | None:
    """How many rows the export will give, for a progress bar's total: exact for
    the journals, close for holds (lots counted live); ``None`` for the
    aggregates (trial balance, roll-forward), which are small."""
    if name in (ExportName.JOURNAL, ExportName.LEDGER_JOURNAL):
        return queries.count_postings(conn, bounds)
    if name is ExportName.HOLDS:
        return queries.count_lots(conn, bounds.end)
    return None


def write_file(path: str, chunks: Iterable[str]) -> None:
    """Write an export to ``path`` all or nothing (UTF-8): into a private
    temporary file beside it (mode 0600: the books are confidential), renamed
    over ``path`` only once the export is complete, so a failed export never
    leaves a truncated file that looks like a good one."""
    target = os.path.abspath(path)
    fd, partial = tempfile.mkstemp(prefix=".ledger-export-", dir=os.path.dirname(target))
    try:
        with os.fdopen(fd, "wb") as sink:
            for chunk in chunks:
                sink.write(chunk.encode("utf-8"))
        os.replace(partial, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(partial)
        raise


def stream(
    db: Database,
    name: ExportName,
    bounds: Period,
    *,
    tz_name: str,
    on_rows: OnRows | None = None,
) -> Chunks:
    """The export ``name`` over ``bounds`` as text chunks (see the module docstring)."""
    if name is ExportName.JOURNAL:
        return journal_csv(db, bounds, on_rows=on_rows)
    if name is ExportName.LEDGER_JOURNAL:
        return ledger_journal(db, bounds, tz_name=tz_name, on_rows=on_rows)
    if name is ExportName.TRIAL_BALANCE:
        return trial_balance_csv(db, bounds, on_rows=on_rows)
    if name is ExportName.HOLDS:
        return holds_csv(db, bounds, on_rows=on_rows)
    return hold_rollforward_csv(db, bounds, on_rows=on_rows)


# -- CSV plumbing -----------------------------------------------------------------


class _Csv:
    """RFC 4180 rows rendered into a reusable buffer, a chunk at a time."""

    def __init__(self) -> None:
        self._buffer = io.StringIO()
        self._writer = csv.writer(self._buffer, lineterminator="\r\n")

    def render(self, rows: Iterable[Iterable[str]]) -> str:
        self._writer.writerows(rows)
        text = self._buffer.getvalue()
        self._buffer.seek(0)
        self._buffer.truncate()
        return text


def _chunks(
    header: tuple[str, ...], rows: Iterator[tuple[str, ...]], on_rows: OnRows | None
) -> Iterator[str]:
    out = _Csv()
    yield out.render([header])
    while batch := list(islice(rows, CHUNK_ROWS)):
        yield out.render(batch)
        if on_rows is not None:
            on_rows(len(batch))


def _scales(assets: Mapping[str, Asset]) -> dict[str, int]:
    return {code: asset.scale for code, asset in assets.items()}


class _Escaped(dict[str, str]):
    """``escape_text`` memoized for values that repeat on many rows (account
    names, entry types); bounded so millions of distinct accounts cannot grow it
    without limit."""

    LIMIT = 100_000

    def __missing__(self, key: str) -> str:
        if len(self) >= self.LIMIT:
            self.clear()
        value = self[key] = escape_text(key)
        return value


# -- journal.csv ------------------------------------------------------------------


class _Fields(dict[str, str]):
    """:func:`~service.domain.exports.csv_text` memoized for values repeated on
    many rows (entry types, memos, assets)."""

    LIMIT = 10_000

    def __missing__(self, key: str) -> str:
        if len(self) >= self.LIMIT:
            self.clear()
        value = self[key] = csv_text(key)
        return value


class _Accounts:
    """Ledger account names for the postings streamed, looked up a batch at a time
    (one query for the accounts a batch names that are not known yet) and kept
    in a bounded cache, so millions of distinct accounts cannot grow it
    without limit."""

    LIMIT = 100_000

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self.names: dict[str, tuple[str, str]] = {}

    def load(self, batch: list[tuple[Any, ...]], column: int) -> dict[str, tuple[str, str]]:
        missing = {row[column] for row in batch} - self.names.keys()
        if missing:
            if len(self.names) + len(missing) > self.LIMIT:
                self.names.clear()
                missing = {row[column] for row in batch}
            self.names.update(queries.ledger_account_names(self._conn, missing))
        return self.names


def _journal_lines(
    conn: Connection, batches: Iterator[list[tuple[Any, ...]]], scales: Mapping[str, int]
) -> Iterator[tuple[str, int]]:
    """CSV text per batch of postings, and the batch's row count.

    The hot loop of the exports, written for speed: what belongs to the entry
    (id, time, type, reference, memo) is rendered once per entry and reused for
    each of its postings; account fields come from a memo; each line is one
    f-string. Quoting and formula escaping are exactly those of the other
    files (:func:`~service.domain.exports.csv_text`, ``csv.writer``)."""
    fields = _Fields()
    accounts = _Accounts(conn)
    rendered: dict[str, str] = {}
    last_entry = None
    head = tail = ""
    for batch in batches:
        names = accounts.load(batch, 5)
        if len(rendered) > len(names):
            rendered.clear()
        lines = []
        for (
            entry_id,
            posted_at,
            entry_type,
            reference,
            memo,
            account_id,
            asset,
            amount,
            _hold_id,
        ) in batch:
            if entry_id != last_entry:
                last_entry = entry_id
                head = (
                    f"{uuid_text(entry_id)},{iso_from_utc_text(posted_at)},"
                    f"{fields[entry_type]},{csv_text(reference)},"
                )
                tail = fields[memo]
            account = rendered.get(account_id)
            if account is None:
                name, account_type = names[account_id]
                account = rendered[account_id] = f"{csv_text(name)},{csv_text(account_type)}"
            if amount > 0:
                lines.append(
                    f"{head}{account},{fields[asset]},"
                    f"{format_minor(amount, scales[asset])},,{tail}\r\n"
                )
            else:
                lines.append(
                    f"{head}{account},{fields[asset]},"
                    f",{format_minor(-amount, scales[asset])},{tail}\r\n"
                )
        yield "".join(lines), len(lines)


def journal_csv(db: Database, bounds: Period, *, on_rows: OnRows | None = None) -> Chunks:
    """``journal.csv``: one row per posting of the entries posted in ``bounds``,
    in entry order; ``debit`` or ``credit`` holds the posting's magnitude, the
    other is empty. Per entry and asset, debits equal credits."""
    with db.read() as conn:
        queries.snapshot(conn)
        scales = _scales(load_assets(conn))
        batches = queries.journal_postings(conn, bounds)
        yield ",".join(JOURNAL_COLUMNS) + "\r\n"
        for text, count in _journal_lines(conn, batches, scales):
            yield text
            if on_rows is not None:
                on_rows(count)


# -- trial-balance.csv ------------------------------------------------------------------


def _trial_rows(rows: Iterator[Any], scales: Mapping[str, int]) -> Iterator[tuple[str, ...]]:
    text = _Escaped()
    for account, account_type, asset, debit, credit in rows:
        scale = scales[asset]
        debit, credit = int(debit), int(credit)
        yield (
            text[account],
            text[account_type],
            asset,
            format_minor(debit, scale),
            format_minor(credit, scale),
            format_minor(debit - credit, scale),
        )


def trial_balance_csv(db: Database, bounds: Period, *, on_rows: OnRows | None = None) -> Chunks:
    """``trial-balance.csv``: per ledger account and asset, total debits and
    total credits posted up to the as-of time, and ``balance = debit - credit``
    (signed: debit positive). Per asset the balances sum to zero."""
    with db.read() as conn:
        queries.snapshot(conn)
        scales = _scales(load_assets(conn))
        rows = _trial_rows(queries.trial_balance(conn, bounds.end), scales)
        yield from _chunks(TRIAL_BALANCE_COLUMNS, rows, on_rows)


# -- holds.csv ----------------------------------------------------------------------


def _hold_rows(rows: Iterator[Any], scales: Mapping[str, int]) -> Iterator[tuple[str, ...]]:
    text = _Escaped()
    for (
        hold_id,
        account_id,
        deposit_id,
        method,
        deposit_asset,
        deposit_amount,
        lot_asset,
        lot_amount,
        placed_at,
        release_at,
        released_at,
        reversed_at,
        withdrawn_at,
    ) in rows:
        amount = int(lot_amount)
        status = lot_status(
            amount=amount,
            is_deposit_asset=lot_asset == deposit_asset,
            released_at=released_at,
            reversed_at=reversed_at,
            withdrawn_at=withdrawn_at,
        ).value
        yield (
            str(hold_id),
            str(account_id),
            str(deposit_id),
            text[method],
            deposit_asset,
            format_minor(deposit_amount, scales[deposit_asset]),
            lot_asset,
            format_minor(amount, scales[lot_asset]),
            status,
            format_utc(placed_at),
            format_utc(release_at),
            "" if released_at is None else format_utc(released_at),
        )


def holds_csv(db: Database, bounds: Period, *, on_rows: OnRows | None = None) -> Chunks:
    """``holds.csv``: one row per lot of every hold placed up to the as-of time,
    with the lot's amount and status at that time (rebuilt from the journal).
    ``release_at`` is the hold's current scheduled release (a calendar change
    may have moved it since); ``released_at`` is empty until released."""
    with db.read() as conn:
        queries.snapshot(conn)
        scales = _scales(load_assets(conn))
        rows = _hold_rows(queries.holds_as_of(conn, bounds.end), scales)
        yield from _chunks(HOLDS_COLUMNS, rows, on_rows)


# -- hold-rollforward.csv --------------------------------------------------------------


@dataclass
class RollForward:
    """Movements of the customers' ``Held`` balances in one asset, as positive
    amounts held (minor units): ``opening + placed - released - reversed +
    traded_in - traded_out = closing``."""

    asset: str
    opening: int = 0
    placed: int = 0
    released: int = 0
    reversed: int = 0
    traded_in: int = 0
    traded_out: int = 0

    @property
    def closing(self) -> int:
        return (
            self.opening
            + self.placed
            - self.released
            - self.reversed
            + self.traded_in
            - self.traded_out
        )

    def add(self, column: RollColumn, held_change: int) -> None:
        """Book a change of the held amount (positive: more held) in ``column``;
        outflow columns carry the amount that left, so they add its negation."""
        inflow = column in (RollColumn.PLACED, RollColumn.TRADED_IN)
        value = held_change if inflow else -held_change
        setattr(self, column.value, getattr(self, column.value) + value)


def _roll(movements: list[tuple[str, bool, str, bool, int]]) -> list[RollForward]:
    result: dict[str, RollForward] = {}
    for asset, inside, entry_type, debit, total in movements:
        row = result.setdefault(asset, RollForward(asset))
        held_change = -total
        if not inside:
            row.opening += held_change
        else:
            row.add(rollforward_column(entry_type, decreases_held=debit), held_change)
    return [result[code] for code in sorted(result)]


def hold_rollforward_csv(db: Database, bounds: Period, *, on_rows: OnRows | None = None) -> Chunks:
    """``hold-rollforward.csv``: one row per asset that was ever on hold up to
    the end of the period; amounts are what was held (positive)."""
    with db.read() as conn:
        queries.snapshot(conn)
        scales = _scales(load_assets(conn))
        rolls = _roll(queries.held_movements(conn, bounds))

        def rows() -> Iterator[tuple[str, ...]]:
            for r in rolls:
                scale = scales[r.asset]
                yield (
                    r.asset,
                    *(
                        format_minor(v, scale)
                        for v in (
                            r.opening,
                            r.placed,
                            r.released,
                            r.reversed,
                            r.traded_in,
                            r.traded_out,
                            r.closing,
                        )
                    ),
                )

        yield from _chunks(ROLLFORWARD_COLUMNS, rows(), on_rows)


# -- journal.ledger ------------------------------------------------------------------

_ACCOUNT_WIDTH = 70


class _LedgerText(dict[str, str]):
    """:func:`~service.domain.exports.ledger_text` memoized for repeated values."""

    def __missing__(self, key: str) -> str:
        value = self[key] = ledger_text(key).replace(",", " ")
        return value


def ledger_journal(
    db: Database, bounds: Period, *, tz_name: str, on_rows: OnRows | None = None
) -> Chunks:
    """``journal.ledger``: the entries of ``journal.csv`` as a plain-text journal
    that hledger and ledger-cli read.

    * one transaction per journal entry, dated by the entry's ``posted_at`` in
      the calendar's time zone (so ``hledger -b/-e`` dates match the export's
      ``from``/``to`` dates); status ``*`` (cleared); the entry id as the
      transaction code; the reference as description;
    * tags ``entry_id``, ``entry_type``, ``posted_at`` (exact UTC time) and
      ``memo`` on the transaction, ``hold_id`` on postings to ``Held``;
    * amounts signed (debit positive) with the asset code as commodity; the
      file starts with a ``commodity`` directive per asset (its decimal places)
      and an ``account`` directive per account used, so ``hledger check
      --strict`` passes.
    """
    tz = zone(tz_name)
    with db.read() as conn:
        queries.snapshot(conn)
        assets = load_assets(conn)
        head = [
            "; Withdrawal-hold ledger: journal export",
            f"; entries posted from {format_utc(bounds.start)} (inclusive)"
            f" to {format_utc(bounds.end)} (exclusive), UTC",
            "; signs: debit positive, credit negative; customer money is a liability",
            "",
        ]
        for code in sorted(assets):
            scale = assets[code].scale
            # the decimal mark is always shown, so the tools never guess it ("1000.")
            sample = format_minor(1000 * 10**scale, scale) if scale else "1000."
            commodity = ledger_commodity(code)
            head += [f"commodity {commodity}", f"    format {sample} {commodity}"]
        head.append("")
        yield "\n".join(head) + "\n"
        used = queries.accounts_used(conn, bounds)
        while declared := [f"account {name}\n" for (name,) in islice(used, CHUNK_ROWS)]:
            yield "".join(declared)
        commodities = {code: ledger_commodity(code) for code in assets}
        scales = _scales(assets)
        fields = _LedgerText()
        accounts = _Accounts(conn)
        last_entry = None
        for batch in queries.journal_postings(conn, bounds):
            names = accounts.load(batch, 5)
            out: list[str] = []
            for (
                entry_id,
                posted_at,
                entry_type,
                reference,
                memo,
                account_id,
                asset,
                amount,
                hold_id,
            ) in batch:
                if entry_id != last_entry:
                    last_entry = entry_id
                    at = datetime.fromisoformat(posted_at).replace(tzinfo=UTC)
                    entry = uuid_text(entry_id)
                    out.append(
                        f"\n{at.astimezone(tz).date().isoformat()} * ({entry}) "
                        f"{ledger_text(reference)}"
                    )
                    out.append(
                        f"    ; entry_id:{entry}, entry_type:{fields[entry_type]}, "
                        f"posted_at:{iso_from_utc_text(posted_at)}"
                    )
                    if memo:
                        out.append(f"    ; memo:{ledger_text(memo).replace(',', ' ')}")
                line = (
                    f"    {names[account_id][0]:<{_ACCOUNT_WIDTH}}  "
                    f"{format_minor(amount, scales[asset]):>22} {commodities[asset]}"
                )
                if hold_id is not None:
                    line += f"  ; hold_id:{uuid_text(hold_id)}"
                out.append(line)
            yield "\n".join(out) + "\n"
            if on_rows is not None:
                on_rows(len(batch))
