"""The ``ledger`` command: migrations, keys, serving, verification, jobs.

Reads the same ``LEDGER_*`` configuration as the server. Expected failures print
a one-line message on stderr and exit non-zero; they never show a traceback.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime

import click
from sqlalchemy.exc import SQLAlchemyError

from service import progress
from service.config import Settings
from service.db.database import Database
from service.domain.errors import LedgerError, ValidationFailed
from service.domain.exports import parse_moment, release_as_of, zone
from service.domain.roles import Role
from service.domain.timestamps import format_utc
from service.services import holds, keys
from service.services.exports import ExportName
from service.services.verify import CHECK_COUNT, verify


def _db() -> Database:
    return Database(Settings.from_env().database_url)


@click.group()
def main() -> None:
    """Withdrawal-hold ledger: operate the service from the command line."""


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Apply migrations (creates the SQLite file if needed)."""
    # Imported here: Alembic is a tenth of a second of every other command's
    # start, and the release job is a command an operator's scheduler starts.
    from service.services import schema_version

    database = _db()
    schema_version.upgrade(database)
    click.echo(f"database at {schema_version.head_revision()}", err=True)


@main.group(name="keys")
def keys_group() -> None:
    """API keys."""


@keys_group.command("create")
@click.option("--role", required=True, type=click.Choice([r.value for r in Role]))
@click.option("--name", default=None, help="A unique name, shown in the audit log.")
def keys_create(role: str, name: str | None) -> None:
    """Create an API key and print it alone on stdout (it is shown only once)."""
    try:
        with _db().write() as tx:
            key = keys.create_key(tx, Role(role), name, datetime.now(UTC))
    except LedgerError as exc:
        raise click.ClickException(exc.detail) from exc
    click.echo(key)


@keys_group.command("list")
def keys_list() -> None:
    """Name, role, created, last used and revoked of every key (never the key)."""
    rows = [("NAME", "ROLE", "CREATED", "LAST USED", "REVOKED")]
    with _db().read() as conn:
        listed = keys.list_keys(conn)
    for key in listed:
        rows.append(
            (
                key.name,
                key.role.value,
                format_utc(key.created_at),
                format_utc(key.last_used_at) if key.last_used_at else "-",
                format_utc(key.revoked_at) if key.revoked_at else "-",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        click.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))


@keys_group.command("revoke")
@click.argument("name")
def keys_revoke(name: str) -> None:
    """Revoke the key NAME: every server refuses it (401) within seconds."""
    try:
        with _db().write() as tx:
            keys.revoke_key(tx, name, datetime.now(UTC))
    except LedgerError as exc:
        raise click.ClickException(exc.detail) from exc
    click.echo(f"revoked {name}", err=True)


@keys_group.command("bootstrap")
def keys_bootstrap() -> None:
    """Create the first admin key and print it, unless an admin key exists already."""
    database = _db()
    with database.write() as tx:
        if keys.admin_key_exists(tx):
            click.echo(
                "an admin API key exists; create more with: ledger keys create --role ROLE",
                err=True,
            )
            return
        key = keys.create_key(tx, Role.ADMIN, "bootstrap-admin", datetime.now(UTC))
    click.echo("Admin API key (shown once, keep it safe):", err=True)
    click.echo(key)


_PROGRESS = click.option(
    "--progress/--no-progress",
    "show_progress",
    default=None,
    help="A progress bar on stderr [default: when stderr is a terminal].",
)


@main.command("verify")
@_PROGRESS
@click.option(
    "--seal",
    "pinned",
    default=None,
    metavar="NUMBER:HASH",
    help="Also check that seal NUMBER has this hash (a seal kept outside the database).",
)
def verify_command(pinned: str | None, show_progress: bool | None) -> None:
    """Recompute balances from postings and check every invariant, and recompute
    every seal from the journal and the chain of seal hashes (exit 1 on a mismatch)."""
    from service.services import seals

    expected = None
    if pinned is not None:
        try:
            expected = seals.parse_pinned(pinned)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--seal") from exc
    database = _db()
    enabled = progress.wanted(show_progress)
    with (
        progress.bar("checks", total=CHECK_COUNT, enabled=enabled) as bar,
        database.read() as conn,
    ):
        problems = verify(conn, on_check=lambda: bar.update(1))
    with progress.bar("sealed entries", total=None, enabled=enabled) as bar:
        problems += seals.verify_seals(database, pinned=expected, on_entries=bar.update)
    if problems:
        click.echo(json.dumps({"ok": False, "problems": problems}, indent=2))
        sys.exit(1)
    click.echo(json.dumps({"ok": True, "problems": []}))


@main.command("seal")
def seal_command() -> None:
    """Seal every journal entry committed since the last seal; print the new seal
    as JSON ({"sealed": 0} when there is nothing new)."""
    from service.services import seals

    try:
        with progress.bar("entries sealed", total=None, enabled=progress.wanted(None)) as bar:
            made = seals.seal(_db(), datetime.now(UTC), on_entries=bar.update)
    except SQLAlchemyError as exc:
        raise click.ClickException(f"seal failed: {type(exc).__name__}: {exc}") from exc
    click.echo(json.dumps(seals.seal_dict(made)))


@main.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 64))
@click.option(
    "--threads",
    default=None,
    type=click.IntRange(1, 256),
    help="Threads per worker [default: LEDGER_SERVER_THREADS, 64]; 1 = sync workers.",
)
@click.option("--access-log", is_flag=True, help="Log every request on stdout.")
def serve(host: str, port: int, workers: int, threads: int | None, access_log: bool) -> None:
    """Run the production server (gunicorn, gthread workers: long polls wait on a
    thread each, deposits are served by the others).

    Metrics of all workers are shared through PROMETHEUS_MULTIPROC_DIR (a fresh
    temporary directory per start, removed at exit, unless it is set).
    """
    from service.server import run, shared_metrics

    threads = threads or Settings.from_env().server_threads
    with shared_metrics(sys.argv[1:]):
        run(host=host, port=port, workers=workers, threads=threads, access_log=access_log)


def _parse_as_of(value: str | None, tz_name: str) -> datetime:
    """``--as-of`` as the exports take it: a date (the end of that day in the
    calendar's time zone) or a date-time with an offset."""
    if value is None:
        return datetime.now(UTC)
    try:
        return release_as_of(parse_moment(value, "as_of"), zone(tz_name))
    except ValidationFailed as exc:
        raise click.BadParameter(exc.detail, param_hint="--as-of") from exc


@main.command("release-holds")
@click.option(
    "--as-of",
    "as_of",
    default=None,
    help="Release holds due at this ISO 8601 time (with offset) or by the end of this date "
    "(calendar time zone); default now. A future time is refused unless --dry-run.",
)
@click.option(
    "--batch-size",
    default=None,
    type=click.IntRange(1, 100_000),
    help="Holds per transaction [default: LEDGER_RELEASE_BATCH_SIZE, 5000].",
)
@click.option("--dry-run", is_flag=True, help="Report what would be released; change nothing.")
@_PROGRESS
def release_holds(
    as_of: str | None, batch_size: int | None, dry_run: bool, show_progress: bool | None
) -> None:
    """Release every hold due at --as-of; idempotent and safe to run concurrently.

    Prints a JSON summary on stdout; a progress bar on stderr (see --progress).
    """
    settings = Settings.from_env()
    when = _parse_as_of(as_of, settings.time_zone)
    database = _db()
    enabled = progress.wanted(show_progress) and not dry_run
    try:
        total = None
        if enabled:
            with database.read() as conn:
                total = holds.count_due(conn, when)
        with progress.bar("holds", total=total, enabled=enabled) as bar:
            summary = holds.release_due_holds(
                database,
                as_of=when,
                now=datetime.now(UTC),
                dry_run=dry_run,
                allow_future=settings.allow_future_as_of,
                batch_size=batch_size or settings.release_batch_size,
                on_batch=bar.update,
            )
    except ValidationFailed as exc:
        raise click.BadParameter(exc.detail, param_hint="--as-of") from exc
    except SQLAlchemyError as exc:
        raise click.ClickException(f"release failed: {type(exc).__name__}: {exc}") from exc
    click.echo(json.dumps(summary.as_dict()))


@main.command("scheduler")
@click.option(
    "--interval",
    default=60.0,
    show_default=True,
    type=click.FloatRange(0.1, 86400),
    help="Seconds between release runs.",
)
@click.option(
    "--batch-size",
    default=None,
    type=click.IntRange(1, 100_000),
    help="Holds per transaction [default: LEDGER_RELEASE_BATCH_SIZE, 5000].",
)
@click.option(
    "--metrics-port",
    default=None,
    type=click.IntRange(1, 65535),
    help="Serve Prometheus metrics of this process on 127.0.0.1:PORT.",
)
def scheduler_command(interval: float, batch_size: int | None, metrics_port: int | None) -> None:
    """Run the release job every --interval seconds, and seal the journal every
    LEDGER_SEAL_INTERVAL_S seconds (default 60), until SIGTERM or SIGINT; also
    delivers webhooks and purges events past their retention."""
    from service.scheduler import Scheduler

    if metrics_port is not None:
        from prometheus_client import start_http_server

        start_http_server(metrics_port, addr="127.0.0.1")
    settings = Settings.from_env()
    Scheduler(
        _db(),
        interval=interval,
        batch_size=batch_size or settings.release_batch_size,
        retention_days=settings.idempotency_retention_days,
        seal_interval=settings.seal_interval_s,
        event_retention_days=settings.event_retention_days,
        webhook_max_attempts=settings.webhook_max_attempts,
        webhook_lease_seconds=settings.webhook_lease_seconds,
    ).run()


@main.group(name="webhooks")
def webhooks_group() -> None:
    """Webhook delivery."""


@webhooks_group.command("deliver")
@click.option(
    "--once", is_flag=True, help="Send what is due for the events numbered at start, then exit."
)
@click.option(
    "--interval",
    default=1.0,
    show_default=True,
    type=click.FloatRange(0.05, 3600),
    help="Without --once: seconds between looks when nothing is due.",
)
def webhooks_deliver(once: bool, interval: float) -> None:
    """Send due webhook deliveries: in order per endpoint, at least once. Without
    --once, runs until SIGTERM or SIGINT. Prints a JSON summary with --once."""
    from service.services.webhook_delivery import Deliverer

    settings = Settings.from_env()
    deliverer = Deliverer(
        _db(),
        max_attempts=settings.webhook_max_attempts,
        lease_seconds=settings.webhook_lease_seconds,
    )
    if once:
        try:
            summary = deliverer.run_once()
        except SQLAlchemyError as exc:
            raise click.ClickException(f"delivery failed: {type(exc).__name__}: {exc}") from exc
        click.echo(json.dumps(summary.as_dict()))
        return
    from service.scheduler import run_until_stopped

    run_until_stopped("webhook deliverer", interval, deliverer.run_once)


@main.command("export")
@click.argument(
    "name",
    metavar="NAME",
    type=click.Choice([name.value for name in ExportName]),
)
@click.option(
    "--from",
    "from_",
    default=None,
    help="Period start: ISO date (calendar time zone) or date-time with offset.",
)
@click.option("--to", default=None, help="Period end, inclusive (date or date-time).")
@click.option(
    "--as-of",
    "as_of",
    default=None,
    help="For trial-balance and holds: the state at this date or date-time.",
)
@click.option(
    "-o",
    "--output",
    default="-",
    show_default=True,
    type=click.Path(dir_okay=False, allow_dash=True),
    help="File to write; - for stdout.",
)
@_PROGRESS
def export_command(
    name: str,
    from_: str | None,
    to: str | None,
    as_of: str | None,
    output: str,
    show_progress: bool | None,
) -> None:
    """Write an accountant export: journal | ledger-journal | trial-balance | holds |
    hold-rollforward (the same bytes as the REST export), progress on stderr."""
    from service.services import exports

    settings = Settings.from_env()
    kind = exports.ExportName(name)
    try:
        bounds = exports.resolve_period(
            kind,
            from_text=from_,
            to_text=to,
            as_of_text=as_of,
            tz_name=settings.time_zone,
            now=datetime.now(UTC),
        )
    except LedgerError as exc:
        raise click.UsageError(exc.detail) from exc
    database = Database(settings.export_database_url or settings.database_url)
    enabled = progress.wanted(show_progress)
    try:
        total = None
        if enabled:
            with database.read() as conn:
                total = exports.row_count(conn, kind, bounds)
        with progress.bar("rows", total=total, enabled=enabled) as bar:
            chunks = exports.stream(
                database, kind, bounds, tz_name=settings.time_zone, on_rows=bar.update
            )
            if output == "-":
                with click.open_file("-", "wb") as sink:
                    for chunk in chunks:
                        sink.write(chunk.encode("utf-8"))
            else:
                exports.write_file(output, chunks)
    except SQLAlchemyError as exc:
        raise click.ClickException(f"export failed: {type(exc).__name__}: {exc}") from exc
    finally:
        database.dispose()


if __name__ == "__main__":  # ``ledger serve`` starts itself again this way
    main(prog_name="ledger")
