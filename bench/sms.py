"""SMS benchmark (issue 15): texts through a real Kannel and its fake SMS centre, on PostGIS.

1. Throughput: N texts (the Vietnamese "posted" text, two UCS-2 parts, each to its own number)
   are queued, then W ``flask connect worker`` processes send them through Kannel; printed:
   texts a second from the first text Kannel took to the last (worker start-up excluded), for
   1 and for 4 workers. The issue asks >= 200 a second.
2. Post -> SMS accepted by Kannel: requests posted through the app (about 10 a second) while
   one worker runs with its default poll; printed: p50 and p95 of the time from the post's
   commit to Kannel's answer (the text's created_at to its sent_at). The issue asks p95 <= 2 s.

Delivery reports go to a small local HTTP server that answers 200 (connect's own report
route is proven by the tests). Run as ``python bench/sms.py [--texts N]`` (PostGIS from
``$DATABASE_URL``, as set by ``tools/pgcluster.py run``); ``main(argv)`` returns the figures.
"""

import argparse
import os
import subprocess
import sys
import time

_HERE = os.path.dirname(os.path.abspath(__file__))
_ROOT = os.path.dirname(_HERE)
for _p in (_ROOT, _HERE, os.path.join(_ROOT, "tools"), os.path.join(_ROOT, "tests", "support")):
    if _p not in sys.path:
        sys.path.insert(0, _p)

import console_map  # noqa: E402

SECRET = "bench-inbound-secret"
FLASK = os.path.join(os.path.dirname(sys.executable), "flask")


def settings(kannel, callbacks, url):
    return {
        "SQLALCHEMY_DATABASE_URI": url,
        "SMS_BACKEND": "kannel",
        "KANNEL_SENDSMS_URL": kannel.sendsms_url,
        "KANNEL_USERNAME": kannel.username,
        "KANNEL_PASSWORD": kannel.password,
        "SMS_SENDER": "connect",
        "SMS_INBOUND_SECRET": SECRET,
        "PUBLIC_BASE_URL": callbacks.url,
        "SMS_QUIET_HOURS": "",
        "SMS_HOURLY_BUDGET": 1_000_000,
    }


def make_app(values):
    from connect import create_app

    return create_app(
        {
            **values,
            "CONNECT_ENV": "development",
            "SECRET_KEY": "bench",
            "BLUR_SECRET": "bench",
            "RATELIMIT_ENABLED": False,
            "DEMO_DATA": False,
        }
    )


def start_workers(count, values):
    env = {
        **os.environ,
        "CONNECT_ENV": "development",
        "SECRET_KEY": "bench",
        "BLUR_SECRET": "bench",
        "DATABASE_URL": values["SQLALCHEMY_DATABASE_URI"],
        "LOG_LEVEL": "WARNING",
        **{k: str(v) for k, v in values.items() if k != "SQLALCHEMY_DATABASE_URI"},
    }
    return [
        subprocess.Popen(
            [FLASK, "--app", "connect:create_app", "connect", "worker"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(count)
    ]


def stop(workers):
    for worker in workers:
        worker.terminate()
    for worker in workers:
        worker.wait(30)


def queue_texts(app, n, offset):
    from connect.extensions import db
    from connect.notifications.render import sms
    from connect.sms.outbound import send_text

    with app.app_context():
        for i in range(n):
            body = sms(
                "posted", "vi", number=100000 + i, link="https://connect.example.vn/s/ABCDEFGHJKMN"
            )
            send_text(f"+8497{offset + i:07d}", body, "posted", urgent=True)
        db.session.commit()


def sent_times(app, since_id=0):
    """(count sent, first sent_at, last sent_at, [created_at -> sent_at seconds])."""
    from sqlalchemy import select

    from connect.extensions import db
    from connect.sms.models import DELIVERED, SENT, SmsMessage

    with app.app_context():
        rows = db.session.execute(
            select(SmsMessage.created_at, SmsMessage.sent_at).where(
                SmsMessage.id > since_id, SmsMessage.status.in_((SENT, DELIVERED))
            )
        ).all()
        db.session.remove()
    if not rows:
        return 0, None, None, []
    sent = [s for _, s in rows]
    return len(rows), min(sent), max(sent), [(s - c).total_seconds() for c, s in rows]


def last_id(app):
    from sqlalchemy import func, select

    from connect.extensions import db
    from connect.sms.models import SmsMessage

    with app.app_context():
        value = db.session.execute(select(func.max(SmsMessage.id))).scalar() or 0
        db.session.remove()
        return value


def wait_for(app, since_id, n, timeout):
    deadline = time.monotonic() + timeout
    while True:
        count, first, last, delays = sent_times(app, since_id)
        if count >= n or time.monotonic() > deadline:
            return count, first, last, delays
        time.sleep(0.2)


def throughput(app, values, n, workers, offset):
    since = last_id(app)
    queue_texts(app, n, offset)
    running = start_workers(workers, values)
    try:
        count, first, last, _ = wait_for(app, since, n, timeout=max(60, n / 20))
    finally:
        stop(running)
    seconds = (last - first).total_seconds() if count > 1 else float("nan")
    return count, (count - 1) / seconds if seconds else float("nan")


def post_latency(app, values, posts):
    since = last_id(app)
    running = start_workers(1, values)
    client = app.test_client()
    try:
        time.sleep(2)  # the worker is up and polling
        for i in range(posts):
            answer = client.post("/api/v1/requests", json=payload(f"+8496{i:07d}"))
            assert answer.status_code == 201, answer.get_json()
            time.sleep(0.1)
        count, _, _, delays = wait_for(app, since, posts, timeout=60)
    finally:
        stop(running)
    delays.sort()
    return count, delays[len(delays) // 2], delays[int(len(delays) * 0.95) - 1]


def payload(phone):
    return {
        "categories": ["food"],
        "description": "Cần gạo và trứng cho 4 người",
        "household_size": 4,
        "location": {"lat": 21.2731, "lon": 106.1946},
        "contact_name": "Nguyễn Văn An",
        "phone": phone,
        "language": "vi",
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--texts", type=int, default=2000)
    parser.add_argument("--posts", type=int, default=200)
    args = parser.parse_args(argv)

    from kannel_callbacks import KannelCallbacks
    from kannelbox import TempKannel

    base = os.environ.get("DATABASE_URL")
    if not base:
        raise SystemExit("DATABASE_URL is not set: run it through tools/pgcluster.py run")
    url = console_map.fresh_postgis_url(base, "bench_sms")
    callbacks = KannelCallbacks().start()
    figures = {}
    try:
        with TempKannel(f"{callbacks.url}/sms/kannel/inbound", SECRET) as kannel:
            values = settings(kannel, callbacks, url)
            app = make_app(values)
            console_map.migrate(app)
            print(f"SMS through Kannel's fake SMS centre on PostGIS ({args.texts} texts):")
            for workers, offset in ((1, 0), (4, args.texts)):
                count, rate = throughput(app, values, args.texts, workers, offset)
                figures[f"texts/s, {workers} worker(s)"] = rate
                print(f"  {workers} worker(s): {count} sent, {rate:.0f} texts/s (>= 200)")
            count, p50, p95 = post_latency(app, values, args.posts)
            figures["post to Kannel p50 s"], figures["post to Kannel p95 s"] = p50, p95
            print(
                f"  post -> SMS accepted by Kannel, 1 worker ({count} posts): "
                f"p50 {p50:.2f} s, p95 {p95:.2f} s (<= 2 s)"
            )
    finally:
        callbacks.stop()
    return figures


if __name__ == "__main__":
    main()
