"""docs/deploy.md's walk, scripted: build once, install anywhere, run the three services.

`make dist`'s wheel holds everything a host serves. Installed alone in a fresh virtualenv
(outside the checkout, pinned by constraints.txt), it migrates a PostGIS database and serves the
Vietnamese pages and Leaflet; started with the commands of deploy/systemd/ (gunicorn with two
workers, two outbox workers, two schedulers, Redis for rate limits, production settings), it
keeps the promises a province relies on: volunteers hear of a need through a worker; a lapsed
lease is persisted by the scheduler; a request closed longer than PURGE_AFTER_DAYS is anonymised
in PostGIS; no job runs twice with two schedulers; stopping the workers and starting one again
loses no queued event and repeats none.

The wheel is built once per test run, by whichever test process asks first (tools/build-wheel.sh,
as `make dist`), and installed once per module; the figures are printed (see them with -rP).
"""

import fcntl
import gettext
import io
import os
import shlex
import subprocess
import sys
import time
import uuid
import zipfile
from collections import Counter
from pathlib import Path

import pytest
import requests
from sqlalchemy import create_engine, text

from conftest import BAC_GIANG, new_phone, request_payload
from processes import Process, Redis, free_port, serving, wait_for

ROOT = Path(__file__).resolve().parents[2]
LEAFLET = "connect/static/vendor/leaflet/leaflet.js"
# Settings a host has; nothing may point back into the checkout.
CHECKOUT_VARIABLES = ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "VIRTUAL_ENV", "FLASK_APP")


@pytest.fixture(scope="session")
def wheel(tmp_path_factory, worker_id):
    """connect's wheel, built once for the whole run and shared by its test processes."""
    shared = tmp_path_factory.getbasetemp()
    if worker_id != "master":
        shared = shared.parent  # the run's folder, above each xdist worker's own
    out = shared / "dist"
    with open(shared / "dist.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not list(out.glob("connect-*.whl")):
            started = time.monotonic()
            built = subprocess.run(
                [str(ROOT / "tools" / "build-wheel.sh"), str(out)],
                env={**os.environ, "PYTHON": sys.executable},
                capture_output=True,
                text=True,
                timeout=300,
            )
            assert built.returncode == 0, f"the wheel did not build:\n{built.stdout}{built.stderr}"
            print(f"wheel built in {time.monotonic() - started:.1f} s")
    (path,) = out.glob("connect-*.whl")
    return path


def _checkout_files(folder):
    """What the wheel must carry of a folder of the package: its files, built ones included."""
    return {
        path.relative_to(ROOT).as_posix()
        for path in (ROOT / folder).rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and not path.name.startswith(".")
    }


def test_the_wheel_holds_pages_assets_catalogues_and_migrations(wheel):
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        leaflet = archive.read(LEAFLET)
        catalogues = {
            language: gettext.GNUTranslations(
                io.BytesIO(
                    archive.read(f"connect/translations/{language}/LC_MESSAGES/messages.mo")
                )
            )
            for language in ("vi", "en")
        }
        (dist_info,) = {name.split("/")[0] for name in names if ".dist-info/" in name}
        metadata = archive.read(f"{dist_info}/METADATA").decode()
    size = wheel.stat().st_size
    print(f"{wheel.name}: {size / 1024:.0f} KiB, {len(names)} files")

    for folder in ("connect/templates", "connect/static", "connect/migrations", "connect/data"):
        assert _checkout_files(folder) - names == set(), f"{folder} is not all in the wheel"
    assert {LEAFLET, "connect/static/vendor/leaflet/leaflet.css"} <= names
    assert b"Leaflet" in leaflet[:300] and leaflet == (ROOT / LEAFLET).read_bytes()
    # Compiled catalogues, not just sources: the Vietnamese one translates the post page.
    assert catalogues["vi"].info()["language"] == "vi"
    assert catalogues["vi"].gettext("Ask for help") == "Nhờ giúp đỡ"
    assert catalogues["en"].info()["language"] == "en"
    assert {"connect/migrations/env.py", "connect/migrations/script.py.mako"} <= names
    assert any(name.startswith("connect/migrations/versions/0001_") for name in names)

    assert {name for name in names if not name.startswith(("connect/", f"{dist_info}/"))} == set()
    assert [
        name
        for name in names
        if "tests/" in name
        or "instance/" in name
        or "__pycache__" in name
        or name.endswith(".pyc")
    ] == []
    assert f"{dist_info}/licenses/LICENSE" in names
    assert "License-Expression: AGPL-3.0-or-later" in metadata
    assert size < 3 * 1024 * 1024, "something big slipped into the wheel"


def _run(args, **kwargs):
    done = subprocess.run(
        [str(arg) for arg in args], capture_output=True, text=True, timeout=600, **kwargs
    )
    assert done.returncode == 0, f"{' '.join(map(str, args))} failed:\n{done.stdout}{done.stderr}"
    return done.stdout


def _head():
    from alembic.script import ScriptDirectory

    return ScriptDirectory(str(ROOT / "connect" / "migrations")).get_current_head()


class Host:
    """A host as docs/deploy.md makes one: the wheel in a virtualenv of its own."""

    def __init__(self, folder, venv, env):
        self.folder, self.venv, self.env = folder, venv, env

    def unit(self, name, **replace):
        """The ExecStart of deploy/systemd/connect-<name>.service, for this host."""
        unit = (ROOT / "deploy" / "systemd" / f"connect-{name}.service").read_text()
        (line,) = [line for line in unit.splitlines() if line.startswith("ExecStart=")]
        argv = shlex.split(
            line.removeprefix("ExecStart=").replace("/srv/connect/.venv", str(self.venv))
        )
        return [replace.get(arg, arg) for arg in argv]

    def settings(self, database_url, **more):
        """/etc/connect/env of this host."""
        return {
            **self.env,
            "DATABASE_URL": database_url,
            "CONNECT_ENV": "production",
            "SECRET_KEY": "deploy-test-" + "s" * 32,
            "BLUR_SECRET": "deploy-test-" + "b" * 32,
            "DEMO_DATA": "0",
            **{key: str(value) for key, value in more.items()},
        }

    def run(self, argv, settings):
        return _run(argv, cwd=self.folder, env=settings)

    def start(self, argv, settings, log_name):
        return Process(argv, self.folder / log_name, settings, cwd=self.folder)

    def migrate(self, settings):
        self.run(
            [self.venv / "bin" / "flask", "--app", "connect:create_app", "db", "upgrade"], settings
        )


@pytest.fixture(scope="module")
def host(wheel, tmp_path_factory):
    """The wheel installed alone in a fresh virtualenv outside the checkout."""
    folder = tmp_path_factory.mktemp("host")
    assert ROOT not in folder.parents, "the host must be outside the checkout"
    venv = folder / "venv"
    started = time.monotonic()
    # The test run's own pip installs into the new virtualenv (--python), sparing the seconds
    # ensurepip takes; --no-compile spares byte-compiling every dependency (~30 s of ~40 s
    # here), and the processes below compile what they import.
    _run([sys.executable, "-m", "venv", "--without-pip", venv], cwd=folder)
    env = {name: value for name, value in os.environ.items() if name not in CHECKOUT_VARIABLES}
    _run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            venv / "bin" / "python",
            "install",
            "--quiet",
            "--no-compile",
            "-c",
            ROOT / "constraints.txt",
            wheel,
        ],
        cwd=folder,
        env=env,
    )
    where = _run(
        [venv / "bin" / "python", "-c", "import connect; print(connect.__file__)"],
        cwd=folder,
        env=env,
    )
    assert Path(where.strip()).is_relative_to(venv), where
    print(f"the wheel installed in a fresh virtualenv in {time.monotonic() - started:.1f} s")
    return Host(folder, venv, env)


def _database(pg_cluster):
    return pg_cluster.create_database(f"host_{uuid.uuid4().hex[:8]}")


# -- the three services -------------------------------------------------------------------

# Short times, so a lease lapses and a closed request is purged within the test.
FAST = {
    "CLAIM_LEASE_SECONDS": 2,
    "LEASE_REMINDER_SECONDS": 0,
    "PURGE_AFTER_DAYS": 0,
    "SCHEDULE_EXPIRE_SECONDS": 1,
    "SCHEDULE_PURGE_SECONDS": 1,
    "SCHEDULE_LEASE_REMINDERS_SECONDS": 1,
    "SCHEDULE_IDEMPOTENCY_KEYS_SECONDS": 1,
    "SCHEDULER_TICK_SECONDS": 0.1,
    "OUTBOX_POLL_SECONDS": 0.1,
    "PUSH_MAX_PER_HOUR": 100,
    "SESSION_COOKIE_SECURE": 0,
    "RATELIMIT_ENABLED": 1,
}


@pytest.fixture
def layout(host, pg_cluster, tmp_path):
    """Web (2 gunicorn workers), two workers, two schedulers and Redis, started as the units do."""
    redis = Redis(tmp_path).wait_ready()
    database_url = _database(pg_cluster)
    port = free_port()
    settings = host.settings(
        database_url, WEB_CONCURRENCY=2, RATELIMIT_STORAGE_URI=redis.url, **FAST
    )
    host.migrate(settings)
    # Metrics without a token on loopback: the master's for the web workers, and each
    # worker's and scheduler's own (two on one host need two ports).
    metrics = {
        name: free_port() for name in ("web", "worker-1", "worker-2", "scheduler-1", "scheduler-2")
    }
    own = {
        name: {f"{name.split('-')[0].upper()}_METRICS_PORT": port}
        for name, port in metrics.items()
        if name != "web"
    }
    own["web"] = {"METRICS_PORT": metrics["web"]}
    processes = {
        "web": host.start(
            host.unit("web", **{"127.0.0.1:8000": f"127.0.0.1:{port}"}),
            {**settings, **_strings(own["web"])},
            "web.log",
        )
    }
    for name in ("worker-1", "worker-2", "scheduler-1", "scheduler-2"):
        processes[name] = host.start(
            host.unit(name.split("-")[0]),
            {**settings, **_strings(own.get(name, {}))},
            f"{name}.log",
        )
    engine = create_engine(database_url)
    try:
        serving(processes["web"], f"http://127.0.0.1:{port}")
        yield Layout(host, settings, processes, engine, f"http://127.0.0.1:{port}", metrics)
    finally:
        for process in processes.values():
            process.terminate(20)
        redis.stop()
        engine.dispose()


def _strings(values):
    return {key: str(value) for key, value in values.items()}


class Layout:
    def __init__(self, host, settings, processes, engine, base, metrics_ports):
        self.host, self.settings, self.processes = host, settings, processes
        self.engine, self.base, self.metrics_ports = engine, base, metrics_ports

    def metrics(self, name):
        """The metrics a process serves on its loopback port, as exposition text."""
        response = requests.get(f"http://127.0.0.1:{self.metrics_ports[name]}/metrics", timeout=5)
        assert response.status_code == 200
        return response.text

    def sql(self, query, **params):
        with self.engine.connect() as conn:
            return conn.execute(text(query), params).all()

    def post(self):
        response = requests.post(f"{self.base}/api/v1/requests", json=request_payload())
        assert response.status_code == 201, response.text
        return response.json()

    def volunteer(self):
        phone, password = new_phone(), "mat-khau-1"
        assert (
            requests.post(
                f"{self.base}/api/v1/auth/register",
                json={"phone": phone, "password": password, "name": "Lê Văn Cường"},
            ).status_code
            == 201
        )
        token = requests.post(
            f"{self.base}/api/v1/auth/token", json={"phone": phone, "password": password}
        ).json()["token"]
        headers = {"Authorization": f"Bearer {token}"}
        assert (
            requests.put(
                f"{self.base}/api/v1/volunteers/me",
                headers=headers,
                json={
                    "location": {"lat": BAC_GIANG[0], "lon": BAC_GIANG[1]},
                    "radius_m": 5000,
                    "categories": ["food"],
                    "on_duty": True,
                    "capacity": 3,
                },
            ).status_code
            == 200
        )
        return headers

    def inbox(self, headers):
        response = requests.get(f"{self.base}/api/v1/notifications", headers=headers)
        assert response.status_code == 200
        return [(item["kind"], item["request_id"]) for item in response.json()["items"]]


@pytest.mark.postgis
@pytest.mark.slow
def test_the_three_services_keep_their_promises(layout):
    # Migrated to the head, serving the Vietnamese pages and Leaflet from the package.
    assert layout.sql("SELECT version_num FROM alembic_version") == [(_head(),)]
    page = requests.get(f"{layout.base}/need-help", timeout=10)
    assert page.status_code == 200
    assert '<html lang="vi"' in page.text and "Nhờ giúp đỡ" in page.text
    leaflet = requests.get(f"{layout.base}/static/vendor/leaflet/leaflet.js", timeout=10)
    assert leaflet.status_code == 200
    assert leaflet.headers["Content-Type"].split(";")[0] in (
        "application/javascript",
        "text/javascript",
    )
    assert leaflet.content == (ROOT / LEAFLET).read_bytes()
    assert requests.get(f"{layout.base}/readyz", timeout=10).status_code == 200

    headers = layout.volunteer()

    # A need reaches the volunteer through a worker, not the request.
    need = layout.post()
    wait_for(
        lambda: ("new_request", need["id"]) in layout.inbox(headers),
        timeout=20,
        what="the push through the worker",
    )

    # A claim whose lease lapses is reopened by the scheduler (no page read it).
    assert (
        requests.post(
            f"{layout.base}/api/v1/requests/{need['id']}/claim", headers=headers
        ).status_code
        == 200
    )
    wait_for(
        lambda: (
            layout.sql("SELECT status FROM help_requests WHERE id = :id", id=need["id"])
            == [("open",)]
        ),
        timeout=30,
        what="the scheduler to persist the lapsed lease",
    )
    assert layout.sql(
        "SELECT count(*) FROM request_events WHERE request_id = :id "
        "AND reason = 'claim lease expired'",
        id=need["id"],
    ) == [(1,)]
    wait_for(
        lambda: ("lease_expired", need["id"]) in layout.inbox(headers),
        timeout=20,
        what="the claimant told of the lapse",
    )

    # A closed request is anonymised in PostGIS by the scheduler's purge.
    closed = layout.post()
    assert (
        requests.post(
            f"{layout.base}/api/v1/requests/{closed['id']}/cancel",
            json={},
            headers={"X-Manage-Token": closed["manage_token"]},
        ).status_code
        == 200
    )
    wait_for(
        lambda: (
            layout.sql(
                "SELECT phone, contact_name, purged_at IS NOT NULL, ST_Equals(location, "
                "public_location) FROM help_requests WHERE id = :id",
                id=closed["id"],
            )
            == [("", "", True, True)]
        ),
        timeout=30,
        what="the purge in PostGIS",
    )

    # Two schedulers, each occurrence once.
    runs = layout.sql("SELECT job, scheduled_for, runner FROM job_runs")
    occurrences = Counter((job, at) for job, at, _ in runs)
    assert max(occurrences.values()) == 1, occurrences.most_common(3)
    assert {job for job, _ in occurrences} >= {"expire", "purge", "lease-reminders"}

    # What each process counts, on its own loopback port.
    web = layout.metrics("web")
    assert 'route="requests.post_request"' in web and "connect_requests_claimed_total 1.0" in web
    workers = layout.metrics("worker-1") + layout.metrics("worker-2")
    assert "connect_outbox_depth" in workers
    assert 'connect_outbox_processed_total{topic="push-request"}' in workers
    schedulers = layout.metrics("scheduler-1") + layout.metrics("scheduler-2")
    assert 'connect_job_last_success_timestamp_seconds{job="purge"}' in schedulers

    # Workers stopped: events wait in the outbox; one worker started again delivers each once.
    processes = layout.processes
    for name in ("worker-1", "worker-2"):
        assert processes[name].terminate() == 0, processes[name].log()
    waiting = [layout.post() for _ in range(5)]
    assert layout.sql("SELECT count(*) FROM outbox WHERE state = 'pending'")[0][0] >= 5
    processes["worker-3"] = layout.host.start(
        layout.host.unit("worker"), layout.settings, "worker-3.log"
    )
    wait_for(
        lambda: layout.sql("SELECT count(*) FROM outbox WHERE state = 'pending'") == [(0,)],
        timeout=30,
        what="the restarted worker to drain the outbox",
    )
    told = Counter(
        request_id for kind, request_id in layout.inbox(headers) if kind == "new_request"
    )
    assert [told[item["id"]] for item in waiting] == [1] * 5
    assert layout.sql("SELECT count(*) FROM outbox WHERE attempts <> 1") == [(0,)]
    for name in ("web", "scheduler-1", "scheduler-2", "worker-3"):
        assert processes[name].running(), f"{name} stopped:\n{processes[name].log()[-3000:]}"
