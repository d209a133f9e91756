"""Requests texted in stand at their commune's point: shown as approximate on lists, maps and
volunteer pages, never blurred onto a stranger's house, and queued for a coordinator, who
places each exactly from the console (a click on the map or typed coordinates)."""

import html

import pytest

from conftest import csrf_token, ensure_demo_communes, new_phone, request_payload, text_in

API = "/api/v1/requests"
TAN_MY = (21.235, 106.21)
TIEN_HUNG = (21.245, 106.325)  # the demo commune in Lục Nam (24-220)
PASSWORD = "dieu-phoi-dinh-vi"


@pytest.fixture
def texted(app, client):
    """A request texted in from Tân Mỹ, and an exact one posted on the web near it."""
    ensure_demo_communes(app)
    phone = new_phone()
    assert text_in(client, phone, "GAO 3 NGUOI XA TAN MY").status_code == 200
    exact = client.post(API, json=request_payload(at=(21.2402, 106.2151))).get_json()
    return {"area": request_id_of(app, phone), "exact": exact["id"], "phone": phone}


def request_id_of(app, phone):
    from sqlalchemy import select

    from connect.extensions import db
    from connect.requests.models import HelpRequest

    with app.app_context():
        return db.session.execute(
            select(HelpRequest.id).where(HelpRequest.phone == phone)
        ).scalar_one()


def stored(app, request_id):
    from connect.extensions import db
    from connect.requests.models import HelpRequest
    from connect.spatial import latlon

    with app.app_context():
        r = db.session.get(HelpRequest, request_id)
        return r.location_precision, latlon(r.location), latlon(r.public_location)


def signed_in(app, role="coordinator", areas=("24",)):
    phone = new_phone()
    args = ["connect", "create-user", "--phone", phone, "--name", "Điều phối viên"]
    args += ["--role", role, "--password", PASSWORD]
    args += [a for code in areas for a in ("--area", code)]
    result = app.test_cli_runner().invoke(args=args)
    assert result.exit_code == 0, result.output
    browser = app.test_client()
    token = csrf_token(browser, "/login")
    answer = browser.post(
        "/login", data={"phone": phone, "password": PASSWORD, "next": "", "csrf_token": token}
    )
    assert answer.status_code == 302
    return browser


def page(browser, path):
    response = browser.get(path)
    assert response.status_code == 200, response.status_code
    return html.unescape(response.get_data(as_text=True))


def test_a_texted_request_is_public_at_its_communes_point_and_says_so(app, client, texted):
    body = client.get(f"{API}/{texted['area']}").get_json()
    assert body["location_precision"] == "area"
    assert body["location"] == {"lat": TAN_MY[0], "lon": TAN_MY[1]}
    assert client.get(f"{API}/{texted['exact']}").get_json()["location_precision"] == "exact"
    nearby = client.get(
        f"{API}/nearby", query_string={"lat": TAN_MY[0], "lon": TAN_MY[1], "radius_m": 3000}
    ).get_json()["items"]
    by_id = {item["id"]: item for item in nearby}
    assert by_id[texted["area"]]["location_precision"] == "area"
    assert by_id[texted["area"]]["location"] == {"lat": TAN_MY[0], "lon": TAN_MY[1]}
    assert by_id[texted["exact"]]["location_precision"] == "exact"
    dots = client.get(f"{API}/map", query_string={"bbox": "106.15,21.2,106.25,21.3"}).get_json()
    precision = {item["id"]: item["location_precision"] for item in dots["items"]}
    assert precision == {texted["area"]: "area", texted["exact"]: "exact"}


def test_volunteer_pages_say_approximate_for_it_only(app, client, texted, create_volunteer):
    volunteer = signed_in(app, role="volunteer", areas=())
    token = csrf_token(volunteer, "/volunteer/profile")
    saved = volunteer.post(
        "/volunteer/profile",
        data={
            "csrf_token": token,
            "place": "",
            "lat": str(TAN_MY[0]),
            "lon": str(TAN_MY[1]),
            "radius_m": "5000",
            "categories": ["food"],
            "on_duty": "y",
            "capacity": "2",
        },
    )
    assert saved.status_code == 302, saved.get_data(as_text=True)[:300]
    needs = page(volunteer, "/volunteer/needs?lang=vi")
    area_card = needs.split(f'id="need-{texted["area"]}"')[1].split("</li>")[0]
    exact_card = needs.split(f'id="need-{texted["exact"]}"')[1].split("</li>")[0]
    assert "vị trí gần đúng (xã/phường)" in area_card
    assert "data-approximate" not in exact_card
    assert "data-msg-approximate" in page(volunteer, "/volunteer/map")
    token = csrf_token(volunteer, "/volunteer/needs")
    claimed = volunteer.post(f"/volunteer/claim/{texted['area']}", data={"csrf_token": token})
    assert claimed.status_code == 302
    claim = page(volunteer, f"/volunteer/claims/{texted['area']}?lang=en")
    assert "The place is approximate (commune)" in claim


def test_coordinators_get_the_texted_requests_of_their_areas_to_place(app, client, texted):
    queue = page(signed_in(app), "/console/to-place?lang=en")
    assert f'data-request="{texted["area"]}"' in queue and "Tân Mỹ" in queue
    assert f'data-request="{texted["exact"]}"' not in queue
    elsewhere = page(signed_in(app, areas=("24-220",)), "/console/to-place?lang=en")
    assert "data-none-to-place" in elsewhere


def place(browser, request_id, point):
    token = csrf_token(browser, "/console/intake")  # any console form
    return browser.post(
        f"/console/requests/{request_id}/place", data={"csrf_token": token, "point": point}
    )


def test_placing_exactly_sets_the_point_and_blurs_it_like_any_other(app, client, texted):
    from connect.geo import haversine_m

    coordinator = signed_in(app)
    request_page = page(coordinator, f"/console/requests/{texted['area']}?lang=en")
    assert "data-place-form" in request_page and "approximate (commune)" in request_page
    assert "data-place-form" not in page(coordinator, f"/console/requests/{texted['exact']}")
    answer = place(coordinator, texted["area"], "21.238412, 106.213377")
    assert answer.status_code == 302
    precision, exact, public = stored(app, texted["area"])
    assert precision == "exact" and exact == pytest.approx((21.238412, 106.213377))
    assert 150 <= haversine_m(*exact, *public) <= 400
    assert "data-none-to-place" in page(coordinator, "/console/to-place")
    body = client.get(f"{API}/{texted['area']}").get_json()
    assert body["location_precision"] == "exact"


def test_placing_at_the_communes_own_point_makes_it_exact_too(app, client, texted):
    coordinator = signed_in(app)
    assert place(coordinator, texted["area"], f"{TAN_MY[0]}; {TAN_MY[1]}").status_code == 302
    precision, exact, public = stored(app, texted["area"])
    assert precision == "exact" and exact == pytest.approx(TAN_MY) and public != exact


@pytest.mark.parametrize("point", ["", "somewhere", "21.2", "121.2, 106.2", "21.2, 206.2"])
def test_a_point_that_is_no_point_changes_nothing(app, client, texted, point):
    coordinator = signed_in(app)
    before = stored(app, texted["area"])
    answer = place(coordinator, texted["area"], point)
    assert answer.status_code == 302
    assert stored(app, texted["area"]) == before
    told = page(coordinator, f"/console/requests/{texted['area']}")
    assert "Nhập vị trí dạng vĩ độ, kinh độ" in told


def test_a_coordinator_of_another_area_cannot_place_it(app, client, texted):
    before = stored(app, texted["area"])
    answer = place(signed_in(app, areas=("24-220",)), texted["area"], "21.24, 106.21")
    assert answer.status_code == 404
    assert stored(app, texted["area"]) == before


def test_a_pin_moved_on_the_api_makes_it_exact(app, client, texted, create_staff):
    headers = create_staff(areas=("24",))
    same = client.patch(f"{API}/{texted['area']}", headers=headers, json={"household_size": 5})
    assert same.status_code == 200 and same.get_json()["location_precision"] == "area"
    moved = client.patch(
        f"{API}/{texted['area']}",
        headers=headers,
        json={"location": {"lat": TIEN_HUNG[0], "lon": TIEN_HUNG[1]}},
    )
    assert moved.status_code == 200 and moved.get_json()["location_precision"] == "exact"
