"""What matching does when requests change: volunteers nearby hear of needs open to them."""
from connect.matching import leases
from connect.matching.push import push_request
from connect.notifications import signals as notification_signals
from connect.requests import signals


def push_posted(help_request, now=None, push=True, **_details):
    """A new need: volunteers near it hear of it (unless it was given to someone at once)."""
    if push:
        push_request(help_request, now=now)


def push_released(help_request, claimant_id=None, **_details):
    """Given back: volunteers near it hear of it again, not the one who just gave it up."""
    push_request(help_request, exclude=(claimant_id,))


def push_restored(help_request, now=None, **_details):
    """Listed again: volunteers near it hear of it as of a new need (no one twice)."""
    push_request(help_request, now=now)


def lease_lapsed(request_id, claimant_id=None, now=None, **_details):
    """A claim ran out: tell the claimant, and push it again to others."""
    leases.lease_lapsed(request_id, claimant_id, now)


def catch_up_inbox(user_id, now=None, **_details):
    """Before a volunteer's inbox is read: their lapsed leases end, due reminders go out."""
    leases.catch_up(user_id, now)


def init_app(app):
    """Connect matching's receivers (create_app calls this in every process)."""
    signals.posted.connect(push_posted)
    signals.released.connect(push_released)
    signals.restored.connect(push_restored)
    signals.lease_lapsed.connect(lease_lapsed)
    notification_signals.inbox_opening.connect(catch_up_inbox)
