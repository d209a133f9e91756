"""The test app of serve.py, plus a request that fails on purpose, for the log scan.

    gunicorn ... --pythonpath .,tests/support serve_errors:app

A request sent with the header ``X-Fault-Raise`` raises an error whose message holds that
header's value and the request's path: tests/integration/test_log_redaction.py proves that
what reaches gunicorn's logs is redacted. Never in production: it lives in the test tree.
"""

from flask import request
from serve import app


@app.before_request
def raise_on_request():
    said = request.headers.get("X-Fault-Raise")
    if said:
        raise RuntimeError(f"failed on purpose on {request.path}: {said}")
