"""Public points as stored: one per house, clear of other homes, and maps that never centre on
an exact point for anyone but the requester, the claimant and coordinators."""

import math
import re

import pytest

from connect.geo import EARTH_RADIUS_M, blur_candidates, haversine_m
from connect.geo.blur import blur_cell, cell_centre

from conftest import BAC_GIANG, new_phone, request_payload

API = "/api/v1/requests"
CLEARANCE_M = 50.0
CSRF = re.compile(
    r'name="csrf_token" type="hidden" value="([^"]+)"'
    r'|name="csrf_token" value="([^"]+)"'
)


def shifted(point, north_m=0.0, east_m=0.0):
    lat, lon = point
    return (
        lat + math.degrees(north_m / EARTH_RADIUS_M),
        lon + math.degrees(east_m / (EARTH_RADIUS_M * math.cos(math.radians(lat)))),
    )


def candidates(app, point, phone):
    return blur_candidates(*point, app.config["BLUR_SECRET"].encode(), household=phone.encode())


def stored(app, request_id):
    """(exact, public) as stored, full precision."""
    from connect.extensions import db
    from connect.requests.models import HelpRequest
    from connect.spatial import latlon

    with app.app_context():
        try:
            r = db.session.get(HelpRequest, request_id)
            return latlon(r.location), latlon(r.public_location)
        finally:
            db.session.remove()


def post_at(client, point, phone=None, **overrides):
    response = client.post(
        API, json=request_payload(at=point, phone=phone or new_phone(), **overrides)
    )
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def house_in_cell_middle(point=BAC_GIANG):
    """The centre of point's grid cell: pins a few metres around it share the cell."""
    return cell_centre(blur_cell(*point))


# -- one house, several requests ------------------------------------------------------------


def test_a_household_posting_again_from_home_gets_the_same_public_point(app, client):
    """Pins 5 m apart, one phone, one request after another: one point, nothing to average."""
    house = house_in_cell_middle()
    phone = new_phone()
    publics = []
    for pin in (
        shifted(house, north_m=2.5),
        shifted(house, north_m=-2.5),
        shifted(house, east_m=5.0),
    ):
        posted = post_at(client, pin, phone=phone)
        publics.append(stored(app, posted["id"])[1])
        assert 150 <= haversine_m(*pin, *publics[-1]) <= 400
        cancel = client.post(
            f"{API}/{posted['id']}/cancel",
            headers={"X-Manage-Token": posted["manage_token"]},
            json={},
        )
        assert cancel.status_code == 200
    assert publics[0] == publics[1] == publics[2]
    # It is the cell's first candidate for this phone: nothing else is near.
    assert publics[0] == pytest.approx(candidates(app, house, phone)[0], abs=1e-9)


def test_equal_public_points_do_not_tell_a_stranger_they_are_in_the_same_cell(app, client):
    """Someone moving their own pin around cannot find a house by matching its public point."""
    house = house_in_cell_middle(shifted(BAC_GIANG, north_m=900))
    victim, stranger = post_at(client, house), post_at(client, shifted(house, east_m=3))
    victim_public, stranger_public = stored(app, victim["id"])[1], stored(app, stranger["id"])[1]
    assert haversine_m(*victim_public, *stranger_public) > 1
    for posted, public in ((victim, victim_public), (stranger, stranger_public)):
        assert 150 <= haversine_m(*stored(app, posted["id"])[0], *public) <= 400


# -- never onto another home ----------------------------------------------------------------


def first_clear(cands, homes):
    for candidate in cands:
        if all(haversine_m(*candidate, *home) >= CLEARANCE_M for home in homes):
            return candidate
    return None


def test_a_public_point_never_lands_on_another_request_s_exact_point(app, client):
    """The first candidate is 10 m from a neighbour's home: the next clear one is taken."""
    house = house_in_cell_middle()
    phone = new_phone()
    cands = candidates(app, house, phone)
    neighbour = shifted(cands[0], north_m=10)
    post_at(client, neighbour)
    posted = post_at(client, house, phone=phone)
    exact, public = stored(app, posted["id"])
    assert haversine_m(*public, *cands[0]) > 1
    assert public == pytest.approx(first_clear(cands, [neighbour]), abs=1e-9)
    assert haversine_m(*public, *neighbour) >= CLEARANCE_M
    assert 150 <= haversine_m(*exact, *public) <= 400


def test_when_no_candidate_is_clear_the_one_with_most_room_is_taken(app, client):
    """A neighbour 10-40 m from each of the 16 candidates: the one with most room wins."""
    house = house_in_cell_middle()
    phone = new_phone()
    cands = candidates(app, house, phone)
    homes = [shifted(candidate, north_m=10 + 2 * k) for k, candidate in enumerate(cands)]
    for home in homes:
        post_at(client, home)
    posted = post_at(client, house, phone=phone)
    exact, public = stored(app, posted["id"])
    rooms = [min(haversine_m(*c, *home) for home in homes) for c in cands]
    assert max(rooms) < CLEARANCE_M  # the case this test is about
    assert public == pytest.approx(cands[rooms.index(max(rooms))], abs=1e-9)
    assert 150 <= haversine_m(*exact, *public) <= 400


def test_moving_a_pin_keeps_clear_of_others_but_not_of_its_own_old_point(app, client):
    house = house_in_cell_middle(shifted(BAC_GIANG, east_m=1500))
    phone = new_phone()
    cands = candidates(app, house, phone)
    # Posted right where the new place's first candidate is: its own old point must not
    # push its new public point away.
    mover = post_at(client, shifted(cands[0], north_m=3), phone=phone)
    response = client.patch(
        f"{API}/{mover['id']}",
        headers={"X-Manage-Token": mover["manage_token"]},
        json={"location": {"lat": house[0], "lon": house[1]}},
    )
    assert response.status_code == 200, response.get_json()
    assert stored(app, mover["id"]) == (pytest.approx(house), pytest.approx(cands[0], abs=1e-9))
    # Another household moving into the same cell gets its own point, kept clear of the
    # mover's home like any other.
    other = post_at(client, shifted(BAC_GIANG, north_m=-3000))
    client.patch(
        f"{API}/{other['id']}",
        headers={"X-Manage-Token": other["manage_token"]},
        json={"location": {"lat": house[0], "lon": house[1]}},
    )
    exact, public = stored(app, other["id"])
    assert public != stored(app, mover["id"])[1] and 150 <= haversine_m(*exact, *public) <= 400


def test_a_move_into_a_crowded_place_keeps_clear_of_the_neighbours(app, client):
    house = house_in_cell_middle(shifted(BAC_GIANG, north_m=-1500))
    phone = new_phone()
    cands = candidates(app, house, phone)
    neighbour = shifted(cands[0], east_m=-15)
    post_at(client, neighbour)
    mover = post_at(client, BAC_GIANG, phone=phone)
    client.patch(
        f"{API}/{mover['id']}",
        headers={"X-Manage-Token": mover["manage_token"]},
        json={"location": {"lat": house[0], "lon": house[1]}},
    )
    public = stored(app, mover["id"])[1]
    assert public == pytest.approx(first_clear(cands, [neighbour]), abs=1e-9)


# -- maps and pages -------------------------------------------------------------------------

# An exact point with many decimals, to find it printed in any rounding.
EXACT = (21.2812345, 106.2034567)
NUMBER = re.compile(r"-?\d+\.\d{4,}")


def exact_printed(body, point=EXACT):
    """Numbers in body that are the exact point's latitude or longitude, rounded or cut."""
    hits = []
    for token in NUMBER.findall(body):
        decimals = len(token.split(".")[1])
        if any(abs(float(token) - value) < 10**-decimals for value in point):
            hits.append(token)
    return hits


def map_centres(body):
    return [
        tuple(float(x) for x in value.split(","))
        for value in re.findall(r'data-center="([^"]+)"', body)
    ]


def page_login(app, phone, password):
    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    match = CSRF.search(page)
    response = client.post(
        "/login",
        data={
            "phone": phone,
            "password": password,
            "csrf_token": match.group(1) or match.group(2),
        },
    )
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    return client


def volunteer_pages(app, client, at=BAC_GIANG):
    """A volunteer with a profile: (page client logged in, API headers)."""
    phone, password = new_phone(), "mat-khau-1"
    assert (
        client.post(
            "/api/v1/auth/register",
            json={"phone": phone, "password": password, "name": "Phạm Văn Tình"},
        ).status_code
        == 201
    )
    token = client.post("/api/v1/auth/token", json={"phone": phone, "password": password})
    headers = {"Authorization": f"Bearer {token.get_json()['token']}"}
    assert (
        client.put(
            "/api/v1/volunteers/me",
            headers=headers,
            json={
                "location": {"lat": at[0], "lon": at[1]},
                "radius_m": 5000,
                "categories": ["food"],
                "on_duty": True,
                "capacity": 2,
            },
        ).status_code
        == 200
    )
    return page_login(app, phone, password), headers


def test_maps_centre_on_the_exact_point_only_for_requester_and_claimant(app, client):
    posted = post_at(client, EXACT)
    manage = f"/m/{posted['manage_token']}"
    bystander, _ = volunteer_pages(app, client)
    claimant, claimant_headers = volunteer_pages(app, client)

    def assert_not_centred(page_client, url, who, status=200):
        response = page_client.get(url)
        assert response.status_code == status, (who, url, response.status_code)
        body = response.get_data(as_text=True)
        assert not exact_printed(body), (who, url, exact_printed(body))
        for centre in map_centres(body):
            assert haversine_m(*centre, *EXACT) >= 150, (who, url, centre)

    anonymous = app.test_client()
    for url in ("/", "/need-help", "/volunteer", "/volunteer/map", f"{API}/{posted['id']}"):
        assert_not_centred(anonymous, url, "anonymous")
    for url in ("/volunteer/map", "/volunteer/needs", "/volunteer/profile"):
        assert_not_centred(bystander, url, "volunteer")
    assert_not_centred(bystander, f"/volunteer/claims/{posted['id']}", "volunteer", 403)
    # The needs map shows the request at its public point only.
    dots = client.get(f"{API}/map", query_string={"bbox": "106.1,21.2,106.3,21.4"}).get_json()[
        "items"
    ]
    assert [d["location"] for d in dots if d["id"] == posted["id"]] == [posted["location"]]

    # Before and after the claim, the claimant's own pages are like anyone's, but for the
    # claim page itself, which leads to the exact point.
    assert client.post(f"{API}/{posted['id']}/claim", headers=claimant_headers).status_code == 200
    for url in ("/volunteer/map", "/volunteer/needs"):
        assert_not_centred(claimant, url, "claimant")
    claim_page = claimant.get(f"/volunteer/claims/{posted['id']}").get_data(as_text=True)
    assert exact_printed(claim_page)  # geo: link and directions: theirs while the claim holds
    assert_not_centred(bystander, f"/volunteer/claims/{posted['id']}", "volunteer", 403)

    # The requester's own pages: the edit page's picker opens on their pin.
    assert exact_printed(app.test_client().get(f"{manage}/edit").get_data(as_text=True))
    assert_not_centred(app.test_client(), manage, "requester's status page")
