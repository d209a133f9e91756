"""Two real app processes on one database: what one commits, the other's nearby shows within 1 s.

Servers A and B are gunicorn processes (production config file, one gthread worker each) on
the same SQLite file or PostGIS database; each has its own read model. Measured latencies
are printed (see them with -s or -rA): from just before the write was sent through A until
B's nearby list first showed it, so the figure includes the write itself.
"""

import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests
from sqlalchemy import select, text

from conftest import BAC_GIANG, make_app, new_phone, request_payload

ROOT = Path(__file__).resolve().parents[2]
GUNICORN = Path(sys.executable).with_name("gunicorn")
FRESHNESS_S = 1.0
LATENCIES = []  # (backend, what, seconds), summarised at the end of the module
_SESSIONS = []  # HTTP sessions to close before the servers stop (kept-alive connections delay it)


def http_session():
    session = requests.Session()
    _SESSIONS.append(session)
    return session


def _free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """One gunicorn process serving the app on the test database."""

    def __init__(self, name, database_url, log_dir):
        self.name = name
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = Path(log_dir) / f"server-{name}.log"
        self._log = open(self.log_path, "w")
        self._interrupted = False
        env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "SECRET_KEY": "test-secret",
            "RATELIMIT_ENABLED": "false",
            "DEMO_DATA": "0",
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        }
        self.process = subprocess.Popen(
            [
                str(GUNICORN),
                "-c",
                str(ROOT / "gunicorn.conf.py"),
                "-w",
                "1",
                "-k",
                "gthread",
                "--threads",
                "4",
                "-b",
                f"127.0.0.1:{self.port}",
                "--access-logfile",
                "/dev/null",
                # One control socket per user by default: two servers (or two test runs) would
                # fight over it.
                "--no-control-socket",
                "--pythonpath",
                f"{ROOT},{ROOT / 'tests' / 'support'}",
                "serve:app",
            ],
            cwd=ROOT,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def log_tail(self):
        self._log.flush()
        return self.log_path.read_text(errors="replace")[-4000:]

    def wait_ready(self, deadline):
        while True:
            if self.process.poll() is not None:
                pytest.fail(
                    f"server {self.name} exited ({self.process.returncode}):\n{self.log_tail()}"
                )
            try:
                if requests.get(f"{self.base}/healthz", timeout=1).status_code == 200:
                    return
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"server {self.name} did not come up:\n{self.log_tail()}")
            time.sleep(0.05)

    def interrupt(self):
        # Graceful stop (TERM), not quick (INT/QUIT): gunicorn 27's gthread worker runs
        # ThreadPoolExecutor.shutdown() inside its QUIT handler, which deadlocks when the
        # signal lands while the main thread is inside submit() (seen here: the master then
        # waits graceful_timeout and kills it). TERM only clears a flag.
        if not self._interrupted and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self._interrupted = True

    def stop(self):
        self.interrupt()
        if self.process.returncode is None:
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                for worker in self._workers():  # their stacks go to the log (see serve.py)
                    os.kill(worker, signal.SIGUSR2)
                time.sleep(0.3)
                print(
                    f"server {self.name} did not stop within 5 s of SIGTERM; killed. "
                    f"Log:\n{self.log_tail()}"
                )
                os.killpg(self.process.pid, signal.SIGKILL)  # its own session: master + worker
                self.process.wait(5)
        self._log.close()

    def _workers(self):
        try:
            children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
            return [int(pid) for pid in children.read_text().split()]
        except OSError:
            return []

    def alive_check(self):
        assert self.process.poll() is None, (
            f"server {self.name} died (rc {self.process.returncode}):\n{self.log_tail()}"
        )


@pytest.fixture
def servers(database_url, tmp_path):
    """Servers A and B on the test's (already migrated) database."""
    started = [Server("A", database_url, tmp_path), Server("B", database_url, tmp_path)]
    try:
        deadline = time.monotonic() + 30
        for server in started:
            server.wait_ready(deadline)
        yield started
    finally:
        while _SESSIONS:  # kept-alive connections would hold a graceful stop for 2 s
            _SESSIONS.pop().close()
        for server in started:
            server.interrupt()
        for server in started:
            server.stop()


@pytest.fixture(scope="module", autouse=True)
def latency_summary():
    yield
    if not LATENCIES:
        return
    lines = [
        "",
        "cross-process freshness (write through A, or commit of a held transaction,"
        " -> seen in B's nearby):",
    ]
    for backend in sorted({b for b, _, _ in LATENCIES}):
        for what in [None] + sorted({w for b, w, _ in LATENCIES if b == backend}):
            values = [s for b, w, s in LATENCIES if b == backend and what in (None, w)]
            lines.append(
                f"  {backend} {what or 'all'}: n={len(values)} "
                f"median={statistics.median(values):.3f} s max={max(values):.3f} s"
            )
    print("\n".join(lines))


# -- HTTP helpers --------------------------------------------------------------------------


def nearby_url(server, radius_m=20_000, limit=200, at=BAC_GIANG):
    return (
        f"{server.base}/api/v1/requests/nearby?lat={at[0]}&lon={at[1]}"
        f"&radius_m={radius_m}&limit={limit}"
    )


def nearby_ids(http, server, **kwargs):
    response = http.get(nearby_url(server, **kwargs), timeout=5)
    assert response.status_code == 200, (response.status_code, response.text[:500])
    return [item["id"] for item in response.json()["items"]]


def post(http, server, **overrides):
    response = http.post(
        f"{server.base}/api/v1/requests", json=request_payload(**overrides), timeout=10
    )
    assert response.status_code == 201, response.text[:500]
    return response.json()


def act(http, server, request_id, action, headers):
    return http.post(
        f"{server.base}/api/v1/requests/{request_id}/{action}", headers=headers, timeout=10
    )


def volunteer(http, server, capacity=3):
    phone, password = new_phone(), "mat-khau-1"
    assert (
        http.post(
            f"{server.base}/api/v1/auth/register",
            timeout=10,
            json={"phone": phone, "password": password, "name": "Tình nguyện viên"},
        ).status_code
        == 201
    )
    token = http.post(
        f"{server.base}/api/v1/auth/token", timeout=10, json={"phone": phone, "password": password}
    ).json()["token"]
    headers = {"Authorization": f"Bearer {token}"}
    response = http.put(
        f"{server.base}/api/v1/volunteers/me",
        headers=headers,
        timeout=10,
        json={
            "location": {"lat": BAC_GIANG[0], "lon": BAC_GIANG[1]},
            "radius_m": 5000,
            "categories": ["food", "supplies", "medicine", "medical_advice", "other"],
            "on_duty": True,
            "capacity": capacity,
        },
    )
    assert response.status_code == 200, response.text[:500]
    return headers


def wait_for(http, server, predicate, since, timeout=5.0):
    """Poll the server's nearby list until predicate(ids); seconds since ``since``, or None."""
    while True:
        ids = nearby_ids(http, server)
        now = time.perf_counter()
        if predicate(ids):
            return now - since
        if now - since > timeout:
            return None
        time.sleep(0.005)


def record(backend, what, latency):
    assert latency is not None, f"{what}: B never showed the change (waited 5 s)"
    LATENCIES.append((backend, what, latency))
    return latency


# -- tests ---------------------------------------------------------------------------------


def test_post_claim_release_through_a_seen_by_b_within_a_second(servers, backend):
    a, b = servers
    http = http_session()
    helper = volunteer(http, a)
    assert nearby_ids(http, a) == [] and nearby_ids(http, b) == []  # both read models warm
    measured = []
    for _ in range(3):
        t0 = time.perf_counter()
        posted = post(http, a)
        rid = posted["id"]
        appear = record(backend, "post", wait_for(http, b, lambda ids: rid in ids, t0))

        t0 = time.perf_counter()
        assert act(http, a, rid, "claim", helper).status_code == 200
        gone = record(backend, "claim", wait_for(http, b, lambda ids: rid not in ids, t0))

        t0 = time.perf_counter()
        assert act(http, a, rid, "release", helper).status_code == 200
        back = record(backend, "release", wait_for(http, b, lambda ids: rid in ids, t0))
        measured.append((appear, gone, back))
    print(
        f"[{backend}] post/claim/release through A -> seen on B (s): "
        + ", ".join(f"({x:.3f}, {y:.3f}, {z:.3f})" for x, y, z in measured)
    )
    for server in servers:
        server.alive_check()
    assert max(max(m) for m in measured) <= FRESHNESS_S, measured


def test_own_writes_are_visible_at_once(servers, backend):
    """Post, claim, release and cancel through B: B's very next nearby list shows it."""
    _, b = servers
    http = http_session()
    helper = volunteer(http, b)
    nearby_ids(http, b)
    for _ in range(3):
        posted = post(http, b)
        rid = posted["id"]
        assert rid in nearby_ids(http, b), "B's own new request is not in its next list"
        assert act(http, b, rid, "claim", helper).status_code == 200
        assert rid not in nearby_ids(http, b), "B's own claim still lists the request"
        assert act(http, b, rid, "release", helper).status_code == 200
        assert rid in nearby_ids(http, b), "B's own release does not list it again"
        cancel = http.post(
            f"{b.base}/api/v1/requests/{rid}/cancel",
            timeout=10,
            headers={"X-Manage-Token": posted["manage_token"]},
            json={},
        )
        assert cancel.status_code == 200, cancel.text
        assert rid not in nearby_ids(http, b), "B's own cancel still lists the request"


def _open_ids_in_database(app):
    from connect.extensions import db

    with app.app_context():
        try:
            return set(
                db.session.execute(
                    text("SELECT id FROM help_requests WHERE status = 'open'")
                ).scalars()
            )
        finally:
            db.session.remove()


def test_no_change_missed_under_concurrent_commits(servers, database_url, backend):
    """Writers through A and straight through SQLAlchemy sessions, while B keeps answering.

    Afterwards B's nearby list (radius over every point, limit 200) is exactly the set of open
    requests in the database.
    """
    from connect.accounts.models import User
    from connect.errors import ConnectError
    from connect.extensions import db
    from connect.requests import services

    a, b = servers
    local = make_app(database_url)
    setup = http_session()
    a_helper = volunteer(setup, a, capacity=20)
    b_helper = volunteer(setup, a, capacity=20)
    b_helper_id = setup.get(f"{a.base}/api/v1/auth/me", headers=b_helper, timeout=5).json()["id"]
    nearby_ids(setup, b)

    budget = threading.Semaphore(150)  # posts in all: stays under the list limit of 200
    known = []  # (id, manage token) of every request posted
    stop = threading.Event()
    errors = []
    counts = {"http": 0, "direct": 0, "b_reads": 0}

    def spot(rng):
        return (BAC_GIANG[0] + rng.uniform(-0.03, 0.03), BAC_GIANG[1] + rng.uniform(-0.03, 0.03))

    def guarded(fn):
        def run(seed):
            try:
                fn(random.Random(seed))
            except BaseException as exc:  # noqa: BLE001 - reported by the test
                errors.append(repr(exc))
                stop.set()

        return run

    @guarded
    def through_a(rng):
        http = http_session()
        held = []
        while not stop.is_set():
            roll = rng.random()
            if roll < 0.4 and budget.acquire(blocking=False):
                posted = post(http, a, at=spot(rng))
                known.append((posted["id"], posted["manage_token"]))
            elif roll < 0.7 and known:
                rid, _ = rng.choice(known)
                response = act(http, a, rid, "claim", a_helper)
                assert response.status_code in (200, 409), response.text
                if response.status_code == 200:
                    held.append(rid)
            elif roll < 0.9 and held:
                rid = held.pop(rng.randrange(len(held)))
                assert act(http, a, rid, "release", a_helper).status_code in (200, 403, 409)
            elif known:
                rid, token = rng.choice(known)
                response = http.post(
                    f"{a.base}/api/v1/requests/{rid}/cancel",
                    json={},
                    headers={"X-Manage-Token": token},
                    timeout=10,
                )
                assert response.status_code in (200, 409), response.text
            counts["http"] += 1

    hold = 0.03 if backend == "postgis" else 0.003

    @guarded
    def direct(rng):
        held = []
        while not stop.is_set():
            roll = rng.random()
            new = None
            with local.app_context():
                try:
                    if roll < 0.4 and budget.acquire(blocking=False):
                        created, token = services.post_request(
                            request_payload(at=spot(rng)), source="api"
                        )
                        new = (created.id, token)
                    elif roll < 0.7 and known:
                        rid, _ = rng.choice(known)
                        services.claim_request(rid, db.session.get(User, b_helper_id))
                        held.append(rid)
                    elif roll < 0.85 and held:
                        rid = held.pop(rng.randrange(len(held)))
                        services.release_request(rid, db.session.get(User, b_helper_id))
                    elif known:
                        rid, token = rng.choice(known)
                        services.cancel_request(rid, None, token)
                    else:
                        continue
                    # Hold the transaction a little so that commits overlap and finish out
                    # of the order in which they began.
                    # (SQLite serialises writers anyway: holding there only starves A.)
                    time.sleep(rng.uniform(0, hold))
                    db.session.commit()
                    if new:
                        known.append(new)
                    counts["direct"] += 1
                except ConnectError:
                    db.session.rollback()
                finally:
                    db.session.remove()

    @guarded
    def reading_b(rng):
        http = http_session()
        while not stop.is_set():
            nearby_ids(http, b, radius_m=rng.choice((2000, 5000, 20_000)), limit=50, at=spot(rng))
            counts["b_reads"] += 1

    workers = (
        [threading.Thread(target=through_a, args=(i,)) for i in range(3)]
        + [threading.Thread(target=direct, args=(10 + i,)) for i in range(3)]
        + [threading.Thread(target=reading_b, args=(20 + i,)) for i in range(2)]
    )
    for worker in workers:
        worker.start()
    stop.wait(2.5)
    stop.set()
    for worker in workers:
        worker.join(15)
    try:
        assert not [w for w in workers if w.is_alive()], "a worker hung"
        assert not errors, errors
        time.sleep(FRESHNESS_S)

        http = http_session()
        expected = _open_ids_in_database(local)
        seen_b = nearby_ids(http, b)
        seen_a = nearby_ids(http, a)
        print(f"[{backend}] {counts}, posted {len(known)}, open at the end {len(expected)}")
        assert len(expected) < 200
        assert set(seen_b) == expected, {
            "missing on B": sorted(expected - set(seen_b)),
            "extra on B": sorted(set(seen_b) - expected),
        }
        assert len(seen_b) == len(set(seen_b))
        assert set(seen_a) == expected, {
            "missing on A": sorted(expected - set(seen_a)),
            "extra on A": sorted(set(seen_a) - expected),
        }
        for server in servers:
            server.alive_check()
    finally:
        with local.app_context():
            db.session.remove()
            db.engine.dispose()


@pytest.mark.parametrize("backend", ["postgis"])
def test_long_transaction_committing_after_a_later_one_is_not_missed(
    servers, database_url, backend
):
    """PostgreSQL hands out transaction ids in start order, not commit order.

    T1 starts first (cancels R1 and posts a new request) and holds; T2 (a post through A)
    commits after it began, and B catches up past T2 while T1 is still open. When T1 finally
    commits, B must still pick up both of its changes within 1 s.
    """
    from connect.extensions import db
    from connect.requests import services

    a, b = servers
    http = http_session()
    local = make_app(database_url)
    r1 = post(http, a)
    t0 = time.perf_counter()
    assert wait_for(http, b, lambda ids: r1["id"] in ids, t0) is not None

    ctx = local.app_context()
    ctx.push()
    try:
        services.cancel_request(r1["id"], None, r1["manage_token"])
        fresh, _ = services.post_request(request_payload(), source="api")
        db.session.flush()
        t1_xid = int(db.session.execute(text("SELECT pg_current_xact_id()::text")).scalar_one())

        r2 = post(http, a)  # T2: begins after T1, commits before it
        t0 = time.perf_counter()
        assert wait_for(http, b, lambda ids: r2["id"] in ids, t0) is not None
        # Let B catch up a few more times while T1 is still open.
        deadline = time.perf_counter() + 0.6
        while time.perf_counter() < deadline:
            ids = nearby_ids(http, b)
            assert r1["id"] in ids and fresh.id not in ids  # T1 is not visible yet
            time.sleep(0.02)
        with local.app_context():
            from connect.requests.models import HelpRequest

            r2_stamp = db.session.execute(
                select(HelpRequest.change_seq).where(HelpRequest.id == r2["id"])
            ).scalar_one()
            db.session.remove()
        assert r2_stamp > t1_xid  # the later commit carries the larger stamp

        fresh_id = fresh.id
        t0 = time.perf_counter()
        db.session.commit()
    finally:
        db.session.remove()
        ctx.pop()
    latency = record(
        backend,
        "held transaction",
        wait_for(http, b, lambda ids: r1["id"] not in ids and fresh_id in ids, t0),
    )
    print(f"[{backend}] T1 committed after T2 -> seen on B after {latency:.3f} s")
    with local.app_context():
        db.engine.dispose()
    assert latency <= FRESHNESS_S
