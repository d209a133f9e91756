"""Backend set-up: SpatiaLite loading, PostGIS engine options, transaction modes."""

import logging
import os
import sqlite3

from flask import g, has_request_context, request
from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from connect.extensions import db

log = logging.getLogger(__name__)

SPATIALITE_LIBRARY = os.environ.get("SPATIALITE_LIBRARY_PATH", "mod_spatialite")
# The Alembic scripts (Flask-Migrate's directory): `flask db upgrade` and /readyz read them.
MIGRATIONS = os.path.join(os.path.dirname(__file__), "migrations")
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def sqlite_driver():
    """The DB-API module to use for SQLite: the stdlib one if it can load extensions."""
    if hasattr(sqlite3.Connection, "enable_load_extension"):
        return sqlite3
    # Some Python builds (this project's CI among them) compile sqlite3 without extension
    # loading; pysqlite3-binary ships its own SQLite that can load mod_spatialite.
    import pysqlite3.dbapi2

    return pysqlite3.dbapi2


def is_sqlite(url):
    return make_url(url).get_backend_name() == "sqlite"


def engine_options(url, base_options):
    """Engine options for the configured database URL."""
    options = dict(base_options or {})
    if is_sqlite(url):
        options["module"] = sqlite_driver()
        connect_args = dict(options.get("connect_args", {}))
        # Flask may serve a request in another thread than the one that opened a pooled
        # connection; SQLAlchemy's pool hands one connection to one thread at a time.
        connect_args.setdefault("check_same_thread", False)
        connect_args.setdefault("timeout", 30)
        options["connect_args"] = connect_args
    else:
        connect_args = dict(options.get("connect_args", {}))
        connect_args.setdefault("connect_timeout", 5)
        # A stuck statement or a forgotten transaction must not hold locks or the read
        # model's snapshot horizon for long. No JIT: its cost estimate counts every
        # correlated subquery once per row of a spatial box, so a push that runs in ms
        # spent ~0.5 s compiling (the load test's 100,000 volunteers).
        connect_args.setdefault(
            "options",
            "-c statement_timeout=30000 -c idle_in_transaction_session_timeout=60000 -c jit=off",
        )
        options["connect_args"] = connect_args
        options.setdefault("pool_size", 10)
        options.setdefault("max_overflow", 20)
        options.setdefault("pool_timeout", 10)
    return options


def setup_engine(engine):
    """Attach the per-backend connection hooks to an engine, and the after-commit steps."""
    _install_session_hooks()
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_on_connect)
        event.listen(engine, "begin", _sqlite_on_begin)


def _sqlite_on_connect(dbapi_conn, _record):
    dbapi_conn.enable_load_extension(True)
    dbapi_conn.load_extension(SPATIALITE_LIBRARY)
    dbapi_conn.enable_load_extension(False)
    # The driver's own implicit transactions are replaced by explicit BEGINs (below) so
    # that writers can take the write lock up front.
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA busy_timeout = 30000")
    cur.execute("PRAGMA foreign_keys = ON")
    cur.execute("PRAGMA synchronous = NORMAL")
    if cur.execute("PRAGMA journal_mode").fetchone()[0].lower() != "memory":
        cur.execute("PRAGMA journal_mode = WAL")
    if cur.execute("SELECT CheckSpatialMetaData()").fetchone()[0] < 1:
        cur.execute("SELECT InitSpatialMetaData(1, 'WGS84')")
    cur.close()


def _sqlite_on_begin(conn):
    # A deferred transaction that reads and then writes fails with SQLITE_BUSY when another
    # process committed in between; taking the write lock at BEGIN makes writers queue
    # behind busy_timeout instead. Reads (GET requests, the read model) stay deferred; a
    # connection opened with execution_options(write=True) writes even during a GET.
    options = conn.get_execution_options()
    if options.get("readonly") or not (options.get("write") or _write_intent()):
        conn.exec_driver_sql("BEGIN")
    else:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def _write_intent():
    if has_request_context():
        return request.method not in SAFE_METHODS or g.get(WRITES, False)
    return True


WRITES = "_connect_writes"


def writes_on_get():
    """This request writes even if it is a GET (a gateway's callback): on SQLite its
    transaction takes the write lock at BEGIN, so a commit elsewhere cannot stale its read."""
    g.setdefault(WRITES, True)


def ping(engine):
    """Raise if the database cannot be reached."""
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))


_AFTER_COMMIT = "connect_after_commit"


def after_commit(callback):
    """Run ``callback()`` once the current transaction commits; never if it rolls back."""
    callbacks = db.session.info.setdefault(_AFTER_COMMIT, [])
    if callback not in callbacks:
        callbacks.append(callback)


def _install_session_hooks():
    if event.contains(Session, "after_commit", _run_after_commit):
        return
    event.listen(Session, "after_commit", _run_after_commit)
    event.listen(Session, "after_soft_rollback", _drop_after_commit)


def _run_after_commit(session):
    for callback in session.info.pop(_AFTER_COMMIT, ()):
        try:
            callback()
        except Exception:  # the transaction is committed: a failed extra must not undo it
            log.exception("an after-commit step failed")


def _drop_after_commit(session, previous_transaction):
    if not previous_transaction.nested:  # a savepoint rolled back; the transaction goes on
        session.info.pop(_AFTER_COMMIT, None)
