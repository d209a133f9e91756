"""The volunteer's pages with the test client, as a phone without JavaScript uses them.

Register, log in and out; the profile (a place from the list is the no-JavaScript area);
needs near you; claim, the contact, release and mark helped; a second volunteer; the map
page. CSRF protection stays on: every POST carries the token read from a page.
"""

import html
import math
import re
from datetime import timedelta
from urllib.parse import urlsplit

import pytest

from connect.geo import EARTH_RADIUS_M

from conftest import BAC_GIANG, make_app, new_phone, request_payload

API = "/api/v1/requests"
PASSWORD = "mat-khau-dai"
CSRF = re.compile(
    r'name="csrf_token" type="hidden" value="([^"]+)"'
    r'|name="csrf_token" value="([^"]+)"'
)
INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.I)
STYLE_ATTR = re.compile(r"\sstyle=", re.I)


class Phone:
    """A browser without JavaScript: cookies, and the CSRF token of the last page read."""

    def __init__(self, app, lang="en"):
        self.client = app.test_client()
        self.token = None
        self.get(f"/volunteer?lang={lang}")

    def get(self, url, **kwargs):
        response = self.client.get(url, **kwargs)
        self._remember(response)
        return response

    def post(self, url, data=None, token=True, **kwargs):
        data = dict(data or {})
        if token:
            for page in ("/volunteer/map", "/login"):  # one of them has a form
                if self.token is None:
                    self.get(page)
            data["csrf_token"] = self.token
        response = self.client.post(url, data=data, **kwargs)
        self._remember(response)
        return response

    def follow(self, response):
        assert response.status_code in (302, 303), (response.status_code, text(response)[:500])
        return self.get(location(response))

    def _remember(self, response):
        if response.status_code in (301, 302, 303):
            self.token = None  # logging in or out starts a new session, with a new token
        elif response.mimetype == "text/html":
            match = CSRF.search(response.get_data(as_text=True))
            if match:
                self.token = match.group(1) or match.group(2)


def text(response):
    return html.unescape(response.get_data(as_text=True))


def location(response):
    parts = urlsplit(response.headers["Location"])
    return parts.path + (f"?{parts.query}" if parts.query else "")


def shifted(point, north_m=0.0, east_m=0.0):
    lat, lon = point
    return (
        lat + math.degrees(north_m / EARTH_RADIUS_M),
        lon + math.degrees(east_m / (EARTH_RADIUS_M * math.cos(math.radians(lat)))),
    )


def register(phone, number=None, name="Lê Thị Hoa", password=PASSWORD, next_=None):
    number = number or new_phone()
    phone.get("/register" + (f"?next={next_}" if next_ else ""))
    response = phone.post(
        "/register", {"name": name, "phone": number, "password": password, "next": next_ or ""}
    )
    return response, number


PROFILE = {
    "place": "0",
    "radius_m": "5000",
    "categories": ["food", "supplies", "medicine", "medical_advice", "other"],
    "on_duty": "y",
    "capacity": "2",
}


def save_profile(phone, **overrides):
    phone.get("/volunteer/profile")
    return phone.post("/volunteer/profile", {**PROFILE, **overrides})


def volunteer(app, at=BAC_GIANG, **profile):
    """A registered volunteer with a profile at ``at`` (a pin, as the map sets it)."""
    phone = Phone(app)
    response, number = register(phone)
    assert response.status_code == 302, text(response)[:1000]
    response = save_profile(phone, place="", lat=repr(at[0]), lon=repr(at[1]), **profile)
    assert response.status_code == 302, text(response)[:3000]
    phone.number = number
    return phone


def post_need(client, **overrides):
    response = client.post(API, json=request_payload(**overrides))
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def api_status(client, request_id):
    return client.get(f"{API}/{request_id}").get_json()["status"]


def need_ids(response):
    return [int(i) for i in re.findall(r'id="need-(\d+)"', response.get_data(as_text=True))]


def claim(phone, request_id):
    phone.get("/volunteer/needs")
    return phone.post(f"/volunteer/claim/{request_id}")


def assert_page(response, status=200):
    """A page in plain HTML (never the JSON envelope), with no inline script or style."""
    body = response.get_data(as_text=True)
    assert response.status_code == status, (response.status_code, body[:1000])
    assert response.mimetype == "text/html"
    assert not INLINE_SCRIPT.search(body), INLINE_SCRIPT.search(body).group(0)
    assert not STYLE_ATTR.search(body)
    return html.unescape(body)


# -- accounts ---------------------------------------------------------------------------------


def test_register_logs_in_and_leads_to_the_profile(app):
    """A new account is logged in at once and sent on to set up the volunteer profile."""
    phone = Phone(app)
    assert_page(phone.get("/register"))
    response, _ = register(phone, next_="/volunteer")
    assert response.status_code == 302 and location(response) == "/volunteer"
    response = phone.follow(response)
    assert location(response) == "/volunteer/profile"
    page = assert_page(phone.follow(response))
    assert "Where and how you can help" in page


def test_register_errors_are_per_field_and_keep_what_was_typed(app):
    """Each wrong answer gets its own message; typed answers stay, the password does not."""
    phone = Phone(app)
    phone.get("/register")
    response = phone.post("/register", {"name": "", "phone": "0123", "password": "ngan"})
    page = assert_page(response, 422)
    assert "Enter your name." in page
    assert "Enter your mobile number, for example 0912 345 678." in page
    assert "Use at least 8 characters." in page
    assert 'value="0123"' in page
    assert "ngan" not in page
    assert 'aria-invalid="true"' in page
    assert phone.get("/volunteer/needs").status_code == 302  # not logged in


def test_register_with_a_taken_phone_says_so_on_the_phone_field(app):
    phone = Phone(app)
    _, number = register(phone)
    other = Phone(app)
    response, _ = register(other, number=number)
    page = assert_page(response, 422)
    assert "This number already has an account. Log in instead." in page
    assert 'value="Lê Thị Hoa"' in page


def test_phone_numbers_are_accepted_as_people_write_them(app):
    """0912 345 678, 091.234.5678 and +84 912345678 are one account."""
    phone = Phone(app)
    response, _ = register(phone, number="0912 345 678")
    assert response.status_code == 302
    for written in ("091.234.5678", "+84 912345678"):
        other = Phone(app)
        other.get("/login")
        response = other.post("/login", {"phone": written, "password": PASSWORD})
        assert response.status_code == 302, text(response)[:500]


def test_login_gives_one_answer_for_unknown_phone_and_wrong_password(app):
    """Nobody learns from the login page whether a phone number has an account."""
    phone = Phone(app)
    _, number = register(phone)
    answers = []
    for data in (
        {"phone": number, "password": "sai-mat-khau"},
        {"phone": new_phone(), "password": "sai-mat-khau"},
    ):
        stranger = Phone(app)
        stranger.get("/login")
        response = stranger.post("/login", data)
        page = assert_page(response, 422)
        assert "Wrong phone number or password." in page
        answers.append(CSRF.sub("", page.replace(data["phone"], "PHONE")))
    assert answers[0] == answers[1]


def test_login_then_logout(app):
    """Logging in opens the volunteer pages; logging out closes them."""
    phone = Phone(app)
    _, number = register(phone)
    phone.post("/logout")
    assert phone.get("/volunteer/profile").status_code == 302
    phone.get("/login")
    response = phone.post("/login", {"phone": number, "password": PASSWORD})
    assert response.status_code == 302 and location(response) == "/volunteer"
    assert phone.get("/volunteer/profile").status_code == 200
    response = phone.post("/logout")
    assert response.status_code == 302 and location(response) == "/"
    assert location(phone.get("/volunteer/profile")).startswith("/login?next=")


@pytest.mark.parametrize(
    "target, expected",
    [
        ("/volunteer/map", "/volunteer/map"),
        ("/volunteer/claims/5?x=1", "/volunteer/claims/5?x=1"),
        ("https://evil.example/", "/volunteer"),
        ("//evil.example/", "/volunteer"),
        ("/\\evil.example/", "/volunteer"),
        ("/\t/evil.example/", "/volunteer"),
        ("javascript:alert(1)", "/volunteer"),
    ],
)
def test_login_goes_to_next_only_on_this_site(app, target, expected):
    phone = Phone(app)
    _, number = register(phone)
    phone.post("/logout")
    phone.get("/login")
    response = phone.post("/login", {"phone": number, "password": PASSWORD, "next": target})
    assert response.status_code == 302
    assert location(response) == expected


def test_a_volunteer_page_asks_for_login_and_comes_back_after_it(app):
    phone = Phone(app)
    _, number = register(phone)
    phone.post("/logout")
    response = phone.get("/volunteer/needs")
    assert location(response) == "/login?next=/volunteer/needs"
    page = assert_page(phone.follow(response))
    assert 'name="next" type="hidden" value="/volunteer/needs"' in page
    response = phone.post(
        "/login", {"phone": number, "password": PASSWORD, "next": "/volunteer/needs"}
    )
    assert location(response) == "/volunteer/needs"


def test_forms_without_the_csrf_token_are_refused_kindly(app):
    """A POST without a token changes nothing and shows the form again with a message."""
    phone = Phone(app)
    _, number = register(phone)
    phone.post("/logout")
    response = phone.post("/login", {"phone": number, "password": PASSWORD}, token=False)
    assert response.status_code == 302 and location(response) == "/login"
    page = assert_page(phone.follow(response))
    assert "This page was open for too long, or cookies are turned off." in page
    assert phone.get("/volunteer/profile").status_code == 302
    posted = post_need(app.test_client())
    helper = volunteer(app)
    response = helper.post(f"/volunteer/claim/{posted['id']}", token=False)
    assert location(response) == "/volunteer/needs"
    assert "Please try again." in assert_page(helper.follow(response))
    assert api_status(app.test_client(), posted["id"]) == "open"


def test_the_chosen_language_survives_logging_in(app):
    phone = Phone(app, lang="en")
    register(phone)
    assert '<html lang="en"' in phone.get("/volunteer/profile").get_data(as_text=True)


@pytest.mark.parametrize("backend", ["sqlite"])
def test_too_many_logins_get_a_page_not_json(database_url):
    """The login form is rate limited like the API; the refusal is a page in words."""
    app = make_app(
        database_url, RATELIMIT_ENABLED=True, RATELIMIT_LOGIN_FAILURES_PER_IP="10 per minute"
    )
    phone = Phone(app)
    phone.get("/login")
    statuses = [
        phone.post("/login", {"phone": new_phone(), "password": "sai-mat-khau"}).status_code
        for _ in range(11)
    ]
    assert statuses == [422] * 10 + [429]
    response = phone.post("/login", {"phone": new_phone(), "password": "sai-mat-khau"})
    page = assert_page(response, 429)
    assert "Too many tries" in page
    assert int(response.headers["Retry-After"]) > 0


# -- start and profile -----------------------------------------------------------------------


def test_start_page_leads_by_where_you_are(app):
    """Anonymous: register or log in; no profile yet: the profile; else the needs."""
    phone = Phone(app)
    page = assert_page(phone.get("/volunteer"))
    assert "/register?next=/volunteer" in page and "/login?next=/volunteer" in page
    register(phone)
    assert location(phone.get("/volunteer")) == "/volunteer/profile"
    assert location(phone.get("/volunteer/needs")) == "/volunteer/profile"
    save_profile(phone)
    assert location(phone.get("/volunteer")) == "/volunteer/needs"


def test_profile_with_a_place_from_the_list_works_without_javascript(app):
    """The place list stands in for the pin; every answer is saved through the service."""
    phone = Phone(app)
    register(phone)
    page = assert_page(phone.get("/volunteer/profile"))
    assert "data-location-picker" in page and 'name="place"' in page
    response = save_profile(
        phone, place="1", radius_m="10000", categories=["food", "medicine"], capacity="3"
    )
    assert response.status_code == 302 and location(response) == "/volunteer/needs"
    me = phone.client.get("/api/v1/volunteers/me").get_json()
    place = app.config["PLACES"][1]
    assert me["location"] == {"lat": place[1], "lon": place[2]}
    assert me["radius_m"] == 10_000
    assert me["categories"] == ["food", "medicine"]
    assert me["on_duty"] is True and me["capacity"] == 3


def test_profile_with_a_pin_and_then_an_update(app):
    """The pin's inputs are saved; the page shows the saved answers; changes are kept."""
    phone = volunteer(app, at=(21.281234, 106.201234), radius_m="2000", categories=["food"])
    page = assert_page(phone.get("/volunteer/profile"))
    assert 'value="21.281234"' in page and 'value="106.201234"' in page
    assert re.search(r'value="2000"[^>]*checked', page)
    assert re.search(r'value="food"[^>]*checked', page)
    assert not re.search(r'value="medicine"[^>]*checked', page)
    # Off duty (the box left unticked), further, more kinds; the pin kept as it was.
    response = phone.post(
        "/volunteer/profile",
        {
            "lat": "21.281234",
            "lon": "106.201234",
            "place": "",
            "radius_m": "20000",
            "categories": ["food", "other"],
            "capacity": "1",
        },
    )
    assert response.status_code == 302
    me = phone.client.get("/api/v1/volunteers/me").get_json()
    assert me["location"] == {"lat": 21.281234, "lon": 106.201234}
    assert (me["radius_m"], me["categories"], me["on_duty"], me["capacity"]) == (
        20_000,
        ["food", "other"],
        False,
        1,
    )
    assert "You are set as not available." in assert_page(phone.get("/volunteer/needs"))


def test_profile_errors_are_per_field_and_keep_the_answers(app):
    phone = Phone(app)
    register(phone)
    phone.get("/volunteer/profile")
    response = phone.post(
        "/volunteer/profile",
        {"place": "", "lat": "", "lon": "", "radius_m": "10000", "capacity": "2"},
    )
    page = assert_page(response, 422)
    assert "Show us your area" in page
    assert "Choose at least one kind of help." in page
    assert re.search(r'value="10000"[^>]*checked', page)
    assert phone.client.get("/api/v1/volunteers/me").status_code == 404


@pytest.mark.parametrize(
    "bad",
    [
        {"lat": "91", "lon": "106.2"},
        {"lat": "nan", "lon": "106.2"},
        {"place": "99"},
        {"radius_m": "7"},
        {"capacity": "0"},
        {"categories": ["food", "pets"]},
    ],
)
def test_profile_refuses_tampered_answers(app, bad):
    phone = Phone(app)
    register(phone)
    phone.get("/volunteer/profile")
    response = phone.post(
        "/volunteer/profile", {**PROFILE, "place": "", "lat": "21.27", "lon": "106.19", **bad}
    )
    assert_page(response, 422)
    assert phone.client.get("/api/v1/volunteers/me").status_code == 404


# -- needs near you ---------------------------------------------------------------------------


def test_needs_are_listed_nearest_first_with_distance_age_urgency_and_household(app, client):
    """Within the radius and the volunteer's kinds of help, nearest first, in words."""
    far = post_need(
        client,
        at=shifted(BAC_GIANG, north_m=1200),
        urgency="urgent",
        household_size=6,
        description="Cần sữa cho em bé",
    )
    near = post_need(client, at=shifted(BAC_GIANG, east_m=300), household_size=1)
    post_need(client, at=shifted(BAC_GIANG, north_m=3000))  # beyond 2 km
    post_need(client, at=shifted(BAC_GIANG, east_m=100), categories=["medicine"])  # not my kind
    phone = volunteer(app, radius_m="2000", categories=["food", "supplies"])
    response = phone.get("/volunteer/needs")
    page = assert_page(response)
    assert need_ids(response) == [near["id"], far["id"]]
    first, second = page.split('id="need-')[1:3]
    assert "300 m" in first and "1 person" in first and "Urgent" not in first
    assert "1.2 km" in second and "6 people" in second and "Urgent" in second
    assert "Cần sữa cho em bé" in second
    assert re.search(r"posted (\d+ minutes?|\d+ seconds?) ago", first)
    assert "Within 2 km of your area" in page
    # Each need has its own claim form, with the CSRF token.
    assert page.count('name="csrf_token"') >= 3  # logout, and one per need
    assert f'action="/volunteer/claim/{near["id"]}"' in page


def test_needs_show_their_age(app, client, monkeypatch):
    from connect import clock

    real_now = clock.now
    posted = post_need(client)
    monkeypatch.setattr(clock, "now", lambda: real_now() + timedelta(hours=3, minutes=5))
    page = assert_page(volunteer(app).get("/volunteer/needs"))
    assert f'id="need-{posted["id"]}"' in page
    assert "posted 3 hours ago" in page


def test_needs_page_in_vietnamese_by_default(app, client):
    post_need(client, at=shifted(BAC_GIANG, north_m=1200))
    phone = volunteer(app)
    page = assert_page(phone.get("/volunteer/needs?lang=vi"))
    assert '<html lang="vi"' in page
    assert "1,2 km" in page  # Vietnamese writes a decimal comma


def test_no_needs_says_so(app):
    page = assert_page(volunteer(app).get("/volunteer/needs"))
    assert "No open needs within 5 km right now." in page


# -- claiming -----------------------------------------------------------------------------------


def test_claim_shows_the_contact_with_a_tel_link_and_directions(app, client):
    posted = post_need(
        client,
        at=(21.2812345, 106.2034567),
        contact_name="Nguyễn Văn Bảo",
        address="12 Ngõ 3, Trần Phú",
    )
    phone = volunteer(app)
    response = claim(phone, posted["id"])
    assert response.status_code == 302
    assert location(response) == f"/volunteer/claims/{posted['id']}"
    page = assert_page(phone.follow(response))
    assert f'href="tel:{posted["phone"]}"' in page
    assert "Nguyễn Văn Bảo" in page and "12 Ngõ 3, Trần Phú" in page
    assert 'href="geo:21.281235,106.203457?q=21.281235,106.203457"' in page
    assert "https://www.openstreetmap.org/directions?" in page
    assert "21.281235%2C106.203457" in page
    # The deadline is printed (no JavaScript needed) and the countdown has its data.
    assert re.search(r"Yours until \d\d:\d\d", page)
    assert 'data-lease-seconds="14' in page  # about 4 hours
    assert f'data-status-url="/api/v1/requests/{posted["id"]}"' in page
    assert f'action="/volunteer/claims/{posted["id"]}/helped"' in page
    assert f'action="/volunteer/claims/{posted["id"]}/release"' in page
    assert 'aria-live="polite"' in page
    assert api_status(client, posted["id"]) == "claimed"


def test_the_needs_page_lists_the_claims_you_hold(app, client):
    posted = post_need(client, contact_name="Phạm Thị Cúc")
    phone = volunteer(app)
    claim(phone, posted["id"])
    response = phone.get("/volunteer/needs")
    page = assert_page(response)
    assert "You are helping" in page and "Phạm Thị Cúc" in page
    assert f'href="/volunteer/claims/{posted["id"]}"' in page
    assert posted["id"] not in need_ids(response)  # no longer in the open list


def test_a_second_volunteer_gets_a_friendly_message_not_an_error(app, client):
    posted = post_need(client)
    first, second = volunteer(app), volunteer(app)
    assert claim(first, posted["id"]).status_code == 302
    response = claim(second, posted["id"])
    assert response.status_code == 302 and location(response) == "/volunteer/needs"
    page = assert_page(second.follow(response))
    assert "Someone else is already helping with this one." in page
    assert api_status(client, posted["id"]) == "claimed"


def test_tapping_claim_twice_opens_the_claim(app, client):
    """A second tap on a slow connection is not an error: it opens what you hold."""
    posted = post_need(client)
    phone = volunteer(app)
    claim(phone, posted["id"])
    response = claim(phone, posted["id"])
    assert location(response) == f"/volunteer/claims/{posted['id']}"


def test_claiming_a_closed_need_says_it_is_closed(app, client):
    posted = post_need(client)
    client.post(f"{API}/{posted['id']}/cancel", headers={"X-Manage-Token": posted["manage_token"]})
    phone = volunteer(app)
    page = assert_page(phone.follow(claim(phone, posted["id"])))
    assert "This need is closed now." in page


def test_claiming_past_your_capacity_says_so(app, client):
    first, second = post_need(client), post_need(client)
    phone = volunteer(app, capacity="1")
    claim(phone, first["id"])
    response = claim(phone, second["id"])
    page = assert_page(phone.follow(response))
    assert "You are already helping with 1 need, as many as" in page
    assert api_status(client, second["id"]) == "open"


def test_claiming_without_a_profile_leads_to_the_profile(app, client):
    posted = post_need(client)
    phone = Phone(app)
    register(phone)
    response = phone.post(f"/volunteer/claim/{posted['id']}")
    assert location(response) == "/volunteer/profile"
    assert api_status(client, posted["id"]) == "open"


def test_claim_page_is_for_the_claimant_only(app, client):
    """Another volunteer gets a page saying it is not theirs, with none of the contact."""
    posted = post_need(client, contact_name="Hoàng Văn Dũng")
    owner, other = volunteer(app), volunteer(app)
    claim(owner, posted["id"])
    url = f"/volunteer/claims/{posted['id']}"
    page = assert_page(other.get(url), 403)
    assert "Hoàng Văn Dũng" not in page and posted["phone"] not in page
    assert posted["phone"][3:] not in page
    assert_page(other.get("/volunteer/claims/999999"), 404)
    anonymous = Phone(app)
    assert location(anonymous.get(url)) == f"/login?next={url}"


def test_release_gives_the_need_back(app, client):
    posted = post_need(client)
    phone = volunteer(app)
    claim(phone, posted["id"])
    response = phone.post(f"/volunteer/claims/{posted['id']}/release")
    assert location(response) == "/volunteer/needs"
    response = phone.follow(response)
    assert "You let this need go." in assert_page(response)
    assert posted["id"] in need_ids(response)
    assert api_status(client, posted["id"]) == "open"
    assert_page(phone.get(f"/volunteer/claims/{posted['id']}"), 403)


def test_mark_helped(app, client):
    posted = post_need(client)
    phone = volunteer(app)
    claim(phone, posted["id"])
    response = phone.post(f"/volunteer/claims/{posted['id']}/helped")
    assert location(response) == "/volunteer/needs"
    assert "Thank you for helping!" in assert_page(phone.follow(response))
    assert api_status(client, posted["id"]) == "helped"
    # Helped dots appear green on the map.
    items = client.get(f"{API}/map?bbox=106.1,21.2,106.3,21.35").get_json()["items"]
    assert [(i["id"], i["status"]) for i in items] == [(posted["id"], "helped")]


def test_release_or_helped_after_the_requester_cancelled_is_a_message(app, client):
    posted = post_need(client)
    phone = volunteer(app)
    claim(phone, posted["id"])
    client.post(f"{API}/{posted['id']}/cancel", headers={"X-Manage-Token": posted["manage_token"]})
    for action in ("helped", "release"):
        response = phone.post(f"/volunteer/claims/{posted['id']}/{action}")
        assert location(response) == "/volunteer/needs"
        assert "This need is no longer held by you" in assert_page(phone.follow(response))
    assert api_status(client, posted["id"]) == "cancelled"


def test_the_claim_page_status_poll_sees_changes_with_the_session_cookie(app, client):
    """claim.js polls the API with the page's cookie: it sees its claim, then the change."""
    posted = post_need(client)
    phone = volunteer(app)
    claim(phone, posted["id"])
    body = phone.client.get(f"{API}/{posted['id']}").get_json()
    assert body["status"] == "claimed" and body["phone"] == posted["phone"]
    # The cookie cannot act through the API: POSTs there need a bearer token.
    assert phone.client.post(f"{API}/{posted['id']}/release").status_code == 401
    client.post(f"{API}/{posted['id']}/cancel", headers={"X-Manage-Token": posted["manage_token"]})
    body = phone.client.get(f"{API}/{posted['id']}").get_json()
    assert body["status"] == "cancelled" and "phone" not in body


# -- the map page ----------------------------------------------------------------------------------


def test_map_page_has_its_data_in_attributes_and_a_list_link(app):
    """No inline script: the map reads its settings from data-* attributes."""
    page = assert_page(Phone(app).get("/volunteer/map"))
    assert "data-needs-map" in page and 'data-api="/api/v1/requests/map"' in page
    assert f'data-tiles="{app.config["MAP_TILE_URL"]}"' in page
    assert "data-login-url=" in page and "data-csrf" not in page
    assert "/static/vendor/markercluster/leaflet.markercluster.js" in page
    assert "/static/js/needs-map.js" in page
    assert "See the needs as a list" in page
    phone = volunteer(app, at=(21.3, 106.25), radius_m="10000")
    page = assert_page(phone.get("/volunteer/map"))
    assert 'data-center="21.3,106.25"' in page and 'data-radius="10000"' in page
    assert 'data-claim-url="/volunteer/claim/0"' in page and "data-csrf=" in page
