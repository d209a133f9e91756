"""gunicorn settings, shipped in the wheel: `gunicorn -c python:connect.gunicorn_conf ...`."""
import os

bind = f"127.0.0.1:{os.environ.get('PORT', '5000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
accesslog = "-"
# Manage links (/m/<token>) are the requester's only key: never write them to a log.
logger_class = "connect.gunicorn_logging.RedactingLogger"
# gthread workers can hang on SIGINT in gunicorn 27; do not wait long for them.
graceful_timeout = 10


def post_worker_init(worker):
    """Load this worker's read model before it takes traffic, not on the first nearby query."""
    try:
        worker.wsgi.extensions["read_model"].ensure_fresh()
    except Exception:  # the model loads on first use instead; the database may be starting
        worker.log.exception("read model warm-up failed")
# gunicorn 27's control socket is one path per user: two instances (or a test run beside
# `make run`) would fight over it, and nothing here uses it.
control_socket_disable = True
