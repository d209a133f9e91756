"""What areas announce to the packages whose rows are placed in them."""

from connect.signals import Namespace

_signals = Namespace()

imported = _signals.signal(
    "imported",
    doc="Areas were imported or changed: what lies in them "
    "is placed again. Receivers return how many "
    "placements they made.",
)
