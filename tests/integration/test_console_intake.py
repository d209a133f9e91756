"""Hotline intake: a coordinator posts a request for a caller (source hotline, entered by
them), warned first when the phone has an open request or a look-alike lies within 100 m
from the last 48 hours; only in their areas; never held back by the residents' limits."""

import re
from dataclasses import dataclass

import pytest
from sqlalchemy import select

from conftest import (
    BAC_GIANG,
    LUC_NAM,
    ensure_demo_areas,
    make_app,
    new_phone,
    request_payload,
    text_in,
    texts_to,
)

API = "/api/v1/console/requests"
PAGE = "/console/intake"
PASSWORD = "dieu-phoi-1"
CSRF = re.compile(
    r'name="csrf_token" type="hidden" value="([^"]+)"'
    r'|name="csrf_token" value="([^"]+)"'
)
HANOI = (21.0278, 105.8342)  # in none of the demo areas
METRES_PER_DEGREE_LAT = 111_195


def north(point, metres):
    return (point[0] + metres / METRES_PER_DEGREE_LAT, point[1])


@dataclass
class Staff:
    id: int
    phone: str
    headers: dict


@pytest.fixture
def staff(app, client):
    """staff(role, areas) -> Staff: a coordinator or admin made with the CLI."""

    def make(role="coordinator", areas=("24",)):
        ensure_demo_areas(app)
        phone = new_phone()
        result = app.test_cli_runner().invoke(
            args=[
                "connect",
                "create-user",
                "--phone",
                phone,
                "--name",
                "Tổng đài viên",
                "--role",
                role,
                "--password",
                PASSWORD,
                *[
                    arg
                    for code in (areas if role == "coordinator" else ())
                    for arg in ("--area", code)
                ],
            ]
        )
        assert result.exit_code == 0, result.output
        token = client.post("/api/v1/auth/token", json={"phone": phone, "password": PASSWORD})
        headers = {"Authorization": f"Bearer {token.get_json()['token']}"}
        me = client.get("/api/v1/auth/me", headers=headers).get_json()
        return Staff(me["id"], phone, headers)

    return make


def enter(client, staff, **overrides):
    confirm = overrides.pop("confirm_duplicate", None)
    body = request_payload(**overrides)
    if confirm is not None:
        body["confirm_duplicate"] = confirm
    return client.post(API, headers=staff.headers, json=body)


def stored(app, request_id):
    from connect.extensions import db
    from connect.requests.models import HelpRequest, RequestEvent

    with app.app_context():
        row = db.session.get(HelpRequest, request_id)
        events = (
            db.session.execute(select(RequestEvent).where(RequestEvent.request_id == request_id))
            .scalars()
            .all()
        )
        return (
            {
                "source": row.source,
                "entered_by_id": row.entered_by_id,
                "requester_id": row.requester_id,
                "status": row.status,
            },
            [(e.to_status, e.actor_id, e.actor_kind) for e in events],
        )


def count_requests(app):
    from sqlalchemy import func

    from connect.extensions import db
    from connect.requests.models import HelpRequest

    with app.app_context():
        return db.session.execute(select(func.count(HelpRequest.id))).scalar_one()


# -- the API: what is recorded --------------------------------------------------------------


def test_a_coordinator_posts_for_a_caller_as_hotline_and_is_named_as_who_entered_it(
    app, client, staff
):
    coordinator = staff()
    response = enter(client, coordinator, phone="0912 000 111", contact_name="Bà Hoa")
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["source"] == "hotline"
    assert body["status"] == "open"
    assert body["phone"] == "+84912000111" and body["contact_name"] == "Bà Hoa"
    assert body["exact_location"] == {"lat": BAC_GIANG[0], "lon": BAC_GIANG[1]}
    row, events = stored(app, body["id"])
    assert row == {
        "source": "hotline",
        "entered_by_id": coordinator.id,
        "requester_id": None,
        "status": "open",
    }
    assert events == [("open", coordinator.id, "coordinator")]
    # The caller's manage link works like a resident's own.
    mine = client.get(
        f"/api/v1/requests/{body['id']}", headers={"X-Manage-Token": body["manage_token"]}
    ).get_json()
    assert mine["contact_name"] == "Bà Hoa"
    assert client.get(f"/m/{body['manage_token']}").status_code == 200


def test_an_admin_enters_calls_anywhere_and_the_event_names_an_admin(app, client, staff):
    admin = staff(role="admin")
    response = enter(client, admin, at=HANOI)
    assert response.status_code == 201, response.get_json()
    row, events = stored(app, response.get_json()["id"])
    assert row["entered_by_id"] == admin.id and row["source"] == "hotline"
    assert events == [("open", admin.id, "admin")]


def test_a_resident_post_still_names_the_requester_and_no_one_as_entering_it(app, post_request):
    posted = post_request()
    row, events = stored(app, posted["id"])
    assert row["entered_by_id"] is None and row["source"] == "api"
    assert events == [("open", None, "requester")]


# -- the API: duplicates ----------------------------------------------------------------------


@pytest.mark.parametrize("confirm", [False, True])
def test_a_phone_with_an_open_request_is_refused_and_named_whatever_the_confirmation(
    app, client, staff, post_request, confirm
):
    coordinator = staff()
    existing = post_request(phone="0912 345 678", at=north(BAC_GIANG, 2000))
    before = count_requests(app)
    response = enter(client, coordinator, phone="+84912345678", confirm_duplicate=confirm)
    assert response.status_code == 409
    error = response.get_json()["error"]
    assert error["code"] == "duplicate_request"
    assert error["details"] == {"request_id": existing["id"]}
    assert count_requests(app) == before


def test_a_claimed_request_also_holds_its_phone(
    app, client, staff, post_request, create_volunteer
):
    coordinator = staff()
    existing = post_request(phone="0912 345 679")
    volunteer = create_volunteer()
    assert (
        client.post(f"/api/v1/requests/{existing['id']}/claim", headers=volunteer).status_code
        == 200
    )
    response = enter(client, coordinator, phone="0912345679", at=north(BAC_GIANG, 3000))
    assert response.status_code == 409
    assert response.get_json()["error"]["details"] == {"request_id": existing["id"]}


def test_a_look_alike_within_100_m_warns_and_a_confirmation_posts_it_flagged(
    app, client, staff, post_request
):
    from connect.extensions import db
    from connect.safety.models import RequestFlag

    coordinator = staff()
    existing = post_request(categories=["food", "medicine"])
    response = enter(client, coordinator, categories=["medicine"], at=north(BAC_GIANG, 60))
    assert response.status_code == 409
    error = response.get_json()["error"]
    assert error["code"] == "possible_duplicate"
    [nearby] = error["details"]["nearby"]
    assert nearby["id"] == existing["id"]
    assert nearby["distance_m"] == 60
    assert nearby["categories"] == ["food", "medicine"]
    assert nearby["status"] == "open"
    assert nearby["created_at"] == existing["created_at"]

    confirmed = enter(
        client,
        coordinator,
        categories=["medicine"],
        at=north(BAC_GIANG, 60),
        confirm_duplicate=True,
    )
    assert confirmed.status_code == 201, confirmed.get_json()
    new_id = confirmed.get_json()["id"]
    with app.app_context():
        flags = db.session.execute(
            select(RequestFlag.kind, RequestFlag.related_request_id).where(
                RequestFlag.request_id == new_id
            )
        ).all()
    assert flags == [("possible_duplicate", existing["id"])]


def test_the_warning_lists_nearest_first_and_counts_claimed_ones_but_not_closed_ones(
    app, client, staff, post_request, create_volunteer
):
    coordinator = staff()
    far = post_request(at=north(BAC_GIANG, 90))
    near = post_request(at=north(BAC_GIANG, 30))
    volunteer = create_volunteer()
    assert client.post(f"/api/v1/requests/{far['id']}/claim", headers=volunteer).status_code == 200
    cancelled = post_request(at=north(BAC_GIANG, 10))
    assert (
        client.post(
            f"/api/v1/requests/{cancelled['id']}/cancel",
            headers={"X-Manage-Token": cancelled["manage_token"]},
        ).status_code
        == 200
    )
    response = enter(client, coordinator)
    nearby = response.get_json()["error"]["details"]["nearby"]
    assert [(item["id"], item["status"]) for item in nearby] == [
        (near["id"], "open"),
        (far["id"], "claimed"),
    ]


@pytest.mark.parametrize("case", ["another category", "150 m away", "49 hours old"])
def test_requests_that_do_not_look_alike_post_straight_away(
    app, client, staff, post_request, clock, case
):
    coordinator = staff()
    post_request(categories=["food"])
    at, categories = north(BAC_GIANG, 50), ["food"]
    if case == "another category":
        categories = ["medicine", "other"]
    elif case == "150 m away":
        at = north(BAC_GIANG, 150)
    else:
        clock.advance(hours=49)
    response = enter(client, coordinator, at=at, categories=categories)
    assert response.status_code == 201, response.get_json()


def test_47_hours_is_still_within_the_window(app, client, staff, post_request, clock):
    coordinator = staff()
    post_request()
    clock.advance(hours=47)
    response = enter(client, coordinator, at=north(BAC_GIANG, 50))
    assert response.status_code == 409
    assert response.get_json()["error"]["code"] == "possible_duplicate"


# -- the API: who may -------------------------------------------------------------------------


def test_a_point_outside_the_coordinators_areas_is_refused(app, client, staff):
    luc_nam_coordinator = staff(areas=("24-220",))
    before = count_requests(app)
    response = enter(client, luc_nam_coordinator, at=BAC_GIANG, confirm_duplicate=True)
    assert response.status_code == 403
    assert response.get_json()["error"]["code"] == "outside_your_areas"
    assert count_requests(app) == before
    assert enter(client, luc_nam_coordinator, at=LUC_NAM).status_code == 201
    assert enter(client, staff(), at=HANOI).status_code == 403


def test_only_coordinators_and_admins_may_enter_calls(
    app, client, staff, create_user, create_volunteer
):
    ensure_demo_areas(app)
    anonymous = client.post(API, json=request_payload())
    assert anonymous.status_code == 401
    assert anonymous.get_json()["error"]["code"] == "unauthorized"
    for headers in (create_user()[1], create_volunteer()):
        response = client.post(API, headers=headers, json=request_payload())
        assert response.status_code == 403
        assert response.get_json()["error"]["code"] == "not_coordinator"
    assert count_requests(app) == 0


def test_a_body_that_is_not_a_request_is_a_validation_error(client, staff):
    coordinator = staff()
    response = client.post(
        API,
        headers=coordinator.headers,
        json={**request_payload(), "categories": [], "confirm_duplicate": "maybe"},
    )
    assert response.status_code == 422
    assert set(response.get_json()["error"]["details"]["fields"]) == {
        "categories",
        "confirm_duplicate",
    }


# -- the API: rate limits -------------------------------------------------------------------


@pytest.fixture
def limited_client(database_url):
    from connect.extensions import db

    app = make_app(
        database_url,
        RATELIMIT_ENABLED=True,
        RATELIMIT_POST_PER_IP="1 per hour",
        RATELIMIT_POST_PER_PHONE="1 per day",
        RATELIMIT_INTAKE_PER_ACCOUNT="3 per hour",
    )
    yield app.test_client()
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def test_intake_is_not_held_back_by_the_residents_limits_but_has_its_own(
    client, staff, limited_client
):
    coordinator = staff()
    assert (
        limited_client.post("/api/v1/requests", json=request_payload(at=HANOI)).status_code == 201
    )
    assert (
        limited_client.post("/api/v1/requests", json=request_payload(at=HANOI)).status_code == 429
    )
    for i in range(3):
        body = {**request_payload(at=north(BAC_GIANG, 500 * i))}
        response = limited_client.post(API, headers=coordinator.headers, json=body)
        assert response.status_code == 201, response.get_json()
    refused = limited_client.post(
        API, headers=coordinator.headers, json=request_payload(at=north(BAC_GIANG, 2000))
    )
    assert refused.status_code == 429
    assert refused.get_json()["error"]["code"] == "rate_limited"
    # Another operator has a budget of their own.
    other = staff()
    assert (
        limited_client.post(
            API, headers=other.headers, json=request_payload(at=north(BAC_GIANG, 3000))
        ).status_code
        == 201
    )


def test_the_intake_limit_is_a_setting_from_the_environment(monkeypatch):
    from connect.config import Config

    monkeypatch.setenv("RATELIMIT_INTAKE_PER_ACCOUNT", "50 per minute")
    assert Config("/tmp").RATELIMIT_INTAKE_PER_ACCOUNT == "50 per minute"


# -- the page -------------------------------------------------------------------------------


def csrf_of(page):
    match = CSRF.search(page.get_data(as_text=True))
    return match.group(1) or match.group(2)


@pytest.fixture
def operator(app, staff):
    """A coordinator of area 24 signed in to the pages: (Staff, client)."""
    coordinator = staff()
    client = app.test_client()
    response = client.post(
        "/login",
        data={
            "phone": coordinator.phone,
            "password": PASSWORD,
            "csrf_token": csrf_of(client.get("/login")),
        },
    )
    assert response.status_code == 302
    client.get("/?lang=en")
    return coordinator, client


def call_form(client, at=BAC_GIANG, **overrides):
    lat, lon = at
    form = {
        "phone": new_phone(),
        "contact_name": "Ông Bảy",
        "categories": ["food"],
        "urgency": "urgent",
        "household_size": "3",
        "description": "Cần gạo",
        "address": "Thôn 2",
        "coordinates": "",
        "lat": repr(lat),
        "lon": repr(lon),
        "csrf_token": csrf_of(client.get(PAGE)),
    }
    form.update(overrides)
    return form


def test_the_page_shows_the_form_with_phone_first(operator):
    _, client = operator
    page = client.get(PAGE)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert (
        html.index('name="phone"')
        < html.index('name="contact_name"')
        < html.index('name="categories"')
    )
    assert "data-location-picker" in html and 'name="coordinates"' in html
    assert 'aria-current="page"' in html


def test_the_page_posts_a_call_and_the_caller_is_texted_their_link(app, operator):
    coordinator, client = operator
    response = client.post(PAGE, data=call_form(client, phone="0913 222 333"))
    assert response.status_code == 200, response.get_data(as_text=True)[:2000]
    html = response.get_data(as_text=True)
    assert "/m/" not in html, "nothing to read out: the caller is texted"
    assert "data-caller-texted" in html and "Enter another call" in html
    assert response.headers["Cache-Control"] == "no-store"
    request_id = int(re.search(r'data-intake-done="(\d+)"', html).group(1))
    assert f'href="/console/requests/{request_id}"' in html
    row, events = stored(app, request_id)
    assert row["source"] == "hotline" and row["entered_by_id"] == coordinator.id
    assert events == [("open", coordinator.id, "coordinator")]
    ((kind, status, text),) = texts_to(app, "+84913222333")
    assert (kind, status) == ("posted", "sent")
    short = re.search(r"/s/([A-Z0-9]{12})", text).group(1)
    assert client.get(f"/s/{short}").status_code == 200


def test_a_caller_whose_number_sent_stop_is_told_the_request_number(app, operator):
    _, client = operator
    text_in(client, "+84913222444", "STOP")
    response = client.post(PAGE, data=call_form(client, phone="0913 222 444"))
    html = response.get_data(as_text=True)
    assert "data-caller-not-texted" in html
    assert [kind for kind, _, _ in texts_to(app, "+84913222444")] == ["stopped"]


def test_the_page_takes_a_typed_latitude_longitude(app, operator):
    _, client = operator
    response = client.post(
        PAGE, data=call_form(client, lat="", lon="", coordinates=" 21.2840, 106.2010 ")
    )
    assert response.status_code == 200
    request_id = int(
        re.search(r'data-intake-done="(\d+)"', response.get_data(as_text=True)).group(1)
    )
    from connect.extensions import db
    from connect.requests.models import HelpRequest
    from connect.spatial import latlon

    with app.app_context():
        assert latlon(db.session.get(HelpRequest, request_id).location) == (21.284, 106.201)


def test_the_page_warns_of_a_look_alike_and_posts_anyway_when_told(app, operator, post_request):
    _, client = operator
    existing = post_request()
    form = call_form(client, at=north(BAC_GIANG, 40))
    warned = client.post(PAGE, data=form)
    assert warned.status_code == 409
    html = warned.get_data(as_text=True)
    assert 'data-warning="possible_duplicate"' in html
    assert f'href="/console/requests/{existing["id"]}"' in html
    assert "40 m" in html and 'name="confirm_duplicate"' in html
    # The answers are kept.
    assert 'value="Ông Bảy"' in html and "Cần gạo" in html
    before = count_requests(app)
    posted = client.post(PAGE, data={**form, "confirm_duplicate": "y"})
    assert posted.status_code == 200
    assert "data-intake-done" in posted.get_data(as_text=True)
    assert count_requests(app) == before + 1


def test_the_page_offers_the_open_request_of_the_same_phone_instead(app, operator, post_request):
    _, client = operator
    existing = post_request(phone="0914 555 666", at=north(BAC_GIANG, 5000))
    form = call_form(client, phone="0914555666")
    for data in (form, {**form, "confirm_duplicate": "y"}):
        response = client.post(PAGE, data=data)
        assert response.status_code == 409
        html = response.get_data(as_text=True)
        assert 'data-warning="duplicate_request"' in html
        assert f'data-existing-request="{existing["id"]}"' in html
        assert f'href="/console/requests/{existing["id"]}"' in html
        assert "data-post-anyway" not in html


def test_the_phone_check_tells_early_whether_the_phone_has_an_open_request(operator, post_request):
    _, client = operator
    existing = post_request(phone="0915 777 888")
    token = csrf_of(client.get(PAGE))
    busy = client.post(PAGE, data={"phone": "0915777888", "check_phone": "1", "csrf_token": token})
    assert busy.status_code == 200
    assert f'data-existing-request="{existing["id"]}"' in busy.get_data(as_text=True)
    free = client.post(PAGE, data={"phone": "0915777889", "check_phone": "1", "csrf_token": token})
    html = free.get_data(as_text=True)
    assert free.status_code == 200 and "data-phone-free" in html
    # Only the phone was checked: no complaints about the questions not yet answered.
    assert "error-summary" not in html
    wrong = client.post(PAGE, data={"phone": "12", "check_phone": "1", "csrf_token": token})
    assert wrong.status_code == 422
    assert "This phone number does not look right" in wrong.get_data(as_text=True)


def test_the_page_gives_friendly_field_errors(app, operator):
    _, client = operator
    response = client.post(
        PAGE,
        data=call_form(
            client,
            phone="abc",
            categories=[],
            household_size="lots",
            lat="",
            lon="",
            coordinates="north of the market",
        ),
    )
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    for message in (
        "This phone number does not look right",
        "Choose at least one thing they need.",
        "Write a number, for example 4.",
        "Type the point as latitude, longitude",
    ):
        assert message in html
    assert count_requests(app) == 0


def test_the_page_refuses_a_point_outside_the_operators_areas_in_words(app, operator):
    _, client = operator
    response = client.post(PAGE, data=call_form(client, at=HANOI))
    assert response.status_code == 403
    assert "outside the areas you coordinate" in response.get_data(as_text=True)
    assert count_requests(app) == 0


def block(app, phone, by):
    from connect.extensions import db
    from connect.safety.models import BlockedPhone

    with app.app_context():
        db.session.add(BlockedPhone(phone=phone, reason="quảng cáo", blocked_by_id=by.id))
        db.session.commit()


def test_a_phone_blocked_by_moderation_is_refused_before_any_duplicate_warning(
    app, client, staff, post_request
):
    coordinator = staff()
    post_request()  # a look-alike: the block is told first, not the warning
    block(app, "+84917000111", coordinator)
    for confirm in (False, True):
        response = enter(
            client,
            coordinator,
            phone="0917 000 111",
            at=north(BAC_GIANG, 20),
            confirm_duplicate=confirm,
        )
        assert response.status_code == 403
        assert response.get_json()["error"]["code"] == "phone_blocked"
    assert count_requests(app) == 1


def test_the_page_explains_a_phone_blocked_by_moderation(app, operator):
    coordinator, client = operator
    block(app, "+84917000222", coordinator)
    response = client.post(PAGE, data=call_form(client, phone="0917000222"))
    assert response.status_code == 403
    html = response.get_data(as_text=True)
    assert "blocked by moderation" in html and 'value="Ông Bảy"' in html
    checked = client.post(
        PAGE,
        data={"phone": "0917000222", "check_phone": "1", "csrf_token": csrf_of(client.get(PAGE))},
    )
    assert checked.status_code == 403
    assert "blocked by moderation" in checked.get_data(as_text=True)
    assert count_requests(app) == 0


def test_the_page_without_a_csrf_token_posts_nothing(app, operator):
    _, client = operator
    response = client.post(PAGE, data={**call_form(client), "csrf_token": "forged"})
    assert response.status_code == 400
    assert response.mimetype == "text/html"
    assert count_requests(app) == 0


def test_the_page_is_for_coordinators_only(app, client, create_user):
    anonymous = client.get(PAGE)
    assert anonymous.status_code == 302 and "/login" in anonymous.headers["Location"]
    user, _ = create_user(password="mat-khau-1")
    resident = app.test_client()
    resident.post(
        "/login",
        data={
            "phone": user["phone"],
            "password": "mat-khau-1",
            "csrf_token": csrf_of(resident.get("/login")),
        },
    )
    assert resident.get(PAGE).status_code == 403
