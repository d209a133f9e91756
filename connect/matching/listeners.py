"""What matching does when requests change: volunteers nearby hear of needs open to them.

A change writes one outbox event in its own transaction; the worker then finds whom to tell
(the nearest fitting volunteers) and tells them, outside the request that made the change.
"""

from datetime import datetime

from connect import clock
from connect.matching import leases
from connect.matching.push import push_request, reloaded_request
from connect.notifications import signals as notification_signals
from connect.outbox.queue import enqueue, handles
from connect.requests import signals

PUSH_TOPIC = "push-request"
LAPSED_TOPIC = "lease-lapsed"


def push_posted(help_request, now=None, push=True, **_details):
    """A new need: volunteers near it hear of it (unless it was given to someone at once)."""
    if push:
        _enqueue_push(help_request.id, (), now)


def push_released(help_request, claimant_id=None, **_details):
    """Given back: volunteers near it hear of it again, not the one who just gave it up."""
    _enqueue_push(help_request.id, (claimant_id,) if claimant_id else (), None)


def push_restored(help_request, now=None, **_details):
    """Listed again: volunteers near it hear of it as of a new need (no one twice)."""
    _enqueue_push(help_request.id, (), now)


def lease_lapsed(request_id, claimant_id=None, now=None, **_details):
    """A claim ran out: the claimant is told, and others hear of the need again."""
    enqueue(
        LAPSED_TOPIC, {"request_id": request_id, "claimant_id": claimant_id, "at": _stamp(now)}
    )


def catch_up_inbox(user_id, now=None, **_details):
    """Before a volunteer's inbox is read: their lapsed leases end, due reminders go out."""
    leases.catch_up(user_id, now)


def _enqueue_push(request_id, exclude, now):
    enqueue(PUSH_TOPIC, {"request_id": request_id, "exclude": list(exclude), "at": _stamp(now)})


def _stamp(now):
    # When the change happened: the push counts its hourly caps and expiry from then.
    return (now or clock.now()).isoformat()


@handles(PUSH_TOPIC)
def run_push(event):
    """The worker's half of a push: the request as it is now, to the nearest who fit."""
    help_request = reloaded_request(event["request_id"])
    if help_request is not None:
        push_request(help_request, exclude=tuple(event.get("exclude") or ()), now=_when(event))


@handles(LAPSED_TOPIC)
def run_lease_lapsed(event):
    """The worker's half of a lapsed lease: tell the claimant, push it to others."""
    leases.lease_lapsed(event["request_id"], event.get("claimant_id"), _when(event))


def _when(event):
    # Not earlier than now: a request that expired while the event waited is not pushed.
    at = datetime.fromisoformat(event["at"]) if event.get("at") else None
    return max(at, clock.now()) if at else None


def init_app(app):
    """Connect matching's receivers (create_app calls this in every process)."""
    signals.posted.connect(push_posted)
    signals.released.connect(push_released)
    # Not helped after all: told again as a given-back need, not to the one who marked it.
    signals.disputed.connect(push_released)
    signals.restored.connect(push_restored)
    signals.lease_lapsed.connect(lease_lapsed)
    notification_signals.inbox_opening.connect(catch_up_inbox)
