"""Every text the service sends fits two segments, in English and Vietnamese, folded to plain
letters or not, with the longest values each kind can carry."""

import re
from pathlib import Path

import pytest
from flask import Flask
from flask_babel import Babel

from connect.notifications import render
from connect.requests.categories import CATEGORIES
from connect.requests.categories import LABELS as CATEGORY_LABELS
from connect.sms.text import fits, fold, segments

TRANSLATIONS = Path(__file__).resolve().parents[2] / "connect" / "translations"
LOCALES = ("en", "vi")
# The longest value of each placeholder: in UCS-2 where a value may hold Vietnamese.
LONGEST = {
    "number": 2_147_483_647,  # the largest request id
    # A PUBLIC_BASE_URL of 38 characters and a short link (connect.requests.sms_links);
    # kinds that hold a link have a short form for longer ones (render.SHORT_FORMS).
    "link": "https://giupdo-khancap.bacgiang.gov.vn/s/ABCDEFGHJKLM",
    "name": "Ừ" * render.GIVEN_NAME_ROOM,  # a given name, shortened to the room it has
    "hotline": "0204 3854 321 - 0912 345 678",  # longer than "intake-call" has room for
    "status": lambda: max((str(label) for label in render.SMS_STATUS.values()), key=len),
    "closes": "23:59 31/12",  # connect.conversations.checkins: HH:mm dd/MM
    "code": "123456",  # connect.sms.codes: six digits
    "minutes": 1440,  # SMS_CODE_MINUTES, a day at the most
}
# Texts with a numbered list, and the choices each offers.
CHOICES = {
    "intake-need": [CATEGORY_LABELS[name] for name in CATEGORIES],
    "intake-area-pick": ["Ừ" * 40] * 6,
}
MUST_SHOW = {"intake-need": len(CATEGORIES), "intake-area-pick": 2}


@pytest.fixture(scope="module")
def babel_app():
    app = Flask(__name__)
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = str(TRANSLATIONS)
    Babel(app)
    with app.app_context():
        yield app


def placeholders(kind, locale):
    from flask_babel import force_locale

    with force_locale(locale):
        return set(re.findall(r"%\((\w+)\)s", str(render.SMS_TEXTS[kind])))


def longest(name):
    assert name in LONGEST, f"teach this test the longest value of %({name})s"
    value = LONGEST[name]
    return value() if callable(value) else value


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("kind", sorted(render.SMS_TEXTS))
def test_every_text_fits_two_segments_with_its_longest_values(babel_app, kind, locale):
    from flask_babel import force_locale

    if kind in CHOICES:
        body, shown = render.sms_choices(kind, CHOICES[kind], locale)
        assert shown >= MUST_SHOW[kind], (body, shown)
    else:
        with force_locale(locale):
            values = {name: longest(name) for name in placeholders(kind, locale)}
        body = render.sms(kind, locale, **values)
    assert fits(body), (segments(body), body)
    assert fits(fold(body)), (segments(fold(body)), fold(body))


@pytest.mark.parametrize("kind", sorted(render.SMS_TEXTS))
def test_every_text_is_translated_with_the_same_placeholders(babel_app, kind):
    from flask_babel import force_locale

    with force_locale("vi"):
        vietnamese = str(render.SMS_TEXTS[kind])
    assert placeholders(kind, "vi") == placeholders(kind, "en")
    with force_locale("en"):
        english = str(render.SMS_TEXTS[kind])
    assert vietnamese != english, f"{kind} has no Vietnamese"


def test_the_need_menu_names_every_category_by_its_number(babel_app):
    body, shown = render.sms_choices("intake-need", CHOICES["intake-need"], "vi")
    assert shown == len(CATEGORIES)
    assert "1 Thực phẩm" in body and f"{len(CATEGORIES)} Việc khác" in body
