"""gunicorn settings, shipped in the wheel: `gunicorn -c python:connect.gunicorn_conf ...`."""

import os
import shutil
import tempfile

bind = f"127.0.0.1:{os.environ.get('PORT', '5000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
accesslog = "-"
# JSON lines with request ids, redacted (manage links, tokens, exact points): connect.logs.
logger_class = "connect.gunicorn_logging.RedactingLogger"
# gthread workers can hang on SIGINT in gunicorn 27; do not wait long for them.
graceful_timeout = 10
# gunicorn 27's control socket is one path per user: two instances (or a test run beside
# `make run`) would fight over it, and nothing here uses it.
control_socket_disable = True

# Metrics (connect.metrics): the workers write prometheus-client's multiprocess files here,
# and the master sums them on 127.0.0.1:METRICS_PORT. The variable must be set before a
# worker imports prometheus_client, so it is set here, in the master, before any fork.
# (Underscored names: gunicorn reads this module's other globals as its settings.)
_own_metrics_dir = not os.environ.get("PROMETHEUS_MULTIPROC_DIR")
if _own_metrics_dir:
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="connect-web-metrics-")
_metrics_dir = os.environ["PROMETHEUS_MULTIPROC_DIR"]


def on_starting(server):
    """Start from empty metrics: files left by a previous run would be summed in."""
    os.makedirs(_metrics_dir, exist_ok=True)
    for name in os.listdir(_metrics_dir):
        if name.endswith(".db"):
            os.remove(os.path.join(_metrics_dir, name))


def when_ready(server):
    """Serve every worker's metrics, summed, on 127.0.0.1:METRICS_PORT (no token: loopback)."""
    port = os.environ.get("METRICS_PORT")
    if not port:
        return
    from prometheus_client import CollectorRegistry, multiprocess, start_http_server

    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=_metrics_dir)
    start_http_server(int(port), addr="127.0.0.1", registry=registry)
    server.log.info("metrics on http://127.0.0.1:%s/metrics", port)


def post_worker_init(worker):
    """Load this worker's read model before it takes traffic, not on the first nearby query."""
    try:
        worker.wsgi.extensions["read_model"].ensure_fresh()
    except Exception:  # the model loads on first use instead; the database may be starting
        worker.log.exception("read model warm-up failed")


def child_exit(server, worker):
    """A worker's live gauges (its read model's last catch-up) go with it."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid, _metrics_dir)


def on_exit(server):
    if _own_metrics_dir:
        shutil.rmtree(_metrics_dir, ignore_errors=True)
