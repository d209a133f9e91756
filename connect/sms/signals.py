"""What the SMS channel announces to the packages above it."""

from connect.signals import Namespace

_signals = Namespace()

fell_back = _signals.signal(
    "sms-fell-back",
    doc="A text was over budget and carries a fallback: its user's inbox should get it. "
    "Sender: the SmsMessage.",
)
received = _signals.signal(
    "sms-received",
    doc="A text came in from a valid number (stored, its phone proven): answer it. "
    "Sender: the SmsMessage; kwargs: text (the body as received).",
)
