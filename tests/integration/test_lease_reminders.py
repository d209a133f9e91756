"""Claim leases: a reminder before one ends (once per claim, from cron or when the volunteer's
inbox or pages are read) and, when it lapses, the request open again, the event recorded, the
claimant told and the requester's page saying the volunteer could not come."""

from datetime import timedelta

import pytest
from sqlalchemy import select

from conftest import make_app, new_phone

LEASE = timedelta(hours=4)
REMIND = timedelta(minutes=30)
API = "/api/v1/notifications"


@pytest.fixture
def app_overrides():
    return {}


@pytest.fixture
def app(database_url, app_overrides):
    from connect.extensions import db

    app = make_app(database_url, **app_overrides)
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


PHONE = {}


@pytest.fixture
def claimed(client, create_volunteer, post_request, clock):
    """A request claimed now by a new volunteer: (request body, the volunteer's headers)."""
    posted = post_request()
    PHONE["claimant"] = new_phone()
    # Out of the request's push range: their inbox holds only what the lease brings.
    headers = create_volunteer(at=(21.30, 106.30), radius_m=10_000, phone=PHONE["claimant"])
    response = client.post(f"/api/v1/requests/{posted['id']}/claim", headers=headers)
    assert response.status_code == 200, response.get_json()
    return posted, headers


def expire(runner):
    result = runner.invoke(args=["connect", "expire"])
    assert result.exit_code == 0, result.output
    return result.output


def kinds(client, headers):
    response = client.get(API, headers=headers)
    assert response.status_code == 200, response.get_json()
    return [(item["kind"], item["request_id"]) for item in response.get_json()["items"]]


def reminded_at(app, request_id):
    from connect.extensions import db
    from connect.requests.models import Assist

    with app.app_context():
        return db.session.execute(
            select(Assist.reminded_at).where(Assist.request_id == request_id)
        ).scalar_one()


def test_cron_reminds_once_when_the_lease_has_30_minutes_left(app, client, runner, claimed, clock):
    posted, headers = claimed
    start = clock()
    clock.advance(LEASE - REMIND - timedelta(seconds=1))
    assert "reminders sent: 0" in expire(runner)
    clock.advance(seconds=61)
    assert "reminders sent: 1" in expire(runner)
    assert "reminders sent: 0" in expire(runner)
    assert reminded_at(app, posted["id"]) == clock()
    (item,) = client.get(API, headers=headers).get_json()["items"]
    assert (item["kind"], item["request_id"]) == ("lease_reminder", posted["id"])
    assert item["payload"]["lease_ends_at"] == (start + LEASE).isoformat() + "Z"
    assert item["payload"]["minutes_left"] == 29
    assert item["request_open"] is False  # held by them, not open to others
    # Reading again later sends nothing more either.
    clock.advance(minutes=10)
    assert kinds(client, headers) == [("lease_reminder", posted["id"])]


@pytest.mark.parametrize("read", ["inbox API", "needs page", "inbox page"])
def test_reading_the_inbox_or_the_pages_sends_a_due_reminder(
    app, client, runner, claimed, clock, read
):
    posted, headers = claimed
    clock.advance(LEASE - timedelta(minutes=10))
    if read == "inbox API":
        assert kinds(client, headers) == [("lease_reminder", posted["id"])]
    else:
        from test_notifications import page_session

        browser = page_session(app, PHONE["claimant"])
        path = "/volunteer/needs" if read == "needs page" else "/volunteer/inbox"
        page = browser.get(path + "?lang=en")
        assert page.status_code == 200
        assert "Your time for this need is nearly up" in page.get_data(as_text=True)
    assert "reminders sent: 0" in expire(runner)
    assert reminded_at(app, posted["id"]) is not None


@pytest.mark.parametrize("ending", ["released", "helped"])
def test_a_claim_that_ended_is_not_reminded(app, client, runner, claimed, clock, ending):
    posted, headers = claimed
    action = "release" if ending == "released" else "helped"
    assert (
        client.post(f"/api/v1/requests/{posted['id']}/{action}", headers=headers).status_code
        == 200
    )
    clock.advance(LEASE - timedelta(minutes=5))
    assert "reminders sent: 0" in expire(runner)
    assert kinds(client, headers) == []


@pytest.mark.parametrize("app_overrides", [{"LEASE_REMINDER_SECONDS": 0}], ids=["off"])
def test_reminders_can_be_turned_off(client, runner, claimed, clock):
    _, headers = claimed
    clock.advance(LEASE - timedelta(minutes=1))
    assert "reminders sent: 0" in expire(runner)
    assert kinds(client, headers) == []


def test_a_lapsed_lease_reopens_the_request_and_tells_the_claimant_once(
    app, client, runner, claimed, clock
):
    from connect.extensions import db
    from connect.requests.models import HelpRequest, RequestEvent

    posted, headers = claimed
    clock.advance(LEASE + timedelta(seconds=1))  # no reminder went out: cron was late
    output = expire(runner)
    assert "leases lapsed: 1" in output and "reminders sent: 0" in output
    assert kinds(client, headers) == [("lease_expired", posted["id"])]
    with app.app_context():
        assert db.session.get(HelpRequest, posted["id"]).status == "open"
        events = db.session.execute(
            select(
                RequestEvent.from_status,
                RequestEvent.to_status,
                RequestEvent.actor_kind,
                RequestEvent.reason,
            )
            .where(RequestEvent.request_id == posted["id"])
            .order_by(RequestEvent.id)
        ).all()
    assert events[-1] == ("claimed", "open", "system", "claim lease expired")
    assert "leases lapsed: 0" in expire(runner)
    assert kinds(client, headers) == [("lease_expired", posted["id"])]


def test_reading_the_inbox_applies_the_claimants_own_lapsed_lease(app, client, claimed, clock):
    from connect.extensions import db
    from connect.requests.models import HelpRequest

    posted, headers = claimed
    clock.advance(LEASE + timedelta(minutes=1))
    assert kinds(client, headers) == [("lease_expired", posted["id"])]
    with app.app_context():
        assert db.session.get(HelpRequest, posted["id"]).status == "open"


@pytest.mark.parametrize("persisted", [False, True], ids=["lapsed", "lapse persisted"])
def test_the_requesters_page_says_the_volunteer_could_not_come(
    client, runner, claimed, clock, persisted
):
    posted, _ = claimed
    page = client.get(f"/m/{posted['manage_token']}?lang=en").get_data(as_text=True)
    assert 'data-status="claimed"' in page
    clock.advance(LEASE + timedelta(seconds=1))
    if persisted:
        expire(runner)
    page = client.get(f"/m/{posted['manage_token']}?lang=en").get_data(as_text=True)
    assert 'data-status="reopened"' in page
    assert "The volunteer could not come" in page
    assert 'data-status-text="reopened" hidden' not in page
    # The page's script polls the API, which says "open": it shows the same words then.
    status = client.get(
        f"/api/v1/requests/{posted['id']}", headers={"X-Manage-Token": posted["manage_token"]}
    ).get_json()["status"]
    assert status == "open"


def test_a_released_request_also_shows_that_the_volunteer_could_not_come(client, claimed):
    posted, headers = claimed
    assert (
        client.post(f"/api/v1/requests/{posted['id']}/release", headers=headers).status_code == 200
    )
    page = client.get(f"/m/{posted['manage_token']}?lang=en").get_data(as_text=True)
    assert 'data-status="reopened"' in page


def test_a_request_never_claimed_is_simply_waiting(client, post_request):
    posted = post_request()
    page = client.get(f"/m/{posted['manage_token']}?lang=en").get_data(as_text=True)
    assert 'data-status="open"' in page and "could not come" in page  # the hidden block
    assert 'data-status-text="reopened" hidden' in page


def test_remind_due_twice_in_a_row_reminds_once(app, claimed, clock):
    from connect.extensions import db
    from connect.matching.leases import remind_due

    clock.advance(LEASE - timedelta(minutes=20))
    with app.app_context():
        assert remind_due() == 1
        assert remind_due() == 0
        db.session.commit()
    with app.app_context():
        assert remind_due() == 0
