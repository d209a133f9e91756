"""Blocking a phone number through the API, on both databases: who may block, see and lift
blocks (coordinators of the request's area and admins), what a block does to its request,
and that a blocked phone cannot post or be moved to until the block is lifted."""

from collections import Counter

import pytest
from sqlalchemy import select

from conftest import BAC_GIANG, LUC_NAM, fire_together, new_phone, request_payload

API = "/api/v1/requests"
BLOCKS = "/api/v1/moderation/blocked-phones"
OTHER_AREA = ("24-220",)  # Lục Nam district: does not hold BAC_GIANG
MESSAGE = (
    "This phone number cannot post requests. If you think this is a mistake, call "
    "your ward's hotline."
)


def assert_error(response, status, code=None):
    body = response.get_json()
    assert response.status_code == status, body
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}
    if code is not None:
        assert body["error"]["code"] == code, body
    return body["error"]


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
        (e.from_status, e.to_status, e.actor_kind, e.reason)
        for e in rows(app, RequestEvent, RequestEvent.request_id == request_id)
    ]


def blocks_of(app, phone):
    from connect.safety.models import BlockedPhone

    return rows(app, BlockedPhone, BlockedPhone.phone == phone)


def status_of(app, request_id):
    from connect.requests.models import HelpRequest

    (help_request,) = rows(app, HelpRequest, HelpRequest.id == request_id)
    return help_request.status


def block(client, request_id, headers, reason="Lừa đảo nhiều lần"):
    return client.post(f"{API}/{request_id}/block-phone", headers=headers, json={"reason": reason})


def lift(client, block_id, headers, reason="Gọi lại: nhu cầu thật"):
    return client.post(f"{BLOCKS}/{block_id}/lift", headers=headers, json={"reason": reason})


def local(e164):
    return "0" + e164[3:]


# -- blocking ----------------------------------------------------------------------------


def test_blocking_hides_the_request_ends_the_claim_and_upholds_its_reports(
    app, client, post_request, create_staff, create_volunteer, create_user
):
    posted = post_request()
    volunteer = create_volunteer()
    assert client.post(f"{API}/{posted['id']}/claim", headers=volunteer).status_code == 200
    assert (
        client.post(
            f"{API}/{posted['id']}/report", headers=create_user()[1], json={"reason": "scam"}
        ).status_code
        == 201
    )
    response = block(client, posted["id"], create_staff())
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert "phone" not in body  # the list shows it, logged as a reveal
    assert {
        k: body[k]
        for k in ("request_id", "reason", "blocked_by", "lifted_at", "lifted_by", "lift_reason")
    } == {
        "request_id": posted["id"],
        "reason": "Lừa đảo nhiều lần",
        "blocked_by": "Điều phối viên",
        "lifted_at": None,
        "lifted_by": None,
        "lift_reason": None,
    }
    assert body["created_at"].endswith("Z")
    assert status_of(app, posted["id"]) == "hidden"
    assert events(app, posted["id"])[-2:] == [
        ("claimed", "hidden", "coordinator", "hidden: phone blocked: Lừa đảo nhiều lần"),
        ("hidden", "hidden", "coordinator", "phone blocked: Lừa đảo nhiều lần"),
    ]
    from connect.requests.models import Assist
    from connect.safety.models import Report

    (assist,) = rows(app, Assist, Assist.request_id == posted["id"])
    assert assist.outcome == "hidden"
    assert [r.resolution for r in rows(app, Report, Report.subject_id == posted["id"])] == [
        "upheld"
    ]
    # What the volunteer's claim page reads to tell them the need was withdrawn.
    from connect.safety.reports import withdrawn_from

    with app.app_context():
        assert withdrawn_from(posted["id"], assist.volunteer_id)


def test_only_the_area_coordinator_or_an_admin_can_block(
    app, client, post_request, create_staff, create_volunteer
):
    posted = post_request()
    assert_error(block(client, posted["id"], {}), 401)
    assert_error(block(client, posted["id"], create_volunteer()), 403, "not_coordinator")
    assert_error(
        block(client, posted["id"], create_staff(areas=OTHER_AREA)), 403, "not_coordinator"
    )
    staff = create_staff()
    assert_error(block(client, 999_999, staff), 404)
    for reason in ("", "   ", "x" * 201):
        assert_error(block(client, posted["id"], staff, reason), 422)
    assert_error(client.post(f"{API}/{posted['id']}/block-phone", headers=staff, json={}), 422)
    assert status_of(app, posted["id"]) == "open"
    assert blocks_of(app, posted["phone"]) == []
    assert events(app, posted["id"]) == [(None, "open", "requester", "posted")]
    assert block(client, posted["id"], create_staff("admin")).status_code == 201
    assert events(app, posted["id"])[-1][2:] == ("admin", "phone blocked: Lừa đảo nhiều lần")


def test_a_phone_blocked_already_answers_409(app, client, post_request, create_staff):
    posted = post_request()
    staff = create_staff()
    first = block(client, posted["id"], staff).get_json()
    error = assert_error(block(client, posted["id"], staff), 409, "already_blocked")
    assert error["details"] == {"block_id": first["id"]}
    assert len(blocks_of(app, posted["phone"])) == 1


def test_blocking_a_closed_request_blocks_its_phone_and_leaves_its_status(
    app, client, post_request, create_staff
):
    posted = post_request()
    assert (
        client.post(
            f"{API}/{posted['id']}/cancel", headers={"X-Manage-Token": posted["manage_token"]}
        ).status_code
        == 200
    )
    assert block(client, posted["id"], create_staff()).status_code == 201
    assert status_of(app, posted["id"]) == "cancelled"
    assert events(app, posted["id"])[-1] == (
        "cancelled",
        "cancelled",
        "coordinator",
        "phone blocked: Lừa đảo nhiều lần",
    )


# -- enforcement -------------------------------------------------------------------------


def test_a_blocked_phone_cannot_post_until_the_block_is_lifted(
    app, client, post_request, create_staff
):
    posted = post_request()
    staff = create_staff()
    block_id = block(client, posted["id"], staff).get_json()["id"]
    for written in (posted["phone"], local(posted["phone"])):
        error = assert_error(
            client.post(API, json=request_payload(phone=written)), 403, "phone_blocked"
        )
        assert error["message"] == MESSAGE
    # Signed in makes no difference.
    assert_error(
        client.post(API, headers=staff, json=request_payload(phone=posted["phone"])),
        403,
        "phone_blocked",
    )
    assert client.post(API, json=request_payload()).status_code == 201  # others still post
    assert lift(client, block_id, staff).status_code == 200
    again = client.post(API, json=request_payload(phone=posted["phone"]))
    assert again.status_code == 201, again.get_json()


def test_a_request_cannot_be_moved_to_a_blocked_phone(app, client, post_request, create_staff):
    blocked = post_request()
    staff = create_staff()
    assert block(client, blocked["id"], staff).status_code == 201
    other = post_request()
    for headers in ({"X-Manage-Token": other["manage_token"]}, staff):
        assert_error(
            client.patch(
                f"{API}/{other['id']}", headers=headers, json={"phone": blocked["phone"]}
            ),
            403,
            "phone_blocked",
        )
    from connect.requests.models import HelpRequest

    (stored,) = rows(app, HelpRequest, HelpRequest.id == other["id"])
    assert stored.phone == other["phone"]
    # Edits that keep the phone still work.
    assert (
        client.patch(
            f"{API}/{other['id']}",
            headers={"X-Manage-Token": other["manage_token"]},
            json={"household_size": 6},
        ).status_code
        == 200
    )


def test_asking_an_offer_with_a_blocked_phone_is_refused(
    app, client, post_request, create_staff, create_user
):
    posted = post_request()
    assert block(client, posted["id"], create_staff()).status_code == 201
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
    assert_error(
        client.post(
            f"/api/v1/offers/{offer.get_json()['id']}/ask",
            json=request_payload(phone=posted["phone"]),
        ),
        403,
        "phone_blocked",
    )


# -- the list and lifting ----------------------------------------------------------------


def test_blocks_are_listed_by_area_those_in_force_first(
    app, client, post_request, create_staff, create_volunteer
):
    from connect.requests.models import ContactReveal

    staff, admin = create_staff(), create_staff("admin")
    first, second = post_request(), post_request()
    far = post_request(at=LUC_NAM)
    first_block = block(client, first["id"], staff, "quảng cáo").get_json()
    second_block = block(client, second["id"], staff, "lừa đảo").get_json()
    far_block = block(client, far["id"], admin, "đùa").get_json()
    assert lift(client, second_block["id"], staff, "nhầm").status_code == 200
    assert_error(client.get(BLOCKS), 401)
    assert_error(client.get(BLOCKS, headers=create_volunteer()), 403, "not_coordinator")

    # Province 24 holds all three; Bắc Giang city's coordinator sees only its own two.
    city = create_staff(areas=("24-213",))
    body = client.get(BLOCKS, headers=city).get_json()
    assert [item["id"] for item in body["items"]] == [first_block["id"], second_block["id"]]
    assert body["total"] == 2
    lifted = body["items"][1]
    assert (lifted["lifted_by"], lifted["lift_reason"], lifted["phone"]) == (
        "Điều phối viên",
        "nhầm",
        second["phone"],
    )
    assert lifted["lifted_at"].endswith("Z")
    lucnam = client.get(BLOCKS, headers=create_staff(areas=OTHER_AREA)).get_json()
    assert [item["id"] for item in lucnam["items"]] == [far_block["id"]]
    everything = client.get(BLOCKS, headers=admin, query_string={"per_page": 2}).get_json()
    assert everything["total"] == 3
    assert [item["id"] for item in everything["items"]] == [far_block["id"], first_block["id"]]
    assert_error(client.get(BLOCKS, headers=admin, query_string={"per_page": 101}), 422)
    # Each phone shown is a contact reveal of its request, to the viewer.
    seen = {(r.request_id, r.viewer_role, r.channel) for r in rows(app, ContactReveal)}
    assert {
        (first["id"], "coordinator", "api"),
        (second["id"], "coordinator", "api"),
        (far["id"], "admin", "api"),
    } <= seen


def test_lifting_is_scoped_recorded_and_done_once(
    app, client, post_request, create_staff, create_volunteer
):
    posted = post_request()
    staff = create_staff()
    block_id = block(client, posted["id"], staff).get_json()["id"]
    # Others are refused alike whether the block exists or not.
    for headers in (create_staff(areas=OTHER_AREA), create_volunteer()):
        for target in (block_id, 2_000_000_000):
            assert_error(lift(client, target, headers), 403, "not_coordinator")
    assert_error(lift(client, block_id, {}), 401)
    admin = create_staff("admin")
    assert_error(lift(client, 2_000_000_000, admin), 404)
    assert_error(lift(client, block_id, staff, ""), 422)
    assert blocks_of(app, posted["phone"])[0].lifted_at is None

    response = lift(client, block_id, staff)
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["lift_reason"] == "Gọi lại: nhu cầu thật"
    assert events(app, posted["id"])[-1] == (
        "hidden",
        "hidden",
        "coordinator",
        "block lifted: Gọi lại: nhu cầu thật",
    )
    assert_error(lift(client, block_id, admin), 409, "already_lifted")
    # The hidden request stays hidden (restore is its own decision); a new block may follow.
    assert status_of(app, posted["id"]) == "hidden"
    assert block(client, posted["id"], staff).status_code == 201
    assert [b.lifted_at is None for b in blocks_of(app, posted["phone"])] == [False, True]


# -- racing ------------------------------------------------------------------------------


@pytest.mark.parametrize("same_request", [True, False], ids=["same-request", "two-requests"])
def test_two_blocks_of_one_phone_at_once_make_one_block(
    app, client, post_request, create_staff, same_request
):
    """One 201, one 409 already_blocked: from one request (its row lock) or from two
    requests of the same phone (the partial unique index)."""
    phone = new_phone()
    staff, admin = create_staff(), create_staff("admin")
    first = post_request(phone=phone)
    ids = [first["id"], first["id"]]
    if not same_request:
        # A hidden request keeps its phone's history; the phone then posted again.
        assert (
            client.post(
                f"{API}/{first['id']}/hide", headers=staff, json={"reason": "ẩn"}
            ).status_code
            == 200
        )
        ids[1] = post_request(phone=phone)["id"]
    results = fire_together(
        app,
        [
            (f"{API}/{request_id}/block-phone", headers, {"reason": "cùng lúc"})
            for request_id, headers in zip(ids, (staff, admin))
        ],
    )
    assert Counter(status for status, _ in results) == {201: 1, 409: 1}, results
    assert [body["error"]["code"] for status, body in results if status == 409] == [
        "already_blocked"
    ]
    assert len(blocks_of(app, phone)) == 1
