"""One OS process of the cross-process claim race (tests/integration/test_concurrent_claims.py).

    python tests/support/claim_worker.py '{"database_url": ..., "request_id": ..., "tokens": [...]}'

Builds its own app (its own engine and pool) on the given database, prints ``ready``, waits
for a ``go`` line on stdin, then fires one claim per token, all at once from one thread per
token (each with its own test client), and prints the results as one JSON line:
``[{"status": 200, "body": {...}, "started": t, "ended": t}, ...]`` (times: time.time()).
"""

import json
import logging
import sys
import threading
import time


def main():
    job = json.loads(sys.argv[1])
    logging.disable(logging.INFO)

    from sqlalchemy import text

    from connect import create_app
    from connect.extensions import db

    app = create_app(
        {
            "TESTING": True,
            "CONNECT_ENV": "development",
            "SECRET_KEY": "test-secret",
            "BLUR_SECRET": "test-blur-secret",
            "RATELIMIT_ENABLED": False,
            "DEMO_DATA": False,
            "SQLALCHEMY_DATABASE_URI": job["database_url"],
        }
    )
    tokens = job["tokens"]
    with app.app_context():  # connect once now, not inside the race
        db.session.execute(text("SELECT 1"))
        db.session.remove()
    clients = [app.test_client() for _ in tokens]
    # One party more than the threads: this thread lets them all go on the parent's word.
    barrier = threading.Barrier(len(tokens) + 1, timeout=60)
    results = [None] * len(tokens)

    def fire(i):
        try:
            barrier.wait()
            started = time.time()
            response = clients[i].post(
                f"/api/v1/requests/{job['request_id']}/claim",
                headers={"Authorization": f"Bearer {tokens[i]}"},
            )
            results[i] = {
                "status": response.status_code,
                "body": response.get_json(),
                "started": started,
                "ended": time.time(),
            }
        except BaseException as exc:  # reported to the parent, which fails the test
            results[i] = {"status": "exception", "body": repr(exc)}

    threads = [threading.Thread(target=fire, args=(i,)) for i in range(len(tokens))]
    for thread in threads:
        thread.start()
    print("ready", flush=True)
    if sys.stdin.readline().strip() != "go":
        barrier.abort()
        sys.exit(2)
    barrier.wait()
    for thread in threads:
        thread.join(60)
    print(json.dumps(results), flush=True)
    with app.app_context():
        db.engine.dispose()


if __name__ == "__main__":
    main()
