"""The probes: /healthz says the process is alive, /readyz that it can serve.

Ready means: the database answers, its schema is at the head of connect/migrations, and this
process's read model of open requests caught up with the database within
READ_MODEL_MAX_STALENESS. Otherwise /readyz answers 503 in the error envelope, its code naming
the check that failed. Neither needs a login, a CSRF token or a rate limit.
"""

import functools
import logging

from alembic.script import ScriptDirectory
from flask import current_app
from sqlalchemy import column, inspect, select, table
from sqlalchemy.exc import SQLAlchemyError

from connect.database import MIGRATIONS
from connect.errors import ServiceUnavailable
from connect.extensions import db

log = logging.getLogger(__name__)
# Alembic's own table of applied revisions (connect/migrations/env.py keeps the default name).
VERSION_TABLE = table("alembic_version", column("version_num"))


def init_app(app):
    """Read the migration head once, at start-up, and add both probes."""
    app.extensions["migration_heads"] = script_heads(MIGRATIONS)
    app.add_url_rule("/healthz", "healthz", healthz)
    app.add_url_rule("/readyz", "readyz", readyz)


@functools.cache
def script_heads(directory):
    """The head revision(s) of the migration scripts in ``directory``."""
    return tuple(sorted(ScriptDirectory(directory).get_heads()))


def healthz():
    """Liveness: answers while the process runs, without touching the database."""
    return {"status": "ok"}


def readyz():
    """Readiness: the database, the migrations and the read model, in that order."""
    heads = current_app.extensions["migration_heads"]
    revisions = database_revisions()
    if revisions != heads:
        raise ServiceUnavailable(
            "The database schema is not at the head of the migrations: run "
            "`flask db upgrade` (or deploy the code that matches the database).",
            code="migrations_not_at_head",
            details={"check": "migrations", "database": list(revisions), "head": list(heads)},
        )
    read_model = current_app.extensions["read_model"]
    try:
        read_model.ensure_fresh()  # catches up if due, as a nearby list would
    except ServiceUnavailable:
        pass  # stale past its limit: said below
    staleness = read_model.staleness()
    if staleness is None or staleness > read_model.max_staleness:
        raise ServiceUnavailable(
            "This process's list of open requests has not caught up with the database "
            "within its staleness limit.",
            code="read_model_stale",
            details={
                "check": "read_model",
                "staleness_s": _seconds(staleness),
                "max_staleness_s": read_model.max_staleness,
            },
        )
    return {
        "status": "ready",
        "environment": current_app.config["CONNECT_ENV"],
        "database": db.engine.dialect.name,
        "migration": ",".join(heads),
        "read_model": {
            "open_requests": len(read_model),
            "staleness_s": _seconds(staleness),
            "max_staleness_s": read_model.max_staleness,
        },
    }


def database_revisions():
    """The revisions the database is at (none before its first migration); 503 if it does
    not answer."""
    try:
        with db.engine.connect().execution_options(readonly=True) as connection:
            if not inspect(connection).has_table(VERSION_TABLE.name):
                return ()
            return tuple(sorted(connection.execute(select(VERSION_TABLE.c.version_num)).scalars()))
    except SQLAlchemyError as exc:
        log.warning("not ready: the database does not answer: %s", exc)
        raise ServiceUnavailable(
            "The database does not answer.",
            code="database_unavailable",
            details={"check": "database"},
        ) from None


def _seconds(value):
    return None if value is None else round(value, 3)
