"""A request's history, the nearest suitable volunteers, and assigning one (issue 6).

One scene, on both databases, around R: a food request at the Bắc Giang place (district 24-213,
province 24), posted by H's account. The coordinator is of province 24; coord2 of Lục Nam
(24-220), which does not hold R.

    volunteer  where               radius  brings            state               for R
    B          300 m north         1 km    food, medicine    capacity 3, new     300 m
    A          800 m east          2 km    food              capacity 1          800 m
    I          1.9 km west         2 km    supplies, food    capacity 2          1.9 km
    J          Lục Nam (~21 km)    30 km   food              capacity 1          ~21 km
    C          1.5 km west         1 km    food                                  out of range
    D          200 m south         5 km    medicine                              no category
    E          100 m east          5 km    food              holds a claim (full)
    F          150 m east          5 km    food              off duty
    G          250 m east          5 km    food              account disabled
    H          50 m east           5 km    food              posted R
"""

import math
from collections import Counter

import pytest
from sqlalchemy import select, update

from connect.geo import EARTH_RADIUS_M, haversine_m

from conftest import BAC_GIANG, LUC_NAM, ensure_demo_areas, fire_together, request_payload

API = "/api/v1"
M_PER_DEG = math.pi * EARTH_RADIUS_M / 180.0
FOOD = ["food"]


def offset(east_m, north_m, origin=BAC_GIANG):
    lat0, lon0 = origin
    return (
        round(lat0 + north_m / M_PER_DEG, 7),
        round(lon0 + east_m / (M_PER_DEG * math.cos(math.radians(lat0))), 7),
    )


def assert_error(response, status, code):
    body = response.get_json()
    assert response.status_code == status, (response.status_code, body)
    assert body["error"]["code"] == code, body
    return body["error"]


class Scene:
    def __init__(self, app, client, create_user, create_staff):
        self.app, self.client, self._create_user = app, client, create_user
        ensure_demo_areas(app)  # before posting: requests are placed in areas when posted
        self.coordinator = create_staff(areas=("24",))
        self.coord2 = create_staff(areas=("24-220",))
        self.admin = create_staff(role="admin")
        self.headers, self.ids, self.points = {}, {}, {}
        self.volunteer("B", offset(0, 300), 1000, ["food", "medicine"], 3)
        self.volunteer("A", offset(800, 0), 2000, FOOD, 1)
        self.volunteer("I", offset(-1900, 0), 2000, ["supplies", "food"], 2)
        self.volunteer("J", LUC_NAM, 30_000, FOOD, 1)
        self.volunteer("C", offset(-1500, 0), 1000, FOOD, 1)
        self.volunteer("D", offset(0, -200), 5000, ["medicine"], 1)
        self.volunteer("E", offset(100, 0), 5000, FOOD, 1)
        self.volunteer("F", offset(150, 0), 5000, FOOD, 1, on_duty=False)
        self.volunteer("G", offset(250, 0), 5000, FOOD, 1)
        self.volunteer("H", offset(50, 0), 5000, FOOD, 1)
        self.disable("G")
        # E holds a claim elsewhere: full (one claim at a time until they have helped).
        self.elsewhere = self.post(offset(100, 1000), FOOD)
        assert (
            client.post(
                f"{API}/requests/{self.elsewhere['id']}/claim", headers=self.headers["E"]
            ).status_code
            == 200
        )
        self.r = self.post(BAC_GIANG, FOOD, headers=self.headers["H"])

    def volunteer(self, name, at, radius_m, categories, capacity, on_duty=True):
        user, headers = self._create_user(name=f"Tình nguyện {name}")
        response = self.client.put(
            f"{API}/volunteers/me",
            headers=headers,
            json={
                "location": {"lat": at[0], "lon": at[1]},
                "radius_m": radius_m,
                "categories": categories,
                "on_duty": on_duty,
                "capacity": capacity,
            },
        )
        assert response.status_code == 200, response.get_json()
        self.headers[name], self.ids[name], self.points[name] = headers, user["id"], at

    def disable(self, name):
        from connect import clock
        from connect.accounts.models import User
        from connect.extensions import db

        with self.app.app_context():
            db.session.execute(
                update(User).where(User.id == self.ids[name]).values(disabled_at=clock.now())
            )
            db.session.commit()

    def post(self, at, categories, headers=None):
        response = self.client.post(
            f"{API}/requests",
            headers=headers or {},
            json=request_payload(at=at, categories=categories),
        )
        assert response.status_code == 201, response.get_json()
        return response.get_json()

    def name_of(self, user_id):
        return {v: k for k, v in self.ids.items()}[user_id]

    def distance(self, name, request_at=BAC_GIANG):
        return round(haversine_m(*self.points[name], *request_at))

    def candidates(self, headers=None, request_id=None, **query):
        return self.client.get(
            f"{API}/requests/{request_id or self.r['id']}/candidates",
            headers=self.coordinator if headers is None else headers,
            query_string=query,
        )

    def assign(self, volunteer, headers=None, request_id=None, **body):
        volunteer_id = self.ids.get(volunteer, volunteer)
        return self.client.post(
            f"{API}/requests/{request_id or self.r['id']}/assign",
            headers=self.coordinator if headers is None else headers,
            json={"volunteer_id": volunteer_id, **body},
        )

    def events(self, headers=None, request_id=None):
        return self.client.get(
            f"{API}/requests/{request_id or self.r['id']}/events",
            headers=self.coordinator if headers is None else headers,
        )

    def me(self, headers):
        return self.client.get(f"{API}/auth/me", headers=headers).get_json()


@pytest.fixture
def scene(app, client, create_user, create_staff):
    return Scene(app, client, create_user, create_staff)


# -- candidates --------------------------------------------------------------------------


def test_candidates_are_the_suitable_on_duty_volunteers_nearest_first(scene):
    response = scene.candidates()
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["assignable"] is True
    # Hand-checked: C out of range, D no category, E full, F off duty, G disabled, H posted R.
    assert [scene.name_of(c["volunteer_id"]) for c in body["items"]] == ["B", "A", "I", "J"]
    assert [c["distance_m"] for c in body["items"]] == [
        scene.distance(name) for name in ("B", "A", "I", "J")
    ]
    assert 299 <= body["items"][0]["distance_m"] <= 301
    assert 20_000 < body["items"][3]["distance_m"] < 22_000
    b, a, i, _j = body["items"]
    assert b == {
        "volunteer_id": scene.ids["B"],
        "name": "Tình nguyện B",
        "phone": scene.me(scene.headers["B"])["phone"],
        "distance_m": scene.distance("B"),
        "radius_m": 1000,
        "categories": ["food", "medicine"],
        "capacity": 3,
        "active_claims": 0,
        # New volunteers hold one claim at a time, whatever capacity they gave.
        "free": 1,
        "matching_categories": ["food"],
    }
    assert (a["capacity"], a["free"], a["radius_m"]) == (1, 1, 2000)
    assert i["matching_categories"] == ["food"]


def test_candidates_take_a_limit(scene):
    body = scene.candidates(limit=2).get_json()
    assert [scene.name_of(c["volunteer_id"]) for c in body["items"]] == ["B", "A"]
    for bad in (0, 51, "many"):
        assert_error(scene.candidates(limit=bad), 422, "validation_error")


def test_a_volunteer_who_frees_a_claim_becomes_a_candidate(scene):
    assert (
        scene.client.post(
            f"{API}/requests/{scene.elsewhere['id']}/release", headers=scene.headers["E"]
        ).status_code
        == 200
    )
    names = [scene.name_of(c["volunteer_id"]) for c in scene.candidates().get_json()["items"]]
    assert names == ["E", "B", "A", "I", "J"]


def test_a_request_that_is_not_open_has_no_candidates(scene):
    assert scene.assign("B").status_code == 200
    assert scene.candidates().get_json() == {"assignable": False, "items": []}
    cancelled = scene.post(offset(0, 600), FOOD)
    assert (
        scene.client.post(
            f"{API}/requests/{cancelled['id']}/cancel", headers=scene.coordinator, json={}
        ).status_code
        == 200
    )
    assert scene.candidates(request_id=cancelled["id"]).get_json() == {
        "assignable": False,
        "items": [],
    }


def test_a_lapsed_claim_makes_the_request_assignable_again(app, scene, clock):
    assert scene.assign("A").status_code == 200
    clock.advance(seconds=app.config["CLAIM_LEASE_SECONDS"] + 1)
    body = scene.candidates().get_json()
    assert body["assignable"] is True
    # Lapsed leases are no claims any more: A is free again, and so is E.
    assert [scene.name_of(c["volunteer_id"]) for c in body["items"]] == ["E", "B", "A", "I", "J"]
    assert scene.assign("B").status_code == 200


# -- assigning ---------------------------------------------------------------------------


def test_assign_gives_the_claim_to_the_volunteer_and_tells_them(app, scene):
    from connect.extensions import db
    from connect.requests.models import Assist, HelpRequest, RequestEvent

    coordinator = scene.me(scene.coordinator)
    response = scene.assign("A", reason="gần nhất, đã gọi điện")
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["status"] == "claimed" and body["claimed_by"] == scene.ids["A"]
    # The request as coordinators see it: contact details included.
    assert body["phone"] == scene.r["phone"] and body["contact_name"] == scene.r["contact_name"]
    assert body["lease_expires_at"]
    with app.app_context():
        row = db.session.get(HelpRequest, scene.r["id"])
        assert (row.status, row.claimed_by_id) == ("claimed", scene.ids["A"])
        lease = (row.lease_expires_at - row.last_activity_at).total_seconds()
        assert lease == app.config["CLAIM_LEASE_SECONDS"]
        assists = (
            db.session.execute(select(Assist).where(Assist.request_id == scene.r["id"]))
            .scalars()
            .all()
        )
        assert [(a.volunteer_id, a.outcome) for a in assists] == [(scene.ids["A"], None)]
        event = db.session.execute(
            select(RequestEvent).where(
                RequestEvent.request_id == scene.r["id"], RequestEvent.to_status == "claimed"
            )
        ).scalar_one()
        assert (event.from_status, event.actor_id, event.actor_kind, event.assist_id) == (
            "open",
            coordinator["id"],
            "coordinator",
            assists[0].id,
        )
        assert event.reason == "assigned by coordinator: gần nhất, đã gọi điện"
    # The volunteer holds it: their inbox says so, with public fields only.
    inbox = scene.client.get(f"{API}/notifications", headers=scene.headers["A"]).get_json()
    assigned = [n for n in inbox["items"] if n["kind"] == "assigned"]
    assert [n["request_id"] for n in assigned] == [scene.r["id"]]
    assert assigned[0]["payload"]["lease_ends_at"]
    assert scene.r["phone"] not in str(assigned[0]) and "exact" not in str(assigned[0])
    held = scene.client.get(f"{API}/requests/{scene.r['id']}", headers=scene.headers["A"])
    assert held.get_json()["phone"] == scene.r["phone"]
    # ... and can mark it helped like any claim of theirs.
    assert (
        scene.client.post(
            f"{API}/requests/{scene.r['id']}/helped", headers=scene.headers["A"]
        ).status_code
        == 200
    )


def test_an_admin_may_assign_anywhere(scene):
    response = scene.assign("J", headers=scene.admin)
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["claimed_by"] == scene.ids["J"]


def test_a_taken_request_answers_claim_conflict(scene):
    assert scene.assign("B").status_code == 200
    assert_error(scene.assign("A"), 409, "claim_conflict")
    assert_error(scene.assign("B"), 409, "claim_conflict")


@pytest.mark.parametrize(
    "name, reason",
    [
        ("C", "out_of_range"),
        ("D", "category_mismatch"),
        ("E", "no_capacity"),
        ("F", "volunteer_unavailable"),
        ("G", "volunteer_unavailable"),
        ("H", "own_request"),
    ],
)
def test_an_unsuitable_volunteer_is_refused_with_the_reason(app, scene, name, reason):
    from connect.extensions import db
    from connect.requests.models import RequestEvent

    error = assert_error(scene.assign(name), 409, "not_suitable")
    assert error["details"]["reason"] == reason
    # Nothing changed: R is open, its only event is the posting.
    assert scene.client.get(f"{API}/requests/{scene.r['id']}").get_json()["status"] == "open"
    with app.app_context():
        assert db.session.execute(
            select(RequestEvent.to_status).where(RequestEvent.request_id == scene.r["id"])
        ).scalars().all() == ["open"]


def test_an_unknown_volunteer_is_422(scene, create_user):
    resident, _ = create_user(name="Cư dân")
    assert_error(scene.assign(2_000_000_000), 422, "unknown_volunteer")
    assert_error(scene.assign(resident["id"]), 422, "unknown_volunteer")


@pytest.mark.parametrize(
    "body",
    [{}, {"volunteer_id": "5"}, {"volunteer_id": 0}, {"volunteer_id": 5, "reason": "x" * 201}],
)
def test_bad_assign_bodies_are_422(scene, body):
    response = scene.client.post(
        f"{API}/requests/{scene.r['id']}/assign", headers=scene.coordinator, json=body
    )
    assert_error(response, 422, "validation_error")


# -- history -----------------------------------------------------------------------------


def test_the_history_lists_every_transition_oldest_first_with_who(app, scene, clock):
    coordinator = scene.me(scene.coordinator)
    clock.advance(minutes=5)
    assert scene.assign("B", reason="gọi rồi").status_code == 200
    clock.advance(minutes=5)
    assert (
        scene.client.post(
            f"{API}/requests/{scene.r['id']}/release", headers=scene.headers["B"]
        ).status_code
        == 200
    )
    response = scene.events()
    assert response.status_code == 200, response.get_json()
    items = response.get_json()["items"]
    assert [
        (
            e["from_status"],
            e["to_status"],
            e["actor_kind"],
            e["actor_id"],
            e["actor_name"],
            e["reason"],
        )
        for e in items
    ] == [
        (None, "open", "requester", scene.ids["H"], None, "posted"),
        (
            "open",
            "claimed",
            "coordinator",
            coordinator["id"],
            "Điều phối viên",
            "assigned by coordinator: gọi rồi",
        ),
        ("claimed", "open", "volunteer", scene.ids["B"], "Tình nguyện B", "released"),
    ]
    times = [e["created_at"] for e in items]
    assert times == sorted(times) and len(set(times)) == 3
    assert len({e["id"] for e in items}) == 3


# -- who may -----------------------------------------------------------------------------


def test_only_coordinators_of_the_area_and_admins_may(scene, create_user):
    _, resident = create_user(name="Cư dân")
    calls = {
        "events": lambda headers: scene.events(headers=headers),
        "candidates": lambda headers: scene.candidates(headers=headers),
        "assign": lambda headers: scene.assign("B", headers=headers),
    }
    for what, call in calls.items():
        assert_error(call({}), 401, "unauthorized")
        for headers in (scene.coord2, resident, scene.headers["A"], scene.headers["H"]):
            error = assert_error(call(headers), 403, "not_coordinator")
            assert scene.r["phone"] not in str(error), what
    assert scene.client.get(f"{API}/requests/{scene.r['id']}").get_json()["status"] == "open"
    assert scene.events(headers=scene.admin).status_code == 200
    assert scene.candidates(headers=scene.admin).status_code == 200
    for call in (
        lambda: scene.events(request_id=2_000_000_000),
        lambda: scene.candidates(request_id=2_000_000_000),
        lambda: scene.assign("B", request_id=2_000_000_000),
    ):
        assert_error(call(), 404, "not_found")


def test_a_coordinator_of_lucnam_coordinates_requests_there_only(scene, create_staff):
    there = scene.post(offset(0, 200, origin=LUC_NAM), FOOD)
    assert scene.candidates(headers=scene.coord2, request_id=there["id"]).status_code == 200
    response = scene.assign("J", headers=scene.coord2, request_id=there["id"])
    assert response.status_code == 200, response.get_json()
    assert_error(scene.events(headers=scene.coord2), 403, "not_coordinator")


def test_the_operations_are_documented(client):
    paths = client.get(f"{API}/openapi.json").get_json()["paths"]
    for path, method in (
        ("/api/v1/requests/{request_id}/events", "get"),
        ("/api/v1/requests/{request_id}/candidates", "get"),
        ("/api/v1/requests/{request_id}/assign", "post"),
    ):
        assert "not_coordinator" in paths[path][method]["description"]


# -- races -------------------------------------------------------------------------------


def test_racing_assignments_of_one_request_exactly_one_wins(app, scene, create_staff):
    from connect.extensions import db
    from connect.requests.models import Assist, RequestEvent

    other = create_staff(areas=("24-213",))
    path = f"{API}/requests/{scene.r['id']}/assign"
    calls = [
        (path, headers, {"volunteer_id": scene.ids[name]})
        for headers, name in (
            (scene.coordinator, "A"),
            (other, "B"),
            (scene.admin, "I"),
            (scene.coordinator, "J"),
        )
    ]
    results = fire_together(app, calls)
    assert Counter(status for status, _ in results) == {200: 1, 409: 3}, results
    assert {body["error"]["code"] for status, body in results if status == 409} == {
        "claim_conflict"
    }
    (winner,) = [body for status, body in results if status == 200]
    with app.app_context():
        assists = (
            db.session.execute(
                select(Assist.volunteer_id).where(Assist.request_id == scene.r["id"])
            )
            .scalars()
            .all()
        )
        claimed = (
            db.session.execute(
                select(RequestEvent.id).where(
                    RequestEvent.request_id == scene.r["id"], RequestEvent.to_status == "claimed"
                )
            )
            .scalars()
            .all()
        )
    assert assists == [winner["claimed_by"]] and len(claimed) == 1


def test_racing_assignments_of_one_volunteer_respect_their_capacity(app, scene):
    # A takes one claim at a time: of two requests given to A at once, one goes through.
    second = scene.post(offset(600, 0), FOOD)
    calls = [
        (f"{API}/requests/{rid}/assign", headers, {"volunteer_id": scene.ids["A"]})
        for rid, headers in ((scene.r["id"], scene.coordinator), (second["id"], scene.admin))
    ]
    results = fire_together(app, calls)
    assert sorted(status for status, _ in results) == [200, 409], results
    (refused,) = [body for status, body in results if status == 409]
    assert refused["error"]["code"] == "not_suitable"
    assert refused["error"]["details"]["reason"] == "no_capacity"
