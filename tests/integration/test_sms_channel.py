"""The SMS channel: quiet hours, each number's daily cap and the hourly budget hold texts back
(never lose them); folding, the two-segment limit, delivery reports and the gateway setting."""

from datetime import datetime, timedelta

import pytest

from conftest import make_app, new_phone

# 23:00 in Hanoi (UTC+7), inside the default quiet hours 22:00-06:00.
LATE_EVENING_UTC = datetime(2026, 12, 7, 16, 0)


@pytest.fixture
def channel(database_url, clock):
    """An app whose outbox the test drains itself, with the default quiet hours."""
    from connect.extensions import db

    app = make_app(database_url, OUTBOX_INLINE=False, SMS_QUIET_HOURS="22:00-06:00")
    clock.set(LATE_EVENING_UTC)
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()


def queue(phone, body="connect: thử nghiệm", kind="posted", **details):
    from connect.extensions import db
    from connect.sms.outbound import send_text

    message = send_text(phone, body, kind, **details)
    db.session.commit()
    return message.id


def run_outbox(clock):
    from connect.extensions import db
    from connect.outbox.worker import drain

    db.session.commit()  # the worker begins its own transactions
    drain(now=clock())


def message(message_id):
    from connect.extensions import db
    from connect.sms.models import SmsMessage

    db.session.expire_all()
    return db.session.get(SmsMessage, message_id)


def test_quiet_hours_hold_a_text_until_six_and_urgent_ones_go_at_once(channel, clock):
    phone = new_phone()
    later, now = queue(phone), queue(phone, urgent=True)
    run_outbox(clock)
    assert message(now).status == "sent"
    held = message(later)
    assert (held.status, held.reason) == ("waiting", "quiet-hours")
    assert held.not_before == datetime(2026, 12, 7, 23, 0)  # 06:00 in Hanoi
    clock.set(datetime(2026, 12, 7, 23, 0, 1))
    run_outbox(clock)
    assert message(later).status == "sent"


def test_a_number_over_its_daily_cap_waits_for_the_next_local_day(channel, clock):
    channel.config["SMS_DAILY_CAP_PER_NUMBER"] = 2
    phone, other = new_phone(), new_phone()
    sent = [queue(phone, urgent=True) for _ in range(3)]
    elsewhere = queue(other, urgent=True)
    run_outbox(clock)
    assert [message(i).status for i in sent] == ["sent", "sent", "waiting"]
    assert message(sent[2]).reason == "daily-cap"
    assert message(elsewhere).status == "sent"
    clock.set(datetime(2026, 12, 7, 17, 0, 1))  # midnight in Hanoi has passed
    run_outbox(clock)
    assert message(sent[2]).status == "sent"


def test_the_hourly_budget_holds_texts_and_a_users_text_falls_back_to_the_inbox(channel, clock):
    from connect.sms import signals

    channel.config["SMS_HOURLY_BUDGET"] = 1
    fell = []
    with signals.fell_back.connected_to(fell.append):
        first = queue(new_phone(), urgent=True)
        waits = queue(new_phone(), urgent=True)
        inbox = queue(new_phone(), urgent=True, fallback={"kind": "assigned"})
        run_outbox(clock)
    assert message(first).status == "sent"
    assert (message(waits).status, message(waits).reason) == ("waiting", "hourly-budget")
    assert message(inbox).status == "fell_back"
    assert [m.id for m in fell] == [inbox]
    clock.advance(hours=1, seconds=1)
    run_outbox(clock)
    assert message(waits).status == "sent"


def test_a_stopped_number_gets_nothing_but_a_code(channel, clock):
    from connect.extensions import db
    from connect.sms.models import SmsOptOut

    phone = new_phone()
    db.session.add(SmsOptOut(phone=phone, created_at=clock()))
    db.session.commit()
    news, code = queue(phone, urgent=True), queue(phone, kind="code", urgent=True)
    run_outbox(clock)
    assert (message(news).status, message(code).status) == ("opted_out", "sent")


def test_delivery_reports_update_the_text(channel, clock):
    client = channel.test_client()
    delivered, refused = queue(new_phone(), urgent=True), queue(new_phone(), urgent=True)
    run_outbox(clock)
    for message_id, report in ((delivered, 1), (refused, 16)):
        answer = client.get(
            "/sms/kannel/dlr",
            query_string={"secret": "test-sms-secret", "msg": message_id, "status": report},
        )
        assert answer.status_code == 200
    assert message(delivered).status == "delivered"
    assert (message(refused).status, message(refused).reason) == (
        "failed",
        "rejected by the SMS centre",
    )
    for junk in ({"msg": "x", "status": "1"}, {"msg": "999999", "status": "1"}, {}):
        answer = client.get("/sms/kannel/dlr", query_string={"secret": "test-sms-secret", **junk})
        assert answer.status_code == 200


def test_folding_sends_vietnamese_without_diacritics(channel, clock):
    channel.config["SMS_ASCII_FOLD"] = True
    folded = queue(new_phone(), body="connect: Cần gạo ở Đồng Tâm · “gấp”", urgent=True)
    assert message(folded).body == 'connect: Can gao o Dong Tam - "gap"'
    assert message(folded).segments == 1


def test_no_text_may_be_longer_than_two_segments(channel):
    from connect.sms.text import segments

    assert segments("a" * 160) == 1 and segments("a" * 161) == 2 and segments("a" * 306) == 2
    assert segments("ạ" * 70) == 1 and segments("ạ" * 71) == 2 and segments("ạ" * 134) == 2
    assert segments("€" * 80) == 1  # two septets each in the GSM extension table
    with pytest.raises(ValueError, match="segments"):
        queue(new_phone(), body="ạ" * 135)


def test_an_unknown_gateway_or_bad_quiet_hours_stop_the_start(database_url):
    from connect.config import ConfigError

    with pytest.raises(ConfigError, match="SMS_BACKEND"):
        make_app(database_url, SMS_BACKEND="carrier-pigeon")
    with pytest.raises(ConfigError, match="SMS_QUIET_HOURS"):
        make_app(database_url, SMS_QUIET_HOURS="late")


def test_a_text_waits_no_longer_than_its_reason(channel, clock):
    """Held texts are retried by the outbox at the time they may go, not polled."""
    from connect.extensions import db
    from connect.outbox.models import PENDING, OutboxEvent

    held = queue(new_phone())
    run_outbox(clock)
    (event,) = db.session.query(OutboxEvent).filter_by(state=PENDING).all()
    assert event.payload == {"message_id": held}
    assert event.available_at == message(held).not_before
    assert event.available_at - clock() == timedelta(hours=7)
