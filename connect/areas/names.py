"""Communes and wards by the name people write: with or without diacritics, in any case, with
or without their kind ("xã", "phường", "thị trấn"), alone or inside a longer message."""

import re
import threading
from dataclasses import dataclass

from geoalchemy2.shape import to_shape
from sqlalchemy import select
from sqlalchemy.orm import aliased

from connect.areas.models import Area
from connect.areas.services import areas_version
from connect.extensions import db
from connect.geo import inner_point
from connect.sms.text import fold

# Folded, as words: the kinds of commune-level area (and their abbreviations: "P." for
# phường, "TT" for thị trấn) that may stand before a name or not.
KINDS = tuple(
    tuple(kind.split())
    for kind in ("THANH PHO", "THI TRAN", "THI XA", "PHUONG", "XA", "TP", "TT", "TX", "P", "X")
)
# A district's kind too, when a text names one to tell two communes apart.
_LABEL_KINDS = (*KINDS, ("HUYEN",), ("QUAN",))
_NOTE = re.compile(r"\([^)]*\)")  # "(demo)", "(cũ)": notes, not part of the name
_WORD = re.compile(r"[^0-9A-Z]+")

_lock = threading.Lock()
_shared = {"version": None, "index": None}


def words(text):
    """A text as compared: folded to plain letters, upper case, split into words."""
    return _WORD.sub(" ", fold(text or "").upper()).split()


def _kind_length(folded, kinds=KINDS):
    """How many of the first words name the kind of area (0 when none does)."""
    for kind in kinds:
        if tuple(folded[: len(kind)]) == kind:
            return len(kind)
    return 0


def name_key(text):
    """The words a name is known by: "Xã Tân Mỹ" and "tan my" both give ("TAN", "MY")."""
    folded = words(_NOTE.sub(" ", text or ""))
    kind = _kind_length(folded)
    rest = folded[kind:]
    # "Phường 3" is known by both words: a bare number is an answer to other questions.
    if not rest or all(word.isdigit() for word in rest):
        return tuple(folded)
    return tuple(rest)


def short_name(name):
    """A name as a text shows it: no note, no kind ("Xã Tân Mỹ (demo)" -> "Tân Mỹ")."""
    original = _NOTE.sub(" ", name).split()
    kind = _kind_length(words(" ".join(original)), _LABEL_KINDS)
    rest = original[kind:]
    return " ".join(rest if rest and not all(w.isdigit() for w in rest) else original)


@dataclass(frozen=True)
class Commune:
    id: int
    name: str
    district: str  # its parent's short name, to tell apart communes of one name

    @property
    def label(self):
        short = short_name(self.name)
        return f"{short} ({self.district})" if self.district else short


class NameIndex:
    """Communes by the words of their names; the longest name found in a text wins."""

    def __init__(self, communes):
        self.by_key, self.by_id = {}, {}
        for commune in communes:
            self.by_id[commune.id] = commune
            self.by_key.setdefault(name_key(commune.name), []).append(commune)
        for found in self.by_key.values():
            found.sort(key=lambda c: (words(c.district), words(c.name), c.id))
        self.longest = max((len(key) for key in self.by_key), default=0)

    def named(self, text):
        """The communes whose name the whole text is, its kind written or not ("Phương
        Sơn" is a name whose first word is also a kind)."""
        for key in (name_key(text), tuple(words(_NOTE.sub(" ", text or "")))):
            if key in self.by_key:
                return list(self.by_key[key])
        return []

    def within(self, folded):
        """(communes, start, end) of the longest name among the words ``folded``, or None."""
        for length in range(min(self.longest, len(folded)), 0, -1):
            for start in range(len(folded) - length + 1):
                found = self.by_key.get(tuple(folded[start : start + length]))
                if found:
                    return list(found), start, start + length
        return None


def name_index():
    """This process's NameIndex of the communes, rebuilt when the stored areas change."""
    version = areas_version()
    with _lock:
        if _shared["version"] != version:
            parent = aliased(Area)
            rows = db.session.execute(
                select(Area.id, Area.name, parent.name)
                .outerjoin(parent, parent.id == Area.parent_id)
                .where(Area.level == "commune")
            ).all()
            _shared["index"] = NameIndex(
                Commune(id_, name, short_name(district) if district else "")
                for id_, name, district in rows
            )
            _shared["version"] = version
        return _shared["index"]


def find_by_name(text):
    """The communes or wards called ``text`` (several when names repeat across districts)."""
    return name_index().named(text)


def find_in_text(text):
    """(communes, the other words) for the longest commune name inside a message, its kind
    word dropped with it ("GAO 4 NGUOI XA TAN MY" -> Tân Mỹ, [GAO, 4, NGUOI]); None else."""
    folded = words(text)
    found = name_index().within(folded)
    if found is None:
        return None
    communes, start, end = found
    before = folded[:start]
    for kind in KINDS:
        if len(kind) <= len(before) and tuple(before[-len(kind) :]) == kind:
            before = before[: -len(kind)]
            break
    return communes, before + folded[end:]


def commune_point(area_id):
    """(lat, lon) of the point a request placed by its commune stands at: inside it."""
    geometry = db.session.execute(select(Area.geometry).where(Area.id == area_id)).scalar_one()
    return inner_point(to_shape(geometry))
