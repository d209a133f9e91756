"""What the inbox announces to the packages that fill it."""

from connect.signals import Namespace

_signals = Namespace()

inbox_opening = _signals.signal(
    "inbox-opening",
    doc="A user's inbox is about to be read: "
    "what is due to them should be sent "
    "first. Sender: the user id; kwargs: now.",
)
