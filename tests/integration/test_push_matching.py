"""Push matching: who is told of a posted (or reopened) request, in which order, how often."""

import pytest
from sqlalchemy import event, select

from connect.geo import haversine_m

from conftest import BAC_GIANG, make_app, new_phone, request_payload

NORTH_M = 1 / 111_195  # degrees of latitude per metre


def north(metres, at=BAC_GIANG):
    return (at[0] + metres * NORTH_M, at[1])


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


def me(client, headers):
    return client.get("/api/v1/auth/me", headers=headers).get_json()["id"]


@pytest.fixture
def volunteer(client, create_volunteer):
    """An on-duty volunteer: returns (user id, headers)."""

    def make(at=BAC_GIANG, **kwargs):
        headers = create_volunteer(at=at, **kwargs)
        return me(client, headers), headers

    return make


def told(app, request_id, kind="new_request"):
    """User ids told of a request, in the order they were told."""
    from connect.extensions import db
    from connect.notifications.models import Notification

    with app.app_context():
        return (
            db.session.execute(
                select(Notification.user_id)
                .where(Notification.request_id == request_id, Notification.kind == kind)
                .order_by(Notification.id)
            )
            .scalars()
            .all()
        )


def inbox(client, headers, **params):
    response = client.get("/api/v1/notifications", headers=headers, query_string=params)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def action(client, request_id, name, headers):
    response = client.post(f"/api/v1/requests/{request_id}/{name}", headers=headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


# -- who is told ----------------------------------------------------------------------------


def test_a_posted_request_reaches_on_duty_volunteers_in_range_who_bring_one_of_its_needs(
    client, volunteer, create_user, post_request
):
    near, _ = volunteer(at=north(1000), radius_m=2000)
    edge, _ = volunteer(at=north(2990), radius_m=3000)  # 2,990 m within 3,000 m
    wide, _ = volunteer(at=north(30_000), radius_m=40_000)  # far off, but goes far
    one_kind, _ = volunteer(at=north(500), categories=("medicine", "food"))
    out_of_range, _ = volunteer(at=north(3200), radius_m=3000)
    other_kinds, _ = volunteer(at=north(500), categories=("medicine", "supplies"))
    off_duty, off_headers = volunteer(at=north(500))
    response = client.put(
        "/api/v1/volunteers/me",
        headers=off_headers,
        json={
            "location": {"lat": north(500)[0], "lon": BAC_GIANG[1]},
            "radius_m": 5000,
            "categories": ["food"],
            "on_duty": False,
        },
    )
    assert response.status_code == 200
    _, resident = create_user()  # no volunteer profile

    posted = post_request(categories=["food"])

    assert set(told(client.application, posted["id"])) == {near, edge, wide, one_kind}
    assert inbox(client, resident)["items"] == []
    assert inbox(client, off_headers)["items"] == [] and inbox(client, off_headers)["muted"]


def test_the_requester_is_never_told_of_their_own_request(client, volunteer):
    by_account, account_headers = volunteer()
    by_phone_phone = new_phone()
    by_phone, _ = volunteer(phone=by_phone_phone)
    other, _ = volunteer()
    response = client.post("/api/v1/requests", headers=account_headers, json=request_payload())
    assert response.status_code == 201
    assert set(told(client.application, response.get_json()["id"])) == {other, by_phone}
    # Posted without an account, from the phone of a volunteer's account.
    response = client.post("/api/v1/requests", json=request_payload(phone=by_phone_phone))
    assert response.status_code == 201
    assert set(told(client.application, response.get_json()["id"])) == {by_account, other}


def test_only_volunteers_with_a_free_claim_are_told(client, volunteer, post_request):
    """Capacity counts held claims; a new volunteer holds one until they have helped once."""
    full_one, full_one_headers = volunteer(at=north(100), capacity=1)
    new_three, new_three_headers = volunteer(at=north(200), capacity=3)
    proven, proven_headers = volunteer(at=north(300), capacity=2)
    free, _ = volunteer(at=north(400), capacity=1)
    # proven helps once and then holds one claim of two.
    first = post_request(at=north(5000))
    action(client, first["id"], "claim", proven_headers)
    action(client, first["id"], "helped", proven_headers)
    for headers in (full_one_headers, new_three_headers, proven_headers):
        action(client, post_request(at=north(5000))["id"], "claim", headers)

    posted = post_request()
    assert set(told(client.application, posted["id"])) == {proven, free}


@pytest.mark.parametrize("app_overrides", [{"PUSH_TOP_K": 3}], ids=["top3"])
def test_the_k_closest_are_told_closest_first_with_their_rounded_distance(
    client, volunteer, post_request
):
    far_to_near = [volunteer(at=north(metres))[0] for metres in (4000, 2960, 1049, 1550, 120)]
    posted = post_request(at=BAC_GIANG)
    assert told(client.application, posted["id"]) == [
        far_to_near[4],
        far_to_near[2],
        far_to_near[3],
    ]


def test_a_notification_carries_public_fields_only(client, volunteer, post_request):
    volunteer_id, headers = volunteer(at=north(1049))
    posted = post_request(at=BAC_GIANG, urgency="urgent", categories=["food", "medicine"])
    (item,) = inbox(client, headers)["items"]
    assert item["kind"] == "new_request" and item["request_id"] == posted["id"]
    assert item["request_open"] and not item["read"]
    payload = item["payload"]
    assert set(payload) == {
        "categories",
        "urgency",
        "household_size",
        "description",
        "location",
        "distance_m",
        "created_at",
    }
    assert payload["location"] == posted["location"]  # the blurred point
    assert payload["distance_m"] == 1000 and payload["urgency"] == "urgent"
    assert payload["categories"] == ["food", "medicine"]
    assert haversine_m(*BAC_GIANG, payload["location"]["lat"], payload["location"]["lon"]) > 150
    body = client.get("/api/v1/notifications", headers=headers).get_data(as_text=True)
    for secret in (
        posted["phone"],
        posted["phone"][3:],
        posted["contact_name"],
        posted["address"],
        "exact_location",
    ):
        assert secret not in body


def test_ties_go_to_whoever_was_told_less_in_the_last_hour_then_the_lower_id(
    app, client, volunteer, post_request
):
    busy, _ = volunteer(at=north(300))
    calm, _ = volunteer(at=north(300))
    app.config["PUSH_TOP_K"] = 1
    assert told(app, post_request(at=north(-20))["id"]) == [min(busy, calm)]
    # Now the first is told more: the other wins the tie.
    assert told(app, post_request(at=north(-20))["id"]) == [max(busy, calm)]
    # Equal again: the lower id.
    assert told(app, post_request(at=north(-20))["id"]) == [min(busy, calm)]


@pytest.mark.parametrize("app_overrides", [{"PUSH_MAX_PER_HOUR": 2}], ids=["2-per-hour"])
def test_no_volunteer_is_told_more_than_n_times_an_hour(
    app, client, volunteer, post_request, clock
):
    volunteer_id, headers = volunteer()
    posted = [post_request(at=north(100 * i)) for i in range(3)]
    assert [volunteer_id in told(app, p["id"]) for p in posted] == [True, True, False]
    clock.advance(minutes=59)
    assert volunteer_id not in told(app, post_request(at=north(400))["id"])
    clock.advance(minutes=1, seconds=1)
    assert volunteer_id in told(app, post_request(at=north(500))["id"])
    assert len(inbox(client, headers)["items"]) == 3


def test_going_off_duty_mutes_pushes_and_on_duty_brings_them_back(client, volunteer, post_request):
    volunteer_id, headers = volunteer()
    profile = {
        "location": {"lat": BAC_GIANG[0], "lon": BAC_GIANG[1]},
        "radius_m": 5000,
        "categories": ["food"],
        "on_duty": False,
    }
    assert client.put("/api/v1/volunteers/me", headers=headers, json=profile).status_code == 200
    assert volunteer_id not in told(client.application, post_request()["id"])
    assert inbox(client, headers)["muted"] is True
    profile["on_duty"] = True
    assert client.put("/api/v1/volunteers/me", headers=headers, json=profile).status_code == 200
    assert inbox(client, headers)["muted"] is False
    assert volunteer_id in told(client.application, post_request()["id"])


# -- reopened requests are pushed again -------------------------------------------------------


@pytest.mark.parametrize("app_overrides", [{"PUSH_TOP_K": 2}], ids=["top2"])
def test_a_released_request_is_pushed_to_the_next_volunteers_not_back_to_the_releaser(
    app, client, volunteer, post_request
):
    first, first_headers = volunteer(at=north(100))
    second, _ = volunteer(at=north(200))
    third, _ = volunteer(at=north(300))
    fourth, _ = volunteer(at=north(400))
    posted = post_request()
    assert told(app, posted["id"]) == [first, second]
    action(client, posted["id"], "claim", first_headers)
    action(client, posted["id"], "release", first_headers)
    # Who was told already is not told again; the releaser is not asked back.
    assert told(app, posted["id"]) == [first, second, third, fourth]


def test_a_lapsed_lease_tells_the_claimant_and_pushes_the_request_again(
    app, client, runner, volunteer, post_request, clock
):
    claimant, claimant_headers = volunteer(at=north(100))
    posted = post_request()
    action(client, posted["id"], "claim", claimant_headers)
    later, later_headers = volunteer(at=north(200))  # joined after the post
    clock.advance(seconds=app.config["CLAIM_LEASE_SECONDS"] + 1)

    result = runner.invoke(args=["connect", "expire"])
    assert result.exit_code == 0 and "leases lapsed: 1" in result.output, result.output
    assert told(app, posted["id"], "lease_expired") == [claimant]
    assert told(app, posted["id"]) == [claimant, later]
    (item,) = inbox(client, later_headers)["items"]
    assert item["request_open"] is True
    # Once only, whoever applies the lapse next.
    assert runner.invoke(args=["connect", "expire"]).exit_code == 0
    assert told(app, posted["id"], "lease_expired") == [claimant]


def test_a_restored_request_is_pushed_like_a_new_one(
    app, client, volunteer, post_request, create_staff
):
    posted = post_request()
    staff = create_staff()
    url = f"/api/v1/requests/{posted['id']}"
    assert client.post(f"{url}/hide", headers=staff, json={"reason": "xem lại"}).status_code == 200
    joined, _ = volunteer(at=north(100))  # joined while it was hidden
    restored = client.post(f"{url}/restore", headers=staff, json={"reason": "nhu cầu thật"})
    assert restored.status_code == 200, restored.get_json()
    assert told(app, posted["id"]) == [joined]


def test_hidden_cancelled_and_claimed_requests_are_never_pushed(
    app, client, volunteer, post_request
):
    from connect.extensions import db
    from connect.matching.push import push_request
    from connect.requests.models import HelpRequest
    from connect.requests.services import hide_request

    volunteer_id, headers = volunteer()
    hidden, cancelled, claimed = (post_request() for _ in range(3))
    action(client, claimed["id"], "claim", headers)
    assert (
        client.post(
            f"/api/v1/requests/{cancelled['id']}/cancel",
            headers={"X-Manage-Token": cancelled["manage_token"]},
        ).status_code
        == 200
    )
    with app.app_context():
        hide_request(hidden["id"], None, "test")
        db.session.commit()
        # Those told at posting are not told again, so ask with a fresh volunteer's view.
        from connect.notifications.models import Notification

        db.session.query(Notification).delete()
        for posted in (hidden, cancelled, claimed):
            assert push_request(db.session.get(HelpRequest, posted["id"])) == []
        db.session.rollback()


def test_posting_pushes_with_one_query_and_one_insert(app, client, volunteer, backend):
    """The candidates in one query (spatial index, capacity, hourly count), then the rows: one
    INSERT for all on PostgreSQL; SQLite takes one per row (SQLAlchemy batches INSERT ...
    RETURNING only where the returned order is guaranteed), each a few microseconds."""
    from connect.extensions import db

    for metres in (100, 200, 300, 400, 500, 600):
        volunteer(at=north(metres))
    statements = []

    def count(conn, cursor, statement, *args):
        statements.append(statement)

    def post():
        statements.clear()
        with app.app_context():
            engine = db.engine
        event.listen(engine, "before_cursor_execute", count)
        try:
            response = client.post("/api/v1/requests", json=request_payload())
        finally:
            event.remove(engine, "before_cursor_execute", count)
        assert response.status_code == 201, response.get_json()
        return response.get_json()["id"], list(statements)

    request_id, with_push = post()
    assert len(told(app, request_id)) == 5
    app.config["PUSH_TOP_K"] = 0
    _, without_push = post()
    selects = [s for s in with_push if s.lstrip().startswith("SELECT volunteers.")]
    inserts = [s for s in with_push if s.startswith("INSERT INTO notifications")]
    assert len(selects) == 1 and len(inserts) == (1 if backend == "postgis" else 5)
    assert not any(
        s.startswith(("SELECT volunteers.", "INSERT INTO notifications")) for s in without_push
    )
    # Nothing else: the push adds exactly those statements to a post.
    other = [s for s in with_push if s not in selects + inserts]
    assert len(other) <= len(without_push), "\n".join(other)


def test_distances_are_great_circle_not_degrees(client, volunteer, post_request):
    """At 21° N a degree of longitude is shorter than one of latitude: a volunteer 2.9 km
    east is within a 3 km radius, one 3.1 km north is not."""
    east_lon = BAC_GIANG[1] + 0.028  # 2,903 m east, 0.028 degrees
    east, _ = volunteer(at=(BAC_GIANG[0], east_lon), radius_m=3000)
    volunteer(at=north(3100), radius_m=3000)  # 0.0279 degrees north, but 3,100 m
    assert 2850 < haversine_m(*BAC_GIANG, BAC_GIANG[0], east_lon) < 3000
    assert told(client.application, post_request()["id"]) == [east]


def test_who_fits_matches_brute_force_great_circle_distances(app):
    """The index box, the per-volunteer box in SQL and the exact refine together find exactly
    the volunteers a brute-force haversine over all of them finds (radii 100 m to 50 km)."""
    import random

    from connect.accounts.models import User, Volunteer
    from connect.extensions import db
    from connect.matching.push import candidates
    from connect.requests.models import HelpRequest
    from connect.spatial import point

    rng = random.Random(5)
    kinds = ["food", "supplies", "medicine", "medical_advice", "other"]
    with app.app_context():
        profiles = []
        for i in range(300):
            user = User(phone=new_phone(), name=f"v{i}", password_hash="x", role="volunteer")
            db.session.add(user)
            db.session.flush()
            # Clustered near the requests, and spread over the province and beyond.
            spread = 0.02 if i % 3 == 0 else 0.6
            at = (
                BAC_GIANG[0] + rng.uniform(-spread, spread),
                BAC_GIANG[1] + rng.uniform(-spread, spread),
            )
            profile = Volunteer(
                user_id=user.id,
                location=point(*at),
                radius_m=rng.choice([100, 500, 2000, 10_000, 30_000, 50_000]),
                categories=rng.sample(kinds, rng.randint(1, 3)),
                on_duty=rng.random() < 0.8,
                capacity=1,
            )
            db.session.add(profile)
            profiles.append(
                (user.id, at, profile.radius_m, set(profile.categories), profile.on_duty)
            )
        db.session.flush()
        for _ in range(25):
            at = (BAC_GIANG[0] + rng.uniform(-0.1, 0.1), BAC_GIANG[1] + rng.uniform(-0.1, 0.1))
            wanted = rng.sample(kinds, rng.randint(1, 2))
            request = HelpRequest(
                location=point(*at), categories=wanted, status="open", phone=new_phone(), id=None
            )
            expected = {
                user_id
                for user_id, where, radius, brings, on_duty in profiles
                if on_duty and brings & set(wanted) and haversine_m(*where, *at) <= radius
            }
            found = {c.user_id: c.distance_m for c in candidates(request)}
            assert set(found) == expected
            for user_id, where, *_ in profiles:
                if user_id in found:
                    assert found[user_id] == pytest.approx(haversine_m(*where, *at), abs=1e-6)
        db.session.rollback()
