"""What safety does when requests change, and what it answers when their rules ask."""

from connect.requests import signals
from connect.safety import blocking, duplicates, reports


def init_app(app):
    """Connect safety's receivers (create_app calls this in every process)."""
    signals.phone_check.connect(blocking.check_phone_allowed)
    signals.review_hold.connect(reports.review_hold)
    signals.posted.connect(duplicates.flag_lookalikes)
    signals.disputed.connect(duplicates.flag_disputed)
