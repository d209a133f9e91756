"""The resident's pages: home, posting a request (with and without JavaScript), the private
manage page, edit, cancel and confirm. CSRF protection stays on, as in production."""

import re
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

API = "/api/v1/requests"
CSRF = re.compile(r'name="csrf_token"[^>]*?value="([^"]+)"')
NO_REFERRER_META = '<meta name="referrer" content="no-referrer">'


# -- helpers ---------------------------------------------------------------------------


def csrf_token(client, path):
    response = client.get(path)
    assert response.status_code == 200, response.status_code
    match = CSRF.search(response.get_data(as_text=True))
    assert match, "no CSRF token in the form"
    return match.group(1)


def answers(**overrides):
    """A complete form as a browser with JavaScript sends it (pin set, no place chosen)."""
    data = {
        "categories": ["medicine", "food"],
        "description": "Cần gạo và thuốc hạ sốt",
        "household_size": "4",
        "urgency": "urgent",
        "lat": "21.280100",
        "lon": "106.201200",
        "place": "",
        "contact_name": "Nguyễn Văn An",
        "phone": "0912 345 678",
        "address": "12 Ngõ 3, Trần Phú",
    }
    data.update(overrides)
    return {key: value for key, value in data.items() if value is not None}


def post_form(client, path="/need-help", **overrides):
    data = answers(**overrides)
    data["csrf_token"] = csrf_token(client, path)
    return client.post(path, data=data)


def html(response):
    return response.get_data(as_text=True)


def field_errors(response):
    """{field id: error text} of the messages shown at each question."""
    return {
        name: re.sub(r"<[^>]+>|\s+", " ", text).strip()
        for name, text in re.findall(
            r'<div class="field-error" id="([\w-]+)-error">(.*?)</div>', html(response), re.S
        )
    }


def all_requests(app):
    from connect.extensions import db
    from connect.requests.models import HelpRequest

    with app.app_context():
        rows = db.session.execute(select(HelpRequest).order_by(HelpRequest.id)).scalars().all()
        db.session.expunge_all()
        return rows


def stored(app, request_id):
    from connect.extensions import db
    from connect.requests.models import HelpRequest
    from connect.spatial import latlon

    with app.app_context():
        row = db.session.get(HelpRequest, request_id)
        db.session.refresh(row)
        row.exact = latlon(row.location)
        db.session.expunge(row)
        return row


def events(app, request_id):
    from connect.extensions import db
    from connect.requests.models import RequestEvent

    with app.app_context():
        return [
            (e.from_status, e.to_status, e.actor_kind, e.reason)
            for e in db.session.execute(
                select(RequestEvent)
                .where(RequestEvent.request_id == request_id)
                .order_by(RequestEvent.id)
            ).scalars()
        ]


def posted_via_page(client, app, **overrides):
    """Post through the page; returns (request id, manage path)."""
    response = post_form(client, **overrides)
    assert response.status_code == 302, html(response)[:2000]
    path = urlsplit(response.headers["Location"]).path
    return all_requests(app)[-1].id, path


# -- home --------------------------------------------------------------------------------


def test_home_shows_the_count_of_neighbours_helped(client, post_request, create_volunteer):
    posted = post_request()
    volunteer = create_volunteer()
    assert client.post(f"{API}/{posted['id']}/claim", headers=volunteer).status_code == 200
    assert client.post(f"{API}/{posted['id']}/helped", headers=volunteer).status_code == 200

    page = html(client.get("/?lang=en"))
    assert 'data-count="1"' in page
    assert "1 neighbour helped so far" in page  # singular
    assert 'data-stats-url="/api/v1/stats"' in page
    assert 'data-one="{count} neighbour helped so far"' in page
    assert 'data-other="{count} neighbours helped so far"' in page
    assert "js/home.js" in page
    assert "leaflet" not in page  # the map library loads only where a map is


def test_home_count_uses_the_plural_form(client):
    page = html(client.get("/?lang=en"))
    assert "0 neighbours helped so far" in page


def test_home_page_never_asks_for_the_location():
    from pathlib import Path

    script = (Path(__file__).resolve().parents[2] / "connect/static/js/home.js").read_text()
    assert "geolocation" not in script


# -- posting -----------------------------------------------------------------------------


def test_post_form_has_a_csrf_token_and_the_questions(client):
    response = client.get("/need-help?lang=en")
    page = html(response)
    assert response.status_code == 200
    assert CSRF.search(page)
    for name in (
        "categories",
        "description",
        "household_size",
        "urgency",
        "lat",
        "lon",
        "place",
        "contact_name",
        "phone",
        "address",
    ):
        assert f'name="{name}"' in page, name
    assert page.count('type="checkbox" name="categories"') == 5
    assert "vendor/leaflet/leaflet.js" in page and "js/location-picker.js" in page
    assert "Use my location" in page


def test_post_page_first_load_is_at_most_150_kb_before_map_tiles(client):
    """What a phone's browser fetches (page, styles, scripts), compressed as it asks over
    http, headers included; map tiles come later and are not counted."""
    compressed = {"Accept-Encoding": "gzip, deflate"}
    path = "/need-help"
    page = html(client.get(path))
    assets = re.findall(r'<(?:link rel="stylesheet" href|script src)="([^"]+)"', page)
    assert any("leaflet.js" in asset for asset in assets)
    total = 0
    for url in [path, *assets]:
        response = client.get(url, headers=compressed)
        assert response.status_code == 200, url
        assert response.headers.get("Content-Encoding") in ("gzip", "deflate"), url
        total += len(response.data) + sum(len(k) + len(v) + 4 for k, v in response.headers)
    assert total <= 150 * 1024, f"{total / 1024:.1f} KB"


def test_post_without_csrf_token_is_refused(app, client):
    response = client.post("/need-help", data=answers())
    assert response.status_code == 400
    assert response.mimetype == "text/html"
    assert all_requests(app) == []


def test_post_with_a_wrong_csrf_token_is_refused(app, client):
    csrf_token(client, "/need-help")
    response = client.post("/need-help", data={**answers(), "csrf_token": "forged"})
    assert response.status_code == 400
    assert all_requests(app) == []


def test_valid_post_creates_a_web_request_and_opens_its_manage_page(app, client):
    response = post_form(client)
    assert response.status_code == 302
    path = urlsplit(response.headers["Location"]).path
    assert re.fullmatch(r"/m/[A-Za-z0-9_-]{43}", path)

    (help_request,) = all_requests(app)
    assert help_request.source == "web"
    assert help_request.status == "open"
    assert help_request.categories == ["food", "medicine"]  # stored in the fixed order
    assert help_request.phone == "+84912345678"  # normalised like the API
    assert (help_request.household_size, help_request.urgency) == (4, "urgent")
    assert help_request.address == "12 Ngõ 3, Trần Phú"
    assert stored(app, help_request.id).exact == pytest.approx((21.2801, 106.2012))
    assert events(app, help_request.id) == [(None, "open", "requester", "posted")]

    with app.app_context():
        from connect.requests.queries import find_by_manage_token

        assert find_by_manage_token(path.rsplit("/", 1)[1]).id == help_request.id
    manage = client.get(path)
    assert manage.status_code == 200


def test_errors_are_shown_per_field_and_answers_are_kept(app, client):
    response = post_form(
        client,
        path="/need-help?lang=en",
        categories=None,
        description="  ",
        household_size="many",
        urgency="normal",
    )
    assert response.status_code == 422
    errors = field_errors(response)
    assert set(errors) == {"categories", "description", "household_size"}
    assert errors["categories"] == "Choose at least one thing you need."
    assert errors["description"] == "Write what you need, in a few words."
    assert errors["household_size"] == "Write a number, for example 4."
    page = html(response)
    assert 'class="error-summary"' in page and 'href="#categories"' in page
    # Everything typed is still there.
    assert 'value="Nguyễn Văn An"' in page
    assert 'value="0912 345 678"' in page
    assert 'value="many"' in page
    assert 'value="12 Ngõ 3, Trần Phú"' in page
    assert 'value="21.280100"' in page and 'value="106.201200"' in page
    assert re.search(r'value="normal"[^>]*checked', page)
    assert re.search(
        r'<textarea aria-describedby="description-hint description-error" '
        r'aria-invalid="true"[^>]*id="description"',
        page,
    )
    assert all_requests(app) == []


def test_a_chosen_category_stays_chosen_after_an_error(client):
    response = post_form(client, categories=["supplies"], description="")
    assert response.status_code == 422
    page = html(response)
    assert re.search(r'value="supplies" id="categories-supplies"\s+checked', page)
    assert not re.search(r'value="food" id="categories-food"\s+checked', page)


@pytest.mark.parametrize("phone", ["12345", "0212 345 678", "+1 202 555 0143", "091234567a"])
def test_a_bad_phone_number_is_explained_in_plain_words(app, client, phone):
    response = post_form(client, path="/need-help?lang=en", phone=phone)
    assert response.status_code == 422
    assert field_errors(response) == {
        "phone": (
            "This phone number does not look right. Write your mobile number: 10 digits "
            "starting with 0, for example 0912 345 678."
        )
    }
    assert f'value="{phone}"' in html(response)
    assert all_requests(app) == []


def test_household_size_is_between_1_and_50(client):
    response = post_form(client, path="/need-help?lang=en", household_size="0")
    assert field_errors(response) == {"household_size": "Write a number from 1 to 50."}
    assert post_form(client, household_size="51").status_code == 422
    assert post_form(client, household_size=" 50 ").status_code == 302


def test_a_location_is_needed(app, client):
    response = post_form(client, path="/need-help?lang=en", lat="", lon="", place="")
    assert response.status_code == 422
    assert set(field_errors(response)) == {"location"}
    assert "choose your area from the list" in field_errors(response)["location"]
    assert post_form(client, lat="91", lon="106.2").status_code == 422
    assert post_form(client, lat="nan", lon="106.2").status_code == 422
    assert all_requests(app) == []


def test_without_javascript_a_place_from_the_list_is_the_location(app, client):
    name, lat, lon = app.config["PLACES"][2]
    page = html(client.get("/need-help"))
    assert f">{name}</option>" in page

    request_id, _ = posted_via_page(client, app, lat=None, lon=None, place="2")
    assert stored(app, request_id).exact == pytest.approx((lat, lon))


def test_a_chosen_place_wins_over_an_old_pin(app, client):
    _, lat, lon = app.config["PLACES"][4]
    request_id, _ = posted_via_page(client, app, place="4")
    assert stored(app, request_id).exact == pytest.approx((lat, lon))


def test_an_unknown_place_is_refused(app, client):
    assert post_form(client, lat="", lon="", place="99").status_code == 422
    assert all_requests(app) == []


def test_the_places_list_comes_from_config(database_url):
    from conftest import make_app

    app = make_app(database_url, PLACES=(("Thôn Đông", 21.3, 106.3),))
    page = html(app.test_client().get("/need-help"))
    assert 'data-lat="21.3" data-lon="106.3"' in page and ">Thôn Đông</option>" in page
    assert "Lục Nam" not in page


def test_the_form_is_in_vietnamese_by_default_and_english_on_request(client):
    assert '<html lang="vi"' in html(client.get("/need-help"))
    assert "Ask for help" in html(client.get("/need-help?lang=en"))


# -- the manage page ---------------------------------------------------------------------


def test_manage_page_shows_status_request_and_private_link(app, client):
    request_id, path = posted_via_page(client, app)
    response = client.get(path + "?lang=en")
    page = html(response)
    assert response.status_code == 200
    assert "Waiting for a volunteer" in page
    assert 'data-status="open"' in page
    assert "Cần gạo và thuốc hạ sốt" in page
    assert "0912 345 678" in page and "Nguyễn Văn An" in page
    assert f"http://localhost{path}" in page  # the link itself, as selectable text
    assert "the only key to your request" in page
    assert "data-copy=" in page and "js/resident.js" in page
    assert f'data-poll-url="{API}/{request_id}"' in page
    assert f'data-manage-token="{path.rsplit("/", 1)[1]}"' in page
    assert "aria-live" in page
    assert "leaflet" not in page


def test_manage_pages_never_send_the_link_as_a_referrer(app, client):
    _, path = posted_via_page(client, app)
    for page in (path, path + "/edit", path + "/cancel"):
        response = client.get(page)
        assert response.status_code == 200, page
        assert NO_REFERRER_META in html(response), page
        assert response.headers["Referrer-Policy"] == "no-referrer"
        assert response.headers["Cache-Control"] == "no-store"


def test_a_wrong_token_is_404_and_tells_nothing(app, client):
    _, path = posted_via_page(client, app)
    token = path.rsplit("/", 1)[1]
    wrong = token[:-1] + ("A" if token[-1] != "A" else "B")
    client.get(path)  # shows (and so clears) the "posted" message
    pages = [html(client.get(f"/m/{t}")) for t in (wrong, "x", "a" * 500)]
    for t in (wrong, "x", "a" * 500):
        response = client.get(f"/m/{t}")
        assert response.status_code == 404
        assert response.mimetype == "text/html"
        assert "Cần gạo" not in html(response) and "0912" not in html(response)
    assert pages[0] == pages[1] == pages[2]  # one answer for every wrong link
    assert client.get(f"/m/{wrong}/edit").status_code == 404
    assert client.get(f"/m/{wrong}/cancel").status_code == 404
    token_field = csrf_token(client, path)
    assert client.post(f"/m/{wrong}/cancel", data={"csrf_token": token_field}).status_code == 404
    assert client.post(f"/m/{wrong}/confirm", data={"csrf_token": token_field}).status_code == 404


def test_the_status_poll_the_page_uses_answers_with_the_manage_token(app, client):
    request_id, path = posted_via_page(client, app)
    body = client.get(
        f"{API}/{request_id}", headers={"X-Manage-Token": path.rsplit("/", 1)[1]}
    ).get_json()
    assert body["status"] == "open" and body["phone"] == "+84912345678"


# -- edit, cancel, confirm ---------------------------------------------------------------


def test_edit_page_is_filled_in_with_the_request(app, client):
    _, path = posted_via_page(client, app)
    page = html(client.get(path + "/edit"))
    assert "Cần gạo và thuốc hạ sốt" in page
    assert 'value="0912 345 678"' in page
    assert re.search(r'value="food" id="categories-food"\s+checked', page)
    assert re.search(r'value="urgent"[^>]*checked', page)
    assert 'value="21.2801"' in page


def test_edit_changes_the_request_and_is_recorded(app, client):
    request_id, path = posted_via_page(client, app)
    before = stored(app, request_id)
    response = post_form(
        client,
        path=path + "/edit",
        categories=["supplies"],
        description="Cần khẩu trang",
        household_size="2",
        urgency="normal",
        contact_name="Trần Thị Bình",
        phone="0987654321",
        address="",
        lat="21.2801",
        lon="106.2012",
    )
    assert response.status_code == 302
    assert urlsplit(response.headers["Location"]).path == path

    after = stored(app, request_id)
    assert after.categories == ["supplies"] and after.description == "Cần khẩu trang"
    assert (after.household_size, after.urgency) == (2, "normal")
    assert (after.contact_name, after.phone, after.address) == (
        "Trần Thị Bình",
        "+84987654321",
        None,
    )
    assert after.public_location == before.public_location  # the pin did not move
    assert events(app, request_id)[-1] == ("open", "open", "requester", "edited")
    assert "Cần khẩu trang" in html(client.get(path))


def test_edit_errors_are_per_field_and_change_nothing(app, client):
    request_id, path = posted_via_page(client, app)
    response = post_form(client, path=path + "/edit?lang=en", phone="123", description="New")
    assert response.status_code == 422
    assert set(field_errors(response)) == {"phone"}
    assert 'value="123"' in html(response)
    assert stored(app, request_id).description == "Cần gạo và thuốc hạ sốt"
    assert NO_REFERRER_META in html(response)


def test_edit_moves_the_request_with_a_place_from_the_list(app, client):
    request_id, path = posted_via_page(client, app)
    _, lat, lon = app.config["PLACES"][1]
    assert post_form(client, path=path + "/edit", place="1").status_code == 302
    assert stored(app, request_id).exact == pytest.approx((lat, lon))


def test_cancel_asks_first_then_cancels(app, client):
    request_id, path = posted_via_page(client, app)
    confirm_page = client.get(path + "/cancel?lang=en")
    assert "Yes, cancel my request" in html(confirm_page)
    assert stored(app, request_id).status == "open"  # asking changes nothing

    response = client.post(path + "/cancel", data={"csrf_token": csrf_token(client, path)})
    assert response.status_code == 302
    assert stored(app, request_id).status == "cancelled"
    assert events(app, request_id)[-1][:3] == ("open", "cancelled", "requester")

    page = html(client.get(path + "?lang=en"))
    assert 'data-status="cancelled"' in page and "You cancelled this request" in page
    # A closed request cannot be edited or cancelled again: back to its page, with a word.
    again = client.get(path + "/edit")
    assert again.status_code == 302 and urlsplit(again.headers["Location"]).path == path
    assert "can no longer be changed" in html(client.get(path + "?lang=en"))


def test_cancel_without_csrf_token_is_refused(app, client):
    request_id, path = posted_via_page(client, app)
    assert client.post(path + "/cancel").status_code == 400
    assert stored(app, request_id).status == "open"


def test_confirm_after_the_volunteer_marked_helped(app, client, create_volunteer):
    request_id, path = posted_via_page(client, app)
    volunteer = create_volunteer()
    assert client.post(f"{API}/{request_id}/claim", headers=volunteer).status_code == 200
    page = html(client.get(path + "?lang=en"))
    assert 'data-status="claimed"' in page and "A volunteer is coming" in page
    assert client.post(f"{API}/{request_id}/helped", headers=volunteer).status_code == 200
    page = html(client.get(path + "?lang=en"))
    assert re.search(
        r'<form method="post" action="[^"]*/confirm"\s+data-when="claimed helped"\s*>', page
    ), "the confirm button shows once helped"

    response = client.post(path + "/confirm", data={"csrf_token": csrf_token(client, path)})
    assert response.status_code == 302
    assert stored(app, request_id).status == "confirmed"
    assert events(app, request_id)[-1][:3] == ("helped", "confirmed", "requester")
    assert "You have been helped" in html(client.get(path + "?lang=en"))


def test_confirm_while_claimed(app, client, create_volunteer):
    request_id, path = posted_via_page(client, app)
    assert client.post(f"{API}/{request_id}/claim", headers=create_volunteer()).status_code == 200
    client.post(path + "/confirm", data={"csrf_token": csrf_token(client, path)})
    assert stored(app, request_id).status == "confirmed"


def test_confirm_of_an_open_request_changes_nothing(app, client):
    client.get("/?lang=en")  # messages are worded in the language of the request they follow
    request_id, path = posted_via_page(client, app)
    page = html(client.get(path))
    assert re.search(r'data-when="claimed helped" hidden', page)  # no button while open
    response = client.post(path + "/confirm", data={"csrf_token": csrf_token(client, path)})
    assert response.status_code == 302
    assert stored(app, request_id).status == "open"
    assert "nothing to confirm yet" in html(client.get(path))


def test_a_request_posted_by_api_has_a_manage_page_too(client, post_request):
    posted = post_request()
    response = client.get(f"/m/{posted['manage_token']}")
    assert response.status_code == 200 and posted["description"] in html(response)
