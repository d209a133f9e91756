"""One-time codes by SMS and what they unlock: a forgotten password (API and pages), a lost
manage link again (/m/resend), a requester's phone verified (a mark on the console).

A code is read from what the gateway was handed, as the phone gets it: the stored text forgets
it once sent, and the code table holds only its HMAC."""

import logging
import re

import pytest
from test_rate_limits import assert_rate_limited, ip, limited  # noqa: F401

from connect.requests.forms import local_phone
from connect.sms.text import fold, segments

from conftest import (
    STAFF_PASSWORD,
    fire_together,
    handed_texts,
    new_phone,
    request_payload,
    text_in,
    texts_to,
)

API = "/api/v1/auth"
RESET, CONFIRM = f"{API}/password-reset", f"{API}/password-reset/confirm"
PASSWORD, NEW_PASSWORD = "mat-khau-1", "mat-khau-moi-2"
CODE = re.compile(r"(?<!\d)(\d{6})(?!\d)")
CSRF = re.compile(r'name="csrf_token"(?: type="hidden")? value="([^"]+)"')


def csrf_token(client, path):
    """The CSRF token of the form on the page at ``path`` (WTForms' or a hand-written one)."""
    response = client.get(path)
    assert response.status_code == 200, response.status_code
    return CSRF.search(response.get_data(as_text=True)).group(1)


@pytest.fixture
def phones(app, monkeypatch):
    """The texts each phone gets, as the gateway was handed them."""
    return handed_texts(app, monkeypatch)


def code_sent_to(phones, phone):
    """The code in the newest text the phone got."""
    return CODE.search(phones[phone][-1]).group(1)


def other_than(code):
    return f"{(int(code) + 1) % 1_000_000:06d}"


def ask_reset(client, phone, **kwargs):
    return client.post(RESET, json={"phone": phone}, **kwargs)


def confirm(client, phone, code, password=NEW_PASSWORD):
    return client.post(CONFIRM, json={"phone": phone, "code": code, "password": password})


def login(client, phone, password):
    return client.post(f"{API}/token", json={"phone": phone, "password": password})


def error_code(response):
    return response.get_json()["error"]["code"]


def account(create_user):
    user, headers = create_user(password=PASSWORD)
    return user["phone"], headers


# -- the text ---------------------------------------------------------------------------


def test_the_code_text_in_both_languages_fits_one_segment_folded_or_not(app):
    from connect.notifications.render import sms

    with app.test_request_context():
        vi = sms("code", "vi", code="123456", minutes=10)
        en = sms("code", "en", code="123456", minutes=10)
    assert vi == "connect: mã của bạn là 123456, dùng trong 10 phút. Đừng đưa mã cho ai."
    assert en == (
        "connect: your code is 123456. It works for 10 minutes. Never give it to anyone."
    )
    assert [segments(text) for text in (vi, fold(vi), en)] == [1, 1, 1]


# -- password reset: the API -----------------------------------------------------------


def test_asking_a_reset_answers_202_for_any_number_and_texts_only_an_account(
    app, client, create_user, phones
):
    known, _ = account(create_user)
    unknown = new_phone()
    assert ask_reset(client, known).status_code == 202
    assert ask_reset(client, unknown).status_code == 202
    assert texts_to(app, unknown) == []
    assert texts_to(app, known) == [("code", "sent", None)]  # the words are not kept
    assert phones[known][0].startswith("connect: mã của bạn là ")
    client.post(RESET, json={"phone": known, "language": "en"})
    assert phones[known][-1].startswith("connect: your code is ")


def test_the_right_code_sets_the_new_password_once(client, create_user, phones):
    phone, _ = account(create_user)
    ask_reset(client, phone)
    code = code_sent_to(phones, phone)
    assert confirm(client, phone, code).status_code == 204
    assert login(client, phone, NEW_PASSWORD).status_code == 200
    assert login(client, phone, PASSWORD).status_code == 401
    again = confirm(client, phone, code, "mat-khau-khac-3")
    assert again.status_code == 422 and error_code(again) == "invalid_code"
    assert login(client, phone, NEW_PASSWORD).status_code == 200


def test_a_reset_ends_every_token_and_session_of_the_account(app, client, create_user, phones):
    phone, headers = account(create_user)
    other = {"Authorization": f"Bearer {login(client, phone, PASSWORD).get_json()['token']}"}
    browser = app.test_client()
    browser.post(
        "/login",
        data={"phone": phone, "password": PASSWORD, "csrf_token": csrf_token(browser, "/login")},
    )
    assert browser.get("/volunteer/profile").status_code == 200
    ask_reset(client, phone)
    assert confirm(client, phone, code_sent_to(phones, phone)).status_code == 204
    for bearer in (headers, other):
        answer = client.get(f"{API}/me", headers=bearer)
        assert answer.status_code == 401 and error_code(answer) == "invalid_token"
    assert browser.get("/volunteer/profile").headers["Location"].startswith("/login")


def test_five_wrong_codes_lock_the_code(app, client, create_user, phones):
    from connect.extensions import db
    from connect.sms.models import PhoneCode

    phone, _ = account(create_user)
    ask_reset(client, phone)
    code = code_sent_to(phones, phone)
    for _ in range(5):
        wrong = confirm(client, phone, other_than(code))
        assert wrong.status_code == 422 and error_code(wrong) == "invalid_code"
    with app.app_context():
        assert db.session.query(PhoneCode.tries).filter_by(phone=phone).scalar() == 5
    assert confirm(client, phone, code).status_code == 422
    assert login(client, phone, PASSWORD).status_code == 200
    ask_reset(client, phone)  # a new code works again
    assert confirm(client, phone, code_sent_to(phones, phone)).status_code == 204


def test_a_code_used_twice_at_once_works_once(app, client, create_user, phones):
    phone, _ = account(create_user)
    ask_reset(client, phone)
    code = code_sent_to(phones, phone)
    calls = [
        (CONFIRM, {}, {"phone": phone, "code": code, "password": password})
        for password in (NEW_PASSWORD, "mat-khau-khac-3")
    ]
    answers = fire_together(app, calls)
    assert sorted(status for status, _ in answers) == [204, 422], answers


def test_a_code_works_for_10_minutes(client, create_user, phones, clock):
    phone, _ = account(create_user)
    ask_reset(client, phone)
    clock.advance(minutes=9, seconds=59)
    assert confirm(client, phone, code_sent_to(phones, phone)).status_code == 204
    ask_reset(client, phone)
    clock.advance(minutes=10)
    late = confirm(client, phone, code_sent_to(phones, phone), "mat-khau-khac-3")
    assert late.status_code == 422 and error_code(late) == "invalid_code"


def test_a_new_code_replaces_the_older_one(client, create_user, phones):
    phone, _ = account(create_user)
    ask_reset(client, phone)
    first = code_sent_to(phones, phone)
    ask_reset(client, phone)
    second = code_sent_to(phones, phone)
    if first != second:
        assert confirm(client, phone, first).status_code == 422
    assert confirm(client, phone, second).status_code == 204


def test_an_unknown_number_gets_the_same_refusal_as_a_wrong_code(client, create_user, phones):
    phone, _ = account(create_user)
    ask_reset(client, phone)
    wrong = confirm(client, phone, other_than(code_sent_to(phones, phone)))
    unknown = confirm(client, new_phone(), "123456")
    assert wrong.status_code == unknown.status_code == 422
    assert wrong.get_json() == unknown.get_json()


def test_the_new_password_follows_the_rules_of_registration(client, create_user, phones):
    phone, _ = account(create_user)
    ask_reset(client, phone)
    code = code_sent_to(phones, phone)
    short = confirm(client, phone, code, "ngan")
    assert (
        short.status_code == 422 and "password" in short.get_json()["error"]["details"]["fields"]
    )
    own = confirm(client, phone, code, "0" + phone[3:])
    assert own.status_code == 422 and "password" in own.get_json()["error"]["details"]["fields"]
    malformed = confirm(client, phone, "12ab56")
    assert "code" in malformed.get_json()["error"]["details"]["fields"]
    assert confirm(client, phone, code).status_code == 204  # none of those cost a try


def test_codes_are_kept_only_as_an_hmac(app, client, create_user, phones):
    from sqlalchemy import select

    from connect.extensions import db
    from connect.sms.models import PhoneCode, SmsMessage

    phone, _ = account(create_user)
    ask_reset(client, phone)
    code = code_sent_to(phones, phone)
    with app.app_context():
        row = db.session.execute(select(PhoneCode).where(PhoneCode.phone == phone)).scalar_one()
        stored = [str(value) for value in vars(row).values()]
        bodies = db.session.execute(select(SmsMessage.body).where(SmsMessage.phone == phone))
        bodies = list(bodies.scalars())
    assert not any(code in value for value in stored)
    assert len(row.code_hash) == 64 and row.tries == 0 and row.used_at is None
    assert bodies == [None]


def test_a_number_that_sent_stop_still_gets_the_code_it_asks_for(app, client, create_user):
    phone, _ = account(create_user)
    text_in(client, phone, "STOP")
    ask_reset(client, phone)
    assert texts_to(app, phone, "code") == [("code", "sent", None)]


def test_a_code_passes_quiet_hours_but_not_the_daily_cap_and_is_dropped_once_stale(
    app, client, create_user, clock
):
    from connect.extensions import db
    from connect.sms import outbound
    from connect.sms.models import SmsMessage

    phone, _ = account(create_user)
    app.config["SMS_QUIET_HOURS"] = "00:00-23:59"
    ask_reset(client, phone)
    assert texts_to(app, phone, "code") == [("code", "sent", None)]
    app.config["SMS_DAILY_CAP_PER_NUMBER"] = 1
    ask_reset(client, phone)
    (kind, status, body) = texts_to(app, phone, "code")[-1]
    assert status == "waiting" and body  # kept only while it may still go
    clock.advance(minutes=10)
    with app.app_context():
        message = db.session.query(SmsMessage).order_by(SmsMessage.id.desc()).first()
        outbound.send(message, clock())
        db.session.commit()
    assert texts_to(app, phone, "code")[-1] == ("code", "failed", None)


def test_codes_never_reach_the_logs(client, create_user, phones, caplog):
    phone, _ = account(create_user)
    with caplog.at_level(logging.DEBUG):
        ask_reset(client, phone)
        code = code_sent_to(phones, phone)
        confirm(client, phone, other_than(code))
        confirm(client, phone, code)
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "sms" in logged  # the gateway said it sent something
    assert code not in logged and phone[3:] not in logged


# -- password reset: the pages ------------------------------------------------------------


def test_the_login_page_leads_to_a_new_password_by_code(app, client, create_user, phones):
    phone, _ = account(create_user)
    login_page = client.get("/login").get_data(as_text=True)
    assert 'href="/password-reset"' in login_page and "Quên mật khẩu?" in login_page
    asked = client.post(
        "/password-reset",
        data={"phone": "0" + phone[3:], "csrf_token": csrf_token(client, "/password-reset")},
    )
    assert asked.status_code == 302 and asked.headers["Location"] == "/password-reset/code"
    page = client.get("/password-reset/code")
    assert f'value="{local_phone(phone)}"' in page.get_data(as_text=True)  # kept for this page
    code = code_sent_to(phones, phone)
    token = csrf_token(client, "/password-reset/code")
    form = {"phone": "0" + phone[3:], "password": NEW_PASSWORD, "csrf_token": token}
    wrong = client.post("/password-reset/code", data={**form, "code": other_than(code)})
    assert wrong.status_code == 422
    assert "Mã này không đúng" in wrong.get_data(as_text=True)
    spaced = f"{code[:3]} {code[3:]}"  # as read off a phone's screen
    done = client.post("/password-reset/code", data={**form, "code": spaced})
    assert done.status_code == 302
    assert client.get("/volunteer/profile").status_code == 200  # logged in
    assert login(client, phone, NEW_PASSWORD).status_code == 200


def test_the_reset_pages_speak_english_too_and_say_the_same_for_any_number(app, client):
    client.get("/password-reset?lang=en")
    token = csrf_token(client, "/password-reset")
    asked = client.post("/password-reset", data={"phone": new_phone(), "csrf_token": token})
    page = client.get(asked.headers["Location"]).get_data(as_text=True)
    assert "If this number has an account, we have sent it a code" in page
    assert "Choose a new password" in page


def test_the_reset_pages_refuse_a_form_without_its_csrf_token(client):
    refused = client.post("/password-reset", data={"phone": new_phone()})
    assert refused.status_code == 302 and refused.headers["Location"] == "/password-reset"


# -- a lost manage link ---------------------------------------------------------------------


def post(client, **overrides):
    response = client.post("/api/v1/requests", json=request_payload(**overrides))
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def ask_link(client, phone):
    token = csrf_token(client, "/m/resend")
    return client.post("/m/resend", data={"phone": phone, "csrf_token": token})


def give_code(client, phone, code):
    token = csrf_token(client, "/m/resend/code")
    return client.post("/m/resend/code", data={"phone": phone, "code": code, "csrf_token": token})


def test_a_lost_link_comes_back_by_code_and_the_old_one_stops_working(app, client, phones):
    phone = new_phone()
    body = post(client, phone=phone)
    home = client.get("/").get_data(as_text=True)
    assert 'href="/m/resend"' in home and "Mất đường link?" in home
    assert 'href="/m/resend"' in client.get("/need-help").get_data(as_text=True)
    asked = ask_link(client, phone)
    assert asked.status_code == 302 and asked.headers["Location"] == "/m/resend/code"
    landed = give_code(client, phone, code_sent_to(phones, phone))
    assert landed.status_code == 302
    new_token = landed.headers["Location"].rsplit("/", 1)[1]
    assert new_token != body["manage_token"]
    assert client.get(f"/m/{new_token}").status_code == 200
    assert client.get(f"/m/{body['manage_token']}").status_code == 404


def test_asking_for_a_link_tells_nothing_before_the_code(app, client, phones):
    from connect.extensions import db
    from connect.requests.models import HelpRequest

    closed, stranger = new_phone(), new_phone()
    body = post(client, phone=closed, sms_updates=False)
    client.post(
        f"/api/v1/requests/{body['id']}/cancel",
        headers={"X-Manage-Token": body["manage_token"]},
    )
    answers = []
    for phone in (closed, stranger):
        asked = ask_link(client, phone)
        page = client.get("/m/resend/code").get_data(as_text=True)
        page = CSRF.sub("", page.replace(local_phone(phone), ""))  # its signature is timed
        answers.append((asked.status_code, asked.headers["Location"], page))
    assert answers[0] == answers[1]
    assert "Nếu đã có yêu cầu đăng bằng số này" in answers[0][2]
    assert texts_to(app, stranger) == []  # a number no request carries gets nothing
    wrong = give_code(client, closed, other_than(code_sent_to(phones, closed)))
    assert wrong.status_code == 422
    told = give_code(client, closed, code_sent_to(phones, closed))
    assert told.status_code == 200
    assert "Số này hiện không có yêu cầu nào đang mở" in told.get_data(as_text=True)
    with app.app_context():
        assert db.session.get(HelpRequest, body["id"]).status == "cancelled"


# -- a verified phone ---------------------------------------------------------------------


@pytest.fixture
def coordinator(app, create_staff):
    """A coordinator of the requests' province, logged in to the console in a browser."""
    phone = new_phone()
    create_staff(phone=phone)
    browser = app.test_client()
    token = csrf_token(browser, "/login")
    browser.post("/login", data={"phone": phone, "password": STAFF_PASSWORD, "csrf_token": token})
    return browser


def sees_verified_phone(coordinator, request_id):
    page = coordinator.get(f"/console/requests/{request_id}")
    assert page.status_code == 200
    return "data-phone-verified" in page.get_data(as_text=True)


def test_a_requester_verifies_the_phone_and_coordinators_see_the_mark(
    app, client, phones, coordinator
):
    phone = new_phone()
    body = post(client, phone=phone)
    manage = f"/m/{body['manage_token']}"
    assert not sees_verified_phone(coordinator, body["id"])
    page = client.get(manage).get_data(as_text=True)
    assert "Xác minh số điện thoại" in page and f'action="{manage}/verify"' in page
    sent = client.post(f"{manage}/verify", data={"csrf_token": csrf_token(client, manage)})
    assert sent.status_code == 302 and sent.headers["Location"] == f"{manage}/verify/code"
    assert sent.headers["Referrer-Policy"] == "no-referrer"
    code = code_sent_to(phones, phone)
    token = csrf_token(client, f"{manage}/verify/code")
    wrong = client.post(
        f"{manage}/verify/code", data={"code": other_than(code), "csrf_token": token}
    )
    assert wrong.status_code == 422
    done = client.post(f"{manage}/verify/code", data={"code": code, "csrf_token": token})
    assert done.status_code == 302 and done.headers["Location"] == manage
    page = client.get(manage).get_data(as_text=True)
    assert "data-phone-verified" in page and f"{manage}/verify" not in page
    assert sees_verified_phone(coordinator, body["id"])


def test_any_reply_after_posting_shows_the_mark_too(app, client, coordinator):
    phone = new_phone()
    text_in(client, phone, "xin chào")  # before the post: proves nothing about it
    body = post(client, phone=phone)
    assert not sees_verified_phone(coordinator, body["id"])
    text_in(client, phone, "cảm ơn")
    assert sees_verified_phone(coordinator, body["id"])


def test_a_wrong_link_cannot_ask_a_code(app, client):
    token = "x" * 43
    refused = client.post(f"/m/{token}/verify", data={"csrf_token": csrf_token(client, "/login")})
    assert refused.status_code == 404
    assert client.get(f"/m/{token}/verify/code").status_code == 404


# -- rate limits ------------------------------------------------------------------------------


def test_asking_codes_is_rate_limited_per_phone_and_per_address(limited):
    client = limited(RATELIMIT_CODES_PER_PHONE="2 per hour", RATELIMIT_CODES_PER_IP="3 per hour")
    phone, here, there = new_phone(), ip("10.0.0.1"), ip("10.0.0.2")
    assert [ask_reset(client, phone, **here).status_code for _ in range(2)] == [202, 202]
    assert_rate_limited(ask_reset(client, phone, **there))  # a phone's budget, from anywhere
    assert ask_reset(client, new_phone(), **here).status_code == 202
    assert_rate_limited(ask_reset(client, new_phone(), **here))  # the address's budget
    # The pages count in the API's budgets.
    assert client.post("/m/resend", data={"phone": phone}, **there).status_code == 429
    assert client.post("/m/resend", data={"phone": new_phone()}, **there).status_code == 302


def test_wrong_codes_are_rate_limited_per_phone(limited):
    client = limited(RATELIMIT_CODE_TRIES_PER_PHONE="3 per hour")
    phone = new_phone()
    assert [confirm(client, phone, "123456").status_code for _ in range(3)] == [422] * 3
    assert_rate_limited(confirm(client, phone, "123456"))
    page = client.post("/m/resend/code", data={"phone": phone, "code": "123456"})
    assert page.status_code == 429
    assert confirm(client, new_phone(), "123456").status_code == 422  # another phone may try
