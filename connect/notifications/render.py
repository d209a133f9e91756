"""One renderer of every notification kind: the words the inbox page, its script and (later) SMS
and push show, in the page's language or the one asked for."""

from contextlib import nullcontext
from datetime import datetime

from flask_babel import force_locale, format_datetime
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from connect.i18n import age_label, away_label
from connect.notifications.models import NOTIFICATION_KINDS
from connect.requests.categories import LABELS as CATEGORY_LABELS
from connect.sms.outbound import public_url
from connect.sms.text import fits, fold, shorten

TITLES = {
    "new_request": _l("A need near you"),
    "lease_reminder": _l("Your time for this need is nearly up"),
    "lease_expired": _l("Your time for this need ran out"),
    "assigned": _l("A coordinator gave you this need"),
    "request_withdrawn": _l("This need was withdrawn"),
}
assert set(TITLES) == set(NOTIFICATION_KINDS), "every notification kind needs its words"


def titles():
    """Each kind's title in the current language (the inbox script reads them from the page)."""
    return {kind: str(title) for kind, title in TITLES.items()}


def category_labels(names):
    return [str(CATEGORY_LABELS.get(name, name)) for name in names]


def parse_time(text):
    """A notification's UTC ISO time (``...Z``) as the naive UTC datetime the app uses."""
    return datetime.fromisoformat(text.rstrip("Z"))


def _distance(payload):
    distance = payload.get("distance_m")
    if distance is None:
        return None
    return away_label(distance)


def notice(item, now):
    """An inbox item (connect.notifications.inbox) with what a page prints of it."""
    payload = item["payload"]
    lease_end = payload.get("lease_ends_at")
    return {
        **item,
        "title": str(TITLES.get(item["kind"], item["kind"])),
        "urgency": payload.get("urgency"),
        "description": payload.get("description"),
        "category_labels": category_labels(payload.get("categories") or ()),
        "household_size": payload.get("household_size"),
        "distance": _distance(payload),
        "age": age_label(parse_time(item["created_at"]), now),
        "lease_until": format_datetime(parse_time(lease_end), "HH:mm") if lease_end else None,
    }


def text(kind, payload, locale=None):
    """One line for channels that carry text only (SMS, push): title, categories, distance."""
    # Payloads hold public fields only (matching.push.public_payload): nothing here can carry
    # a phone, a name, an address or an exact point.
    with force_locale(locale) if locale else nullcontext():
        parts = [str(TITLES.get(kind, kind))]
        labels = category_labels(payload.get("categories") or ())
        if labels:
            parts.append(", ".join(labels))
        distance = _distance(payload)
        if distance:
            parts.append(distance)
        if payload.get("urgency") == "urgent":
            parts.append(_("Urgent"))
        return " · ".join(parts)


# -- texts by SMS ---------------------------------------------------------------------------
# Each fits two segments (connect.sms.text) in both languages, folded or not, with the longest
# values it can carry; tests/unit/test_sms_texts.py proves it. A kind whose text might not fit
# (a long PUBLIC_BASE_URL) has a short form, used when the long one does not fit.
SMS_TEXTS = {
    "posted": _l("connect: request no. %(number)s is posted. See, cancel or confirm it: %(link)s"),
    "posted-short": _l("connect: request no. %(number)s: %(link)s"),
    "claimed": _l(
        "connect: %(name)s has taken your request no. %(number)s and is coming to help. "
        "They will call you."
    ),
    "helped": _l(
        "connect: %(name)s says you have been helped (request no. %(number)s). "
        "Reply 1 if yes, 2 if not."
    ),
    "still_need": _l(
        "connect: request no. %(number)s closes at %(closes)s. Still need help? Reply 1 to keep "
        "it open, 2 if not."
    ),
    "kept": _l("connect: request no. %(number)s stays open. Volunteers nearby still see it."),
    "cancelled": _l("connect: request no. %(number)s is cancelled. Take care!"),
    "thanks": _l("connect: thank you! We counted the help for request no. %(number)s."),
    "disputed": _l(
        "connect: sorry. Request no. %(number)s is open again, and a coordinator will look "
        "into it."
    ),
    "closed": _l("connect: request no. %(number)s is already closed. Nothing was changed."),
    "stopped": _l("connect: you will get no more texts from us, only codes you ask for."),
    "restarted": _l("connect: you will get our texts again."),
    "not-understood": _l(
        "connect: we could not read that. To ask for help, open %(link)s or call your ward's "
        "hotline."
    ),
    "code": _l(
        "connect: your code is %(code)s. It works for %(minutes)s minutes. "
        "Never give it to anyone."
    ),
    "not-understood-short": _l("connect: we could not read that. To ask for help: %(link)s"),
    # Feature-phone intake (connect.conversations.intake): one question a text.
    "intake-need": _l("connect: what do you need? Reply with numbers, e.g. 1 3. %(choices)s"),
    "intake-people": _l(
        "connect: how many people in your home need help? Reply with a number, e.g. 4"
    ),
    "intake-area": _l(
        "connect: which commune, ward or town are you in? Reply with its name, with or "
        "without accents."
    ),
    "intake-area-again": _l(
        "connect: we could not find that commune or ward. Please reply with its name only."
    ),
    "intake-area-pick": _l(
        "connect: several places have that name. Reply with a number: %(choices)s"
    ),
    "intake-address": _l(
        "connect: your address (village, street, house number)? Only your helper sees it. "
        "Reply 0 to skip."
    ),
    "intake-call": _l(
        "connect: sorry, we could not understand. Please call the hotline %(hotline)s for help."
    ),
    "intake-call-ward": _l(
        "connect: sorry, we could not understand. Please call your ward's hotline for help."
    ),
    "intake-active": _l(
        "connect: this number already has request no. %(number)s: %(status)s. One open "
        "request per number."
    ),
    "intake-blocked": _l(
        "connect: this number cannot post requests. If this is a mistake, please call the hotline."
    ),
    "intake-limited": _l(
        "connect: this number has posted many requests today. Please try again later or call "
        "the hotline."
    ),
}
# A hotline number too long to fit gives way to "your ward's hotline".
SHORT_FORMS = {
    "posted": "posted-short",
    "not-understood": "not-understood-short",
    "intake-call": "intake-call-ward",
}
# A request's status as a text tells its requester (intake-active).
SMS_STATUS = {
    "open": _l("waiting for a helper"),
    "claimed": _l("someone is coming to help"),
}
# A volunteer's texts name the need's categories, distance and how long they hold it, then a
# link to their page of it: never the requester's name, phone, address or exact point.
NOTICE_LINK = _l("connect: %(notice)s. Open: %(link)s")
GIVEN_NAME_ROOM = 20
# One choice of a numbered list ("2 Tân Mỹ (Bắc Giang)"), at most.
CHOICE_ROOM = 32


def given_name(full_name):
    """How a text names a volunteer: the given name, which Vietnamese write last."""
    words = (full_name or "").split()
    return shorten(words[-1], GIVEN_NAME_ROOM) if words else ""


def sms(kind, locale=None, **values):
    """The text of an SMS of ``kind`` in ``locale``, filled with ``values``."""
    with force_locale(locale) if locale else nullcontext():
        body = str(SMS_TEXTS[kind]) % values
        short = SHORT_FORMS.get(kind)
        if short and not fits(body):
            body = str(SMS_TEXTS[short]) % values
        return body


def sms_status(status, locale=None):
    """How a text names a request's status (open or claimed)."""
    with force_locale(locale) if locale else nullcontext():
        return str(SMS_STATUS.get(status, status))


def sms_choices(kind, labels, locale=None, **values):
    """(text, how many choices it offers): ``labels`` numbered from 1 as ``choices``, as
    many as fit two segments, folded or not."""
    with force_locale(locale) if locale else nullcontext():
        labels = [shorten(str(label), CHOICE_ROOM) for label in labels]
        for count in range(len(labels), 0, -1):
            choices = " ".join(f"{i} {label}" for i, label in enumerate(labels[:count], 1))
            body = sms(kind, locale, choices=choices, **values)
            if fits(body) and fits(fold(body)):
                return body, count
        raise ValueError(f"the {kind!r} text cannot fit even one choice")


def sms_notice(kind, request_id, payload, locale=None):
    """A volunteer's text for a notification: its one line (``text``) and a link to the need."""
    link = public_url(f"/volunteer/claims/{request_id}")
    with force_locale(locale) if locale else nullcontext():
        notice = text(kind, payload)
        if kind == "lease_reminder" and payload.get("lease_ends_at"):
            until = format_datetime(parse_time(payload["lease_ends_at"]), "HH:mm")
            notice = f"{notice} ({_('until %(time)s', time=until)})"
        body = str(NOTICE_LINK) % {"notice": notice, "link": link}
        return (
            body if fits(body) else str(NOTICE_LINK) % {"notice": str(TITLES[kind]), "link": link}
        )
