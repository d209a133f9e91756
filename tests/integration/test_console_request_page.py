"""The console's request page: everything about a request, its history, whom to send, and
assigning with one button (issue 6). Browsers without JavaScript: cookies and CSRF tokens."""

import html
import math
import re
from urllib.parse import urlsplit

import phonenumbers
import pytest
from sqlalchemy import select, update

from connect.geo import EARTH_RADIUS_M

from conftest import BAC_GIANG, LUC_NAM, ensure_demo_areas, new_phone, request_payload

API = "/api/v1"
PASSWORD = "dieu-phoi-trang"
CSRF = re.compile(
    r'name="csrf_token" type="hidden" value="([^"]+)"'
    r'|name="csrf_token" value="([^"]+)"'
)
INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.I)
STYLE_ATTR = re.compile(r"\sstyle=", re.I)
M_PER_DEG = math.pi * EARTH_RADIUS_M / 180.0


def offset(east_m, north_m, origin=BAC_GIANG):
    lat0, lon0 = origin
    return (
        round(lat0 + north_m / M_PER_DEG, 7),
        round(lon0 + east_m / (M_PER_DEG * math.cos(math.radians(lat0))), 7),
    )


def text(response):
    return html.unescape(response.get_data(as_text=True))


class Browser:
    """A signed-in browser: its cookies and the CSRF token of the last page read."""

    def __init__(self, app, phone=None, password=PASSWORD):
        self.client = app.test_client()
        self.token = None
        if phone:
            self.get("/login?lang=en")
            response = self.post("/login", {"phone": phone, "password": password, "next": ""})
            assert response.status_code == 302, text(response)[:500]
            self.get("/login?lang=en")  # a fresh token for the new session

    def get(self, url, **kwargs):
        response = self.client.get(url, **kwargs)
        if response.mimetype == "text/html":
            match = CSRF.search(response.get_data(as_text=True))
            if match:
                self.token = match.group(1) or match.group(2)
        return response

    def post(self, url, data=None, token=True):
        data = dict(data or {})
        if token:
            data["csrf_token"] = self.token
        return self.client.post(url, data=data)

    def follow(self, response):
        assert response.status_code in (302, 303), (response.status_code, text(response)[:500])
        parts = urlsplit(response.headers["Location"])
        return self.get(parts.path + (f"?{parts.query}" if parts.query else ""))


class Scene:
    """R: a food request at the Bắc Giang place (district 24-213), entered on the hotline by
    the coordinator of province 24. Near (300 m) and Far (1.2 km) can take it; Off is off duty."""

    def __init__(self, app, client, create_user):
        self.app, self.client = app, client
        ensure_demo_areas(app)
        self.coord_phone, self.coord_id = self.staff("coordinator", ("24",), "Chị Điều Phối")
        self.coord2_phone, _ = self.staff("coordinator", ("24-220",), "Anh Lục Nam")
        self.admin_phone, _ = self.staff("admin", (), "Quản Trị")
        self.headers, self.ids, self.phones = {}, {}, {}
        for name, at, on_duty in (
            ("Near", offset(0, 300), True),
            ("Far", offset(1200, 0), True),
            ("Off", offset(100, 0), False),
        ):
            phone = new_phone()
            user, headers = create_user(name=f"Tình nguyện {name}", phone=phone, password=PASSWORD)
            assert (
                client.put(
                    f"{API}/volunteers/me",
                    headers=headers,
                    json={
                        "location": {"lat": at[0], "lon": at[1]},
                        "radius_m": 3000,
                        "categories": ["food"],
                        "on_duty": on_duty,
                        "capacity": 1,
                    },
                ).status_code
                == 200
            )
            self.headers[name], self.ids[name], self.phones[name] = headers, user["id"], phone
        self.payload = request_payload(
            at=BAC_GIANG,
            contact_name="Đỗ Thị Hằng",
            address="Số 7 ngõ Qzxkq, phường Trần Phú",
            description="Cần gạo và sữa cho 2 cháu nhỏ",
        )
        response = client.post(f"{API}/requests", json=self.payload)
        assert response.status_code == 201, response.get_json()
        self.r = response.get_json()
        self.mark_hotline(self.r["id"])

    def staff(self, role, areas, name):
        phone = new_phone()
        result = self.app.test_cli_runner().invoke(
            args=[
                "connect",
                "create-user",
                "--phone",
                phone,
                "--name",
                name,
                "--role",
                role,
                "--password",
                PASSWORD,
                *[a for code in areas for a in ("--area", code)],
            ]
        )
        assert result.exit_code == 0, result.output
        from connect.accounts.models import User
        from connect.extensions import db

        with self.app.app_context():
            user_id = db.session.execute(select(User.id).where(User.phone == phone)).scalar()
        return phone, user_id

    def mark_hotline(self, request_id):
        from connect.extensions import db
        from connect.requests.models import HelpRequest

        with self.app.app_context():
            db.session.execute(
                update(HelpRequest)
                .where(HelpRequest.id == request_id)
                .values(source="hotline", entered_by_id=self.coord_id)
            )
            db.session.commit()

    def page(self, browser, request_id=None):
        return browser.get(f"/console/requests/{request_id or self.r['id']}?lang=en")

    def assign(self, browser, volunteer_id, request_id=None):
        return browser.post(
            f"/console/requests/{request_id or self.r['id']}/assign",
            {"volunteer_id": str(volunteer_id)},
        )

    def reveals(self):
        from connect.extensions import db
        from connect.requests.models import ContactReveal

        with self.app.app_context():
            return [
                (r.viewer_id, r.viewer_role, r.channel)
                for r in db.session.execute(
                    select(ContactReveal)
                    .where(ContactReveal.request_id == self.r["id"])
                    .order_by(ContactReveal.id)
                ).scalars()
            ]

    def status(self):
        from connect.extensions import db
        from connect.requests.models import HelpRequest

        with self.app.app_context():
            row = db.session.get(HelpRequest, self.r["id"])
            return row.status, row.claimed_by_id


@pytest.fixture
def scene(app, client, create_user):
    return Scene(app, client, create_user)


def national(e164):
    return phonenumbers.format_number(
        phonenumbers.parse(e164, "VN"), phonenumbers.PhoneNumberFormat.NATIONAL
    )


def personal_data_in(page, scene):
    phone = scene.payload["phone"]
    return [
        value
        for value in (
            scene.payload["contact_name"],
            scene.payload["address"],
            phone,
            national(phone),
            "0" + phone[3:],
        )
        if value in page
    ]


def test_the_page_shows_everything_to_the_coordinator_and_logs_the_reveal(scene):
    browser = Browser(scene.app, scene.coord_phone)
    response = scene.page(browser)
    assert response.status_code == 200, text(response)[:1000]
    page = text(response)
    assert f'href="tel:{scene.payload["phone"]}"' in page
    assert national(scene.payload["phone"]) in page
    for shown in (
        "Đỗ Thị Hằng",
        "Số 7 ngõ Qzxkq, phường Trần Phú",
        "Cần gạo và sữa cho 2 cháu nhỏ",
        "4 people",
        "Food",
        "Not urgent",
        "Hotline",
        "entered by Chị Điều Phối",
        f"{BAC_GIANG[0]:.6f}, {BAC_GIANG[1]:.6f}",
        'data-status="open"',
    ):
        assert shown in page, shown
    # The history: posted; the candidates: nearest first, off duty left out.
    assert re.findall(r'data-candidate="(\d+)"', page) == [
        str(scene.ids["Near"]),
        str(scene.ids["Far"]),
    ]
    assert "posted" in page and "data-events" in page
    assert scene.reveals() == [(scene.coord_id, "coordinator", "page")]
    # The map gets both points through data attributes; the page obeys the strict CSP.
    assert f'data-exact="{BAC_GIANG[0]},{BAC_GIANG[1]}"' in page
    assert not INLINE_SCRIPT.search(page) and not STYLE_ATTR.search(page)


def without_csrf(page):
    return re.sub(r'name="csrf_token" value="[^"]*"', 'name="csrf_token"', page)


def test_a_coordinator_of_another_area_gets_not_found(scene):
    lucnam = Browser(scene.app, scene.coord2_phone)
    response = scene.page(lucnam)
    assert response.status_code == 404
    assert personal_data_in(text(response), scene) == []
    unknown = scene.page(lucnam, request_id=2_000_000_000)
    assert unknown.status_code == 404
    # The same page whether the request exists or not (but for the CSRF token, which carries
    # the second it was signed in).
    assert without_csrf(text(unknown)) == without_csrf(text(response))
    refused = scene.assign(lucnam, scene.ids["Near"])
    assert refused.status_code == 404
    assert scene.status() == ("open", None) and scene.reveals() == []


def test_only_coordinators_and_admins_open_it(scene, create_user):
    anon = Browser(scene.app)
    response = scene.page(anon)
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    phone = new_phone()
    create_user(name="Cư dân", phone=phone, password=PASSWORD)
    resident = Browser(scene.app, phone)
    response = scene.page(resident)
    assert response.status_code == 403 and personal_data_in(text(response), scene) == []
    volunteer = Browser(scene.app, scene.phones["Near"])
    assert scene.page(volunteer).status_code == 403
    assert scene.assign(volunteer, scene.ids["Near"]).status_code == 403
    admin = Browser(scene.app, scene.admin_phone)
    assert scene.page(admin).status_code == 200
    assert scene.status() == ("open", None)


def test_assign_from_the_page_gives_the_claim_and_tells_the_volunteer(app, scene):
    from connect.extensions import db
    from connect.requests.models import RequestEvent

    browser = Browser(scene.app, scene.coord_phone)
    scene.page(browser)
    response = scene.assign(browser, scene.ids["Far"])
    assert response.status_code == 302
    assert urlsplit(response.headers["Location"]).path == f"/console/requests/{scene.r['id']}"
    page = text(browser.follow(response))
    assert "Assigned. The volunteer has been told" in page
    assert 'data-status="claimed"' in page and "Tình nguyện Far" in page
    assert "Only an open request can be assigned." in page and "data-assign=" not in page
    assert scene.status() == ("claimed", scene.ids["Far"])
    with app.app_context():
        event = db.session.execute(
            select(RequestEvent).where(
                RequestEvent.request_id == scene.r["id"], RequestEvent.to_status == "claimed"
            )
        ).scalar_one()
        assert (event.actor_id, event.actor_kind, event.reason) == (
            scene.coord_id,
            "coordinator",
            "assigned by coordinator",
        )
    assert "Chị Điều Phối" in page and "assigned by coordinator" in page  # the history
    inbox = scene.client.get(f"{API}/notifications", headers=scene.headers["Far"]).get_json()
    assert [(n["kind"], n["request_id"]) for n in inbox["items"] if n["kind"] == "assigned"] == [
        ("assigned", scene.r["id"])
    ]


@pytest.mark.parametrize(
    "problem, message",
    [
        ("taken", "Someone took this request meanwhile"),
        ("off duty", "off duty"),
        ("unknown", "There is no such volunteer."),
        ("missing", "Choose a volunteer from the list to assign."),
    ],
)
def test_assign_problems_are_told_on_the_page(scene, problem, message):
    browser = Browser(scene.app, scene.coord_phone)
    scene.page(browser)
    volunteer_id = {
        "taken": scene.ids["Far"],
        "off duty": scene.ids["Off"],
        "unknown": 2_000_000_000,
        "missing": "",
    }[problem]
    if problem == "taken":  # Near claimed it meanwhile
        assert (
            scene.client.post(
                f"{API}/requests/{scene.r['id']}/claim", headers=scene.headers["Near"]
            ).status_code
            == 200
        )
    response = scene.assign(browser, volunteer_id)
    assert response.status_code == 302, text(response)[:500]
    page = text(browser.follow(response))
    assert message in page
    assert scene.status() == (
        ("claimed", scene.ids["Near"]) if problem == "taken" else ("open", None)
    )


def test_an_assign_without_the_csrf_token_is_refused_kindly(scene):
    browser = Browser(scene.app, scene.coord_phone)
    response = browser.post(
        f"/console/requests/{scene.r['id']}/assign",
        {"volunteer_id": str(scene.ids["Near"])},
        token=False,
    )
    assert response.status_code == 400
    assert scene.status() == ("open", None)


def test_moderation_buttons_show_only_when_their_pages_exist(app, scene):
    browser = Browser(scene.app, scene.coord_phone)
    page = text(scene.page(browser))
    for endpoint, path in (
        ("console.hide_request", "hide"),
        ("console.restore_request", "restore"),
        ("console.block_phone", "block-phone"),
    ):
        action = f'action="/console/requests/{scene.r["id"]}/{path}"'
        if endpoint in app.view_functions and path != "restore":  # restore: hidden ones only
            assert action in page, endpoint
        else:
            assert action not in page, endpoint
    if "console.hide_request" not in app.view_functions:
        return
    here = f"/console/requests/{scene.r['id']}"
    assert f'name="next" value="{here}"' in page
    # Hiding from this page comes back to it, where restoring is offered instead.
    response = browser.post(f"{here}/hide", {"reason": "quảng cáo", "next": here})
    assert response.status_code == 302 and urlsplit(response.headers["Location"]).path == here
    page = text(browser.follow(response))
    assert 'data-status="hidden"' in page
    restore = "console.restore_request" in app.view_functions
    assert (f'action="{here}/restore"' in page) == restore


def test_open_reports_and_flags_are_summarised(scene, create_user):
    browser = Browser(scene.app, scene.coord_phone)
    assert "No open reports or flags." in text(scene.page(browser))
    _, reporter = create_user(name="Người báo")
    assert (
        scene.client.post(
            f"{API}/requests/{scene.r['id']}/report",
            headers=reporter,
            json={"reason": "scam", "comment": "Hỏi tiền trước"},
        ).status_code
        == 201
    )
    page = text(scene.page(browser))
    assert "1 open report:" in page and "A scam, or asks for money (1)" in page
    assert "Hỏi tiền trước" in page
    # A look-alike posted 30 m away is flagged as a possible duplicate of R.
    twin = scene.client.post(
        f"{API}/requests", json=request_payload(at=offset(0, 30), categories=["food"])
    ).get_json()
    page = text(scene.page(browser, twin["id"]))
    assert "Possible duplicate" in page
    assert f'href="/console/requests/{scene.r["id"]}"' in page


def test_a_coordinator_of_lucnam_sees_requests_there(scene):
    there = scene.client.post(
        f"{API}/requests", json=request_payload(at=offset(0, 200, origin=LUC_NAM))
    ).get_json()
    assert scene.page(Browser(scene.app, scene.coord2_phone), there["id"]).status_code == 200
