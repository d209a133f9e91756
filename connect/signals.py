"""Signals whose receivers run in the order they were connected (blinker leaves it open)."""

from blinker import NamedSignal
from blinker import Namespace as _BlinkerNamespace
from ordered_set import OrderedSet


class OrderedSignal(NamedSignal):
    """A blinker signal that calls receivers in connection order (its documented set_class)."""

    # create_app connects receivers in the order a change must be handled, e.g. a post's
    # look-alikes are flagged before volunteers are told of it.
    set_class = OrderedSet


class Namespace(_BlinkerNamespace):
    """Named signals, each an OrderedSignal."""

    def signal(self, name, doc=None):
        """The signal called ``name``, made on first use."""
        if name not in self:
            self[name] = OrderedSignal(name, doc)
        return self[name]
