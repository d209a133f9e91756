"""The gateways a text can leave by, behind one small interface (SMS_BACKEND picks one)."""

import logging
from dataclasses import dataclass

log = logging.getLogger("connect.sms")


@dataclass(frozen=True)
class Outgoing:
    """A text for the gateway: connect's message id, the E.164 number, the body, its coding."""

    id: int
    to: str
    text: str
    unicode: bool


class TemporaryFailure(Exception):
    """The gateway could not take the text now (network, timeout, busy): try again later."""


class PermanentFailure(Exception):
    """The gateway refused the text for good (a malformed number or message)."""


class LogGateway:
    """Development: writes that a text went (its id and length, never the number or words)."""

    name = "log"

    def __init__(self, config):
        self.config = config

    def send(self, message):
        log.info("sms %s handed to the log gateway (%d characters)", message.id, len(message.text))


GATEWAYS = {gateway.name: gateway for gateway in (LogGateway,)}


def make_gateway(config):
    """The gateway SMS_BACKEND names; ValueError says what is wrong."""
    name = config["SMS_BACKEND"]
    if name not in GATEWAYS:
        raise ValueError(f"SMS_BACKEND={name!r}: the gateways are {', '.join(GATEWAYS)}")
    return GATEWAYS[name](config)
