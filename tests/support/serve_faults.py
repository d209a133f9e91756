"""The test app of serve.py, plus a pause inside a request's transaction that fault tests turn on.

    FAULT_PAUSE_DIR=/tmp/x gunicorn ... --pythonpath .,tests/support serve_faults:app

With FAULT_PAUSE_DIR set (never in production: the hooks live in the test tree), every response
names its worker in ``X-Worker-Pid``, and a request sent with the header ``X-Fault-Pause: NAME``
flushes all its writes, writes its worker's pid to ``FAULT_PAUSE_DIR/NAME`` and waits before
committing until the test deletes that file: the test knows a worker that is in the middle of a
write, and kills it there, or stops the database under it and lets it go on
(tests/integration/test_faults.py). Without FAULT_PAUSE_DIR this is serve.py unchanged.
"""

import os
import time
from pathlib import Path

from flask import has_request_context, request
from serve import app
from sqlalchemy import event

from connect.extensions import db

PAUSE_DIR = os.environ.get("FAULT_PAUSE_DIR")
PAUSE_SECONDS = 60.0  # at most: a test that forgot to let it go still ends

if PAUSE_DIR:

    @event.listens_for(db.session, "before_commit")
    def pause_before_commit(session):
        """Hold a flagged request between its last write and its commit."""
        if not has_request_context() or session.in_nested_transaction():
            return  # a savepoint's release is not the request's commit
        name = request.headers.get("X-Fault-Pause")
        if not name or not name.isalnum():
            return
        session.flush()  # every write of the request is in the database, uncommitted
        marker = Path(PAUSE_DIR) / name
        partial = marker.with_suffix(".tmp")
        partial.write_text(str(os.getpid()))
        partial.rename(marker)  # the test reads a whole pid or nothing
        deadline = time.monotonic() + PAUSE_SECONDS
        while marker.exists() and time.monotonic() < deadline:
            time.sleep(0.01)

    @app.after_request
    def name_worker(response):
        """Say which worker answered, so a test can tell a replacement worker is serving."""
        response.headers["X-Worker-Pid"] = str(os.getpid())
        return response


__all__ = ["app"]
