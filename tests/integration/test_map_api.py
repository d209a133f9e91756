"""GET /api/v1/requests/map: public dots for a map, on both databases.

Open needs, and those helped or confirmed in the last 7 days, whose blurred point lies in
the box; validated boxes and limits; nothing private, never the exact point.
"""

import re
from datetime import timedelta

import pytest

from connect.geo import haversine_m

from conftest import BAC_GIANG, request_payload

API = "/api/v1/requests"
MAP = f"{API}/map"
ITEM_KEYS = {
    "id",
    "status",
    "categories",
    "urgency",
    "location",
    "location_precision",
    "created_at",
}
AROUND = "106.10,21.20,106.30,21.35"  # a box around Bac Giang city
LEASE = timedelta(hours=4)
EXPIRY = timedelta(hours=72)


def dots(client, bbox=AROUND, **params):
    response = client.get(MAP, query_string={"bbox": bbox, **params})
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    assert response.mimetype == "application/json"
    return response.get_json()["items"]


def statuses(client, **params):
    return {item["id"]: item["status"] for item in dots(client, **params)}


def act(client, posted, action, headers):
    response = client.post(f"{API}/{posted['id']}/{action}", headers=headers)
    assert response.status_code == 200, response.get_json()
    return response


def manage(posted):
    return {"X-Manage-Token": posted["manage_token"]}


def box_around(point, half_deg):
    lat, lon = point
    return f"{lon - half_deg},{lat - half_deg},{lon + half_deg},{lat + half_deg}"


def assert_validation_error(response, field="bbox"):
    assert response.status_code == 422, response.get_data(as_text=True)[:300]
    error = response.get_json()["error"]
    assert error["code"] == "validation_error"
    assert set(error) == {"code", "message", "details"}
    assert field in error["details"]["fields"], error


# -- what is shown ------------------------------------------------------------------------


def test_open_helped_and_confirmed_requests_are_dots_claimed_and_cancelled_are_not(
    client, post_request, create_volunteer
):
    """Open ones are orange-to-be, helped and confirmed green-to-be; the rest stay off the map."""
    opened, claimed, helped, confirmed, cancelled = (post_request() for _ in range(5))
    volunteer = create_volunteer()
    # Helped first: until then a new volunteer holds one claim at a time.
    act(client, helped, "claim", volunteer)
    act(client, helped, "helped", volunteer)
    for posted in (claimed, confirmed):
        act(client, posted, "claim", volunteer)
    act(client, confirmed, "helped", volunteer)
    act(client, confirmed, "confirm", manage(confirmed))
    act(client, cancelled, "cancel", manage(cancelled))
    assert statuses(client) == {
        opened["id"]: "open",
        helped["id"]: "helped",
        confirmed["id"]: "confirmed",
    }


def test_items_carry_only_public_fields(client, post_request):
    """Each dot: id, status, categories, urgency, blurred location, created_at."""
    posted = post_request(categories=["medicine", "food"], urgency="urgent")
    (item,) = dots(client)
    assert set(item) == ITEM_KEYS
    assert item["id"] == posted["id"]
    assert item["categories"] == ["food", "medicine"]
    assert item["urgency"] == "urgent"
    assert item["location"] == posted["location"]  # the same blurred point as everywhere
    assert item["created_at"] == posted["created_at"]


def test_a_lapsed_claim_is_an_open_dot_again(client, post_request, create_volunteer, clock):
    """A claim whose lease ended reads as open, as everywhere else."""
    posted = post_request()
    act(client, posted, "claim", create_volunteer())
    assert statuses(client) == {}
    clock.advance(hours=4, seconds=1)
    assert statuses(client) == {posted["id"]: "open"}


def test_helped_dots_stay_for_7_days_and_expired_requests_leave(
    client, post_request, create_volunteer, clock
):
    """Green for a week after helping; an open request gone quiet for 72 h is not a dot."""
    helped, quiet = post_request(), post_request()
    volunteer = create_volunteer()
    act(client, helped, "claim", volunteer)
    act(client, helped, "helped", volunteer)
    clock.advance(hours=71)
    assert statuses(client) == {helped["id"]: "helped", quiet["id"]: "open"}
    clock.advance(hours=2)
    assert statuses(client) == {helped["id"]: "helped"}
    clock.advance(hours=7 * 24 - 73, minutes=-1)  # 7 days less a minute after helping
    assert statuses(client) == {helped["id"]: "helped"}
    clock.advance(minutes=2)
    assert statuses(client) == {}


# -- the box --------------------------------------------------------------------------------


def test_only_dots_inside_the_box(client, post_request):
    """A box holds the requests whose blurred point is inside it, and no others."""
    here = post_request(at=BAC_GIANG)
    there = post_request(at=(21.2050, 106.2420))  # Yen Dung, ~9 km away
    far = post_request(at=(21.0285, 105.8542))  # Hanoi
    assert set(statuses(client)) == {here["id"], there["id"]}
    assert set(statuses(client, bbox=box_around(BAC_GIANG, 0.02))) == {here["id"]}
    assert set(statuses(client, bbox=box_around((21.0285, 105.8542), 0.02))) == {far["id"]}
    assert set(statuses(client, bbox="105.0,20.0,106.0,21.0")) == set()
    assert set(statuses(client, bbox="105.0,20.5,107.0,22.5")) == {
        here["id"],
        there["id"],
        far["id"],
    }


def test_the_box_is_matched_against_the_blurred_point_never_the_exact_one(client, post_request):
    """A tight box on the exact point finds nothing; one on the public point finds it."""
    posted = post_request(at=BAC_GIANG)
    public = (posted["location"]["lat"], posted["location"]["lon"])
    # The blur moves the point 150-400 m: a box of +-0.001 deg (~110 m) misses it.
    assert statuses(client, bbox=box_around(BAC_GIANG, 0.001)) == {}
    assert set(statuses(client, bbox=box_around(public, 0.0005))) == {posted["id"]}


def test_limit_caps_the_dots_open_first_then_newest(client, post_request, create_volunteer):
    """With more dots than the limit, the open ones are kept first, newest first."""
    helped = post_request()
    volunteer = create_volunteer()
    act(client, helped, "claim", volunteer)
    act(client, helped, "helped", volunteer)
    older, newer = post_request(), post_request()
    assert [i["id"] for i in dots(client, limit=2)] == [newer["id"], older["id"]]
    assert len(dots(client, limit=1)) == 1
    assert len(dots(client, limit=2000)) == 3


# -- validation -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "bbox",
    [
        "",
        "106.1,21.2,106.3",
        "106.1,21.2,106.3,21.3,1",
        "a,b,c,d",
        "106.1;21.2;106.3;21.3",
        "nan,21.2,106.3,21.3",
        "106.1,21.2,inf,21.3",
        "106.1,-inf,106.3,21.3",
        "-181,21.2,-179.5,21.3",
        "179.5,21.2,181,21.3",
        "106.1,-91,106.3,-90.5",
        "106.1,89.5,106.3,91",
        "106.3,21.2,106.1,21.3",
        "106.1,21.3,106.3,21.2",
        "106.1,21.2,106.1,21.3",
        "104.0,21.0,106.5,21.3",
        "106.0,19.0,106.3,21.5",
        "1e400,21.2,106.3,21.3",
    ],
)
def test_bad_boxes_are_422_in_the_envelope(client, bbox):
    """Four finite numbers in range, each min below its max, at most 2 degrees each way."""
    assert_validation_error(client.get(MAP, query_string={"bbox": bbox}))


def test_a_box_is_required(client):
    assert_validation_error(client.get(MAP))


@pytest.mark.parametrize("limit", ["0", "-1", "2001", "ten", "1.5"])
def test_bad_limits_are_422(client, limit):
    assert_validation_error(
        client.get(MAP, query_string={"bbox": AROUND, "limit": limit}), "limit"
    )


def test_a_box_of_exactly_2_degrees_is_accepted(client, post_request):
    posted = post_request()
    assert set(statuses(client, bbox="105.2,20.3,107.2,22.3")) == {posted["id"]}


# -- privacy ----------------------------------------------------------------------------------


def test_no_phone_name_address_or_exact_point_in_the_answer(client, create_volunteer):
    """Open and helped requests alike: the body holds none of the requester's details."""
    exact = (21.2812345, 106.2034567)
    payload = request_payload(
        at=exact, contact_name="Trịnh Thị Qzvk", address="Số 77 Ngõ Qzvk, Phường Đông Sơn"
    )
    opened = client.post(API, json=payload).get_json()
    helped_payload = request_payload(
        at=(21.2654321, 106.1812345), contact_name="Lê Văn Wxjp", address="Số 5 Ngõ Wxjp"
    )
    helped = client.post(API, json=helped_payload).get_json()
    volunteer = create_volunteer()
    act(client, helped, "claim", volunteer)
    act(client, helped, "helped", volunteer)
    for headers in ({}, volunteer):
        for bbox in (AROUND, box_around(exact, 0.01)):
            response = client.get(MAP, query_string={"bbox": bbox}, headers=headers)
            text = response.get_data(as_text=True)
            items = response.get_json()["items"]
            assert {i["id"] for i in items} >= (
                {opened["id"]} if bbox != AROUND else {opened["id"], helped["id"]}
            )
            for secret in (
                payload["phone"],
                payload["phone"][3:],
                "Qzvk",
                "Wxjp",
                helped_payload["phone"][3:],
            ):
                assert secret not in text
            # The public points are 150-400 m off; one may share a latitude or longitude
            # with its exact point by chance, so only the other numbers are checked.
            blurred = set()
            for item in items:
                point = (item["location"]["lat"], item["location"]["lon"])
                for posted_at in (exact, (21.2654321, 106.1812345)):
                    assert haversine_m(*point, *posted_at) > 149
                blurred.update(point)
            for token in re.findall(r"-?\d+\.\d+", text):
                if float(token) in blurred:
                    continue
                decimals = len(token.split(".")[1])
                for posted_at in (exact, (21.2654321, 106.1812345)):
                    for coordinate in posted_at:
                        assert abs(float(token) - coordinate) >= 10 ** -min(decimals, 4), token


def test_the_operation_is_documented(client):
    """It is in the OpenAPI document, with its query parameters."""
    spec = client.get("/api/v1/openapi.json").get_json()
    operation = spec["paths"][MAP]["get"]
    names = {p["name"] for p in operation["parameters"]}
    assert {"bbox", "limit"} <= names
