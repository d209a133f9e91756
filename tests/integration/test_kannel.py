"""SMS through a real Kannel: bearerbox and smsbox run deploy/kannel/kannel.conf with fake SMS
centres (tools/kannelbox.py), fakesmsc plays the phones, KannelGateway is connect's side."""

import re
import subprocess
import time
from pathlib import Path

import pytest

from connect.sms.gateways import (
    KannelGateway,
    Outgoing,
    PermanentFailure,
    TemporaryFailure,
    make_gateway,
)

from conftest import KANNEL_SECRET, new_phone
from kannelbox import DEPLOY_CONFIG, read_config, reassemble, unquote
from processes import free_port

INBOUND, DLR = "/sms/kannel/inbound", "/sms/kannel/dlr"
# Vietnamese needs UCS-2: 67 characters a part when concatenated, 153 in GSM 7-bit.
VIETNAMESE = "Có người đang đến giúp bạn: Nguyễn Thị Hoa, cách khoảng 2 km."
CONFIRM = "Bạn đã được giúp chưa? Trả lời 1 có, 2 không. Yêu cầu số 1234 ở xã Tân Mỹ, Bắc Giang. "


@pytest.fixture
def gateway(kannel_settings):
    return make_gateway(kannel_settings)


def send(gateway, text, unicode, to=None, message_id=1):
    to = to or new_phone()
    gateway.send(Outgoing(id=message_id, to=to, text=text, unicode=unicode))
    return to


def test_the_shipped_configuration_is_what_kannel_reads(kannel_binaries):
    """deploy/kannel/kannel.conf as Kannel's own parser (test_cfg, kannel-extras) reads it."""
    test_cfg = Path(kannel_binaries["fakesmsc"]).with_name("test_cfg")
    dump = subprocess.run(
        [test_cfg, DEPLOY_CONFIG], capture_output=True, text=True, check=True
    ).stderr
    assert "cfg_read returned 0" in dump, dump
    kannel_reads = sorted(
        sorted(re.findall(r"<([^>]+)> = <(.*)>", group))
        for group in dump.split("dumping group")[1:]
    )
    ours = sorted(
        sorted((name, unquote(value)) for name, value in group)
        for group in read_config(DEPLOY_CONFIG.read_text())
    )
    assert kannel_reads == ours


def test_the_shipped_configuration_holds_connects_rules():
    groups = {}
    for group in read_config(DEPLOY_CONFIG.read_text()):
        groups.setdefault(unquote(group[0][1]), []).append(
            {name: unquote(value) for name, value in group}
        )
    (core,), (smsbox,), (user,), (service,) = (
        groups[kind] for kind in ("core", "smsbox", "sendsms-user", "sms-service")
    )
    assert [smsc["smsc"] for smsc in groups["smsc"]] == ["smpp"]
    assert (user["max-messages"], user["concatenation"]) == ("2", "true")
    assert (service["keyword"], service["catch-all"], service["max-messages"]) == (
        "default",
        "true",
        "0",
    )
    address, _, query = service["get-url"].partition("?")
    assert address.endswith(INBOUND)
    contract = r"secret=[^&]+&from=%p&to=%P&text=%b&id=%I&coding=%c&charset=%C"
    assert re.fullmatch(contract, query), query
    assert smsbox["mo-recode"] == "true"
    assert core["dlr-storage"] == "internal"
    # No log with the text or the numbers: Kannel's escapes for them stay out of the access
    # log, smsbox keeps none (it writes each text there) and logs only panics.
    assert core["access-log-clean"] == "true"
    assert not re.search(r"%[bepPqQaArkKsS]", core["access-log-format"])
    assert "access-log" not in smsbox and smsbox["log-level"] == "4"


def test_an_ascii_text_arrives_as_sent(kannel, gateway):
    to = send(gateway, "Yeu cau 1234: co nguoi dang den giup ban.", unicode=False)
    (got,) = kannel.wait_for_sent(1, to=to)
    assert (got.sender, got.receiver, got.kind) == ("connect", to, "text")
    assert got.text == "Yeu cau 1234: co nguoi dang den giup ban."


def test_a_vietnamese_text_arrives_in_ucs2(kannel, gateway):
    to = send(gateway, VIETNAMESE, unicode=True)
    (got,) = kannel.wait_for_sent(1, to=to)
    assert (got.sender, got.kind, got.text) == ("connect", "ucs-2", VIETNAMESE)


def test_vietnamese_sent_as_gsm_loses_its_letters(kannel, gateway):
    """Why unicode=False is only for folded text: GSM 7-bit has no ầ, ạ (Kannel puts "?")."""
    to = send(gateway, "Cần gạo", unicode=False)
    (got,) = kannel.wait_for_sent(1, to=to)
    assert (got.kind, got.text) == ("text", "C?n g?o")


@pytest.mark.parametrize(
    "text, unicode, encoding",
    [
        (("Yeu cau 1234 da duoc nhan. " * 12)[:306], False, "utf-8"),
        ((CONFIRM * 2)[:134], True, "utf-16-be"),
    ],
    ids=["306 GSM", "134 UCS-2"],
)
def test_two_segments_arrive_as_one_concatenated_message(kannel, gateway, text, unicode, encoding):
    to = send(gateway, text, unicode)
    parts = kannel.wait_for_sent(2, to=to)
    assert {part.kind for part in parts} == {"udh"}
    assert reassemble(parts, encoding) == text


def test_a_third_segment_is_cut_off(kannel, gateway):
    """max-messages = 2: Kannel accepts a longer text and sends its first two parts only."""
    # So connect keeps its texts within two segments itself.
    text = ("Yeu cau 1234 da duoc nhan. " * 20)[:459]
    to = send(gateway, text, unicode=False)
    send(gateway, "after", unicode=False, to=to)
    *parts, after = kannel.wait_for_sent(3, to=to)
    assert after.text == "after"
    assert reassemble(parts, "utf-8") == text[:306]


def test_delivery_reports_name_connects_message(kannel, kannel_callbacks, gateway):
    send(gateway, "Ma xac nhan cua ban: 482913", unicode=False, message_id=4242)
    reports = kannel_callbacks.wait_for(1, DLR, msg="4242")
    assert {report["secret"] for report in reports} == {KANNEL_SECRET}
    # The fake SMS centre reports the phone has it (1); its "accepted" (8) is not asked for.
    assert [report["status"] for report in reports] == ["1"]


def test_a_vietnamese_text_from_a_phone_reaches_connect_as_utf8(kannel, kannel_callbacks):
    phone = new_phone()
    kannel.send_mo(phone, "8088", "Cần gạo cho 4 người ở xã Tân Mỹ")
    (call,) = kannel_callbacks.wait_for(1, INBOUND, **{"from": phone})
    assert call["text"] == "Cần gạo cho 4 người ở xã Tân Mỹ"
    assert (call["secret"], call["to"], call["coding"], call["charset"]) == (
        KANNEL_SECRET,
        "8088",
        "0",
        "UTF-8",
    )
    assert call["id"]


def test_connects_answer_is_not_texted_back(kannel, kannel_callbacks, gateway):
    """max-messages = 0: replies go through connect's outbox, never as Kannel's answer."""
    kannel_callbacks.answer = (200, "Cảm ơn, chúng tôi đã nhận tin nhắn.")
    phone = new_phone()
    kannel.send_mo(phone, "8088", "GAO 4 NGUOI XA TAN MY")
    kannel_callbacks.wait_for(1, INBOUND, **{"from": phone})
    time.sleep(0.3)  # a reply would leave smsbox within milliseconds of the answer
    send(gateway, "after", unicode=False, to=phone)
    (first,) = kannel.wait_for_sent(1, to=phone)
    assert first.text == "after"


def test_kannel_unreachable_is_a_temporary_failure(kannel_settings):
    settings = {**kannel_settings, "KANNEL_SENDSMS_URL": f"http://127.0.0.1:{free_port()}/"}
    with pytest.raises(TemporaryFailure, match="Kannel unreachable"):
        send(make_gateway(settings), "x", unicode=False)


def test_a_wrong_password_is_a_temporary_failure(kannel_settings):
    """Kannel refuses connect's account, not the message: it goes once the setting is fixed."""
    settings = {**kannel_settings, "KANNEL_PASSWORD": "wrong"}
    with pytest.raises(TemporaryFailure, match="403 'Authorization failed"):
        send(make_gateway(settings), "x", unicode=False)


def test_a_message_kannel_refuses_is_a_permanent_failure(kannel_settings):
    gateway = KannelGateway.from_config({**kannel_settings, "PUBLIC_BASE_URL": "ftp://x.org"})
    with pytest.raises(PermanentFailure, match="400 'DLR-URL field misformed"):
        send(gateway, "x", unicode=False)


def test_a_number_not_in_e164_is_refused_before_kannel(gateway):
    """Kannel would read "+84 912 345 678" as three recipients."""
    with pytest.raises(PermanentFailure, match="E.164"):
        send(gateway, "x", unicode=False, to="+84 912 345 678")


def test_kannels_logs_keep_no_text_and_no_number(kannel, kannel_callbacks, gateway):
    """The shipped logging (access log format, levels) after a message in and out."""
    access_log = kannel.root / "access.log"
    logged_before = len(access_log.read_text())
    phone, text_out, text_in = new_phone(), "Ma so bi mat 771903", "Tin bí mật 55012"
    send(gateway, text_out, unicode=False, to=phone, message_id=9001)
    kannel.send_mo(phone, "8088", text_in)
    kannel.wait_for_sent(1, to=phone)
    (message_in,) = kannel_callbacks.wait_for(1, INBOUND, **{"from": phone})
    kannel_callbacks.wait_for(1, DLR, msg="9001")
    logged = access_log.read_text()[logged_before:]
    assert "Sent SMS [SMSC:phones] [SVC:connect]" in logged
    assert f"Receive SMS [SMSC:inbound] [SVC:] [ID:{message_in['id']}]" in logged
    logs = {
        path.name: path.read_text(errors="replace")
        for path in kannel.root.iterdir()
        if path.suffix == ".log"  # not the harness's own .out files, nor the message store
    }
    assert set(logs) == {"access.log", "bearerbox.log", "smsbox.log"}
    digits = phone.lstrip("+")
    for name, content in logs.items():
        for secret in ("771903", "55012", "bí mật", "bi mat", digits[-9:], KANNEL_SECRET):
            assert secret not in content, f"{name} holds {secret!r}"
