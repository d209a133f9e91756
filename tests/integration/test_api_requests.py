"""Help requests through the JSON API: posting, viewing, nearby lists and the claim lifecycle."""

import math
import re

from sqlalchemy import select

from connect.geo import EARTH_RADIUS_M, haversine_m, round_distance_m

from conftest import BAC_GIANG, make_app, request_payload

API = "/api/v1/requests"
PRIVATE_KEYS = {
    "contact_name",
    "phone",
    "address",
    "exact_location",
    "claimed_by",
    "lease_expires_at",
    "source",
    "manage_token",
}
NEARBY_ITEM_KEYS = {
    "id",
    "categories",
    "description",
    "household_size",
    "urgency",
    "location",
    "location_precision",
    "distance_m",
    "created_at",
    "status",
}


# -- helpers -----------------------------------------------------------------------------


def shifted(point, north_m=0.0, east_m=0.0):
    """The point moved by metres north and east (small offsets on the sphere)."""
    lat, lon = point
    return (
        lat + math.degrees(north_m / EARTH_RADIUS_M),
        lon + math.degrees(east_m / (EARTH_RADIUS_M * math.cos(math.radians(lat)))),
    )


def nearby(client, at=BAC_GIANG, **params):
    response = client.get(f"{API}/nearby", query_string={"lat": at[0], "lon": at[1], **params})
    assert response.status_code == 200, response.get_json()
    assert response.mimetype == "application/json"
    return response.get_json()["items"]


def nearby_ids(client, at=BAC_GIANG, **params):
    return [item["id"] for item in nearby(client, at, **params)]


def act(client, request_id, action, headers=None, **kwargs):
    return client.post(f"{API}/{request_id}/{action}", headers=headers or {}, **kwargs)


def manage(posted):
    return {"X-Manage-Token": posted["manage_token"]}


def assert_error(response, status, code=None):
    """The error envelope with this status (and code, where the contract names one)."""
    body = response.get_json()
    assert response.status_code == status, body
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}, body
    if code is not None:
        assert body["error"]["code"] == code, body


def user_id(client, headers):
    return client.get("/api/v1/auth/me", headers=headers).get_json()["id"]


def status_of(client, request_id):
    return client.get(f"{API}/{request_id}").get_json()["status"]


# -- posting -----------------------------------------------------------------------------


def test_posting_a_request_answers_201_with_the_request_open(client):
    """Posting answers 201 with the stored request, open, echoing what was sent."""
    payload = request_payload(
        categories=["medicine", "food"],
        urgency="urgent",
        household_size=7,
        at=(21.30123, 106.21234),
    )
    response = client.post(API, json=payload)
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert isinstance(body["id"], int)
    assert body["status"] == "open"
    assert body["categories"] == ["food", "medicine"]  # the fixed category order
    assert body["description"] == payload["description"]
    assert body["household_size"] == 7
    assert body["urgency"] == "urgent"
    assert body["contact_name"] == payload["contact_name"]
    assert body["phone"] == payload["phone"]
    assert body["address"] == payload["address"]
    assert body["exact_location"] == {"lat": 21.30123, "lon": 106.21234}
    assert body["created_at"].endswith("Z") and body["expires_at"] > body["created_at"]
    assert body["claimed_by"] is None
    assert (
        150 - 1.5
        <= haversine_m(21.30123, 106.21234, body["location"]["lat"], body["location"]["lon"])
        <= 400 + 1.5
    )


def test_manage_token_is_at_least_128_bits_unique_and_stored_hashed(app, client, post_request):
    """The manage token is ≥ 22 URL-safe characters, different per request, never stored."""
    from connect.extensions import db
    from connect.requests.models import HelpRequest

    posted = [post_request() for _ in range(5)]
    tokens = [p["manage_token"] for p in posted]
    for token in tokens:
        assert re.fullmatch(r"[A-Za-z0-9_-]{22,}", token), token
    assert len(set(tokens)) == len(tokens)
    with app.app_context():
        stored = db.session.execute(select(HelpRequest.manage_token_hash)).scalars().all()
    assert not set(stored) & set(tokens)


def test_phone_is_stored_normalised(app, client):
    """A phone written as 0912 345 678 is stored and shown as +84912345678."""
    from connect.extensions import db
    from connect.requests.models import HelpRequest

    response = client.post(API, json=request_payload(phone="0912 345 678"))
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["phone"] == "+84912345678"
    with app.app_context():
        stored = db.session.get(HelpRequest, response.get_json()["id"]).phone
    assert stored == "+84912345678"


def test_duplicate_categories_are_collapsed(client, post_request):
    """Repeated categories are stored once, in the fixed category order."""
    posted = post_request(categories=["medicine", "food", "medicine", "food"])
    assert posted["categories"] == ["food", "medicine"]
    assert client.get(f"{API}/{posted['id']}").get_json()["categories"] == ["food", "medicine"]


def test_urgency_defaults_to_normal(client):
    """Urgency may be left out; it is then normal."""
    payload = request_payload()
    del payload["urgency"]
    response = client.post(API, json=payload)
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["urgency"] == "normal"


def test_address_is_optional(client):
    """A request can be posted without an address, or with a null one."""
    payload = request_payload()
    del payload["address"]
    without = client.post(API, json=payload)
    assert without.status_code == 201, without.get_json()
    assert without.get_json()["address"] is None
    with_null = client.post(API, json=request_payload(address=None))
    assert with_null.status_code == 201, with_null.get_json()
    assert with_null.get_json()["address"] is None


# -- viewing one request -----------------------------------------------------------------


def test_get_by_id_shows_only_public_fields_to_anyone(client, post_request):
    """Anyone can read a request, without its private fields."""
    posted = post_request(categories=["supplies"], household_size=2)
    response = client.get(f"{API}/{posted['id']}")
    assert response.status_code == 200
    body = response.get_json()
    assert not PRIVATE_KEYS & set(body), body
    assert body["id"] == posted["id"] and body["status"] == "open"
    assert body["categories"] == ["supplies"] and body["household_size"] == 2
    assert body["location"] == posted["location"]
    for key in ("description", "urgency", "created_at", "updated_at", "expires_at"):
        assert body[key] == posted[key]


def test_get_by_id_shows_private_fields_to_the_requester_only(client, post_request):
    """The manage token unlocks contact details; a token of another request does not."""
    posted, other = post_request(), post_request()
    mine = client.get(f"{API}/{posted['id']}", headers=manage(posted)).get_json()
    assert mine["phone"] == posted["phone"] and mine["contact_name"] == posted["contact_name"]
    assert mine["address"] == posted["address"]
    assert mine["exact_location"] == posted["exact_location"]
    assert "manage_token" not in mine
    wrong = client.get(f"{API}/{posted['id']}", headers=manage(other)).get_json()
    assert not PRIVATE_KEYS & set(wrong)


def test_get_unknown_id_is_404(client):
    """An id that was never issued is 404 not_found."""
    assert_error(client.get(f"{API}/424242"), 404, "not_found")


# -- nearby ------------------------------------------------------------------------------


def test_nearby_items_have_exactly_the_contract_fields(client, post_request):
    """Nearby items carry exactly the documented fields, with the blurred location."""
    posted = post_request(
        categories=["food", "other"],
        urgency="urgent",
        household_size=3,
        at=shifted(BAC_GIANG, north_m=600),
    )
    (item,) = nearby(client)
    assert set(item) == NEARBY_ITEM_KEYS
    assert item["id"] == posted["id"]
    assert item["categories"] == ["food", "other"]
    assert item["description"] == posted["description"]
    assert item["household_size"] == 3 and item["urgency"] == "urgent"
    assert item["location"] == posted["location"]
    assert item["distance_m"] == 600
    assert item["created_at"] == posted["created_at"]
    assert item["status"] == "open"


def test_nearby_is_nearest_first_by_great_circle_distance(client, post_request):
    """Nearest first in metres on the sphere, not in degrees (at 21°N lon degrees are shorter)."""
    lat, lon = BAC_GIANG
    offsets = {  # degrees north, east: planar-degree order and true order disagree
        "A": (0.0090, 0.0),
        "B": (0.0, 0.0095),
        "C": (-0.0060, 0.0060),
        "D": (0.0, -0.0120),
        "E": (0.0105, 0.0),
        "G": (0.0, 0.0112),
    }
    ids, true_m, planar = {}, {}, {}
    for name, (dlat, dlon) in offsets.items():
        ids[name] = post_request(at=(lat + dlat, lon + dlon))["id"]
        true_m[name] = haversine_m(lat, lon, lat + dlat, lon + dlon)
        planar[name] = math.hypot(dlat, dlon)
    by_metres = sorted(offsets, key=true_m.get)
    assert by_metres != sorted(offsets, key=planar.get)  # the check can tell them apart
    items = nearby(client)
    assert [item["id"] for item in items] == [ids[name] for name in by_metres]
    assert [item["distance_m"] for item in items] == [
        round_distance_m(true_m[name]) for name in by_metres
    ]


def test_nearby_default_radius_is_2000_m(client, post_request):
    """Without radius_m only requests within 2,000 m are listed; a wider radius finds more."""
    inside = post_request(at=shifted(BAC_GIANG, north_m=1900))["id"]
    outside = post_request(at=shifted(BAC_GIANG, east_m=-2100))["id"]
    assert nearby_ids(client) == [inside]
    assert nearby_ids(client, radius_m=2500) == [inside, outside]
    assert nearby_ids(client, radius_m=1800) == []


def test_nearby_radius_m_is_at_most_50_km(client, post_request):
    """radius_m up to 50,000 m is accepted; beyond it (or below 1) is 422."""
    far = post_request(at=shifted(BAC_GIANG, north_m=49_000))["id"]
    assert nearby_ids(client, radius_m=50_000) == [far]
    for bad in (50_001, 0, -5):
        response = client.get(
            f"{API}/nearby",
            query_string={"lat": BAC_GIANG[0], "lon": BAC_GIANG[1], "radius_m": bad},
        )
        assert_error(response, 422, "validation_error")
        assert "radius_m" in response.get_json()["error"]["details"]["fields"]


def test_nearby_limit_is_at_most_200(client, post_request):
    """limit cuts the list to the nearest n; over 200 (or below 1) is 422."""
    ids = [post_request(at=shifted(BAC_GIANG, north_m=100 * (i + 1)))["id"] for i in range(4)]
    assert nearby_ids(client, limit=2) == ids[:2]
    assert nearby_ids(client, limit=200) == ids
    for bad in (201, 0):
        response = client.get(
            f"{API}/nearby", query_string={"lat": BAC_GIANG[0], "lon": BAC_GIANG[1], "limit": bad}
        )
        assert_error(response, 422, "validation_error")
        assert "limit" in response.get_json()["error"]["details"]["fields"]


def test_nearby_filters_by_categories_as_comma_list_or_repeated_params(client, post_request):
    """categories=a,b and categories=a&categories=b both keep requests with any of them."""
    food = post_request(categories=["food"], at=shifted(BAC_GIANG, north_m=100))["id"]
    medicine = post_request(categories=["medicine"], at=shifted(BAC_GIANG, north_m=200))["id"]
    both = post_request(categories=["supplies", "medicine"], at=shifted(BAC_GIANG, north_m=300))[
        "id"
    ]
    other = post_request(categories=["other"], at=shifted(BAC_GIANG, north_m=400))["id"]
    assert nearby_ids(client) == [food, medicine, both, other]
    assert nearby_ids(client, categories="food") == [food]
    assert nearby_ids(client, categories="medicine") == [medicine, both]
    assert nearby_ids(client, categories="food,medicine") == [food, medicine, both]
    assert nearby_ids(client, categories=["food", "medicine"]) == [food, medicine, both]
    assert nearby_ids(client, categories=["supplies", "other"]) == [both, other]
    assert nearby_ids(client, categories="medical_advice") == []
    response = client.get(
        f"{API}/nearby",
        query_string={"lat": BAC_GIANG[0], "lon": BAC_GIANG[1], "categories": "food,petrol"},
    )
    assert_error(response, 422, "validation_error")


def test_nearby_lists_only_open_requests(client, post_request, create_volunteer):
    """Claimed, cancelled and helped requests leave the list; a released one comes back."""
    assert nearby(client) == []
    posted = [post_request(at=shifted(BAC_GIANG, north_m=100 * (i + 1))) for i in range(5)]
    claimed, cancelled, helped, released, untouched = (p["id"] for p in posted)
    assert nearby_ids(client) == [p["id"] for p in posted]
    headers = create_volunteer()
    # Helping first: until then a new volunteer holds one claim at a time.
    assert act(client, helped, "claim", headers).status_code == 200
    assert act(client, helped, "helped", headers).status_code == 200
    assert act(client, claimed, "claim", headers).status_code == 200
    assert act(client, cancelled, "cancel", manage(posted[1])).status_code == 200
    assert act(client, released, "claim", headers).status_code == 200
    assert nearby_ids(client) == [untouched]
    assert act(client, released, "release", headers).status_code == 200
    assert nearby_ids(client) == [released, untouched]
    assert {item["status"] for item in nearby(client)} == {"open"}


def test_nearby_sees_this_process_writes_at_once(database_url):
    """Own writes show at once, even when the read model would not re-read for a while."""
    app = make_app(database_url, READ_MODEL_SYNC_INTERVAL=60)
    client = app.test_client()
    try:
        first = client.post(API, json=request_payload()).get_json()
        assert nearby_ids(client) == [first["id"]]
        second = client.post(API, json=request_payload(at=shifted(BAC_GIANG, north_m=300)))
        assert nearby_ids(client) == [first["id"], second.get_json()["id"]]
        assert act(client, first["id"], "cancel", manage(first)).status_code == 200
        assert nearby_ids(client) == [second.get_json()["id"]]
    finally:
        from connect.extensions import db

        with app.app_context():
            db.session.remove()
            db.engine.dispose()


# -- volunteers --------------------------------------------------------------------------


def test_a_user_becomes_a_volunteer_with_a_profile(client, create_user):
    """PUT /volunteers/me makes a resident a volunteer; GET shows the profile."""
    _, headers = create_user()
    response = client.put(
        "/api/v1/volunteers/me",
        headers=headers,
        json={
            "location": {"lat": BAC_GIANG[0], "lon": BAC_GIANG[1]},
            "radius_m": 3000,
            "categories": ["food", "food", "medicine"],
            "on_duty": True,
            "capacity": 2,
        },
    )
    assert response.status_code == 200, response.get_json()
    profile = client.get("/api/v1/volunteers/me", headers=headers).get_json()
    assert profile["categories"] == ["food", "medicine"]
    assert profile["capacity"] == 2 and profile["active_claims"] == 0
    assert client.get("/api/v1/auth/me", headers=headers).get_json()["role"] == "volunteer"


# -- the claim lifecycle -----------------------------------------------------------------


def test_claim_answers_200_with_the_contact_details(client, post_request, create_volunteer):
    """Claiming an open request gives the volunteer the contact details and a lease."""
    posted = post_request()
    headers = create_volunteer()
    response = act(client, posted["id"], "claim", headers)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["status"] == "claimed"
    assert body["contact_name"] == posted["contact_name"]
    assert body["phone"] == posted["phone"]
    assert body["address"] == posted["address"]
    assert body["exact_location"] == posted["exact_location"]
    assert body["claimed_by"] == user_id(client, headers)
    assert body["lease_expires_at"] > body["updated_at"]
    assert "manage_token" not in body


def test_second_claim_is_409_claim_conflict(client, post_request, create_volunteer):
    """Once claimed, a request cannot be claimed again, by another volunteer or the same one."""
    posted = post_request()
    first, second = create_volunteer(), create_volunteer()
    assert act(client, posted["id"], "claim", first).status_code == 200
    assert_error(act(client, posted["id"], "claim", second), 409, "claim_conflict")
    assert_error(act(client, posted["id"], "claim", first), 409, "claim_conflict")
    assert client.get(f"{API}/{posted['id']}", headers=manage(posted)).get_json()[
        "claimed_by"
    ] == user_id(client, first)


def test_claim_of_unknown_request_is_404(client, create_volunteer):
    """Claiming an id that does not exist is 404, not a conflict."""
    assert_error(act(client, 98765, "claim", create_volunteer()), 404, "not_found")


def test_claim_needs_an_account_and_a_volunteer_profile(client, post_request, create_user):
    """Anonymous claims are 401; a user without a volunteer profile gets 403 not_a_volunteer."""
    posted = post_request()
    assert_error(act(client, posted["id"], "claim"), 401)
    _, resident = create_user()
    assert_error(act(client, posted["id"], "claim", resident), 403, "not_a_volunteer")
    assert status_of(client, posted["id"]) == "open"


def test_volunteer_capacity_limits_claims_held_at_once(client, post_request, create_volunteer):
    """With capacity 1 a second claim is 409 capacity_reached until the first is released."""
    first, second = post_request(), post_request()
    headers = create_volunteer(capacity=1)
    assert act(client, first["id"], "claim", headers).status_code == 200
    response = act(client, second["id"], "claim", headers)
    assert_error(response, 409, "capacity_reached")
    assert response.get_json()["error"]["details"] == {"capacity": 1}
    assert status_of(client, second["id"]) == "open"
    assert act(client, first["id"], "release", headers).status_code == 200
    assert act(client, second["id"], "claim", headers).status_code == 200


def test_release_by_the_claimant_reopens_the_request(client, post_request, create_volunteer):
    """The claimant can give the request back: it is open and claimable again."""
    posted = post_request()
    first, second = create_volunteer(), create_volunteer()
    assert act(client, posted["id"], "claim", first).status_code == 200
    response = act(client, posted["id"], "release", first)
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["status"] == "open"
    assert status_of(client, posted["id"]) == "open"
    assert act(client, posted["id"], "claim", second).status_code == 200


def test_release_by_another_volunteer_is_403(client, post_request, create_volunteer):
    """Only the claimant may release; the claim stays with them."""
    posted = post_request()
    claimant, other = create_volunteer(), create_volunteer()
    assert act(client, posted["id"], "claim", claimant).status_code == 200
    assert_error(act(client, posted["id"], "release", other), 403)
    assert status_of(client, posted["id"]) == "claimed"


def test_only_the_claimant_can_mark_helped(client, post_request, create_volunteer, create_staff):
    """Another volunteer, a coordinator or the requester cannot mark a claim helped."""
    posted = post_request()
    claimant, other = create_volunteer(), create_volunteer()
    assert act(client, posted["id"], "claim", claimant).status_code == 200
    assert_error(act(client, posted["id"], "helped", other), 403)
    assert_error(act(client, posted["id"], "helped", create_staff()), 403)
    assert_error(act(client, posted["id"], "helped", manage(posted)), 401)
    assert status_of(client, posted["id"]) == "claimed"
    response = act(client, posted["id"], "helped", claimant)
    assert response.status_code == 200 and response.get_json()["status"] == "helped"


def test_requester_confirms_with_the_manage_token(client, post_request, create_volunteer):
    """X-Manage-Token confirms a helped request; a wrong token is 403 and changes nothing."""
    posted, other = post_request(), post_request()
    headers = create_volunteer()
    act(client, posted["id"], "claim", headers)
    act(client, posted["id"], "helped", headers)
    assert_error(act(client, posted["id"], "confirm", manage(other)), 403)
    assert_error(act(client, posted["id"], "confirm", {"X-Manage-Token": "x" * 43}), 403)
    assert_error(act(client, posted["id"], "confirm", headers), 403)
    assert status_of(client, posted["id"]) == "helped"
    response = act(client, posted["id"], "confirm", manage(posted))
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["status"] == "confirmed"


def test_requester_confirms_with_their_own_account(client, create_user, create_volunteer):
    """A request posted with a bearer token can be confirmed with that same token."""
    _, requester = create_user()
    posted = client.post(API, json=request_payload(), headers=requester)
    assert posted.status_code == 201, posted.get_json()
    request_id = posted.get_json()["id"]
    mine = client.get(f"{API}/{request_id}", headers=requester).get_json()
    assert mine["phone"] == posted.get_json()["phone"]
    headers = create_volunteer()
    act(client, request_id, "claim", headers)
    act(client, request_id, "helped", headers)
    response = act(client, request_id, "confirm", requester)
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["status"] == "confirmed"


def test_confirm_of_an_open_request_is_409(client, post_request):
    """Nothing to confirm before anyone has helped."""
    posted = post_request()
    assert_error(act(client, posted["id"], "confirm", manage(posted)), 409)
    assert status_of(client, posted["id"]) == "open"


def test_requester_cancels_with_the_manage_token(client, post_request):
    """The requester can withdraw their request, with a reason."""
    posted = post_request()
    response = act(
        client, posted["id"], "cancel", manage(posted), json={"reason": "Hàng xóm đã giúp"}
    )
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["status"] == "cancelled"
    assert status_of(client, posted["id"]) == "cancelled"


def test_coordinator_cancels_a_claimed_request(
    client, post_request, create_volunteer, create_staff
):
    """A coordinator can cancel any open or claimed request."""
    posted = post_request()
    act(client, posted["id"], "claim", create_volunteer())
    response = act(client, posted["id"], "cancel", create_staff(), json={"reason": "duplicate"})
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["status"] == "cancelled"


def test_strangers_cannot_cancel(client, post_request, create_user):
    """Anonymous callers and other accounts get 403; the request stays open."""
    posted = post_request()
    _, stranger = create_user()
    assert_error(act(client, posted["id"], "cancel"), 403)
    assert_error(act(client, posted["id"], "cancel", stranger), 403)
    assert status_of(client, posted["id"]) == "open"


def test_confirmed_request_cannot_be_cancelled(
    client, post_request, create_volunteer, create_staff
):
    """Cancelling after confirmation is 409, for the requester and for a coordinator."""
    posted = post_request()
    headers = create_volunteer()
    act(client, posted["id"], "claim", headers)
    act(client, posted["id"], "helped", headers)
    assert act(client, posted["id"], "confirm", manage(posted)).status_code == 200
    assert_error(act(client, posted["id"], "cancel", manage(posted)), 409)
    assert_error(act(client, posted["id"], "cancel", create_staff()), 409)
    assert status_of(client, posted["id"]) == "confirmed"


# -- history: events and assists ---------------------------------------------------------


def _history(app, request_id):
    from connect.extensions import db
    from connect.requests.models import Assist, RequestEvent

    with app.app_context():
        events = [
            (e.from_status, e.to_status, e.actor_id, e.actor_kind, e.reason, e.assist_id)
            for e in db.session.execute(
                select(RequestEvent)
                .where(RequestEvent.request_id == request_id)
                .order_by(RequestEvent.id)
            ).scalars()
        ]
        assists = [
            (a.id, a.volunteer_id, a.outcome)
            for a in db.session.execute(
                select(Assist).where(Assist.request_id == request_id).order_by(Assist.id)
            ).scalars()
        ]
    return events, assists


def test_every_transition_is_recorded_with_its_actor_and_assist(
    app, client, post_request, create_volunteer, create_staff
):
    """Each change writes a RequestEvent (who, from, to, why); assists end with an outcome."""
    first, second = create_volunteer(), create_volunteer()
    staff = create_staff()
    first_id, second_id, staff_id = (user_id(client, h) for h in (first, second, staff))

    helped = post_request()
    act(client, helped["id"], "claim", first)
    act(client, helped["id"], "release", first)
    act(client, helped["id"], "claim", second)
    act(client, helped["id"], "helped", second)
    assert [a[1:] for a in _history(app, helped["id"])[1]] == [
        (first_id, "released"),
        (second_id, "helped"),
    ]
    assert act(client, helped["id"], "confirm", manage(helped)).status_code == 200
    events, assists = _history(app, helped["id"])
    (a1, *_), (a2, *_) = assists
    assert [a[1:] for a in assists] == [(first_id, "released"), (second_id, "confirmed")]
    assert [e[:4] for e in events] == [
        (None, "open", None, "requester"),
        ("open", "claimed", first_id, "volunteer"),
        ("claimed", "open", first_id, "volunteer"),
        ("open", "claimed", second_id, "volunteer"),
        ("claimed", "helped", second_id, "volunteer"),
        ("helped", "confirmed", None, "requester"),
    ]
    assert [e[5] for e in events] == [None, a1, a1, a2, a2, a2]
    assert events[0][4] == "posted" and events[2][4] == "released"

    by_staff = post_request()
    act(client, by_staff["id"], "claim", first)
    act(client, by_staff["id"], "cancel", staff, json={"reason": "duplicate"})
    events, assists = _history(app, by_staff["id"])
    assert [a[1:] for a in assists] == [(first_id, "cancelled")]
    assert events[-1][:5] == ("claimed", "cancelled", staff_id, "coordinator", "duplicate")
    assert events[-1][5] == assists[0][0]

    by_requester = post_request()
    act(client, by_requester["id"], "cancel", manage(by_requester), json={"reason": "đã đủ"})
    events, assists = _history(app, by_requester["id"])
    assert assists == []
    assert events[-1][:5] == ("open", "cancelled", None, "requester", "đã đủ")


def test_stats_count_helped_and_confirmed_assists(client, post_request, create_volunteer):
    """Public stats count requests by status and assists helped / confirmed."""
    headers = create_volunteer()
    done, helped_only, _still_open = post_request(), post_request(), post_request()
    for posted in (done, helped_only):
        act(client, posted["id"], "claim", headers)
        act(client, posted["id"], "helped", headers)
    act(client, done["id"], "confirm", manage(done))
    stats = client.get("/api/v1/stats").get_json()
    assert stats["assists"] == {"helped": 2, "confirmed": 1}
    assert stats["requests"]["total"] == 3
    assert stats["requests"]["by_status"]["open"] == 1
    assert stats["requests"]["by_status"]["helped"] == 1
    assert stats["requests"]["by_status"]["confirmed"] == 1


def test_every_event_says_why(app, client, post_request, create_volunteer):
    """Every RequestEvent row carries a reason, not only posting, release and cancel."""
    posted = post_request()
    headers = create_volunteer()
    act(client, posted["id"], "claim", headers)
    act(client, posted["id"], "helped", headers)
    act(client, posted["id"], "confirm", manage(posted))
    events, _ = _history(app, posted["id"])
    assert len(events) == 4
    assert all(reason for *_, reason, _assist in events), events
