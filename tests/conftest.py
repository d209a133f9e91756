"""Shared fixtures: an app on a fresh migrated database, on SQLite and on PostGIS."""

import os
import shutil
import sys
import uuid
from pathlib import Path

import pytest
from jinja2 import BytecodeCache

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
sys.path.insert(0, str(ROOT / "tests" / "support"))
CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
BACKENDS = ("sqlite", "postgis")
# Tests run the development settings, and so do the servers and commands they start.
os.environ["CONNECT_ENV"] = "development"

TEST_CONFIG = {
    "TESTING": True,
    "CONNECT_ENV": "development",
    "SECRET_KEY": "test-secret",
    "BLUR_SECRET": "test-blur-secret",
    "RATELIMIT_ENABLED": False,
    "DEMO_DATA": False,
    "READ_MODEL_SYNC_INTERVAL": 0.05,
    "SESSION_COOKIE_SECURE": False,  # the test client speaks plain http
    # Notifications arrive as soon as the change that caused them commits, run by the real
    # worker code in the committing process (tests/integration/test_outbox.py runs workers).
    "OUTBOX_INLINE": True,
    # Texts go out at any hour unless a test sets quiet hours; Kannel's calls carry this.
    "SMS_QUIET_HOURS": "",
    "SMS_INBOUND_SECRET": "test-sms-secret",
    "PUBLIC_BASE_URL": "https://connect.example.vn",
}


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Under CI every suite runs for real: a skipped test is a failed one."""
    outcome = yield
    report = outcome.get_result()
    if CI and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"skipped under CI=true, which is a failure: {report.longrepr}"


def make_app(database_url, **overrides):
    from connect import create_app

    app = create_app({**TEST_CONFIG, "SQLALCHEMY_DATABASE_URI": database_url, **overrides})
    share_compiled_templates(app)
    return app


class SharedTemplateCode(BytecodeCache):
    """Templates compiled once for the whole run, not once per app (Jinja checks the source)."""

    compiled = {}

    def __init__(self, env):
        # What compiled code depends on besides the source: the same for every app here.
        self.options = (
            tuple(sorted(env.extensions)),
            env.block_start_string,
            env.variable_start_string,
            env.comment_start_string,
            env.line_statement_prefix,
            env.trim_blocks,
            env.lstrip_blocks,
            env.newline_sequence,
            env.keep_trailing_newline,
            env.optimized,
            callable(env.autoescape),
            env.is_async,
        )

    def load_bytecode(self, bucket):
        code = self.compiled.get((self.options, bucket.key))
        if code is not None:
            bucket.bytecode_from_string(code)

    def dump_bytecode(self, bucket):
        self.compiled[(self.options, bucket.key)] = bucket.bytecode_to_string()


def share_compiled_templates(app):
    app.jinja_env.bytecode_cache = SharedTemplateCode(app.jinja_env)


def _migrate(database_url):
    from flask_migrate import upgrade

    from connect.extensions import db

    app = make_app(database_url)
    with app.app_context():
        upgrade()
        db.engine.dispose()


@pytest.fixture(scope="session")
def pg_cluster():
    """A throwaway PostgreSQL + PostGIS cluster for the whole run (loopback, temp dir)."""
    from pgcluster import TempPostgres, find_pg_bin, postgis_control_path

    try:
        postgis_control_path(find_pg_bin())
    except Exception as exc:  # not installed: only allowed outside CI
        if CI:
            pytest.fail(f"PostGIS is required under CI: {exc}")
        pytest.skip(f"PostgreSQL/PostGIS not installed ({exc}); run `make test`")
    cluster = TempPostgres().start()
    yield cluster
    cluster.stop()


# Kannel calls back with this (SMS_INBOUND_SECRET of the apps that test against it).
KANNEL_SECRET = "test-inbound-secret"


@pytest.fixture(scope="session")
def _kannel_callbacks():
    from kannel_callbacks import KannelCallbacks

    callbacks = KannelCallbacks().start()
    yield callbacks
    callbacks.stop()


@pytest.fixture(scope="session")
def kannel_binaries():
    """Paths of bearerbox, smsbox and fakesmsc (apt kannel, kannel-extras)."""
    from kannelbox import find_kannel

    try:
        return find_kannel()
    except FileNotFoundError as exc:  # not installed: only allowed outside CI
        if CI:
            pytest.fail(f"Kannel is required under CI: {exc}")
        pytest.skip(str(exc))


@pytest.fixture(scope="session")
def kannel(kannel_binaries, _kannel_callbacks):
    """One real Kannel per test process, calling back ``kannel_callbacks`` (tools/kannelbox.py)."""
    from kannelbox import TempKannel

    box = TempKannel(f"{_kannel_callbacks.url}/sms/kannel/inbound", KANNEL_SECRET).start()
    yield box
    box.stop()


@pytest.fixture
def kannel_callbacks(_kannel_callbacks):
    """What Kannel called during this test; answers 200 with no body unless told otherwise."""
    _kannel_callbacks.reset()
    return _kannel_callbacks


@pytest.fixture
def kannel_settings(kannel, kannel_callbacks):
    """The settings an app sends SMS through the running Kannel with (make_app(**these))."""
    return {
        "SMS_BACKEND": "kannel",
        "KANNEL_SENDSMS_URL": kannel.sendsms_url,
        "KANNEL_USERNAME": kannel.username,
        "KANNEL_PASSWORD": kannel.password,
        "SMS_SENDER": "connect",
        "SMS_INBOUND_SECRET": KANNEL_SECRET,
        "PUBLIC_BASE_URL": kannel_callbacks.url,
    }


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory):
    path = tmp_path_factory.mktemp("sqlite-template") / "connect.db"
    _migrate(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def postgis_template(pg_cluster):
    pg_cluster.create_database("connect_template")
    _migrate(pg_cluster.url_for("connect_template"))
    return "connect_template"


def _clone_postgis(pg_cluster, template):
    import psycopg

    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_cluster.admin_dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}" OWNER connect')
    return pg_cluster.url_for(name)


class FakeClock:
    """A settable stand-in for connect.clock.now (naive UTC)."""

    def __init__(self, start):
        self.value = start

    def __call__(self):
        return self.value

    def advance(self, delta=None, **kwargs):
        from datetime import timedelta

        self.value += delta if delta is not None else timedelta(**kwargs)
        return self.value

    def set(self, value):
        self.value = value
        return value


@pytest.fixture
def clock(monkeypatch):
    """connect.clock.now frozen (to the second) until the test moves it."""
    from connect import clock as clock_module

    fake = FakeClock(clock_module.now().replace(microsecond=0))
    monkeypatch.setattr(clock_module, "now", fake)
    return fake


@pytest.fixture(scope="session")
def fast_hasher():
    """A cheap argon2 hasher and its dummy hash, made once for the run."""
    from argon2 import PasswordHasher

    fast = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    return fast, fast.hash("not a real password")


@pytest.fixture(autouse=True)
def fast_password_hashing(monkeypatch, fast_hasher):
    """Cheap argon2 parameters in tests: they are about the service, not the cost of hashing."""
    from connect.accounts import services

    monkeypatch.setattr(services, "_hasher", fast_hasher[0])
    monkeypatch.setattr(services, "_DUMMY_HASH", fast_hasher[1])


# What a test could change in a database besides its rows: if any of it differs from the
# template's when the test ends, that database is not used again.
SHAPE = """
SELECT md5(string_agg(item, E'\\n' ORDER BY item)) FROM (
    SELECT 'rel ' || relname || ' ' || relkind::text FROM pg_class
        WHERE relnamespace = 'public'::regnamespace
    UNION ALL SELECT 'col ' || attrelid::regclass || '.' || attname || ' '
        || format_type(atttypid, atttypmod) || attnotnull || atthasdef
        FROM pg_attribute JOIN pg_class ON pg_class.oid = attrelid
        WHERE relnamespace = 'public'::regnamespace AND attnum > 0 AND NOT attisdropped
    UNION ALL SELECT 'con ' || conname || ' ' || pg_get_constraintdef(oid) FROM pg_constraint
        WHERE connamespace = 'public'::regnamespace
    UNION ALL SELECT 'idx ' || pg_get_indexdef(indexrelid) || indisvalid FROM pg_index
        JOIN pg_class ON pg_class.oid = indexrelid WHERE relnamespace = 'public'::regnamespace
    UNION ALL SELECT 'trg ' || tgname FROM pg_trigger JOIN pg_class ON pg_class.oid = tgrelid
        WHERE relnamespace = 'public'::regnamespace AND NOT tgisinternal
    UNION ALL SELECT 'fn ' || count(*) FROM pg_proc WHERE pronamespace = 'public'::regnamespace
    UNION ALL SELECT 'ext ' || extname || extversion FROM pg_extension
    UNION ALL SELECT 'ver ' || version_num FROM alembic_version
    UNION ALL SELECT 'srs ' || count(*) FROM spatial_ref_sys
    UNION ALL SELECT 'db ' || datallowconn || datconnlimit FROM pg_database
        WHERE datname = current_database()
    UNION ALL SELECT 'set ' || array_to_string(setconfig, ',') FROM pg_db_role_setting
        WHERE setdatabase = (SELECT oid FROM pg_database WHERE datname = current_database())
) AS shape(item)
"""
KEPT_TABLES = ("spatial_ref_sys", "alembic_version")


class PostgisPool:
    """Migrated PostGIS databases handed to one test at a time and emptied after it: a clone
    of the template costs the server about 0.4 s of CPU, emptying one about 0.02 s."""

    def __init__(self, cluster, template):
        self.cluster, self.template, self.free = cluster, template, []
        with self.connect(template) as conn:
            self.shape = conn.execute(SHAPE).fetchone()[0]

    def connect(self, name):
        import psycopg
        from pgcluster import SUPERUSER

        return psycopg.connect(self.cluster.dsn_for(name, SUPERUSER))

    def take(self):
        """The URL of an empty migrated database."""
        if self.free:
            return self.cluster.url_for(self.free.pop())
        return _clone_postgis(self.cluster, self.template)

    def give_back(self, url):
        """Empty the test's database for the next test; one changed in shape or still in use
        (a process the test left behind) is dropped from the pool."""
        import psycopg

        name = url.rsplit("/", 1)[1]
        try:
            with self.connect(name) as conn:
                conn.execute("SET lock_timeout = '2s'")
                if not self.alone(conn) or conn.execute(SHAPE).fetchone()[0] != self.shape:
                    return
                conn.execute("SET session_replication_role = replica")  # any order of DELETEs
                tables = conn.execute(
                    "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                    "AND NOT tablename = ANY(%s)",
                    (list(KEPT_TABLES),),
                ).fetchall()
                for (table,) in tables:
                    conn.execute(f'DELETE FROM "{table}"')
                conn.execute(
                    "SELECT setval(('public.' || quote_ident(sequencename))::regclass, start_value, false) "
                    "FROM pg_sequences WHERE schemaname = 'public'"
                )
        except psycopg.Error:
            return
        self.free.append(name)

    @staticmethod
    def alone(conn, seconds=1.0):
        """No other session on this database (closed ones take a moment to leave the list)."""
        import time

        deadline = time.monotonic() + seconds
        while conn.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchone()[0]:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.02)
        return True


@pytest.fixture(scope="session")
def postgis_pool(pg_cluster, postgis_template):
    return PostgisPool(pg_cluster, postgis_template)


@pytest.fixture(params=BACKENDS)
def backend(request):
    return request.param


@pytest.fixture
def database_url(request, backend, tmp_path):
    """A migrated database of the test's backend, empty and its own for this test."""
    if backend == "sqlite":
        path = tmp_path / "connect.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite:///{path}"
        return
    pool = request.getfixturevalue("postgis_pool")
    url = pool.take()
    yield url
    pool.give_back(url)


@pytest.fixture
def app(database_url):
    from connect.extensions import db

    app = make_app(database_url)
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


# -- factories ----------------------------------------------------------------------

BAC_GIANG = (21.2731, 106.1946)
_phones = iter(range(10_000_000))


def new_phone():
    """A distinct valid Vietnamese mobile number per call."""
    return f"+8491{next(_phones):07d}"


def request_payload(**overrides):
    lat, lon = overrides.pop("at", BAC_GIANG)
    payload = {
        "categories": ["food"],
        "description": "Cần gạo và trứng cho 4 người",
        "household_size": 4,
        "urgency": "normal",
        "location": {"lat": lat, "lon": lon},
        "contact_name": "Nguyễn Văn An",
        "phone": new_phone(),
        "address": "12 Ngõ 3, Trần Phú",
    }
    payload.update(overrides)
    return payload


@pytest.fixture
def post_request(client):
    """Post a help request; returns the 201 body (with its manage_token)."""

    def post(**overrides):
        response = client.post("/api/v1/requests", json=request_payload(**overrides))
        assert response.status_code == 201, response.get_json()
        return response.get_json()

    return post


@pytest.fixture
def create_user(client):
    """Register an account and return (user json, Authorization headers)."""

    def create(name="Trần Thị Bình", password="mat-khau-1", phone=None):
        phone = phone or new_phone()
        response = client.post(
            "/api/v1/auth/register", json={"phone": phone, "password": password, "name": name}
        )
        assert response.status_code == 201, response.get_json()
        token = client.post("/api/v1/auth/token", json={"phone": phone, "password": password})
        assert token.status_code == 200, token.get_json()
        return response.get_json(), {"Authorization": f"Bearer {token.get_json()['token']}"}

    return create


@pytest.fixture
def create_volunteer(client, create_user):
    """A user with an on-duty volunteer profile; returns Authorization headers."""

    def create(
        at=BAC_GIANG,
        radius_m=5000,
        categories=("food", "supplies", "medicine", "medical_advice", "other"),
        capacity=3,
        **kwargs,
    ):
        _, headers = create_user(**kwargs)
        response = client.put(
            "/api/v1/volunteers/me",
            headers=headers,
            json={
                "location": {"lat": at[0], "lon": at[1]},
                "radius_m": radius_m,
                "categories": list(categories),
                "on_duty": True,
                "capacity": capacity,
            },
        )
        assert response.status_code == 200, response.get_json()
        return headers

    return create


# The demo areas (connect/data/demo_areas.geojson): province 24 holds BAC_GIANG and
# LUC_NAM; district 24-213 (Bắc Giang city) holds BAC_GIANG, district 24-220 holds LUC_NAM.
AREAS_FILE = ROOT / "connect" / "data" / "demo_areas.geojson"
OWN_AREA = "24"
LUC_NAM = (21.2930, 106.3960)


def ensure_demo_areas(app):
    """Import the demo areas into the test's database once."""
    from sqlalchemy import func, select

    from connect.areas.models import Area
    from connect.extensions import db

    with app.app_context():
        if db.session.execute(select(func.count(Area.id))).scalar_one():
            return
    result = app.test_cli_runner().invoke(args=["connect", "import-areas", str(AREAS_FILE)])
    assert result.exit_code == 0, result.output


COMMUNES_FILE = ROOT / "connect" / "data" / "demo_communes.geojson"


def ensure_demo_communes(app):
    """The demo areas and the demo communes in them (connect/data/demo_communes.geojson)."""
    from sqlalchemy import select

    from connect.areas.models import Area
    from connect.extensions import db

    ensure_demo_areas(app)
    with app.app_context():
        if db.session.execute(select(Area.id).where(Area.level == "commune").limit(1)).first():
            return
    result = app.test_cli_runner().invoke(args=["connect", "import-areas", str(COMMUNES_FILE)])
    assert result.exit_code == 0, result.output


STAFF_PASSWORD = "dieu-phoi-1"


@pytest.fixture
def create_staff(app, client):
    """A coordinator (or admin) made with the CLI, as in production; returns headers. Its
    password is STAFF_PASSWORD, its phone ``phone`` when given (to log in on the pages)."""

    def create(role="coordinator", areas=(OWN_AREA,), phone=None):
        phone, password = phone or new_phone(), STAFF_PASSWORD
        runner = app.test_cli_runner()
        if areas:
            ensure_demo_areas(app)
        result = runner.invoke(
            args=[
                "connect",
                "create-user",
                "--phone",
                phone,
                "--name",
                "Điều phối viên",
                "--role",
                role,
                "--password",
                password,
                *[
                    arg
                    for code in (areas if role == "coordinator" else ())
                    for arg in ("--area", code)
                ],
            ]
        )
        assert result.exit_code == 0, result.output
        token = client.post("/api/v1/auth/token", json={"phone": phone, "password": password})
        return {"Authorization": f"Bearer {token.get_json()['token']}"}

    return create


def fire_together(app, calls):
    """POST every (path, headers, json) at once, one thread and test client each."""
    import threading

    clients = [app.test_client() for _ in calls]
    barrier = threading.Barrier(len(calls), timeout=30)
    results = [None] * len(calls)

    def run(i):
        path, headers, body = calls[i]
        try:
            barrier.wait()
            response = clients[i].post(path, headers=headers, json=body)
            results[i] = (response.status_code, response.get_json(silent=True))
        except BaseException as exc:  # noqa: BLE001 - reported by the caller's assertions
            results[i] = ("exception", repr(exc))

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not any(thread.is_alive() for thread in threads), "a racing call hung"
    return results


# -- texts (connect.sms) --------------------------------------------------------------------


def texts_to(app, phone, kind=None):
    """The texts queued or sent to ``phone`` (oldest first) as (kind, status, body)."""
    from sqlalchemy import select

    from connect.extensions import db
    from connect.sms.models import OUT, SmsMessage

    with app.app_context():
        query = select(SmsMessage.kind, SmsMessage.status, SmsMessage.body).where(
            SmsMessage.direction == OUT, SmsMessage.phone == phone
        )
        if kind is not None:
            query = query.where(SmsMessage.kind == kind)
        return [tuple(row) for row in db.session.execute(query.order_by(SmsMessage.id))]


def handed_texts(app, monkeypatch):
    """What the gateway is handed from now on, as {number: [words]} filling as texts go: what
    a phone gets (a code's stored text forgets its words once sent)."""
    from collections import defaultdict

    handed = defaultdict(list)
    gateway = app.extensions["sms_gateway"]
    send = gateway.send

    def handing(message):
        send(message)
        handed[message.to].append(message.text)

    monkeypatch.setattr(gateway, "send", handing)
    return handed


def text_in(client, phone, text, **extra):
    """A text from ``phone`` as Kannel's get-url hands it over (international form, no plus)."""
    return client.get(
        "/sms/kannel/inbound",
        query_string={
            "secret": "test-sms-secret",
            "from": phone.lstrip("+"),
            "to": "8088",
            "text": text,
            "coding": "2",
            "charset": "UTF-8",
            **extra,
        },
    )


def csrf_token(client, path):
    """The CSRF token of the form on the page at ``path``."""
    import re

    response = client.get(path)
    assert response.status_code == 200, response.status_code
    match = re.search(r'name="csrf_token"[^>]*?value="([^"]+)"', response.get_data(as_text=True))
    assert match, f"no CSRF token in the form on {path}"
    return match.group(1)
