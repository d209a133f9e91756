"""The contact reveal log: every time someone other than the requester is shown a request's
name, phone, address or exact point (API or page), who, why and when is written down; the
requester and the request's coordinators can read it."""

import re
import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from conftest import BAC_GIANG, make_app, new_phone, request_payload

API = "/api/v1/requests"
CSRF = re.compile(
    r'name="csrf_token" type="hidden" value="([^"]+)"'
    r'|name="csrf_token" value="([^"]+)"'
)
VOLUNTEER_NAME = "Phạm Văn Tình"


def manage(posted):
    return {"X-Manage-Token": posted["manage_token"]}


def reveals(app, request_id=None):
    """[(request_id, viewer_id, role, channel)] as stored, oldest first."""
    from connect.extensions import db
    from connect.requests.models import ContactReveal

    with app.app_context():
        try:
            query = select(
                ContactReveal.request_id,
                ContactReveal.viewer_id,
                ContactReveal.viewer_role,
                ContactReveal.channel,
            ).order_by(ContactReveal.id)
            if request_id is not None:
                query = query.where(ContactReveal.request_id == request_id)
            return [tuple(row) for row in db.session.execute(query).all()]
        finally:
            db.session.remove()


@pytest.fixture
def volunteer(client):
    """A volunteer with a profile: (user id, phone, API headers, password)."""

    def create(name=VOLUNTEER_NAME):
        phone, password = new_phone(), "mat-khau-1"
        user = client.post(
            "/api/v1/auth/register", json={"phone": phone, "password": password, "name": name}
        )
        assert user.status_code == 201
        token = client.post("/api/v1/auth/token", json={"phone": phone, "password": password})
        headers = {"Authorization": f"Bearer {token.get_json()['token']}"}
        assert (
            client.put(
                "/api/v1/volunteers/me",
                headers=headers,
                json={
                    "location": {"lat": BAC_GIANG[0], "lon": BAC_GIANG[1]},
                    "radius_m": 5000,
                    "categories": ["food"],
                    "on_duty": True,
                    "capacity": 2,
                },
            ).status_code
            == 200
        )
        return user.get_json()["id"], phone, headers, password

    return create


def page_login(app, phone, password):
    client = app.test_client()
    match = CSRF.search(client.get("/login").get_data(as_text=True))
    response = client.post(
        "/login",
        data={
            "phone": phone,
            "password": password,
            "csrf_token": match.group(1) or match.group(2),
        },
    )
    assert response.status_code == 302
    return client


def me(client, headers):
    return client.get("/api/v1/auth/me", headers=headers).get_json()["id"]


# -- what is logged -------------------------------------------------------------------------


def test_a_claim_and_the_claimants_views_are_logged_the_requester_and_others_are_not(
    app, client, post_request, volunteer
):
    posted = post_request()
    url = f"{API}/{posted['id']}"
    claimant_id, _, claimant, _ = volunteer()
    _, _, bystander, _ = volunteer()
    assert client.get(url).status_code == 200
    assert client.get(url, headers=bystander).status_code == 200
    assert client.get(url, headers=manage(posted)).get_json()["phone"] == posted["phone"]
    assert reveals(app) == []

    claim = client.post(f"{url}/claim", headers=claimant)
    assert claim.status_code == 200 and claim.get_json()["phone"] == posted["phone"]
    assert reveals(app) == [(posted["id"], claimant_id, "claimant", "api")]
    # Polling within the window is the same reveal; the requester and bystanders never count.
    for headers in (claimant, claimant, manage(posted), bystander, {}):
        assert client.get(url, headers=headers).status_code == 200
    assert reveals(app) == [(posted["id"], claimant_id, "claimant", "api")]

    # Once released, the former claimant sees nothing, and nothing is logged.
    assert "phone" not in client.post(f"{url}/release", headers=claimant).get_json()
    client.get(url, headers=claimant)
    assert len(reveals(app)) == 1


def test_with_no_window_every_view_is_logged(database_url):
    from connect.extensions import db

    app = make_app(database_url, REVEAL_LOG_WINDOW_SECONDS=0)
    try:
        client = app.test_client()
        posted = client.post(API, json=request_payload()).get_json()
        phone, password = new_phone(), "mat-khau-1"
        client.post(
            "/api/v1/auth/register",
            json={"phone": phone, "password": password, "name": VOLUNTEER_NAME},
        )
        headers = {
            "Authorization": "Bearer "
            + client.post(
                "/api/v1/auth/token", json={"phone": phone, "password": password}
            ).get_json()["token"]
        }
        client.put(
            "/api/v1/volunteers/me",
            headers=headers,
            json={
                "location": {"lat": BAC_GIANG[0], "lon": BAC_GIANG[1]},
                "radius_m": 5000,
                "categories": ["food"],
                "on_duty": True,
            },
        )
        assert client.post(f"{API}/{posted['id']}/claim", headers=headers).status_code == 200
        for _ in range(3):
            assert client.get(f"{API}/{posted['id']}", headers=headers).status_code == 200
        assert [r[2:] for r in reveals(app)] == [("claimant", "api")] * 4
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


def test_the_window_is_per_person_and_channel_and_ends(
    app, client, post_request, volunteer, monkeypatch
):
    from connect import clock

    posted = post_request()
    claimant_id, phone, claimant, password = volunteer()
    assert client.post(f"{API}/{posted['id']}/claim", headers=claimant).status_code == 200
    pages = page_login(app, phone, password)
    assert pages.get(f"/volunteer/claims/{posted['id']}").status_code == 200
    assert pages.get("/volunteer/needs").status_code == 200  # names the claim: same window
    assert [r[2:] for r in reveals(app)] == [("claimant", "api"), ("claimant", "page")]
    later = clock.now() + timedelta(minutes=11)
    monkeypatch.setattr(clock, "now", lambda: later)
    assert pages.get("/volunteer/needs").status_code == 200
    client.get(f"{API}/{posted['id']}", headers=claimant)
    assert [r[2:] for r in reveals(app)] == [
        ("claimant", "api"),
        ("claimant", "page"),
        ("claimant", "page"),
        ("claimant", "api"),
    ]


def test_coordinators_of_the_area_and_admins_are_logged_others_see_nothing(
    app, client, post_request, create_staff
):
    posted = post_request(at=BAC_GIANG)
    url = f"{API}/{posted['id']}"
    own, other, admin = (
        create_staff(),
        create_staff(areas=("24-220",)),
        create_staff(role="admin"),
    )
    assert "phone" in client.get(url, headers=own).get_json()
    assert "phone" not in client.get(url, headers=other).get_json()
    assert "phone" in client.get(url, headers=admin).get_json()
    # A coordinator's edit answers with the details too: logged in the edit's transaction.
    assert client.patch(url, headers=own, json={"household_size": 3}).status_code == 200
    assert [(r[1], r[2:]) for r in reveals(app)] == [
        (me(client, own), ("coordinator", "api")),
        (me(client, admin), ("admin", "api")),
    ]


def test_a_failed_write_logs_nothing(app, client, post_request, volunteer):
    posted = post_request()
    _, _, first, _ = volunteer()
    _, _, second, _ = volunteer()
    assert client.post(f"{API}/{posted['id']}/claim", headers=first).status_code == 200
    assert client.post(f"{API}/{posted['id']}/claim", headers=second).status_code == 409
    assert [r[2] for r in reveals(app)] == ["claimant"]


def test_the_claim_page_is_logged_as_a_page_view(app, client, post_request, volunteer):
    posted = post_request()
    claimant_id, phone, _, password = volunteer()
    _, other_phone, _, other_password = volunteer()
    pages = page_login(app, phone, password)
    pages.get("/volunteer/needs")
    token = CSRF.search(pages.get("/volunteer/needs").get_data(as_text=True))
    claimed = pages.post(
        f"/volunteer/claim/{posted['id']}", data={"csrf_token": token.group(1) or token.group(2)}
    )
    assert claimed.status_code == 302
    page = pages.get(f"/volunteer/claims/{posted['id']}")
    assert page.status_code == 200 and posted["contact_name"] in page.get_data(as_text=True)
    assert reveals(app) == [(posted["id"], claimant_id, "claimant", "page")]
    # Someone else's claim page is refused, and so not a reveal.
    other = page_login(app, other_phone, other_password)
    assert other.get(f"/volunteer/claims/{posted['id']}").status_code == 403
    assert len(reveals(app)) == 1


# -- reading the log ------------------------------------------------------------------------


def test_the_reveal_log_api_answers_the_requester_and_coordinators_only(
    app, client, post_request, volunteer, create_staff, create_user
):
    _, owner = create_user()
    payload = request_payload(at=BAC_GIANG)
    posted = client.post(API, json=payload, headers=owner).get_json()
    url = f"{API}/{posted['id']}/reveals"
    claimant_id, claimant_phone, claimant, _ = volunteer()
    _, _, bystander, _ = volunteer()
    own, other = create_staff(), create_staff(areas=("24-220",))
    client.post(f"{API}/{posted['id']}/claim", headers=claimant)
    client.get(f"{API}/{posted['id']}", headers=own)

    for headers in (manage(posted), owner, own, create_staff(role="admin")):
        response = client.get(url, headers=headers)
        assert response.status_code == 200, response.get_json()
        items = response.get_json()["items"]
        assert [(i["role"], i["channel"]) for i in items] == [
            ("coordinator", "api"),
            ("claimant", "api"),
        ]
        assert items[1]["viewer_id"] == claimant_id and items[1]["viewer_name"] == "Tình"
        assert items[0]["at"].endswith("Z")
        body = response.get_data(as_text=True)
        assert claimant_phone not in body and claimant_phone[3:] not in body
        assert VOLUNTEER_NAME not in body  # the given name only
    assert (
        client.get(url, headers=manage(posted), query_string={"limit": 1}).get_json()["items"][0][
            "role"
        ]
        == "coordinator"
    )

    assert client.get(url).status_code == 401
    for headers in (claimant, bystander, other, {"X-Manage-Token": "not-the-token"}):
        response = client.get(url, headers=headers)
        assert response.status_code == 403, headers
        assert response.get_json()["error"]["code"] == "forbidden"
    assert client.get(f"{API}/999999/reveals", headers=own).status_code == 404
    assert client.get(url, headers=own, query_string={"limit": 0}).status_code == 422


def test_the_reveal_log_is_documented(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    operation = spec["paths"][API + "/{request_id}/reveals"]["get"]
    assert "contact details" in operation["summary"] + operation.get("description", "")
    assert {p["name"] for p in operation.get("parameters", [])} >= {"limit"}


def test_the_manage_page_shows_who_saw_the_number(
    app, client, post_request, volunteer, create_staff
):
    posted = post_request(at=BAC_GIANG)
    page_url = f"/m/{posted['manage_token']}?lang=en"
    page = client.get(page_url).get_data(as_text=True)
    assert "Who has seen your phone number" in page and "No one yet." in page

    _, claimant_phone, claimant, _ = volunteer()
    client.post(f"{API}/{posted['id']}/claim", headers=claimant)
    client.get(f"{API}/{posted['id']}", headers=create_staff())
    page = client.get(page_url).get_data(as_text=True)
    assert "No one yet." not in page
    seen = page[page.index("Who has seen your phone number") :]
    assert "Volunteer Tình" in seen and "Coordinator viên" in seen
    assert claimant_phone not in page and "0" + claimant_phone[3:] not in page
    assert VOLUNTEER_NAME not in page
    assert page.count("data-seen-role=") == 2
    # Reading the page is not a reveal.
    assert len(reveals(app)) == 2


# -- GETs that log stay reliable under concurrent writers -----------------------------------


def test_logging_reveals_in_gets_survives_concurrent_writers(database_url, backend):
    """Readers whose every GET writes a reveal, while other clients post and edit: no GET
    fails and every view is logged (on SQLite a write inside the GET's deferred transaction
    would fail with SQLITE_BUSY_SNAPSHOT whenever another writer committed first)."""
    from connect.extensions import db

    app = make_app(database_url, REVEAL_LOG_WINDOW_SECONDS=0)
    try:
        setup = app.test_client()
        posted = setup.post(API, json=request_payload()).get_json()
        staff_phone, password = new_phone(), "dieu-phoi-1"
        result = app.test_cli_runner().invoke(
            args=[
                "connect",
                "create-user",
                "--phone",
                staff_phone,
                "--name",
                "Quản Trị",
                "--role",
                "admin",
                "--password",
                password,
            ]
        )
        assert result.exit_code == 0, result.output
        headers = {
            "Authorization": "Bearer "
            + setup.post(
                "/api/v1/auth/token", json={"phone": staff_phone, "password": password}
            ).get_json()["token"]
        }
        others = [setup.post(API, json=request_payload()).get_json() for _ in range(2)]
        statuses, errors = [], []
        start = threading.Barrier(6)

        def read():
            client = app.test_client()
            start.wait()
            for _ in range(25):
                statuses.append(client.get(f"{API}/{posted['id']}", headers=headers).status_code)

        def write(other):
            client = app.test_client()
            start.wait()
            for i in range(25):
                response = client.patch(
                    f"{API}/{other['id']}",
                    headers=manage(other),
                    json={"household_size": 1 + i % 9},
                )
                if response.status_code != 200:
                    errors.append(response.status_code)
                response = client.post(API, json=request_payload())
                if response.status_code != 201:
                    errors.append(response.status_code)

        threads = [threading.Thread(target=read) for _ in range(4)] + [
            threading.Thread(target=write, args=(other,)) for other in others
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        assert errors == []
        assert statuses == [200] * 100
        with app.app_context():
            from connect.requests.models import ContactReveal

            logged = db.session.execute(select(func.count(ContactReveal.id))).scalar_one()
            db.session.remove()
        assert logged == 100
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
