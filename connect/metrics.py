"""Every Prometheus metric of the service (prometheus-client; names start ``connect_``), and
the small functions the rest of the code sets them with. Nothing else defines a metric.

Processes (docs/operations.md, "Metrics"):
- the web server: connect/gunicorn_conf.py puts its workers in prometheus-client's multiprocess mode
  (PROMETHEUS_MULTIPROC_DIR, emptied at start); the master sums them on 127.0.0.1:METRICS_PORT,
  and ``/metrics`` on the app's port answers with ``Authorization: Bearer $METRICS_TOKEN``;
- the worker and the scheduler: each keeps its own metrics and serves them with
  ``serve_process_metrics(port)`` on 127.0.0.1:WORKER_METRICS_PORT / SCHEDULER_METRICS_PORT
  (in memory; in multiprocess mode only if that process was given a directory of its own).
Multiprocess mode has no callbacks: a time is a timestamp gauge, set when it happens.
"""

import os
import time
from contextlib import contextmanager

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
    start_http_server,
)

# From the fast path's ~0.3 ms to a slow export's seconds.
_LATENCY_BUCKETS = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
)
_JOB_BUCKETS = (0.01, 0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 900.0)

# -- HTTP ----------------------------------------------------------------------------------
# Its _count is the number of answers by route (the endpoint, never the path: manage links
# hold tokens), method, status and what answered (app: Flask; fast_path: the nearby fast
# path). One histogram, no separate counter: each costs ~1.5 us a request in multiprocess mode.
HTTP_LATENCY = Histogram(
    "connect_http_request_duration_seconds",
    "Time to answer, until the body is handed to "
    "the server, by route, method, status and what answered (app, fast_path).",
    ["route", "method", "status", "served_by"],
    buckets=_LATENCY_BUCKETS,
)
UNAVAILABLE = Counter(
    "connect_unavailable_responses_total",
    "503 answers by cause: database_unavailable, read_model_stale, not_ready, other.",
    ["cause"],
)

# -- the read model ------------------------------------------------------------------------
READ_MODEL_CAUGHT_UP = Gauge(
    "connect_read_model_last_catch_up_timestamp_seconds",
    "When this process's read model "
    "last caught up with the database (Unix time); staleness is time() minus this.",
    multiprocess_mode="liveall",
)
READ_MODEL_CATCH_UP = Histogram(
    "connect_read_model_catch_up_duration_seconds",
    "Time of a successful catch-up: a whole "
    "load (kind=load) or the changes since the last one (kind=changes).",
    ["kind"],
    buckets=_LATENCY_BUCKETS,
)
READ_MODEL_FAILURES = Counter(
    "connect_read_model_catch_up_failures_total", "Catch-ups that failed (the database away)."
)

# -- what volunteers do --------------------------------------------------------------------
CLAIMS = Counter("connect_requests_claimed_total", "Requests claimed (or asked of an offer).")
HELPED = Counter("connect_requests_helped_total", "Requests a volunteer marked helped.")
CONFIRMED = Counter("connect_requests_confirmed_total", "Help the requester confirmed.")

# -- the outbox (set by `flask connect worker`) --------------------------------------------
OUTBOX_DEPTH = Gauge(
    "connect_outbox_depth", "Outbox rows waiting to be run.", multiprocess_mode="livemostrecent"
)
OUTBOX_OLDEST_AGE = Gauge(
    "connect_outbox_oldest_pending_age_seconds",
    "Age of the oldest waiting outbox row (0 when none waits).",
    multiprocess_mode="livemostrecent",
)
OUTBOX_PROCESSED = Counter(
    "connect_outbox_processed_total", "Outbox rows run, by topic.", ["topic"]
)
OUTBOX_FAILED = Counter(
    "connect_outbox_failed_total", "Outbox attempts that failed, by topic.", ["topic"]
)

# -- scheduled jobs (set by `flask connect scheduler`) --------------------------------------
JOB_LAST_SUCCESS = Gauge(
    "connect_job_last_success_timestamp_seconds",
    "When each job last ran to the end (Unix time).",
    ["job"],
    multiprocess_mode="max",
)
JOB_DURATION = Histogram(
    "connect_job_duration_seconds",
    "Job run time, by job and outcome (ok, failed).",
    ["job", "outcome"],
    buckets=_JOB_BUCKETS,
)

_answers = {}  # (route, method, status, served_by) -> its histogram


def observe_request(route, method, status, served_by, seconds, cause=None):
    """Count one answer and its time (``status`` as text: "200"); a 503 also by cause."""
    key = (route, method, status, served_by)
    histogram = _answers.get(key)
    if histogram is None:
        histogram = _answers[key] = HTTP_LATENCY.labels(*key)
    histogram.observe(seconds)
    if status == "503":
        UNAVAILABLE.labels(cause or "other").inc()


def read_model_caught_up(seconds, kind):
    """A catch-up of ``kind`` (load, changes) took ``seconds`` and succeeded, now."""
    READ_MODEL_CAUGHT_UP.set(time.time())
    READ_MODEL_CATCH_UP.labels(kind).observe(seconds)


def read_model_catch_up_failed():
    READ_MODEL_FAILURES.inc()


# Receivers of the request signals (create_app connects them): counted when announced, in
# the transaction that claims; the rare one that fails after it is counted too.
def count_claimed(_help_request, **_details):
    CLAIMS.inc()


def count_helped(_help_request, **_details):
    HELPED.inc()


def count_confirmed(_help_request, **_details):
    CONFIRMED.inc()


def set_outbox_backlog(depth, oldest_age_seconds):
    """The worker's view of the outbox: rows waiting, and how long the oldest has waited."""
    OUTBOX_DEPTH.set(depth)
    OUTBOX_OLDEST_AGE.set(oldest_age_seconds)


def outbox_processed(topic):
    OUTBOX_PROCESSED.labels(topic).inc()


def outbox_failed(topic):
    OUTBOX_FAILED.labels(topic).inc()


@contextmanager
def timed_job(job):
    """Time one run of ``job``; a run that ends without an exception is its last success."""
    started = time.perf_counter()
    try:
        yield
    except BaseException:
        JOB_DURATION.labels(job, "failed").observe(time.perf_counter() - started)
        raise
    JOB_DURATION.labels(job, "ok").observe(time.perf_counter() - started)
    JOB_LAST_SUCCESS.labels(job).set(time.time())


def multiprocess_dir():
    """This process's multiprocess directory, or None when its metrics live in memory."""
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


def collected(directory=None):
    """The registry to expose: every process's files in multiprocess mode, else this one's."""
    directory = directory or multiprocess_dir()
    if directory is None:
        return REGISTRY
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=directory)
    return registry


def exposition():
    """The text exposition of every metric: (body, content type)."""
    return generate_latest(collected()), CONTENT_TYPE_LATEST


def serve_process_metrics(port):
    """Serve this process's metrics on 127.0.0.1:``port`` from a thread (the worker's and
    the scheduler's); nothing when ``port`` is unset. Returns the server, or None."""
    if not port:
        return None
    server, _thread = start_http_server(int(port), addr="127.0.0.1", registry=collected())
    return server
