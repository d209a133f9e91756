"""Rotating SECRET_KEY: with the previous key in SECRET_KEY_FALLBACKS, sessions, CSRF tokens and
stored idempotent answers made under it keep working; new ones use the new key; without the
fallback they stop. Public locations never move (BLUR_SECRET is its own key)."""

import re
import shutil
import uuid

import pytest
from sqlalchemy import func, select

from connect.extensions import db
from connect.requests.models import HelpRequest
from connect.spatial import latlon

from conftest import BAC_GIANG, make_app, new_phone, request_payload

API = "/api/v1/requests"
OLD, NEW = "old-" + "o" * 60, "new-" + "n" * 60
PASSWORD = "mat-khau-1"
CSRF = re.compile(
    r'name="csrf_token" type="hidden" value="([^"]+)"'
    r'|name="csrf_token" value="([^"]+)"'
)


def rotation(url):
    """One database; the app before the rotation, during its window, and after it."""
    made = {
        "before": make_app(url, SECRET_KEY=OLD),
        "rotated": make_app(url, SECRET_KEY=NEW, SECRET_KEY_FALLBACKS=[OLD]),
        "after": make_app(url, SECRET_KEY=NEW),
    }
    yield made
    for app in made.values():
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


@pytest.fixture
def apps(database_url):
    """The three apps on each backend: stored answers and public points live in the database."""
    yield from rotation(database_url)


@pytest.fixture
def page_apps(sqlite_template, tmp_path):
    """The three apps on SQLite only: sessions and CSRF tokens live in the browser's cookie."""
    shutil.copyfile(sqlite_template, tmp_path / "connect.db")
    yield from rotation(f"sqlite:///{tmp_path / 'connect.db'}")


def carry_session(from_client, app):
    """A client of ``app`` holding the browser cookie ``from_client`` was given."""
    client = app.test_client()
    client.set_cookie("session", from_client.get_cookie("session").value)
    return client


def csrf_token(page):
    match = CSRF.search(page.get_data(as_text=True))
    return match.group(1) or match.group(2)


def register(client):
    phone = new_phone()
    response = client.post(
        "/api/v1/auth/register",
        json={"phone": phone, "password": PASSWORD, "name": "Trần Thị Bình"},
    )
    assert response.status_code == 201, response.get_json()
    return phone


def signed_in(client):
    """True when the client's session is someone's (the profile page needs a login)."""
    response = client.get("/volunteer/profile")
    assert response.status_code in (200, 302)
    return response.status_code == 200


# -- sessions ---------------------------------------------------------------------------------


def test_a_session_from_before_the_rotation_stays_signed_in_during_the_window(page_apps):
    before = page_apps["before"].test_client()
    phone = register(before)
    form = before.get("/login")
    logged_in = before.post(
        "/login", data={"csrf_token": csrf_token(form), "phone": phone, "password": PASSWORD}
    )
    assert logged_in.status_code == 302 and signed_in(before)

    assert signed_in(carry_session(before, page_apps["rotated"]))
    assert not signed_in(carry_session(before, page_apps["after"]))


def test_a_session_made_during_the_window_is_signed_with_the_new_key(page_apps):
    rotated = page_apps["rotated"].test_client()
    phone = register(rotated)
    form = rotated.get("/login")
    rotated.post(
        "/login", data={"csrf_token": csrf_token(form), "phone": phone, "password": PASSWORD}
    )
    assert signed_in(carry_session(rotated, page_apps["after"]))
    assert not signed_in(carry_session(rotated, page_apps["before"]))


# -- CSRF tokens ------------------------------------------------------------------------------


def test_a_form_opened_before_the_rotation_still_posts_during_the_window(page_apps):
    before = page_apps["before"].test_client()
    phone = register(before)
    token = csrf_token(before.get("/login"))  # the form is opened, then the key rotates

    rotated = carry_session(before, page_apps["rotated"])
    posted = rotated.post(
        "/login", data={"csrf_token": token, "phone": phone, "password": PASSWORD}
    )
    assert posted.status_code == 302 and posted.headers["Location"].endswith("/volunteer")
    assert signed_in(rotated)


def test_flask_wtf_alone_would_refuse_that_form(page_apps):
    """The control: the session opens with the fallback, but a CSRF check that knows only the
    new key (Flask-WTF's default) refuses the token, and nobody is signed in."""
    before = page_apps["before"].test_client()
    phone = register(before)
    token = csrf_token(before.get("/login"))
    app = page_apps["rotated"]
    app.config["WTF_CSRF_SECRET_KEY"] = app.config["SECRET_KEY"]
    client = carry_session(before, app)
    refused = client.post(
        "/login", data={"csrf_token": token, "phone": phone, "password": PASSWORD}
    )
    assert refused.status_code in (302, 400) and not signed_in(client)
    assert not refused.headers.get("Location", "").endswith("/volunteer")


def test_after_the_window_an_old_form_is_refused(page_apps):
    before = page_apps["before"].test_client()
    phone = register(before)
    token = csrf_token(before.get("/login"))
    client = carry_session(before, page_apps["after"])
    client.post("/login", data={"csrf_token": token, "phone": phone, "password": PASSWORD})
    assert not signed_in(client)


# -- stored idempotent answers ----------------------------------------------------------------


def keyed(key):
    return {"Idempotency-Key": key}


def read(app, read_it):
    """What ``read_it(session)`` reads from the app's database."""
    with app.app_context():
        try:
            return read_it(db.session)
        finally:
            db.session.remove()


def requests_posted(app):
    return read(app, lambda session: session.scalar(select(func.count(HelpRequest.id))))


def test_a_retry_of_a_post_made_before_the_rotation_replays_its_answer(apps):
    payload, key = request_payload(), str(uuid.uuid4())
    first = apps["before"].test_client().post(API, json=payload, headers=keyed(key))
    assert first.status_code == 201

    again = apps["rotated"].test_client().post(API, json=payload, headers=keyed(key))
    assert again.status_code == 201, again.get_json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json() == first.get_json()
    assert requests_posted(apps["rotated"]) == 1
    # The same key with another body is still told apart under the old key.
    other = apps["rotated"].test_client().post(API, json=request_payload(), headers=keyed(key))
    assert other.status_code == 422
    assert other.get_json()["error"]["code"] == "idempotency_key_reused"


def test_a_key_first_used_during_the_window_is_stored_under_the_new_key(apps):
    payload, key = request_payload(), str(uuid.uuid4())
    first = apps["rotated"].test_client().post(API, json=payload, headers=keyed(key))
    assert first.status_code == 201
    again = apps["after"].test_client().post(API, json=payload, headers=keyed(key))
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json() == first.get_json()


def test_after_the_window_an_old_key_answers_nothing_and_the_post_runs_again(apps):
    """Documented: once the old key leaves SECRET_KEY_FALLBACKS its stored answers are
    unreadable; the retry runs again (here it meets the duplicate rule), never a 500."""
    payload, key = request_payload(), str(uuid.uuid4())
    assert (
        apps["before"].test_client().post(API, json=payload, headers=keyed(key)).status_code == 201
    )
    again = apps["after"].test_client().post(API, json=payload, headers=keyed(key))
    assert again.status_code == 409 and "Idempotent-Replayed" not in again.headers
    assert again.get_json()["error"]["code"] == "duplicate_request"
    assert requests_posted(apps["after"]) == 1


# -- public locations -------------------------------------------------------------------------


def public_point(app, request_id):
    return read(app, lambda session: latlon(session.get(HelpRequest, request_id).public_location))


def test_rotating_the_session_key_never_moves_a_public_location(apps):
    """A household posting again from home after the rotation gets the public point it got
    before: the blur is keyed by BLUR_SECRET alone."""
    phone, points = new_phone(), []
    for name in ("before", "rotated", "after"):
        client = apps[name].test_client()
        posted = client.post(API, json=request_payload(at=BAC_GIANG, phone=phone)).get_json()
        points.append(public_point(apps[name], posted["id"]))
        assert (
            client.post(
                f"{API}/{posted['id']}/cancel",
                json={},
                headers={"X-Manage-Token": posted["manage_token"]},
            ).status_code
            == 200
        )
    assert points[0] == points[1] == points[2]
    assert points[0] != pytest.approx(BAC_GIANG, abs=1e-3)
