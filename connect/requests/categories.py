"""The kinds of need: each category's name and label, and the bit masks the maps filter by.

Adding a category is one line in LABELS plus its translations (``make catalogs``, then the
Vietnamese and English messages) and its name in docs/api.md (a test compares them).
Everything else follows: the forms and their choices, the API's schemas and OpenAPI
document, the console's filters, the public export's ``open_<category>`` columns, and the
masks of the read model, the console map and batch assignment, whose integer type widens
with the count (tests/integration/test_categories.py proves it with nine).
"""

import functools

import numpy as np
import orjson
from flask_babel import lazy_gettext as _l

# In the order lists show them; the names are stored, so never rename one.
LABELS = {
    "food": _l("Food"),
    "supplies": _l("Household things"),
    "medicine": _l("Medicine"),
    "medical_advice": _l("Advice from a doctor"),
    "other": _l("Something else"),
}
CATEGORIES = tuple(LABELS)


class CategoryBits:
    """Each category's bit, and masks of them in the smallest unsigned integer that fits."""

    def __init__(self, names):
        self.names = tuple(names)
        if len(self.names) > 64:
            raise ValueError(f"at most 64 categories fit a mask, got {len(self.names)}")
        self.bits = {name: 1 << i for i, name in enumerate(self.names)}
        self.dtype = np.min_scalar_type((1 << len(self.names)) - 1)
        # The JSON list of a mask's names, made once per mask seen (the nearby list's items).
        self.json = _JsonByMask(self)
        # Stored lists come as JSON text: a few dozen distinct ones, so a million rows cost
        # a million cache lookups, not a million JSON parses.
        self._text_mask = functools.lru_cache(maxsize=4096)(
            lambda text: self.mask(orjson.loads(text))
        )

    def mask(self, categories):
        """The bits of a list of category names, or of that list as stored JSON text; a name
        not listed (any more) counts for nothing."""
        if isinstance(categories, str):
            return self._text_mask(categories)
        mask = 0
        for name in categories:
            mask |= self.bits.get(name, 0)
        return mask

    def masks(self, lists):
        """The masks of these lists of names (or stored texts; None for none) as an array."""
        return np.array([self.mask(names or ()) for names in lists], dtype=self.dtype)

    def names_of(self, mask):
        """The category names of a mask, in the fixed category order."""
        return [name for name, bit in self.bits.items() if mask & bit]


class _JsonByMask(dict):
    def __init__(self, bits):
        super().__init__()
        self._bits = bits

    def __missing__(self, mask):
        self[mask] = text = orjson.dumps(self._bits.names_of(mask))
        return text


BITS = CategoryBits(CATEGORIES)
category_mask = BITS.mask
