"""`flask connect create-user`, `flask connect seed` and `flask db upgrade`, on both databases."""

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, inspect, select, text

from conftest import make_app, new_phone, request_payload

ROOT = Path(__file__).resolve().parents[2]
FLASK = Path(sys.executable).with_name("flask")
APP_TABLES = {
    "users",
    "api_tokens",
    "volunteers",
    "help_requests",
    "assists",
    "request_events",
    "alembic_version",
}


def local_form(phone):
    """+8491xxxxxxx -> 091xxxxxxx: the form people type."""
    return "0" + phone[3:]


def users(app):
    """{phone: role} of every account."""
    from connect.accounts.models import User
    from connect.extensions import db

    with app.app_context():
        try:
            return dict(db.session.execute(select(User.phone, User.role)).all())
        finally:
            db.session.remove()


def create_user(runner, *args, **kwargs):
    return runner.invoke(args=["connect", "create-user", *args], **kwargs)


def login(client, phone, password):
    response = client.post("/api/v1/auth/token", json={"phone": phone, "password": password})
    assert response.status_code == 200, response.get_json()
    headers = {"Authorization": f"Bearer {response.get_json()['token']}"}
    return client.get("/api/v1/auth/me", headers=headers).get_json()


# -- create-user ---------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["coordinator", "admin"])
def test_create_user_makes_a_staff_account(app, client, runner, role):
    phone = new_phone()
    result = create_user(
        runner,
        "--phone",
        local_form(phone),
        "--name",
        "Điều phối viên",
        "--role",
        role,
        "--password",
        "dieu-phoi-1",
    )
    assert result.exit_code == 0, result.output
    assert role in result.output and phone in result.output
    assert users(app) == {phone: role}  # stored in the normalised form
    me = login(client, phone, "dieu-phoi-1")
    assert me["role"] == role and me["name"] == "Điều phối viên"


def test_create_user_defaults_to_coordinator_and_prompts_for_the_password(app, client, runner):
    phone = new_phone()
    result = create_user(
        runner, "--phone", phone, "--name", "Điều phối viên", input="dieu-phoi-2\ndieu-phoi-2\n"
    )
    assert result.exit_code == 0, result.output
    assert users(app) == {phone: "coordinator"}
    assert login(client, phone, "dieu-phoi-2")["role"] == "coordinator"


@pytest.mark.parametrize(
    "phone", ["12345", "+1 202 555 0100", "0241234567", "091234567", "not a phone"]
)
def test_create_user_refuses_a_bad_phone(app, runner, phone):
    result = create_user(
        runner, "--phone", phone, "--name", "X", "--role", "admin", "--password", "dieu-phoi-1"
    )
    assert result.exit_code != 0
    assert "--phone" in result.output and "Vietnamese mobile" in result.output, result.output
    assert "Traceback" not in result.output
    assert users(app) == {}


def test_create_user_refuses_a_short_password(app, runner):
    result = create_user(
        runner, "--phone", new_phone(), "--name", "X", "--role", "admin", "--password", "short"
    )
    assert result.exit_code != 0
    assert "--password" in result.output and "8 characters" in result.output, result.output
    assert users(app) == {}


def test_create_user_refuses_a_phone_already_taken(app, client, runner):
    phone = new_phone()
    registered = client.post(
        "/api/v1/auth/register", json={"phone": phone, "password": "mat-khau-1", "name": "Dân"}
    )
    assert registered.status_code == 201
    for role in ("admin", "coordinator"):
        # The same number in its other written form is the same number.
        result = create_user(
            runner,
            "--phone",
            local_form(phone),
            "--name",
            "X",
            "--role",
            role,
            "--password",
            "dieu-phoi-1",
        )
        assert result.exit_code != 0
        assert "already exists" in result.output, result.output
    assert users(app) == {phone: "resident"}  # the resident was not promoted either

    staff = new_phone()
    assert (
        create_user(runner, "--phone", staff, "--name", "A", "--password", "dieu-phoi-1").exit_code
        == 0
    )
    again = create_user(runner, "--phone", staff, "--name", "B", "--password", "dieu-phoi-9")
    assert again.exit_code != 0 and "already exists" in again.output
    assert login(client, staff, "dieu-phoi-1")["name"] == "A"


@pytest.mark.parametrize(
    "extra",
    [{"role": "coordinator"}, {"role": "admin"}, {"role": "coordinator", "is_staff": True}],
)
def test_public_registration_never_makes_staff(app, client, extra):
    phone = new_phone()
    response = client.post(
        "/api/v1/auth/register",
        json={"phone": phone, "password": "mat-khau-1", "name": "Kẻ mạo danh", **extra},
    )
    assert response.status_code in (201, 422), response.get_json()
    if response.status_code == 422:
        assert "role" in str(response.get_json()["error"]["details"])
        assert users(app) == {}
    else:
        assert response.get_json()["role"] == "resident"
        assert login(client, phone, "mat-khau-1")["role"] == "resident"
        assert users(app) == {phone: "resident"}


# -- seed ----------------------------------------------------------------------------------


def _count_requests(app):
    from connect.extensions import db
    from connect.requests.models import HelpRequest

    with app.app_context():
        try:
            return db.session.execute(select(func.count(HelpRequest.id))).scalar_one()
        finally:
            db.session.remove()


def test_seed_fills_an_empty_database_once(app, client, runner):
    from connect.demo import DEMO_COORDINATOR, DEMO_VOLUNTEER

    first = runner.invoke(args=["connect", "seed"])
    assert first.exit_code == 0, first.output
    seeded = _count_requests(app)
    assert seeded > 0 and f"{seeded} requests" in first.output
    assert users(app) == {
        DEMO_VOLUNTEER["phone"]: "volunteer",
        DEMO_COORDINATOR["phone"]: "coordinator",
    }
    nearby = client.get("/api/v1/requests/nearby?lat=21.2731&lon=106.1946&radius_m=5000")
    assert nearby.status_code == 200 and nearby.get_json()["items"]

    second = runner.invoke(args=["connect", "seed"])
    assert second.exit_code == 0, second.output
    assert "skipped" in second.output
    assert _count_requests(app) == seeded
    assert len(users(app)) == 2


# -- flask db upgrade ----------------------------------------------------------------------


@pytest.fixture
def empty_database_url(backend, tmp_path, request):
    """A database with no tables, as set up by docs/deploy.md (PostGIS: extension only)."""
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'fresh' / 'connect.db'}"
    import psycopg

    cluster = request.getfixturevalue("pg_cluster")
    name = f"empty_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(cluster.admin_dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" OWNER connect TEMPLATE template0')
    with psycopg.connect(cluster.dsn_for(name, "postgres"), autocommit=True) as conn:
        conn.execute("CREATE EXTENSION postgis")
    return cluster.url_for(name)


def _flask(*args, database_url):
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "SECRET_KEY": "test-secret",
        "DEMO_DATA": "0",
        "RATELIMIT_ENABLED": "false",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    return subprocess.run(
        [str(FLASK), "--app", "wsgi", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def _tables_and_version(database_url):
    from connect.database import engine_options, setup_engine

    options = engine_options(database_url, {})
    engine = create_engine(database_url, **options)
    setup_engine(engine)
    try:
        tables = set(inspect(engine).get_table_names())
        with engine.connect() as conn:
            version = conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
        return tables, version
    finally:
        engine.dispose()


def test_db_upgrade_on_an_empty_database(empty_database_url, backend):
    from alembic.script import ScriptDirectory

    if backend == "sqlite":
        Path(empty_database_url.removeprefix("sqlite:///")).parent.mkdir()
    head = ScriptDirectory(str(ROOT / "connect" / "migrations")).get_current_head()

    result = _flask("db", "upgrade", database_url=empty_database_url)
    assert result.returncode == 0, result.stdout + result.stderr
    tables, version = _tables_and_version(empty_database_url)
    assert APP_TABLES <= tables and version == head

    again = _flask("db", "upgrade", database_url=empty_database_url)  # nothing left to do
    assert again.returncode == 0, again.stdout + again.stderr
    assert _tables_and_version(empty_database_url) == (tables, version)

    from connect.extensions import db

    app = make_app(empty_database_url)
    try:
        client = app.test_client()
        posted = client.post("/api/v1/requests", json=request_payload())
        assert posted.status_code == 201, posted.get_json()
        nearby = client.get("/api/v1/requests/nearby?lat=21.2731&lon=106.1946").get_json()
        assert [item["id"] for item in nearby["items"]] == [posted.get_json()["id"]]
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
