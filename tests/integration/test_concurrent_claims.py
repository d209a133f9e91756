"""Concurrent claims on both databases: one conditional UPDATE, exactly one winner.

The races are real: many threads, each with its own Flask test client of the same app (the
app's engine pool serves them concurrently), released together by a barrier; and separate
OS processes, each with its own app and engine on the same database, released together.
"""

import json
import os
import select
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import func
from sqlalchemy import select as sql_select

ROOT = Path(__file__).resolve().parents[2]
WORKER = ROOT / "tests" / "support" / "claim_worker.py"


@pytest.fixture(autouse=True)
def cheap_password_hashing(monkeypatch):
    """Twenty accounts with production argon2 cost take ~5 s; the races do not need it."""
    from argon2 import PasswordHasher

    import connect.accounts.services as account_services

    monkeypatch.setattr(
        account_services, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    )


def fire_together(app, calls):
    """POST every (path, headers) at once, one thread and one test client per call.

    Returns [(status, json body, started, ended)] in the order of ``calls``.
    """
    clients = [app.test_client() for _ in calls]
    barrier = threading.Barrier(len(calls), timeout=30)
    results = [None] * len(calls)

    def run(i):
        path, headers = calls[i]
        try:
            barrier.wait()
            started = time.perf_counter()
            response = clients[i].post(path, headers=headers)
            results[i] = (response.status_code, response.get_json(), started, time.perf_counter())
        except BaseException as exc:  # noqa: BLE001 - reported below
            results[i] = ("exception", repr(exc), 0.0, 0.0)

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not any(thread.is_alive() for thread in threads), "a claim thread hung"
    assert not [r for r in results if r[0] == "exception"], results
    return results


def max_in_flight(intervals):
    """The largest number of (start, end) intervals that overlap at one instant."""
    edges = sorted(
        [(s, 1) for s, _ in intervals] + [(e, -1) for _, e in intervals],
        key=lambda edge: (edge[0], edge[1]),
    )
    depth = best = 0
    for _, step in edges:
        depth += step
        best = max(best, depth)
    return best


def token_of(headers):
    return headers["Authorization"].split(" ", 1)[1]


def claim_path(request_id):
    return f"/api/v1/requests/{request_id}/claim"


def claim_rows(app, request_id):
    """(status, claimed_by_id, assists, 'claimed' events) of one request, from the database."""
    from connect.extensions import db
    from connect.requests.models import Assist, HelpRequest, RequestEvent

    with app.app_context():
        try:
            row = db.session.get(HelpRequest, request_id)
            assists = (
                db.session.execute(
                    sql_select(Assist).where(Assist.request_id == request_id).order_by(Assist.id)
                )
                .scalars()
                .all()
            )
            events = (
                db.session.execute(
                    sql_select(RequestEvent)
                    .where(RequestEvent.request_id == request_id)
                    .order_by(RequestEvent.id)
                )
                .scalars()
                .all()
            )
            return (
                row.status,
                row.claimed_by_id,
                [(a.volunteer_id, a.outcome) for a in assists],
                [
                    (e.from_status, e.to_status, e.actor_id, e.actor_kind, e.assist_id)
                    for e in events
                ],
            )
        finally:
            db.session.remove()


def assert_one_winner(results, expected):
    statuses = Counter(status for status, *_ in results)
    assert statuses == {200: 1, 409: expected - 1}, statuses
    losers = [body for status, body, *_ in results if status == 409]
    assert {body["error"]["code"] for body in losers} == {"claim_conflict"}, losers
    (winner,) = [body for status, body, *_ in results if status == 200]
    assert winner["status"] == "claimed"
    return winner


def assert_claimed_once(app, request_id, winner):
    status, claimed_by, assists, events = claim_rows(app, request_id)
    assert status == "claimed"
    assert claimed_by == winner["claimed_by"]
    assert assists == [(claimed_by, None)], assists
    claimed = [e for e in events if e[1] == "claimed"]
    assert len(claimed) == 1, events
    assert claimed[0][:4] == ("open", "claimed", claimed_by, "volunteer")


def test_twenty_threads_claim_one_request_exactly_one_wins(app, post_request, create_volunteer):
    posted = post_request()
    volunteers = [create_volunteer() for _ in range(20)]

    results = fire_together(app, [(claim_path(posted["id"]), h) for h in volunteers])

    winner = assert_one_winner(results, 20)
    assert winner["phone"] == posted["phone"]  # the winner gets the contact details
    assert_claimed_once(app, posted["id"], winner)
    in_flight = max_in_flight([(s, e) for _, _, s, e in results])
    print(f"20 threads: max claims in flight at once = {in_flight}")
    assert in_flight >= 2, "the claims did not overlap: no race was tested"


def _start_worker(database_url, request_id, tokens, log):
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    job = json.dumps({"database_url": database_url, "request_id": request_id, "tokens": tokens})
    return subprocess.Popen(
        [sys.executable, str(WORKER), job],
        cwd=ROOT,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
    )


def _wait_ready(processes, deadline):
    waiting = {p.stdout.fileno(): p for p in processes}
    while waiting:
        left = deadline - time.monotonic()
        assert left > 0, "claim workers did not start in time"
        ready, _, _ = select.select(list(waiting), [], [], left)
        for fd in ready:
            line = waiting[fd].stdout.readline()
            assert line.strip() == "ready", f"worker said {line!r}"
            del waiting[fd]


def test_twenty_claims_from_separate_processes_exactly_one_wins(
    app, database_url, post_request, create_volunteer, tmp_path
):
    """Four OS processes with their own app and engine, five claimants each: one winner."""
    posted = post_request()
    tokens = [token_of(create_volunteer()) for _ in range(20)]
    log = open(tmp_path / "workers.log", "w")
    processes = [_start_worker(database_url, posted["id"], tokens[i::4], log) for i in range(4)]
    try:
        # Each worker builds its app first: slow on a loaded machine, so a generous bound.
        _wait_ready(processes, time.monotonic() + 60)
        for process in processes:  # let them all go at (nearly) the same instant
            process.stdin.write("go\n")
            process.stdin.flush()
        results = []
        for process in processes:
            out, _ = process.communicate(timeout=30)
            assert process.returncode == 0, (tmp_path / "workers.log").read_text()[-3000:]
            results += [
                (r["status"], r["body"], r.get("started"), r.get("ended"))
                for r in json.loads(out.strip().splitlines()[-1])
            ]
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait(5)
        log.close()

    assert len(results) == 20
    assert not [r for r in results if r[0] == "exception"], results
    winner = assert_one_winner(results, 20)
    assert_claimed_once(app, posted["id"], winner)
    in_flight = max_in_flight([(s, e) for _, _, s, e in results])
    print(f"4 processes x 5 threads: max claims in flight at once = {in_flight}")
    assert in_flight >= 2, "the claims did not overlap: no race was tested"


def test_release_racing_claims_never_gives_two_holders(
    app, client, post_request, create_volunteer
):
    """The holder releases while five others claim at once, a few rounds in a row."""
    posted = post_request()
    path = claim_path(posted["id"])
    volunteers = [create_volunteer() for _ in range(6)]
    holder = volunteers[0]
    assert client.post(path, headers=holder).status_code == 200
    outcomes = []
    for _ in range(4):
        others = [v for v in volunteers if v is not holder]
        release = (f"/api/v1/requests/{posted['id']}/release", holder)
        results = fire_together(app, [release] + [(path, v) for v in others])

        assert results[0][0] == 200, results[0]  # nobody else can take it before it is given back
        claims = results[1:]
        assert {status for status, *_ in claims} <= {200, 409}, claims
        assert {body["error"]["code"] for status, body, *_ in claims if status == 409} <= {
            "claim_conflict"
        }
        winners = [i for i, (status, *_rest) in enumerate(claims) if status == 200]
        assert len(winners) <= 1, claims
        status, claimed_by, assists, events = claim_rows(app, posted["id"])
        active = [a for a in assists if a[1] is None]
        if winners:
            assert status == "claimed" and len(active) == 1, (status, assists)
            assert claimed_by == claims[winners[0]][1]["claimed_by"] == active[0][0]
            holder = others[winners[0]]
        else:
            assert status == "open" and claimed_by is None and active == [], (status, assists)
            assert client.post(path, headers=holder).status_code == 200
        outcomes.append("claimed" if winners else "open")
        # The event history is one unbroken chain of transitions.
        for before, after in zip(events, events[1:]):
            assert after[0] == before[1], events
        assert [a[1] for a in assists[:-1]] == ["released"] * (len(assists) - 1), assists
    print(f"after release vs claims: {outcomes}")


def test_capacity_one_volunteer_claiming_five_requests_at_once_gets_one(
    app, post_request, create_volunteer
):
    """The capacity check and the claim are one serialised unit per volunteer."""
    requests_ = [post_request() for _ in range(5)]
    volunteer = create_volunteer(capacity=1)

    results = fire_together(app, [(claim_path(r["id"]), volunteer) for r in requests_])

    statuses = Counter(status for status, *_ in results)
    assert statuses == {200: 1, 409: 4}, results
    assert {body["error"]["code"] for status, body, *_ in results if status == 409} == {
        "capacity_reached"
    }
    from connect.extensions import db
    from connect.requests.models import Assist, HelpRequest

    with app.app_context():
        active = db.session.execute(
            sql_select(func.count(Assist.id)).where(Assist.outcome.is_(None))
        ).scalar_one()
        claimed = db.session.execute(
            sql_select(func.count(HelpRequest.id)).where(HelpRequest.status == "claimed")
        ).scalar_one()
        db.session.remove()
    assert (active, claimed) == (1, 1)
