"""The console's moderation page, on both databases: the queue of the coordinator's areas
only, hide / restore / block phone / resolve flag / lift from the page with who and why,
refusals that change nothing, and a blocked phone's friendly error on /need-help.
A browser without JavaScript; CSRF protection stays on, as in production."""

import html as html_module
import re
from urllib.parse import urlsplit

from sqlalchemy import select

from conftest import BAC_GIANG, LUC_NAM, ensure_demo_areas, new_phone

API = "/api/v1/requests"
PAGE = "/console/moderation"
PASSWORD = "dieu-phoi-1"
CITY = ("24-213",)  # Bắc Giang city: holds BAC_GIANG
LUC_NAM_AREA = ("24-220",)  # Lục Nam district: holds LUC_NAM, not BAC_GIANG
CSRF = re.compile(r'name="csrf_token"[^>]*?value="([^"]+)"')
BLOCKED = (
    "This phone number cannot post requests. If you think this is a mistake, call "
    "your ward's hotline."
)


class Browser:
    """Cookies, and the CSRF token of the last page read; English pages."""

    def __init__(self, app):
        self.client = app.test_client()
        self.token = None
        self.get("/login?lang=en")

    def get(self, url, **kwargs):
        response = self.client.get(url, **kwargs)
        match = CSRF.search(response.get_data(as_text=True))
        if match:
            self.token = match.group(1)
        return response

    def post(self, url, data=None):
        if self.token is None:
            self.get("/login")
        return self.client.post(url, data={**(data or {}), "csrf_token": self.token})


def staff_browser(app, role="coordinator", areas=CITY, name="Phạm Điều Phối"):
    """A browser signed in as a coordinator (or admin) made with the CLI."""
    phone = new_phone()
    if areas:
        ensure_demo_areas(app)
    result = app.test_cli_runner().invoke(
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
            *[
                arg
                for code in (areas if role == "coordinator" else ())
                for arg in ("--area", code)
            ],
        ]
    )
    assert result.exit_code == 0, result.output
    browser = Browser(app)
    response = browser.post("/login", {"phone": phone, "password": PASSWORD, "next": ""})
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    browser.get(PAGE)  # signing in starts a new session: a new CSRF token
    return browser


def text(response):
    return html_module.unescape(response.get_data(as_text=True))


def location(response):
    assert response.status_code in (302, 303), (response.status_code, text(response)[:800])
    parts = urlsplit(response.headers["Location"])
    return parts.path + (f"?{parts.query}" if parts.query else "")


def queue_ids(response):
    assert response.status_code == 200, text(response)[:800]
    return [
        int(i)
        for i in re.findall(
            r'<article class="mod-item" id="request-\d+" '
            r'data-request-id="(\d+)"',
            text(response),
        )
    ]


def flashes(browser):
    page = browser.get(PAGE)
    return [
        re.sub(r"\s+", " ", m).strip()
        for m in re.findall(r'<p class="flash flash-\w+">(.*?)</p>', text(page), re.S)
    ]


def rows(app, model, *where):
    from connect.extensions import db

    with app.app_context():
        found = db.session.execute(select(model).where(*where).order_by(model.id)).scalars().all()
        db.session.expunge_all()
        db.session.remove()
        return found


def events(app, request_id):
    from connect.requests.models import RequestEvent

    return [
        (e.to_status, e.actor_kind, e.actor_id is not None, e.reason)
        for e in rows(app, RequestEvent, RequestEvent.request_id == request_id)
    ]


def state(app, request_id):
    """Everything a refused action must leave as it was."""
    from connect.requests.models import HelpRequest
    from connect.safety.models import BlockedPhone, Report, RequestFlag

    (help_request,) = rows(app, HelpRequest, HelpRequest.id == request_id)
    return (
        help_request.status,
        events(app, request_id),
        [
            (r.resolved_at, r.resolution)
            for r in rows(app, Report, Report.subject_id == request_id)
        ],
        [f.resolved_at for f in rows(app, RequestFlag, RequestFlag.request_id == request_id)],
        [
            (b.id, b.lifted_at)
            for b in rows(app, BlockedPhone, BlockedPhone.phone == help_request.phone)
        ],
    )


def report(client, request_id, headers, reason="scam"):
    response = client.post(f"{API}/{request_id}/report", headers=headers, json={"reason": reason})
    assert response.status_code == 201, response.get_json()


def hidden_by_reports(client, post_request, create_user, **overrides):
    posted = post_request(**overrides)
    for reason in ("scam", "scam", "joke"):
        report(client, posted["id"], create_user()[1], reason)
    return posted


def flag_of(app, request_id):
    from connect.safety.models import RequestFlag

    (flag,) = rows(app, RequestFlag, RequestFlag.request_id == request_id)
    return flag.id


def look_alike(client, post_request, at=BAC_GIANG):
    """Two requests of one category 30 m apart from two phones: the second is flagged."""
    post_request(at=at)
    return post_request(at=(at[0] + 0.0002, at[1] + 0.0002))


# -- the queue ---------------------------------------------------------------------------


def test_the_page_lists_reported_and_auto_hidden_requests_of_the_coordinators_area_only(
    app, client, post_request, create_user, create_volunteer
):
    reported = post_request()
    report(client, reported["id"], create_user()[1], "advertising")
    hidden = hidden_by_reports(client, post_request, create_user, at=(21.2745, 106.1960))
    flagged = look_alike(client, post_request, at=(21.2700, 106.1900))
    far = post_request(at=LUC_NAM)
    report(client, far["id"], create_user()[1], "false")
    quiet = post_request(at=(21.2800, 106.2000))

    city = staff_browser(app)
    page = city.get(PAGE)
    # Hidden pending review first, then the most reported, then the oldest.
    assert queue_ids(page) == [hidden["id"], reported["id"], flagged["id"]]
    body = text(page)
    assert "Reported by 3 accounts:" in body and "scam 2" in body and "joke 1" in body
    assert "advertising 1" in body
    assert f'href="/console/requests/{hidden["id"]}"' in body
    assert "Possible duplicate" in body and f'href="/console/requests/{flagged["id"] - 1}"' in body
    assert quiet["id"] not in queue_ids(page) and far["id"] not in queue_ids(page)
    assert queue_ids(staff_browser(app, areas=LUC_NAM_AREA).get(PAGE)) == [far["id"]]
    assert queue_ids(staff_browser(app, "admin", areas=()).get(PAGE)) == [
        hidden["id"],
        reported["id"],
        far["id"],
        flagged["id"],
    ]
    for form in ("hide", "restore", "block-phone", "resolve-flag"):
        assert f'data-action="{form}"' in body
    # Not for anyone else.
    assert location(client.get(PAGE)).startswith("/login?next=")
    volunteer = Browser(app)
    phone = new_phone()
    assert (
        volunteer.post(
            "/register", {"name": "Lê Hoa", "phone": phone, "password": "mat-khau-dai", "next": ""}
        ).status_code
        == 302
    )
    assert volunteer.get(PAGE).status_code == 403


def test_the_queue_pages(app, client, post_request, create_user, monkeypatch):
    from connect.coordination.moderation import views as moderation_views

    posted = [post_request(at=(21.2731 + i * 0.001, 106.1946)) for i in range(3)]
    for p in posted:
        report(client, p["id"], create_user()[1])
    city = staff_browser(app)
    monkeypatch.setattr(moderation_views, "PER_PAGE", 2)
    first, second = city.get(PAGE), city.get(f"{PAGE}?page=2")
    assert queue_ids(first) == [posted[0]["id"], posted[1]["id"]]
    assert queue_ids(second) == [posted[2]["id"]]
    assert "Page 1 of 2" in text(first)
    assert 'href="/console/moderation?page=2#queue"' in text(first)
    assert city.get(f"{PAGE}?page=-4").status_code == 200


# -- refusals ----------------------------------------------------------------------------


def test_a_coordinator_of_another_area_is_refused_on_every_action_and_nothing_changes(
    app, client, post_request, create_user, create_staff
):
    hidden = hidden_by_reports(client, post_request, create_user)
    flagged = look_alike(client, post_request, at=(21.2700, 106.1900))
    blocked = post_request(at=(21.2800, 106.2000))
    block = client.post(
        f"{API}/{blocked['id']}/block-phone", headers=create_staff(), json={"reason": "lừa đảo"}
    ).get_json()
    flag_id = flag_of(app, flagged["id"])
    before = {i: state(app, i) for i in (hidden["id"], flagged["id"], blocked["id"])}

    other = staff_browser(app, areas=LUC_NAM_AREA)
    assert queue_ids(other.get(PAGE)) == []
    assert f'data-block-id="{block["id"]}"' not in text(other.get(PAGE))
    refusals = [
        (f"/console/requests/{hidden['id']}/hide", 403),
        (f"/console/requests/{hidden['id']}/restore", 403),
        (f"/console/requests/{hidden['id']}/block-phone", 403),
        (f"/console/requests/{flagged['id']}/hide", 403),
        (f"/console/flags/{flag_id}/resolve", 403),
        (f"/console/blocked-phones/{block['id']}/lift", 403),
        # Unknown ones: a request is 404 as in the API; flags and blocks do not say.
        ("/console/requests/999999/hide", 404),
        ("/console/flags/999999/resolve", 403),
        ("/console/blocked-phones/999999/lift", 403),
    ]
    for path, status in refusals:
        for reason in ("ok", ""):
            response = other.post(path, {"reason": reason, "next": PAGE})
            assert response.status_code == status, (path, reason, response.status_code)
            assert "Not in your areas" in text(response) or status == 404
    assert {i: state(app, i) for i in before} == before


# -- actions -----------------------------------------------------------------------------


def test_hide_restore_and_resolve_from_the_page_record_who_and_why(
    app, client, post_request, create_user
):
    reported = post_request()
    report(client, reported["id"], create_user()[1], "joke")
    flagged = look_alike(client, post_request, at=(21.2700, 106.1900))
    city = staff_browser(app, name="Phạm Điều Phối")
    back = f"{PAGE}?page=1"

    response = city.post(
        f"/console/requests/{reported['id']}/hide", {"reason": "  Trêu đùa  ", "next": back}
    )
    assert location(response) == back
    assert events(app, reported["id"])[-1] == ("hidden", "coordinator", True, "hidden: Trêu đùa")
    assert flashes(city) == [f"Request #{reported['id']} is hidden."]
    response = city.post(
        f"/console/requests/{reported['id']}/restore", {"reason": "Gọi lại: thật", "next": back}
    )
    assert location(response) == back
    assert events(app, reported["id"])[-1] == (
        "open",
        "coordinator",
        True,
        "restored: Gọi lại: thật",
    )
    flag_id = flag_of(app, flagged["id"])
    assert (
        location(
            city.post(f"/console/flags/{flag_id}/resolve", {"reason": "khác nhà", "next": ""})
        )
        == PAGE
    )
    assert events(app, flagged["id"])[-1][3] == (
        f"flag {flag_id} resolved (possible_duplicate of #{flagged['id'] - 1}): khác nhà"
    )

    # The recent actions say who, on which request and why, the latest first.
    actions = text(city.get(PAGE)).split('id="recent-actions"')[1]
    whys = re.findall(r'<td class="mod-why">(.*?)</td>', actions)
    assert whys[:3] == [
        events(app, flagged["id"])[-1][3],
        "restored: Gọi lại: thật",
        "hidden: Trêu đùa",
    ]
    assert actions.count("Phạm Điều Phối") == 3
    # Another area's coordinator does not see these actions.
    other = text(staff_browser(app, areas=LUC_NAM_AREA).get(PAGE))
    assert "Trêu đùa" not in other


def test_block_and_lift_from_the_page(app, client, post_request, create_staff, create_volunteer):
    from connect.requests.models import Assist

    posted = post_request()
    volunteer = create_volunteer()
    assert client.post(f"{API}/{posted['id']}/claim", headers=volunteer).status_code == 200
    city = staff_browser(app)
    response = city.post(
        f"/console/requests/{posted['id']}/block-phone",
        {"reason": "Quảng cáo liên tục", "next": PAGE},
    )
    assert location(response) == PAGE
    assert [e[0::3] for e in events(app, posted["id"])[-2:]] == [
        ("hidden", "hidden: phone blocked: Quảng cáo liên tục"),
        ("hidden", "phone blocked: Quảng cáo liên tục"),
    ]
    (assist,) = rows(app, Assist, Assist.request_id == posted["id"])
    assert assist.outcome == "hidden"
    page = text(city.get(PAGE))
    local = "0" + posted["phone"][3:]
    assert f"{local[:4]} {local[4:7]} {local[7:]}" in page
    (block_id,) = [int(i) for i in re.findall(r'data-block-id="(\d+)"', page)]
    assert 'data-action="lift"' in page

    # Twice: the conflict in words, nothing more.
    response = city.post(
        f"/console/requests/{posted['id']}/block-phone", {"reason": "lại", "next": PAGE}
    )
    assert location(response) == PAGE
    assert flashes(city) == ["This phone number is blocked already."]

    assert (
        location(
            city.post(
                f"/console/blocked-phones/{block_id}/lift", {"reason": "Nhầm số", "next": PAGE}
            )
        )
        == PAGE
    )
    assert events(app, posted["id"])[-1] == (
        "hidden",
        "coordinator",
        True,
        "block lifted: Nhầm số",
    )
    page = text(city.get(PAGE))
    assert "Lifted by Phạm Điều Phối" in page and 'data-action="lift"' not in page
    assert (
        location(
            city.post(f"/console/blocked-phones/{block_id}/lift", {"reason": "lại", "next": PAGE})
        )
        == PAGE
    )
    assert flashes(city) == ["This block was lifted already."]


def test_an_action_without_a_reason_is_refused_in_words(app, client, post_request, create_user):
    posted = post_request()
    report(client, posted["id"], create_user()[1])
    before = state(app, posted["id"])
    city = staff_browser(app)
    for action in ("hide", "restore", "block-phone"):
        response = city.post(
            f"/console/requests/{posted['id']}/{action}", {"reason": "   ", "next": PAGE}
        )
        assert location(response) == PAGE
        assert flashes(city) == ["Write why: it is kept in the request's history."]
    assert state(app, posted["id"]) == before


def test_back_goes_only_to_console_pages(app, client, post_request, create_user):
    city = staff_browser(app)
    for target, expected in (
        ("/console/requests/1", "/console/requests/1"),
        (f"{PAGE}?page=2", f"{PAGE}?page=2"),
        ("https://evil.example/console", PAGE),
        ("//evil.example/console", PAGE),
        ("/volunteer/needs", PAGE),
        ("/consoleevil", PAGE),
        ("", PAGE),
    ):
        posted = post_request(at=(21.2731, 106.1946 + 0.001 * len(target)))
        response = city.post(
            f"/console/requests/{posted['id']}/hide", {"reason": "x", "next": target}
        )
        assert location(response) == expected, target


def test_a_conflict_is_said_in_words_never_a_500(app, client, post_request, create_user):
    posted = post_request()
    city = staff_browser(app)
    # Restoring an open request: it is not hidden.
    response = city.post(
        f"/console/requests/{posted['id']}/restore", {"reason": "x", "next": PAGE}
    )
    assert location(response) == PAGE
    assert flashes(city) == [
        "This request changed meanwhile (it is Open now), so nothing was done."
    ]


# -- a blocked phone on the resident pages -----------------------------------------------


def resident_form(phone, lat="21.280100", lon="106.201200"):
    return {
        "categories": ["food"],
        "description": "Cần gạo cho 3 người",
        "household_size": "3",
        "urgency": "normal",
        "place": "",
        "lat": lat,
        "lon": lon,
        "contact_name": "Nguyễn Văn An",
        "phone": phone,
        "address": "12 Ngõ 3",
    }


def test_a_blocked_phone_gets_a_friendly_error_on_need_help_and_posts_again_after_lift(
    app, client, post_request, create_staff
):
    posted = post_request()
    staff = create_staff()
    block = client.post(
        f"{API}/{posted['id']}/block-phone", headers=staff, json={"reason": "lừa đảo"}
    ).get_json()
    resident = Browser(app)
    resident.get("/need-help?lang=en")
    local = "0" + posted["phone"][3:]
    response = resident.post("/need-help", resident_form(local))
    assert response.status_code == 422
    assert BLOCKED in text(response)
    assert 'id="phone-error"' in text(response)
    assert (
        client.post(
            f"/api/v1/moderation/blocked-phones/{block['id']}/lift",
            headers=staff,
            json={"reason": "nhầm"},
        ).status_code
        == 200
    )
    resident.get("/need-help")
    response = resident.post("/need-help", resident_form(local))
    assert location(response).startswith("/m/")


def test_editing_a_request_to_a_blocked_phone_shows_the_error_on_the_phone(
    app, client, post_request, create_staff
):
    blocked = post_request()
    assert (
        client.post(
            f"{API}/{blocked['id']}/block-phone",
            headers=create_staff(),
            json={"reason": "lừa đảo"},
        ).status_code
        == 201
    )
    mine = post_request()
    resident = Browser(app)
    path = f"/m/{mine['manage_token']}/edit"
    resident.get(f"{path}?lang=en")
    response = resident.post(path, resident_form(blocked["phone"], *map(repr, BAC_GIANG)))
    assert response.status_code == 422
    assert BLOCKED in text(response)
    from connect.requests.models import HelpRequest

    (stored,) = rows(app, HelpRequest, HelpRequest.id == mine["id"])
    assert stored.phone == mine["phone"]


def test_asking_an_offer_with_a_blocked_phone_shows_the_error(
    app, client, post_request, create_staff, create_user
):
    blocked = post_request()
    assert (
        client.post(
            f"{API}/{blocked['id']}/block-phone",
            headers=create_staff(),
            json={"reason": "lừa đảo"},
        ).status_code
        == 201
    )
    offer = client.post(
        "/api/v1/offers",
        headers=create_user()[1],
        json={
            "kind": "shop",
            "title": "Rau sạch",
            "categories": ["food"],
            "description": "Rau muống mỗi sáng",
            "quantity": "10 kg",
            "location": {"lat": BAC_GIANG[0], "lon": BAC_GIANG[1]},
            "address": "Số 4",
        },
    )
    assert offer.status_code == 201, offer.get_json()
    resident = Browser(app)
    path = f"/offers/{offer.get_json()['id']}/ask"
    resident.get(f"{path}?lang=en")
    response = resident.post(path, resident_form(blocked["phone"]))
    assert response.status_code == 422
    assert BLOCKED in text(response)
