"""Duplicates on posting, on both databases: one active request per phone (answered 409
`duplicate_request`, naming the existing request only to its owner), also when posts race;
and same-category requests within 100 m in 48 h from another phone flagged for coordinators.
"""

import math
import threading
from collections import Counter

import pytest
from sqlalchemy import select

from connect.geo import EARTH_RADIUS_M, haversine_m

from conftest import BAC_GIANG, new_phone, request_payload

API = "/api/v1/requests"


def shifted(point, north_m=0.0, east_m=0.0):
    lat, lon = point
    return (
        lat + math.degrees(north_m / EARTH_RADIUS_M),
        lon + math.degrees(east_m / (EARTH_RADIUS_M * math.cos(math.radians(lat)))),
    )


def post(client, headers=None, **overrides):
    return client.post(API, json=request_payload(**overrides), headers=headers or {})


def assert_duplicate(response, request_id=None):
    body = response.get_json()
    assert response.status_code == 409, body
    assert body["error"]["code"] == "duplicate_request", body
    if request_id is None:
        assert body["error"]["details"] == {}, body
        # Nothing of the existing request in the words either.
        assert "request_id" not in response.get_data(as_text=True)
    else:
        assert body["error"]["details"]["request_id"] == request_id, body
    return body["error"]


def rows(app, phone):
    from connect.extensions import db
    from connect.requests.models import HelpRequest

    with app.app_context():
        found = [
            (r.id, r.status)
            for r in db.session.execute(
                select(HelpRequest).where(HelpRequest.phone == phone).order_by(HelpRequest.id)
            ).scalars()
        ]
        db.session.remove()
        return found


def flags(app):
    from connect.extensions import db
    from connect.safety.models import RequestFlag

    with app.app_context():
        found = [
            (f.request_id, f.kind, f.related_request_id)
            for f in db.session.execute(select(RequestFlag).order_by(RequestFlag.id)).scalars()
        ]
        db.session.remove()
        return found


# -- one active request per phone --------------------------------------------------------


def test_a_second_post_with_the_same_phone_is_409_and_names_nothing(app, client):
    phone = new_phone()
    first = post(client, phone=phone)
    assert first.status_code == 201
    error = assert_duplicate(post(client, phone=phone, description="Lần nữa"))
    assert "update" in error["message"].lower()
    assert rows(app, phone) == [(first.get_json()["id"], "open")]


def test_the_owner_by_manage_token_is_told_which_request(client):
    phone = new_phone()
    first = post(client, phone=phone).get_json()
    other = post(client).get_json()
    error = assert_duplicate(
        post(client, {"X-Manage-Token": first["manage_token"]}, phone=phone), first["id"]
    )
    assert error["details"]["manage_url"].endswith(f"/m/{first['manage_token']}")
    # Another request's token proves nothing about this one.
    assert_duplicate(post(client, {"X-Manage-Token": other["manage_token"]}, phone=phone))
    assert_duplicate(post(client, {"X-Manage-Token": "not-a-token"}, phone=phone))


def test_the_owner_by_account_is_told_which_request(client, create_user):
    _, owner = create_user()
    _, stranger = create_user()
    phone = new_phone()
    first = post(client, owner, phone=phone).get_json()
    body = assert_duplicate(post(client, owner, phone=phone), first["id"])
    assert "manage_url" not in body["details"]
    assert_duplicate(post(client, stranger, phone=phone))


def test_a_coordinator_of_the_request_is_told_which_request(client, create_staff):
    phone = new_phone()
    first = post(client, phone=phone).get_json()
    assert_duplicate(post(client, create_staff(), phone=phone), first["id"])
    assert_duplicate(post(client, create_staff(areas=("24-220",)), phone=phone))


def test_a_claimed_request_blocks_the_phone_too(client, create_volunteer):
    phone = new_phone()
    first = post(client, phone=phone).get_json()
    assert client.post(f"{API}/{first['id']}/claim", headers=create_volunteer()).status_code == 200
    assert_duplicate(post(client, phone=phone))


@pytest.mark.parametrize("closing", ["cancel", "helped"])
def test_once_the_request_is_closed_the_phone_can_post_again(client, create_volunteer, closing):
    phone = new_phone()
    first = post(client, phone=phone).get_json()
    if closing == "cancel":
        response = client.post(
            f"{API}/{first['id']}/cancel", headers={"X-Manage-Token": first["manage_token"]}
        )
    else:
        volunteer = create_volunteer()
        assert client.post(f"{API}/{first['id']}/claim", headers=volunteer).status_code == 200
        response = client.post(f"{API}/{first['id']}/helped", headers=volunteer)
    assert response.status_code == 200
    assert post(client, phone=phone).status_code == 201


def test_an_expired_request_is_expired_first_then_the_phone_posts(app, client, clock):
    phone = new_phone()
    first = post(client, phone=phone).get_json()
    clock.advance(hours=72, seconds=1)
    second = post(client, phone=phone)
    assert second.status_code == 201, second.get_json()
    assert rows(app, phone) == [(first["id"], "expired"), (second.get_json()["id"], "open")]


def test_a_lapsed_claim_reopens_the_request_which_still_blocks(
    app, client, clock, create_volunteer
):
    phone = new_phone()
    first = post(client, phone=phone).get_json()
    assert client.post(f"{API}/{first['id']}/claim", headers=create_volunteer()).status_code == 200
    clock.advance(hours=4, seconds=1)
    assert_duplicate(post(client, phone=phone))
    assert client.get(f"{API}/{first['id']}").get_json()["status"] == "open"
    assert len(rows(app, phone)) == 1


def test_editing_the_phone_to_one_with_an_open_request_is_409(app, client):
    taken = new_phone()
    holder = post(client, phone=taken).get_json()
    mine = post(client).get_json()
    url, headers = f"{API}/{mine['id']}", {"X-Manage-Token": mine["manage_token"]}
    assert_duplicate(client.patch(url, headers=headers, json={"phone": taken}))
    assert client.get(url, headers=headers).get_json()["phone"] == mine["phone"]
    # The same phone again is not a change; a free one is fine.
    assert client.patch(url, headers=headers, json={"phone": mine["phone"]}).status_code == 200
    free = new_phone()
    assert client.patch(url, headers=headers, json={"phone": free}).status_code == 200
    # Once the other request is closed, its phone is free.
    assert (
        client.post(
            f"{API}/{holder['id']}/cancel", headers={"X-Manage-Token": holder["manage_token"]}
        ).status_code
        == 200
    )
    assert client.patch(url, headers=headers, json={"phone": taken}).status_code == 200
    assert rows(app, taken) == [(holder["id"], "cancelled"), (mine["id"], "open")]


# -- the partial unique index: races and the path behind the check --------------------------


def test_without_the_check_the_index_still_answers_409(app, client, monkeypatch):
    """The partial unique index is the last word: an IntegrityError becomes the same 409."""
    from connect.requests import phones as duplicates

    phone = new_phone()
    first = post(client, phone=phone).get_json()
    monkeypatch.setattr(duplicates, "check_phone_free", lambda *args, **kwargs: None)
    assert_duplicate(post(client, phone=phone))
    assert_duplicate(
        post(client, {"X-Manage-Token": first["manage_token"]}, phone=phone), first["id"]
    )
    mine = post(client).get_json()
    assert_duplicate(
        client.patch(
            f"{API}/{mine['id']}",
            json={"phone": phone},
            headers={"X-Manage-Token": mine["manage_token"]},
        )
    )
    assert rows(app, phone) == [(first["id"], "open")]


def fire_together(app, count, make_request):
    """Run make_request(client, i) in ``count`` threads released at once; [(status, body)]."""
    clients = [app.test_client() for _ in range(count)]
    barrier = threading.Barrier(count, timeout=30)
    results = [None] * count

    def run(i):
        try:
            barrier.wait()
            response = make_request(clients[i], i)
            results[i] = (response.status_code, response.get_json())
        except BaseException as exc:  # noqa: BLE001 - reported below
            results[i] = ("exception", repr(exc))

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not any(thread.is_alive() for thread in threads), "a thread hung"
    return results


def test_eight_posts_with_one_phone_at_once_make_one_request(app):
    phone = new_phone()
    results = fire_together(
        app,
        8,
        lambda c, i: c.post(API, json=request_payload(phone=phone, description=f"Cần gạo {i}")),
    )
    statuses = Counter(status for status, _ in results)
    assert statuses == {201: 1, 409: 7}, results
    assert {body["error"]["code"] for status, body in results if status == 409} == {
        "duplicate_request"
    }
    assert len(rows(app, phone)) == 1


def test_racing_posts_past_the_check_hit_the_index_and_get_409(app, monkeypatch):
    """With the check out of the way every racer reaches the INSERT: the index decides."""
    from connect.requests import phones as duplicates

    monkeypatch.setattr(duplicates, "check_phone_free", lambda *args, **kwargs: None)
    phone = new_phone()
    results = fire_together(app, 6, lambda c, i: c.post(API, json=request_payload(phone=phone)))
    assert Counter(status for status, _ in results) == {201: 1, 409: 5}, results
    assert {body["error"]["code"] for status, body in results if status == 409} == {
        "duplicate_request"
    }
    assert len(rows(app, phone)) == 1


# -- look-alikes from other phones ---------------------------------------------------------


def test_a_same_category_request_within_100_m_from_another_phone_is_flagged(app, client):
    first = post(client, categories=["food"]).get_json()
    near = shifted(BAC_GIANG, north_m=60, east_m=70)  # ~92 m
    assert haversine_m(*BAC_GIANG, *near) < 100
    second = post(client, at=near, categories=["medicine", "food"]).get_json()
    assert flags(app) == [(second["id"], "possible_duplicate", first["id"])]
    # Both are posted and listed as usual.
    assert {first["id"], second["id"]} <= {
        i["id"]
        for i in client.get(
            f"{API}/nearby", query_string={"lat": BAC_GIANG[0], "lon": BAC_GIANG[1]}
        ).get_json()["items"]
    }


@pytest.mark.parametrize("north_m,flagged", [(99.0, True), (101.0, False)])
def test_the_100_m_boundary(app, client, north_m, flagged):
    first = post(client).get_json()
    second = post(client, at=shifted(BAC_GIANG, north_m=north_m)).get_json()
    assert flags(app) == ([(second["id"], "possible_duplicate", first["id"])] if flagged else [])


def test_the_100_m_boundary_east_west_at_this_latitude(app, client):
    """Metres, not degrees: 99 m east is flagged, 101 m east is not."""
    first = post(client).get_json()
    west = post(client, at=shifted(BAC_GIANG, east_m=-101)).get_json()
    east = post(client, at=shifted(BAC_GIANG, east_m=99)).get_json()
    assert flags(app) == [(east["id"], "possible_duplicate", first["id"])]
    assert west["id"] not in {request_id for request_id, *_ in flags(app)}


@pytest.mark.parametrize("hours,flagged", [(47.9, True), (48.1, False)])
def test_the_48_h_boundary(app, client, clock, hours, flagged):
    first = post(client).get_json()
    clock.advance(hours=hours)
    second = post(client).get_json()
    assert flags(app) == ([(second["id"], "possible_duplicate", first["id"])] if flagged else [])


def test_another_category_is_not_flagged(app, client):
    post(client, categories=["food", "supplies"])
    post(client, categories=["medicine"])
    post(client, categories=["medical_advice", "other"])
    assert flags(app) == []


def test_the_same_phone_again_is_not_a_look_alike(app, client):
    phone = new_phone()
    first = post(client, phone=phone).get_json()
    assert (
        client.post(
            f"{API}/{first['id']}/cancel", headers={"X-Manage-Token": first["manage_token"]}
        ).status_code
        == 200
    )
    assert post(client, phone=phone).status_code == 201
    assert flags(app) == []


def test_a_cancelled_request_is_not_a_look_alike_but_a_helped_one_is(
    app, client, create_volunteer
):
    cancelled = post(client).get_json()
    assert (
        client.post(
            f"{API}/{cancelled['id']}/cancel",
            headers={"X-Manage-Token": cancelled["manage_token"]},
        ).status_code
        == 200
    )
    helped = post(client).get_json()
    volunteer = create_volunteer()
    assert client.post(f"{API}/{helped['id']}/claim", headers=volunteer).status_code == 200
    assert client.post(f"{API}/{helped['id']}/helped", headers=volunteer).status_code == 200
    third = post(client).get_json()
    assert (third["id"], "possible_duplicate", cancelled["id"]) not in flags(app)
    assert (third["id"], "possible_duplicate", helped["id"]) in flags(app)


def test_a_crowded_spot_flags_the_nearest_five(app, client):
    earlier = [post(client, at=shifted(BAC_GIANG, north_m=10 * i)).get_json() for i in range(1, 8)]
    latest = post(client).get_json()
    mine = [(related) for request_id, _, related in flags(app) if request_id == latest["id"]]
    assert mine == [p["id"] for p in earlier[:5]]
