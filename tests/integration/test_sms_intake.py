"""Feature phones ask for help by SMS: a short conversation (what is needed, how many people,
which commune, an optional address) or one message that says it all; the request is posted
like any other, at its commune's point, approximate until a coordinator places it."""

import json
import re

import pytest
from sqlalchemy import select

from conftest import (
    ensure_demo_communes,
    make_app,
    new_phone,
    request_payload,
    text_in,
    texts_to,
)
from leak_check import Personal, find_leaks

API = "/api/v1/requests"
TAN_MY = (21.235, 106.21)  # the centre of the demo commune's box
LINK = re.compile(r"https://connect\.example\.vn/s/[2-9A-HJ-NP-Z]{12}")


@pytest.fixture
def communes(app):
    ensure_demo_communes(app)


def kinds(app, phone):
    return [kind for kind, _, _ in texts_to(app, phone)]


def last_text(app, phone):
    return texts_to(app, phone)[-1][2]


def say(client, phone, *texts):
    for text in texts:
        assert text_in(client, phone, text).status_code == 200


def requests_of(app, phone):
    from connect.extensions import db
    from connect.requests.models import HelpRequest

    with app.app_context():
        rows = db.session.execute(
            select(HelpRequest).where(HelpRequest.phone == phone).order_by(HelpRequest.id)
        ).scalars()
        return [
            {
                "id": r.id,
                "status": r.status,
                "source": r.source,
                "categories": r.categories,
                "household_size": r.household_size,
                "location_precision": r.location_precision,
                "address": r.address,
                "contact_name": r.contact_name,
                "description": r.description,
                "locale": r.locale,
                "exact": (round(r.location_lat, 6), round(r.location_lon, 6)),
                "public": (round(r.public_lat, 6), round(r.public_lon, 6)),
            }
            for r in _with_points(rows)
        ]


def _with_points(rows):
    from connect.spatial import latlon

    for row in rows:
        row.location_lat, row.location_lon = latlon(row.location)
        row.public_lat, row.public_lon = latlon(row.public_location)
        yield row


def test_a_conversation_step_by_step_posts_a_request_at_the_communes_point(app, client, communes):
    phone = new_phone()
    say(client, phone, "Xin chào, nhà tôi cần giúp")
    (kind, status, menu) = texts_to(app, phone)[-1]
    assert (kind, status) == ("intake-need", "sent")
    assert "1 Thực phẩm" in menu and "3 Thuốc" in menu and "5 Việc khác" in menu
    say(client, phone, "1 3")
    assert kinds(app, phone)[-1] == "intake-people"
    say(client, phone, "4")
    assert kinds(app, phone)[-1] == "intake-area"
    say(client, phone, "xa tan my")
    assert kinds(app, phone)[-1] == "intake-address"
    assert "0" in last_text(app, phone)
    say(client, phone, "Thôn Đông, nhà số 7")
    assert kinds(app, phone) == [
        "intake-need",
        "intake-people",
        "intake-area",
        "intake-address",
        "posted",
    ]
    (posted,) = requests_of(app, phone)
    assert posted["source"] == "sms" and posted["status"] == "open"
    assert posted["location_precision"] == "area"
    assert posted["categories"] == ["food", "medicine"] and posted["household_size"] == 4
    assert posted["exact"] == TAN_MY and posted["public"] == TAN_MY  # never blurred
    assert posted["address"] == "Thôn Đông, nhà số 7"
    assert posted["contact_name"] == "Người nhắn tin" and posted["locale"] == "vi"
    assert "Tân Mỹ (Bắc Giang)" in posted["description"]
    assert f"yêu cầu số {posted['id']}" in last_text(app, phone)
    assert LINK.search(last_text(app, phone))


def test_zero_skips_the_address(app, client, communes):
    phone = new_phone()
    say(client, phone, "cần giúp", "2", "3", "Trần Phú", "0")
    (posted,) = requests_of(app, phone)
    assert posted["address"] is None and posted["categories"] == ["supplies"]
    assert posted["household_size"] == 3


@pytest.mark.parametrize(
    "text",
    [
        "GAO THUOC 4 NGUOI XA TAN MY",
        "gạo, thuốc. 4 người, xã Tân Mỹ",
        "Cần GẠO và THUỐC cho nhà 4 người ở Tân Mỹ ạ",
        "tan my gao thuoc 4ng",
    ],
)
def test_one_message_that_says_it_all_is_posted_at_once(app, client, communes, text):
    phone = new_phone()
    say(client, phone, text)
    assert kinds(app, phone) == ["posted"]
    (posted,) = requests_of(app, phone)
    assert posted["categories"] == ["food", "medicine"] and posted["household_size"] == 4
    assert posted["exact"] == TAN_MY and posted["location_precision"] == "area"
    assert posted["address"] is None


def test_a_first_message_saying_part_of_it_is_asked_only_the_rest(app, client, communes):
    phone = new_phone()
    say(client, phone, "can thuoc o phuong dinh ke")
    assert kinds(app, phone) == ["intake-people"]
    say(client, phone, "2 nguoi")
    assert kinds(app, phone)[-1] == "intake-address"
    say(client, phone, "0")
    (posted,) = requests_of(app, phone)
    assert posted["categories"] == ["medicine"] and posted["household_size"] == 2


def test_an_unknown_commune_is_asked_again_once_then_the_hotline(app, client, communes):
    from connect.extensions import db
    from connect.sms.models import IN, SmsMessage

    phone = new_phone()
    say(client, phone, "gao 3 nguoi", "Sao Hỏa")
    assert kinds(app, phone) == ["intake-area", "intake-area-again"]
    say(client, phone, "Hà Nội")
    assert kinds(app, phone)[-1] == "intake-call-ward"
    assert "đường dây nóng" in last_text(app, phone)
    assert requests_of(app, phone) == []
    with app.app_context():  # what they wrote goes with the conversation
        bodies = db.session.execute(
            select(SmsMessage.body).where(SmsMessage.phone == phone, SmsMessage.direction == IN)
        ).scalars()
        assert set(bodies) == {None}
    say(client, phone, "chao")  # a new conversation
    assert kinds(app, phone)[-1] == "intake-need"


def test_the_hotline_is_named_when_set(database_url):
    app = make_app(database_url, HOTLINE="0204 3854 321")
    ensure_demo_communes(app)
    client, phone = app.test_client(), new_phone()
    say(client, phone, "thuoc 2 nguoi", "abc", "xyz")
    assert kinds(app, phone)[-1] == "intake-call"
    assert "0204 3854 321" in last_text(app, phone)


def test_answers_that_are_no_answer_are_asked_again_once(app, client, communes):
    phone = new_phone()
    say(client, phone, "xin chao", "9", "gì cơ?")
    assert kinds(app, phone) == ["intake-need", "intake-need", "intake-call-ward"]
    phone = new_phone()
    say(client, phone, "thuoc", "77", "3")
    assert kinds(app, phone) == ["intake-people", "intake-people", "intake-area"]


def test_several_communes_of_one_name_are_a_numbered_choice(app, client, communes, tmp_path):
    other = {
        "type": "Feature",
        "properties": {
            "code": "t-tan-my",
            "name": "Xã Tân Mỹ",
            "level": "commune",
            "parent": "24-220",
        },
        "geometry": {
            "type": "Polygon",
            "coordinates": [
                [[106.45, 21.35], [106.5, 21.35], [106.5, 21.4], [106.45, 21.4], [106.45, 21.35]]
            ],
        },
    }
    path = tmp_path / "more.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [other]}))
    assert app.test_cli_runner().invoke(args=["connect", "import-areas", str(path)]).exit_code == 0
    phone = new_phone()
    say(client, phone, "GAO 4 NGUOI XA TAN MY")
    assert kinds(app, phone) == ["intake-area-pick"]
    assert "1 Tân Mỹ (Bắc Giang) 2 Tân Mỹ (Lục Nam)" in last_text(app, phone)
    say(client, phone, "3")  # not a choice: asked again
    say(client, phone, "2")
    assert kinds(app, phone) == ["intake-area-pick", "intake-area-pick", "intake-address"]
    say(client, phone, "0")
    (posted,) = requests_of(app, phone)
    assert posted["exact"] == (21.375, 106.475)


def test_a_number_with_an_active_request_hears_about_it_instead(
    app, client, communes, create_volunteer
):
    phone = new_phone()
    say(client, phone, "GAO 4 NGUOI XA TAN MY")
    (posted,) = requests_of(app, phone)
    say(client, phone, "thuoc 2 nguoi xa song khe")
    assert kinds(app, phone) == ["posted", "intake-active"]
    assert f"yêu cầu số {posted['id']}: đang chờ người giúp" in last_text(app, phone)
    volunteer = create_volunteer(at=TAN_MY)
    assert client.post(f"{API}/{posted['id']}/claim", headers=volunteer).status_code == 200
    say(client, phone, "cảm ơn")
    assert "đã có người nhận giúp" in last_text(app, phone)
    assert len(requests_of(app, phone)) == 1
    web = new_phone()
    assert client.post(API, json=request_payload(phone=web)).status_code == 201
    say(client, web, "GAO 4 NGUOI XA TAN MY")  # posted on the web page: the same rule
    assert kinds(app, web) == ["posted", "intake-active"]


def test_a_request_posted_meanwhile_on_the_web_ends_the_conversation(app, client, communes):
    phone = new_phone()
    say(client, phone, "gao 2 nguoi")
    assert client.post(API, json=request_payload(phone=phone)).status_code == 201
    say(client, phone, "tran phu", "0")
    assert kinds(app, phone) == ["intake-area", "posted", "intake-address", "intake-active"]
    assert len(requests_of(app, phone)) == 1


def test_a_blocked_number_is_told_it_cannot_post(app, client, communes, create_staff):
    phone = new_phone()
    admin = create_staff(role="admin")
    body = client.post(API, json=request_payload(phone=phone)).get_json()
    blocked = client.post(f"{API}/{body['id']}/block-phone", headers=admin, json={"reason": "x"})
    assert blocked.status_code == 201, blocked.get_json()
    client.post(f"{API}/{body['id']}/cancel", headers=admin, json={})
    say(client, phone, "GAO 4 NGUOI XA TAN MY")
    assert kinds(app, phone)[-1] == "intake-blocked"
    assert len(requests_of(app, phone)) == 1
    from connect.conversations.questions import open_question

    with app.app_context():
        assert open_question(phone) is None  # nothing asked


def test_posts_by_text_count_against_the_per_phone_limit(database_url):
    app = make_app(
        database_url,
        RATELIMIT_ENABLED=True,
        RATELIMIT_POST_PER_PHONE="1 per day",
        RATELIMIT_SMS_PER_NUMBER="100 per hour",
    )
    ensure_demo_communes(app)
    client, phone = app.test_client(), new_phone()
    say(client, phone, "GAO 4 NGUOI XA TAN MY")
    (posted,) = requests_of(app, phone)
    from connect.extensions import db
    from connect.requests.services import cancel_by_phone

    with app.app_context():
        cancel_by_phone(posted["id"], phone)
        db.session.commit()
    say(client, phone, "GAO 4 NGUOI XA TAN MY")
    assert kinds(app, phone)[-1] == "intake-limited"
    assert len(requests_of(app, phone)) == 1


def test_texts_from_one_commune_are_not_look_alikes_of_each_other(app, client, communes):
    from connect.extensions import db
    from connect.safety.models import RequestFlag

    first, second = new_phone(), new_phone()
    say(client, first, "GAO 4 NGUOI XA TAN MY")
    say(client, second, "GAO 2 NGUOI XA TAN MY")
    with app.app_context():
        assert db.session.execute(select(RequestFlag)).first() is None


def test_the_conversations_texts_belong_to_the_request(app, client, communes):
    from connect.extensions import db
    from connect.sms.models import SmsMessage

    phone = new_phone()
    say(client, phone, "gao", "4", "tan my", "Xóm Chùa")
    (posted,) = requests_of(app, phone)
    with app.app_context():
        owners = db.session.execute(
            select(SmsMessage.request_id).where(SmsMessage.phone == phone)
        ).scalars()
        assert set(owners) == {posted["id"]}


def test_no_text_carries_another_persons_details(app, client, communes, create_volunteer):
    """Neighbours' names, phones, addresses and exact points stay out of every text."""
    neighbours = []
    for i, at in enumerate([(21.2351, 106.2101), TAN_MY, (21.2301, 106.2049)]):
        payload = request_payload(
            at=at,
            phone=new_phone(),
            contact_name=f"Hoàng Văn Qx{i}",
            address=f"Số {i} ngõ Qz{i}, Tân Mỹ",
        )
        body = client.post(API, json=payload).get_json()
        neighbours.append(
            Personal(body["id"], payload["contact_name"], payload["phone"], payload["address"], at)
        )
    phones = [new_phone() for _ in range(3)]
    say(client, phones[0], "xin chao", "1", "4", "tan my", "Thôn Qz9")
    say(client, phones[1], "GAO 2 NGUOI TAN MY", "cảm ơn")
    volunteer = create_volunteer(at=TAN_MY, name="Trần Thị Bình")
    (posted,) = requests_of(app, phones[1])
    client.post(f"{API}/{posted['id']}/claim", headers=volunteer)
    say(client, phones[1], "ai đến?")
    say(client, phones[2], "thuoc", "x", "y")
    bodies = [body for phone in phones for _, _, body in texts_to(app, phone)]
    assert len(bodies) >= 10
    for body in bodies:
        assert find_leaks(body, neighbours) == [], body
        assert "Thôn Qz9" not in body and "Trần" not in body
