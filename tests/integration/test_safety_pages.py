"""Trust and safety on the pages: the "Báo xấu" link and form, what the requester and the
claimant see once a request is hidden, and /need-help's answer to a second request from one
phone. A browser without JavaScript; CSRF protection stays on, as in production."""

import html
import re
from urllib.parse import parse_qs, urlsplit

from sqlalchemy import select

from conftest import make_app, new_phone, request_payload

API = "/api/v1/requests"
PASSWORD = "mat-khau-dai"
CSRF = re.compile(
    r'name="csrf_token" type="hidden" value="([^"]+)"'
    r'|name="csrf_token" value="([^"]+)"'
)
INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.I)
INLINE_HANDLER = re.compile(r"\son[a-z]+=", re.I)
STYLE_ATTR = re.compile(r"\sstyle=", re.I)
PROFILE = {
    "place": "0",
    "radius_m": "5000",
    "categories": ["food", "supplies", "medicine", "medical_advice", "other"],
    "on_duty": "y",
    "capacity": "2",
}


class Browser:
    """Cookies, and the CSRF token of the last page read; English pages."""

    def __init__(self, app):
        self.client = app.test_client()
        self.token = None
        self.get("/?lang=en")

    def get(self, url, **kwargs):
        response = self.client.get(url, **kwargs)
        self._remember(response)
        return response

    def post(self, url, data=None, token=True):
        data = dict(data or {})
        if token:
            for page in ("/volunteer/map", "/login"):  # one of them has a form
                if self.token is None:
                    self.get(page)
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


def text(response):
    return html.unescape(response.get_data(as_text=True))


def location(response):
    assert response.status_code in (302, 303), (response.status_code, text(response)[:800])
    parts = urlsplit(response.headers["Location"])
    return parts.path + (f"?{parts.query}" if parts.query else "")


def signed_in(app, profile=True):
    """A browser with a fresh account (and a volunteer profile at BAC_GIANG)."""
    browser = Browser(app)
    browser.get("/register")
    response = browser.post(
        "/register", {"name": "Lê Thị Hoa", "phone": new_phone(), "password": PASSWORD, "next": ""}
    )
    assert response.status_code == 302, text(response)[:1000]
    if profile:
        browser.get("/volunteer/profile")
        assert browser.post("/volunteer/profile", PROFILE).status_code == 302
    return browser


def report_page(request_id, next_=None):
    return f"/requests/{request_id}/report" + (f"?next={next_}" if next_ else "")


def send_report(browser, request_id, reason="scam", comment="", next_="/volunteer/needs"):
    page = browser.get(report_page(request_id, next_))
    assert page.status_code == 200, text(page)[:800]
    return browser.post(
        f"/requests/{request_id}/report",
        {"reason": reason, "comment": comment, "next": next_ or ""},
    )


def post_need(client, **overrides):
    response = client.post(API, json=request_payload(**overrides))
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def stored_reports(app, request_id):
    from connect.extensions import db
    from connect.safety.models import Report

    with app.app_context():
        found = [
            (r.reason, r.comment)
            for r in db.session.execute(
                select(Report).where(Report.subject_id == request_id)
            ).scalars()
        ]
        db.session.remove()
        return found


def assert_csp_clean(response):
    page = response.get_data(as_text=True)
    assert not INLINE_SCRIPT.search(page), "inline <script>"
    assert not INLINE_HANDLER.search(page), "on*= attribute"
    assert not STYLE_ATTR.search(page), "style= attribute"


# -- the link --------------------------------------------------------------------------


def test_the_needs_list_the_map_and_the_claim_page_link_to_the_report_form(app, client):
    need = post_need(client)
    browser = signed_in(app)
    needs = text(browser.get("/volunteer/needs"))
    assert f'href="/requests/{need["id"]}/report?next=/volunteer/needs"' in needs
    assert "Report: not a real need" in needs
    the_map = text(browser.get("/volunteer/map"))
    assert 'data-report-url="/requests/0/report?next=/volunteer/map"' in the_map
    assert 'data-report-url="/requests/0/report' in text(Browser(app).get("/volunteer/map"))
    assert location(browser.post(f"/volunteer/claim/{need['id']}")) == (
        f"/volunteer/claims/{need['id']}"
    )
    claim = text(browser.get(f"/volunteer/claims/{need['id']}"))
    assert f'href="/requests/{need["id"]}/report?next=/volunteer/needs"' in claim
    # Not on the requester's own page.
    manage = text(client.get(f"/m/{need['manage_token']}?lang=en"))
    assert "/report" not in manage


def test_anonymous_users_log_in_first_and_come_back(app, client):
    need = post_need(client)
    browser = Browser(app)
    back = location(browser.get(report_page(need["id"], "/volunteer/map")))
    assert urlsplit(back).path == "/login"
    assert parse_qs(urlsplit(back).query)["next"] == [
        f"/requests/{need['id']}/report?next=/volunteer/map"
    ]
    assert (
        urlsplit(location(browser.post(f"/requests/{need['id']}/report", {"reason": "scam"}))).path
        == "/login"
    )
    assert stored_reports(app, need["id"]) == []


# -- the form ----------------------------------------------------------------------------


def test_the_form_asks_a_reason_and_thanks_the_reporter(app, client):
    need = post_need(client, description="Bán thuốc giảm cân giá rẻ")
    browser = signed_in(app)
    page = browser.get(report_page(need["id"], "/volunteer/needs"))
    assert page.status_code == 200
    body = text(page)
    assert "Bán thuốc giảm cân giá rẻ" in body
    for reason in ("joke", "advertising", "scam", "false", "other"):
        assert f'value="{reason}"' in body
    assert 'name="csrf_token"' in body and 'maxlength="300"' in body
    assert_csp_clean(page)
    # No reason: the form again, with the question marked.
    missing = browser.post(
        f"/requests/{need['id']}/report", {"comment": "x", "next": "/volunteer/needs"}
    )
    assert missing.status_code == 422
    assert "Choose what is wrong." in text(missing)
    too_long = browser.post(
        f"/requests/{need['id']}/report", {"reason": "other", "comment": "x" * 301}
    )
    assert too_long.status_code == 422
    sent = send_report(browser, need["id"], "advertising", "Quảng cáo")
    assert location(sent) == "/volunteer/needs"
    assert "A coordinator will look at this request." in text(browser.get("/volunteer/needs"))
    assert stored_reports(app, need["id"]) == [("advertising", "Quảng cáo")]
    # A second time is thanked, not counted.
    again = send_report(browser, need["id"], "joke")
    assert location(again) == "/volunteer/needs"
    assert "already reported" in text(browser.get("/volunteer/needs"))
    assert stored_reports(app, need["id"]) == [("advertising", "Quảng cáo")]


def test_a_report_without_csrf_token_is_refused(app, client):
    need = post_need(client)
    browser = signed_in(app)
    response = browser.post(f"/requests/{need['id']}/report", {"reason": "scam"}, token=False)
    assert response.status_code == 400
    assert stored_reports(app, need["id"]) == []


def test_an_outside_next_is_ignored(app, client):
    need = post_need(client)
    browser = signed_in(app)
    assert location(send_report(browser, need["id"], next_="//evil.example/x")) == "/"


def test_your_own_request_and_an_unknown_one(app, client):
    browser = signed_in(app, profile=False)
    browser.get("/need-help")
    posted = browser.post(
        "/need-help",
        {
            "categories": ["food"],
            "description": "Cần gạo",
            "household_size": "2",
            "urgency": "normal",
            "lat": "21.2731",
            "lon": "106.1946",
            "place": "",
            "contact_name": "An",
            "phone": new_phone(),
            "address": "",
        },
    )
    assert posted.status_code == 302
    from connect.extensions import db
    from connect.requests.models import HelpRequest

    with app.app_context():
        request_id = db.session.execute(select(HelpRequest.id)).scalar_one()
        db.session.remove()
    own = browser.get(report_page(request_id))
    assert own.status_code == 403 and "your own request" in text(own)
    assert browser.get(report_page(999_999)).status_code == 404


# -- once hidden -----------------------------------------------------------------------------


def test_the_requester_and_the_claimant_are_told_in_plain_words(app, client, create_staff):
    need = post_need(client)
    claimant = signed_in(app)
    claimed = claimant.post(f"/volunteer/claim/{need['id']}")
    assert location(claimed) == f"/volunteer/claims/{need['id']}"
    for _ in range(3):
        assert location(send_report(signed_in(app, profile=False), need["id"], next_="")) == "/"
    assert client.get(f"{API}/{need['id']}").status_code == 404  # hidden from the public

    manage = client.get(f"/m/{need['manage_token']}?lang=en")
    shown = re.search(r'data-status-text="hidden"\s*>(.*?)</div>', text(manage), re.S).group(1)
    assert "Hidden until a coordinator checks it" in shown
    assert "Some people reported this request" in shown
    assert re.search(
        r'<a class="button button-block" href="/need-help"\s+'
        r'data-when="confirmed cancelled expired" hidden>',
        text(manage),
    )

    withdrawn = claimant.get(f"/volunteer/claims/{need['id']}")
    assert withdrawn.status_code == 200
    assert "This need was withdrawn" in text(withdrawn)
    assert "tel:" not in text(withdrawn)
    assert f"need-{need['id']}" not in text(claimant.get("/volunteer/needs"))

    # Once a coordinator upheld the reports, the page says it is hidden for good.
    assert (
        client.post(
            f"{API}/{need['id']}/hide", headers=create_staff(), json={"reason": "lừa đảo"}
        ).status_code
        == 200
    )
    manage = text(client.get(f"/m/{need['manage_token']}?lang=en"))
    shown = re.search(r'data-status-text="hidden"\s*>(.*?)</div>', manage, re.S).group(1)
    assert "Hidden by a coordinator" in shown


# -- /need-help and a second request from one phone ---------------------------------------------


def answers(**overrides):
    data = {
        "categories": ["food"],
        "description": "Cần gạo",
        "household_size": "3",
        "urgency": "normal",
        "lat": "21.2731",
        "lon": "106.1946",
        "place": "",
        "contact_name": "Nguyễn Văn An",
        "phone": "0912 345 678",
        "address": "",
    }
    data.update(overrides)
    return data


def post_help(browser, **overrides):
    browser.get("/need-help?lang=en")
    return browser.post("/need-help", answers(**overrides))


def test_a_second_request_from_this_browser_offers_to_update_the_first(app):
    browser = Browser(app)
    first = post_help(browser)
    manage_path = location(first)
    token = manage_path.rsplit("/", 1)[1]
    again = post_help(browser, description="Lần nữa")
    assert again.status_code == 409
    body = text(again)
    assert "You already have an open request. Update that request?" in body
    assert f'href="/m/{token}/edit"' in body
    assert again.headers["Cache-Control"] == "no-store"
    assert_csp_clean(again)
    # The answers are kept.
    assert "Lần nữa" in body


def test_another_browser_is_told_nothing_about_the_existing_request(app):
    first = Browser(app)
    token = location(post_help(first)).rsplit("/", 1)[1]
    stranger = Browser(app)
    again = post_help(stranger, description="Người khác")
    assert again.status_code == 409
    body = text(again)
    assert "This phone number already has an open request" in body
    assert "open the link you got when you posted it" in body
    assert token not in body and not re.search(r"/m/(?!resend\b)", body)
    assert "Cần gạo" not in body.replace('value="Cần gạo"', "")  # only its own answers


def test_the_hotline_is_offered_when_configured(database_url):
    app = make_app(database_url, HOTLINE="1900 1234")
    try:
        post_help(Browser(app))
        assert "call 1900 1234" in text(post_help(Browser(app)))
    finally:
        from connect.extensions import db

        with app.app_context():
            db.session.remove()
            db.engine.dispose()


def test_need_help_lists_this_browsers_open_requests(app, client):
    browser = Browser(app)
    assert "Your open requests" not in text(browser.get("/need-help?lang=en"))
    token = location(post_help(browser)).rsplit("/", 1)[1]
    page = browser.get("/need-help")
    assert "Your open requests" in text(page)
    assert f'href="/m/{token}"' in text(page)
    assert page.headers["Cache-Control"] == "no-store"
    # Another browser sees none of it.
    assert f"/m/{token}" not in text(Browser(app).get("/need-help"))
    # Cancelled: no longer offered, and the phone may ask again.
    browser.get(f"/m/{token}/cancel")
    assert browser.post(f"/m/{token}/cancel").status_code == 302
    assert "Your open requests" not in text(browser.get("/need-help"))
    assert post_help(browser).status_code == 302


def test_editing_the_phone_to_one_with_an_open_request_is_a_field_error(app, client):
    taken = post_need(client, phone="+84912345670")
    browser = Browser(app)
    token = location(post_help(browser, phone="0912 345 671")).rsplit("/", 1)[1]
    browser.get(f"/m/{token}/edit")
    response = browser.post(f"/m/{token}/edit", answers(phone="0912 345 670"))
    assert response.status_code == 422
    assert "Another open request already has this phone number." in text(response)
    assert str(taken["id"]) not in re.sub(r"<[^>]+>", "", text(response))
    assert client.get(f"{API}/{taken['id']}").get_json()["status"] == "open"
