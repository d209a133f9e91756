"""The SMS gateways behind one small interface: ``send(outgoing)`` or an exception saying
whether to try again.

``SMS_BACKEND`` picks one (``GATEWAYS``); ``make_gateway(config)`` checks its settings when the
app starts. Another gateway (an Android phone, a carrier's HTTP API, Zalo's notification
service) is a class with ``name``, ``from_config(config)`` and ``send(outgoing)``, added to
GATEWAYS.
"""

import logging
import re
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit

import requests

log = logging.getLogger("connect.sms")


@dataclass(frozen=True)
class Outgoing:
    """One text for one phone, as a gateway sends it."""

    id: int  # the row of sms_messages: delivery reports name it
    to: str  # E.164, e.g. "+84912345678"
    text: str  # folded to ASCII already when SMS_ASCII_FOLD is on
    unicode: bool  # True: UCS-2 (67 characters a part); False: GSM 7-bit (153)


class TemporaryFailure(Exception):
    """Not sent this time, try again later (gateway down or busy, a timeout, a 5xx)."""


class PermanentFailure(Exception):
    """The gateway refused this message as it is (e.g. a malformed number): never retry."""


class LogGateway:
    """One log line a message (development): its id, length and coding, no number or text."""

    name = "log"

    @classmethod
    def from_config(cls, config):
        return cls()

    def send(self, outgoing):
        coding = "UCS-2" if outgoing.unicode else "GSM 7-bit"
        log.info("sms %s: %d characters, %s", outgoing.id, len(outgoing.text), coding)


# Kannel's sendsms answers (its user guide, "SMS Push reply codes", and smsbox.c): 202 "0:
# Accepted for delivery" or "3: Queued for later delivery"; 400 for a malformed request (a
# number with characters sendsms-chars lacks, a bad dlr-url); 403 "Not routable. Do not try
# again." when no SMS centre may take it, or "Authorization failed for sendsms"; 503
# "Temporal failure, try again later."; 500 "Sending failed." when bearerbox is unreachable.
_REFUSED_FOR_GOOD = ("Not routable",)
E164 = re.compile(r"\+[1-9][0-9]{6,14}")
# GSM 03.40 sender: up to 11 letters and digits, or a number.
SENDER = re.compile(r"[A-Za-z0-9]{1,11}|\+?[0-9]{1,15}")
# Passes through a URL and Kannel's %-escapes unchanged.
URL_SAFE = re.compile(r"[A-Za-z0-9._~-]+")


class KannelGateway:
    """Kannel's sendsms HTTP interface (smsbox), which hands messages to its SMS centres."""

    # One per sending thread: it keeps its connections in one requests.Session.
    name = "kannel"
    # Seconds to connect and to wait for the answer: smsbox answers once bearerbox has the
    # message, in milliseconds; anything slower is Kannel in trouble, tried again later.
    TIMEOUT = (3.05, 10)
    # Delivery reports asked for: 1 delivered, 2 not delivered, 16 rejected by the SMS centre,
    # the final states connect shows. Not 4 (queued there) or 8 (accepted there): they change
    # nothing connect shows, and each report slows smsbox's next answer (TCP acks wait).
    DLR_MASK = 1 | 2 | 16

    def __init__(self, sendsms_url, username, password, sender, public_base_url, secret):
        self.sendsms_url = sendsms_url
        self.credentials = {"username": username, "password": password, "from": sender}
        self.dlr_base = f"{public_base_url.rstrip('/')}/sms/kannel/dlr"
        self.secret = secret
        self.session = requests.Session()

    @classmethod
    def from_config(cls, config):
        return cls(
            config["KANNEL_SENDSMS_URL"],
            config["KANNEL_USERNAME"],
            config["KANNEL_PASSWORD"],
            config["SMS_SENDER"],
            config["PUBLIC_BASE_URL"],
            config["SMS_INBOUND_SECRET"],
        )

    def dlr_url(self, message_id):
        """Where Kannel reports on message ``message_id``; it puts the status in for %d."""
        query = urlencode({"secret": self.secret, "msg": message_id})
        return f"{self.dlr_base}?{query}&status=%d"

    def send(self, outgoing):
        if not E164.fullmatch(outgoing.to):
            # Kannel reads a space as a second recipient: nothing but one number goes out.
            raise PermanentFailure(f"sms {outgoing.id}: the number is not in E.164 form")
        params = {
            **self.credentials,
            "to": outgoing.to,
            "text": outgoing.text,
            # Without the charset Kannel passes the UTF-8 bytes on unconverted (garbled).
            "charset": "UTF-8",
            "coding": 2 if outgoing.unicode else 0,
            "dlr-mask": self.DLR_MASK,
            "dlr-url": self.dlr_url(outgoing.id),
        }
        try:
            answer = self.session.get(self.sendsms_url, params=params, timeout=self.TIMEOUT)
        except requests.RequestException as error:
            raise TemporaryFailure(
                f"sms {outgoing.id}: Kannel unreachable ({type(error).__name__})"
            ) from None
        said = answer.text.strip()[:100]
        if 200 <= answer.status_code < 300:
            return
        refused = f"sms {outgoing.id}: Kannel answered {answer.status_code} {said!r}"
        if answer.status_code == 400 or said.startswith(_REFUSED_FOR_GOOD):
            raise PermanentFailure(refused)
        # 5xx, and a 4xx about connect's account or URL rather than the message.
        raise TemporaryFailure(refused)


GATEWAYS = {gateway.name: gateway for gateway in (LogGateway, KannelGateway)}


def make_gateway(config):
    """The gateway SMS_BACKEND names, built from ``config``; ValueError says what is wrong."""
    name = config.get("SMS_BACKEND")
    if name not in GATEWAYS:
        raise ValueError(
            f"SMS_BACKEND={name!r} is not a gateway: use one of {', '.join(GATEWAYS)}"
        )
    if name == "kannel":
        _check_kannel(config)
    return GATEWAYS[name].from_config(config)


def _check_kannel(config):
    for setting in ("KANNEL_SENDSMS_URL", "PUBLIC_BASE_URL"):
        url = urlsplit(config.get(setting) or "")
        if url.scheme not in ("http", "https") or not url.netloc:
            raise ValueError(
                f"{setting}={config.get(setting)!r} is not an http(s) URL; SMS_BACKEND=kannel "
                "needs it (e.g. KANNEL_SENDSMS_URL=http://127.0.0.1:13013/cgi-bin/sendsms, "
                "PUBLIC_BASE_URL=https://connect.example.org)"
            )
    for setting in ("KANNEL_USERNAME", "KANNEL_PASSWORD"):
        if not config.get(setting):
            raise ValueError(
                f"{setting} is not set: SMS_BACKEND=kannel needs the sendsms-user of "
                "Kannel's configuration (deploy/kannel/kannel.conf)"
            )
    if not URL_SAFE.fullmatch(config.get("SMS_INBOUND_SECRET") or ""):
        raise ValueError(
            "SMS_INBOUND_SECRET is not set or not URL-safe (letters, digits and ._~- only): "
            "SMS_BACKEND=kannel puts it in Kannel's get-url and in every dlr-url; make one with "
            "`python3 -c 'import secrets; print(secrets.token_hex(32))'`"
        )
    if not SENDER.fullmatch(config.get("SMS_SENDER") or ""):
        raise ValueError(
            f"SMS_SENDER={config.get('SMS_SENDER')!r}: a sender is up to 11 letters and "
            "digits (a brandname, e.g. connect) or a phone number"
        )
