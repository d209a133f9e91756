"""Schema changes that keep a large PostgreSQL database serving while `flask db upgrade` runs.

docs/operations.md ("Migrations on a large database") gives the rules; env.py and the
migration scripts use what is here.
"""

import logging
import time

from alembic import op
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, OperationalError

log = logging.getLogger("connect.migrations")
LOCK_NOT_AVAILABLE = "55P03"  # PostgreSQL's SQLSTATE when lock_timeout runs out


class MigrationLockTimeout(RuntimeError):
    """A migration could not take its lock in any attempt (Flask-Migrate prints it, exits 1)."""


def prepare_session(connection, lock_timeout):
    """No statement timeout (an index build on a million rows takes minutes), and DDL waits
    for its lock at most lock_timeout seconds: a waiting ALTER TABLE queues every reader and
    writer of its table behind it."""
    connection.exec_driver_sql("SET statement_timeout = 0")
    connection.exec_driver_sql(f"SET lock_timeout = '{round(lock_timeout * 1000)}ms'")
    connection.commit()


def reset_session(connection):
    """Give the pool back a connection with the app's own timeouts."""
    try:
        connection.rollback()
        connection.exec_driver_sql("RESET statement_timeout")
        connection.exec_driver_sql("RESET lock_timeout")
        connection.commit()
    except DBAPIError:
        connection.invalidate()


def run_with_lock_retry(run_once, lock_timeout, attempts):
    """Run the migrations again while one cannot get its lock, waiting longer each time.

    Each migration is its own transaction, so what committed stays and the next attempt
    starts where the failed one rolled back.
    """
    for attempt in range(1, attempts + 1):
        try:
            return run_once()
        except OperationalError as exc:
            if getattr(exc.orig, "sqlstate", None) != LOCK_NOT_AVAILABLE:
                raise
            statement = " ".join(str(exc.statement).split())[:200]
            if attempt == attempts:
                raise MigrationLockTimeout(
                    f"a migration could not lock its table within MIGRATION_LOCK_TIMEOUT="
                    f"{lock_timeout:g}s in {attempts} attempts (MIGRATION_LOCK_ATTEMPTS); "
                    f"waiting: {statement!r}. A long transaction holds the lock: find it in "
                    f"pg_stat_activity (docs/operations.md), then run `flask db upgrade` again; "
                    f"what already migrated stays."
                ) from exc
            wait = lock_timeout * 2 ** (attempt - 1)
            log.warning(
                "migration lock not granted within %gs (attempt %d of %d): %s; retrying in %gs",
                lock_timeout,
                attempt,
                attempts,
                statement,
                wait,
            )
            time.sleep(wait)


def create_index_concurrently(index_name, table_name, columns, **kw):
    """CREATE INDEX CONCURRENTLY on PostgreSQL (writes go on during the build), a plain
    CREATE INDEX elsewhere. Safe to run again after a failed build."""
    if op.get_bind().dialect.name != "postgresql":
        op.create_index(index_name, table_name, columns, **kw)
        return
    context = op.get_context()
    with context.autocommit_block():
        if context.as_sql:  # `flask db upgrade --sql` writes the statement only
            op.create_index(
                index_name,
                table_name,
                columns,
                postgresql_concurrently=True,
                if_not_exists=True,
                **kw,
            )
            return
        bind = op.get_bind()
        # A failed concurrent build leaves an invalid index behind, which IF NOT EXISTS
        # would take for done.
        invalid = bind.execute(
            text(
                "SELECT 1 FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
                "WHERE c.relname = :name AND NOT i.indisvalid"
            ),
            {"name": index_name},
        ).first()
        if invalid:
            op.drop_index(index_name, table_name=table_name, postgresql_concurrently=True)
        # The build waits for transactions older than it, which blocks nobody (its lock
        # lets reads and writes through); under lock_timeout a 30 s report would fail a
        # build that is minutes in.
        previous = bind.execute(text("SELECT current_setting('lock_timeout')")).scalar_one()
        bind.execute(text("SET lock_timeout = 0"))
        try:
            op.create_index(
                index_name,
                table_name,
                columns,
                postgresql_concurrently=True,
                if_not_exists=True,
                **kw,
            )
        finally:
            bind.execute(
                text("SELECT set_config('lock_timeout', :value, false)"), {"value": previous}
            )


def drop_index_concurrently(index_name, table_name):
    """DROP INDEX CONCURRENTLY on PostgreSQL, a plain DROP INDEX elsewhere."""
    if op.get_bind().dialect.name != "postgresql":
        op.drop_index(index_name, table_name=table_name)
        return
    with op.get_context().autocommit_block():
        op.drop_index(
            index_name, table_name=table_name, postgresql_concurrently=True, if_exists=True
        )
