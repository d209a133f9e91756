"""`flask connect ...`: operations commands (cron-ready) and staff accounts."""

import signal

import click
from blinker import ANY, NamedSignal
from flask import current_app
from flask.cli import with_appcontext

from connect import metrics
from connect.accounts.models import User
from connect.accounts.services import register_user
from connect.areas import signals as area_signals
from connect.areas.services import grant_area, import_areas
from connect.demo import seed_demo_data
from connect.errors import ConnectError
from connect.extensions import db
from connect.jobs import schedule
from connect.matching.leases import remind_due
from connect.notifications import signals as notification_signals
from connect.offers.services import expire_offers
from connect.outbox.worker import Worker, drain
from connect.requests import signals as request_signals
from connect.requests.timeouts import expire_all
from connect.safety.purge import purge_personal_data
from connect.scheduler.engine import Scheduler
from connect.sms import signals as sms_signals
from connect.validation import normalise_phone


@click.group("connect")
def connect_cli():
    """connect operations."""


@connect_cli.command("expire")
@with_appcontext
def expire_command():
    """Release lapsed claim leases, expire stale requests and past offers, and remind
    claimants whose lease ends soon (run from cron)."""
    result = expire_all()
    reminded = remind_due()
    offers = expire_offers()
    db.session.commit()
    click.echo(
        f"leases lapsed: {result['leases_lapsed']}, "
        f"requests expired: {result['requests_expired']}, reminders sent: {reminded}, "
        f"offers expired: {offers}"
    )


@connect_cli.command("worker")
@click.option("--once", is_flag=True, help="Run every due event, then exit.")
@with_appcontext
def worker_command(once):
    """Run the outbox: notifications and other work that changes cause (a long-running
    process; stops cleanly on SIGTERM)."""
    if once:
        result = drain()
        click.echo(
            f"events done: {len(result.done)}, retried: {len(result.retried)}, "
            f"failed: {len(result.failed)}"
        )
        return
    worker = Worker(current_app._get_current_object())
    _stop_on_signals(worker.stop)
    metrics.serve_process_metrics(current_app.config["WORKER_METRICS_PORT"])
    click.echo("outbox worker running", err=True)
    worker.run()


@connect_cli.command("scheduler")
@click.option("--once", is_flag=True, help="Run every due job, then exit.")
@with_appcontext
def scheduler_command(once):
    """Run expire, lease reminders, purge and clean-ups on their schedules, each occurrence
    once however many schedulers run (a long-running process; stops cleanly on SIGTERM)."""
    app = current_app._get_current_object()
    scheduler = Scheduler(app, schedule(app.config))
    if once:
        for run in scheduler.run_due():
            click.echo(f"{run.job}: {'ok' if run.ok else 'failed'}: {run.summary}")
        return
    _stop_on_signals(scheduler.stop)
    metrics.serve_process_metrics(app.config["SCHEDULER_METRICS_PORT"])
    click.echo("scheduler running", err=True)
    scheduler.run()


def _stop_on_signals(stop):
    for number in (signal.SIGTERM, signal.SIGINT):
        signal.signal(number, stop)


@connect_cli.command("signals")
def signals_command():
    """List what each event of connect's packages sets in motion (its receivers)."""
    for module in (request_signals, notification_signals, area_signals, sms_signals):
        for event in module.__dict__.values():
            if not isinstance(event, NamedSignal):
                continue
            receivers = [
                f"{receiver.__module__}.{receiver.__qualname__}"
                for receiver in event.receivers_for(ANY)
            ]
            click.echo(f"{module.__name__}.{event.name}: {', '.join(receivers) or '-'}")


@connect_cli.command("purge")
@click.option(
    "--older-than-days",
    type=click.IntRange(min=0),
    default=None,
    help="Purge requests closed more than this many days ago [default: PURGE_AFTER_DAYS, 30].",
)
@click.option("--dry-run", is_flag=True, help="Count what would be purged; change nothing.")
@with_appcontext
def purge_command(older_than_days, dry_run):
    """Anonymise the personal data of closed requests (run daily from cron)."""
    result = purge_personal_data(older_than_days)
    if dry_run:
        db.session.rollback()
    else:
        db.session.commit()
    verb = "would be " if dry_run else ""
    click.echo(
        f"{'dry run: ' if dry_run else ''}closed more than {result['older_than_days']} "
        f"days ago (before {result['cutoff']:%Y-%m-%d %H:%M} UTC): "
        f"requests {verb}purged: {result['requests_purged']}, "
        f"report comments {verb}removed: {result['report_comments_removed']}; "
        f"leases lapsed: {result['leases_lapsed']}, "
        f"requests expired: {result['requests_expired']}; "
        f"idempotency keys {verb}removed: {result['idempotency_keys_removed']}"
    )


@connect_cli.command("create-user")
@click.option("--phone", required=True, help="Vietnamese mobile number.")
@click.option("--name", required=True)
@click.option(
    "--role",
    type=click.Choice(["coordinator", "admin", "volunteer", "resident"]),
    default="coordinator",
    show_default=True,
)
@click.option(
    "--area",
    "areas",
    multiple=True,
    metavar="CODE",
    help="An area code the coordinator acts in (repeatable).",
)
@click.password_option(help="Prompted for when not given.")
@with_appcontext
def create_user_command(phone, name, role, areas, password):
    """Create a coordinator or admin account (never possible by self-registration)."""
    try:
        phone = normalise_phone(phone)
        if len(password) < 8:
            raise click.BadParameter("Use at least 8 characters.", param_hint="--password")
        user = register_user(phone, password, name, role=role)
        for code in areas:
            grant_area(user, code)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--phone") from exc
    except ConnectError as exc:
        raise click.ClickException(exc.message) from exc
    db.session.commit()
    click.echo(
        f"created {role} #{user.id} ({phone})" + (f" in areas {', '.join(areas)}" if areas else "")
    )
    if role == "coordinator" and not areas:
        click.echo(
            "note: a coordinator without an area sees no one's contact details; "
            "add one with `flask connect grant-area`."
        )


@connect_cli.command("import-areas")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@with_appcontext
def import_areas_command(path):
    """Import province/district/commune polygons from a GeoJSON FeatureCollection."""
    import json
    import sys

    with open(path, encoding="utf-8") as handle:
        try:
            document = json.load(handle)
        except ValueError as exc:
            raise click.ClickException(f"{path} is not JSON: {exc}") from exc
    features = document.get("features") if isinstance(document, dict) else None
    if document.get("type") != "FeatureCollection" or not isinstance(features, list):
        raise click.ClickException("Expected a GeoJSON FeatureCollection.")
    # Progress goes to stderr so the summary line on stdout stays easy to read from cron.
    with click.progressbar(length=len(features), label="areas", file=sys.stderr) as bar:
        try:
            result = import_areas(features, progress=bar.update)
        except ValueError as exc:
            raise click.ClickException(str(exc)) from exc
        except ConnectError as exc:
            raise click.ClickException(exc.message) from exc
    db.session.commit()
    click.echo(
        f"areas created: {result['created']}, updated: {result['updated']}, "
        f"request placements: {result['placements']}, "
        f"volunteer placements: {result['volunteer_placements']}"
    )


@connect_cli.command("grant-area")
@click.option("--phone", required=True, help="The coordinator's phone number.")
@click.option("--area", "areas", multiple=True, required=True, metavar="CODE")
@with_appcontext
def grant_area_command(phone, areas):
    """Let a coordinator act in more areas."""
    from sqlalchemy import select

    try:
        phone = normalise_phone(phone)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--phone") from exc
    user = db.session.execute(select(User).where(User.phone == phone)).scalar_one_or_none()
    if user is None or user.role != "coordinator":
        raise click.ClickException("No coordinator account with this phone number.")
    try:
        for code in areas:
            grant_area(user, code)
    except ConnectError as exc:
        raise click.ClickException(exc.message) from exc
    db.session.commit()
    click.echo(f"{phone} now coordinates {', '.join(areas)}")


@connect_cli.command("seed")
@click.option("--force", is_flag=True, help="Seed even if the database has requests.")
@with_appcontext
def seed_command(force):
    """Add demo requests and volunteers around Bac Giang (only into an empty database)."""
    created = seed_demo_data(force=force)
    db.session.commit()
    click.echo(f"demo data: {created}")
