"""A requester's texts through a real Kannel and its fake SMS centre, both ways: the link on
posting arrives in Vietnamese, "were you helped?" is answered from the phone, the delivery
report comes back, and STOP typed in Vietnamese (UCS-2) opts the number out."""

import time
from urllib.parse import urlencode

import pytest

from conftest import make_app, new_phone, request_payload, texts_to

API = "/api/v1/requests"


@pytest.fixture
def served(database_url, kannel_settings, kannel_callbacks):
    """An app that sends through Kannel, and Kannel's calls handed to it as they come."""
    from connect.extensions import db

    app = make_app(database_url, **kannel_settings)
    client = app.test_client()

    def hand_over(call):
        answer = client.get(f"{call.path}?{call.query}")
        return answer.status_code, answer.get_data()

    kannel_callbacks.handler = hand_over
    yield app, client
    kannel_callbacks.handler = None
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def at_the_phone(kannel, phone, count, encoding="utf-16-be"):
    """The first ``count`` whole texts the phone got (concatenated parts joined), in order."""
    from kannelbox import reassemble

    texts = []

    def arrived():
        texts.clear()  # each a text, or the parts of one, in the order their first part came
        groups = {}
        for got in kannel.sent_messages(to=phone):
            if got.concatenation is None:
                texts.append(got.text)
            else:
                group = groups.setdefault(got.concatenation[0], [])
                texts.extend([group] if not group else [])
                group.append(got)
        whole = [t for t in texts if isinstance(t, str) or len(t) == t[0].concatenation[1]]
        return len(whole) >= count and len(texts) >= count

    wait_until(arrived)
    return [t if isinstance(t, str) else reassemble(t, encoding) for t in texts[:count]]


def wait_until(condition, seconds=10):
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_a_requester_hears_back_and_answers_through_kannel(
    served, kannel, kannel_callbacks, create_volunteer
):
    app, client = served
    phone = new_phone()
    posted = client.post(API, json=request_payload(phone=phone, language="vi"))
    assert posted.status_code == 201
    request_id = posted.get_json()["id"]
    (link,) = at_the_phone(kannel, phone, 1)
    ((kind, _, body),) = texts_to(app, phone)
    assert (kind, link) == ("posted", body)
    assert f"yêu cầu số {request_id}" in link
    # The fake SMS centre reports delivery: the text is marked delivered.
    wait_until(lambda: texts_to(app, phone)[0][1] == "delivered")
    assert kannel_callbacks.received("/sms/kannel/dlr")

    volunteer = create_volunteer(name="Phạm Thu Hà")
    with app.test_client() as staff:
        assert staff.post(f"{API}/{request_id}/claim", headers=volunteer).status_code == 200
        assert staff.post(f"{API}/{request_id}/helped", headers=volunteer).status_code == 200
    claimed, question = at_the_phone(kannel, phone, 3)[1:]
    assert "Hà" in claimed and "Phạm" not in claimed
    assert "1" in question and "2" in question

    kannel.send_mo(phone.lstrip("+"), "8088", "1")
    wait_until(lambda: texts_to(app, phone)[-1][0] == "thanks")
    manage = {"X-Manage-Token": posted.get_json()["manage_token"]}
    assert client.get(f"{API}/{request_id}", headers=manage).get_json()["status"] == "confirmed"
    (thanks,) = at_the_phone(kannel, phone, 4)[3:]
    assert thanks == texts_to(app, phone)[-1][2]


def test_stop_in_vietnamese_from_a_phone_opts_it_out(served, kannel):
    app, _ = served
    phone = new_phone()
    kannel.send_mo(phone.lstrip("+"), "8088", "Dừng")
    wait_until(lambda: [kind for kind, _, _ in texts_to(app, phone)] == ["stopped"])
    (confirmation,) = at_the_phone(kannel, phone, 1)
    assert confirmation.startswith("connect: bạn sẽ không nhận tin nhắn")


def test_kannel_is_refused_without_the_secret(served, kannel_callbacks):
    _, client = served
    query = urlencode({"from": "84912345678", "to": "8088", "text": "1", "secret": "guess"})
    assert client.get(f"/sms/kannel/inbound?{query}").status_code == 403
