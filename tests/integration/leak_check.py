"""Finding a help request's personal data in a response body, in any form it may take.

Shared by test_authorization_matrix.py and test_leak_scan.py. A request's personal data is its
contact name, phone, address and exact point (ARCHITECTURE, Privacy). Each is looked for

- in the raw body, the body with HTML entities decoded, the body URL-decoded (links, data-
  attributes, query strings) and, for JSON, the decoded document (JSON may escape "ị" as
  "\\u1ecb", so a name is also found by its distinctive ASCII marker word);
- a phone in any format: +84 9x..., 84 9x..., 09x..., 9x..., with spaces, dots, dashes or
  brackets anywhere between the digits;
- an exact coordinate printed with 4 or more decimals, as a JSON number or text, with a
  decimal point or a decimal comma, rounded or cut: both of a point's coordinates in one
  body, or either one alone to 6 decimals (0.1 m). One coordinate alone at 4-5 decimals is
  not counted: a public point 150-400 m away shares one of them by chance too often (an
  offset due east keeps the latitude), and it does not place a house.

A coordinate check needs the public numbers a page may print (blurred points, the map
centre, the list of places) to stay clear of every exact coordinate by MIN_SEPARATION, so
that printing them cannot look like a leak: `separation_problems` says which ones do not.
"""

import bisect
import html
import json
import re
from dataclasses import dataclass, field
from urllib.parse import unquote, unquote_plus

# Two coordinates closer than this cannot be told apart at 4 decimals (rounded or cut).
MIN_SEPARATION = 2e-4
_SEP = r"[\s.\-()/\u00a0]*"
_DOT_NUMBER = re.compile(r"(?<![\d.])-?\d{1,3}\.\d{4,}")
_COMMA_NUMBER = re.compile(r"(?<![\d.,])-?\d{1,3},\d{4,}(?![\d])")
# What a phone in any format is written with: each phone match lies in one such run.
_PHONE_RUN = re.compile(r"[\d+][\d+\s.\-()/\u00a0]*")
_NOT_DIGIT = re.compile(r"\D")


@dataclass
class Personal:
    """One request's personal data, and what gives it away."""

    request_id: int
    contact_name: str
    phone: str  # E.164: +84...
    address: str
    point: tuple  # the exact (lat, lon)
    markers: dict = field(default_factory=dict)  # {"name": word, "address": word}
    manage_token: str | None = None

    def __post_init__(self):
        digits = self.phone[3:] if self.phone.startswith("+84") else self.phone.lstrip("+0")
        self.national_digits = digits
        self.phone_pattern = re.compile(
            r"(?<!\d)(?:(?:\+|00)?84" + _SEP + r"|0" + _SEP + r")?" + _SEP.join(digits) + r"(?!\d)"
        )

    def strings(self):
        """(kind, text) of the plain strings that must not appear."""
        found = [("contact_name", self.contact_name), ("address", self.address)]
        found += [(f"{kind} marker", word) for kind, word in self.markers.items()]
        return found


def variants(body, parsed_json=None):
    """The body as a reader (a browser, a script, a person) may see it."""
    texts = [body, html.unescape(body)]
    texts += [unquote(texts[1]), unquote_plus(texts[1])]
    if parsed_json is not None:
        texts.append(json.dumps(parsed_json, ensure_ascii=False))
    return texts


def numbers(text):
    """(value, decimals) of every number with 4+ decimals in text."""
    for match in _DOT_NUMBER.finditer(text):
        token = match.group()
        yield float(token), len(token.split(".")[1]), token
    for match in _COMMA_NUMBER.finditer(text):
        token = match.group()
        yield float(token.replace(",", ".")), len(token.split(",")[1]), token


def _json_numbers(node):
    if isinstance(node, dict):
        for value in node.values():
            yield from _json_numbers(value)
    elif isinstance(node, list):
        for value in node:
            yield from _json_numbers(value)
    elif isinstance(node, float):
        yield node


class Detector:
    """Looks for any of many people's data in one pass per form of the body."""

    def __init__(self, people):
        self.people = list(people)
        self._strings = {}
        for person in self.people:
            for kind, secret in person.strings():
                if secret:
                    self._strings.setdefault(secret, []).append((person.request_id, kind))
        self._string_re = re.compile(
            "|".join(re.escape(secret) for secret in sorted(self._strings, key=len, reverse=True))
            or r"(?!x)x"
        )
        self._phone_re = re.compile(
            "|".join(f"(?:{person.phone_pattern.pattern})" for person in self.people) or r"(?!x)x"
        )
        self._national = {person.national_digits for person in self.people}
        self._national_lengths = sorted({len(digits) for digits in self._national})
        self._exact = sorted(
            (value, person.request_id, axis)
            for person in self.people
            for axis, value in enumerate(person.point)
        )
        self._exact_values = [value for value, _, _ in self._exact]

    def _near(self, value, tolerance):
        low = bisect.bisect_left(self._exact_values, value - tolerance)
        high = bisect.bisect_right(self._exact_values, value + tolerance)
        return [
            (request_id, axis)
            for exact, request_id, axis in self._exact[low:high]
            if abs(value - exact) < tolerance
        ]

    def _phone_matches(self, text):
        """The phone pattern's matches, sought only in runs that hold someone's digits."""
        # On a whole page the pattern backtracks at every digit: the slowest part of a scan.
        shortest = min(self._national_lengths, default=0)
        for run in _PHONE_RUN.finditer(text):
            if not shortest or run.end() - run.start() < shortest:
                continue
            digits = _NOT_DIGIT.sub("", run.group())
            if any(
                digits[i : i + n] in self._national
                for n in self._national_lengths
                for i in range(len(digits) - n + 1)
            ):
                yield from self._phone_re.finditer(text, run.start(), run.end())

    def leaks(self, body, parsed_json=None):
        found, coordinates = {}, []
        for text in dict.fromkeys(variants(body, parsed_json)):
            for match in self._string_re.finditer(text):
                for request_id, kind in self._strings[match.group()]:
                    found.setdefault((request_id, kind), match.group())
            for match in self._phone_matches(text):
                for person in self.people:
                    if person.phone_pattern.fullmatch(match.group()):
                        found.setdefault((person.request_id, "phone"), match.group())
            for value, decimals, token in numbers(text):
                for request_id, axis in self._near(value, 10**-decimals):
                    coordinates.append(
                        (request_id, axis, decimals >= 6, f"exact coordinate {token}", token)
                    )
        # JSON numbers whose text form the regex might not see (e.g. 1e-05 style, or a
        # serializer printing 17 digits): compare the values themselves.
        for value in _json_numbers(parsed_json):
            for request_id, axis in self._near(value, 1e-4):
                precise = any(r == request_id for r, _ in self._near(value, 1e-6))
                coordinates.append(
                    (request_id, axis, precise, f"exact coordinate (JSON) {value}", value)
                )
        axes = {}
        for request_id, axis, _precise, _kind, _evidence in coordinates:
            axes.setdefault(request_id, set()).add(axis)
        for request_id, _axis, precise, kind, evidence in coordinates:
            if precise or len(axes[request_id]) == 2:
                found.setdefault((request_id, kind), evidence)
        return [(request_id, kind, evidence) for (request_id, kind), evidence in found.items()]


_detectors = {}


def find_leaks(body, people, parsed_json=None):
    """Every sign of these requests' personal data in body: [(request id, kind, evidence)]."""
    key = tuple(
        (
            p.request_id,
            p.contact_name,
            p.phone,
            p.address,
            tuple(p.point),
            tuple(sorted(p.markers.items())),
        )
        for p in people
    )
    detector = _detectors.get(key)
    if detector is None:
        if len(_detectors) > 64:
            _detectors.clear()
        detector = _detectors[key] = Detector(people)
    return detector.leaks(body, parsed_json)


def shows_everything(body, person, parsed_json=None):
    """What of the contact details is missing from a body that should show them all."""
    texts = variants(body, parsed_json)
    missing = []
    for kind in ("name", "address"):
        if not any(person.markers[kind] in text for text in texts):
            missing.append(kind)
    if not any(person.phone_pattern.search(text) for text in texts):
        missing.append("phone")
    return missing


def separation_problems(exact_values, public_values, min_separation=MIN_SEPARATION):
    """[(exact, public)] pairs too close to tell apart at 4 decimals."""
    publics = sorted(public_values)
    problems = []
    for exact in exact_values:
        for public in publics:
            if abs(exact - public) < min_separation:
                problems.append((exact, public))
    return problems
