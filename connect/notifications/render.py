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
