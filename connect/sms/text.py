"""What a text costs (GSM 7-bit or UCS-2, and how many segments) and folding it to plain ASCII."""

import math

from anyascii import anyascii

# GSM 03.38: the default alphabet, and the extension table whose characters take two septets.
GSM_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM_EXTENDED = frozenset("^{}\\[~]|€\f")
GSM, UCS2 = "gsm", "ucs2"
# Characters in one segment alone, and in each part of a concatenated message (the rest of the
# 140 bytes holds the header that tells the phone how to join the parts).
SINGLE = {GSM: 160, UCS2: 70}
CONCATENATED = {GSM: 153, UCS2: 67}
# The sendsms-user allows two (Kannel's max-messages): a longer text would be cut.
MAX_SEGMENTS = 2


def encoding(text):
    """GSM when every character is in the GSM alphabet, else UCS-2 (Vietnamese with accents)."""
    return GSM if all(c in GSM_BASIC or c in GSM_EXTENDED for c in text) else UCS2


def units(text, coding=None):
    """The message's length in its coding's units: septets, or UTF-16 code units."""
    coding = coding or encoding(text)
    if coding == GSM:
        return len(text) + sum(c in GSM_EXTENDED for c in text)
    return len(text.encode("utf-16-le")) // 2


def segments(text):
    """How many SMS the text is sent as."""
    coding = encoding(text)
    length = units(text, coding)
    if length <= SINGLE[coding]:
        return 1
    return math.ceil(length / CONCATENATED[coding])


def fold(text):
    """Vietnamese without diacritics ("Cần gạo" -> "Can gao"), in the GSM alphabet."""
    # anyascii gives ASCII; the backtick is the one ASCII character GSM lacks.
    return anyascii(text).replace("`", "'")


def fits(text):
    """Whether the text goes out in at most MAX_SEGMENTS segments."""
    return segments(text) <= MAX_SEGMENTS


def shorten(words, room):
    """``words`` cut to at most ``room`` characters, at a word boundary when one is near."""
    words = " ".join(words.split())
    if len(words) <= room:
        return words
    cut = words[: max(room - 1, 0)]
    space = cut.rfind(" ")
    if space > room // 2:
        cut = cut[:space]
    return cut.rstrip(" ,.;:-") + "…"
