"""What the request id and the metrics (connect.web.observe) add to a nearby fast-path answer.

    python bench/observe_cost.py [--rounds 20000]

Runs in prometheus-client's multiprocess mode, as gunicorn's workers do. Two figures, µs per
request, medians: (1) the middleware alone around a WSGI app that answers at once as the fast
path does; (2) a real fast-path answer (SQLite, 300 open requests nearby) with and without the
middleware, run back to back in random order, and the median of the paired differences.
"""

import argparse
import os
import random
import statistics
import sys
import tempfile
import time

os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="observe-bench-")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from connect.web.observe import ROUTE, ObservedRequests  # noqa: E402

QUERY = "lat=21.2731&lon=106.1946&radius_m=5000&limit=50"


def environ():
    return {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": "/api/v1/requests/nearby",
        "QUERY_STRING": QUERY,
        "wsgi.url_scheme": "http",
        "SERVER_NAME": "localhost",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": "localhost",
    }


def start_response(status, headers, exc_info=None):
    return None


def instant(env, start):
    env[ROUTE] = ("requests.nearby", "fast_path")
    start("200 OK", [("Content-Type", "application/json"), ("Content-Length", "2")])
    return [b"[]"]


def per_call_us(call, rounds):
    samples = []
    for _ in range(rounds):
        env = environ()
        started = time.perf_counter_ns()
        call(env, start_response)
        samples.append((time.perf_counter_ns() - started) / 1000)
    return statistics.median(samples)


def seeded_app(folder):
    from flask_migrate import upgrade

    from connect import create_app

    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{folder}/bench.db",
            "SECRET_KEY": "bench",
            "RATELIMIT_ENABLED": False,
            "DEMO_DATA": False,
            "SESSION_COOKIE_SECURE": False,
            "TESTING": True,
        }
    )
    with app.app_context():
        upgrade()
    client, rng = app.test_client(), random.Random(1)
    for i in range(300):
        response = client.post(
            "/api/v1/requests",
            json={
                "categories": ["food"],
                "description": "Cần gạo",
                "household_size": 3,
                "urgency": "normal",
                "contact_name": "Bench",
                "phone": f"+8491{i:07d}",
                "location": {
                    "lat": 21.2731 + rng.uniform(-0.03, 0.03),
                    "lon": 106.1946 + rng.uniform(-0.03, 0.03),
                },
            },
        )
        assert response.status_code == 201, response.get_json()
    client.get(f"/api/v1/requests/nearby?{QUERY}")  # Flask answers first: the path learns
    return app


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20000)
    rounds = parser.parse_args().rounds
    observed = ObservedRequests(instant)
    for call in (instant, observed):
        per_call_us(call, 2000)  # warm-up
    bare, wrapped = per_call_us(instant, rounds), per_call_us(observed, rounds)
    print(
        f"middleware alone: {wrapped - bare:.2f} µs a request "
        f"(instant app {bare:.2f} µs, wrapped {wrapped:.2f} µs)"
    )

    with tempfile.TemporaryDirectory() as folder:
        app = seeded_app(folder)
        fast_path = app.extensions["nearby_fast_path"]
        before = fast_path.answered
        differences, plain = [], []
        for _ in range(rounds // 4):
            times = {}
            for name in random.sample(["bare", "observed"], 2):
                call = fast_path if name == "bare" else app.wsgi_app
                env = environ()
                started = time.perf_counter_ns()
                call(env, start_response)
                times[name] = (time.perf_counter_ns() - started) / 1000
            differences.append(times["observed"] - times["bare"])
            plain.append(times["bare"])
        assert fast_path.answered - before == 2 * (rounds // 4), "not the fast path"
        print(
            f"fast path: {statistics.median(plain):.1f} µs an answer; the middleware adds "
            f"{statistics.median(differences):.2f} µs (median of paired differences)"
        )


if __name__ == "__main__":
    main()
