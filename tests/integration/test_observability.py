"""What the service tells its operators: request ids, Prometheus metrics (in the app, and summed
over gunicorn's workers by the master), and the worker's and scheduler's own metrics."""

import io
import json
import logging
import os
import re
import subprocess
import sys
import time

import pytest
import requests
from prometheus_client import REGISTRY
from sqlalchemy.exc import OperationalError

from connect import logs, metrics

from conftest import make_app, request_payload
from served import ROOT, Gunicorn, free_port

NEARBY = "/api/v1/requests/nearby"
HERE = "lat=21.2731&lon=106.1946&radius_m=5000"
HISTOGRAM = "connect_http_request_duration_seconds"


def answers(route, status="200", served_by="app", method="GET"):
    return (
        REGISTRY.get_sample_value(
            f"{HISTOGRAM}_count",
            {"route": route, "method": method, "status": status, "served_by": served_by},
        )
        or 0
    )


def value(name, **labels):
    return REGISTRY.get_sample_value(name, labels) or 0


# -- request ids -------------------------------------------------------------------------


def test_every_answer_has_a_request_id_the_fast_path_too(app, client, post_request):
    post_request()
    ids = [client.get(f"{NEARBY}?{HERE}").headers["X-Request-Id"] for _ in range(3)]
    assert app.extensions["nearby_fast_path"].answered >= 1  # the later two
    ids.append(client.get("/need-help").headers["X-Request-Id"])
    ids.append(client.get("/no/such/page").headers["X-Request-Id"])
    assert all(re.fullmatch(r"[0-9a-f]{32}", one) for one in ids) and len(set(ids)) == 5


def test_a_proxys_request_id_is_kept_and_a_strange_one_replaced(client):
    nginx = "0123456789abcdef0123456789abcdef"
    assert client.get("/healthz", headers={"X-Request-Id": nginx}).headers["X-Request-Id"] == nginx
    for strange in ("/m/secret", "0912345678", "x" * 200, "a b"):
        answered = client.get("/healthz", headers={"X-Request-Id": strange})
        assert re.fullmatch(r"[0-9a-f]{32}", answered.headers["X-Request-Id"]), strange


def test_log_lines_of_a_request_carry_its_id(app, client, monkeypatch):
    """A line the app logs while answering names the request it answered."""
    stream = io.StringIO()
    handler = logs.prepare(logging.StreamHandler(stream), "json")
    logging.getLogger().addHandler(handler)
    try:
        monkeypatch.setattr(
            "connect.home.render_template",
            lambda *a, **k: logging.getLogger("connect.test").warning("hello") or "ok",
        )
        answered = client.get("/", headers={"X-Request-Id": "ab" * 16})
    finally:
        logging.getLogger().removeHandler(handler)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    (said,) = [line for line in lines if line["message"] == "hello"]
    assert said["request_id"] == "ab" * 16 == answered.headers["X-Request-Id"]


# -- metrics in the app ------------------------------------------------------------------


def test_answers_are_counted_by_route_never_by_path(app, client, post_request):
    token = post_request()["manage_token"]
    before = (
        answers("resident.manage"),
        answers("unmatched", "404"),
        answers("requests.nearby", served_by="fast_path"),
        answers("requests.nearby"),
    )
    client.get(f"/m/{token}")
    client.get(f"/m/{token}x/no/such")
    cookieless = app.test_client()  # a cookie sends nearby to Flask
    cookieless.get(f"{NEARBY}?{HERE}")  # Flask answers the first: the fast path learns
    cookieless.get(f"{NEARBY}?{HERE}")
    after = (
        answers("resident.manage"),
        answers("unmatched", "404"),
        answers("requests.nearby", served_by="fast_path"),
        answers("requests.nearby"),
    )
    assert after[0] == before[0] + 1 and after[2] == before[2] + 1 and after[3] == before[3] + 1
    assert after[1] == before[1] + 1
    exposition = metrics.exposition()[0].decode()
    assert token not in exposition and "/m/" not in exposition


def test_503s_are_counted_by_cause(app, client, monkeypatch):
    read_model = app.extensions["read_model"]
    stale = value("connect_unavailable_responses_total", cause="read_model_stale")
    away = value("connect_unavailable_responses_total", cause="database_unavailable")
    failures = value("connect_read_model_catch_up_failures_total")

    def fail():
        raise OperationalError("SELECT 1", {}, Exception("connection refused"))

    monkeypatch.setattr(read_model, "_sync", fail)
    monkeypatch.setattr(read_model, "_loaded", False)
    assert client.get(f"{NEARBY}?{HERE}").status_code == 503
    monkeypatch.setattr("connect.requests.queries.get_request", lambda *a: fail())
    assert client.get("/api/v1/requests/1").status_code == 503
    assert value("connect_unavailable_responses_total", cause="read_model_stale") == stale + 1
    assert value("connect_unavailable_responses_total", cause="database_unavailable") == away + 1
    assert value("connect_read_model_catch_up_failures_total") > failures


def test_a_catch_up_sets_the_staleness_timestamp(app, post_request):
    read_model = app.extensions["read_model"]
    loads = value("connect_read_model_catch_up_duration_seconds_count", kind="load")
    read_model.ensure_fresh()
    assert value("connect_read_model_catch_up_duration_seconds_count", kind="load") == loads + 1
    post_request()
    changes = value("connect_read_model_catch_up_duration_seconds_count", kind="changes")
    started = time.time()
    read_model.ensure_fresh()
    assert value("connect_read_model_last_catch_up_timestamp_seconds") >= started
    assert (
        value("connect_read_model_catch_up_duration_seconds_count", kind="changes") == changes + 1
    )


def test_claims_helped_and_confirmed_are_counted(client, post_request, create_volunteer):
    posted = post_request()
    volunteer = create_volunteer()
    counts = [
        value(f"connect_requests_{name}_total") for name in ("claimed", "helped", "confirmed")
    ]
    base = f"/api/v1/requests/{posted['id']}"
    assert client.post(f"{base}/claim", headers=volunteer).status_code == 200
    assert client.post(f"{base}/helped", headers=volunteer).status_code == 200
    assert (
        client.post(
            f"{base}/confirm", headers={"X-Manage-Token": posted["manage_token"]}
        ).status_code
        == 200
    )
    assert [
        value(f"connect_requests_{name}_total") for name in ("claimed", "helped", "confirmed")
    ] == [n + 1 for n in counts]


def test_a_job_counts_as_done_only_when_it_ran_to_the_end():
    with metrics.timed_job("test-job"):
        pass
    done = value("connect_job_last_success_timestamp_seconds", job="test-job")
    assert done > time.time() - 5
    with pytest.raises(RuntimeError), metrics.timed_job("test-job"):
        raise RuntimeError("failed")
    assert value("connect_job_last_success_timestamp_seconds", job="test-job") == done
    assert value("connect_job_duration_seconds_count", job="test-job", outcome="failed") >= 1


def test_metrics_on_the_app_port_need_the_token(database_url):
    assert make_app(database_url).test_client().get("/metrics").status_code == 404
    client = make_app(database_url, METRICS_TOKEN="s3cret-metrics").test_client()
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "s3cret-metrics"}):
        refused = client.get("/metrics", headers=headers)
        assert (
            refused.status_code == 401 and refused.get_json()["error"]["code"] == "unauthorized"
        ), headers
    served = client.get("/metrics", headers={"Authorization": "Bearer s3cret-metrics"})
    assert served.status_code == 200 and served.mimetype == "text/plain"
    assert "connect_http_request_duration_seconds_bucket" in served.get_data(as_text=True)


# -- processes of their own --------------------------------------------------------------


def test_a_worker_process_serves_its_own_metrics(tmp_path):
    """`serve_process_metrics(port)`: the worker's and scheduler's metrics, from memory."""
    port = free_port()
    env = {key: value for key, value in os.environ.items() if key != "PROMETHEUS_MULTIPROC_DIR"}
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            (
                "import sys, time\n"
                "from connect import metrics\n"
                f"metrics.serve_process_metrics({port})\n"
                "metrics.set_outbox_backlog(3, 12.5)\n"
                "metrics.outbox_processed('push')\n"
                "with metrics.timed_job('expire'):\n    pass\n"
                "print('ready', flush=True)\n"
                "time.sleep(60)\n"
            ),
        ],
        cwd=ROOT,
        env={**env, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout.readline().strip() == "ready"
        text = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    finally:
        process.kill()
        process.wait()
    assert "connect_outbox_depth 3.0" in text
    assert "connect_outbox_oldest_pending_age_seconds 12.5" in text
    assert 'connect_outbox_processed_total{topic="push"} 1.0' in text
    assert re.search(
        r'connect_job_last_success_timestamp_seconds\{job="expire"\} 1\.\d+e\+09', text
    )


@pytest.mark.parametrize("backend", ["postgis"])
def test_gunicorn_sums_its_workers_metrics_on_the_master_port(database_url, tmp_path):
    """Two workers, requests on both: the master's METRICS_PORT shows the sums, the fast
    path's latency histogram and each worker's read-model timestamp; the app's port
    refuses /metrics without the token."""
    folder = tmp_path / "metrics"
    folder.mkdir()
    (folder / "counter_1.db").write_bytes(b"left over by a previous run")
    metrics_port = free_port()
    server = Gunicorn(
        database_url,
        tmp_path,
        workers=2,
        METRICS_PORT=str(metrics_port),
        METRICS_TOKEN="s3cret-metrics",
        PROMETHEUS_MULTIPROC_DIR=str(folder),
    )
    try:
        server.wait_ready()
        assert not (folder / "counter_1.db").exists()  # emptied at start
        workers = server.workers()
        assert (
            requests.post(f"{server.base}/api/v1/requests", json=request_payload()).status_code
            == 201
        )
        sent = 0
        while (
            sent < 400
            and not all((folder / f"histogram_{pid}.db").exists() for pid in workers)
            or sent < 60
        ):
            # A new connection each time: either worker may take it.
            with requests.Session() as fresh:
                assert fresh.get(f"{server.base}{NEARBY}?{HERE}").status_code == 200
            sent += 1
        assert all((folder / f"histogram_{pid}.db").exists() for pid in workers), (
            "one worker took every request"
        )
        master = requests.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5).text
        nearby = sum(
            float(line.rsplit(" ", 1)[1])
            for line in master.splitlines()
            if line.startswith(f"{HISTOGRAM}_count{{") and 'route="requests.nearby"' in line
        )
        assert nearby == sent
        assert re.search(
            rf'{HISTOGRAM}_bucket\{{le="0.005",method="GET",route="requests.'
            rf'nearby",served_by="fast_path",status="200"\}} [1-9]',
            master,
        )
        stamps = re.findall(
            r'connect_read_model_last_catch_up_timestamp_seconds\{pid="(\d+)"\}'
            r" (\S+)",
            master,
        )
        assert sorted(int(pid) for pid, _ in stamps) == workers
        assert all(float(stamp) > time.time() - 120 for _, stamp in stamps)
        assert requests.get(f"{server.base}/metrics").status_code == 401
        with_token = requests.get(
            f"{server.base}/metrics", headers={"Authorization": "Bearer s3cret-metrics"}
        )
        assert with_token.status_code == 200 and f"{HISTOGRAM}_count" in with_token.text
    finally:
        server.stop()
    # The access log: JSON, one line a request, with the id each answer carried.
    lines = [json.loads(line) for line in server.access_log.read_text().splitlines()]
    assert len(lines) >= sent + 3 and all(
        re.fullmatch(r"[0-9a-f]{32}", line["request_id"]) for line in lines
    )
