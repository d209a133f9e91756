"""Input fields shared by several schemas: Vietnamese mobile phones and map points."""

import re

import phonenumbers
from marshmallow import Schema, ValidationError, fields, validate

_PHONE_FORM = re.compile(r"^(0\d{9}|\+84\d{9})$")
_SEPARATORS = re.compile(r"[\s.\-()]")

PHONE_MESSAGE = "Enter a Vietnamese mobile number: 0xxxxxxxxx or +84xxxxxxxxx."


def normalise_phone(raw):
    """The E.164 form (+84xxxxxxxxx) of a Vietnamese mobile number, or ValueError."""
    if not isinstance(raw, str):
        raise ValueError(PHONE_MESSAGE)
    compact = _SEPARATORS.sub("", raw)
    if not _PHONE_FORM.match(compact):
        raise ValueError(PHONE_MESSAGE)
    try:
        number = phonenumbers.parse(compact, "VN")
    except phonenumbers.NumberParseException as exc:
        raise ValueError(PHONE_MESSAGE) from exc
    # The library knows which prefixes are mobile today (03x, 05x, 07x, 08x, 09x).
    if (
        not phonenumbers.is_valid_number(number)
        or phonenumbers.number_type(number) != phonenumbers.PhoneNumberType.MOBILE
    ):
        raise ValueError(PHONE_MESSAGE)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def is_phone_number(password, phone):
    """Whether ``password`` is the E.164 ``phone`` in any way people write it."""
    compact = _SEPARATORS.sub("", password or "")
    national = phone[3:] if phone.startswith("+84") else phone
    return compact in {phone, phone[1:], "0" + national, national}


class String(fields.String):
    """A string that can be stored: text with lone surrogates cannot be encoded as UTF-8."""

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise ValidationError("Contains characters that are not allowed.") from exc
        return text


class Phone(String):
    """A Vietnamese mobile number, loaded in its E.164 form."""

    # The form the OpenAPI document shows (clients and fuzzers generate from it);
    # normalise_phone also checks that the prefix is a mobile one today.
    PATTERN = r"^[ .()-]*(0|\+84)[ .()-]*[35789]([ .()-]*[0-9]){8}[ .()-]*$"

    def __init__(self, **kwargs):
        kwargs["metadata"] = {"pattern": self.PATTERN, **kwargs.get("metadata", {})}
        super().__init__(**kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        raw = super()._deserialize(value, attr, data, **kwargs)
        try:
            return normalise_phone(raw)
        except ValueError as exc:
            raise ValidationError(str(exc)) from exc


class Text(String):
    """A string trimmed of surrounding white space, with control characters refused."""

    _CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
    # The same rule in the OpenAPI document (JSON Schema regex, as clients read it).
    PATTERN = r"^[^\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]*$"

    def __init__(self, **kwargs):
        kwargs["metadata"] = {"pattern": self.PATTERN, **kwargs.get("metadata", {})}
        super().__init__(**kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs).strip()
        if self._CONTROL.search(text):
            raise ValidationError("Contains characters that are not allowed.")
        return text


class LocationSchema(Schema):
    lat = fields.Float(required=True, allow_nan=False, validate=validate.Range(-90, 90))
    lon = fields.Float(required=True, allow_nan=False, validate=validate.Range(-180, 180))


def location_field(**kwargs):
    return fields.Nested(LocationSchema, **kwargs)
