"""The SMS gateways' settings are checked when the app starts; the log gateway writes no
number and no text. (Sending through Kannel: tests/integration/test_kannel.py.)"""

import logging

import pytest

from connect.sms.gateways import KannelGateway, LogGateway, Outgoing, make_gateway

KANNEL = {
    "SMS_BACKEND": "kannel",
    "KANNEL_SENDSMS_URL": "http://127.0.0.1:13013/cgi-bin/sendsms",
    "KANNEL_USERNAME": "connect",
    "KANNEL_PASSWORD": "pw",
    "SMS_SENDER": "connect",
    "SMS_INBOUND_SECRET": "a1b2c3",
    "PUBLIC_BASE_URL": "https://connect.example.org/",
}


def test_the_log_gateway_is_the_default():
    assert isinstance(make_gateway({"SMS_BACKEND": "log"}), LogGateway)


def test_an_unknown_gateway_stops_start_up():
    with pytest.raises(ValueError, match=r"SMS_BACKEND='zalo' is not a gateway: use one of log"):
        make_gateway({"SMS_BACKEND": "zalo"})


@pytest.mark.parametrize(
    "setting, value, message",
    [
        ("KANNEL_SENDSMS_URL", "", "KANNEL_SENDSMS_URL='' is not an http"),
        ("PUBLIC_BASE_URL", "connect.example.org", "PUBLIC_BASE_URL='connect.example.org'"),
        ("KANNEL_USERNAME", "", "KANNEL_USERNAME is not set"),
        ("KANNEL_PASSWORD", "", "KANNEL_PASSWORD is not set"),
        ("SMS_INBOUND_SECRET", "", "SMS_INBOUND_SECRET is not set or not URL-safe"),
        ("SMS_INBOUND_SECRET", "a&b=c", "SMS_INBOUND_SECRET is not set or not URL-safe"),
        ("SMS_SENDER", "Cứu trợ Bắc Giang", "SMS_SENDER='Cứu trợ Bắc Giang': a sender"),
    ],
)
def test_kannel_needs_its_settings(setting, value, message):
    with pytest.raises(ValueError, match=message):
        make_gateway({**KANNEL, setting: value})


def test_the_delivery_report_url_names_the_message_and_leaves_the_status_to_kannel():
    gateway = make_gateway(KANNEL)
    assert isinstance(gateway, KannelGateway)
    assert gateway.dlr_url(77) == (
        "https://connect.example.org/sms/kannel/dlr?secret=a1b2c3&msg=77&status=%d"
    )


def test_the_log_gateway_writes_no_number_and_no_text(caplog):
    caplog.set_level(logging.INFO, logger="connect.sms")
    LogGateway().send(Outgoing(id=12, to="+84912345678", text="Mã của bạn: 482913", unicode=True))
    (line,) = caplog.messages
    assert line == "sms 12: 18 characters, UCS-2"
