"""The ConnectError hierarchy and the one JSON error envelope."""

import logging

import marshmallow as ma
from flask import current_app, has_request_context, jsonify, request
from sqlalchemy.exc import DBAPIError, OperationalError
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)
# Where a request answered 503 says why (connect.web.observe counts it by this cause).
UNAVAILABLE_CAUSE = "connect.unavailable_cause"


class ConnectError(Exception):
    """An error a client can act on; rendered as the JSON error envelope."""

    status = 400
    code = "bad_request"
    message = "The request could not be processed."

    def __init__(self, message=None, details=None, code=None, status=None, headers=None):
        super().__init__(message or self.message)
        self.message = message or self.message
        self.details = details or {}
        self.code = code or self.code
        self.status = status or self.status
        self.headers = headers or {}


class ValidationFailed(ConnectError):
    status, code, message = 422, "validation_error", "Some fields are not valid."


class Unauthorized(ConnectError):
    status, code, message = 401, "unauthorized", "Authentication is required."


class Forbidden(ConnectError):
    status, code, message = 403, "forbidden", "You are not allowed to do this."


class NotFound(ConnectError):
    status, code, message = 404, "not_found", "Not found."


class Conflict(ConnectError):
    status, code, message = 409, "conflict", "The resource is not in a state that allows this."


class ClaimConflict(Conflict):
    code, message = "claim_conflict", "This request is no longer open to claim."


class ServiceUnavailable(ConnectError):
    status, code, message = 503, "service_unavailable", "The service is briefly unavailable."


class ErrorBodySchema(ma.Schema):
    """What went wrong: a stable code, a readable message, and details (fields, retry_after)."""

    code = ma.fields.String(required=True)
    message = ma.fields.String(required=True)
    details = ma.fields.Dict(required=True)


class ErrorSchema(ma.Schema):
    """The error envelope, as the OpenAPI document shows it (envelope() builds it)."""

    error = ma.fields.Nested(ErrorBodySchema, required=True)


def envelope(status, code, message, details=None, headers=None):
    response = jsonify({"error": {"code": code, "message": message, "details": details or {}}})
    response.status_code = status
    response.headers.update(headers or {})
    return response


_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
    503: "service_unavailable",
}


def handle_connect_error(error):
    return envelope(error.status, error.code, error.message, error.details, error.headers)


def handle_http_exception(error):
    status = error.code or 500
    details = {}
    data = getattr(error, "data", None) or {}
    messages = data.get("messages")
    if messages:
        # webargs nests field messages under the location ("json", "query"); clients want
        # the fields themselves.
        if isinstance(messages, dict) and len(messages) == 1:
            (only,) = messages.values()
            messages = only if isinstance(only, dict) else messages
        details = {"fields": messages}
    if status == 400 and isinstance(messages, dict) and "json" in messages:
        return envelope(400, "invalid_json", "The body is not valid JSON.")
    message = "Some fields are not valid." if status == 422 else error.description
    headers = {}
    if status == 405 and hasattr(error, "valid_methods") and error.valid_methods:
        headers = {"Allow": ", ".join(error.valid_methods)}
    return envelope(status, _HTTP_CODES.get(status, "http_error"), message, details, headers)


def note_unavailable(cause):
    """Say why this request is answered 503 (database_unavailable, read_model_stale, ...)."""
    if has_request_context():
        request.environ[UNAVAILABLE_CAUSE] = cause


def where():
    """A request for a log line: its method and route, never its path (a manage link's path
    holds the requester's key)."""
    return f"{request.method} {request.url_rule.rule if request.url_rule else '(no route)'}"


def handle_database_unavailable(error):
    log.warning("database unavailable on %s: %s", where(), error)
    note_unavailable("database_unavailable")
    return envelope(
        503,
        "database_unavailable",
        "The database is briefly unavailable. Try again.",
        headers={"Retry-After": "2"},
    )


def handle_unexpected(error):
    log.exception("unhandled error on %s", where())
    details = {"exception": repr(error)} if current_app.debug else {}
    return envelope(500, "internal_error", "Something went wrong on our side.", details)


def register_error_handlers(app):
    app.register_error_handler(ConnectError, handle_connect_error)
    app.register_error_handler(HTTPException, handle_http_exception)
    app.register_error_handler(OperationalError, handle_database_error)
    app.register_error_handler(DBAPIError, handle_database_error)
    app.register_error_handler(Exception, handle_unexpected)


def handle_database_error(error):
    """503 database_unavailable when the database is away; any other database error is a 500."""
    # A dropped or refused connection is the database being away, not a bug in this request.
    if (
        isinstance(error, DBAPIError)
        and error.connection_invalidated
        or _is_connection_error(error)
    ):
        return handle_database_unavailable(error)
    return handle_unexpected(error)


def _is_connection_error(error):
    text = str(getattr(error, "orig", error)).lower()
    return any(
        s in text
        for s in (
            "connection refused",
            "server closed the connection",
            "could not connect",
            "terminating connection",
            "connection is closed",
            "database is locked",
            "the database system is",
            "connection timeout",
            "consuming input failed",
        )
    )
