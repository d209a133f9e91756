"""Faults: PostgreSQL restarted under load, a gunicorn worker killed in the middle of a write.

The app is served by gunicorn (gunicorn.conf.py, three gthread workers) on PostgreSQL: a cluster
of the test's own where the test stops it, else a fresh database on the run's cluster. Threads
drive a steady mixed load over plain HTTP (posts, claims, releases, helped, nearby lists; one
connection per request), the fault is injected, and afterwards what the clients were told is
checked against what the database holds: every acknowledged write is there, nothing is half
done. The measured figures are printed (see them with -s or -rA).
"""

import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import pytest
import requests

from conftest import BAC_GIANG, CI, _clone_postgis, _migrate, new_phone, request_payload

pytestmark = pytest.mark.postgis

ROOT = Path(__file__).resolve().parents[2]
GUNICORN = Path(sys.executable).with_name("gunicorn")
WORKERS = 3
LOAD_THREADS = 4
RECOVERY_LIMIT_S = 10.0
WRITES = ("post", "claim", "release", "helped")


# -- the database and the server -----------------------------------------------------------


@pytest.fixture
def own_postgres():
    """A PostgreSQL cluster of this test's own: stopping it disturbs no other test."""
    from pgcluster import TempPostgres, find_pg_bin

    try:
        find_pg_bin()
    except FileNotFoundError as exc:  # not installed: only allowed outside CI
        if CI:
            pytest.fail(f"PostgreSQL is required under CI: {exc}")
        pytest.skip(f"PostgreSQL not installed ({exc}); run `make test`")
    cluster = TempPostgres()
    try:
        cluster.start()
        _migrate(cluster.url)
        yield cluster
    finally:
        cluster.stop()


def _free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Gunicorn:
    """gunicorn with the production config file, in its own session (so it is ended whole)."""

    def __init__(self, database_url, log_dir):
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.pause_dir = Path(log_dir) / "pauses"
        self.pause_dir.mkdir()
        self.log_path = Path(log_dir) / "gunicorn.log"
        self._log = open(self.log_path, "w")
        # Settings reach gunicorn.conf.py through the environment, as in production.
        env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "PORT": str(self.port),
            "WEB_CONCURRENCY": str(WORKERS),
            "GUNICORN_THREADS": "4",
            "FAULT_PAUSE_DIR": str(self.pause_dir),
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        }
        self.process = subprocess.Popen(
            [
                str(GUNICORN),
                "-c",
                str(ROOT / "gunicorn.conf.py"),
                "--pythonpath",
                f"{ROOT},{ROOT / 'tests' / 'support'}",
                "serve_faults:app",
            ],
            cwd=ROOT,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def log_tail(self, chars=6000):
        self._log.flush()
        return self.log_path.read_text(errors="replace")[-chars:]

    def workers(self):
        try:
            path = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
            return set(int(pid) for pid in path.read_text().split())
        except OSError:
            return set()

    def wait_ready(self, timeout=60):
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                pytest.fail(f"gunicorn exited ({self.process.returncode}):\n{self.log_tail()}")
            try:
                if (
                    requests.get(f"{self.base}/healthz", timeout=2).status_code == 200
                    and len(self.workers()) == WORKERS
                ):
                    return
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"gunicorn did not come up in {timeout} s:\n{self.log_tail()}")
            time.sleep(0.1)

    def wait_replaced(self, killed, timeout=20):
        """Seconds until the master has WORKERS workers again, none of them ``killed``."""
        started = time.monotonic()
        while True:
            now = self.workers()
            if killed not in now and len(now) == WORKERS:
                return time.monotonic() - started
            if time.monotonic() - started > timeout:
                pytest.fail(
                    f"no replacement for worker {killed} within {timeout} s "
                    f"(workers now {sorted(now)}):\n{self.log_tail()}"
                )
            time.sleep(0.02)

    def stop(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)  # graceful: see test_read_model_processes
            try:
                # A worker still booting (a replacement) holds a graceful stop for seconds;
                # the test is over, so it need not be waited for long.
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                # Seen on a loaded machine: exiting workers spend seconds collecting garbage.
                print(f"gunicorn still stopping 5 s after SIGTERM; killed ({self.log_path})")
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)
        self._log.close()


@pytest.fixture
def serve(tmp_path):
    """Start gunicorn on a database; it is stopped when the test ends, however it ends."""
    started = []

    def start(database_url):
        started.append(Gunicorn(database_url, tmp_path))
        started[-1].wait_ready()
        return started[-1]

    try:
        yield start
    finally:
        for server in started:
            server.stop()


# -- HTTP calls, each one recorded with what the client was told ---------------------------


@dataclass
class Call:
    kind: str
    started: float
    ended: float = 0.0
    status: int | None = None
    code: str | None = None  # the error envelope's code
    details: dict | None = None
    body: dict | None = None
    error: str | None = None  # no HTTP answer at all
    worker: int | None = None
    request_id: int | None = None
    volunteer: int | None = None
    phone: str | None = None

    @property
    def outcome(self):
        """ok, refused (a clean 4xx), unavailable (503 in the envelope), dropped or bad."""
        if self.error:
            return "dropped" if self.error.startswith("connection") else "bad"
        if 200 <= self.status < 300 and self.body is not None:
            return "ok"
        if self.status in (403, 409) and self.code:
            return "refused"
        if self.status == 503 and self.code == "database_unavailable":
            return "unavailable"
        return "bad"

    @property
    def ambiguous(self):
        """The client cannot know whether this write happened (it was not acknowledged)."""
        return self.outcome in ("unavailable", "dropped")

    def describe(self):
        return (
            f"{self.kind} request={self.request_id} -> {self.status} {self.code or ''}"
            f"{self.details or ''}{self.error or ''} (t={self.started:.2f}..{self.ended:.2f})"
        )


@dataclass
class Volunteer:
    user_id: int
    headers: dict


@dataclass
class Recorder:
    base: str
    calls: list = field(default_factory=list)

    def call(self, kind, method, path, json=None, headers=None, **about):
        record = Call(kind, time.monotonic(), **about)
        try:
            # One connection per request: a killed worker can only take the calls it holds.
            response = requests.request(
                method,
                self.base + path,
                json=json,
                timeout=20,
                headers={"Connection": "close", **(headers or {})},
            )
        except requests.Timeout as exc:
            record.error = f"timeout: {exc!r}"
        except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError) as exc:
            record.error = f"connection: {exc!r}"
        else:
            record.status = response.status_code
            record.worker = int(response.headers.get("X-Worker-Pid", 0)) or None
            if response.headers.get("Content-Type", "").startswith("application/json"):
                body = response.json()
                if response.status_code < 400:
                    record.body = body
                elif isinstance(body, dict) and isinstance(body.get("error"), dict):
                    record.code = body["error"].get("code")
                    record.details = body["error"].get("details")
        record.ended = time.monotonic()
        self.calls.append(record)  # list.append is atomic: threads share one recorder
        return record

    def post(self, at=BAC_GIANG, headers=None):
        payload = request_payload(at=at)
        made = self.call(
            "post",
            "POST",
            "/api/v1/requests",
            json=payload,
            headers=headers,
            phone=payload["phone"],
        )
        if made.outcome == "ok":
            made.request_id = made.body["id"]
        return made

    def act(self, action, request_id, volunteer, headers=None, kind=None):
        return self.call(
            kind or action,
            "POST",
            f"/api/v1/requests/{request_id}/{action}",
            headers={**volunteer.headers, **(headers or {})},
            request_id=request_id,
            volunteer=volunteer.user_id,
        )

    def nearby(self, at):
        return self.call(
            "nearby",
            "GET",
            f"/api/v1/requests/nearby?lat={at[0]}&lon={at[1]}&radius_m=5000&limit=50",
        )


def expect_ok(made):
    assert made.outcome == "ok", made.describe()
    return made


def enlist(recorder, proven=True):
    """A volunteer on duty near Bac Giang; ``proven``: has helped once, so may hold many."""
    phone, password = new_phone(), "mat-khau-1"
    expect_ok(
        recorder.call(
            "setup",
            "POST",
            "/api/v1/auth/register",
            json={"phone": phone, "password": password, "name": "Tình nguyện"},
        )
    )
    token = expect_ok(
        recorder.call(
            "setup", "POST", "/api/v1/auth/token", json={"phone": phone, "password": password}
        )
    ).body
    volunteer = Volunteer(token["user_id"], {"Authorization": f"Bearer {token['token']}"})
    expect_ok(
        recorder.call(
            "setup",
            "PUT",
            "/api/v1/volunteers/me",
            headers=volunteer.headers,
            json={
                "location": {"lat": BAC_GIANG[0], "lon": BAC_GIANG[1]},
                "radius_m": 10_000,
                "capacity": 20,
                "on_duty": True,
                "categories": ["food", "supplies", "medicine", "medical_advice", "other"],
            },
        )
    )
    if proven:  # until one claim ends helped, a volunteer holds one claim at a time
        first = expect_ok(recorder.post()).request_id
        expect_ok(recorder.act("claim", first, volunteer))
        expect_ok(recorder.act("helped", first, volunteer))
    return volunteer


class Load:
    """Threads posting, claiming, releasing, marking helped and listing, until finished."""

    def __init__(self, recorder, volunteers):
        self.recorder = recorder
        self.open = []  # ids believed open: what threads try to claim
        self.lock = threading.Lock()
        self.done = threading.Event()
        self.crashed = []  # a bug in this test's own driver, not in the service
        self.threads = [
            threading.Thread(target=self._run, args=(seed, volunteer), daemon=True)
            for seed, volunteer in enumerate(volunteers)
        ]

    def __enter__(self):
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, exc_type, *exc):
        self.done.set()
        for thread in self.threads:
            thread.join(30)
        if exc_type is None:  # else the test's own failure is the one to report
            assert not [t for t in self.threads if t.is_alive()], "a load thread hung"
            assert not self.crashed, self.crashed

    def _spot(self, rng):
        return (BAC_GIANG[0] + rng.uniform(-0.03, 0.03), BAC_GIANG[1] + rng.uniform(-0.03, 0.03))

    def _run(self, seed, volunteer):
        rng = random.Random(seed)
        held = []  # claims this volunteer was told it holds
        try:
            while not self.done.is_set():
                roll = rng.random()
                if roll < 0.3:
                    made = self.recorder.post(at=self._spot(rng))
                    if made.outcome == "ok":
                        with self.lock:
                            self.open.append(made.request_id)
                elif roll < 0.55 and self.open:
                    with self.lock:
                        request_id = rng.choice(self.open)
                    made = self.recorder.act("claim", request_id, volunteer)
                    if made.outcome in ("ok", "refused"):
                        with self.lock:
                            if request_id in self.open:
                                self.open.remove(request_id)
                    if made.outcome == "ok":
                        held.append(request_id)
                elif roll < 0.8 and held:
                    request_id = held.pop(rng.randrange(len(held)))
                    action = rng.choice(("release", "helped"))
                    made = self.recorder.act(action, request_id, volunteer)
                    if made.ambiguous:
                        held.append(request_id)  # try again later: the answer may be refused
                    elif made.outcome == "ok" and action == "release":
                        with self.lock:
                            self.open.append(request_id)
                else:
                    self.recorder.nearby(self._spot(rng))
                # Steady, not flat out: a replacement worker must be able to boot meanwhile.
                time.sleep(rng.uniform(0.005, 0.03))
        except BaseException as exc:  # noqa: BLE001 - reported by __exit__
            self.crashed.append(repr(exc))


# -- what the database holds ---------------------------------------------------------------


def snapshot(dsn):
    with psycopg.connect(dsn) as conn:
        requests_ = {
            row[0]: row
            for row in conn.execute(
                "SELECT id, status, claimed_by_id, lease_expires_at, phone FROM help_requests"
            )
        }
        assists = conn.execute(
            "SELECT id, request_id, volunteer_id, outcome FROM assists ORDER BY id"
        ).fetchall()
        events = conn.execute(
            "SELECT id, request_id, from_status, to_status, actor_id, assist_id, reason "
            "FROM request_events ORDER BY id"
        ).fetchall()
    return requests_, assists, events


def half_done(requests_, assists, events):
    """Every way the database could hold a write only partly; empty when consistent."""
    # A request is claimed exactly when one assist of it is still open (outcome NULL), held
    # by the volunteer the request names, with a lease; every assist has the event of its
    # claim; a helped request has its helped assist; and each request's events, in order,
    # lead from its 'posted' event (nothing -> open) to the status it has now.
    problems = []
    open_assists = defaultdict(list)
    helped_assists = Counter()
    for _assist_id, request_id, volunteer_id, outcome in assists:
        if outcome is None:
            open_assists[request_id].append(volunteer_id)
        elif outcome == "helped":
            helped_assists[request_id] += 1
    claim_events = Counter(
        assist_id for _, _, _, to_status, _, assist_id, _ in events if to_status == "claimed"
    )
    history = defaultdict(list)
    for _, request_id, from_status, to_status, *_ in events:
        history[request_id].append((from_status, to_status))
    for request_id, status, claimed_by, lease, _ in requests_.values():
        holders = open_assists.get(request_id, [])
        if status == "claimed":
            if holders != [claimed_by] or lease is None:
                problems.append(
                    f"request {request_id} claimed by {claimed_by} (lease {lease}) "
                    f"but its open assists are by {holders}"
                )
        elif holders:
            problems.append(f"request {request_id} is {status} with open assists by {holders}")
        if status == "helped" and helped_assists[request_id] != 1:
            problems.append(
                f"request {request_id} is helped with {helped_assists[request_id]} helped assists"
            )
        steps = history.get(request_id, [])
        if not steps or steps[0] != (None, "open"):
            problems.append(f"request {request_id} has no 'posted' event first: {steps[:2]}")
            continue
        for (_, before), (after, _) in zip(steps, steps[1:]):
            if before != after:
                problems.append(f"request {request_id}'s events skip from {before} to {after}")
        if steps[-1][1] != status:
            problems.append(
                f"request {request_id} is {status}, its last event says {steps[-1][1]}"
            )
    for assist_id, request_id, *_ in assists:
        if claim_events[assist_id] != 1:
            problems.append(
                f"assist {assist_id} of request {request_id} has "
                f"{claim_events[assist_id]} claim events"
            )
    return problems


def unacknowledged_losses(calls, requests_, assists, events):
    """(Acknowledged writes missing and writes nobody sent, acknowledged writes found by kind)."""
    problems, verified = [], Counter()
    acked = [c for c in calls if c.outcome == "ok" and c.kind in WRITES]
    maybe = [c for c in calls if c.ambiguous and c.kind in WRITES]
    assists_by = Counter((request_id, volunteer) for _, request_id, volunteer, _ in assists)
    outcomes_by = Counter(
        (request_id, volunteer, outcome) for _, request_id, volunteer, outcome in assists
    )
    releases_by = Counter(
        (request_id, actor)
        for _, request_id, from_status, to_status, actor, _, _ in events
        if (from_status, to_status) == ("claimed", "open")
    )
    wanted = defaultdict(Counter)  # kind -> (request, volunteer) -> acknowledged
    attempted = defaultdict(Counter)  # the same, counting the unacknowledged attempts too
    for made in acked:
        if made.kind == "post":
            if made.request_id in requests_:
                verified["post"] += 1
            else:
                problems.append(f"acknowledged post {made.request_id} is not in the database")
        else:
            wanted[made.kind][made.request_id, made.volunteer] += 1
        attempted[made.kind][made.request_id, made.volunteer] += 1
    for made in maybe:
        attempted[made.kind][made.request_id, made.volunteer] += 1
    for key, count in wanted["claim"].items():
        if assists_by[key] < count:
            problems.append(
                f"claims of request/volunteer {key}: {count} acknowledged, "
                f"{assists_by[key]} in the database"
            )
        else:
            verified["claim"] += count
    for key, count in assists_by.items():
        if count > attempted["claim"][key]:
            problems.append(
                f"request/volunteer {key}: {count} assists but only "
                f"{attempted['claim'][key]} claims were sent"
            )
    for key, count in wanted["release"].items():
        if releases_by[key] < count or outcomes_by[key + ("released",)] < count:
            problems.append(
                f"releases of request/volunteer {key}: {count} acknowledged, "
                f"{releases_by[key]} in the database"
            )
        else:
            verified["release"] += count
    for (request_id, volunteer), count in wanted["helped"].items():
        status = requests_[request_id][1] if request_id in requests_ else "missing"
        if status != "helped" or outcomes_by[request_id, volunteer, "helped"] != 1:
            problems.append(
                f"acknowledged helped of request {request_id} by {volunteer}: it is {status}"
            )
        else:
            verified["helped"] += count
    posted_ids = {c.request_id for c in acked if c.kind == "post"}
    unasked = set(requests_) - posted_ids
    maybe_posts = [c.phone for c in maybe if c.kind == "post"]
    if len(unasked) > len(maybe_posts) or {requests_[i][4] for i in unasked} - set(maybe_posts):
        problems.append(f"requests {sorted(unasked)} were never acknowledged nor left unanswered")
    return problems, verified


def check_database(dsn, calls):
    rows = snapshot(dsn)
    problems = half_done(*rows)
    lost, verified = unacknowledged_losses(calls, *rows)
    assert not problems + lost, (problems + lost)[:20]
    return rows, verified


def summary(calls):
    return dict(sorted(Counter(f"{c.kind}:{c.outcome}" for c in calls).items()))


# -- the faults ----------------------------------------------------------------------------


def _paused(server, name, send):
    """Send a call that waits between its writes and its commit; (worker pid, thread, result)."""
    # It waits until the test deletes its marker (or its worker is killed); the result dict
    # gets the call under "call" once it is answered.
    holder = {}
    thread = threading.Thread(
        target=lambda: holder.update(call=send({"X-Fault-Pause": name})), daemon=True
    )
    thread.start()
    marker = server.pause_dir / name
    deadline = time.monotonic() + 20
    while not marker.exists():
        assert thread.is_alive(), f"the paused call returned: {holder['call'].describe()}"
        assert time.monotonic() < deadline, f"call {name} never reached its commit"
        time.sleep(0.01)
    return int(marker.read_text()), thread, holder


def test_postgres_restart_under_load_answers_503_recovers_and_loses_no_acknowledged_write(
    own_postgres, serve
):
    """PostgreSQL stopped (immediate shutdown, as in a crash) for 2 s under load, then started.

    While it is away every call is answered: 503 database_unavailable in the error envelope
    (nearby may still serve its in-memory list for the configured staleness limit), never a
    500, an HTML page or a dropped connection; so is a post whose commit meets the stopped
    database. It recovers on its own within 10 s of the database being back, with no worker
    lost; afterwards the database holds every write the clients were told succeeded and no
    half-done claim.
    """
    server = serve(own_postgres.url)
    recorder = Recorder(server.base)
    volunteers = [enlist(recorder) for _ in range(LOAD_THREADS)]
    workers_before = server.workers()
    phone = new_phone()
    with Load(recorder, volunteers):
        time.sleep(2)
        _, committing, held = _paused(
            server,
            "commit",
            lambda headers: recorder.call(
                "post at the stop",
                "POST",
                "/api/v1/requests",
                json=request_payload(phone=phone),
                headers=headers,
                phone=phone,
            ),
        )
        stopping = time.monotonic()
        own_postgres.stop_server("immediate")
        down = time.monotonic()
        (server.pause_dir / "commit").unlink()  # its commit now meets a database that is gone
        committing.join(20)
        time.sleep(2)
        starting = time.monotonic()
        own_postgres.start_server()
        up = time.monotonic()
        # Keep the load on until 2 s have passed without a 503 (at most 20 s).
        while time.monotonic() < up + 20:
            last = max([c.ended for c in recorder.calls if c.outcome == "unavailable"] + [up])
            if time.monotonic() - last >= 2:
                break
            time.sleep(0.1)
    calls = recorder.calls
    print(f"\n[restart] calls by outcome: {summary(calls)}")

    bad = [c.describe() for c in calls if c.outcome in ("bad", "dropped")]
    assert not bad, f"{len(bad)} calls not answered cleanly: {bad[:10]}\n{server.log_tail()}"
    assert server.workers() == workers_before, "a worker died while the database was away"
    assert held["call"].outcome == "unavailable", held["call"].describe()

    unavailable = [c for c in calls if c.outcome == "unavailable"]
    away = [c for c in calls if c.kind in WRITES and c.started > down and c.ended < starting]
    assert away, "no write was tried while the database was away"
    assert all(c.outcome == "unavailable" for c in away), [
        c.describe() for c in away if c.outcome != "unavailable"
    ]
    first_503 = min(c.ended for c in unavailable)
    last_503 = max(c.ended for c in unavailable)
    recovery = max(0.0, last_503 - up)
    slowest = max(c.ended - c.started for c in calls if c.started > stopping and c.ended < up)
    print(
        f"[restart] stop took {down - stopping:.2f} s, start {up - starting:.2f} s; "
        f"{len(unavailable)} answers 503 database_unavailable ({len(away)} writes while "
        f"away, slowest answer {slowest:.2f} s), from {first_503 - stopping:.2f} s after "
        f"the stop began to {last_503 - stopping:.2f} s; recovered {recovery:.2f} s after "
        f"the database was back ({up - stopping:.2f} s after the stop began)"
    )
    assert recovery <= RECOVERY_LIMIT_S, f"recovered only after {recovery:.2f} s"
    after = Counter(c.kind for c in calls if c.outcome == "ok" and c.started > up + recovery)
    assert all(after[kind] for kind in ("post", "claim", "nearby")), after

    rows, verified = check_database(own_postgres.dsn, calls)
    assert phone not in {row[4] for row in rows[0].values()}, "a failed commit was kept"
    maybe = Counter(c.kind for c in calls if c.ambiguous and c.kind in WRITES)
    print(
        f"[restart] acknowledged writes found in the database: {dict(verified)}; "
        f"unacknowledged (503) writes: {dict(maybe)}; {len(rows[0])} requests, "
        f"{len(rows[1])} assists, {len(rows[2])} events consistent"
    )


def _row_locked(dsn, request_id):
    with psycopg.connect(dsn, autocommit=True) as conn:
        try:
            with conn.transaction():
                conn.execute(
                    "SELECT 1 FROM help_requests WHERE id = %s FOR UPDATE NOWAIT", (request_id,)
                )
        except psycopg.errors.LockNotAvailable:
            return True
    return False


def _held_write_transactions(dsn):
    """Sessions that wrote and have sat uncommitted, idle, for over half a second."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        return conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND state = 'idle in transaction' AND backend_xid IS NOT NULL "
            "AND state_change < now() - interval '0.5 seconds'"
        ).fetchone()[0]


def test_worker_killed_mid_request_others_keep_serving_and_nothing_is_half_written(
    pg_cluster, postgis_template, serve
):
    """SIGKILL a worker in the middle of a post, of a claim, and once wherever it is, under load.

    Only the calls that the killed worker held fail (a dropped connection, never an error
    answer); the other workers keep serving through each kill, the master starts a
    replacement that serves too, and the killed transactions leave nothing behind: the post
    is not there, the claimed request is open again with no assist, and the data is
    consistent.
    """
    database_url = _clone_postgis(pg_cluster, postgis_template)  # the database stays up here
    dsn = database_url.replace("postgresql+psycopg://", "postgresql://")
    server = serve(database_url)
    recorder = Recorder(server.base)
    volunteers = [enlist(recorder) for _ in range(LOAD_THREADS)]
    claimant = enlist(recorder, proven=False)
    target = expect_ok(recorder.post()).request_id  # the load never touches it
    kills = []  # (when, killed pid, what it was doing, its replacement's pid, spawned after)

    def kill(pid, what):
        before = server.workers()
        assert pid in before, f"{pid} is not a worker of this server"
        when = time.monotonic()
        os.kill(pid, signal.SIGKILL)
        spawned = server.wait_replaced(pid)
        (replacement,) = server.workers() - before
        kills.append((when, pid, what, replacement, spawned))

    def serving(pids):
        """Workers among ``pids`` that have answered a call."""
        return {c.worker for c in recorder.calls if c.outcome == "ok"} & set(pids)

    def wait_serving(pids, timeout=60):
        # A new worker imports and builds the app before it takes traffic: seconds on a
        # loaded machine.
        deadline = time.monotonic() + timeout
        while serving(pids) != set(pids):
            assert time.monotonic() < deadline, (
                f"replacement workers {sorted(set(pids) - serving(pids))} answered nothing in "
                f"{timeout} s:\n{server.log_tail()}"
            )
            time.sleep(0.1)

    with Load(recorder, volunteers):
        time.sleep(2)

        phone = new_phone()
        pid, thread, held = _paused(
            server,
            "post",
            lambda headers: recorder.call(
                "paused post",
                "POST",
                "/api/v1/requests",
                json=request_payload(phone=phone),
                headers=headers,
                phone=phone,
            ),
        )
        time.sleep(0.6)
        assert _held_write_transactions(dsn), "the paused post holds no written transaction"
        kill(pid, "post before its commit")
        thread.join(20)
        assert held["call"].outcome == "dropped", held["call"].describe()
        time.sleep(1.5)

        pid, thread, held = _paused(
            server,
            "claim",
            lambda headers: recorder.act(
                "claim", target, claimant, headers=headers, kind="paused claim"
            ),
        )
        assert _row_locked(dsn, target), "the paused claim holds no row lock"
        kill(pid, "claim before its commit")
        thread.join(20)
        assert held["call"].outcome == "dropped", held["call"].describe()
        deadline = time.monotonic() + 10
        while _row_locked(dsn, target):  # the server ends the dead transaction
            assert time.monotonic() < deadline, "the killed claim's lock is still held"
            time.sleep(0.05)

        # Once a replacement serves, kill a serving worker wherever it is in its work.
        wait_serving([kills[0][3]])
        pid = random.Random(7).choice(sorted(serving(server.workers())))
        kill(pid, "whatever it was doing")
        wait_serving(server.workers() - {kills[-1][3]})  # the earlier replacements
        time.sleep(1)
    calls = recorder.calls
    print(f"\n[kill] calls by outcome: {summary(calls)}")

    bad = [c.describe() for c in calls if c.outcome in ("bad", "unavailable")]
    assert not bad, f"{len(bad)} calls answered wrongly: {bad[:10]}\n{server.log_tail()}"
    # A dropped call is one the killed worker held: in flight when a kill landed (the kill
    # takes effect a moment after os.kill returns).
    dropped = [c for c in calls if c.outcome == "dropped"]
    stray = [
        c.describe()
        for c in dropped
        if not any(c.started <= when + 0.5 and when <= c.ended for when, *_ in kills)
    ]
    assert not stray, f"calls dropped with no kill in flight: {stray}"
    answered_by = Counter(c.worker for c in calls if c.outcome == "ok" and c.worker)
    figures = []
    for when, pid, what, replacement, spawned in kills:
        served = [
            c for c in calls if c.outcome == "ok" and when < c.started and c.ended < when + 3.0
        ]
        assert served, f"nothing was served in the 3 s after killing {pid} ({what})"
        first = min(
            [c.ended - when for c in calls if c.outcome == "ok" and c.worker == replacement]
            or [None]
        )
        figures.append(
            f"{what}: {len(served)} calls served in the next 3 s, replacement "
            f"{replacement} spawned after {spawned:.2f} s, answering after "
            + (f"{first:.1f} s" if first is not None else "the load stopped")
        )
    print(
        f"[kill] {len(dropped)} calls dropped, all in flight at a kill; "
        + "; ".join(figures)
        + f"; calls answered per worker pid: {dict(answered_by)}"
    )

    rows, verified = check_database(dsn, calls)
    requests_, assists, _ = rows
    assert phone not in {row[4] for row in requests_.values()}, "the killed post was kept"
    assert requests_[target][1] == "open" and not [a for a in assists if a[1] == target], (
        "the killed claim left a trace"
    )
    again = recorder.act("claim", target, claimant)
    assert again.outcome == "ok", again.describe()
    print(
        f"[kill] acknowledged writes found in the database: {dict(verified)}; "
        f"{len(requests_)} requests, {len(assists)} assists, {len(rows[2])} events "
        f"consistent"
    )
