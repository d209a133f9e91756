"""Migrations on a large PostgreSQL database (docs/operations.md): the representative index
migration builds concurrently on 200,000 requests while posts go on and none fails; DDL that
cannot get its lock waits MIGRATION_LOCK_TIMEOUT, retries, and says so clearly when it gives up."""

import hashlib
import shutil
import threading
import time
from datetime import timedelta

import psycopg
import pytest
from alembic.script import ScriptDirectory
from flask_migrate import downgrade
from sqlalchemy import text

from conftest import ROOT

REVISION = "0007"  # the index migration: ix_help_requests_unpurged, the purge's scan
INDEX = "ix_help_requests_unpurged"
ROWS = 200_000
MIGRATIONS = ROOT / "connect" / "migrations"

# 95 % purged long ago (the steady state of a service that has run for months), 4 % closed
# recently and not purged yet, 1 % open.
FILL = """
INSERT INTO help_requests (categories, description, household_size, urgency, location,
    public_location, address, contact_name, phone, status, source, manage_token_hash,
    created_at, updated_at, last_activity_at, expires_at, closed_at, purged_at, change_seq)
SELECT '["food"]', CASE WHEN purged THEN '' ELSE 'Cần gạo' END, 1 + g %% 6,
    CASE WHEN g %% 5 = 0 THEN 'urgent' ELSE 'normal' END, point, point, NULL,
    CASE WHEN purged THEN '' ELSE 'Người dân' END, '+8492' || lpad(g::text, 7, '0'),
    CASE WHEN g > %(closed)s THEN 'open'
         ELSE (ARRAY['helped', 'confirmed', 'cancelled', 'expired'])[1 + g %% 4] END,
    'bulk', md5(g::text) || md5('connect' || g), created, created, created,
    created + interval '3 days', CASE WHEN g > %(closed)s THEN NULL ELSE created + interval '1 hour' END,
    CASE WHEN purged THEN created + interval '31 days' END, 0
FROM (SELECT g, g <= %(purged)s AS purged,
             now() at time zone 'utc' - (%(rows)s - g) * interval '50 seconds' AS created,
             ST_SetSRID(ST_MakePoint(106.1946 + (g::bigint * 7919 %% 1000 - 500) * 0.0004,
                                     21.2731 + (g::bigint * 104729 %% 1000 - 500) * 0.0004), 4326) AS point
      FROM generate_series(1, %(rows)s) AS g) AS bulk
"""


@pytest.fixture
def backend():
    """Lock timeouts and concurrent index builds are PostgreSQL's."""
    return "postgis"


def libpq(database_url):
    return database_url.replace("postgresql+psycopg://", "postgresql://")


def fill(database_url, rows):
    """Insert the rows in one statement, the table's indexes built afterwards from their own
    definitions (in bulk: three times faster than updating them row by row)."""
    with psycopg.connect(libpq(database_url)) as conn:
        indexes = conn.execute(  # those of no constraint (the key, unique columns)
            "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) FROM pg_index i "
            "WHERE i.indrelid = 'help_requests'::regclass AND NOT EXISTS "
            "(SELECT 1 FROM pg_constraint WHERE conindid = i.indexrelid)"
        ).fetchall()
        for name, _ in indexes:
            conn.execute(f"DROP INDEX {name}")
        conn.execute(FILL, {"rows": rows, "purged": rows * 95 // 100, "closed": rows * 99 // 100})
        for _, definition in indexes:
            conn.execute(definition)
        conn.commit()
        conn.execute("ANALYZE help_requests")


def purge_plan(app):
    """EXPLAIN of the purge's scan (connect.safety.purge.due_for_purge) as the app sends it."""
    from connect import clock
    from connect.extensions import db
    from connect.safety.purge import due_for_purge

    with app.app_context():
        query = due_for_purge(clock.now() - timedelta(days=app.config["PURGE_AFTER_DAYS"]))
        compiled = query.compile(
            dialect=db.engine.dialect, compile_kwargs={"render_postcompile": True}
        )
        with db.engine.connect() as conn:
            rows = conn.exec_driver_sql(f"EXPLAIN {compiled}", compiled.params).scalars()
            return "\n".join(rows)


# One open request, as the release running during a migration writes it (the columns it
# knows: this code's model has columns of later migrations, so it cannot post through the API
# while the database is at an older revision).
POST = """
INSERT INTO help_requests (categories, description, household_size, urgency, location,
    public_location, contact_name, phone, status, source, manage_token_hash, created_at,
    updated_at, last_activity_at, expires_at, change_seq)
VALUES ('["food"]', 'Cần gạo', 3, 'normal', ST_SetSRID(ST_MakePoint(106.19, 21.27), 4326),
    ST_SetSRID(ST_MakePoint(106.19, 21.27), 4326), 'Người dân', %(phone)s, 'open', 'api',
    %(token_hash)s, now(), now(), now(), now() + interval '3 days', 0)
RETURNING id
"""


class Poster:
    """Posts requests from its own threads (each its own connection) until stopped."""

    def __init__(self, database_url, threads=2):
        self.dsn, self.results, self.stopping = libpq(database_url), [], threading.Event()
        self.threads = [
            threading.Thread(target=self.run, args=(n,), daemon=True) for n in range(threads)
        ]

    def run(self, n):
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            count = 0
            while not self.stopping.is_set():
                count += 1
                started = time.monotonic()
                try:
                    phone = f"+849{n}{count:07d}"
                    token_hash = hashlib.sha256(phone.encode()).hexdigest()
                    (request_id,) = conn.execute(
                        POST, {"phone": phone, "token_hash": token_hash}
                    ).fetchone()
                    self.results.append((201, {"id": request_id}, started, time.monotonic()))
                except psycopg.Error as error:
                    self.results.append((500, {"error": str(error)}, started, time.monotonic()))

    def __enter__(self):
        for thread in self.threads:
            thread.start()
        while len(self.results) < 3:  # going before the migration starts
            time.sleep(0.01)
        return self

    def __exit__(self, *exc):
        self.stopping.set()
        for thread in self.threads:
            thread.join(30)


def said(result, caplog):
    """What `flask db upgrade` told the operator: its output and its log lines."""
    return result.output + caplog.text


def test_the_index_builds_on_200000_requests_while_posts_go_on(app, database_url, caplog):
    from connect.extensions import db

    down = ScriptDirectory(str(MIGRATIONS)).get_revision(REVISION).down_revision
    with app.app_context():
        downgrade(revision=down)
    fill(database_url, ROWS)
    before = purge_plan(app)
    assert INDEX not in before

    with Poster(database_url) as poster:
        started = time.monotonic()
        result = app.test_cli_runner().invoke(args=["db", "upgrade"])
        ended = time.monotonic()
        time.sleep(0.2)
    assert result.exit_code == 0, result.output
    assert f"Running upgrade {down} -> {REVISION}" in said(result, caplog)

    assert poster.results and all(status == 201 for status, *_ in poster.results), [
        body for status, body, *_ in poster.results if status != 201
    ][:3]
    ids = [body["id"] for _, body, *_ in poster.results]
    with app.app_context():
        stored = db.session.execute(
            text("SELECT count(*) FROM help_requests WHERE id = ANY(:ids)"), {"ids": ids}
        ).scalar_one()
        valid = db.session.execute(
            text(
                "SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
                "WHERE c.relname = :name"
            ),
            {"name": INDEX},
        ).scalar_one()
        db.session.remove()
    assert stored == len(ids) and valid
    after = purge_plan(app)
    assert INDEX in after, after
    during = [r for r in poster.results if r[2] < ended and r[3] > started]
    assert during, "no post overlapped the index build"
    print(
        f"\nflask db upgrade {down} -> {REVISION} (the concurrent index build) on {ROWS} "
        f"requests: {ended - started:.2f} s; posts: {len(poster.results)} in all, "
        f"{len(during)} during the build, all 201 and stored\npurge scan before: "
        f"{before.splitlines()[0]}\nafter: "
        f"{' / '.join(line.strip() for line in after.splitlines()[:3])}"
    )


# -- lock timeout and retry --------------------------------------------------------------


def migrations_with_ddl(tmp_path):
    """The project's migrations plus one ALTER TABLE after the head (it needs an ACCESS
    EXCLUSIVE lock on help_requests)."""
    directory = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS, directory, ignore=shutil.ignore_patterns("__pycache__"))
    head = ScriptDirectory(str(directory)).get_current_head()
    (directory / "versions" / "9999_lock_probe.py").write_text(
        f'"""lock probe"""\nimport sqlalchemy as sa\nfrom alembic import op\n\n'
        f'revision = "9999"\ndown_revision = "{head}"\nbranch_labels = depends_on = None\n\n\n'
        f'def upgrade():\n    op.add_column("help_requests", sa.Column("probe", sa.Integer()))\n'
    )
    return directory


class LockHolder(threading.Thread):
    """A transaction that has read help_requests and stays open (a long report, a psql
    session left open) until released."""

    def __init__(self, database_url, release_after_waits=None):
        super().__init__(daemon=True)
        self.dsn, self.release_after = libpq(database_url), release_after_waits
        self.holding, self.released = threading.Event(), threading.Event()

    def run(self):
        with (
            psycopg.connect(self.dsn) as conn,
            psycopg.connect(self.dsn, autocommit=True) as watch,
        ):
            conn.execute("SELECT 1 FROM help_requests LIMIT 1")
            self.holding.set()
            if self.release_after is not None:
                self.wait_for_a_retry(watch)
                conn.rollback()
            self.released.wait(60)

    def wait_for_a_retry(self, watch):
        """Until the ALTER TABLE has waited release_after times (each a new attempt)."""
        seen, deadline = set(), time.monotonic() + 30
        while len(seen) < self.release_after and time.monotonic() < deadline:
            seen.update(
                row[0]
                for row in watch.execute(
                    "SELECT query_start FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                    "AND query LIKE 'ALTER TABLE help_requests ADD COLUMN probe%'"
                )
            )
            time.sleep(0.02)

    def __enter__(self):
        self.start()
        assert self.holding.wait(10)
        return self

    def __exit__(self, *exc):
        self.released.set()
        self.join(10)


def probe_column_exists(app):
    from connect.extensions import db

    with app.app_context():
        found = db.session.execute(
            text(
                "SELECT count(*) FROM information_schema.columns "
                "WHERE table_name = 'help_requests' AND column_name = 'probe'"
            )
        ).scalar_one()
        db.session.remove()
        return bool(found)


def test_ddl_behind_a_held_lock_retries_and_succeeds_once_the_lock_is_released(
    app, database_url, tmp_path, caplog
):
    directory = migrations_with_ddl(tmp_path)
    app.config.update(MIGRATION_LOCK_TIMEOUT=0.2, MIGRATION_LOCK_ATTEMPTS=6)
    with LockHolder(database_url, release_after_waits=2):
        result = app.test_cli_runner().invoke(args=["db", "upgrade", "--directory", directory])
    assert result.exit_code == 0, result.output
    assert "migration lock not granted within 0.2s (attempt 1 of 6)" in said(result, caplog)
    assert probe_column_exists(app)


def test_ddl_gives_up_with_a_clear_message_after_the_last_attempt(
    app, database_url, tmp_path, caplog
):
    directory = migrations_with_ddl(tmp_path)
    app.config.update(MIGRATION_LOCK_TIMEOUT=0.1, MIGRATION_LOCK_ATTEMPTS=3)
    with LockHolder(database_url):
        result = app.test_cli_runner().invoke(args=["db", "upgrade", "--directory", directory])
    assert result.exit_code == 1
    told = said(result, caplog)
    assert (
        "a migration could not lock its table within MIGRATION_LOCK_TIMEOUT=0.1s in 3 attempts"
    ) in told, told
    assert "ALTER TABLE help_requests ADD COLUMN probe" in told
    assert told.count("migration lock not granted") == 2
    assert not probe_column_exists(app)
