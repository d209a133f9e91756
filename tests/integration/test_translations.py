"""Every user-facing string is translated in Vietnamese and English; the compiled catalogues load.

The messages are extracted from the sources the way `make catalogs` does (babel.cfg, keywords
`_` and friends plus `_l`); a message missing from a catalogue, left empty or marked fuzzy is
untranslated. After changing the catalogues run `make translations` to compile them.
"""

from pathlib import Path

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po
from babel.support import Translations

ROOT = Path(__file__).resolve().parents[2]
TRANSLATIONS = ROOT / "connect" / "translations"
LOCALES = ("vi", "en")
KEYWORDS = {**DEFAULT_KEYWORDS, "_l": None, "lazy_gettext": None, "lazy_ngettext": (1, 2)}
SKIP_DIRS = {
    "node_modules",
    "instance",
    "test-artifacts",
    "build",
    "dist",
    "static",
    "tests",
    "bench",
    "docs",
}


def _source_messages():
    """{(msgid, context): [where, ...]} for every message in the sources."""
    with open(ROOT / "babel.cfg", encoding="utf-8") as config:
        method_map, options_map = parse_mapping_cfg(config, str(ROOT / "babel.cfg"))

    def wanted(dirname):
        name = Path(dirname).name
        return not name.startswith((".", "_")) and name not in SKIP_DIRS

    messages = {}
    for filename, lineno, message, _comments, context in extract_from_dir(
        str(ROOT),
        method_map,
        options_map,
        keywords=KEYWORDS,
        directory_filter=wanted,
        strip_comment_tags=True,
    ):
        msgid = message[0] if isinstance(message, (tuple, list)) else message
        if msgid:
            messages.setdefault((msgid, context), []).append(f"{filename}:{lineno}")
    return messages


@pytest.fixture(scope="module")
def source_messages():
    messages = _source_messages()
    assert messages, "no messages extracted: is babel.cfg right?"
    return messages


def _catalog(locale):
    with open(TRANSLATIONS / locale / "LC_MESSAGES" / "messages.po", "rb") as po:
        return read_po(po, locale=locale)


@pytest.mark.parametrize("locale", LOCALES)
def test_every_message_is_translated(locale, source_messages):
    catalog = _catalog(locale)
    missing, untranslated = [], []
    for (msgid, context), where in sorted(source_messages.items()):
        message = catalog.get(msgid, context)
        if message is None:
            missing.append(f"{msgid!r} ({', '.join(where[:2])})")
            continue
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        if message.fuzzy or not all(s and s.strip() for s in strings):
            untranslated.append(f"{msgid!r} ({', '.join(where[:2])})")
    problems = []
    if missing:
        problems.append(
            f"{len(missing)} missing from the {locale} catalogue (run `make catalogs`):"
            "\n  " + "\n  ".join(missing)
        )
    if untranslated:
        problems.append(
            f"{len(untranslated)} untranslated or fuzzy in {locale}:"
            "\n  " + "\n  ".join(untranslated)
        )
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("locale", LOCALES)
def test_translations_keep_placeholders_and_plural_forms(locale):
    catalog = _catalog(locale)
    errors = [
        f"{message.id!r}: {'; '.join(map(str, errs))}" for message, errs in catalog.check() if errs
    ]
    assert not errors, "\n".join(errors)
    expected = 1 if locale == "vi" else 2
    assert catalog.num_plurals == expected, catalog.plural_forms
    if locale == "vi":
        assert catalog.plural_expr == "0"
    for message in catalog:
        if message.id and message.pluralizable:
            assert len(message.string) == expected, (message.id, message.string)


@pytest.mark.parametrize("locale", LOCALES)
def test_compiled_catalogue_loads_and_matches_the_po_file(locale):
    translations = Translations.load(str(TRANSLATIONS), [locale])
    assert isinstance(translations, Translations), (
        f"no compiled catalogue for {locale}: run `make translations`"
    )
    stale = []
    for message in _catalog(locale):
        if not message.id or message.fuzzy:
            continue
        if message.pluralizable:
            got = tuple(
                translations.ngettext(message.id[0], message.id[1], n)
                for n in ((1,) if locale == "vi" else (1, 2))
            )
            want = tuple(message.string[: len(got)])
        else:
            got = (
                translations.pgettext(message.context, message.id)
                if message.context
                else translations.gettext(message.id)
            )
            want = message.string
        if want and got != want:
            stale.append(repr(message.id))
    assert not stale, (
        f"{len(stale)} messages of the {locale} .mo differ from the .po: "
        f"run `make translations`\n  " + "\n  ".join(stale[:20])
    )


@pytest.mark.parametrize("backend", ["sqlite"])
def test_pages_speak_vietnamese_by_default_and_english_on_request(app):
    from flask import render_template_string

    with app.test_request_context("/"):
        assert render_template_string("{{ _('I need help') }}") == "Tôi cần giúp đỡ"
    with app.test_request_context("/?lang=en"):
        assert render_template_string("{{ _('I need help') }}") == "I need help"
