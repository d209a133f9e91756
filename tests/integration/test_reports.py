"""“Báo xấu” through the API, on both databases: reports by accounts counted once each,
auto-hide after REPORT_HIDE_THRESHOLD distinct reporters (also when reports race), and the
coordinator's review: queue, hide, restore, resolving flags, all scoped by area."""

from collections import Counter

import pytest
from sqlalchemy import select

from conftest import BAC_GIANG, fire_together, make_app, new_phone, request_payload

API = "/api/v1/requests"
QUEUE = "/api/v1/moderation/queue"
OTHER_AREA = ("24-220",)  # Lục Nam district: does not hold BAC_GIANG


@pytest.fixture
def reporters(create_user):
    """n fresh accounts' Authorization headers."""
    return lambda n: [create_user()[1] for _ in range(n)]


def report(client, request_id, headers, reason="scam", comment=None):
    body = {"reason": reason} if comment is None else {"reason": reason, "comment": comment}
    return client.post(f"{API}/{request_id}/report", headers=headers, json=body)


def assert_error(response, status, code=None):
    body = response.get_json()
    assert response.status_code == status, body
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}
    if code is not None:
        assert body["error"]["code"] == code, body
    return body["error"]


def status_of(client, request_id):
    """The status as an admin sees it: a hidden request is 404 to the public."""
    from connect.extensions import db
    from connect.requests.models import HelpRequest
    from connect.requests.queries import effective_status

    with client.application.app_context():
        try:
            return effective_status(db.session.get(HelpRequest, request_id))
        finally:
            db.session.remove()


def nearby_ids(client):
    return [
        i["id"]
        for i in client.get(
            f"{API}/nearby",
            query_string={"lat": BAC_GIANG[0], "lon": BAC_GIANG[1], "radius_m": 5000},
        ).get_json()["items"]
    ]


def map_ids(client):
    return [
        i["id"]
        for i in client.get(
            f"{API}/map", query_string={"bbox": "106.1,21.2,106.3,21.35"}
        ).get_json()["items"]
    ]


def db_rows(app, model, *where, order=None):
    from connect.extensions import db

    with app.app_context():
        found = (
            db.session.execute(
                select(model).where(*where).order_by(order if order is not None else model.id)
            )
            .scalars()
            .all()
        )
        db.session.expunge_all()
        db.session.remove()
        return found


def events(app, request_id):
    from connect.requests.models import RequestEvent

    return [
        (e.from_status, e.to_status, e.actor_kind, e.reason)
        for e in db_rows(app, RequestEvent, RequestEvent.request_id == request_id)
    ]


def reports_of(app, request_id):
    from connect.safety.models import Report

    return [
        (r.reason, r.resolution)
        for r in db_rows(
            app, Report, Report.subject_type == "request", Report.subject_id == request_id
        )
    ]


def stored(app, request_id):
    from connect.requests.models import HelpRequest

    (row,) = db_rows(app, HelpRequest, HelpRequest.id == request_id)
    return row


# -- reporting -------------------------------------------------------------------------


def test_reporting_needs_an_account(client, post_request):
    posted = post_request()
    assert_error(report(client, posted["id"], {}), 401)
    assert_error(report(client, posted["id"], {"X-Manage-Token": posted["manage_token"]}), 401)


def test_a_report_is_recorded_and_answers_201(app, client, post_request, reporters):
    posted = post_request()
    (headers,) = reporters(1)
    response = report(client, posted["id"], headers, "advertising", "  Quảng cáo thuốc  ")
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert {k: body[k] for k in ("subject_type", "subject_id", "reason", "comment")} == {
        "subject_type": "request",
        "subject_id": posted["id"],
        "reason": "advertising",
        "comment": "Quảng cáo thuốc",
    }
    assert reports_of(app, posted["id"]) == [("advertising", None)]
    assert status_of(client, posted["id"]) == "open"


@pytest.mark.parametrize(
    "body,field",
    [
        ({"reason": "rude"}, "reason"),
        ({}, "reason"),
        ({"reason": "other", "comment": "x" * 301}, "comment"),
    ],
)
def test_a_bad_reason_or_a_long_comment_is_422(client, post_request, reporters, body, field):
    posted = post_request()
    (headers,) = reporters(1)
    error = assert_error(
        client.post(f"{API}/{posted['id']}/report", headers=headers, json=body),
        422,
        "validation_error",
    )
    assert field in error["details"]["fields"]


def test_every_reason_is_taken_and_a_300_letter_comment(client, post_request, reporters):
    posted = post_request()
    for headers, reason in zip(reporters(2), ("joke", "false")):
        assert report(client, posted["id"], headers, reason, "x" * 300).status_code == 201
    other = post_request()
    for headers, reason in zip(reporters(2), ("other", "advertising")):
        assert report(client, other["id"], headers, reason).status_code == 201


def test_an_unknown_request_is_404(client, reporters):
    (headers,) = reporters(1)
    assert_error(report(client, 999_999, headers), 404)


def test_your_own_request_cannot_be_reported(client, create_user):
    _, owner = create_user()
    posted = client.post(API, json=request_payload(), headers=owner).get_json()
    error = assert_error(report(client, posted["id"], owner), 403, "own_subject")
    assert "own" in error["message"]


def test_the_same_account_twice_is_409_and_counted_once(app, client, post_request, reporters):
    posted = post_request()
    (headers,) = reporters(1)
    assert report(client, posted["id"], headers).status_code == 201
    assert_error(report(client, posted["id"], headers, "joke"), 409, "already_reported")
    assert reports_of(app, posted["id"]) == [("scam", None)]


def test_a_closed_request_cannot_be_reported(client, post_request, reporters):
    posted = post_request()
    assert (
        client.post(
            f"{API}/{posted['id']}/cancel", headers={"X-Manage-Token": posted["manage_token"]}
        ).status_code
        == 200
    )
    (headers,) = reporters(1)
    assert_error(report(client, posted["id"], headers), 409, "request_closed")


# -- auto-hide ---------------------------------------------------------------------------


def test_three_distinct_reporters_hide_an_open_request(app, client, post_request, reporters):
    posted, untouched = post_request(), post_request()
    first, second, third = reporters(3)
    assert report(client, posted["id"], first).status_code == 201
    assert report(client, posted["id"], second, "joke").status_code == 201
    assert status_of(client, posted["id"]) == "open"
    assert posted["id"] in nearby_ids(client) and posted["id"] in map_ids(client)

    assert report(client, posted["id"], third, "false").status_code == 201

    assert status_of(client, posted["id"]) == "hidden"
    assert posted["id"] not in nearby_ids(client)
    assert posted["id"] not in map_ids(client)
    assert untouched["id"] in nearby_ids(client)
    row = stored(app, posted["id"])
    assert row.status == "hidden" and row.closed_at is not None
    assert events(app, posted["id"])[-1] == ("open", "hidden", "system", "hidden after 3 reports")
    # Still reportable while it waits; it stays hidden and is not hidden twice.
    (fourth,) = reporters(1)
    assert report(client, posted["id"], fourth).status_code == 201
    assert [e for e in events(app, posted["id"]) if e[1] == "hidden"] == [
        ("open", "hidden", "system", "hidden after 3 reports")
    ]


def test_a_claimed_request_is_hidden_and_the_claim_ends_hidden(
    app, client, post_request, reporters, create_volunteer
):
    from connect.requests.models import Assist

    posted = post_request()
    volunteer = create_volunteer()
    assert client.post(f"{API}/{posted['id']}/claim", headers=volunteer).status_code == 200
    for headers in reporters(3):
        assert report(client, posted["id"], headers).status_code == 201
    row = stored(app, posted["id"])
    assert (row.status, row.claimed_by_id, row.lease_expires_at) == ("hidden", None, None)
    (assist,) = db_rows(app, Assist, Assist.request_id == posted["id"])
    assert assist.outcome == "hidden" and assist.closed_at is not None
    assert events(app, posted["id"])[-1][:3] == ("claimed", "hidden", "system")
    # The volunteer no longer sees it at all: a hidden request is 404 to them.
    response = client.get(f"{API}/{posted['id']}", headers=volunteer)
    assert response.status_code == 404 and "phone" not in response.get_data(as_text=True)


def test_the_claimant_can_report_what_they_hold(client, post_request, reporters, create_volunteer):
    posted = post_request()
    volunteer = create_volunteer()
    assert client.post(f"{API}/{posted['id']}/claim", headers=volunteer).status_code == 200
    assert report(client, posted["id"], volunteer, "scam").status_code == 201


def test_the_threshold_comes_from_config(database_url, monkeypatch):
    monkeypatch.setenv("REPORT_HIDE_THRESHOLD", "5")
    from connect.config import Config

    assert Config("/tmp").REPORT_HIDE_THRESHOLD == 5
    app = make_app(database_url, REPORT_HIDE_THRESHOLD=2)
    client = app.test_client()
    try:
        posted = client.post(API, json=request_payload()).get_json()
        for i in range(2):
            phone = new_phone()
            assert (
                client.post(
                    "/api/v1/auth/register",
                    json={"phone": phone, "password": "mat-khau-1", "name": "A"},
                ).status_code
                == 201
            )
            token = client.post(
                "/api/v1/auth/token", json={"phone": phone, "password": "mat-khau-1"}
            ).get_json()["token"]
            assert (
                report(client, posted["id"], {"Authorization": f"Bearer {token}"}).status_code
                == 201
            )
            assert status_of(client, posted["id"]) == ("open", "hidden")[i]
    finally:
        from connect.extensions import db

        with app.app_context():
            db.session.remove()
            db.engine.dispose()


def test_resolved_reports_no_longer_count(app, client, post_request, reporters, create_staff):
    posted = hidden_by_reports(client, post_request, reporters)
    assert (
        client.post(
            f"{API}/{posted['id']}/restore", headers=create_staff(), json={"reason": "a real need"}
        ).status_code
        == 200
    )
    assert [resolution for _, resolution in reports_of(app, posted["id"])] == ["dismissed"] * 3
    first, second, third = reporters(3)
    assert report(client, posted["id"], first).status_code == 201
    assert report(client, posted["id"], second).status_code == 201
    assert status_of(client, posted["id"]) == "open"
    assert report(client, posted["id"], third).status_code == 201
    assert status_of(client, posted["id"]) == "hidden"


# -- concurrency -------------------------------------------------------------------------


def test_reports_from_different_accounts_at_once_all_count(app, client, post_request, reporters):
    """Two reports, then the last two of the threshold race: both count, one hides it."""
    posted = post_request()
    accounts = reporters(6)
    path = f"{API}/{posted['id']}/report"
    results = fire_together(app, [(path, h, {"reason": "scam"}) for h in accounts[:2]])
    assert [status for status, _ in results] == [201, 201], results
    assert status_of(client, posted["id"]) == "open"
    results = fire_together(app, [(path, h, {"reason": "joke"}) for h in accounts[2:]])
    assert [status for status, _ in results] == [201] * 4, results
    assert len(reports_of(app, posted["id"])) == 6
    assert status_of(client, posted["id"]) == "hidden"
    assert [e for e in events(app, posted["id"]) if e[1] == "hidden"] == [
        ("open", "hidden", "system", "hidden after 3 reports")
    ]


def test_the_same_account_at_once_counts_once(app, client, post_request, reporters):
    posted = post_request()
    (headers,) = reporters(1)
    results = fire_together(
        app, [(f"{API}/{posted['id']}/report", headers, {"reason": "scam"})] * 6
    )
    assert Counter(status for status, _ in results) == {201: 1, 409: 5}, results
    assert {body["error"]["code"] for status, body in results if status == 409} == {
        "already_reported"
    }
    assert len(reports_of(app, posted["id"])) == 1


# -- the coordinator's review ----------------------------------------------------------------


def hidden_by_reports(client, post_request, reporters, **overrides):
    posted = post_request(**overrides)
    for headers, (reason, comment) in zip(
        reporters(3), (("scam", "Hỏi chuyển khoản trước"), ("scam", None), ("joke", None))
    ):
        assert report(client, posted["id"], headers, reason, comment).status_code == 201
    assert status_of(client, posted["id"]) == "hidden"
    return posted


def test_the_queue_is_for_coordinators_of_the_area(
    client, post_request, reporters, create_staff, create_volunteer
):
    posted = hidden_by_reports(client, post_request, reporters)
    assert_error(client.get(QUEUE), 401)
    assert_error(client.get(QUEUE, headers=create_volunteer()), 403, "not_coordinator")
    assert_error(client.get(QUEUE, headers=reporters(1)[0]), 403)
    other = client.get(QUEUE, headers=create_staff(areas=OTHER_AREA))
    assert other.status_code == 200 and other.get_json()["items"] == []
    for staff in (create_staff(), create_staff("admin")):
        body = client.get(QUEUE, headers=staff).get_json()
        assert [item["request"]["id"] for item in body["items"]] == [posted["id"]]


def test_a_queue_item_counts_reports_by_reason_without_reporters(
    client, post_request, reporters, create_staff
):
    posted = hidden_by_reports(client, post_request, reporters)
    body = client.get(QUEUE, headers=create_staff()).get_json()
    assert body["total"] == 1 and body["page"] == 1
    (item,) = body["items"]
    assert item["pending_review"] is True
    assert item["reports"] == {"reporters": 3, "by_reason": {"scam": 2, "joke": 1}}
    assert item["comments"] == ["Hỏi chuyển khoản trước"]
    assert item["request"]["status"] == "hidden"
    assert item["request"]["description"] == posted["description"]
    assert item["flags"] == []
    text = str(body)
    assert "reporter_id" not in text and "phone" not in text


def test_the_queue_pages_hidden_first_then_most_reported(
    client, post_request, reporters, create_staff
):
    once = post_request(at=(21.2831, 106.1946))
    assert report(client, once["id"], reporters(1)[0]).status_code == 201
    twice = post_request(at=(21.2631, 106.1946))
    for headers in reporters(2):
        assert report(client, twice["id"], headers).status_code == 201
    hidden = hidden_by_reports(client, post_request, reporters)
    quiet = post_request(at=(21.2731, 106.2146))  # nothing to review
    staff = create_staff()
    first = client.get(QUEUE, headers=staff, query_string={"per_page": 2}).get_json()
    second = client.get(QUEUE, headers=staff, query_string={"per_page": 2, "page": 2}).get_json()
    assert [i["request"]["id"] for i in first["items"]] == [hidden["id"], twice["id"]]
    assert [i["request"]["id"] for i in second["items"]] == [once["id"]]
    assert first["total"] == second["total"] == 3
    assert quiet["id"] not in {i["request"]["id"] for i in first["items"] + second["items"]}
    assert_error(client.get(QUEUE, headers=staff, query_string={"per_page": 101}), 422)


def test_hiding_by_hand_is_for_the_area_coordinator(
    app, client, post_request, reporters, create_staff, create_volunteer
):
    posted = post_request()
    (reporter,) = reporters(1)
    assert report(client, posted["id"], reporter, "advertising").status_code == 201
    url = f"{API}/{posted['id']}/hide"
    assert_error(client.post(url, json={"reason": "ad"}), 401)
    assert_error(client.post(url, headers=create_volunteer(), json={"reason": "ad"}), 403)
    assert_error(
        client.post(url, headers=create_staff(areas=OTHER_AREA), json={"reason": "ad"}),
        403,
        "not_coordinator",
    )
    staff = create_staff()
    assert_error(client.post(f"{API}/999999/hide", headers=staff, json={"reason": "ad"}), 404)
    assert_error(client.post(url, headers=staff, json={}), 422)
    assert status_of(client, posted["id"]) == "open"

    response = client.post(url, headers=staff, json={"reason": "Quảng cáo"})
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["status"] == "hidden"
    assert "phone" not in response.get_json()
    assert events(app, posted["id"])[-1] == ("open", "hidden", "coordinator", "hidden: Quảng cáo")
    assert reports_of(app, posted["id"]) == [("advertising", "upheld")]
    assert posted["id"] not in nearby_ids(client)
    assert client.get(QUEUE, headers=staff).get_json()["items"] == []


def test_keeping_an_auto_hidden_request_hidden_upholds_its_reports(
    app, client, post_request, reporters, create_staff
):
    posted = hidden_by_reports(client, post_request, reporters)
    admin = create_staff("admin")
    response = client.post(f"{API}/{posted['id']}/hide", headers=admin, json={"reason": "lừa đảo"})
    assert response.status_code == 200 and response.get_json()["status"] == "hidden"
    assert events(app, posted["id"])[-1] == ("hidden", "hidden", "admin", "kept hidden: lừa đảo")
    assert {resolution for _, resolution in reports_of(app, posted["id"])} == {"upheld"}
    assert client.get(QUEUE, headers=admin).get_json()["items"] == []


def test_a_closed_request_cannot_be_hidden(client, post_request, create_staff):
    posted = post_request()
    assert (
        client.post(
            f"{API}/{posted['id']}/cancel", headers={"X-Manage-Token": posted["manage_token"]}
        ).status_code
        == 200
    )
    assert_error(
        client.post(f"{API}/{posted['id']}/hide", headers=create_staff(), json={"reason": "x"}),
        409,
        "invalid_transition",
    )


def test_restoring_opens_it_again_with_a_fresh_expiry(
    app, client, post_request, reporters, create_staff, create_volunteer
):
    posted = post_request()
    volunteer = create_volunteer()
    assert client.post(f"{API}/{posted['id']}/claim", headers=volunteer).status_code == 200
    for headers in reporters(3):
        assert report(client, posted["id"], headers).status_code == 201
    hidden_row = stored(app, posted["id"])
    url = f"{API}/{posted['id']}/restore"
    assert_error(
        client.post(url, headers=create_staff(areas=OTHER_AREA), json={"reason": "ok"}), 403
    )
    assert_error(client.post(url, headers=volunteer, json={"reason": "ok"}), 403)
    staff = create_staff()
    response = client.post(url, headers=staff, json={"reason": "Gọi lại: nhu cầu thật"})
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["status"] == "open"
    row = stored(app, posted["id"])
    assert (row.status, row.closed_at, row.claimed_by_id) == ("open", None, None)
    assert row.expires_at > hidden_row.expires_at
    assert events(app, posted["id"])[-1] == (
        "hidden",
        "open",
        "coordinator",
        "restored: Gọi lại: nhu cầu thật",
    )
    assert {resolution for _, resolution in reports_of(app, posted["id"])} == {"dismissed"}
    assert posted["id"] in nearby_ids(client) and posted["id"] in map_ids(client)
    assert client.get(QUEUE, headers=staff).get_json()["items"] == []
    # Only a hidden request can be restored.
    assert_error(
        client.post(url, headers=staff, json={"reason": "again"}), 409, "invalid_transition"
    )


def test_restoring_when_the_phone_posted_again_is_409(
    client, post_request, reporters, create_staff
):
    phone = new_phone()
    posted = hidden_by_reports(client, post_request, reporters, phone=phone)
    # While its reports wait for review, the phone cannot simply post it again.
    assert_error(client.post(API, json=request_payload(phone=phone)), 409, "duplicate_request")
    staff = create_staff()
    kept = client.post(f"{API}/{posted['id']}/hide", headers=staff, json={"reason": "xem lại"})
    assert kept.status_code == 200
    again = post_request(phone=phone, at=(21.2831, 106.1946))
    error = assert_error(
        client.post(f"{API}/{posted['id']}/restore", headers=staff, json={"reason": "ok"}),
        409,
        "duplicate_request",
    )
    assert error["details"] == {"request_id": again["id"]}
    assert status_of(client, posted["id"]) == "hidden"


def test_possible_duplicates_are_queued_and_resolved(
    app, client, post_request, create_staff, create_volunteer
):
    from connect.safety.models import RequestFlag

    first = post_request()
    second = post_request()
    staff = create_staff()
    (item,) = client.get(QUEUE, headers=staff).get_json()["items"]
    assert item["request"]["id"] == second["id"] and item["pending_review"] is False
    assert item["reports"] == {"reporters": 0, "by_reason": {}}
    (flag,) = item["flags"]
    assert (flag["kind"], flag["related_request_id"]) == ("possible_duplicate", first["id"])
    url = f"/api/v1/moderation/flags/{flag['id']}/resolve"
    assert_error(client.post(url, json={}), 401)
    assert_error(client.post(url, headers=create_volunteer(), json={}), 403)
    assert_error(client.post(url, headers=create_staff(areas=OTHER_AREA), json={}), 403)
    # Flags are private: an unknown one is refused like someone else's, except to admins.
    assert_error(
        client.post("/api/v1/moderation/flags/99999/resolve", headers=staff, json={}),
        403,
        "not_coordinator",
    )
    assert_error(
        client.post(
            "/api/v1/moderation/flags/99999/resolve", headers=create_staff("admin"), json={}
        ),
        404,
    )
    response = client.post(url, headers=staff, json={"reason": "hai nhà khác nhau"})
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["resolved_at"]
    assert_error(client.post(url, headers=staff), 409, "already_resolved")
    (row,) = db_rows(app, RequestFlag, RequestFlag.id == flag["id"])
    assert row.resolved_at is not None and row.resolved_by_id is not None
    assert events(app, second["id"])[-1] == (
        "open",
        "open",
        "coordinator",
        f"flag {flag['id']} resolved (possible_duplicate of #{first['id']}): hai nhà khác nhau",
    )
    assert client.get(QUEUE, headers=staff).get_json()["items"] == []


def test_a_hidden_request_is_404_to_all_but_its_requester_and_coordinators(
    client, post_request, reporters, create_volunteer, create_staff
):
    posted = hidden_by_reports(client, post_request, reporters)
    url = f"{API}/{posted['id']}"
    unknown = client.get(f"{API}/2000000000")
    for headers in ({}, create_volunteer(), create_staff(areas=OTHER_AREA)):
        response = client.get(url, headers=headers)
        # Exactly as for an id that never existed: counting ids finds nothing.
        assert (response.status_code, response.get_json()) == (404, unknown.get_json())
    for headers in (
        {"X-Manage-Token": posted["manage_token"]},
        create_staff(),
        create_staff(role="admin"),
    ):
        body = client.get(url, headers=headers).get_json()
        assert body["status"] == "hidden" and body["phone"] == posted["phone"]
