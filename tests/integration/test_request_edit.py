"""Editing a request: PATCH /api/v1/requests/{id} and editing.edit_request."""

from datetime import timedelta

import pytest
from sqlalchemy import select

from connect.geo import haversine_m

from conftest import BAC_GIANG, request_payload

API = "/api/v1/requests"
# About 2.2 km north-east of BAC_GIANG: far enough that a 2 km nearby list changes.
ELSEWHERE = (21.2871, 106.2096)


def manage(posted):
    return {"X-Manage-Token": posted["manage_token"]}


def patch(client, request_id, body, headers=None):
    return client.patch(f"{API}/{request_id}", json=body, headers=headers or {})


def row(app, request_id):
    """(exact, public, change_seq, expires_at) as stored."""
    from connect.extensions import db
    from connect.requests.models import HelpRequest
    from connect.spatial import latlon

    with app.app_context():
        r = db.session.get(HelpRequest, request_id)
        return latlon(r.location), latlon(r.public_location), r.change_seq, r.expires_at


def last_event(app, request_id):
    from connect.extensions import db
    from connect.requests.models import RequestEvent

    with app.app_context():
        e = db.session.execute(
            select(RequestEvent)
            .where(RequestEvent.request_id == request_id)
            .order_by(RequestEvent.id.desc())
            .limit(1)
        ).scalar_one()
        return e.from_status, e.to_status, e.actor_kind, e.reason, e.actor_id


def nearby(client, at, **params):
    response = client.get(f"{API}/nearby", query_string={"lat": at[0], "lon": at[1], **params})
    assert response.status_code == 200, response.get_json()
    return {item["id"]: item for item in response.get_json()["items"]}


# -- who may edit ------------------------------------------------------------------------


def test_the_requester_edits_with_the_manage_token(app, client, post_request):
    posted = post_request()
    response = patch(
        client,
        posted["id"],
        {
            "description": "Cần sữa cho em bé",
            "household_size": 3,
            "urgency": "urgent",
            "phone": "0987 654 321",
        },
        manage(posted),
    )
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["description"] == "Cần sữa cho em bé"
    assert (body["household_size"], body["urgency"]) == (3, "urgent")
    assert body["phone"] == "+84987654321"  # normalised, and shown to the requester
    assert body["contact_name"] == posted["contact_name"]  # what was not sent stays
    assert body["categories"] == posted["categories"] and body["status"] == "open"
    assert "manage_token" not in body
    assert last_event(app, posted["id"])[:4] == ("open", "open", "requester", "edited")


def test_the_requester_edits_with_their_own_account(app, client, create_user):
    user, headers = create_user()
    posted = client.post(API, json=request_payload(), headers=headers).get_json()
    response = patch(client, posted["id"], {"address": None}, headers)
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["address"] is None
    assert last_event(app, posted["id"])[2:] == ("requester", "edited", user["id"])


def test_a_coordinator_edits(app, client, post_request, create_staff):
    posted = post_request()
    response = patch(
        client, posted["id"], {"description": "Sửa bởi điều phối viên"}, create_staff()
    )
    assert response.status_code == 200
    assert response.get_json()["description"] == "Sửa bởi điều phối viên"
    assert last_event(app, posted["id"])[:4] == ("open", "open", "coordinator", "edited")


@pytest.mark.parametrize("who", ["nobody", "stranger", "wrong_token", "claimant"])
def test_others_cannot_edit(client, post_request, create_user, create_volunteer, who):
    posted = post_request()
    if who == "nobody":
        headers = {}
    elif who == "stranger":
        headers = create_user()[1]
    elif who == "wrong_token":
        headers = {"X-Manage-Token": posted["manage_token"][:-2] + "xx"}
    else:
        headers = create_volunteer()
        assert client.post(f"{API}/{posted['id']}/claim", headers=headers).status_code == 200
    response = patch(client, posted["id"], {"description": "Không phải của bạn"}, headers)
    assert response.status_code == 403
    assert response.get_json()["error"]["code"] == "forbidden"
    assert client.get(f"{API}/{posted['id']}").get_json()["description"] == posted["description"]


def test_edit_of_an_unknown_request_is_404(client):
    assert (
        patch(client, 999999, {"description": "x"}, {"X-Manage-Token": "nope"}).status_code == 404
    )


# -- when -----------------------------------------------------------------------------------


def test_a_claimed_request_can_still_be_edited(app, client, post_request, create_volunteer):
    posted = post_request()
    volunteer = create_volunteer()
    assert client.post(f"{API}/{posted['id']}/claim", headers=volunteer).status_code == 200
    response = patch(client, posted["id"], {"address": "Số 5 Ngõ 9"}, manage(posted))
    assert response.status_code == 200
    assert response.get_json()["status"] == "claimed"
    # The volunteer holding the claim sees the new address.
    assert (
        client.get(f"{API}/{posted['id']}", headers=volunteer).get_json()["address"]
        == "Số 5 Ngõ 9"
    )
    assert last_event(app, posted["id"])[:4] == ("claimed", "claimed", "requester", "edited")


@pytest.mark.parametrize("closing", ["cancel", "confirm"])
def test_a_closed_request_cannot_be_edited(client, post_request, create_volunteer, closing):
    posted = post_request()
    if closing == "confirm":
        volunteer = create_volunteer()
        client.post(f"{API}/{posted['id']}/claim", headers=volunteer)
    assert (
        client.post(f"{API}/{posted['id']}/{closing}", headers=manage(posted)).status_code == 200
    )
    response = patch(client, posted["id"], {"description": "Quá muộn"}, manage(posted))
    assert response.status_code == 409
    assert response.get_json()["error"]["code"] == "request_closed"
    assert client.get(f"{API}/{posted['id']}").get_json()["description"] == posted["description"]


def test_an_expired_request_cannot_be_edited(app, client, post_request, monkeypatch):
    from connect import clock

    posted = post_request()
    later = clock.now() + timedelta(seconds=app.config["REQUEST_EXPIRY_SECONDS"] + 60)
    monkeypatch.setattr(clock, "now", lambda: later)
    response = patch(client, posted["id"], {"description": "Quá muộn"}, manage(posted))
    assert response.status_code == 409
    assert response.get_json()["error"]["details"] == {"status": "expired"}


def test_an_edit_keeps_an_open_request_listed_longer(app, client, post_request, monkeypatch):
    from connect import clock

    posted = post_request()
    _, _, _, expires_before = row(app, posted["id"])
    later = clock.now() + timedelta(hours=1)
    monkeypatch.setattr(clock, "now", lambda: later)
    assert patch(client, posted["id"], {"household_size": 5}, manage(posted)).status_code == 200
    _, _, _, expires_after = row(app, posted["id"])
    assert expires_after - expires_before == pytest.approx(
        timedelta(hours=1), abs=timedelta(seconds=5)
    )


# -- what ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body, field",
    [
        ({}, "_schema"),
        ({"phone": "12345"}, "phone"),
        ({"household_size": 0}, "household_size"),
        ({"categories": []}, "categories"),
        ({"categories": ["weapons"]}, "categories"),
        ({"description": None}, "description"),
        ({"location": {"lat": 91, "lon": 106}}, "location"),
        ({"status": "confirmed"}, "status"),  # not a field anyone edits
    ],
)
def test_invalid_edits_are_422_per_field(client, post_request, body, field):
    posted = post_request()
    response = patch(client, posted["id"], body, manage(posted))
    assert response.status_code == 422, response.get_json()
    assert field in response.get_json()["error"]["details"]["fields"]


def test_categories_are_stored_once_each_in_the_fixed_order(client, post_request):
    posted = post_request()
    response = patch(
        client, posted["id"], {"categories": ["other", "food", "other"]}, manage(posted)
    )
    assert response.get_json()["categories"] == ["food", "other"]


def test_moving_the_pin_reblurs_the_public_point(app, client, post_request):
    posted = post_request(at=BAC_GIANG)
    old_exact, old_public, old_seq, _ = row(app, posted["id"])
    response = patch(
        client,
        posted["id"],
        {"location": {"lat": ELSEWHERE[0], "lon": ELSEWHERE[1]}},
        manage(posted),
    )
    assert response.status_code == 200
    new_exact, new_public, new_seq, _ = row(app, posted["id"])
    assert new_exact == pytest.approx(ELSEWHERE)
    assert 150 <= haversine_m(*new_exact, *new_public) <= 400
    assert haversine_m(*new_public, *old_public) > 1000
    # Seeded by the new place's grid cell, not by the request: whoever knew the old exact
    # point and its blur cannot undo the new one by applying the same offset.
    shifted = (
        old_public[0] - old_exact[0] + new_exact[0],
        old_public[1] - old_exact[1] + new_exact[1],
    )
    assert haversine_m(*shifted, *new_public) > 20
    assert new_seq > old_seq
    body = response.get_json()
    assert body["exact_location"] == pytest.approx({"lat": ELSEWHERE[0], "lon": ELSEWHERE[1]})
    assert body["location"] == pytest.approx(
        {"lat": round(new_public[0], 5), "lon": round(new_public[1], 5)}
    )


def test_moving_back_gives_the_first_public_point_again(app, client, post_request):
    posted = post_request(at=BAC_GIANG)
    _, first_public, _, _ = row(app, posted["id"])
    for at in (ELSEWHERE, BAC_GIANG):
        patch(client, posted["id"], {"location": {"lat": at[0], "lon": at[1]}}, manage(posted))
    _, public, _, _ = row(app, posted["id"])
    assert public == pytest.approx(first_public)


def test_the_same_pin_sent_again_is_not_a_move(app, client, post_request):
    posted = post_request(at=BAC_GIANG)
    exact, public, _, _ = row(app, posted["id"])
    # A browser may send the pin back rounded to 6 decimals (0.1 m).
    patch(
        client,
        posted["id"],
        {
            "location": {"lat": round(BAC_GIANG[0] + 4e-7, 6), "lon": BAC_GIANG[1]},
            "description": "Vẫn ở đây",
        },
        manage(posted),
    )
    assert row(app, posted["id"])[:2] == (exact, public)


def test_the_service_changes_only_the_fields_given(app, post_request):
    posted = post_request()
    from connect.extensions import db
    from connect.requests import editing

    with app.app_context():
        edited = editing.edit_request(
            posted["id"], {"household_size": 7}, None, posted["manage_token"]
        )
        db.session.commit()
        assert edited.household_size == 7
        assert (edited.description, edited.contact_name, edited.address, edited.urgency) == (
            posted["description"],
            posted["contact_name"],
            posted["address"],
            posted["urgency"],
        )


def test_find_by_manage_token(app, post_request):
    posted = post_request()
    from connect.requests.queries import find_by_manage_token

    with app.app_context():
        assert find_by_manage_token(posted["manage_token"]).id == posted["id"]
        for wrong in ("", None, posted["manage_token"][:-1], "x" * 10_000, 42):
            assert find_by_manage_token(wrong) is None


# -- the read model ----------------------------------------------------------------------------


def test_nearby_lists_show_edits_at_once(client, post_request):
    posted = post_request(at=BAC_GIANG)
    assert nearby(client, BAC_GIANG)[posted["id"]]["description"] == posted["description"]

    patch(
        client,
        posted["id"],
        {
            "description": "Cần thuốc ho",
            "categories": ["medicine"],
            "urgency": "urgent",
            "household_size": 6,
        },
        manage(posted),
    )
    item = nearby(client, BAC_GIANG)[posted["id"]]
    assert (item["description"], item["categories"], item["urgency"], item["household_size"]) == (
        "Cần thuốc ho",
        ["medicine"],
        "urgent",
        6,
    )
    assert posted["id"] in nearby(client, BAC_GIANG, categories="medicine")
    assert posted["id"] not in nearby(client, BAC_GIANG, categories="food")


def test_nearby_lists_follow_a_moved_pin(client, post_request):
    posted = post_request(at=BAC_GIANG)
    before = nearby(client, BAC_GIANG, radius_m=1000)[posted["id"]]
    patch(
        client,
        posted["id"],
        {"location": {"lat": ELSEWHERE[0], "lon": ELSEWHERE[1]}},
        manage(posted),
    )
    assert posted["id"] not in nearby(client, BAC_GIANG, radius_m=1000)
    after = nearby(client, ELSEWHERE, radius_m=1000)[posted["id"]]
    assert after["location"] != before["location"]
    assert after["distance_m"] == 0  # measured from the real (moved) place
