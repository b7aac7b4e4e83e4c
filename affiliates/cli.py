"""The `affiliates` console script: a Flask CLI group with the contract's commands."""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
import shutil
import sys
from decimal import Decimal
from typing import Any, cast

import click
from flask import Flask, current_app
from flask.cli import FlaskGroup, with_appcontext
from sqlalchemy import select
from sqlalchemy.engine import make_url

from affiliates.database import normalise_url
from affiliates.exceptions import DomainError


def _create_app() -> Flask:
    from affiliates import create_app

    return create_app()


def main() -> None:
    """Entry point of the `affiliates` console script."""
    cli = FlaskGroup(create_app=_create_app, add_default_commands=True, load_dotenv=False,
                     help="affiliates: affiliate and referral tracking.")  # fmt: skip
    cli.main(prog_name="affiliates")


def register(app: Flask) -> None:
    """Attach the commands to the app's CLI."""
    app.cli.add_command(db_group)
    app.cli.add_command(payouts_group)
    for command in (
        demo,
        create_admin,
        create_api_key,
        serve,
        approve_due,
        import_orders,
        recalculate,
        rollup,
    ):
        app.cli.add_command(command)


@click.group("db")
def db_group() -> None:
    """Database migrations."""


@db_group.command("upgrade")
@click.argument("revision", default="head")
@with_appcontext
def db_upgrade(revision: str) -> None:
    """Apply Alembic migrations to DATABASE_URL."""
    from affiliates import migrate

    migrate.upgrade(current_app.config["DATABASE_URL"], revision)
    click.echo(f"Database is at {revision}.")


@db_group.command("downgrade")
@click.argument("revision")
@with_appcontext
def db_downgrade(revision: str) -> None:
    """Revert Alembic migrations down to REVISION."""
    from affiliates import migrate

    migrate.downgrade(current_app.config["DATABASE_URL"], revision)
    click.echo(f"Database is at {revision}.")


@db_group.command("check")
@with_appcontext
def db_check() -> None:
    """Fail when the models and the migrated database disagree."""
    from affiliates import migrate
    from affiliates.extensions import db

    drift = migrate.schema_drift(db.engine)  # type: ignore[arg-type]
    if drift:
        for diff in drift:
            click.echo(f"drift: {diff}", err=True)
        raise SystemExit(1)
    click.echo("Models and migrations agree.")


@click.command("demo")
@with_appcontext
def demo() -> None:
    """Load the demo program (idempotent) and print its logins and API key."""
    from affiliates import demo as demo_module
    from affiliates.extensions import db

    summary = demo_module.load(db.session, current_app.config["BASE_URL"])
    for line in summary:
        click.echo(line)


@click.command("create-admin")
@click.argument("email")
@click.option("--password", required=True, help="At least 8 characters.")
@click.option(
    "--role",
    type=click.Choice(["admin", "analyst"]),
    default=None,
    help="admin changes anything, analyst only reads (default: admin; kept on a reset).",
)
@with_appcontext
def create_admin(email: str, password: str, role: str | None) -> None:
    """Create a staff login (or reset its password, and its role when given)."""
    from affiliates.exceptions import Conflict, Invalid
    from affiliates.extensions import db
    from affiliates.models.accounts import Role
    from affiliates.services import accounts

    try:
        user, created = accounts.save_staff(
            db.session, email, password, Role(role) if role else None
        )
    except Invalid as exc:
        hint = "--password" if exc.errors[0]["field"] == "password" else "EMAIL"
        raise click.BadParameter(exc.detail, param_hint=hint) from None
    except Conflict as exc:
        raise click.ClickException(exc.detail) from None
    click.echo(f"{'Created' if created else 'Updated'} {user.role} {user.email}.")


@click.command("create-api-key")
@click.option("--scope", type=click.Choice(["admin", "conversions"]), required=True)
@click.option("--name", default="", help="A label to recognise the key by.")
@click.option("--signed", is_flag=True, help="Require signed postbacks; prints the signing secret.")
@with_appcontext
def create_api_key(scope: str, name: str, signed: bool) -> None:
    """Create an API key; prints it alone on the last line (only its hash is stored)."""
    import secrets

    from affiliates.extensions import db
    from affiliates.services import api_keys

    secret = secrets.token_hex(32) if signed else None
    try:
        key = api_keys.issue(db.session, scope, name=name, signing_secret=secret)
    except DomainError as exc:
        raise click.ClickException(exc.detail) from None
    if secret:
        click.echo(f"Signing secret (HMAC-SHA256 of 't.METHOD.path.body'): {secret}")
    click.echo(f"Created a {scope} key{f' ({name})' if name else ''}; it is shown once:")
    click.echo(key)


@click.command("approve-due")
@with_appcontext
def approve_due() -> None:
    """Approve pending conversions past their hold (flagged ones wait for staff)."""
    from affiliates.extensions import db
    from affiliates.services import conversions

    count = conversions.approve_due(db.session, current_app.extensions["clock"]())
    click.echo(f"Approved {count} conversion{'s' if count != 1 else ''}.")


@click.command("rollup")
@with_appcontext
def rollup() -> None:
    """Count every click not yet in the stats rollups (idempotent; one server at a time)."""
    from affiliates.extensions import db
    from affiliates.services import rollups

    run = rollups.roll_up(db.session, current_app.extensions["clock"]())
    click.echo(f"Rolled up {_plural(run.rolled_up, 'click')}.")
    if run.skipped:
        click.echo("Another aggregator holds the lock: it rolls up the rest.")


@click.command("import-orders")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--offer", "offer_id", type=int, required=True, help="The offer's id.")
@click.option("--chunk-size", default=5000, show_default=True, type=click.IntRange(1, 100_000))
@with_appcontext
def import_orders(path: str, offer_id: int, chunk_size: int) -> None:
    """Import offline sales from CSV through the same attribution as the API.

    Columns (a header row, any order): order_id and amount; optionally type, currency,
    promo_code, customer_id, customer_email, click_id, occurred_at and refund_id.

    A row of type "refund" refunds the sale with its order_id: its amount, or what remains
    when the amount is empty. It must carry a refund_id (your own reference for the
    refund), so importing the same file again refunds nothing more; its other columns
    are not read. Amounts are never negative.
    """
    from affiliates.extensions import db
    from affiliates.services import imports

    try:
        report = imports.import_orders(
            db.session,
            path,
            offer_id,
            secret=current_app.config["IP_HASH_KEY"],
            now=current_app.extensions["clock"](),
            chunk_size=chunk_size,
        )
    except DomainError as exc:
        raise click.ClickException(exc.detail) from None
    for line, message in report.errors:
        click.echo(f"line {line}: {message}", err=True)
    for line, message in report.warnings:
        click.echo(f"line {line}: warning: {message}", err=True)
    refunds = ""
    if report.refunded or report.refunds_repeated:
        refunds = f" Refunds: {report.refunded} applied, {report.refunds_repeated} already applied."
    click.echo(
        f"{report.created} imported, {report.repeated} already known, "
        f"{len(report.errors)} rejected (of {report.rows} rows).{refunds}"
    )


def _moment(text: str, option: str) -> dt.datetime | dt.date:
    """A date (a whole day) or an ISO 8601 timestamp, read as the API reads `from`/`to`."""
    from pydantic import TypeAdapter, ValidationError

    from affiliates.validation import Moment

    try:
        moment: dt.datetime | dt.date = TypeAdapter(Moment).validate_python(text)
    except ValidationError:
        raise click.BadParameter("Expected a date (YYYY-MM-DD) or an ISO 8601 timestamp.",
                                 param_hint=option) from None  # fmt: skip
    return moment


@click.command("recalculate")
@click.option("--offer", "offer_id", type=click.IntRange(1), required=True, help="The offer's id.")
@click.option("--from", "start", required=True, help="A date or a timestamp (inclusive).")
@click.option("--to", "end", required=True, help="A timestamp (exclusive) or a date (inclusive).")
@click.option("--apply", is_flag=True, help="Store the changes (without it: a dry run).")
@with_appcontext
def recalculate(offer_id: int, start: str, end: str, apply: bool) -> None:
    """Recalculate an offer's pending conversions in a period under the current rules."""
    from affiliates.extensions import db
    from affiliates.models import Offer
    from affiliates.services import replay
    from affiliates.services.stats import period

    bounds = period(_moment(start, "--from"), _moment(end, "--to"))
    # both options are required, so neither bound is None
    first, last = cast(dt.datetime, bounds[0]), cast(dt.datetime, bounds[1])
    offer = db.session.get(Offer, offer_id)
    currency = offer.currency if offer is not None else ""
    try:
        result = replay.recalculate(
            db.session,
            offer_id,
            first,
            last,
            actor="cli:recalculate",
            dry_run=not apply,
            now=current_app.extensions["clock"](),
        )
    except DomainError as exc:
        raise click.ClickException(exc.detail) from None
    count = len(result.changed)
    noun = "conversion" if count == 1 else "conversions"
    span = f"offer {offer_id}, {first.isoformat()} to {last.isoformat()}"
    if result.dry_run:
        click.echo(f"Dry run: {count} pending {noun} would change ({span}); nothing written. "
                   "Run again with --apply to store the changes.")  # fmt: skip
    else:
        click.echo(f"Recalculated {count} pending {noun} ({span}).")
    for change in result.changed:
        amount, rule_id, version = change.before
        click.echo(
            f"conversion {change.id} (partner {change.partner_id}): "
            f"{amount} {currency} ({_rule_name(rule_id, version)}) -> "
            f"{change.after.amount} {currency} "
            f"({_rule_name(change.after.rule_id, change.after.rule_version)})"
        )


def _rule_name(rule_id: int | None, version: int | None) -> str:
    return "no rule" if rule_id is None else f"rule {rule_id} v{version}"


# Payouts ---------------------------------------------------------------------------------

PAYOUT_STATUSES = click.Choice(["pending", "paid", "failed"])
# the audit trail's name for whoever runs these commands
CLI_ACTOR = "cli"


def _valid(kind: Any, value: str, option: str) -> Any:
    """`value` read as the API reads the same field, or a usage error naming `option`."""
    from pydantic import TypeAdapter, ValidationError

    if "\x00" in value:
        raise click.BadParameter("Text may not contain NUL.", param_hint=option)
    try:
        return TypeAdapter(kind).validate_python(value)
    except ValidationError as exc:
        message = exc.errors()[0]["msg"].removeprefix("Value error, ")
        raise click.BadParameter(message, param_hint=option) from None


def _payout_id(value: int) -> int:
    from affiliates.validation import MAX_ID

    if not 1 <= value <= MAX_ID:
        raise click.ClickException(f"Payout {value} does not exist.")
    return value


def _method(payout: Any) -> str:
    """How a payout is sent, numbers masked: "card **** 4242"."""
    from affiliates.services import payouts

    shown = payouts.masked_details(payout)
    if shown is None:
        return "(no payout details recorded)"
    number = next((v for k, v in shown.items() if k.endswith("_masked")), "")
    return f"{shown['method']} {number}".strip()


def _sums(amounts: list[tuple[Decimal, str]]) -> str:
    totals: dict[str, Decimal] = {}
    for amount, currency in amounts:
        totals[currency] = totals.get(currency, Decimal("0.00")) + amount
    return " + ".join(f"{total:.2f} {code}" for code, total in sorted(totals.items())) or "0.00"


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


@click.group("payouts")
def payouts_group() -> None:
    """Pay partners: run payouts, list them, export the bank registry, record the outcome."""


@payouts_group.command("run")
@click.option("--currency", default=None, help="Only this currency (ISO 4217), e.g. RUB.")
@click.option("--min-amount", default=None, metavar="AMOUNT",
              help="The threshold, e.g. 1000.00 (default: PAYOUT_MIN_AMOUNT).")  # fmt: skip
@with_appcontext
def payouts_run(currency: str | None, min_amount: str | None) -> None:
    """One payout per partner and currency whose unpaid balance reaches the threshold."""
    from affiliates.extensions import db
    from affiliates.models import Partner
    from affiliates.services import payouts
    from affiliates.validation import Currency, PositiveMoneyIn

    code = None if currency is None else _valid(Currency, currency, "--currency")
    threshold = (current_app.config["PAYOUT_MIN_AMOUNT"] if min_amount is None
                 else _valid(PositiveMoneyIn, min_amount, "--min-amount"))  # fmt: skip
    result = payouts.run(db.session, code, threshold, CLI_ACTOR,
                         current_app.extensions["clock"]())  # fmt: skip
    ids = {m.payout.partner_id for m in result.made} | {s.partner_id for s in result.skipped}
    names = dict(
        db.session.execute(select(Partner.id, Partner.name).where(Partner.id.in_(ids))).all()
    )
    for made in result.made:
        payout = made.payout
        click.echo(f"Payout {payout.id}: partner {payout.partner_id} "
                   f"({names.get(payout.partner_id, '?')}), {payout.amount:.2f} "
                   f"{payout.currency}, {_plural(made.conversion_count, 'conversion')}, "
                   f"to {_method(payout)}")  # fmt: skip
    for skipped in result.skipped:
        click.echo(f"Skipped partner {skipped.partner_id} "
                   f"({names.get(skipped.partner_id, '?')}): {skipped.amount:.2f} "
                   f"{skipped.currency} waits, {skipped.reason.replace('_', ' ')}")  # fmt: skip
    paid = [(m.payout.amount, m.payout.currency) for m in result.made]
    waiting = [(s.amount, s.currency) for s in result.skipped]
    line = f"Total: {_plural(len(paid), 'payout')}, {_sums(paid)}"
    if waiting:
        line += f"; {_plural(len(waiting), 'partner')} skipped, {_sums(waiting)} waiting"
    click.echo(line + ".")


@payouts_group.command("list")
@click.option("--status", type=PAYOUT_STATUSES, default=None, help="Only payouts in this status.")
@with_appcontext
def payouts_list(status: str | None) -> None:
    """Payouts, newest first."""
    from affiliates.extensions import db
    from affiliates.models import Partner, Payout

    stmt = select(Payout, Partner.name).join(Partner, Partner.id == Payout.partner_id)
    if status is not None:
        stmt = stmt.where(Payout.status == status)
    rows = db.session.execute(stmt.order_by(Payout.id.desc())).all()
    for payout, name in rows:
        line = (f"{payout.id:>6}  {payout.status:<7}  {payout.amount:>12.2f} {payout.currency}  "
                f"{payout.created_at:%Y-%m-%d %H:%M}Z  partner {payout.partner_id} ({name})  "
                f"to {_method(payout)}")  # fmt: skip
        if payout.reference:
            line += f"  reference {payout.reference}"
        if payout.reason:
            line += f"  reason {payout.reason}"
        click.echo(line)
    click.echo(f"{_plural(len(rows), 'payout')}.")


@payouts_group.command("export")
@click.option("--status", type=PAYOUT_STATUSES, default="pending", show_default=True)
@click.option("--output", type=click.Path(dir_okay=False), default=None,
              help="Write the CSV to this file (default: standard output).")  # fmt: skip
@with_appcontext
def payouts_export(status: str, output: str | None) -> None:
    """The bank registry as CSV, the same as GET /api/v1/payouts/export.csv."""
    from affiliates.extensions import db
    from affiliates.services import payouts

    text = payouts.registry_csv(db.session, status)
    if output is None:
        click.echo(text, nl=False)
        return
    try:
        with open(output, "w", encoding="utf-8", newline="") as file:
            file.write(text)
    except OSError as exc:
        raise click.ClickException(f"Cannot write {output}: {exc.strerror}.") from None
    rows = sum(1 for _ in csv.reader(io.StringIO(text))) - 1  # a cell may hold a newline
    click.echo(f"Wrote {_plural(rows, status + ' payout')} to {output}.", err=True)


@payouts_group.command("mark-paid")
@click.argument("payout_id", metavar="ID", type=int)
@click.option("--reference", required=True, help="The bank's reference of the transfer.")
@with_appcontext
def payouts_mark_paid(payout_id: int, reference: str) -> None:
    """The bank has paid it: a pending payout becomes paid, with the bank's reference."""
    from affiliates.extensions import db
    from affiliates.services import payouts
    from affiliates.validation import Reference

    text = _valid(Reference, reference, "--reference")
    try:
        payout = payouts.mark_paid(db.session, _payout_id(payout_id), text, CLI_ACTOR,
                                   current_app.extensions["clock"]())  # fmt: skip
    except DomainError as exc:
        raise click.ClickException(exc.detail) from None
    click.echo(f"Payout {payout.id} is paid: {payout.amount:.2f} {payout.currency}, "
               f"reference {payout.reference}.")  # fmt: skip


@payouts_group.command("mark-failed")
@click.argument("payout_id", metavar="ID", type=int)
@click.option("--reason", required=True, help="Why the transfer failed.")
@with_appcontext
def payouts_mark_failed(payout_id: int, reason: str) -> None:
    """The transfer failed: a pending payout becomes failed and its amount returns to the
    partner's unpaid balance."""
    from affiliates.extensions import db
    from affiliates.services import payouts
    from affiliates.validation import Reference

    text = _valid(Reference, reason, "--reason")
    try:
        payout = payouts.mark_failed(db.session, _payout_id(payout_id), text, CLI_ACTOR)
    except DomainError as exc:
        raise click.ClickException(exc.detail) from None
    click.echo(f"Payout {payout.id} failed ({payout.reason}); {payout.amount:.2f} "
               f"{payout.currency} is back in partner {payout.partner_id}'s balance.")  # fmt: skip


def default_workers(database_url: str, cpus: int | None = None) -> int:
    """Sync workers for this machine and database.

    On SQLite a request never waits on a network: it is all CPU, and every write passes one
    lock. Workers beyond the cores only preempt each other, and a writer preempted while it
    holds the lock stalls the rest (a spare worker on 2 cores cost the intake 5-8% in
    bench/conversions.py); so one per core, and at least two, so that a killed worker leaves
    one serving. On PostgreSQL requests wait on round trips, so two per core and one keep the
    cores busy.
    """
    cores = cpus or os.cpu_count() or 1
    if make_url(normalise_url(database_url)).get_backend_name() == "sqlite":
        return max(2, cores)
    return cores * 2 + 1


def gunicorn_argv(host: str, port: int, workers: int, worker_class: str, threads: int) -> list[str]:
    """The gunicorn command line `serve` runs."""
    gunicorn = shutil.which("gunicorn", path=os.path.dirname(sys.executable)) or "gunicorn"
    argv = [
        gunicorn,
        "--bind", f"{host}:{port}",
        "--workers", str(workers),
        "--worker-class", worker_class,
        "--backlog", "2048",
        "--graceful-timeout", "20",
        "--forwarded-allow-ips", "127.0.0.1",
        # the arbiter runs the click aggregator in the background (affiliates/background.py)
        "--config", "python:affiliates.gunicorn_hooks",
    ]  # fmt: skip
    if os.environ.get("AFFILIATES_ACCESS_LOG"):
        # without it gunicorn keeps no access log at all, rather than format one for nothing
        argv += ["--access-logfile", "-"]
    if worker_class == "gthread":
        argv += ["--threads", str(threads)]
    return [*argv, "affiliates.wsgi:app"]


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--workers", default=None, type=click.IntRange(1, 256),
              help="Worker processes (default: 1 per CPU and at least 2 on SQLite, 2 per CPU "
                   "+ 1 on PostgreSQL).")  # fmt: skip
@click.option("--worker-class", default="sync", type=click.Choice(["sync", "gthread"]),
              show_default=True)  # fmt: skip
@click.option("--threads", default=4, show_default=True, type=click.IntRange(1, 64))
def serve(host: str, port: int, workers: int | None, worker_class: str, threads: int) -> None:
    """Run the production server (gunicorn)."""
    count = workers or default_workers(current_app.config["DATABASE_URL"])
    argv = gunicorn_argv(host, port, count, worker_class, threads)
    click.echo(f"Serving on http://{host}:{port} with {count} {worker_class} workers.")
    sys.stdout.flush()
    os.execv(argv[0], argv)  # noqa: S606 - replace this process with gunicorn
