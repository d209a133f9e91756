"""The page boundary: a page action that fails keeps nothing it wrote, however it answers."""

import pytest
from flask import Blueprint, flash, redirect
from sqlalchemy import select

from connect.errors import Conflict
from connect.web.boundary import when_refused

from conftest import make_app, new_phone

PAGES = Blueprint("boundary_test", __name__, url_prefix="/boundary-test")


def _write(name):
    """A service's part of an action: it adds a row and flushes (the boundary commits)."""
    from connect.accounts.models import User
    from connect.extensions import db

    db.session.add(User(phone=new_phone(), name=name, password_hash="x"))
    db.session.flush()


@PAGES.errorhandler(Conflict)
def _conflict_as_a_message(error):
    # As the pages do it: a redirect with a flash message, status 302.
    flash(error.message, "error")
    return redirect("/")


@PAGES.post("/done")
def done():
    _write("done")
    return redirect("/")


@PAGES.post("/raised")
def raised():
    _write("raised")
    raise Conflict("It changed meanwhile.")


def _refused_answer(error):
    flash(error.message, "error")
    return redirect("/")


@PAGES.post("/refused")
@when_refused(_refused_answer)
def refused():
    _write("refused")
    raise Conflict("It changed meanwhile.")


@PAGES.post("/form-error")
def form_error():
    _write("form-error")
    return "the form again, with its errors", 422


@pytest.fixture
def app(database_url):
    from connect.extensions import db

    app = make_app(database_url, WTF_CSRF_ENABLED=False)
    app.register_blueprint(PAGES)
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def names(app):
    from connect.accounts.models import User
    from connect.extensions import db

    with app.app_context():
        return set(db.session.execute(select(User.name)).scalars())


def test_an_action_that_goes_through_is_committed(app):
    response = app.test_client().post("/boundary-test/done")
    assert response.status_code == 302
    assert names(app) == {"done"}


def test_an_error_an_error_handler_turned_into_a_redirect_keeps_nothing(app):
    response = app.test_client().post("/boundary-test/raised")
    assert response.status_code == 302  # after_request saw a redirect, not an error status
    assert names(app) == set()


def test_a_refusal_caught_and_answered_with_a_redirect_keeps_nothing(app):
    response = app.test_client().post("/boundary-test/refused")
    assert response.status_code == 302
    assert names(app) == set()


def test_a_form_sent_back_with_its_errors_keeps_nothing(app):
    response = app.test_client().post("/boundary-test/form-error")
    assert response.status_code == 422
    assert names(app) == set()


def test_a_failed_action_leaves_the_next_request_a_clean_transaction(app):
    client = app.test_client()
    client.post("/boundary-test/refused")
    client.post("/boundary-test/raised")
    assert client.post("/boundary-test/done").status_code == 302
    assert names(app) == {"done"}
