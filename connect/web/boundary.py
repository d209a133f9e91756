"""The request boundary: a request's action commits once when it went through, else it rolls back.

An action failed when an exception was raised while answering it (even one an error handler
turned into a redirect with a flash message), when a page answered its refusal through
``when_refused``, or when the answer is an error (a form sent back with 422, a 409, a 5xx).
A refusal that must leave a trace (a wrong one-time code uses up one of its tries) says so
with ``keep_despite_refusal``. Views never commit or roll back themselves: services flush,
this module ends the transaction.
"""

import json
from functools import wraps

from flask import g, request
from sqlalchemy.exc import DBAPIError

from connect.errors import ConnectError, envelope, handle_database_error
from connect.extensions import db

API_PREFIX = "/api/"
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
_FAILED = "_connect_action_failed"
_KEPT = "_connect_kept_despite_refusal"


def init_app(app):
    """Check JSON bodies first; end each request's transaction by how its action went."""
    app.before_request(require_json_body)
    app.after_request(finish_transaction)
    # Flask runs after_request on what an error handler answered, so a raised error is noted
    # where Flask hands it to the handlers: a redirect made of it must not commit.
    handle_user_exception = app.handle_user_exception

    @wraps(handle_user_exception)
    def note_then_handle(error):
        action_failed()
        return handle_user_exception(error)

    app.handle_user_exception = note_then_handle


def action_failed():
    """Note that this request's action failed: the boundary will roll it back, not commit."""
    g.setdefault(_FAILED, True)


def keep_despite_refusal():
    """Commit what this request wrote even though it answers a refusal (never a 5xx): call
    it when the refused action has written nothing else."""
    g.setdefault(_KEPT, True)


def when_refused(answer, *errors):
    """Answer a page action's refusal (``errors``, any ConnectError when none is named) with
    ``answer(error, *args, **kwargs)``, often a message and a redirect; nothing is kept."""
    refusals = errors or (ConnectError,)

    def decorate(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            try:
                return view(*args, **kwargs)
            except refusals as error:
                # Undone before answering: the answer reads the state the action left alone.
                action_failed()
                db.session.rollback()
                return answer(error, *args, **kwargs)

        return wrapped

    return decorate


def require_json_body():
    """415 for an API body that is not JSON, 400 for JSON that does not parse."""
    if not (
        request.method in BODY_METHODS
        and request.path.startswith(API_PREFIX)
        and (request.content_length or request.headers.get("Transfer-Encoding"))
    ):
        return None
    if not request.is_json:
        return envelope(
            415,
            "unsupported_media_type",
            "Send the body as JSON with Content-Type: application/json.",
        )
    # The argument parser only expects JSONDecodeError; absurd nesting or a number of
    # thousands of digits raise other errors, which are still the client's bad JSON.
    try:
        json.loads(request.get_data(cache=True))
    except (ValueError, RecursionError):
        return envelope(400, "invalid_json", "The body is not valid JSON.")
    return None


def finish_transaction(response):
    """Commit when the action went through; roll back when it failed or answered an error."""
    if not db.session.registry.has():
        return response  # the request never used the database session: nothing to end
    failed = response.status_code >= 400 or g.get(_FAILED)
    if failed and not (g.get(_KEPT) and response.status_code < 500):
        db.session.rollback()
        return response
    try:
        db.session.commit()
    except DBAPIError as exc:
        # Error handlers never see what after_request raises (Flask turns it into a 500):
        # a database that went away at the commit is answered 503 here.
        db.session.rollback()
        return handle_database_error(exc)
    except Exception:
        db.session.rollback()
        raise
    return response
