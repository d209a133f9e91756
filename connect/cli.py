"""`flask connect ...`: operations commands (cron-ready) and staff accounts."""
import click
from flask.cli import with_appcontext

from connect.extensions import db


@click.group("connect")
def connect_cli():
    """connect operations."""


@connect_cli.command("expire")
@with_appcontext
def expire_command():
    """Release lapsed claim leases and expire stale requests (run from cron)."""
    from connect.requests.services import expire_all

    result = expire_all()
    db.session.commit()
    click.echo(f"leases lapsed: {result['leases_lapsed']}, "
               f"requests expired: {result['requests_expired']}")


@connect_cli.command("create-user")
@click.option("--phone", required=True, help="Vietnamese mobile number.")
@click.option("--name", required=True)
@click.option("--role", type=click.Choice(["coordinator", "admin", "volunteer", "resident"]),
              default="coordinator", show_default=True)
@click.password_option(help="Prompted for when not given.")
@with_appcontext
def create_user_command(phone, name, role, password):
    """Create a coordinator or admin account (never possible by self-registration)."""
    from connect.accounts.services import register_user
    from connect.errors import ConnectError
    from connect.validation import normalise_phone

    try:
        phone = normalise_phone(phone)
        if len(password) < 8:
            raise click.BadParameter("Use at least 8 characters.", param_hint="--password")
        user = register_user(phone, password, name, role=role)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--phone") from exc
    except ConnectError as exc:
        raise click.ClickException(exc.message) from exc
    db.session.commit()
    click.echo(f"created {role} #{user.id} ({phone})")


@connect_cli.command("seed")
@click.option("--force", is_flag=True, help="Seed even if the database has requests.")
@with_appcontext
def seed_command(force):
    """Add demo requests and volunteers around Bac Giang (only into an empty database)."""
    from connect.demo import seed_demo_data

    created = seed_demo_data(force=force)
    db.session.commit()
    click.echo(f"demo data: {created}")
