"""Locust users for `make loadtest` (loadtest/run.py starts them headless; it sets the env).

MixUser is the issue's mix of what people do: nearby lists 85 %, request views 8 %, claim
then release 4 %, new requests 2 %, claim, mark helped and confirm 1 % (weights per task;
a task of several calls counts once). NearbyUser only lists; CeilingUser and
CeilingEncodedUser call the bare Flask app of loadtest/ceiling.py. Every user loops without
pausing, one keep-alive connection each, so N users are N connections. An answer of 400 or
more is a failure named by its status and error code; connection errors keep locust's text.
"""

import itertools
import os
import random
import sys

from locust import FastHttpUser, constant, task

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from loadtest.data import query_points, token_for  # noqa: E402

SECRET = os.environ.get("LOADTEST_SECRET", "dev")
N_REQUESTS = int(os.environ.get("LOADTEST_REQUESTS", "1000000"))
# The last LOADTEST_PROBE_VOLUNTEERS volunteers belong to the freshness probe.
N_VOLUNTEERS = int(os.environ.get("LOADTEST_VOLUNTEERS", "100000")) - int(
    os.environ.get("LOADTEST_PROBE_VOLUNTEERS", "10")
)
# "identity" like wrk (and the ceiling, which never compresses); "gzip" as phones send.
ENCODING = os.environ.get("LOADTEST_ACCEPT_ENCODING", "identity")

NEARBY = "GET /api/v1/requests/nearby"
VIEW = "GET /api/v1/requests/{id}"
CLAIM = "POST /api/v1/requests/{id}/claim"
RELEASE = "POST /api/v1/requests/{id}/release"
POST = "POST /api/v1/requests"
HELPED = "POST /api/v1/requests/{id}/helped"
CONFIRM = "POST /api/v1/requests/{id}/confirm"

CATEGORIES = ("food", "supplies", "medicine", "medical_advice", "other")
_POINTS = query_points(20_000, seed=os.getpid()).tolist()
# Phones for new requests: unique per process (pid) and post, apart from the generated ones.
_PHONES = (f"+8496{os.getpid() % 1000:03d}{n % 10000:04d}" for n in itertools.count())


def _check(response):
    """Mark an answer of 400 or more as a failure named by its status and error code."""
    if response.status_code and response.status_code < 400:
        response.success()
        return True
    if response.status_code:
        try:
            code = response.json()["error"]["code"]
        except Exception:  # not the error envelope
            code = "?"
        response.failure(f"HTTP {response.status_code} {code}")
    return False


class _User(FastHttpUser):
    abstract = True
    wait_time = constant(0)
    # One connection per user; no TLS on loopback.
    concurrency = 1
    default_headers = {"Accept-Encoding": ENCODING}

    def get(self, path, name, headers=None):
        with self.client.get(path, name=name, headers=headers, catch_response=True) as r:
            return _check(r), r

    def post(self, path, name, headers=None, json=None):
        with self.client.post(
            path, name=name, headers=headers, json=json, catch_response=True
        ) as r:
            return _check(r), r

    def list_nearby(self):
        lat, lon = random.choice(_POINTS)
        self.get(f"/api/v1/requests/nearby?lat={lat:.6f}&lon={lon:.6f}", NEARBY)


class NearbyUser(_User):
    @task
    def nearby(self):
        self.list_nearby()


class MixUser(_User):
    @task(85)
    def nearby(self):
        self.list_nearby()

    @task(8)
    def view(self):
        self.get(f"/api/v1/requests/{random.randint(1, N_REQUESTS)}", VIEW)

    def _claim(self):
        volunteer = random.randint(1, N_VOLUNTEERS)
        auth = {"Authorization": f"Bearer {token_for(SECRET, 'vol', volunteer)}"}
        request_id = random.randint(1, N_REQUESTS)
        ok, _ = self.post(f"/api/v1/requests/{request_id}/claim", CLAIM, auth)
        return ok, request_id, auth

    @task(4)
    def claim_release(self):
        ok, request_id, auth = self._claim()
        if ok:
            self.post(f"/api/v1/requests/{request_id}/release", RELEASE, auth)

    @task(2)
    def new_request(self):
        lat, lon = random.choice(_POINTS)
        self.post(
            "/api/v1/requests",
            POST,
            json={
                "categories": random.sample(CATEGORIES, random.randint(1, 2)),
                "description": "Cần gạo, mì tôm và thuốc hạ sốt; nhà có hai trẻ nhỏ.",
                "household_size": random.randint(1, 8),
                "urgency": "urgent" if random.random() < 0.2 else "normal",
                "location": {"lat": lat, "lon": lon},
                "contact_name": "Nguyễn Thị Lan",
                "phone": next(_PHONES),
            },
        )

    @task(1)
    def helped_confirm(self):
        ok, request_id, auth = self._claim()
        if ok:
            ok, _ = self.post(f"/api/v1/requests/{request_id}/helped", HELPED, auth)
        if ok:
            self.post(
                f"/api/v1/requests/{request_id}/confirm",
                CONFIRM,
                {"X-Manage-Token": token_for(SECRET, "req", request_id)},
            )


class CeilingUser(_User):
    @task
    def items(self):
        self.get("/items", "GET /items (ceiling: jsonify)")


class CeilingEncodedUser(_User):
    @task
    def items(self):
        self.get("/items-encoded", "GET /items-encoded (ceiling: pre-encoded)")
