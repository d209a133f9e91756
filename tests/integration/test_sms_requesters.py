"""Requesters hear back by SMS: their link on posting, who is coming, "were you helped?" with
1/2 answers, and STOP; a texted link shows the requester's details only to a proven phone."""

import re

from conftest import csrf_token, new_phone, request_payload, text_in, texts_to

API = "/api/v1/requests"
LINK = re.compile(r"https://connect\.example\.vn/s/([2-9A-HJ-NP-Z]{12})")


def post(client, **overrides):
    response = client.post(API, json=request_payload(**overrides))
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def claimed_and_helped(client, create_volunteer, request_id, name="Trần Thị Bình"):
    volunteer = create_volunteer(name=name)
    assert client.post(f"{API}/{request_id}/claim", headers=volunteer).status_code == 200
    assert client.post(f"{API}/{request_id}/helped", headers=volunteer).status_code == 200
    return volunteer


def status_of(client, body):
    answer = client.get(f"{API}/{body['id']}", headers={"X-Manage-Token": body["manage_token"]})
    return answer.get_json()["status"]


def test_posting_texts_the_request_number_and_a_short_link_in_the_posters_language(app, client):
    phone = new_phone()
    body = post(client, phone=phone, language="vi")
    ((kind, status, text),) = texts_to(app, phone)
    assert (kind, status) == ("posted", "sent")
    assert f"yêu cầu số {body['id']}" in text
    assert LINK.search(text), text
    english = new_phone()
    post(client, phone=english, language="en")
    ((_, _, text),) = texts_to(app, english)
    assert text.startswith("connect: request no. ")


def test_no_texts_for_a_requester_who_said_no(app, client, create_volunteer):
    phone = new_phone()
    body = post(client, phone=phone, sms_updates=False)
    claimed_and_helped(client, create_volunteer, body["id"])
    assert texts_to(app, phone) == []


def test_a_claim_texts_the_volunteers_given_name_and_nothing_else_of_them(
    app, client, create_volunteer
):
    phone, volunteer_phone = new_phone(), new_phone()
    body = post(client, phone=phone)
    volunteer = create_volunteer(name="Trần Thị Bình", phone=volunteer_phone)
    assert client.post(f"{API}/{body['id']}/claim", headers=volunteer).status_code == 200
    (text,) = [text for kind, _, text in texts_to(app, phone) if kind == "claimed"]
    assert "Bình" in text and "Trần" not in text
    assert volunteer_phone[3:] not in text


def test_reply_1_to_were_you_helped_confirms(app, client, create_volunteer):
    phone = new_phone()
    body = post(client, phone=phone)
    claimed_and_helped(client, create_volunteer, body["id"])
    (question,) = [text for kind, _, text in texts_to(app, phone) if kind == "helped"]
    assert "1" in question and "2" in question
    assert text_in(client, phone, "1").status_code == 200
    assert status_of(client, body) == "confirmed"
    assert [kind for kind, _, _ in texts_to(app, phone)][-1] == "thanks"


def test_reply_2_reopens_the_request_and_flags_it_for_coordinators(app, client, create_volunteer):
    from connect.extensions import db
    from connect.safety.models import RequestFlag

    phone = new_phone()
    body = post(client, phone=phone)
    claimed_and_helped(client, create_volunteer, body["id"])
    assert text_in(client, phone, " 2. ").status_code == 200
    assert status_of(client, body) == "open"
    with app.app_context():
        flags = db.session.query(RequestFlag).filter_by(request_id=body["id"]).all()
        assert [flag.kind for flag in flags] == ["disputed"]
    assert [kind for kind, _, _ in texts_to(app, phone)][-1] == "disputed"


def test_a_reply_after_the_request_closed_changes_nothing(app, client, create_volunteer):
    phone = new_phone()
    body = post(client, phone=phone)
    claimed_and_helped(client, create_volunteer, body["id"])
    confirmed = client.post(
        f"{API}/{body['id']}/confirm", headers={"X-Manage-Token": body["manage_token"]}
    )
    assert confirmed.status_code == 200
    text_in(client, phone, "2")
    assert status_of(client, body) == "confirmed"
    # No question is open any more: the text starts a new ask for help instead.
    assert [kind for kind, _, _ in texts_to(app, phone)][-1] == "intake-need"


def test_stop_opts_the_number_out_of_everything_after(app, client, create_volunteer):
    phone = new_phone()
    body = post(client, phone=phone)
    for word in ("Dừng",):
        assert text_in(client, phone, word).status_code == 200
    assert [(kind, status) for kind, status, _ in texts_to(app, phone)] == [
        ("posted", "sent"),
        ("stopped", "sent"),
    ]
    claimed_and_helped(client, create_volunteer, body["id"])
    assert [kind for kind, _, _ in texts_to(app, phone)] == ["posted", "stopped"]
    text_in(client, phone, "START")
    assert [kind for kind, _, _ in texts_to(app, phone)][-1] == "restarted"


def test_the_texted_link_hides_name_and_address_until_the_phone_answers(app, client):
    phone = new_phone()
    body = post(client, phone=phone, contact_name="Lê Văn Tám", address="Ngõ 12 Xương Giang")
    ((_, _, text),) = texts_to(app, phone)
    code = LINK.search(text).group(1)
    page = client.get(f"/s/{code}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert str(body["id"]) in html
    assert "Lê Văn Tám" not in html and "Xương Giang" not in html
    assert page.headers["Referrer-Policy"] == "no-referrer"
    text_in(client, phone, "cảm ơn")  # any reply proves the phone
    html = client.get(f"/s/{code}").get_data(as_text=True)
    assert "Lê Văn Tám" in html and "Xương Giang" in html


def test_the_texted_link_cancels_and_a_wrong_one_is_a_404(app, client):
    phone = new_phone()
    body = post(client, phone=phone)
    code = LINK.search(texts_to(app, phone)[0][2]).group(1)
    assert client.get("/s/AAAAAAAAAAAA").status_code == 404
    token = csrf_token(client, f"/s/{code}")
    cancelled = client.post(f"/s/{code}/cancel", data={"csrf_token": token})
    assert cancelled.status_code == 302
    assert status_of(client, body) == "cancelled"


def test_kannel_calls_need_the_secret(client):
    for secret in ("", "wrong"):
        answer = client.get(
            "/sms/kannel/inbound", query_string={"secret": secret, "from": "84912345678"}
        )
        assert answer.status_code == 403
        assert answer.get_json()["error"]["code"] == "forbidden"
    assert (
        client.get("/sms/kannel/dlr", query_string={"msg": "1", "status": "1"}).status_code == 403
    )


def test_bad_texts_get_a_short_answer_or_nothing_never_an_error(app, client):
    phone = new_phone()
    for text in ("", "x" * 2000, "\x00\x01\ufffd", "☃" * 500):
        assert text_in(client, phone, text).status_code == 200
    assert text_in(client, phone, "deadbeef", coding="1").status_code == 200  # binary
    for sender in ("connect", "+1555", "84", "8412345678901234567", "０９１２"):
        answer = client.get(
            "/sms/kannel/inbound",
            query_string={"secret": "test-sms-secret", "from": sender, "text": "1"},
        )
        assert answer.status_code == 200
    # Nothing to read: how to ask for help; letters start an ask for help, whose questions
    # a second answer they cannot read ends with the hotline.
    kinds = [kind for kind, _, _ in texts_to(app, phone)]
    assert kinds == [
        "not-understood",
        "intake-need",
        "intake-need",
        "intake-call-ward",
        "not-understood",
    ]


def test_texts_are_erased_with_their_request(app, client, runner):
    from connect.extensions import db
    from connect.sms.models import SmsMessage, SmsQuestion

    phone = new_phone()
    body = post(client, phone=phone)
    short = LINK.search(texts_to(app, phone)[0][2]).group(1)
    manage = {"X-Manage-Token": body["manage_token"]}
    assert client.post(f"{API}/{body['id']}/cancel", headers=manage, json={}).status_code == 200
    result = runner.invoke(args=["connect", "purge", "--older-than-days", "0"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        kept = db.session.query(SmsMessage).filter_by(request_id=body["id"]).all()
        assert kept and all(m.body is None and m.phone == "" for m in kept)
        assert db.session.query(SmsQuestion).filter_by(request_id=body["id"]).count() == 0
    assert texts_to(app, phone) == []
    assert client.get(f"/s/{short}").status_code == 404


def ask_checkins(app):
    from connect import jobs
    from connect.extensions import db

    with app.app_context():
        said = jobs.checkins()
        db.session.commit()
    return said


def test_still_need_help_before_expiry_1_keeps_it_open_2_cancels(app, client, clock):
    keep, drop = new_phone(), new_phone()
    kept, dropped = post(client, phone=keep), post(client, phone=drop)
    assert ask_checkins(app) == "asked: 0"  # days to go
    clock.advance(seconds=app.config["REQUEST_EXPIRY_SECONDS"] - 11 * 3600)
    assert ask_checkins(app) == "asked: 2"
    assert ask_checkins(app) == "asked: 0"  # once
    (question,) = [text for kind, _, text in texts_to(app, keep) if kind == "still_need"]
    assert "1" in question and "2" in question
    before = client.get(f"{API}/{kept['id']}").get_json()["expires_at"]
    text_in(client, keep, "1")
    text_in(client, drop, "2")
    assert status_of(client, kept) == "open" and status_of(client, dropped) == "cancelled"
    assert client.get(f"{API}/{kept['id']}").get_json()["expires_at"] > before
    assert texts_to(app, keep)[-1][0] == "kept" and texts_to(app, drop)[-1][0] == "cancelled"
    # Kept open: asked again before the new expiry, not before.
    assert ask_checkins(app) == "asked: 0"
    clock.advance(seconds=app.config["REQUEST_EXPIRY_SECONDS"] - 11 * 3600)
    assert ask_checkins(app) == "asked: 1"


def test_silence_lets_it_expire_as_before(app, client, clock, runner):
    phone = new_phone()
    body = post(client, phone=phone)
    clock.advance(seconds=app.config["REQUEST_EXPIRY_SECONDS"] - 3600)
    assert ask_checkins(app) == "asked: 1"
    clock.advance(seconds=2 * 3600)
    assert status_of(client, body) == "expired"
    text_in(client, phone, "1")  # too late: the question closed with the request
    assert status_of(client, body) == "expired"


def test_no_text_carries_another_persons_details(app, client, create_volunteer, create_staff):
    """Every text of a whole story (posted, claimed, helped, answered; a volunteer's
    assignment) holds no one else's phone, name, address or exact point."""
    from connect.extensions import db
    from connect.sms.models import SmsMessage

    from leak_check import Personal, find_leaks

    requester_phone, volunteer_phone = new_phone(), new_phone()
    at = (21.2801234, 106.2012345)
    body = post(
        client,
        phone=requester_phone,
        contact_name="Quách Thị Zyxw",
        address="Số 9 ngõ Zyxw",
        at=at,
    )
    requester = Personal(body["id"], "Quách Thị Zyxw", requester_phone, "Số 9 ngõ Zyxw", at)
    volunteer = create_volunteer(name="Đinh Văn Wvut", phone=volunteer_phone)
    client.put(
        "/api/v1/volunteers/me",
        headers=volunteer,
        json={
            "location": {"lat": at[0], "lon": at[1]},
            "radius_m": 5000,
            "categories": ["food"],
            "on_duty": True,
            "sms_alerts": True,
        },
    )
    claimed_and_helped(client, create_volunteer, body["id"])
    text_in(client, requester_phone, "1")
    other = post(client, phone=new_phone(), at=at)
    coordinator = create_staff()
    me = client.get("/api/v1/auth/me", headers=volunteer).get_json()["id"]
    assert (
        client.post(
            f"{API}/{other['id']}/assign", headers=coordinator, json={"volunteer_id": me}
        ).status_code
        == 200
    )
    with app.app_context():
        texts = db.session.query(SmsMessage.phone, SmsMessage.body).all()
    to_volunteer = [text for phone, text in texts if phone == volunteer_phone]
    to_requester = [text for phone, text in texts if phone == requester_phone]
    assert to_volunteer and len(to_requester) >= 4
    for text in to_volunteer:
        assert find_leaks(text, [requester]) == []
    for text in to_requester:
        assert "Wvut" not in text and volunteer_phone[3:] not in text
        assert "Zyxw" not in text and "21.28" not in text


def test_a_number_texting_in_a_loop_is_cut_off_without_kannel_retrying(database_url):
    from conftest import make_app

    app = make_app(database_url, RATELIMIT_ENABLED=True, RATELIMIT_SMS_PER_NUMBER="3 per hour")
    client = app.test_client()
    looping, other = new_phone(), new_phone()
    answers = [text_in(client, looping, f"tin {i}").status_code for i in range(5)]
    assert answers == [200] * 5  # Kannel hands over again on anything else
    assert text_in(client, other, "xin chào").status_code == 200
    assert len(texts_to(app, looping)) == 3  # one answer to each text it took
    assert len(texts_to(app, other)) == 1
