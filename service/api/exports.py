"""Accountant exports over REST: streamed CSV (and a plain-text journal) downloads.

The accountant role may use them (and admin, like every route). Arguments are
validated before anything is streamed, so bad input is a 422 problem; after
that, the body is produced by :mod:`service.services.exports` while it is being
sent, inside a read transaction the generator opens itself (the request's
context is gone by then). The first chunk is produced before the response
starts, so a database that cannot be reached is still a clean problem
response rather than a truncated download. Exports read from the replica when
``LEDGER_EXPORT_DATABASE_URL`` is set.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, TypeVar, cast

from flask import Response
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import RAISE

from schemas.exports import AsOfArgs, PeriodArgs
from service.api.auth import requires
from service.api.runtime import runtime
from service.domain.roles import Role
from service.services import exports
from service.services.exports import ExportName

blp = Blueprint("exports", __name__, description="Accountant exports (streamed CSV)")

F = TypeVar("F", bound=Callable[..., Any])


def _query(schema: type[Any]) -> Callable[[F], F]:
    """``blp.arguments`` for query strings, typed (flask-smorest has no stubs).

    Unknown parameters are refused (webargs ignores them in query strings by
    default): an export given ``to`` when it takes ``as_of`` must not silently
    return another period's figures."""
    return cast(Callable[[F], F], blp.arguments(schema, location="query", unknown=RAISE))


def _file(content_type: str, filename: str) -> Callable[[F], F]:
    """``blp.response`` for a streamed download, typed (documents the 200 in OpenAPI)."""
    return cast(
        Callable[[F], F],
        blp.response(200, content_type=content_type, description=f"{filename} (streamed download)"),
    )


def _text(args: dict[str, Any], name: str) -> str | None:
    return args.get(name) or None


class _Body:
    """The response body: the export's first chunk, produced now (connecting and
    starting the query, so a database failure is still a clean problem
    response), then the rest while streaming. The WSGI server calls
    :meth:`close` when the download ends, completed or not, which ends the
    export's read transaction at once."""

    def __init__(self, chunks: exports.Chunks) -> None:
        self._chunks = chunks
        self._first = next(chunks, None)

    def __iter__(self) -> Iterator[str]:
        if self._first is not None:
            yield self._first
        yield from self._chunks

    def close(self) -> None:
        self._chunks.close()


def download(name: ExportName, args: dict[str, Any]) -> Response:
    """The export ``name`` for the parsed query ``args``, as a streamed attachment."""
    rt = runtime()
    tz_name = rt.settings.time_zone
    bounds = exports.resolve_period(
        name,
        from_text=_text(args, "from_"),
        to_text=_text(args, "to"),
        as_of_text=_text(args, "as_of"),
        tz_name=tz_name,
        now=rt.now(),
    )
    kind = exports.KINDS[name]
    body = _Body(exports.stream(rt.export_database(), name, bounds, tz_name=tz_name))
    return Response(
        body,
        mimetype=kind.media_type,
        headers={
            "Content-Disposition": f'attachment; filename="{kind.filename}"',
            "Cache-Control": "no-store",
            "X-Accel-Buffering": "no",
        },
    )


_CSV = "text/csv"


@blp.route("/exports/journal.csv")
class JournalCsv(MethodView):
    @requires(Role.ACCOUNTANT)
    @_query(PeriodArgs)
    @_file(_CSV, "journal.csv")
    def get(self, args: dict[str, Any]) -> Response:
        """One row per posting of the entries posted in [from, to], in entry order.

        Columns: entry_id, posted_at, entry_type, reference, account, account_type,
        asset, debit, credit, memo.
        """
        return download(ExportName.JOURNAL, args)


@blp.route("/exports/journal.ledger")
class JournalLedger(MethodView):
    @requires(Role.ACCOUNTANT)
    @_query(PeriodArgs)
    @_file("text/plain", "journal.ledger")
    def get(self, args: dict[str, Any]) -> Response:
        """The same entries as journal.csv as a plain-text journal (hledger, ledger-cli)."""
        return download(ExportName.LEDGER_JOURNAL, args)


@blp.route("/exports/trial-balance.csv")
class TrialBalanceCsv(MethodView):
    @requires(Role.ACCOUNTANT)
    @_query(AsOfArgs)
    @_file(_CSV, "trial-balance.csv")
    def get(self, args: dict[str, Any]) -> Response:
        """Per account and asset: debits and credits to as_of, balance = debit - credit."""
        return download(ExportName.TRIAL_BALANCE, args)


@blp.route("/exports/holds.csv")
class HoldsCsv(MethodView):
    @requires(Role.ACCOUNTANT)
    @_query(AsOfArgs)
    @_file(_CSV, "holds.csv")
    def get(self, args: dict[str, Any]) -> Response:
        """One row per hold lot, amounts and status as of as_of."""
        return download(ExportName.HOLDS, args)


@blp.route("/exports/hold-rollforward.csv")
class HoldRollforwardCsv(MethodView):
    @requires(Role.ACCOUNTANT)
    @_query(PeriodArgs)
    @_file(_CSV, "hold-rollforward.csv")
    def get(self, args: dict[str, Any]) -> Response:
        """Per asset: opening, placed, released, reversed, traded_in, traded_out, closing."""
        return download(ExportName.HOLD_ROLLFORWARD, args)
