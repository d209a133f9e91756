"""The offer pages with the test client, as a phone without JavaScript uses them: a helper
posts an offer, sees who asked and closes it; a resident finds offers near a place from the
list and asks one ("Nhờ giúp"), landing on their request's manage page; "Báo xấu" on an offer.
CSRF protection stays on: every POST carries the token read from a page."""

import re
from urllib.parse import urlsplit

import pytest

from conftest import BAC_GIANG, make_app, new_phone, request_payload
from leak_check import Personal, find_leaks

API = "/api/v1/offers"
PASSWORD = "mat-khau-dai"
CSRF = re.compile(
    r'name="csrf_token" type="hidden" value="([^"]+)"'
    r'|name="csrf_token" value="([^"]+)"'
)
INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.I)
STYLE_ATTR = re.compile(r"\sstyle=|\son[a-z]+=", re.I)


class Phone:
    """A browser without JavaScript: cookies, and the CSRF token of the last form read."""

    def __init__(self, app, lang="en"):
        self.client = app.test_client()
        self.token = None
        self.get(f"/offers?lang={lang}")

    def get(self, url, **kwargs):
        response = self.client.get(url, **kwargs)
        self._remember(response)
        return response

    def post(self, url, data=None, token=True):
        data = dict(data or {})
        if token:
            if self.token is None:
                self.get("/login")
            data["csrf_token"] = self.token
        response = self.client.post(url, data=data)
        self._remember(response)
        return response

    def _remember(self, response):
        if response.status_code in (301, 302, 303):
            self.token = None
        elif response.mimetype == "text/html":
            match = CSRF.search(response.get_data(as_text=True))
            if match:
                self.token = match.group(1) or match.group(2)

    def sign_up(self, name="Chị Hoa"):
        phone = new_phone()
        response = self.post(
            "/register", {"name": name, "phone": phone, "password": PASSWORD, "next": ""}
        )
        assert response.status_code == 302, text(response)[:500]
        return phone


def text(response):
    return response.get_data(as_text=True)


def location(response):
    return urlsplit(response.headers["Location"]).path


def assert_clean_page(response):
    """CSP-friendly: no inline script, no style= or on*= attributes."""
    body = text(response)
    assert not INLINE_SCRIPT.search(body) and not STYLE_ATTR.search(body)


@pytest.fixture
def app(database_url):
    from connect.extensions import db

    app = make_app(database_url, REPORT_HIDE_THRESHOLD=2)
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def offer_form(**overrides):
    form = {
        "kind": "shop",
        "title": "Rau sạch Qmvbz",
        "categories": ["food", "supplies"],
        "description": "Rau muống, cải, mỗi sáng",
        "quantity": "10 kg",
        "available_days": "3",
        "place": "",
        "lat": "21.2812345",
        "lon": "106.2034567",
        "address": "Số 4 ngõ Qkrtw",
        "contact_name": "Chị Hoa Qxnpl",
        "phone": new_phone(),
    }
    form.update(overrides)
    return form


def ask_form(**overrides):
    form = {
        "categories": ["food"],
        "description": "Cần rau cho 3 người",
        "household_size": "3",
        "urgency": "normal",
        "place": "",
        "lat": "21.2654321",
        "lon": "106.1812345",
        "contact_name": "Bà Lan Qzvkt",
        "phone": new_phone(),
        "address": "Số 7 ngõ Qhfdg",
    }
    form.update(overrides)
    return form


def post_offer_page(app, **overrides):
    """A helper signs up and posts an offer through the page; returns (phone, offer id, form)."""
    helper = Phone(app)
    helper.sign_up()
    assert helper.get("/volunteer/offers/new").status_code == 200
    form = offer_form(**overrides)
    response = helper.post("/volunteer/offers/new", form)
    assert response.status_code == 302 and location(response) == "/volunteer/offers", text(
        response
    )[:1500]
    from sqlalchemy import func, select

    from connect.extensions import db
    from connect.offers.models import Offer

    with app.app_context():
        offer_id = db.session.execute(select(func.max(Offer.id))).scalar_one()
    return helper, offer_id, form


# -- the helper's pages --------------------------------------------------------------------


def test_posting_an_offer_asks_for_login_first(app):
    phone = Phone(app)
    for path in ("/volunteer/offers", "/volunteer/offers/new"):
        response = phone.get(path)
        assert response.status_code == 302
        assert location(response) == "/login" and f"next={path}" in response.headers[
            "Location"
        ].replace("%2F", "/")


def test_a_helper_posts_an_offer_from_the_page(app):
    helper, offer_id, form = post_offer_page(app)
    mine = helper.get("/volunteer/offers")
    assert mine.status_code == 200
    body = text(mine)
    assert "Rau sạch Qmvbz" in body and "Qxnpl" in body and "Qkrtw" in body
    assert "0 people asked for help" in body
    assert_clean_page(mine)
    offer = app.test_client().get(f"{API}/{offer_id}").get_json()
    assert offer["kind"] == "shop" and offer["categories"] == ["food", "supplies"]
    assert offer["quantity"] == "10 kg" and offer["status"] == "open"
    # Posting an offer made the account a helper.
    from connect.accounts.models import User
    from connect.extensions import db
    from connect.offers.models import Offer

    with app.app_context():
        stored = db.session.get(Offer, offer_id)
        assert db.session.get(User, stored.user_id).role == "volunteer"
        assert round((stored.available_until - stored.created_at).total_seconds()) == 3 * 86400


def test_the_new_offer_form_fills_in_the_account_and_keeps_answers_on_errors(app):
    helper = Phone(app)
    phone = helper.sign_up(name="Anh Qbcdf")
    page = text(helper.get("/volunteer/offers/new"))
    assert "Anh Qbcdf" in page and phone[3:6] in page.replace(" ", "")
    response = helper.post(
        "/volunteer/offers/new",
        offer_form(title="", categories=[], lat="", lon="", quantity="5 bao"),
    )
    assert response.status_code == 422
    body = text(response)
    assert "Write what you offer" in body and "Choose at least one kind of help" in body
    assert "Show us where" in body and "5 bao" in body
    assert_clean_page(response)


def test_a_form_without_the_csrf_token_is_refused_kindly(app):
    helper = Phone(app)
    helper.sign_up()
    response = helper.post("/volunteer/offers/new", offer_form(), token=False)
    assert response.status_code == 400 and "reload the page" in text(response)
    assert helper.get("/volunteer/offers").status_code == 200
    assert "You have not offered anything yet" in text(helper.get("/volunteer/offers"))


def test_the_helper_closes_an_offer_and_no_one_else_can(app):
    helper, offer_id, _ = post_offer_page(app)
    other = Phone(app)
    other.sign_up()
    other.get("/offers")
    response = other.post(f"/volunteer/offers/{offer_id}/close")
    assert response.status_code == 302
    assert "could not be closed" in text(other.get(location(response)))
    assert app.test_client().get(f"{API}/{offer_id}").get_json()["status"] == "open"
    helper.get("/volunteer/offers")
    response = helper.post(f"/volunteer/offers/{offer_id}/close")
    assert response.status_code == 302
    page = text(helper.get("/volunteer/offers"))
    assert "Your offer is closed" in page and "Close this offer" not in page
    assert app.test_client().get(f"{API}/{offer_id}").get_json()["status"] == "closed"


# -- residents: offers near you and asking one --------------------------------------------


def test_offers_near_a_place_nearest_first_with_nothing_private(app):
    _, first, form = post_offer_page(app)
    _, second, _ = post_offer_page(app, title="Đi chợ giúp Qwert", lat="21.2401", lon="106.1500")
    resident = Phone(app)
    places = app.config["PLACES"]
    index = next(i for i, (_, lat, lon) in enumerate(places) if (lat, lon) == BAC_GIANG)
    response = resident.get(f"/offers?place={index}")
    assert response.status_code == 200
    body = text(response)
    assert body.index("Rau sạch Qmvbz") < body.index("Đi chợ giúp Qwert")
    assert f"/offers/{first}/ask" in body and f"/offers/{first}/report" in body
    assert "Within 10 km, nearest first." in body
    person = Personal(
        first,
        form["contact_name"],
        form["phone"],
        form["address"],
        (float(form["lat"]), float(form["lon"])),
        {"name": "Qxnpl", "address": "Qkrtw"},
    )
    assert not find_leaks(body, [person])
    assert_clean_page(response)
    # Without a place: around the town centre, and the page says how to narrow it.
    body = text(resident.get("/offers"))
    assert "Choose your area to see the nearest first" in body and "Rau sạch Qmvbz" in body
    # A location from the phone is kept to 3 decimals (about 100 m).
    body = text(resident.get("/offers?lat=21.28123456&lon=106.20345678"))
    assert "21.28123456" not in body and "Rau sạch Qmvbz" in body


def test_a_resident_asks_an_offer_and_lands_on_their_request(app):
    helper, offer_id, _ = post_offer_page(app)
    resident = Phone(app)
    page = resident.get(f"/offers/{offer_id}/ask")
    assert page.status_code == 200
    body = text(page)
    assert "Rau sạch Qmvbz" in body and "10 kg" in body
    # The offer's kinds are already chosen.
    assert re.search(r'value="food" id="categories-food"\s+checked', body)
    assert re.search(r'value="supplies" id="categories-supplies"\s+checked', body)
    assert_clean_page(page)
    form = ask_form()
    response = resident.post(f"/offers/{offer_id}/ask", form)
    assert response.status_code == 302, text(response)[:1500]
    manage = location(response)
    assert manage.startswith("/m/")
    landed = resident.get(manage)
    assert "Your request went to this helper" in text(landed)
    # The helper sees who asked, and opens the claim for the contact details.
    mine = text(helper.get("/volunteer/offers"))
    assert "1 person asked for help" in mine and "/volunteer/claims/" in mine
    claim_path = re.search(r'href="(/volunteer/claims/\d+)"', mine).group(1)
    claim = text(helper.get(claim_path))
    assert "Qzvkt" in claim and "Qhfdg" in claim
    # Asking again from this phone: the open request is named, as on /need-help.
    resident.get(f"/offers/{offer_id}/ask")
    again = resident.post(f"/offers/{offer_id}/ask", ask_form(phone=form["phone"]))
    assert again.status_code == 409 and manage in text(again)
    assert again.headers["Referrer-Policy"] == "no-referrer"


def test_ask_form_errors_are_per_field(app):
    _, offer_id, _ = post_offer_page(app)
    resident = Phone(app)
    resident.get(f"/offers/{offer_id}/ask")
    response = resident.post(
        f"/offers/{offer_id}/ask", ask_form(household_size="0", phone="123", lat="", lon="")
    )
    assert response.status_code == 422
    body = text(response)
    assert "from 1 to 50" in body and "does not look right" in body and "Show us where" in body


def test_closed_own_and_unknown_offers_answer_in_words(app):
    helper, offer_id, _ = post_offer_page(app)
    own = helper.get(f"/offers/{offer_id}/ask")
    assert own.status_code == 403 and "This is your own offer" in text(own)
    resident = Phone(app)
    assert resident.get("/offers/999999/ask").status_code == 404
    helper.get("/volunteer/offers")
    helper.post(f"/volunteer/offers/{offer_id}/close")
    closed = resident.get(f"/offers/{offer_id}/ask")
    assert closed.status_code == 409 and "This offer is closed" in text(closed)


# -- Báo xấu ---------------------------------------------------------------------------------


def test_reports_from_the_page_hide_the_offer(app):
    helper, offer_id, _ = post_offer_page(app)
    anonymous = Phone(app)
    response = anonymous.get(f"/offers/{offer_id}/report")
    assert response.status_code == 302 and location(response) == "/login"
    own = helper.get(f"/offers/{offer_id}/report")
    assert own.status_code == 403
    for _ in range(app.config["REPORT_HIDE_THRESHOLD"]):
        reporter = Phone(app)
        reporter.sign_up()
        page = reporter.get(f"/offers/{offer_id}/report?next=/offers")
        assert page.status_code == 200 and "Rau sạch Qmvbz" in text(page)
        assert_clean_page(page)
        response = reporter.post(
            f"/offers/{offer_id}/report", {"reason": "scam", "comment": "", "next": "/offers"}
        )
        assert response.status_code == 302 and location(response) == "/offers"
    assert "Rau sạch Qmvbz" not in text(anonymous.get("/offers"))
    assert anonymous.get(f"/offers/{offer_id}/ask").status_code == 404
    assert "Hidden while a coordinator checks it" in text(helper.get("/volunteer/offers"))


# -- where the pages are linked from ----------------------------------------------------------


def test_home_need_help_and_the_map_lead_to_offers(app):
    phone = Phone(app)
    assert 'href="/offers"' in text(phone.get("/"))
    assert 'href="/volunteer/offers/new"' in text(phone.get("/"))
    assert 'href="/offers"' in text(phone.get("/need-help"))
    page = text(phone.get("/volunteer/map"))
    assert 'data-offers-api="/api/v1/offers/map"' in page and "offers-map.js" in page
    assert "legend-dot dot-offer" in page


def test_an_offer_asked_through_the_api_shows_on_the_helpers_page(app):
    helper, offer_id, _ = post_offer_page(app)
    client = app.test_client()
    asked = client.post(f"{API}/{offer_id}/ask", json=request_payload())
    assert asked.status_code == 201
    assert "1 person asked for help" in text(helper.get("/volunteer/offers"))
