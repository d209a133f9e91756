"""Offers of help through the API, on both databases: posting (an account, which becomes a
helper), the nearby list (true nearest first, radius, categories, limit), the map, privacy
(no name, phone, address or exact point to the public), expiry at available_until, editing
and closing, asking an offer (a request already matched to the offerer, with its events and
a notification), and "Báo xấu" hiding an offer after enough reports."""

import math
import random
from datetime import timedelta

import pytest
from sqlalchemy import select

from connect.geo import haversine_m, round_distance_m

from conftest import BAC_GIANG, LUC_NAM, make_app, new_phone, request_payload
from leak_check import Personal, find_leaks

API = "/api/v1/offers"
REQUESTS = "/api/v1/requests"


def offer_payload(at=BAC_GIANG, **overrides):
    lat, lon = at
    payload = {
        "kind": "shop",
        "title": "Rau sạch từ vườn",
        "categories": ["food"],
        "description": "Rau muống, cải, mỗi sáng",
        "quantity": "10 kg",
        "location": {"lat": lat, "lon": lon},
        "address": "Số 4 Ngõ Chợ",
    }
    payload.update(overrides)
    return payload


@pytest.fixture
def post_offer(client, create_user):
    """Post an offer as a (new, or given) account; returns (body, headers)."""

    def post(headers=None, **overrides):
        if headers is None:
            headers = create_user()[1]
        response = client.post(API, headers=headers, json=offer_payload(**overrides))
        assert response.status_code == 201, response.get_json()
        return response.get_json(), headers

    return post


def assert_error(response, status, code=None):
    body = response.get_json()
    assert response.status_code == status, body
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}
    if code is not None:
        assert body["error"]["code"] == code, body
    return body["error"]


def nearby(client, at=BAC_GIANG, **params):
    response = client.get(
        f"{API}/nearby", query_string={"lat": at[0], "lon": at[1], "radius_m": 5000, **params}
    )
    assert response.status_code == 200, response.get_json()
    return response.get_json()["items"]


def map_ids(client, bbox="106.1,21.2,106.3,21.35"):
    response = client.get(f"{API}/map", query_string={"bbox": bbox})
    assert response.status_code == 200, response.get_json()
    return [item["id"] for item in response.get_json()["items"]]


def offset(point, north_m=0.0, east_m=0.0):
    lat, lon = point
    return (
        round(lat + north_m / 111_195, 7),
        round(lon + east_m / (111_195 * math.cos(math.radians(lat))), 7),
    )


PRIVATE = {"contact_name", "phone", "address", "exact_location", "offered_by"}


# -- posting -----------------------------------------------------------------------------


def test_posting_needs_an_account_and_makes_a_resident_a_helper(client, create_user):
    assert_error(client.post(API, json=offer_payload()), 401)
    user, headers = create_user(name="Chị Hoa")
    assert user["role"] == "resident"
    response = client.post(API, headers=headers, json=offer_payload())
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    # Contact details default to the account's; the offerer sees them all.
    assert body["contact_name"] == "Chị Hoa" and body["phone"] == user["phone"]
    assert body["exact_location"] == {"lat": BAC_GIANG[0], "lon": BAC_GIANG[1]}
    assert body["offered_by"] == user["id"] and body["status"] == "open"
    assert body["kind"] == "shop" and body["quantity"] == "10 kg"
    assert client.get("/api/v1/auth/me", headers=headers).get_json()["role"] == "volunteer"


def test_staff_keep_their_role_when_they_offer(client, create_staff):
    admin = create_staff("admin", areas=())
    assert client.post(API, headers=admin, json=offer_payload()).status_code == 201
    assert client.get("/api/v1/auth/me", headers=admin).get_json()["role"] == "admin"


def test_available_until_defaults_to_a_week_and_is_checked(client, create_user, clock):
    _, headers = create_user()
    body = client.post(API, headers=headers, json=offer_payload()).get_json()
    assert body["available_until"] == (clock() + timedelta(days=7)).isoformat() + "Z"
    later = clock() + timedelta(days=2, hours=3)
    body = client.post(
        API, headers=headers, json=offer_payload(available_until=later.isoformat() + "+00:00")
    ).get_json()
    assert body["available_until"] == later.isoformat() + "Z"
    # An offset is taken into account: 09:00 in Hà Nội is 02:00 UTC.
    body = client.post(
        API,
        headers=headers,
        json=offer_payload(available_until=(later + timedelta(hours=7)).isoformat() + "+07:00"),
    ).get_json()
    assert body["available_until"] == later.isoformat() + "Z"
    for bad in (
        (clock() - timedelta(minutes=1)).isoformat(),
        (clock() + timedelta(days=91)).isoformat(),
        "tomorrow",
    ):
        error = assert_error(
            client.post(API, headers=headers, json=offer_payload(available_until=bad)),
            422,
            "validation_error",
        )
        assert "available_until" in error["details"]["fields"], error


@pytest.mark.parametrize(
    "field, value",
    [
        ("kind", "bank"),
        ("categories", []),
        ("categories", ["rice"]),
        ("title", ""),
        ("title", "x" * 121),
        ("description", ""),
        ("quantity", "x" * 121),
        ("location", {"lat": 91, "lon": 0}),
        ("phone", "12345"),
        ("address", "x" * 301),
    ],
)
def test_bad_fields_are_422_per_field(client, create_user, field, value):
    _, headers = create_user()
    error = assert_error(
        client.post(API, headers=headers, json=offer_payload(**{field: value})),
        422,
        "validation_error",
    )
    assert field in error["details"]["fields"], error


def test_a_missing_title_is_422(client, create_user):
    _, headers = create_user()
    payload = offer_payload()
    del payload["title"]
    assert_error(client.post(API, headers=headers, json=payload), 422, "validation_error")


# -- nearby and the map ------------------------------------------------------------------


def test_nearby_is_the_true_nearest_first_within_the_radius(client, post_offer):
    rng = random.Random(5)
    _, headers = post_offer(at=BAC_GIANG)
    points = [BAC_GIANG] + [
        offset(BAC_GIANG, rng.uniform(-6000, 6000), rng.uniform(-6000, 6000)) for _ in range(14)
    ]
    ids = {post_offer(headers=headers, at=at)[0]["id"]: at for at in points[1:]}
    ids[1] = BAC_GIANG
    for query, radius, limit in (
        (BAC_GIANG, 5000, 50),
        (offset(BAC_GIANG, 2000, -1500), 3000, 5),
        (offset(BAC_GIANG, -4000, 3000), 8000, 200),
    ):
        items = nearby(client, at=query, radius_m=radius, limit=limit)
        expected = sorted(
            (haversine_m(*query, *at), offer_id)
            for offer_id, at in ids.items()
            if haversine_m(*query, *at) <= radius
        )[:limit]
        assert [item["id"] for item in items] == [offer_id for _, offer_id in expected]
        for item, (distance, _) in zip(items, expected):
            assert item["distance_m"] == round_distance_m(distance)
            assert not PRIVATE & set(item)


def test_nearby_filters_by_category_and_leaves_closed_offers_out(client, post_offer):
    food, headers = post_offer(categories=["food"])
    medicine, _ = post_offer(
        headers=headers, categories=["medicine", "supplies"], at=offset(BAC_GIANG, 300)
    )
    closed, _ = post_offer(headers=headers, at=offset(BAC_GIANG, 600))
    assert client.post(f"{API}/{closed['id']}/close", headers=headers).status_code == 200
    assert [i["id"] for i in nearby(client)] == [food["id"], medicine["id"]]
    assert [i["id"] for i in nearby(client, categories="medicine")] == [medicine["id"]]
    assert [i["id"] for i in nearby(client, categories="supplies,food")] == [
        food["id"],
        medicine["id"],
    ]
    assert nearby(client, categories="other") == []
    assert_error(
        client.get(f"{API}/nearby", query_string={"lat": 21, "lon": 106, "categories": "rice"}),
        422,
    )
    assert_error(client.get(f"{API}/nearby", query_string={"lat": 21}), 422)
    assert_error(
        client.get(f"{API}/nearby", query_string={"lat": 21, "lon": 106, "radius_m": 60_000}), 422
    )


def test_the_map_shows_open_offers_at_their_blurred_point(client, post_offer):
    shown, headers = post_offer()
    closed, _ = post_offer(headers=headers, at=offset(BAC_GIANG, 500))
    client.post(f"{API}/{closed['id']}/close", headers=headers)
    far, _ = post_offer(headers=headers, at=LUC_NAM)
    response = client.get(f"{API}/map", query_string={"bbox": "106.1,21.2,106.3,21.35"})
    items = response.get_json()["items"]
    assert [item["id"] for item in items] == [shown["id"]]
    assert items[0]["location"] == shown["location"]
    assert not PRIVATE & set(items[0]) and "description" not in items[0]
    assert far["id"] in map_ids(client, "106.3,21.2,106.5,21.4")
    # The box is matched against the public point: a box around the exact point only
    # (10 m each way) does not find it.
    lat, lon = BAC_GIANG
    assert shown["id"] not in map_ids(
        client, f"{lon - 0.0001},{lat - 0.0001},{lon + 0.0001},{lat + 0.0001}"
    )
    public = shown["location"]
    assert shown["id"] in map_ids(
        client,
        f"{public['lon'] - 0.0001},{public['lat'] - 0.0001},"
        f"{public['lon'] + 0.0001},{public['lat'] + 0.0001}",
    )
    assert_error(client.get(f"{API}/map", query_string={"bbox": "100,10,110,20"}), 422)


# -- privacy ---------------------------------------------------------------------------------


def test_no_name_phone_address_or_exact_point_reaches_the_public(
    client, create_user, create_volunteer
):
    """Anyone but the offerer and coordinators sees public fields only, on every offer
    operation; the public point is 150-400 m off and the same on every view."""
    people, offers = [], []
    for i, at in enumerate([(21.2812345, 106.2034567), (21.2654321, 106.1812345)]):
        tag = ("Qzvkt", "Wxjpr")[i]
        # Fixed phones: a public point depends on the phone, and these keep every public
        # number clear of the exact ones (so any match is a leak, not a coincidence).
        phone = f"+8496000000{i}"
        _, headers = create_user(name=f"Người {tag}")
        body = client.post(
            API,
            headers=headers,
            json=offer_payload(
                at=at, contact_name=f"Lò Văn Xuyến {tag}", phone=phone, address=f"Số 77 Ngõ {tag}"
            ),
        ).get_json()
        people.append(
            Personal(
                body["id"],
                f"Lò Văn Xuyến {tag}",
                phone,
                f"Số 77 Ngõ {tag}",
                at,
                {"name": tag, "address": tag},
            )
        )
        offers.append((body, headers))
    stranger = create_volunteer()
    for caller in ({}, stranger):
        responses = [client.get(f"{API}/{body['id']}", headers=caller) for body, _ in offers]
        responses += [
            client.get(
                f"{API}/nearby",
                headers=caller,
                query_string={"lat": at[0], "lon": at[1], "radius_m": radius},
            )
            for at in [p.point for p in people]
            for radius in (1, 500, 50_000)
        ]
        responses.append(
            client.get(
                f"{API}/map", headers=caller, query_string={"bbox": "106.1,21.2,106.3,21.35"}
            )
        )
        responses += [
            client.patch(f"{API}/{body['id']}", headers=caller, json={"title": "x"})
            for body, _ in offers
        ]
        responses += [
            client.post(f"{API}/{body['id']}/close", headers=caller) for body, _ in offers
        ]
        responses += [
            client.post(
                f"{API}/{body['id']}/ask",
                headers=caller,
                json=request_payload(phone=f"+849600001{n}"),
            )
            for n, (body, _) in enumerate(offers)
        ]
        for response in responses:
            assert response.status_code < 500
            leaks = find_leaks(
                response.get_data(as_text=True), people, response.get_json(silent=True)
            )
            assert not leaks, (response.request.path, leaks)
        for body, _ in offers:
            view = client.get(f"{API}/{body['id']}", headers=caller).get_json()
            assert not PRIVATE & set(view), view
    for (body, headers), person in zip(offers, people):
        views = [
            client.get(f"{API}/{body['id']}").get_json()["location"],
            client.get(f"{API}/{body['id']}", headers=headers).get_json()["location"],
            body["location"],
        ]
        views += [
            item["location"]
            for item in nearby(client, at=person.point, radius_m=1000)
            if item["id"] == body["id"]
        ]
        assert len(views) == 4 and all(view == views[0] for view in views), views
        distance = haversine_m(*person.point, views[0]["lat"], views[0]["lon"])
        assert 150 - 1 <= distance <= 400 + 1, distance
        mine = client.get(f"{API}/{body['id']}", headers=headers).get_json()
        assert mine["phone"] == person.phone and mine["address"] == person.address


def test_coordinators_of_its_area_see_the_contact_others_do_not(client, post_offer, create_staff):
    offer, _ = post_offer()  # in province 24 and district 24-213, not in 24-220
    own, elsewhere = create_staff(areas=("24",)), create_staff(areas=("24-220",))
    admin = create_staff("admin", areas=())
    assert "phone" in client.get(f"{API}/{offer['id']}", headers=own).get_json()
    assert "phone" in client.get(f"{API}/{offer['id']}", headers=admin).get_json()
    assert "phone" not in client.get(f"{API}/{offer['id']}", headers=elsewhere).get_json()
    assert_error(client.post(f"{API}/{offer['id']}/close", headers=elsewhere), 403, "not_offerer")
    assert client.post(f"{API}/{offer['id']}/close", headers=own).get_json()["status"] == "closed"


# -- expiry, editing, closing ---------------------------------------------------------------


def test_an_offer_expires_at_available_until(app, client, post_offer, clock):
    until = clock() + timedelta(hours=5)
    offer, headers = post_offer(available_until=until.isoformat())
    assert [i["id"] for i in nearby(client)] == [offer["id"]]
    clock.set(until - timedelta(seconds=1))
    assert client.get(f"{API}/{offer['id']}").get_json()["status"] == "open"
    assert offer["id"] in map_ids(client)
    clock.set(until)
    assert client.get(f"{API}/{offer['id']}").get_json()["status"] == "expired"
    assert nearby(client) == [] and map_ids(client) == []
    assert_error(
        client.post(f"{API}/{offer['id']}/ask", json=request_payload()), 409, "offer_closed"
    )
    assert_error(
        client.patch(f"{API}/{offer['id']}", headers=headers, json={"title": "Mới"}),
        409,
        "offer_closed",
    )
    assert_error(client.post(f"{API}/{offer['id']}/close", headers=headers), 409, "offer_closed")
    from connect.extensions import db
    from connect.offers.models import Offer

    # The cron command persists it, once.
    assert "offers expired: 1" in app.test_cli_runner().invoke(args=["connect", "expire"]).output
    assert "offers expired: 0" in app.test_cli_runner().invoke(args=["connect", "expire"]).output
    with app.app_context():
        stored = db.session.get(Offer, offer["id"])
        assert (stored.status, stored.closed_at) == ("expired", until)
        db.session.remove()


def test_the_offerer_edits_an_open_offer(client, post_offer, create_user):
    offer, headers = post_offer()
    moved = offset(BAC_GIANG, 1500, 1500)
    response = client.patch(
        f"{API}/{offer['id']}",
        headers=headers,
        json={
            "quantity": "20 kg",
            "categories": ["supplies", "food"],
            "location": {"lat": moved[0], "lon": moved[1]},
            "address": "",
        },
    )
    body = response.get_json()
    assert response.status_code == 200, body
    assert body["quantity"] == "20 kg" and body["categories"] == ["food", "supplies"]
    assert body["address"] is None and body["exact_location"] == {"lat": moved[0], "lon": moved[1]}
    assert body["location"] != offer["location"]
    assert (
        150 - 1 <= haversine_m(*moved, body["location"]["lat"], body["location"]["lon"]) <= 400 + 1
    )
    assert_error(client.patch(f"{API}/{offer['id']}", headers=headers, json={}), 422)
    assert_error(client.patch(f"{API}/{offer['id']}", json={"title": "x"}), 401)
    assert_error(
        client.patch(f"{API}/{offer['id']}", headers=create_user()[1], json={"title": "x"}),
        403,
        "not_offerer",
    )
    assert_error(client.patch(f"{API}/999999", headers=headers, json={"title": "x"}), 404)


def test_closing_takes_the_offer_off_the_lists(client, post_offer, create_user):
    offer, headers = post_offer()
    assert_error(client.post(f"{API}/{offer['id']}/close"), 401)
    assert_error(client.post(f"{API}/{offer['id']}/close", headers=create_user()[1]), 403)
    body = client.post(
        f"{API}/{offer['id']}/close", headers=headers, json={"reason": "hết rau"}
    ).get_json()
    assert body["status"] == "closed" and body["closed_at"]
    assert nearby(client) == [] and map_ids(client) == []
    assert client.get(f"{API}/{offer['id']}").get_json()["status"] == "closed"
    assert_error(client.post(f"{API}/{offer['id']}/close", headers=headers), 409, "offer_closed")
    assert_error(
        client.post(f"{API}/{offer['id']}/ask", json=request_payload()), 409, "offer_closed"
    )


# -- asking an offer -------------------------------------------------------------------------


def test_asking_creates_a_request_matched_to_the_offerer(
    app, client, post_offer, clock, create_volunteer
):
    offer, offerer = post_offer()
    bystander = create_volunteer()  # on duty nearby: not told of a request already taken
    bystander_id = client.get("/api/v1/auth/me", headers=bystander).get_json()["id"]
    payload = request_payload(at=offset(BAC_GIANG, 800))
    response = client.post(f"{API}/{offer['id']}/ask", json=payload)
    body = response.get_json()
    assert response.status_code == 201, body
    assert body["status"] == "claimed" and body["manage_token"]
    assert body["phone"] == payload["phone"] and body["claimed_by"] == offer["offered_by"]
    lease = clock() + timedelta(seconds=app.config["CLAIM_LEASE_SECONDS"])
    assert body["lease_expires_at"] == lease.isoformat() + "Z"
    # The offerer (no volunteer profile needed) holds the claim and sees the contact.
    seen = client.get(f"{REQUESTS}/{body['id']}", headers=offerer).get_json()
    assert seen["phone"] == payload["phone"] and seen["status"] == "claimed"
    # The manage token works as for any request; it is not in the open list.
    mine = client.get(
        f"{REQUESTS}/{body['id']}", headers={"X-Manage-Token": body["manage_token"]}
    ).get_json()
    assert mine["phone"] == payload["phone"]
    assert body["id"] not in [
        i["id"]
        for i in client.get(
            f"{REQUESTS}/nearby",
            query_string={"lat": BAC_GIANG[0], "lon": BAC_GIANG[1], "radius_m": 5000},
        ).get_json()["items"]
    ]

    from connect.extensions import db
    from connect.notifications.models import Notification
    from connect.requests.models import Assist, HelpRequest, RequestEvent

    with app.app_context():
        request_row = db.session.get(HelpRequest, body["id"])
        assert request_row.offer_id == offer["id"]
        events = (
            db.session.execute(
                select(RequestEvent)
                .where(RequestEvent.request_id == body["id"])
                .order_by(RequestEvent.id)
            )
            .scalars()
            .all()
        )
        assert [(e.from_status, e.to_status, e.actor_kind) for e in events] == [
            (None, "open", "requester"),
            ("open", "claimed", "requester"),
        ]
        assert events[1].reason == f"asked offer {offer['id']}"
        assist = db.session.get(Assist, events[1].assist_id)
        assert assist.volunteer_id == offer["offered_by"] and assist.outcome is None
        notes = (
            db.session.execute(
                select(Notification).where(Notification.user_id == offer["offered_by"])
            )
            .scalars()
            .all()
        )
        assert [(n.kind, n.request_id) for n in notes] == [("assigned", body["id"])]
        assert notes[0].payload["offer_id"] == offer["id"]
        assert not {"contact_name", "phone", "address"} & set(notes[0].payload)
        assert payload["phone"] not in str(notes[0].payload)
        assert (
            db.session.execute(
                select(Notification).where(Notification.user_id == bystander_id)
            ).first()
            is None
        )
    # (A request posted as usual there is pushed to them: the silence above is the ask's.)
    client.post(REQUESTS, json=request_payload(at=offset(BAC_GIANG, 900)))
    with app.app_context():
        assert db.session.execute(
            select(Notification.kind).where(Notification.user_id == bystander_id)
        ).scalars().all() == ["new_request"]
    # The offerer helps as with any claim.
    helped = client.post(f"{REQUESTS}/{body['id']}/helped", headers=offerer)
    assert helped.status_code == 200 and helped.get_json()["status"] == "helped"


def test_an_offerers_capacity_does_not_block_asks(client, create_volunteer, post_request):
    """A new volunteer holds one claim at a time, but people asking their offer are not
    turned away: what an offer can give is the offerer's business."""
    helper = create_volunteer(capacity=1)
    first = post_request()
    assert client.post(f"{REQUESTS}/{first['id']}/claim", headers=helper).status_code == 200
    offer = client.post(API, headers=helper, json=offer_payload()).get_json()
    for _ in range(3):
        response = client.post(f"{API}/{offer['id']}/ask", json=request_payload())
        assert response.status_code == 201, response.get_json()
    assert client.get("/api/v1/volunteers/me", headers=helper).get_json()["active_claims"] == 4


def test_asking_follows_the_request_rules(client, post_offer, post_request, create_user):
    offer, offerer = post_offer()
    assert_error(
        client.post(f"{API}/{offer['id']}/ask", headers=offerer, json=request_payload()),
        403,
        "own_offer",
    )
    assert_error(client.post(f"{API}/999999/ask", json=request_payload()), 404)
    error = assert_error(
        client.post(f"{API}/{offer['id']}/ask", json=request_payload(household_size=0)), 422
    )
    assert "household_size" in error["details"]["fields"]
    # One open request per phone, as when posting: the other request is not named.
    existing = post_request()
    error = assert_error(
        client.post(f"{API}/{offer['id']}/ask", json=request_payload(phone=existing["phone"])),
        409,
        "duplicate_request",
    )
    assert "request_id" not in error["details"]
    error = assert_error(
        client.post(
            f"{API}/{offer['id']}/ask",
            json=request_payload(phone=existing["phone"]),
            headers={"X-Manage-Token": existing["manage_token"]},
        ),
        409,
        "duplicate_request",
    )
    assert error["details"]["request_id"] == existing["id"]
    # Signed in, the request belongs to the account.
    _, resident = create_user()
    body = client.post(
        f"{API}/{offer['id']}/ask", headers=resident, json=request_payload()
    ).get_json()
    assert client.get(f"{REQUESTS}/{body['id']}", headers=resident).get_json()["phone"]


# -- Báo xấu -------------------------------------------------------------------------------


def test_reports_hide_an_offer_at_the_threshold(app, client, post_offer, create_user):
    offer, offerer = post_offer()
    url = f"{API}/{offer['id']}"
    assert_error(client.post(f"{url}/report", json={"reason": "scam"}), 401)
    assert_error(
        client.post(f"{url}/report", headers=offerer, json={"reason": "scam"}), 403, "own_subject"
    )
    reporters = [create_user()[1] for _ in range(app.config["REPORT_HIDE_THRESHOLD"])]
    first = client.post(
        f"{url}/report",
        headers=reporters[0],
        json={"reason": "advertising", "comment": "Quảng cáo"},
    )
    assert first.status_code == 201, first.get_json()
    assert first.get_json()["subject_type"] == "offer"
    assert_error(
        client.post(f"{url}/report", headers=reporters[0], json={"reason": "scam"}),
        409,
        "already_reported",
    )
    assert_error(client.post(f"{url}/report", headers=reporters[1], json={"reason": "nope"}), 422)
    assert client.get(url).get_json()["status"] == "open"
    for headers in reporters[1:]:
        assert (
            client.post(f"{url}/report", headers=headers, json={"reason": "scam"}).status_code
            == 201
        )
    assert nearby(client) == [] and map_ids(client) == []
    assert_error(client.get(url), 404)
    assert_error(client.get(url, headers=reporters[0]), 404)
    assert client.get(url, headers=offerer).get_json()["status"] == "hidden"
    assert_error(client.post(f"{url}/ask", json=request_payload()), 404)
    assert_error(
        client.post(f"{url}/report", headers=create_user()[1], json={"reason": "scam"}), 404
    )


def test_a_closed_offer_cannot_be_reported(client, post_offer, create_user):
    offer, offerer = post_offer()
    client.post(f"{API}/{offer['id']}/close", headers=offerer)
    assert_error(
        client.post(
            f"{API}/{offer['id']}/report", headers=create_user()[1], json={"reason": "scam"}
        ),
        409,
        "offer_closed",
    )


# -- rate limits and documentation -------------------------------------------------------------


def test_posting_offers_is_limited_per_account(database_url):
    from connect.extensions import db

    app = make_app(database_url, RATELIMIT_ENABLED=True, RATELIMIT_OFFERS_PER_ACCOUNT="2 per day")
    client = app.test_client()
    try:
        tokens = []
        for _ in range(2):
            phone = new_phone()
            client.post(
                "/api/v1/auth/register",
                json={"phone": phone, "password": "mat-khau-1", "name": "Người Bán"},
            )
            token = client.post(
                "/api/v1/auth/token", json={"phone": phone, "password": "mat-khau-1"}
            )
            tokens.append({"Authorization": f"Bearer {token.get_json()['token']}"})
        # A refused post is not counted.
        assert client.post(API, headers=tokens[0], json=offer_payload(title="")).status_code == 422
        for _ in range(2):
            assert client.post(API, headers=tokens[0], json=offer_payload()).status_code == 201
        error = assert_error(
            client.post(API, headers=tokens[0], json=offer_payload()), 429, "rate_limited"
        )
        assert error["details"]["retry_after"] >= 1
        assert client.post(API, headers=tokens[1], json=offer_payload()).status_code == 201
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


def test_asking_counts_against_the_request_posting_limits(database_url):
    from connect.extensions import db

    app = make_app(database_url, RATELIMIT_ENABLED=True, RATELIMIT_POST_PER_PHONE="2 per day")
    client = app.test_client()
    try:
        phone = new_phone()
        offerer_phone = new_phone()
        client.post(
            "/api/v1/auth/register",
            json={"phone": offerer_phone, "password": "mat-khau-1", "name": "Bán"},
        )
        token = client.post(
            "/api/v1/auth/token", json={"phone": offerer_phone, "password": "mat-khau-1"}
        )
        headers = {"Authorization": f"Bearer {token.get_json()['token']}"}
        offer = client.post(API, headers=headers, json=offer_payload()).get_json()
        posted = client.post(REQUESTS, json=request_payload(phone=phone)).get_json()
        client.post(
            f"{REQUESTS}/{posted['id']}/cancel", headers={"X-Manage-Token": posted["manage_token"]}
        )
        assert (
            client.post(f"{API}/{offer['id']}/ask", json=request_payload(phone=phone)).status_code
            == 201
        )
        assert_error(
            client.post(f"{API}/{offer['id']}/ask", json=request_payload(phone=phone)),
            429,
            "rate_limited",
        )
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


def test_every_offer_operation_is_documented(client):
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    assert set(paths[API]) >= {"post"}
    assert set(paths[f"{API}/nearby"]) >= {"get"} and set(paths[f"{API}/map"]) >= {"get"}
    assert set(paths[API + "/{offer_id}"]) >= {"get", "patch"}
    for action in ("close", "ask", "report"):
        assert "post" in paths[API + "/{offer_id}/" + action]
