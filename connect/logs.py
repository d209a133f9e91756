"""Log lines as JSON (python-json-logger) or text, each with its request id, each redacted.

Every handler the service writes through, the app's, gunicorn's error and access logs and the
command-line processes', is set up by ``prepare``: the chosen form, the request id, and the
redaction filter (connect.redaction).
"""

import logging
import os
import re
from contextvars import ContextVar

from pythonjsonlogger.orjson import OrjsonFormatter

from connect.redaction import RedactionFilter

FORMATS = ("json", "text")
# The request being answered by this thread (connect.web.observe sets it); "-" outside one.
request_id = ContextVar("request_id", default="-")
# What nginx's $request_id looks like (32 hex digits), or a UUID: anything else is replaced.
_SANE_ID = re.compile(r"[0-9A-Fa-f-]{16,64}")

_JSON_FIELDS = ("asctime", "levelname", "name", "process", "request_id", "message")
_RENAMED = {"asctime": "time", "levelname": "level", "name": "logger", "process": "pid"}
_TEXT = "%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s"


def output_format(value=None):
    """LOG_FORMAT: "json" (the default, for production) or "text" (for people)."""
    value = (value or "json").strip().lower()
    if value not in FORMATS:
        raise ValueError(f"LOG_FORMAT must be one of {', '.join(FORMATS)}, not {value!r}")
    return value


def new_request_id(incoming=None):
    """The id of a request: the proxy's X-Request-Id when it looks like one, else a new one."""
    if incoming and _SANE_ID.fullmatch(incoming):
        return incoming
    return os.urandom(16).hex()


class RequestIdFilter(logging.Filter):
    """Adds ``request_id`` to a record, unless it brings one (gunicorn's access lines do)."""

    def filter(self, record):
        if "request_id" not in record.__dict__:
            record.request_id = request_id.get()
        return True


def formatter(form):
    if form == "text":
        return logging.Formatter(_TEXT)
    return OrjsonFormatter(_JSON_FIELDS, rename_fields=_RENAMED)


def prepare(handler, form):
    """Make ``handler`` write in ``form`` with request ids, through the redaction filter."""
    handler.setFormatter(formatter(form))
    for kind in (RequestIdFilter, RedactionFilter):
        if not any(isinstance(f, kind) for f in handler.filters):
            handler.addFilter(kind())
    return handler


def configure(form, level="INFO"):
    """Log to stderr in ``form`` from the root logger, unless the host set up logging (a test
    run, an embedding app): then it keeps its own handlers."""
    root = logging.getLogger()
    if root.handlers:
        return
    root.addHandler(prepare(logging.StreamHandler(), form))
    root.setLevel(level)
