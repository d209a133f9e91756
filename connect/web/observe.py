"""What every answer tells the operators: a request id (X-Request-Id, on every log line) and
its count and time by route (connect.metrics), the nearby fast path's answers included; and
/metrics on the app's port for a caller with ``Authorization: Bearer $METRICS_TOKEN``."""

import hmac
from time import perf_counter

from flask import current_app, request

from connect import logs, metrics
from connect.errors import UNAVAILABLE_CAUSE, envelope

# Where an answer's route is left in the WSGI environ: Flask's endpoint, or the fast path's.
ROUTE = "connect.route"
UNMATCHED = ("unmatched", "app")
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class ObservedRequests:
    """WSGI middleware, outermost: request id in and out, then count and time the answer."""

    def __init__(self, wsgi_app):
        self.wsgi_app = wsgi_app

    def __call__(self, environ, start_response):
        started = perf_counter()
        request_id = logs.new_request_id(environ.get("HTTP_X_REQUEST_ID"))
        # Kept until the next request of this thread: gunicorn's own lines about this one
        # (a client gone mid-answer) come after the app returns, and carry it too.
        logs.request_id.set(request_id)
        sent = []

        def start(status, headers, exc_info=None):
            sent.append(status)
            headers.append(("X-Request-Id", request_id))
            return start_response(status, headers, exc_info)

        try:
            return self.wsgi_app(environ, start)
        finally:
            route, served_by = environ.get(ROUTE, UNMATCHED)
            method = environ.get("REQUEST_METHOD")
            metrics.observe_request(
                route,
                method if method in _METHODS else "other",
                sent[-1][:3] if sent else "500",
                served_by,
                perf_counter() - started,
                environ.get(UNAVAILABLE_CAUSE),
            )


def note_route(endpoint, _values):
    """Flask's route of this request (its endpoint), for the metrics; none for a 404/405."""
    request.environ[ROUTE] = (endpoint, "app") if endpoint else UNMATCHED


def serve_metrics():
    """/metrics on the app's port: 404 unless METRICS_TOKEN is set, 401 without it."""
    token = current_app.config["METRICS_TOKEN"]
    if not token:
        return envelope(404, "not_found", "Not found.")
    given = request.headers.get("Authorization", "")
    if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
        return envelope(
            401,
            "unauthorized",
            "Send Authorization: Bearer with the metrics token.",
            headers={"WWW-Authenticate": "Bearer"},
        )
    body, content_type = metrics.exposition()
    return current_app.response_class(body, content_type=content_type)


def init_app(app):
    """Note each request's route; serve /metrics; wrap the whole WSGI app (the fast path too)."""
    app.url_value_preprocessor(note_route)
    app.add_url_rule("/metrics", "metrics", serve_metrics)
    app.wsgi_app = ObservedRequests(app.wsgi_app)
