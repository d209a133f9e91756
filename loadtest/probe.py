"""Freshness probe: how long a committed claim stays in another worker's nearby list.

One sample: list nearby (nearest first) at a point drawn like the data, claim the nearest
request as a volunteer of its own, then list the same point again and again, each time on a
fresh connection so gunicorn hands it to any worker (X-Worker-Pid names it), until a worker
other than the claim's answers without the request. Two times: from receiving the claim's
answer (it committed before answering) to receiving that answer, the measure; and from
sending the claim, an upper bound that adds the claim's own time. Answers from the claim's
own worker must never show it (a process sees its own writes at once); they are counted.
Then the request is released. Run as ``python -m loadtest.probe URL OUT.json`` with the
load test's env; it stops after LOADTEST_PROBE_SAMPLES samples or LOADTEST_PROBE_SECONDS.
"""

import http.client
import json
import os
import sys
import time
from urllib.parse import urlsplit

from loadtest.data import query_points, token_for

GIVE_UP_S = 10.0
POLL_PAUSE_S = 0.005


class Client:
    def __init__(self, url):
        parts = urlsplit(url)
        self.host, self.port = parts.hostname, parts.port

    def call(self, method, path, headers=None):
        """(status, worker pid, parsed JSON body) over a new connection."""
        conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
        try:
            conn.request(method, path, headers={"Accept-Encoding": "identity", **(headers or {})})
            response = conn.getresponse()
            body = response.read()
            return response.status, response.getheader("X-Worker-Pid"), json.loads(body or b"{}")
        finally:
            conn.close()


def _ids(body):
    return {item["id"] for item in body.get("items", ())}


def run(url, samples, seconds, volunteers, secret):
    client = Client(url)
    points = query_points(samples * 4, seed=99).tolist()
    auth = {"Authorization": f"Bearer {token_for(secret, 'vol', volunteers[0])}"}
    result = {
        "samples": [],
        "from_sent": [],
        "claim_ms": [],
        "stale_answers": 0,
        "own_worker_stale": 0,
        "gave_up": 0,
        "skipped": {},
        "errors": [],
    }
    deadline = time.monotonic() + seconds
    volunteer = 0
    for lat, lon in points:
        if len(result["samples"]) >= samples or time.monotonic() > deadline:
            break
        nearby = f"/api/v1/requests/nearby?lat={lat:.6f}&lon={lon:.6f}&sort=distance"
        status, _, body = client.call("GET", nearby)
        if status != 200 or not body["items"]:
            reason = f"nearby {status}"
            result["skipped"][reason] = result["skipped"].get(reason, 0) + 1
            continue
        target = body["items"][0]["id"]
        sent = time.perf_counter()
        status, claim_pid, body = client.call("POST", f"/api/v1/requests/{target}/claim", auth)
        answered = time.perf_counter()
        if status != 200:
            code = f"claim {status} {body.get('error', {}).get('code')}"
            result["skipped"][code] = result["skipped"].get(code, 0) + 1
            if status == 409 and "limit" in code:  # a claim left over: take the next volunteer
                volunteer = (volunteer + 1) % len(volunteers)
                auth = {
                    "Authorization": f"Bearer {token_for(secret, 'vol', volunteers[volunteer])}"
                }
            continue
        result["claim_ms"].append((answered - sent) * 1000)
        while True:
            status, pid, body = client.call("GET", nearby)
            now = time.perf_counter()
            if status != 200:
                result["errors"].append(f"poll {status}")
            elif pid == claim_pid:
                result["own_worker_stale"] += target in _ids(body)
            elif target in _ids(body):
                result["stale_answers"] += 1
            else:
                break
            if now - sent > GIVE_UP_S:
                result["gave_up"] += 1
                break
            time.sleep(POLL_PAUSE_S)
        result["samples"].append(now - answered)
        result["from_sent"].append(now - sent)
        status, _, _ = client.call("POST", f"/api/v1/requests/{target}/release", auth)
        if status != 200:
            result["errors"].append(f"release {status}")
    return result


def main(argv):
    url, out = argv
    volunteers = int(os.environ.get("LOADTEST_VOLUNTEERS", "100000"))
    reserved = int(os.environ.get("LOADTEST_PROBE_VOLUNTEERS", "10"))
    time.sleep(float(os.environ.get("LOADTEST_PROBE_DELAY", "0")))
    result = run(
        url,
        int(os.environ.get("LOADTEST_PROBE_SAMPLES", "200")),
        float(os.environ.get("LOADTEST_PROBE_SECONDS", "60")),
        list(range(volunteers - reserved + 1, volunteers + 1)),
        os.environ.get("LOADTEST_SECRET", "dev"),
    )
    with open(out, "w") as handle:
        json.dump(result, handle)


if __name__ == "__main__":
    main(sys.argv[1:])
