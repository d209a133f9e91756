"""`make loadtest`: connect on gunicorn and PostGIS under Locust, against a bare Flask ceiling.

Run under tools/pgcluster.py (it sets DATABASE_URL). Steps: migrate the cluster's database,
load LOADTEST_REQUESTS open requests and LOADTEST_VOLUNTEERS volunteers (loadtest/data.py),
then drive over loopback, each phase LOADTEST_SECONDS long with LOADTEST_USERS users (one
keep-alive connection each, no pauses):

1. the ceiling (loadtest/ceiling.py on the same gunicorn config): jsonify, then pre-encoded;
2. connect, nearby lists only (the throughput target), and again with gzip (for reference);
3. connect, the issue's mix (loadtest/locustfile.py), with the freshness probe beside it.

Writes the report (LOADTEST_REPORT, default instance/loadtest-report.md) and prints it.
Gunicorn workers: LOADTEST_WORKERS (WEB_CONCURRENCY); Locust processes: LOADTEST_LOCUST_PROCESSES.
"""

import csv
import json
import os
import platform
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

import psutil

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from loadtest import data  # noqa: E402

BIN = os.path.dirname(sys.executable)
# All load comes from 127.0.0.1 and a handful of volunteers claim over and over: the limits
# that count by address or by volunteer are raised for the run (and only those).
RAISED_LIMITS = {
    "RATELIMIT_POST_PER_IP": "1000000 per hour",
    "RATELIMIT_CLAIMS_PER_VOLUNTEER": "1000000 per hour",
}
WRK_CEILING = "ceiling: bare Flask, jsonify (wrk)"
WRK_NEARBY = "connect: nearby only (wrk)"
TARGET_SHARE = 0.70
TARGET_P99_MS = 50.0
TARGET_FRESH_S = 1.0


def _int(name, default):
    return int(os.environ.get(name) or default)


SETTINGS = {
    "requests": _int("LOADTEST_REQUESTS", 1_000_000),
    "volunteers": _int("LOADTEST_VOLUNTEERS", 100_000),
    "seconds": _int("LOADTEST_SECONDS", 60),
    "users": _int("LOADTEST_USERS", 32),
    "workers": _int("LOADTEST_WORKERS", 2),
    "locust_processes": _int("LOADTEST_LOCUST_PROCESSES", 1),
    "probe_samples": _int("LOADTEST_PROBE_SAMPLES", 200),
    "gzip_phase": os.environ.get("LOADTEST_GZIP_PHASE", "1") != "0",
    "report": os.environ.get("LOADTEST_REPORT")
    or os.path.join(ROOT, "instance", "loadtest-report.md"),
}


def log(message):
    print(message, file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---- CPU accounting: what each side used during a phase -------------------------------------


def _tree_cpu(pid):
    """CPU seconds of a process and its live children (0 if gone)."""
    total = 0.0
    try:
        root = psutil.Process(pid)
        for proc in [root, *root.children(recursive=True)]:
            try:
                times = proc.cpu_times()
                total += times.user + times.system
            except psutil.NoSuchProcess:
                pass
    except psutil.NoSuchProcess:
        pass
    return total


def _postmaster_pid():
    """The cluster's postmaster (via its data directory), or None where it cannot be read."""
    try:
        import psycopg
        from sqlalchemy.engine import make_url

        url = make_url(os.environ["DATABASE_URL"])
        # tools/pgcluster.py's superuser may read the setting; the app's role may not.
        with psycopg.connect(
            host=url.host, port=url.port, user="postgres", dbname="postgres"
        ) as conn:
            directory = conn.execute("SHOW data_directory").fetchone()[0]
        with open(os.path.join(directory, "postmaster.pid")) as handle:
            return int(handle.readline())
    except Exception:
        return None


class CpuMeter:
    """Cores used by the server, PostgreSQL, the load generator and everything else."""

    def __init__(self, server_pid, postmaster_pid):
        self.pids = {"gunicorn": server_pid, "postgres": postmaster_pid}

    def start(self):
        self.t0 = time.monotonic()
        self.sys0 = psutil.cpu_times()
        self.tree0 = {k: _tree_cpu(p) if p else 0.0 for k, p in self.pids.items()}
        self.children0 = _children_cpu()

    def stop(self):
        wall = time.monotonic() - self.t0
        sys1 = psutil.cpu_times()
        busy = (
            sum(sys1)
            - sys1.idle
            - sys1.iowait
            - (sum(self.sys0) - self.sys0.idle - self.sys0.iowait)
        )
        used = {k: (_tree_cpu(p) - self.tree0[k]) if p else None for k, p in self.pids.items()}
        # Locust and the probe have exited (and been waited for) by now.
        used["locust + probe"] = _children_cpu() - self.children0
        used["others on the machine"] = busy - sum(v for v in used.values() if v)
        return {k: (v / wall if v is not None else None) for k, v in used.items()}


def _children_cpu():
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


# ---- the server ---------------------------------------------------------------------------


class Server:
    """gunicorn with the project's gunicorn.conf.py serving loadtest/serve.py's app."""

    def __init__(self, kind, env, workdir, port=None):
        self.kind, self.port = kind, port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = dict(
            env, PORT=str(self.port), LOADTEST_APP=kind, WEB_CONCURRENCY=str(SETTINGS["workers"])
        )
        self.access = open(os.path.join(workdir, f"{kind}-access.log"), "w")
        self.errors_path = os.path.join(workdir, f"{kind}-error.log")
        self.errors = open(self.errors_path, "w")

    def start(self, ready_path):
        """Start and wait until every worker answers; (seconds, note or None)."""
        started = time.monotonic()
        if self._start(ready_path):
            return time.monotonic() - started, None
        # gunicorn kills a worker silent for `timeout` (30 s), also while post_worker_init
        # loads its read model: found out, said in the report, and started again with more.
        self.stop()
        self.__init__(
            self.kind,
            dict(self.env, GUNICORN_CMD_ARGS="--timeout 600"),
            os.path.dirname(self.errors_path),
            self.port,
        )
        started_again = time.monotonic()
        if not self._start(ready_path):
            raise SystemExit(f"gunicorn ({self.kind}) workers time out; see {self.errors_path}")
        return time.monotonic() - started_again, (
            f"with gunicorn.conf.py as it is, the workers were killed (WORKER TIMEOUT, the "
            f"default 30 s) while loading the read model, {started_again - started:.0f} s "
            'spent; started again with GUNICORN_CMD_ARGS="--timeout 600"'
        )

    def _start(self, ready_path):
        """Start gunicorn; True once every worker answered, False on a worker timeout."""
        started = time.monotonic()
        # start_new_session: a Ctrl-C in the terminal reaches the driver, which stops it.
        self.proc = subprocess.Popen(
            [os.path.join(BIN, "gunicorn"), "--config", "gunicorn.conf.py", "loadtest.serve:app"],
            cwd=ROOT,
            env=self.env,
            stdout=self.access,
            stderr=self.errors,
            start_new_session=True,
        )
        pids = set()
        deadline = started + 1800
        while len(pids) < SETTINGS["workers"]:
            if self.proc.poll() is not None:
                raise SystemExit(f"gunicorn ({self.kind}) exited; see {self.errors_path}")
            if time.monotonic() > deadline:
                raise SystemExit(f"gunicorn ({self.kind}) not ready after 30 min")
            with open(self.errors_path, errors="replace") as handle:
                if "WORKER TIMEOUT" in handle.read():
                    return False
            try:
                with urllib.request.urlopen(self.url + ready_path, timeout=60) as response:
                    pids.add(response.headers["X-Worker-Pid"])
            except OSError:
                time.sleep(0.5)
        return True

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.access.close()
        self.errors.close()

    def error_lines(self):
        """Tracebacks and worker deaths in gunicorn's error log."""
        with open(self.errors_path, errors="replace") as handle:
            text = handle.read()
        if self.kind == "ceiling":
            # gunicorn.conf.py warms connect's read model, which the ceiling has not.
            text = "\n".join(part for part in text.split("\n[") if "warm-up failed" not in part)
        return [
            line.rstrip()
            for line in text.splitlines()
            if "Traceback" in line
            or "WORKER TIMEOUT" in line
            or "Worker (pid:" in line
            or "[ERROR]" in line
            or "[CRITICAL]" in line
        ]


# ---- Locust -------------------------------------------------------------------------------


def run_locust(user_class, server, env, workdir, tag, seconds=None, users=None):
    """Run one headless phase; (rows per endpoint name, failures, wall seconds)."""
    prefix = os.path.join(workdir, tag)
    users = users or SETTINGS["users"]
    command = [
        os.path.join(BIN, "locust"),
        "-f",
        os.path.join(ROOT, "loadtest", "locustfile.py"),
        "--headless",
        "-u",
        str(users),
        "-r",
        str(users),
        "-t",
        f"{seconds or SETTINGS['seconds']}s",
        "--host",
        server.url,
        "--csv",
        prefix,
        "--reset-stats",
        "--only-summary",
        "--stop-timeout",
        "5",
        "--loglevel",
        "WARNING",
        user_class,
    ]
    if SETTINGS["locust_processes"] > 1:
        command[1:1] = ["--processes", str(SETTINGS["locust_processes"])]
    with open(prefix + ".out", "w") as out:
        subprocess.run(command, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
    with open(prefix + "_stats.csv") as handle:
        rows = {row["Name"]: row for row in csv.DictReader(handle)}
    with open(prefix + "_failures.csv") as handle:
        failures = list(csv.DictReader(handle))
    return rows, failures


# wrk (C, event loop) drives the throughput and latency phases: it leaves the server nearly all
# the CPU Locust would take on these 2 cores, as the architecture's baselines were measured.
WRK_SCRIPT = """
local paths = {%s}
local n = 0
request = function()
  n = n %% #paths + 1
  return wrk.format("GET", paths[n])
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK {"requests": %%d, "duration_us": %%d, "p50": %%d, "p95": %%d, "p99": %%d, "max": %%d, '
    .. '"connect": %%d, "read": %%d, "write": %%d, "status": %%d, "timeout": %%d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(95),
    latency:percentile(99), latency.max, e.connect, e.read, e.write, e.status, e.timeout))
end
"""


def run_wrk(name, paths, server, workdir, tag, seconds=None, connections=None):
    """One wrk phase over paths, round robin; (rows like Locust's, failures)."""
    script = os.path.join(workdir, tag + ".lua")
    with open(script, "w") as handle:
        handle.write(WRK_SCRIPT % ", ".join(json.dumps(path) for path in paths))
    connections = connections or SETTINGS["users"]
    out = subprocess.run(
        [
            "wrk",
            "-t",
            "2",
            "-c",
            str(connections),
            "-d",
            f"{seconds or SETTINGS['seconds']}s",
            "--timeout",
            "10s",
            "-s",
            script,
            server.url,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    with open(os.path.join(workdir, tag + ".out"), "w") as handle:
        handle.write(out)
    stats = json.loads(out[out.index("WRK ") + 4 :].splitlines()[0])
    errors = sum(stats[k] for k in ("connect", "read", "write", "status", "timeout"))
    row = {
        "Name": name,
        "Request Count": stats["requests"],
        "Requests/s": stats["requests"] / (stats["duration_us"] / 1e6),
        "50%": round(stats["p50"] / 1000),
        "95%": round(stats["p95"] / 1000),
        "99%": round(stats["p99"] / 1000),
        "Max Response Time": stats["max"] / 1000,
        "Failure Count": errors,
    }
    # wrk counts a status of 400 or more as a "status" error: none is expected here.
    failures = [
        {"Method": "GET", "Name": name, "Error": f"wrk {kind} errors", "Occurrences": stats[kind]}
        for kind in ("connect", "read", "write", "status", "timeout")
        if stats[kind]
    ]
    return {name: row, "Aggregated": dict(row, Name="Aggregated")}, failures


def wrk_phase(title, name, paths, server, meter, workdir, tag):
    log(f"phase: {title} ({SETTINGS['seconds']} s, wrk)")
    meter.start()
    rows, failures = run_wrk(name, paths, server, workdir, tag)
    cpu = meter.stop()
    total = rows["Aggregated"]
    log(
        f"  {total['Requests/s']:.0f} req/s, p50 {total['50%']} ms, p99 {total['99%']} ms, "
        f"errors {total['Failure Count']}"
    )
    return {"title": title, "rows": rows, "failures": failures, "cpu": cpu}


def phase(title, user_class, server, env, meter, workdir, tag, probe_out=None, seconds=None):
    seconds = seconds or SETTINGS["seconds"]
    log(f"phase: {title} ({seconds} s)")
    meter.start()
    probe = None
    if probe_out:
        probe = subprocess.Popen(
            [sys.executable, "-m", "loadtest.probe", server.url, probe_out],
            cwd=ROOT,
            # It starts once every user is connected and stops before they do.
            env=dict(
                env, LOADTEST_PROBE_DELAY="4", LOADTEST_PROBE_SECONDS=str(max(5, seconds - 8))
            ),
        )
    rows, failures = run_locust(user_class, server, env, workdir, tag, seconds)
    if probe:
        probe.wait()
    cpu = meter.stop()
    result = {"title": title, "rows": rows, "failures": failures, "cpu": cpu}
    total = rows.get("Aggregated", {})
    log(
        f"  {float(total.get('Requests/s', 0)):.0f} req/s, p50 {total.get('50%')} ms, "
        f"p99 {total.get('99%')} ms, failures {total.get('Failure Count')}"
    )
    return result


# ---- the run ------------------------------------------------------------------------------


def migrate(env):
    subprocess.run(
        [os.path.join(BIN, "flask"), "db", "upgrade"],
        cwd=ROOT,
        check=True,
        env=dict(env, FLASK_APP="wsgi"),
        stdout=subprocess.DEVNULL,
    )


def psycopg_dsn(url):
    from sqlalchemy.engine import make_url

    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def main():
    from connect import clock

    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgresql"):
        raise SystemExit(
            "run under tools/pgcluster.py (make loadtest): DATABASE_URL must be a PostGIS database"
        )
    if SETTINGS["workers"] < 2:
        raise SystemExit("LOADTEST_WORKERS must be at least 2 (freshness is across workers)")
    secret = secrets.token_hex(8)
    env = dict(
        os.environ,
        LOADTEST_SECRET=secret,
        CONNECT_ENV="development",
        SECRET_KEY=secrets.token_hex(32),
        BLUR_SECRET=secrets.token_hex(32),
        DEMO_DATA="0",
        SESSION_COOKIE_SECURE="false",
        LOADTEST_REQUESTS=str(SETTINGS["requests"]),
        LOADTEST_VOLUNTEERS=str(SETTINGS["volunteers"]),
        LOADTEST_PROBE_SAMPLES=str(SETTINGS["probe_samples"]),
        PYTHONPATH=ROOT,
        **RAISED_LIMITS,
    )
    info = {
        "started": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "load_at_start": os.getloadavg(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
    }
    workdir = tempfile.mkdtemp(prefix="loadtest-")
    log(f"loadtest: {SETTINGS}, logs in {workdir}")
    migrate(env)
    info["data"] = data.load(
        psycopg_dsn(url),
        SETTINGS["requests"],
        SETTINGS["volunteers"],
        secret,
        clock.now(),
        out=sys.stderr,
    )
    postmaster = _postmaster_pid()
    results, servers = [], []

    ceiling = Server("ceiling", env, workdir)
    info["ceiling_ready_s"], _ = ceiling.start("/items")
    servers.append(ceiling)
    meter = CpuMeter(ceiling.proc.pid, postmaster)
    try:
        results.append(
            wrk_phase(
                WRK_CEILING,
                "GET /items (ceiling: jsonify)",
                ["/items"],
                ceiling,
                meter,
                workdir,
                "wrk-ceiling",
            )
        )
        results.append(
            phase(
                "ceiling: bare Flask, jsonify",
                "CeilingUser",
                ceiling,
                env,
                meter,
                workdir,
                "ceiling",
            )
        )
        results.append(
            phase(
                "ceiling: bare Flask, pre-encoded",
                "CeilingEncodedUser",
                ceiling,
                env,
                meter,
                workdir,
                "ceiling-encoded",
            )
        )
    finally:
        ceiling.stop()

    server = Server("connect", env, workdir)
    servers.append(server)
    probe_out = os.path.join(workdir, "probe.json")
    log("starting connect (each worker loads its read model before taking traffic)")
    info["connect_ready_s"], info["startup_note"] = server.start(
        "/api/v1/requests/nearby?lat=21.273&lon=106.194"
    )
    info["rss_mb"] = sorted(
        p.memory_info().rss / 2**20 for p in psutil.Process(server.proc.pid).children()
    )
    log(f"  ready in {info['connect_ready_s']:.1f} s")
    meter = CpuMeter(server.proc.pid, postmaster)
    try:
        paths = [
            f"/api/v1/requests/nearby?lat={lat:.6f}&lon={lon:.6f}"
            for lat, lon in data.query_points(2_000, seed=7).tolist()
        ]
        results.append(
            wrk_phase(
                WRK_NEARBY,
                "GET /api/v1/requests/nearby",
                paths,
                server,
                meter,
                workdir,
                "wrk-nearby",
            )
        )
        results.append(
            phase("connect: nearby only", "NearbyUser", server, env, meter, workdir, "nearby")
        )
        if SETTINGS["gzip_phase"]:
            results.append(
                phase(
                    "connect: nearby only, gzip",
                    "NearbyUser",
                    server,
                    dict(env, LOADTEST_ACCEPT_ENCODING="gzip"),
                    meter,
                    workdir,
                    "nearby-gzip",
                )
            )
        # Twice as long: the probe needs the time for its samples.
        results.append(
            phase(
                "connect: the mix, with the freshness probe",
                "MixUser",
                server,
                env,
                meter,
                workdir,
                "mix",
                probe_out=probe_out,
                seconds=2 * SETTINGS["seconds"],
            )
        )
    finally:
        server.stop()
    with open(probe_out) as handle:
        probe = json.load(handle)
    info["server_errors"] = {s.kind: s.error_lines() for s in servers}
    with open(os.path.join(workdir, "results.json"), "w") as handle:
        json.dump({"settings": SETTINGS, "info": info, "results": results, "probe": probe}, handle)
    report = render(info, results, probe)
    os.makedirs(os.path.dirname(SETTINGS["report"]), exist_ok=True)
    with open(SETTINGS["report"], "w") as handle:
        handle.write(report)
    print(report)
    log(f"report written to {SETTINGS['report']}; logs in {workdir}")
    return report


# ---- the report ---------------------------------------------------------------------------


def _pct(values, q):
    import numpy as np

    return float(np.percentile(values, q)) if values else float("nan")


def per_core(result):
    """Requests per second per core of CPU that gunicorn got in the phase."""
    return float(result["rows"]["Aggregated"]["Requests/s"]) / max(result["cpu"]["gunicorn"], 1e-9)


def _verdict(ok):
    return "met" if ok else "MISSED"


def render(info, results, probe):
    s = SETTINGS
    by_title = {r["title"]: r for r in results}
    ceiling = float(by_title[WRK_CEILING]["rows"]["Aggregated"]["Requests/s"])
    encoded = float(
        by_title["ceiling: bare Flask, pre-encoded"]["rows"]["Aggregated"]["Requests/s"]
    )
    ceiling_phase = by_title[WRK_CEILING]
    nearby_phase = by_title[WRK_NEARBY]
    nearby_row = nearby_phase["rows"]["Aggregated"]
    nearby = float(nearby_row["Requests/s"])
    locust_nearby = float(by_title["connect: nearby only"]["rows"]["Aggregated"]["Requests/s"])
    locust_ceiling = float(
        by_title["ceiling: bare Flask, jsonify"]["rows"]["Aggregated"]["Requests/s"]
    )
    mix = by_title["connect: the mix, with the freshness probe"]
    mix_nearby = mix["rows"].get("GET /api/v1/requests/nearby", {})
    p99_nearby_mix = float(mix_nearby.get("99%", "nan"))
    p99_mix = float(mix["rows"]["Aggregated"]["99%"])
    fresh = probe["samples"]
    fresh_p99 = _pct(fresh, 99)
    server_side = [
        f
        for r in results
        for f in r["failures"]
        # Locust may wrap the text: CatchResponseError('HTTP 409 claim_conflict').
        if "HTTP 4" not in f["Error"]
    ]
    d = info["data"]
    lines = [
        "# Load test: connect on gunicorn + PostGIS, driven by wrk and Locust",
        "",
        f"Run {info['started']} by `make loadtest` on {info['cpus']} cores, load average "
        f"{info['load_at_start'][0]:.2f} at the start. Load from other processes lowers the "
        'figures: their CPU share per phase is "others on the machine" in the CPU table.',
        "",
        f"- Data: {s['requests']:,} open requests and {s['volunteers']:,} on-duty volunteers "
        "with API tokens, generated as in `make bench` (bench/nearby.py's points: Bac Giang's "
        "bbox, 80 % around its towns; bench/bench.py's rows; bench/assignment.py's "
        f"volunteers): generated in {d['generate_s']:.1f} s, COPY into PostGIS "
        f"{d['copy_s']:.1f} s (indexes in place), VACUUM ANALYZE {d['vacuum_s']:.1f} s.",
        f"- Server: gunicorn with gunicorn.conf.py (gthread, {s['workers']} workers × "
        f"{os.environ.get('GUNICORN_THREADS', '4')} threads, access log on) serving "
        "loadtest/serve.py, i.e. wsgi:app with an X-Worker-Pid header added around it. "
        f"Ready (every worker's read model loaded) {info['connect_ready_s']:.1f} s after start; "
        f"worker RSS {', '.join(f'{m:.0f}' for m in info['rss_mb'])} MB"
        + (f" ({info['startup_note']})" if info["startup_note"] else "")
        + ". PostgreSQL: "
        "tools/pgcluster.py's throwaway cluster (shared_buffers 128 MB, fsync off, "
        "synchronous_commit on) on the same machine.",
        "- Rate limits raised for the run (all load comes from 127.0.0.1, and volunteers claim "
        "again and again): "
        + ", ".join(f'{k}="{v}"' for k, v in RAISED_LIMITS.items())
        + "; every other limit as configured, flask-limiter on.",
        f"- Load: wrk (2 threads, {s['users']} connections, paths round robin: 2,000 nearby "
        "points drawn like the data) for the throughput targets, as the architecture's "
        "baselines were measured; "
        f"Locust headless, {s['locust_processes']} processes, {s['users']} users = "
        f"{s['users']} keep-alive connections, no think time, {s['seconds']} s per phase after "
        "all users started; Accept-Encoding: identity (like wrk; the ceiling never compresses) "
        "except the gzip phase. Mix per task: nearby 85, view 8, claim+release 4, post 2, "
        "claim+helped+confirm 1; nearby points drawn like the data; claims name random "
        "requests and volunteers, so some meet a request already taken (409).",
        "",
        "## Targets",
        "",
        f"- nearby throughput / ceiling (wrk): {nearby:,.0f} / {ceiling:,.0f} req/s = "
        f"{nearby / ceiling:.2f} (>= {TARGET_SHARE:.2f}): "
        f"{_verdict(nearby >= TARGET_SHARE * ceiling)} (driven by Locust instead: "
        f"{locust_nearby:,.0f} / {locust_ceiling:,.0f} = {locust_nearby / locust_ceiling:.2f}; "
        f"against the pre-encoded ceiling under Locust, {encoded:,.0f} req/s: "
        f"{locust_nearby / encoded:.2f}; "
        f"per core of gunicorn CPU, which other people's load does not skew: "
        f"{per_core(nearby_phase):,.0f} / {per_core(ceiling_phase):,.0f} = "
        f"{per_core(nearby_phase) / per_core(ceiling_phase):.2f})",
        f"- nearby p99 at {s['users']} connections (wrk): {float(nearby_row['99%']):.0f} ms "
        f"(<= {TARGET_P99_MS:.0f} ms): {_verdict(float(nearby_row['99%']) <= TARGET_P99_MS)} "
        f"(the ceiling's: {float(ceiling_phase['rows']['Aggregated']['99%']):.0f} ms; nearby "
        f"under the Locust mix: {p99_nearby_mix:.0f} ms; every call of the mix: "
        f"{p99_mix:.0f} ms)",
        f"- freshness p99 under the mix: {fresh_p99:.3f} s (<= {TARGET_FRESH_S:.0f} s): "
        f"{_verdict(fresh_p99 <= TARGET_FRESH_S)} ({len(fresh)} samples)",
        f"- errors other than 4xx: {sum(int(f['Occurrences']) for f in server_side)} "
        f"(must be 0): {_verdict(not server_side)}",
        "",
        "## Per phase and endpoint",
        "",
        "| phase | endpoint | calls | req/s | p50 ms | p95 ms | p99 ms | max ms | 4xx |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for result in results:
        fails = {}
        for f in result["failures"]:
            fails.setdefault(f["Name"], []).append(
                f"{f['Error'].replace('HTTP ', '')} ×{f['Occurrences']}"
            )
        for name, row in result["rows"].items():
            label = "**all**" if name == "Aggregated" else name
            lines.append(
                f"| {result['title']} | {label} | {int(row['Request Count']):,} | "
                f"{float(row['Requests/s']):,.0f} | {row['50%']} | {row['95%']} | {row['99%']} | "
                f"{float(row['Max Response Time']):.0f} | "
                f"{'; '.join(fails.get(name, [])) or '-'} |"
            )
    lines += ["", "Failures, every phase (status and error code, or the connection error):", ""]
    all_failures = [f for r in results for f in r["failures"]]
    if not all_failures:
        lines.append("- none")
    for f in all_failures:
        lines.append(f"- {f['Method']} {f['Name']}: {f['Error']} × {f['Occurrences']}")
    claim, sent = probe["claim_ms"], probe["from_sent"]
    lines += [
        "",
        "## Freshness (the probe, during the mix)",
        "",
        "Claim the nearest request through one connection, then list the same point through "
        "fresh connections until a worker other than the claim's answers without it. The time "
        "runs from receiving the claim's answer (committed) to receiving that list, so it "
        "includes the list's own response time; from sending the claim it is an upper bound.",
        "",
        f"- claim answered → gone from another worker's list, {len(fresh)} samples: "
        f"p50 {_pct(fresh, 50):.3f} s, p95 {_pct(fresh, 95):.3f} s, p99 {fresh_p99:.3f} s, "
        f"max {max(fresh) if fresh else float('nan'):.3f} s",
        f"- claim sent → gone (upper bound): p50 {_pct(sent, 50):.3f} s, p99 "
        f"{_pct(sent, 99):.3f} s, max {max(sent) if sent else float('nan'):.3f} s",
        f"- the claim itself: p50 {_pct(claim, 50):.0f} ms, p99 {_pct(claim, 99):.0f} ms",
        f"- answers from another worker still listing it: {probe['stale_answers']}; from the "
        f"claim's own worker (must be 0): {probe['own_worker_stale']}; gave up after 10 s: "
        f"{probe['gave_up']}; skipped: {probe['skipped'] or 'none'}; errors: "
        f"{probe['errors'] or 'none'}",
        "",
        "## CPU (cores used during each phase, of " + str(info["cpus"]) + ")",
        "",
        "| phase | gunicorn | postgres | locust + probe | others on the machine "
        "| req/s per gunicorn core |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for result in results:
        cpu = result["cpu"]
        cells = [
            ("-" if cpu[k] is None else f"{cpu[k]:.2f}")
            for k in ("gunicorn", "postgres", "locust + probe", "others on the machine")
        ]
        lines.append(
            f"| {result['title']} | " + " | ".join(cells) + f" | {per_core(result):,.0f} |"
        )
    errors = [line for lines_ in info["server_errors"].values() for line in lines_]
    lines += [
        "",
        "## Server log",
        "",
        f"- gunicorn error log lines with tracebacks, 500s or worker deaths: {len(errors)}",
    ]
    lines += [f"  - `{line[:200]}`" for line in errors[:10]]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
