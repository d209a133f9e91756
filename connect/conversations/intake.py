"""Feature-phone intake: a text from a phone with no active request starts a short conversation
(what is needed, how many people, which commune or ward, an optional address), one open
question at a time, or is read whole ("GAO THUOC 4 NGUOI XA TAN MY"). The request is then
posted like any other (connect.requests.services.post_request), placed at its commune's point
with location_precision "area" for a coordinator to place exactly."""

import re

from flask import current_app
from flask_babel import force_locale
from flask_babel import lazy_gettext as _l
from sqlalchemy import update

from connect.areas.names import commune_point, find_by_name, find_in_text, name_index, words
from connect.conversations import questions
from connect.extensions import db
from connect.notifications.render import sms, sms_choices, sms_status
from connect.requests import phones, services
from connect.requests.categories import CATEGORIES
from connect.requests.categories import LABELS as CATEGORY_LABELS
from connect.sms.models import IN, SmsMessage
from connect.sms.outbound import send_text
from connect.web import ratelimits

# Each question's kind is the kind of the text that asks it.
NEED, PEOPLE, AREA, PICK, ADDRESS = (
    "intake-need",
    "intake-people",
    "intake-area",
    "intake-area-pick",
    "intake-address",
)
STEPS = frozenset({NEED, PEOPLE, AREA, PICK, ADDRESS})
# A step is asked again once; a second answer it cannot read ends in the hotline.
MISSES_ALLOWED = 1
SKIP = "0"
MAX_PEOPLE = 50  # as the form allows
MAX_ADDRESS = 300
# Words that name a need in a message, folded (the numbered menu works for every category).
KEYWORDS = {
    "food": ("GAO", "THUC PHAM", "DO AN", "LUONG THUC", "MI TOM", "RICE", "FOOD"),
    "supplies": ("DO DUNG", "KHAU TRANG", "NUOC SACH", "SUPPLIES"),
    "medicine": ("THUOC", "MEDICINE"),
    "medical_advice": ("BAC SI", "TU VAN", "KHAM BENH", "DOCTOR"),
    "other": ("VIEC KHAC", "KHAC", "OTHER"),
}
# "4 NGUOI", "4NG", "nhà 4 khẩu" (but "2 khẩu trang" is two face masks).
_PEOPLE = re.compile(r"\b(\d{1,3}) ?(?:NGUOI|NG|NHAN KHAU|KHAU(?! TRANG)|PEOPLE|PERSONS?)\b")
_NUMBER = re.compile(r"\b(\d{1,3})\b")
# What the request says in public: no words of the sender's own (they could hold a name or an
# address), only where it is from, which its public point shows already.
DESCRIPTION = _l("Asked by text message from %(place)s; the place is approximate.")
# Who to call, as the claimant and coordinators see it: the phone is the contact.
CONTACT_NAME = _l("Person who texted")


def texting_locale():
    """The language of texts to a phone whose language is not known."""
    return current_app.config["BABEL_DEFAULT_LOCALE"]


def _say(phone, kind, locale, request_id=None, **values):
    body = sms(kind, locale, **values)
    return send_text(phone, body, kind, locale=locale, urgent=True, request_id=request_id)


def _tell_active(help_request, locale):
    """The phone has an open or claimed request already: its number and status."""
    status = sms_status(help_request.status, locale)
    number = help_request.id
    _say(help_request.phone, "intake-active", locale, number, number=number, status=status)


def _hotline(phone, locale):
    hotline = current_app.config["HOTLINE"]
    if hotline:
        return _say(phone, "intake-call", locale, hotline=hotline)
    return _say(phone, "intake-call-ward", locale)


# -- reading what a text says -------------------------------------------------------------


def _phrases(folded):
    """Every run of up to three words, as one string each."""
    return {" ".join(folded[i : i + n]) for n in (1, 2, 3) for i in range(len(folded) - n + 1)}


def needs_named(folded):
    """Categories a message names in words ("GAO", "THUOC"), in the fixed order."""
    phrases = _phrases(folded)
    return [name for name in CATEGORIES if phrases & set(KEYWORDS.get(name, ()))]


def needs_numbered(folded):
    """Categories chosen by their numbers ("1 3", "1,3" or "13"); None when a word is not
    one of the menu's numbers."""
    chosen = set()
    for word in folded:
        digits = list(word) if len(CATEGORIES) < 10 else [word]
        if not word.isdigit() or not all(1 <= int(d) <= len(CATEGORIES) for d in digits):
            return None
        chosen.update(CATEGORIES[int(d) - 1] for d in digits)
    return [name for name in CATEGORIES if name in chosen] or None


def people_said(folded, bare=False):
    """How many people a message says ("4 NGUOI"; with ``bare``, any number), or None."""
    match = (_NUMBER if bare else _PEOPLE).search(" ".join(folded))
    return int(match.group(1)) if match else None


def read_message(text):
    """What a first message says: {categories, people, communes} as far as it says them."""
    found, rest = {}, words(text)
    in_text = find_in_text(text)
    if in_text is not None:
        communes, rest = in_text
        found["communes"] = communes
    categories = needs_named(rest)
    if categories:
        found["categories"] = categories
    people = people_said(rest)
    if people is not None and 1 <= people <= MAX_PEOPLE:
        found["people"] = people
    return found


# -- the conversation ---------------------------------------------------------------------


def start(message, text):
    """A text from a phone with no open question: tell it about its active request, or read
    what it asks for and ask what is missing."""
    phone, locale = message.phone, texting_locale()
    existing = phones.active_request_with_phone(phone)
    if existing is not None:
        message.request_id = existing.id
        _tell_active(existing, locale)
        return
    refusal = _refusal(phone)
    if refusal is not None:
        _say(phone, refusal, locale)
        return
    state = {"locale": locale, "messages": [message.id], "misses": 0}
    found = read_message(text)
    state.update({key: found[key] for key in ("categories", "people") if key in found})
    if "communes" in found:
        _choose_commune(state, found["communes"])
    # Everything in one message: posted at once, without asking for an address.
    _next(phone, state, ask_address=_missing(state) is not None)


def answer(question, message, text, now):
    """A reply to the open intake question of its phone."""
    questions.answered(question, now)
    state = dict(question.state)
    state["messages"] = [*state.get("messages", ()), message.id]
    if not _take(question.kind, state, text):
        state["misses"] = state.get("misses", 0) + 1
        if state["misses"] > MISSES_ALLOWED:
            _link_messages(state, None)
            _hotline(message.phone, state["locale"])
            return
        _ask(message.phone, question.kind, state, again=True)
        return
    state["misses"] = 0
    # An answer may say more than was asked ("GAO 4 NGUOI XA TAN MY" to the first question).
    found = read_message(text)
    for key in ("categories", "people"):
        if key in found and not state.get(key):
            state[key] = found[key]
    if "communes" in found and not (state.get("area_id") or state.get("choices")):
        _choose_commune(state, found["communes"])
    _next(message.phone, state, ask_address=True)


def _take(kind, state, text):
    """Fill the state from an answer to ``kind``; False when the answer is not one."""
    folded = words(text)
    if kind == NEED:
        categories = needs_numbered(folded) or needs_named(folded)
        if not categories:
            return False
        state["categories"] = categories
    elif kind == PEOPLE:
        people = people_said(folded, bare=True)
        if people is None or not 1 <= people <= MAX_PEOPLE:
            return False
        state["people"] = people
    elif kind == AREA:
        communes = find_by_name(text)
        if not communes:
            in_text = find_in_text(text)
            communes = in_text[0] if in_text else []
        if not communes:
            return False
        _choose_commune(state, communes)
    elif kind == PICK:
        choices = state.get("choices", ())
        choice = int(folded[0]) if len(folded) == 1 and folded[0].isdigit() else 0
        if not 1 <= choice <= len(choices):
            return False
        state["area_id"] = choices[choice - 1]
        state.pop("choices")
    elif kind == ADDRESS:
        address = " ".join(text.split())[:MAX_ADDRESS]
        state["address"] = None if address in ("", SKIP) else address
    return True


def _choose_commune(state, communes):
    if len(communes) == 1:
        state["area_id"] = communes[0].id
        state.pop("choices", None)
    else:
        state["choices"] = [commune.id for commune in communes]


def _missing(state):
    """The first question still to ask, or None when the request can be posted."""
    if not state.get("categories"):
        return NEED
    if not state.get("people"):
        return PEOPLE
    if state.get("choices"):
        return PICK
    if not state.get("area_id"):
        return AREA
    return None


def _next(phone, state, ask_address):
    step = _missing(state)
    if step is None and ask_address and "address" not in state:
        step = ADDRESS
    if step is not None:
        _ask(phone, step, state)
        return
    _post(phone, state)


def _ask(phone, kind, state, again=False):
    locale, text_kind = state["locale"], kind
    if kind == NEED:
        labels = [CATEGORY_LABELS[name] for name in CATEGORIES]
        body, _ = sms_choices(kind, labels, locale)
    elif kind == PICK:
        body, shown = sms_choices(kind, _commune_labels(state["choices"]), locale)
        state["choices"] = state["choices"][:shown]
    else:
        text_kind = "intake-area-again" if kind == AREA and again else kind
        body = sms(text_kind, locale)
    sent = send_text(phone, body, text_kind, locale=locale, urgent=True)
    state["messages"] = [*state.get("messages", ()), sent.id]
    questions.ask(phone, kind, state=state)


def _commune_labels(area_ids):
    communes = name_index().by_id
    return [communes[area_id].label for area_id in area_ids if area_id in communes]


# -- posting -------------------------------------------------------------------------------


def _refusal(phone):
    """The text kind that says why this phone may not post now, or None."""
    try:
        phones.check_phone_allowed(phone)
    except phones.PhoneBlocked:
        return "intake-blocked"
    if not ratelimits.may_post_by_text(phone):
        return "intake-limited"
    return None


def _post(phone, state):
    """Post the gathered request through the normal service; texts say why if refused."""
    locale = state["locale"]
    refusal = _refusal(phone)
    if refusal is not None:
        _link_messages(state, None)
        _say(phone, refusal, locale)
        return
    lat, lon = commune_point(state["area_id"])
    (place,) = _commune_labels([state["area_id"]])
    with force_locale(locale):
        description = str(DESCRIPTION) % {"place": place}
        contact_name = str(CONTACT_NAME)
    data = {
        "categories": state["categories"],
        "description": description,
        "household_size": state["people"],
        "location": {"lat": lat, "lon": lon},
        "location_precision": "area",
        "contact_name": contact_name,
        "phone": phone,
        "address": state.get("address"),
        "language": locale,
        "sms_updates": True,
    }
    try:
        with db.session.begin_nested():
            help_request, _token = services.post_request(data, source="sms")
    except phones.DuplicateRequest:
        # Posted from the web page meanwhile: say which request the phone has.
        existing = phones.active_request_with_phone(phone)
        _link_messages(state, existing.id if existing else None)
        if existing is not None:
            _tell_active(existing, locale)
        return
    ratelimits.count_post_by_text(phone)
    _link_messages(state, help_request.id)


def _link_messages(state, request_id):
    """The conversation's texts belong to the request it posted (their bodies, an address
    among them, are erased with it); without one, the answers' bodies are erased now."""
    ids = state.get("messages") or []
    if not ids:
        return
    values = {"request_id": request_id} if request_id else {"body": None}
    query = update(SmsMessage).where(SmsMessage.id.in_(ids))
    if request_id is None:
        query = query.where(SmsMessage.direction == IN)
    db.session.execute(query.values(**values).execution_options(synchronize_session=False))
