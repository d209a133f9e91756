"""Batch assignment (issue 5): coordinators preview an area's optimal assignment, then apply it.

One scene, on both databases, in district 24-213 (Bắc Giang city) of the demo areas:

    volunteers                      requests (all posted by residents without an account)
    A  at the centre, 2 km, food,       R1 food       500 m east      -> A (500 m)
       new (one claim at a time)        R7 food       700 m east      A's one slot went to R1
    B  3 km east, 1.5 km, medicine      R2 medicine   3 km east 500 m north -> B (500 m)
       and food, capacity 2, has        R3 food, urgent 3.5 km east   -> B (500 m)
       helped once                      R4 food       6 km west       no one reaches it
    C  1 km south, 5 km, supplies,      R5 medical advice 500 m north no one covers it
       holds one claim (full)           R6 supplies   1 km south      C could, but is full
    D  at the centre, everything,       R8 food       in Lục Nam (24-220): not in this area
       off duty
"""

import math
import threading
import time

import pytest
from sqlalchemy import func, select

from connect.geo import EARTH_RADIUS_M

from conftest import (
    BAC_GIANG,
    LUC_NAM,
    ensure_demo_areas,
    make_app,
    new_phone,
    request_payload,
)
from leak_check import Personal, find_leaks

API = "/api/v1"
DISTRICT = "24-213"
M_PER_DEG = math.pi * EARTH_RADIUS_M / 180.0
ALL = ["food", "supplies", "medicine", "medical_advice", "other"]


def offset(east_m, north_m, origin=BAC_GIANG):
    lat0, lon0 = origin
    return (
        round(lat0 + north_m / M_PER_DEG, 7),
        round(lon0 + east_m / (M_PER_DEG * math.cos(math.radians(lat0))), 7),
    )


def preview_url(code=DISTRICT):
    return f"{API}/areas/{code}/assignments/preview"


def apply_url(code=DISTRICT):
    return f"{API}/areas/{code}/assignments/apply"


def as_pairs(*pairs):
    return {"pairs": [{"request_id": r, "volunteer_id": v} for r, v in pairs]}


def assert_error(response, status, code=None):
    body = response.get_json()
    assert response.status_code == status, (response.status_code, body)
    assert body["error"]["message"], body
    if code is not None:
        assert body["error"]["code"] == code, body


class Scene:
    """The people and requests of the module docstring, posted through the API."""

    def __init__(self, app, client, create_user, create_staff):
        self.app, self.client = app, client
        ensure_demo_areas(app)  # before posting: requests are placed in areas when posted
        self.coordinator = create_staff(areas=(DISTRICT,))
        self.persons = {}
        self.headers, self.ids, self.phones = {}, {}, {}
        self._create_user = create_user
        self.volunteer("A", BAC_GIANG, 2000, ["food"], 1)
        self.volunteer("B", offset(3000, 0), 1500, ["medicine", "food"], 2)
        self.volunteer("C", offset(0, -1000), 5000, ["supplies"], 1)
        self.volunteer("D", BAC_GIANG, 50_000, ALL, 5, on_duty=False)
        # B has helped once (so may hold 2 claims); C holds a claim now (so is full).
        helped = self.post("B-helped", offset(3000, 100), ["food"])
        assert self.act(helped, "claim", "B").status_code == 200
        assert self.act(helped, "helped", "B").status_code == 200
        self.held = self.post("C-held", offset(0, -1200), ["supplies"])
        assert self.act(self.held, "claim", "C").status_code == 200
        self.r = {
            "R1": self.post("R1", offset(500, 0), ["food"]),
            "R2": self.post("R2", offset(3000, 500), ["medicine"]),
            "R3": self.post("R3", offset(3500, 0), ["food"], urgency="urgent"),
            "R4": self.post("R4", offset(-6000, 0), ["food"]),
            "R5": self.post("R5", offset(0, 500), ["medical_advice"]),
            "R6": self.post("R6", offset(200, -1000), ["supplies"]),
            "R7": self.post("R7", offset(700, 0), ["food"]),
            "R8": self.post("R8", LUC_NAM, ["food"]),
        }

    def volunteer(self, name, at, radius_m, categories, capacity, on_duty=True):
        phone = new_phone()
        user, headers = self._create_user(name=f"Tình nguyện {name}", phone=phone)
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
        self.headers[name], self.ids[name], self.phones[name] = headers, user["id"], phone

    def post(self, label, at, categories, **overrides):
        tag = (
            "Q"
            + "".join(chr(ord("b") + (ord(c) * 7 + i) % 20) for i, c in enumerate(label * 2))[:6]
        )
        # A fixed phone per label: public points depend on the phone, and fixed ones keep a
        # public number from matching another request's exact one by chance.
        phone = "+8495" + f"{sum(ord(c) * 31**i for i, c in enumerate(label)) % 10**7:07d}"
        payload = request_payload(
            at=at,
            categories=categories,
            phone=phone,
            contact_name=f"Hoàng Thị Mai {tag}",
            address=f"Số 8 ngách {tag}, phường Ngô Quyền",
            **overrides,
        )
        response = self.client.post(f"{API}/requests", json=payload)
        assert response.status_code == 201, response.get_json()
        body = response.get_json()
        self.persons[body["id"]] = Personal(
            body["id"],
            payload["contact_name"],
            payload["phone"],
            payload["address"],
            at,
            {"name": tag},
            body["manage_token"],
        )
        return body["id"]

    def act(self, request_id, action, who):
        return self.client.post(f"{API}/requests/{request_id}/{action}", headers=self.headers[who])

    def preview(self, headers=None, code=DISTRICT):
        return self.client.post(
            preview_url(code), json={}, headers=self.coordinator if headers is None else headers
        )

    def apply(self, body, headers=None, code=DISTRICT):
        return self.client.post(
            apply_url(code), json=body, headers=self.coordinator if headers is None else headers
        )

    def status(self, request_id):
        from connect.extensions import db
        from connect.requests.models import HelpRequest

        with self.app.app_context():
            r = db.session.get(HelpRequest, request_id)
            return r.status, r.claimed_by_id

    def count(self, model, *where):
        from connect.extensions import db

        with self.app.app_context():
            return db.session.execute(
                select(func.count()).select_from(model).where(*where)
            ).scalar_one()


@pytest.fixture
def scene(app, client, create_user, create_staff):
    return Scene(app, client, create_user, create_staff)


def expected_pairs(scene):
    r, v = scene.r, scene.ids
    return {r["R1"]: v["A"], r["R2"]: v["B"], r["R3"]: v["B"]}


# -- preview --------------------------------------------------------------------------------


def test_preview_respects_radius_categories_and_capacity(scene):
    response = scene.preview()
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    r, v = scene.r, scene.ids
    assert body["area"] == {
        "code": DISTRICT,
        "name": "Thành phố Bắc Giang (demo)",
        "level": "district",
    }
    assert {p["request_id"]: p["volunteer_id"] for p in body["pairs"]} == expected_pairs(scene)
    for pair in body["pairs"]:
        assert 490 <= pair["distance_m"] <= 510, pair
        assert pair["urgent"] == (pair["request_id"] == r["R3"])
    assert {u["request_id"]: u["reason"] for u in body["unserved"]} == {
        r["R4"]: "no_volunteer_in_range",
        r["R5"]: "no_category_match",
        r["R6"]: "volunteers_at_capacity",
        r["R7"]: "capacity_used_elsewhere",
    }
    assert body["unserved_by_reason"] == {
        "no_volunteer_in_range": 1,
        "no_category_match": 1,
        "volunteers_at_capacity": 1,
        "capacity_used_elsewhere": 1,
    }
    assert (body["open_requests"], body["urgent_requests"]) == (7, 1)  # R8 is elsewhere
    # D is off duty; C is available but full; A has 1 (new), B 2 (has helped).
    assert (body["available_volunteers"], body["free_capacity"]) == (3, 3)
    assert (body["served"], body["served_urgent"]) == (3, 1)
    assert body["total_km"] == pytest.approx(1.5, abs=0.03)
    assert body["greedy_baseline"]["served"] <= body["served"]
    assert set(body["timings"]) == {"load_ms", "prune_ms", "solve_ms", "baseline_ms", "total_ms"}
    # Volunteers by user id and display name only: no phone, no place.
    assert body["volunteers"] == [
        {"volunteer_id": v["A"], "name": "Tình nguyện A", "assigned": 1},
        {"volunteer_id": v["B"], "name": "Tình nguyện B", "assigned": 2},
    ]
    text = response.get_data(as_text=True)
    for phone in scene.phones.values():
        assert phone[3:] not in text
    assert not find_leaks(text, list(scene.persons.values()), body)
    # A preview changes nothing.
    assert all(scene.status(rid) == ("open", None) for rid in scene.r.values())


def test_the_optimum_serves_more_than_nearest_first(app, client, create_user, create_staff):
    """Urgent U can go to V1 (near) or V2 (far), normal N only to V1: the preview sends U to
    V2 and serves both; nearest-first serves one."""
    ensure_demo_areas(app)
    coordinator = create_staff(areas=(DISTRICT,))
    ids = {}
    for name, at, radius in (("V1", BAC_GIANG, 1000), ("V2", offset(4000, 0), 4000)):
        user, headers = create_user(name=name)
        assert (
            client.put(
                f"{API}/volunteers/me",
                headers=headers,
                json={
                    "location": {"lat": at[0], "lon": at[1]},
                    "radius_m": radius,
                    "categories": ["food"],
                    "on_duty": True,
                    "capacity": 1,
                },
            ).status_code
            == 200
        )
        ids[name] = user["id"]
    urgent = client.post(
        f"{API}/requests", json=request_payload(at=offset(500, 0), urgency="urgent")
    ).get_json()["id"]
    normal = client.post(f"{API}/requests", json=request_payload(at=offset(-800, 0))).get_json()[
        "id"
    ]
    body = client.post(preview_url(), json={}, headers=coordinator).get_json()
    assert {p["request_id"]: p["volunteer_id"] for p in body["pairs"]} == {
        urgent: ids["V2"],
        normal: ids["V1"],
    }
    assert body["greedy_baseline"]["served"] == 1 and body["served"] == 2


def test_a_lapsed_claim_counts_as_open_and_frees_its_holder(app, scene, clock):
    """C's claim lapsed (4 h lease) and nobody saved that yet: C is free again and the request
    it held is open, in the preview and in the apply. Both supplies requests are 200 m from
    C, who can take one."""
    from connect.extensions import db
    from connect.requests.models import Assist

    clock.advance(hours=4, minutes=1)
    body = scene.preview().get_json()
    to_c = [p["request_id"] for p in body["pairs"] if p["volunteer_id"] == scene.ids["C"]]
    assert len(to_c) == 1 and to_c[0] in (scene.held, scene.r["R6"])
    other = scene.r["R6"] if to_c[0] == scene.held else scene.held
    assert {"request_id": other, "reason": "capacity_used_elsewhere"} in body["unserved"]
    result = scene.apply({"pairs": body["pairs"]}).get_json()
    assert result["skipped"] == [] and len(result["applied"]) == 4
    assert scene.status(to_c[0]) == ("claimed", scene.ids["C"])
    assert scene.status(other) == ("open", None)
    with app.app_context():
        outcomes = (
            db.session.execute(
                select(Assist.outcome).where(Assist.request_id == scene.held).order_by(Assist.id)
            )
            .scalars()
            .all()
        )
    assert outcomes[0] == "expired"


def test_a_volunteer_is_not_given_their_own_request(app, client, create_user, create_staff):
    ensure_demo_areas(app)
    coordinator = create_staff(areas=(DISTRICT,))
    user, headers = create_user(name="Hàng xóm")
    assert (
        client.put(
            f"{API}/volunteers/me",
            headers=headers,
            json={
                "location": {"lat": BAC_GIANG[0], "lon": BAC_GIANG[1]},
                "radius_m": 2000,
                "categories": ALL,
                "on_duty": True,
                "capacity": 1,
            },
        ).status_code
        == 200
    )
    own = client.post(
        f"{API}/requests", json=request_payload(at=offset(100, 0)), headers=headers
    ).get_json()["id"]
    body = client.post(preview_url(), json={}, headers=coordinator).get_json()
    assert body["pairs"] == [] and [u["request_id"] for u in body["unserved"]] == [own]
    result = client.post(
        apply_url(), json=as_pairs((own, user["id"])), headers=coordinator
    ).get_json()
    assert result["skipped"] == [
        {"request_id": own, "volunteer_id": user["id"], "reason": "own_request"}
    ]


# -- apply ----------------------------------------------------------------------------------


def test_apply_creates_claims_assists_events_and_notifications(app, scene):
    from connect.accounts.models import User
    from connect.extensions import db
    from connect.notifications.models import Notification
    from connect.requests.models import Assist, HelpRequest, RequestEvent

    body = scene.preview().get_json()
    response = scene.apply({"pairs": body["pairs"]})  # sent back as the preview gave them
    assert response.status_code == 200, response.get_json()
    result = response.get_json()
    assert result["skipped"] == []
    assert {a["request_id"]: a["volunteer_id"] for a in result["applied"]} == expected_pairs(scene)
    with app.app_context():
        coordinator = db.session.execute(
            select(User).where(User.role == "coordinator")
        ).scalar_one()
        for request_id, volunteer_id in expected_pairs(scene).items():
            stored = db.session.get(HelpRequest, request_id)
            assert (stored.status, stored.claimed_by_id) == ("claimed", volunteer_id)
            assist = db.session.execute(
                select(Assist).where(Assist.request_id == request_id)
            ).scalar_one()
            assert assist.volunteer_id == volunteer_id and assist.outcome is None
            event = db.session.execute(
                select(RequestEvent).where(
                    RequestEvent.request_id == request_id, RequestEvent.to_status == "claimed"
                )
            ).scalar_one()
            assert (event.actor_id, event.actor_kind, event.reason, event.assist_id) == (
                coordinator.id,
                "coordinator",
                "assigned by coordinator",
                assist.id,
            )
        notes = (
            db.session.execute(
                select(Notification)
                .where(Notification.kind == "assigned")
                .order_by(Notification.request_id)
            )
            .scalars()
            .all()
        )
        assert [(n.request_id, n.user_id) for n in notes] == sorted(expected_pairs(scene).items())
        for note in notes:
            # As the inbox shows pushed needs, and when the lease ends.
            assert {
                "categories",
                "urgency",
                "household_size",
                "distance_m",
                "lease_ends_at",
            } <= set(note.payload)
            assert note.payload["distance_m"] == 500
            assert not find_leaks(str(note.payload), list(scene.persons.values()), note.payload)
    # The assist is the volunteer's: they hold the claim and see the contact details.
    mine = scene.client.get(f"{API}/requests/{scene.r['R1']}", headers=scene.headers["A"])
    assert mine.get_json()["phone"] == scene.persons[scene.r["R1"]].phone


def test_a_claim_that_raced_in_is_skipped_and_the_rest_applied(app, scene, create_user):
    """A volunteer claims R1 between the preview and the apply."""
    body = scene.preview().get_json()
    scene.volunteer("E", offset(400, 0), 1000, ["food"], 1)
    assert scene.act(scene.r["R1"], "claim", "E").status_code == 200
    result = scene.apply({"pairs": body["pairs"]}).get_json()
    assert result["skipped"] == [
        {"request_id": scene.r["R1"], "volunteer_id": scene.ids["A"], "reason": "request_not_open"}
    ]
    assert {a["request_id"] for a in result["applied"]} == {scene.r["R2"], scene.r["R3"]}
    assert scene.status(scene.r["R1"]) == ("claimed", scene.ids["E"])
    assert scene.status(scene.r["R3"]) == ("claimed", scene.ids["B"])


def test_a_second_apply_of_the_same_pairs_skips_them_all(app, scene):
    from connect.notifications.models import Notification
    from connect.requests.models import Assist, RequestEvent

    pairs = scene.preview().get_json()["pairs"]
    assert len(scene.apply({"pairs": pairs}).get_json()["applied"]) == 3
    counts = (scene.count(Assist), scene.count(RequestEvent), scene.count(Notification))
    again = scene.apply({"pairs": pairs})
    assert again.status_code == 200
    assert again.get_json()["applied"] == []
    assert {s["reason"] for s in again.get_json()["skipped"]} == {"already_assigned"}
    assert (scene.count(Assist), scene.count(RequestEvent), scene.count(Notification)) == counts


def test_apply_checks_every_pair_again(scene, create_user):
    r, v = scene.r, scene.ids
    stranger, _ = create_user(name="Chưa là tình nguyện viên")
    result = scene.apply(
        as_pairs(
            (r["R1"], v["A"]),
            (r["R7"], v["A"]),  # A's second claim: new volunteers hold one
            (r["R4"], v["B"]),  # 9 km from B, who goes 1.5 km
            (r["R5"], v["C"]),  # medical advice; C brings supplies
            (r["R6"], v["D"]),  # D is off duty
            (r["R8"], v["A"]),  # in Lục Nam, not in this district
            (2_000_000_000, v["A"]),  # no such request
            (r["R2"], stranger["id"]),  # no volunteer profile
            (r["R3"], 2_000_000_000),  # no such user
        )
    ).get_json()
    assert result["applied"] == [
        {"request_id": r["R1"], "volunteer_id": v["A"], "distance_m": pytest.approx(500, abs=10)}
    ]
    assert {s["request_id"]: s["reason"] for s in result["skipped"]} == {
        r["R7"]: "no_capacity",
        r["R4"]: "out_of_range",
        r["R5"]: "category_mismatch",
        r["R6"]: "volunteer_unavailable",
        r["R8"]: "not_in_area",
        2_000_000_000: "not_in_area",
        r["R2"]: "not_a_volunteer",
        r["R3"]: "not_a_volunteer",
    }
    assert scene.status(r["R8"]) == ("open", None)


def test_apply_is_one_transaction(app, scene, monkeypatch):
    """An error part-way (here: the second notification fails) leaves nothing behind."""
    from connect.matching import batch
    from connect.notifications.models import Notification
    from connect.requests.models import Assist, RequestEvent

    real, calls = batch.notify, []

    def failing(*args, **kwargs):
        calls.append(args)
        if len(calls) == 2:
            raise RuntimeError("the inbox is down")
        return real(*args, **kwargs)

    monkeypatch.setattr(batch, "notify", failing)
    pairs = scene.preview().get_json()["pairs"]
    counts = (scene.count(Assist), scene.count(RequestEvent), scene.count(Notification))
    response = scene.apply({"pairs": pairs})
    assert_error(response, 500, "internal_error")
    assert all(scene.status(rid) == ("open", None) for rid in expected_pairs(scene))
    assert (scene.count(Assist), scene.count(RequestEvent), scene.count(Notification)) == counts


# -- who may --------------------------------------------------------------------------------


def test_who_may_preview_and_apply(app, scene, create_user, create_staff):
    """Coordinators of the district or of its province and admins; a coordinator of another
    district, residents, volunteers and anonymous callers are refused, changing nothing."""
    province = create_staff(areas=("24",))
    elsewhere = create_staff(areas=("24-220",))
    admin = create_staff(role="admin", areas=())
    _, resident = create_user(name="Cư dân")
    pair = as_pairs((scene.r["R1"], scene.ids["A"]))
    for headers in (province, admin):
        assert scene.preview(headers).status_code == 200
        assert scene.preview(headers, code="24").status_code == 200
    assert scene.preview(elsewhere, code="24-220").status_code == 200
    refused = [
        ({}, 401, "unauthorized"),
        (resident, 403, "not_coordinator"),
        (scene.headers["A"], 403, "not_coordinator"),
        (elsewhere, 403, "not_coordinator"),
        ({"X-Manage-Token": scene.persons[scene.r["R1"]].manage_token}, 401, None),
    ]
    for headers, status, code in refused:
        assert_error(scene.preview(headers), status, code)
        assert_error(scene.apply(pair, headers), status, code)
    # A district coordinator cannot preview the province that holds their district.
    assert_error(scene.preview(code="24"), 403, "not_coordinator")
    assert_error(scene.preview(elsewhere, code="24"), 403, "not_coordinator")
    assert_error(scene.preview(admin, code="99-nowhere"), 404, "unknown_area")
    assert scene.status(scene.r["R1"]) == ("open", None)
    # Through their province, a coordinator applies in the district.
    assert scene.apply(pair, province).get_json()["applied"][0]["request_id"] == scene.r["R1"]


def test_a_coordinator_of_another_area_cannot_assign_its_requests_through_their_own(
    scene, create_staff
):
    """Pairs naming requests elsewhere, applied in one's own area, are skipped unseen."""
    elsewhere = create_staff(areas=("24-220",))
    result = scene.apply(as_pairs((scene.r["R1"], scene.ids["A"])), elsewhere, code="24-220")
    assert result.get_json()["skipped"] == [
        {"request_id": scene.r["R1"], "volunteer_id": scene.ids["A"], "reason": "not_in_area"}
    ]
    assert scene.status(scene.r["R1"]) == ("open", None)


# -- input and limits -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "body, field",
    [
        ({}, "pairs"),
        ({"pairs": []}, "pairs"),
        ({"pairs": [{"request_id": 1}]}, "pairs"),
        ({"pairs": [{"request_id": "1", "volunteer_id": 2}]}, "pairs"),
        ({"pairs": [{"request_id": 0, "volunteer_id": 2}]}, "pairs"),
        ({"pairs": "all"}, "pairs"),
    ],
)
def test_bad_apply_bodies_are_422(scene, body, field):
    response = scene.apply(body)
    assert_error(response, 422, "validation_error")
    assert field in response.get_json()["error"]["details"]["fields"]


def test_a_request_twice_is_422(scene):
    assert_error(
        scene.apply(as_pairs((scene.r["R1"], scene.ids["A"]), (scene.r["R1"], scene.ids["B"]))),
        422,
        "duplicate_request_in_pairs",
    )


def test_size_limits_are_422_with_a_clear_message(app, scene):
    app.config["ASSIGNMENT_MAX_REQUESTS"] = 6
    response = scene.preview()
    assert_error(response, 422, "batch_too_large")
    error = response.get_json()["error"]
    assert "7 open requests" in error["message"] and "at most 6" in error["message"]
    assert error["details"] == {"open_requests": 7, "limit": 6}
    app.config["ASSIGNMENT_MAX_REQUESTS"] = 20_000
    app.config["ASSIGNMENT_MAX_VOLUNTEERS"] = 2
    assert_error(scene.preview(), 422, "batch_too_large")
    app.config["ASSIGNMENT_MAX_VOLUNTEERS"] = 20_000
    app.config["ASSIGNMENT_MAX_CANDIDATE_PAIRS"] = 2  # A: R1, R7; B: R2, R3 (C is full)
    response = scene.preview()
    assert_error(response, 422, "batch_too_large")
    assert response.get_json()["error"]["details"] == {"candidate_pairs": 4, "limit": 2}
    app.config["ASSIGNMENT_MAX_PAIRS"] = 1
    response = scene.apply(
        as_pairs((scene.r["R1"], scene.ids["A"]), (scene.r["R2"], scene.ids["B"]))
    )
    assert_error(response, 422, "batch_too_large")
    assert scene.status(scene.r["R1"]) == ("open", None)


def test_previews_and_applies_are_rate_limited(database_url):
    """One budget per account for previews and applies (RATELIMIT_ASSIGNMENTS_PER_ACCOUNT)."""
    from connect.extensions import db

    app = make_app(
        database_url, RATELIMIT_ENABLED=True, RATELIMIT_ASSIGNMENTS_PER_ACCOUNT="3 per minute"
    )
    try:
        client = app.test_client()
        ensure_demo_areas(app)
        phone, password = new_phone(), "dieu-phoi-1"
        result = app.test_cli_runner().invoke(
            args=[
                "connect",
                "create-user",
                "--phone",
                phone,
                "--name",
                "Điều phối",
                "--role",
                "coordinator",
                "--password",
                password,
                "--area",
                DISTRICT,
            ]
        )
        assert result.exit_code == 0, result.output
        token = client.post(f"{API}/auth/token", json={"phone": phone, "password": password})
        headers = {"Authorization": f"Bearer {token.get_json()['token']}"}
        answers = [
            client.post(preview_url(), json={}, headers=headers).status_code for _ in range(2)
        ]
        answers.append(
            client.post(apply_url(), json=as_pairs((1, 1)), headers=headers).status_code
        )
        assert answers == [200, 200, 200]
        limited = client.post(preview_url(), json={}, headers=headers)
        assert_error(limited, 429, "rate_limited")
        assert int(limited.headers["Retry-After"]) >= 1
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


def test_the_operations_are_documented(client):
    spec = client.get(f"{API}/openapi.json").get_json()
    for url in (preview_url("{code}"), apply_url("{code}")):
        operation = spec["paths"][url]["post"]
        assert "not_coordinator" in operation["description"]
    apply_doc = spec["paths"][apply_url("{code}")]["post"]["description"]
    for reason in ("request_not_open", "no_capacity", "out_of_range", "already_assigned"):
        assert reason in apply_doc


# -- races ----------------------------------------------------------------------------------


def test_apply_racing_a_volunteers_claim_and_another_apply(app, scene):
    """Two coordinators apply the same pairs while E claims R1, all at once (threads, each
    with its own client and connection): every request ends claimed exactly once, nobody
    gets a server error or a deadlock."""
    from connect.requests.models import Assist

    pairs = scene.preview().get_json()["pairs"]
    scene.volunteer("E", offset(400, 0), 1000, ["food"], 1)
    calls = [
        (apply_url(), scene.coordinator, {"pairs": pairs}),
        (apply_url(), scene.coordinator, {"pairs": pairs}),
        (f"{API}/requests/{scene.r['R1']}/claim", scene.headers["E"], None),
    ]
    clients = [app.test_client() for _ in calls]
    barrier = threading.Barrier(len(calls), timeout=30)
    results = [None] * len(calls)

    def run(i):
        url, headers, body = calls[i]
        barrier.wait()
        response = clients[i].post(url, headers=headers, json=body)
        results[i] = (response.status_code, response.get_json())

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(len(calls))]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not any(t.is_alive() for t in threads), "a call hung"
    assert time.perf_counter() - started < 60
    assert all(status in (200, 409) for status, _ in results), results
    applied = [a for status, body in results[:2] for a in body["applied"]]
    claimed_by_e = results[2][0] == 200
    # Each request of the preview went to exactly one volunteer, once.
    assert sorted(a["request_id"] for a in applied) == sorted(
        rid for rid in expected_pairs(scene) if not (claimed_by_e and rid == scene.r["R1"])
    )
    for rid, vid in expected_pairs(scene).items():
        holder = scene.ids["E"] if claimed_by_e and rid == scene.r["R1"] else vid
        assert scene.status(rid) == ("claimed", holder)
        assert scene.count(Assist, Assist.request_id == rid) == 1
    skipped = {s["reason"] for status, body in results[:2] for s in body["skipped"]}
    assert skipped <= {"already_assigned", "request_not_open"}
