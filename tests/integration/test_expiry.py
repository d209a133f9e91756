"""Claim leases and request expiry, enforced on read and by `flask connect expire`.

Time is moved by replacing ``connect.clock.now`` (services and the read model ask it). The
read model's own catch-up throttle runs on real monotonic time, so nearby checks poll for up
to a second, the cross-process bound; reads of a single request must be right at once.
"""

import time
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from conftest import make_app

LEASE = timedelta(hours=4)
EXPIRY = timedelta(hours=72)
NEARBY = "/api/v1/requests/nearby?lat=21.2731&lon=106.1946&radius_m=5000&limit=200"


@pytest.fixture(autouse=True)
def cheap_password_hashing(monkeypatch):
    from argon2 import PasswordHasher

    import connect.accounts.services as account_services

    monkeypatch.setattr(
        account_services, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    )


@pytest.fixture
def app_overrides():
    """Config overrides for this test's app; parametrize to change them."""
    return {}


@pytest.fixture
def app(database_url, app_overrides):
    from connect.extensions import db

    app = make_app(database_url, **app_overrides)
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


SHORT = pytest.mark.parametrize(
    "app_overrides",
    [{"CLAIM_LEASE_SECONDS": 60, "REQUEST_EXPIRY_SECONDS": 120}],
    ids=["lease60s-expiry120s"],
)


# -- helpers -------------------------------------------------------------------------------


def user_id(client, headers):
    return client.get("/api/v1/auth/me", headers=headers).get_json()["id"]


def action(client, request_id, name, headers=None):
    return client.post(f"/api/v1/requests/{request_id}/{name}", headers=headers or {})


def get(client, request_id, headers=None):
    response = client.get(f"/api/v1/requests/{request_id}", headers=headers or {})
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def nearby_ids(client):
    response = client.get(NEARBY)
    assert response.status_code == 200, response.get_json()
    return [item["id"] for item in response.get_json()["items"]]


def eventually_nearby(client, predicate, timeout=1.0):
    """The nearby ids once predicate(ids) holds, polling up to ``timeout`` real seconds."""
    deadline = time.monotonic() + timeout
    while True:
        ids = nearby_ids(client)
        if predicate(ids) or time.monotonic() > deadline:
            return ids
        time.sleep(0.01)


def settled_nearby(client, app):
    """The nearby ids after the read model has certainly caught up once more."""
    time.sleep(app.config["READ_MODEL_SYNC_INTERVAL"] * 2 + 0.02)
    return nearby_ids(client)


def parse(iso):
    return datetime.fromisoformat(iso.rstrip("Z"))


def rows(app, request_id):
    """(request, assists, events) of one request as plain dicts."""
    from connect.extensions import db
    from connect.requests.models import Assist, HelpRequest, RequestEvent

    def plain(obj, names):
        return {name: getattr(obj, name) for name in names}

    with app.app_context():
        try:
            request_row = plain(
                db.session.get(HelpRequest, request_id),
                (
                    "status",
                    "claimed_by_id",
                    "lease_expires_at",
                    "expires_at",
                    "closed_at",
                    "last_activity_at",
                ),
            )
            assists = [
                plain(
                    a,
                    (
                        "id",
                        "volunteer_id",
                        "outcome",
                        "lease_expires_at",
                        "closed_at",
                        "helped_at",
                    ),
                )
                for a in db.session.execute(
                    select(Assist).where(Assist.request_id == request_id).order_by(Assist.id)
                ).scalars()
            ]
            events = [
                plain(
                    e,
                    (
                        "from_status",
                        "to_status",
                        "actor_id",
                        "actor_kind",
                        "reason",
                        "assist_id",
                        "created_at",
                    ),
                )
                for e in db.session.execute(
                    select(RequestEvent)
                    .where(RequestEvent.request_id == request_id)
                    .order_by(RequestEvent.id)
                ).scalars()
            ]
            return request_row, assists, events
        finally:
            db.session.remove()


def transitions(events):
    return [(e["from_status"], e["to_status"], e["actor_kind"]) for e in events]


# -- claim leases --------------------------------------------------------------------------


def test_lapsed_lease_reads_as_open_and_returns_to_nearby(
    app, client, post_request, create_volunteer, clock
):
    posted = post_request()
    first = create_volunteer()
    claimed = action(client, posted["id"], "claim", first)
    assert claimed.status_code == 200
    assert parse(claimed.get_json()["lease_expires_at"]) == clock() + LEASE

    clock.advance(LEASE - timedelta(seconds=1))
    view = get(client, posted["id"], first)
    assert view["status"] == "claimed" and view["phone"] == posted["phone"]
    assert posted["id"] not in settled_nearby(client, app)

    clock.advance(seconds=2)
    assert get(client, posted["id"])["status"] == "open"
    view = get(client, posted["id"], first)
    assert view["status"] == "open"
    assert "phone" not in view and "exact_location" not in view  # the lease no longer holds
    assert posted["id"] in eventually_nearby(client, lambda ids: posted["id"] in ids)


def test_lapsed_lease_can_be_claimed_by_another_volunteer(
    app, client, post_request, create_volunteer, clock
):
    posted = post_request()
    first, second = create_volunteer(), create_volunteer()
    first_id, second_id = user_id(client, first), user_id(client, second)
    claimed_at = clock()
    assert action(client, posted["id"], "claim", first).status_code == 200
    lease_end = claimed_at + LEASE

    clock.advance(LEASE + timedelta(minutes=10))
    taken = action(client, posted["id"], "claim", second)
    assert taken.status_code == 200, taken.get_json()
    assert taken.get_json()["claimed_by"] == second_id

    request_row, assists, events = rows(app, posted["id"])
    assert request_row["status"] == "claimed" and request_row["claimed_by_id"] == second_id
    assert [(a["volunteer_id"], a["outcome"]) for a in assists] == [
        (first_id, "expired"),
        (second_id, None),
    ]
    assert assists[0]["closed_at"] == lease_end
    assert transitions(events) == [
        (None, "open", "requester"),
        ("open", "claimed", "volunteer"),
        ("claimed", "open", "system"),
        ("open", "claimed", "volunteer"),
    ]
    lapse = events[2]
    assert lapse["actor_id"] is None and lapse["assist_id"] == assists[0]["id"]
    assert lapse["created_at"] == lease_end and "lease" in lapse["reason"]

    # The old claimant can no longer mark it helped; the new one can.
    late = action(client, posted["id"], "helped", first)
    assert late.status_code in (403, 409), late.get_json()
    assert get(client, posted["id"], second)["status"] == "claimed"
    assert action(client, posted["id"], "helped", second).get_json()["status"] == "helped"
    assert [a["outcome"] for a in rows(app, posted["id"])[1]] == ["expired", "helped"]


def test_lapsed_lease_shows_the_expiry_it_will_have_on_read(
    app, client, post_request, create_volunteer, clock
):
    """Claimed at 70 h, lapsed at 74 h: open again until 146 h, not 'expiring' at 72 h."""
    posted = post_request()
    helper = create_volunteer()
    clock.advance(hours=70)
    assert action(client, posted["id"], "claim", helper).status_code == 200
    lease_end = clock() + LEASE
    clock.advance(hours=5)
    view = get(client, posted["id"])
    assert view["status"] == "open"
    assert parse(view["expires_at"]) == lease_end + EXPIRY, (
        "an open request is shown with an expiry in the past"
    )


def test_old_claimant_cannot_mark_helped_or_release_after_lapse(
    app, client, post_request, create_volunteer, clock
):
    posted = post_request()
    first = create_volunteer()
    assert action(client, posted["id"], "claim", first).status_code == 200
    clock.advance(LEASE + timedelta(seconds=1))

    for name in ("helped", "release"):
        response = action(client, posted["id"], name, first)
        assert response.status_code in (403, 409), (name, response.get_json())
    assert get(client, posted["id"])["status"] == "open"
    _, assists, events = rows(app, posted["id"])
    assert all(a["outcome"] in (None, "expired") for a in assists)
    assert "helped" not in [e["to_status"] for e in events]


# -- request expiry ------------------------------------------------------------------------


def test_open_request_without_activity_expires_after_72_hours(
    app, client, post_request, create_volunteer, clock
):
    posted = post_request()
    helper = create_volunteer()
    assert parse(posted["expires_at"]) == clock() + EXPIRY

    clock.advance(EXPIRY - timedelta(seconds=1))
    assert get(client, posted["id"])["status"] == "open"
    assert posted["id"] in settled_nearby(client, app)

    clock.advance(seconds=2)
    assert get(client, posted["id"])["status"] == "expired"
    assert posted["id"] not in eventually_nearby(client, lambda ids: posted["id"] not in ids)
    refused = action(client, posted["id"], "claim", helper)
    assert refused.status_code == 409 and refused.get_json()["error"]["code"] == "claim_conflict"
    assert get(client, posted["id"])["status"] == "expired"


def test_activity_restarts_the_expiry_period(app, client, post_request, create_volunteer, clock):
    posted = post_request()
    helper = create_volunteer()
    clock.advance(hours=70)
    assert action(client, posted["id"], "claim", helper).status_code == 200
    clock.advance(hours=1)
    released = action(client, posted["id"], "release", helper)
    assert released.status_code == 200
    released_at = clock()

    clock.set(released_at + EXPIRY - timedelta(seconds=1))  # 142 h after posting
    assert get(client, posted["id"])["status"] == "open"
    assert posted["id"] in settled_nearby(client, app)
    clock.advance(seconds=2)
    assert get(client, posted["id"])["status"] == "expired"
    assert posted["id"] not in eventually_nearby(client, lambda ids: posted["id"] not in ids)


def test_request_whose_lapsed_lease_is_72_hours_old_is_expired(
    app, client, post_request, create_volunteer, clock
):
    posted = post_request()
    helper = create_volunteer()
    assert action(client, posted["id"], "claim", helper).status_code == 200
    clock.advance(LEASE + EXPIRY - timedelta(seconds=1))
    assert get(client, posted["id"])["status"] == "open"
    clock.advance(seconds=2)
    assert get(client, posted["id"])["status"] == "expired"
    assert posted["id"] not in eventually_nearby(client, lambda ids: posted["id"] not in ids)
    refused = action(client, posted["id"], "claim", create_volunteer())
    assert refused.status_code == 409


def test_nearby_does_not_list_a_claim_half_a_second_before_its_lease_ends(
    app, client, post_request, create_volunteer, clock
):
    """Until the lease ends the request is claimed (another claim gets 409): not nearby."""
    clock.set(clock().replace(microsecond=900_000))
    posted = post_request()
    helper = create_volunteer()
    assert action(client, posted["id"], "claim", helper).status_code == 200

    clock.advance(LEASE - timedelta(milliseconds=500))
    assert get(client, posted["id"])["status"] == "claimed"
    assert action(client, posted["id"], "claim", create_volunteer()).status_code == 409
    assert posted["id"] not in settled_nearby(client, app), (
        "nearby lists a request whose lease still holds (a claim would get 409)"
    )


def test_nearby_lists_an_open_request_half_a_second_before_it_expires(
    app, client, post_request, create_volunteer, clock
):
    """Until it expires the request is open and claimable: nearby must list it."""
    clock.set(clock().replace(microsecond=900_000))
    posted = post_request()
    clock.advance(EXPIRY - timedelta(milliseconds=500))
    assert get(client, posted["id"])["status"] == "open"
    assert posted["id"] in settled_nearby(client, app), (
        "nearby hides a request that is still open and claimable"
    )
    assert action(client, posted["id"], "claim", create_volunteer()).status_code == 200


# -- configured values ---------------------------------------------------------------------


@SHORT
def test_short_configured_lease_and_expiry(
    app, client, post_request, create_volunteer, clock, runner
):
    assert app.config["CLAIM_LEASE_SECONDS"] == 60
    posted, idle = post_request(), post_request()
    assert parse(idle["expires_at"]) == clock() + timedelta(seconds=120)
    helper = create_volunteer()
    claim = action(client, posted["id"], "claim", helper)
    assert parse(claim.get_json()["lease_expires_at"]) == clock() + timedelta(seconds=60)
    lease_end = clock() + timedelta(seconds=60)

    clock.advance(seconds=59)
    assert get(client, posted["id"])["status"] == "claimed"
    clock.advance(seconds=2)
    assert get(client, posted["id"])["status"] == "open"
    assert posted["id"] in eventually_nearby(client, lambda ids: posted["id"] in ids)

    clock.advance(seconds=60)  # 121 s after posting: idle has expired; posted runs to 180 s
    assert get(client, idle["id"])["status"] == "expired"
    assert get(client, posted["id"])["status"] == "open"
    result = runner.invoke(args=["connect", "expire"])
    assert result.exit_code == 0, result.output
    assert "leases lapsed: 1" in result.output and "requests expired: 1" in result.output
    assert rows(app, posted["id"])[0]["expires_at"] == lease_end + timedelta(seconds=120)
    assert rows(app, idle["id"])[0]["status"] == "expired"


@pytest.mark.parametrize(
    "app_overrides", [{"CLAIM_LEASE_SECONDS": 1, "REQUEST_EXPIRY_SECONDS": 3}], ids=["lease1s"]
)
def test_one_second_lease_in_real_time(app, client, post_request, create_volunteer):
    posted = post_request()
    first, second = create_volunteer(), create_volunteer()
    # Claim early in a wall-clock second: the read model rounds lease ends down to whole
    # seconds (see the half-a-second tests above), which would make this test flaky.
    time.sleep((1.02 - time.time() % 1) % 1 if time.time() % 1 > 0.3 else 0)
    assert action(client, posted["id"], "claim", first).status_code == 200
    assert posted["id"] not in nearby_ids(client)
    assert action(client, posted["id"], "claim", second).status_code == 409

    time.sleep(1.1)
    assert get(client, posted["id"])["status"] == "open"
    assert posted["id"] in eventually_nearby(client, lambda ids: posted["id"] in ids)
    assert action(client, posted["id"], "claim", second).status_code == 200
    assert [a["outcome"] for a in rows(app, posted["id"])[1]] == ["expired", None]


# -- flask connect expire ------------------------------------------------------------------


def test_expire_command_persists_lapses_and_expiry_and_is_idempotent(
    app, client, runner, post_request, create_volunteer, clock
):
    start = clock()
    stale = post_request()  # posted at 0 h: expires at 72 h
    first, second = create_volunteer(), create_volunteer()
    first_id = user_id(client, first)
    clock.set(start + timedelta(hours=70))
    lapsed = post_request()  # claimed at 70 h: lease ends at 74 h
    assert action(client, lapsed["id"], "claim", first).status_code == 200
    clock.set(start + timedelta(hours=79))
    held = post_request()  # claimed at 79 h: lease ends at 83 h
    assert action(client, held["id"], "claim", second).status_code == 200
    fresh = post_request()  # posted at 79 h
    run_at = clock.set(start + timedelta(hours=80))

    result = runner.invoke(args=["connect", "expire"])
    assert result.exit_code == 0, result.output
    assert "leases lapsed: 1" in result.output and "requests expired: 1" in result.output

    stale_row, _, stale_events = rows(app, stale["id"])
    assert stale_row["status"] == "expired" and stale_row["closed_at"] == run_at
    assert transitions(stale_events)[-1] == ("open", "expired", "system")
    assert stale_events[-1]["actor_id"] is None

    lapsed_row, lapsed_assists, lapsed_events = rows(app, lapsed["id"])
    lease_end = start + timedelta(hours=74)
    assert lapsed_row["status"] == "open" and lapsed_row["claimed_by_id"] is None
    assert lapsed_row["lease_expires_at"] is None
    assert lapsed_row["expires_at"] == lease_end + EXPIRY
    assert [(a["volunteer_id"], a["outcome"], a["closed_at"]) for a in lapsed_assists] == [
        (first_id, "expired", lease_end)
    ]
    assert transitions(lapsed_events)[-1] == ("claimed", "open", "system")
    assert lapsed_events[-1]["assist_id"] == lapsed_assists[0]["id"]

    assert rows(app, held["id"])[0]["status"] == "claimed"
    assert rows(app, fresh["id"])[0]["status"] == "open"
    ids = eventually_nearby(client, lambda ids: lapsed["id"] in ids)
    assert set(ids) == {lapsed["id"], fresh["id"]}

    before = {r["id"]: rows(app, r["id"]) for r in (stale, lapsed, held, fresh)}
    again = runner.invoke(args=["connect", "expire"])
    assert again.exit_code == 0, again.output
    assert "leases lapsed: 0" in again.output and "requests expired: 0" in again.output
    assert {r["id"]: rows(app, r["id"]) for r in (stale, lapsed, held, fresh)} == before


def test_expire_command_counts_a_request_both_lapsed_and_expired_once_each(
    app, client, runner, post_request, create_volunteer, clock
):
    """A claim that lapsed more than 72 h ago: one lease lapsed and one request expired."""
    posted = post_request()
    assert action(client, posted["id"], "claim", create_volunteer()).status_code == 200
    clock.advance(LEASE + EXPIRY + timedelta(hours=1))

    result = runner.invoke(args=["connect", "expire"])
    assert result.exit_code == 0, result.output
    request_row, assists, events = rows(app, posted["id"])
    assert request_row["status"] == "expired"
    assert [a["outcome"] for a in assists] == ["expired"]
    assert transitions(events)[-2:] == [
        ("claimed", "open", "system"),
        ("open", "expired", "system"),
    ]
    assert result.output.strip() == (
        "leases lapsed: 1, requests expired: 1, reminders sent: 0, offers expired: 0"
    )
