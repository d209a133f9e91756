"""Secrets and personal data kept out of log lines: manage tokens and texted links, bearer
tokens, passwords, phone numbers, exact coordinates and the words of texts (names cannot be told by their form: nothing logs them).

``redact(text)`` is the rule; ``RedactionFilter`` applies it to every record a handler writes
(its message, arguments, exception text and string fields), so a handler with this filter
cannot write any of these, whoever logged them.
"""

import logging
import re

REDACTED = "[redacted]"

# A manage link's token is the requester's only key, in any path, referer or message; a
# texted short link (/s/<code>) is a weaker key to the same request.
_MANAGE_LINK = re.compile(r"/m/[^/?#\s\"'&<>]+")
_SHORT_LINK = re.compile(r"/s/[2-9A-HJ-NP-Za-hj-np-z]{12}(?![\w])")
# Kannel's calls carry a text's words and numbers in their query: none of it is written.
_SMS_QUERY = re.compile(r"(/sms/[\w/]*)\?[^\s\"]*")
# Authorization: Bearer <token>, and any bearer token written out.
_BEARER = re.compile(r"(?i)bearer\s+[\w.~+/=-]+")
# name=value, name: value, "name": "value" where the name says it holds a secret.
_KEYS = ("token", "password", "passwd", "secret", "authorization", "cookie", "session")
_KEY_VALUE = re.compile(
    r"(?i)(token|password|passwd|secret|authorization|cookie|session)"
    r"(\"?\s*[:=]\s*\"?)(?:bearer\s+)?[^\s\"&,;}]+"
)
# A word of 32+ characters mixing upper and lower case and digits: a token on its own.
_LONG_WORD = re.compile(r"[\w-]{32,}")
# Vietnamese phones: 0xxxxxxxxx, +84 / 84 / 0084 (%2B84 in a query), with spaces, dots or
# dashes anywhere between the digits; landlines have one digit more.
_DIGITS = re.compile(r"[0-9]{3}")
_PHONE = re.compile(
    r"(?<![\w.+%])(?:(?:\+|%2[Bb]|00)?84[\s.-]?|0)[1-9](?:[\s.-]?[0-9]){8,9}"
    r"(?!\w)"
)
# Numbers with more than 3 decimals are cut to 3 (~100 m): no exact point of a house.
_DECIMALS = re.compile(r"\.[0-9]{4}")
_COORDINATE = re.compile(r"(?<![\w.])(-?[0-9]{1,3}\.[0-9]{3})[0-9]+")


def _random_looking(match):
    word = match.group()
    if (
        any(c.isupper() for c in word)
        and any(c.islower() for c in word)
        and any(c.isdigit() for c in word)
    ):
        return REDACTED
    return word


def redact(text):
    """``text`` without manage or bearer tokens, passwords, phones or exact coordinates."""
    # Each pattern runs only where a cheap test says it may match: most lines pass few.
    if "/m/" in text:
        text = _MANAGE_LINK.sub("/m/" + REDACTED, text)
    if "/s/" in text:
        text = _SHORT_LINK.sub("/s/" + REDACTED, text)
    if "/sms/" in text:
        text = _SMS_QUERY.sub(r"\1?" + REDACTED, text)
    lowered = text.lower()
    if "bearer" in lowered:
        text = _BEARER.sub("Bearer " + REDACTED, text)
    if any(key in lowered for key in _KEYS):
        text = _KEY_VALUE.sub(r"\1\2" + REDACTED, text)
    if len(text) >= 32:
        text = _LONG_WORD.sub(_random_looking, text)
    if _DIGITS.search(text):
        text = _PHONE.sub("[phone]", text)
    if _DECIMALS.search(text):
        text = _COORDINATE.sub(r"\1", text)
    return text


class RedactionFilter(logging.Filter):
    """Rewrites each record as ``redact`` leaves it; put it on every handler."""

    _formatter = logging.Formatter()

    def filter(self, record):
        record.msg = redact(record.getMessage())
        record.args = None
        if record.exc_info:
            # Formatters write exc_text when exc_info is gone: the redacted traceback.
            record.exc_text = self._formatter.formatException(record.exc_info)
            record.exc_info = None
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        for name, value in list(vars(record).items()):
            if name not in _RECORD_FIELDS and isinstance(value, str):
                setattr(record, name, redact(value))
        return True


# What every LogRecord has: the fields above are dealt with; the rest are strings we set.
_RECORD_FIELDS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "taskName",
}
