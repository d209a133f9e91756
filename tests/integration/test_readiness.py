"""/readyz: ready only when the database answers, its schema is at the migrations' head and
this process's read model is fresh; otherwise 503 in the envelope, naming the failed check.
/healthz stays liveness: 200 through all of it."""

import os
import shutil
import time

import psycopg
import pytest
from flask_migrate import downgrade, upgrade
from sqlalchemy import text

from connect.database import MIGRATIONS
from connect.extensions import db
from connect.health import script_heads

from conftest import make_app, request_payload

HEAD = list(script_heads(MIGRATIONS))


def not_ready(client, code):
    response = client.get("/readyz")
    body = response.get_json()
    assert response.status_code == 503, body
    assert body["error"]["code"] == code, body
    assert client.get("/healthz").status_code == 200
    return body["error"]


def wait_until_ready(client, seconds=10):
    deadline = time.monotonic() + seconds
    while (response := client.get("/readyz")).status_code != 200:
        assert time.monotonic() < deadline, response.get_json()
        time.sleep(0.1)
    return response.get_json()


@pytest.fixture
def close_app():
    apps = []
    yield apps.append
    for app in apps:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


def test_ready_on_a_migrated_database(app, client, backend):
    client.post("/api/v1/requests", json=request_payload())
    response = client.get("/readyz")
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["status"] == "ready" and body["environment"] == "development"
    assert body["database"] == {"sqlite": "sqlite", "postgis": "postgresql"}[backend]
    assert body["migration"] == ",".join(HEAD)
    model = body["read_model"]
    assert model["open_requests"] == 1
    assert 0 <= model["staleness_s"] <= model["max_staleness_s"] == 3.0
    assert client.get("/healthz").get_json() == {"status": "ok"}


def test_readiness_needs_no_login_token_or_csrf_and_tells_no_secret(app, client):
    body = client.get("/readyz").get_data(as_text=True)
    for secret in (
        app.config["SECRET_KEY"],
        app.config["BLUR_SECRET"],
        app.config["SQLALCHEMY_DATABASE_URI"],
    ):
        assert secret not in body
    assert client.head("/readyz").status_code == 200


@pytest.fixture
def database_to_lose(request, backend, tmp_path):
    """A database of this test's own and (take_away, bring_back) for it."""
    if backend == "postgis":
        cluster = request.getfixturevalue("pg_cluster")
        url = request.getfixturevalue("database_url")
        name = url.rsplit("/", 1)[1]

        def allow(connections):
            with psycopg.connect(cluster.admin_dsn, autocommit=True) as admin:
                admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS {connections}')
                if not connections:  # and end the ones open now, pooled ones too
                    admin.execute(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = %s",
                        (name,),
                    )

        yield url, lambda: allow("false"), lambda: allow("true")
        allow("true")
        return
    # SQLite: the folder holding the file goes away (an unmounted volume); a connection
    # then cannot even make a new, empty file.
    volume = tmp_path / "volume"
    volume.mkdir()
    shutil.copyfile(request.getfixturevalue("sqlite_template"), volume / "connect.db")
    yield (
        f"sqlite:///{volume / 'connect.db'}",
        lambda: os.rename(volume, f"{volume}.away"),
        lambda: os.rename(f"{volume}.away", volume),
    )


def test_503_while_the_database_does_not_answer_then_ready_again(database_to_lose, close_app):
    url, take_away, bring_back = database_to_lose
    app = make_app(url)
    close_app(app)
    client = app.test_client()
    assert client.get("/readyz").status_code == 200
    take_away()
    with app.app_context():
        db.engine.dispose()  # SQLite keeps its file open; PostgreSQL's were ended above
    error = not_ready(client, "database_unavailable")
    assert error["details"] == {"check": "database"}
    bring_back()
    wait_until_ready(client)


def test_503_while_a_migration_is_missing(app, client):
    assert client.get("/readyz").status_code == 200
    with app.app_context():
        downgrade(revision="-1")
        db.session.remove()
    error = not_ready(client, "migrations_not_at_head")
    assert error["details"]["check"] == "migrations" and error["details"]["head"] == HEAD
    assert error["details"]["database"] != HEAD and len(error["details"]["database"]) == 1
    assert "flask db upgrade" in error["message"]
    with app.app_context():
        upgrade()
        db.session.remove()
    assert client.get("/readyz").status_code == 200


def test_503_on_an_empty_database(tmp_path, close_app):
    app = make_app(f"sqlite:///{tmp_path / 'empty.db'}")
    close_app(app)
    error = not_ready(app.test_client(), "migrations_not_at_head")
    assert error["details"]["database"] == []


def test_503_when_the_read_model_is_stale(database_url, close_app):
    """The database answers and is migrated, but this process's read model cannot catch up
    (here its table is renamed away): ready until the staleness limit, then 503."""
    app = make_app(database_url, READ_MODEL_MAX_STALENESS=0.5)
    close_app(app)
    client = app.test_client()
    client.post("/api/v1/requests", json=request_payload())
    assert client.get("/readyz").status_code == 200

    def rename(old, new):
        with app.app_context(), db.engine.begin() as connection:
            connection.execute(text(f"ALTER TABLE {old} RENAME TO {new}"))

    rename("help_requests", "help_requests_away")
    try:
        time.sleep(0.7)
        error = not_ready(client, "read_model_stale")
        assert error["details"]["check"] == "read_model"
        assert error["details"]["staleness_s"] > error["details"]["max_staleness_s"] == 0.5
    finally:
        rename("help_requests_away", "help_requests")
    assert wait_until_ready(client)["read_model"]["open_requests"] == 1
