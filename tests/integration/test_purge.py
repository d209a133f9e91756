"""`flask connect purge`: personal data of closed requests is anonymised a set time after they
close; statistics, events, assists and areas stay; purged requests still work everywhere.

Time is moved by replacing ``connect.clock.now``, as in test_expiry.py.
"""

import pytest
from sqlalchemy import select

from conftest import BAC_GIANG, ensure_demo_areas, make_app, new_phone, request_payload

API = "/api/v1/requests"
TYPED_REASON = "Đã có người nhà mang gạo tới, gọi 0912 345 678"
REPORT_COMMENT = "Số 0987 654 321 này gọi lừa đảo"


def manage(posted):
    return {"X-Manage-Token": posted["manage_token"]}


def post(client, **overrides):
    response = client.post(API, json=request_payload(phone=new_phone(), **overrides))
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def ok(response, status=200):
    assert response.status_code == status, response.get_json()
    return response.get_json()


def rows(app):
    """{id: stored columns} of every request, full precision."""
    from connect.extensions import db
    from connect.requests.models import HelpRequest
    from connect.spatial import latlon

    with app.app_context():
        try:
            return {
                r.id: {
                    "status": r.status,
                    "categories": r.categories,
                    "urgency": r.urgency,
                    "household_size": r.household_size,
                    "created_at": r.created_at,
                    "closed_at": r.closed_at,
                    "expires_at": r.expires_at,
                    "source": r.source,
                    "contact_name": r.contact_name,
                    "phone": r.phone,
                    "address": r.address,
                    "description": r.description,
                    "location": latlon(r.location),
                    "public_location": latlon(r.public_location),
                    "purged_at": r.purged_at,
                    "claimed_by_id": r.claimed_by_id,
                    "requester_id": r.requester_id,
                }
                for r in db.session.execute(select(HelpRequest)).scalars()
            }
        finally:
            db.session.remove()


def history(app):
    """Events, assists, area links and reveals: everything statistics can be built from."""
    from connect.areas.models import RequestArea
    from connect.extensions import db
    from connect.requests.models import Assist, ContactReveal, RequestEvent

    with app.app_context():
        try:
            return {
                "events": [
                    (
                        e.request_id,
                        e.from_status,
                        e.to_status,
                        e.actor_id,
                        e.actor_kind,
                        e.assist_id,
                        e.created_at,
                    )
                    for e in db.session.execute(
                        select(RequestEvent).order_by(RequestEvent.id)
                    ).scalars()
                ],
                "assists": db.session.execute(
                    select(
                        Assist.id,
                        Assist.request_id,
                        Assist.volunteer_id,
                        Assist.outcome,
                        Assist.claimed_at,
                        Assist.helped_at,
                        Assist.confirmed_at,
                        Assist.closed_at,
                    ).order_by(Assist.id)
                ).all(),
                "areas": sorted(
                    db.session.execute(select(RequestArea.request_id, RequestArea.area_id)).all()
                ),
                "reveals": db.session.execute(
                    select(
                        ContactReveal.request_id,
                        ContactReveal.viewer_id,
                        ContactReveal.viewer_role,
                    ).order_by(ContactReveal.id)
                ).all(),
            }
        finally:
            db.session.remove()


def reasons(app, request_id):
    from connect.extensions import db
    from connect.requests.models import RequestEvent

    with app.app_context():
        try:
            return db.session.execute(
                select(RequestEvent.actor_kind, RequestEvent.to_status, RequestEvent.reason)
                .where(RequestEvent.request_id == request_id)
                .order_by(RequestEvent.id)
            ).all()
        finally:
            db.session.remove()


def report(app, request_id, reporter_id, comment):
    from connect.extensions import db
    from connect.safety.models import Report

    with app.app_context():
        db.session.add(
            Report(
                subject_type="request",
                subject_id=request_id,
                reporter_id=reporter_id,
                reason="scam",
                comment=comment,
            )
        )
        db.session.commit()
        db.session.remove()


def report_comments(app):
    from connect.extensions import db
    from connect.safety.models import Report

    with app.app_context():
        try:
            return dict(db.session.execute(select(Report.subject_id, Report.comment)).all())
        finally:
            db.session.remove()


def stats(app, client):
    from connect.coordination.statistics.services import public_stats
    from connect.extensions import db

    with app.app_context():
        try:
            direct = public_stats()
        finally:
            db.session.remove()
    return direct, ok(client.get("/api/v1/stats"))


def hide(app, request_id):
    from connect.extensions import db
    from connect.requests import services

    with app.app_context():
        services.hide_request(request_id, None, "auto-hidden after reports")
        db.session.commit()
        db.session.remove()


@pytest.fixture
def volunteer(client, create_volunteer):
    headers = create_volunteer()
    user_id = ok(client.get("/api/v1/auth/me", headers=headers))["id"]
    return user_id, headers


@pytest.fixture
def scenario(app, client, clock, volunteer):
    """Requests closed 34 days ago in every way (the expired one expired 31 days ago, 72 h
    after it was posted); then some open, claimed or closed now. Returns {name: body}."""
    ensure_demo_areas(app)
    volunteer_id, v = volunteer
    r = {
        name: post(client, at=BAC_GIANG)
        for name in ("helped", "confirmed", "cancelled", "expired", "hidden")
    }
    for name in ("helped", "confirmed"):
        ok(client.post(f"{API}/{r[name]['id']}/claim", headers=v))
        ok(client.post(f"{API}/{r[name]['id']}/helped", headers=v))
    ok(client.post(f"{API}/{r['confirmed']['id']}/confirm", headers=manage(r["confirmed"])))
    ok(
        client.post(
            f"{API}/{r['cancelled']['id']}/cancel",
            headers=manage(r["cancelled"]),
            json={"reason": TYPED_REASON},
        )
    )
    hide(app, r["hidden"]["id"])
    report(app, r["hidden"]["id"], volunteer_id, REPORT_COMMENT)
    clock.advance(days=34)
    r["open"] = post(client)
    r["claimed"] = post(client)
    ok(client.post(f"{API}/{r['claimed']['id']}/claim", headers=v))
    r["recently_cancelled"] = post(client)
    ok(
        client.post(
            f"{API}/{r['recently_cancelled']['id']}/cancel",
            headers=manage(r["recently_cancelled"]),
        )
    )
    report(app, r["open"]["id"], volunteer_id, "Không phải nhu cầu thật")
    return r


PERSONAL = ("contact_name", "phone", "address", "description", "location", "purged_at")
OLD = ("helped", "confirmed", "cancelled", "expired", "hidden")


def purge(runner, *args):
    result = runner.invoke(args=["connect", "purge", *args])
    assert result.exit_code == 0, result.output
    return result.output


# -- what is purged -------------------------------------------------------------------------


def test_purge_anonymises_closed_requests_and_statistics_stay_the_same(
    app, client, runner, scenario
):
    assert "requests expired: 1" in runner.invoke(args=["connect", "expire"]).output
    before_rows, before_history = rows(app), history(app)
    before_stats = stats(app, client)

    output = purge(runner)
    assert "requests purged: 5" in output and "report comments removed: 1" in output
    assert "closed more than 30 days ago" in output

    assert stats(app, client) == before_stats
    assert history(app) == before_history
    after = rows(app)
    purged_ids = {scenario[name]["id"] for name in OLD}
    for request_id, row in after.items():
        before = before_rows[request_id]
        kept = {k: v for k, v in row.items() if k not in PERSONAL}
        assert kept == {k: v for k, v in before.items() if k not in PERSONAL}
        if request_id in purged_ids:
            assert (row["contact_name"], row["phone"], row["address"], row["description"]) == (
                "",
                "",
                None,
                "",
            )
            assert row["location"] == before["public_location"] == row["public_location"]
            assert row["purged_at"] is not None
        else:
            assert row == before, request_id
    # Words a person typed on the events go; the system's own stay.
    cancelled = reasons(app, scenario["cancelled"]["id"])
    assert [reason for _, _, reason in cancelled] == [None, None]
    assert ("system", "expired", "no activity") in reasons(app, scenario["expired"]["id"])
    assert report_comments(app) == {
        scenario["hidden"]["id"]: None,
        scenario["open"]["id"]: "Không phải nhu cầu thật",
    }


def test_purge_is_idempotent_and_cron_ready(app, client, runner, scenario):
    first = purge(runner)
    assert "requests purged: 5" in first
    snapshot = rows(app)
    second = purge(runner)
    assert "requests purged: 0" in second and "report comments removed: 0" in second
    assert rows(app) == snapshot


def test_dry_run_counts_and_changes_nothing(app, client, runner, scenario):
    before = rows(app), history(app), report_comments(app)
    output = purge(runner, "--dry-run")
    assert output.startswith("dry run:")
    assert "requests would be purged: 5" in output
    assert "report comments would be removed: 1" in output
    assert (rows(app), history(app), report_comments(app)) == before
    assert "requests purged: 5" in purge(runner)


def test_older_than_days_and_the_setting(app, client, runner, scenario, database_url):
    assert "requests purged: 0" in purge(runner, "--older-than-days", "40")
    output = purge(runner, "--older-than-days", "0")
    # Everything closed, also just now; never what is open or claimed.
    assert "requests purged: 6" in output
    after = rows(app)
    assert after[scenario["recently_cancelled"]["id"]]["purged_at"] is not None
    for name in ("open", "claimed"):
        assert after[scenario[name]["id"]]["purged_at"] is None
        assert after[scenario[name]["id"]]["phone"]
    assert runner.invoke(args=["connect", "purge", "--older-than-days", "-1"]).exit_code != 0


def test_purge_after_days_comes_from_config(database_url, clock):
    from connect.extensions import db

    app = make_app(database_url, PURGE_AFTER_DAYS=10)
    try:
        client = app.test_client()
        posted = post(client)
        ok(client.post(f"{API}/{posted['id']}/cancel", headers=manage(posted)))
        clock.advance(days=9)
        runner = app.test_cli_runner()
        assert "requests purged: 0" in purge(runner)
        clock.advance(days=2)
        output = purge(runner)
        assert "closed more than 10 days ago" in output and "requests purged: 1" in output
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


def test_requests_that_expired_unnoticed_are_expired_then_purged(app, client, runner, clock):
    """No `expire` ran: purge persists expiry first, and counts from when they expired."""
    long_ago, lately = post(client), None
    clock.advance(days=36)
    lately = post(client)
    clock.advance(days=5)  # long_ago expired 38 days ago, lately 2 days ago
    output = purge(runner)
    assert "requests expired: 2" in output and "requests purged: 1" in output
    after = rows(app)
    assert after[long_ago["id"]]["status"] == "expired"
    assert after[long_ago["id"]]["purged_at"] is not None
    assert after[lately["id"]]["status"] == "expired"
    assert after[lately["id"]]["purged_at"] is None and after[lately["id"]]["phone"]


# -- purged requests still work -------------------------------------------------------------


def test_purged_requests_do_not_break_pages_or_the_api(
    app, client, runner, scenario, create_staff
):
    purge(runner)
    admin = create_staff(role="admin")
    for name in OLD:
        posted = scenario[name]
        url = f"{API}/{posted['id']}"
        if name == "hidden":  # moderated out: 404 to the public, purged or not
            assert client.get(url).status_code == 404
        else:
            public = ok(client.get(url))
            assert "phone" not in public and public["location"] == posted["location"]
        own = ok(client.get(url, headers=manage(posted)))
        assert own["phone"] == "" and own["contact_name"] == "" and own["description"] == ""
        assert own["exact_location"] == pytest.approx(posted["location"], abs=1e-5)
        ok(client.get(url, headers=admin))
        assert ok(client.get(f"{url}/reveals", headers=manage(posted)))["items"] is not None
        page = client.get(f"/m/{posted['manage_token']}?lang=en")
        assert page.status_code == 200
        body = page.get_data(as_text=True)
        assert "data-purged" in body and posted["phone"] not in body
        assert posted["contact_name"] not in body
        assert client.get(f"/m/{posted['manage_token']}/edit").status_code == 302
        assert (
            client.patch(url, headers=manage(posted), json={"household_size": 2}).status_code
            == 409
        )
    # Viewing a purged request reveals nothing, so nothing is logged.
    reveals_before = history(app)["reveals"]
    ok(client.get(f"{API}/{scenario['hidden']['id']}", headers=admin))
    assert history(app)["reveals"] == reveals_before
    ok(client.get(f"{API}/nearby", query_string={"lat": BAC_GIANG[0], "lon": BAC_GIANG[1]}))
    ok(client.get(f"{API}/map", query_string={"bbox": "106.1,21.2,106.3,21.4"}))
    assert client.get("/").status_code == 200
    # A helped request may still be confirmed after its personal data went.
    confirmed = ok(
        client.post(
            f"{API}/{scenario['helped']['id']}/confirm", headers=manage(scenario["helped"])
        )
    )
    assert confirmed["status"] == "confirmed"


def test_a_purged_home_no_longer_keeps_public_points_away(app, client, runner, clock):
    """Its location is its public point after a purge, which is no home to keep clear of."""
    from connect.requests.blurring import room_around

    posted = post(client)
    ok(client.post(f"{API}/{posted['id']}/cancel", headers=manage(posted)))
    exact = rows(app)[posted["id"]]["location"]
    with app.test_request_context():
        assert room_around(*exact) == pytest.approx(0.0, abs=1e-6)
    clock.advance(days=31)
    purge(runner)
    with app.test_request_context():
        assert room_around(*exact) == float("inf")
