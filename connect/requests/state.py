"""What state a help request is in: its statuses, their groups, and the rule time applies.

Time changes a request without anyone writing it: a claim whose lease has lapsed is open
again, for a full expiry period from the lapse; an open request past its expiry has
expired. ``timeouts.apply_timeouts`` persists that later; until then every reader applies
this rule, in one of its three forms here: on one request's values (Python), over the
columns (SQL, bound to the model by ``HelpRequest.status_at`` and friends) and over numpy
columns (the console map's snapshot, the nearby read model). Change the rule here, in all
three; tests/integration/test_request_state.py runs one table of cases through each.
"""

from datetime import timedelta

import numpy as np
from flask import current_app
from sqlalchemy import and_, case, or_

STATUSES = ("open", "claimed", "helped", "confirmed", "cancelled", "expired", "hidden")
ACTIVE = ("open", "claimed")  # someone can still help: one per phone, on the maps and lists
HELPED = ("helped", "confirmed")  # counted as helped
CLOSED_UNHELPED = ("cancelled", "expired", "hidden")
CLOSED = HELPED + CLOSED_UNHELPED  # no longer active, helped or not
CONFIRMABLE = ("claimed", "helped")  # the requester can say they were helped
MODERATED = (*ACTIVE, "hidden")  # moderation still acts on it: reports, the queue, blocks
# A status as a small integer in numpy columns: its index in STATUSES.
CODES = {status: code for code, status in enumerate(STATUSES)}
_OPEN, _CLAIMED, _EXPIRED = CODES["open"], CODES["claimed"], CODES["expired"]


def expiry_period():
    """How long an open request lives without activity."""
    return timedelta(seconds=current_app.config["REQUEST_EXPIRY_SECONDS"])


def reopened_expiry(lease_end, expiry):
    """The expiry of a request whose lease lapsed: a full expiry period from the lapse."""
    return lease_end + expiry


def effective_state(status, lease_end, expires_at, now, expiry):
    """(status, expires_at) at now, with a lapsed lease and an expiry applied as once
    persisted. Times are datetimes with a timedelta expiry, or numbers in one unit."""
    if status == "claimed" and lease_end <= now:
        status, expires_at = "open", reopened_expiry(lease_end, expiry)
    if status == "open" and expires_at <= now:
        status = "expired"
    return status, expires_at


def effective_status_np(status, lease, expires, now, expiry):
    """effective_state's status over numpy columns: status codes (CODES), lease ends and
    expiries in one unit (any value where no lease is held), now and expiry in that unit."""
    # In place, with no expiries made: the console map runs this over 100,000 requests.
    lapsed = status == _CLAIMED
    lapsed &= lease <= now
    expired = status == _OPEN
    expired &= expires <= now
    expired |= lapsed & (lease <= now - expiry)  # reopened_expiry(lease, expiry) <= now
    status = status.copy()
    status[lapsed] = _OPEN
    status[expired] = _EXPIRED
    return status


def effective_state_np(status, lease, expires, now, expiry):
    """(effective_status_np, the expiries with reopened_expiry where a lease lapsed)."""
    lapsed = status == _CLAIMED
    lapsed &= lease <= now
    expires = expires.copy()
    np.add(lease, expiry, out=expires, where=lapsed)
    return effective_status_np(status, lease, expires, now, expiry), expires


def status_sql(status, lease_end, expires_at, now, expiry):
    """effective_state's status as SQL over these columns (now and expiry are values)."""
    # Datetime arithmetic on a column is not portable (SQLite), so the reopened expiry,
    # lease_end + expiry <= now, is compared as lease_end <= now - expiry.
    return case(
        (claimed_sql(status, lease_end, now), "claimed"),
        (and_(status == "claimed", lease_end > now - expiry), "open"),
        (status == "claimed", "expired"),
        (past_expiry_sql(status, expires_at, now), "expired"),
        else_=status,
    )


def open_sql(status, lease_end, expires_at, now, expiry):
    """status_sql(...) == "open", as conditions an index on (status, time) serves."""
    return or_(
        and_(status == "open", expires_at > now),
        and_(lapsed_sql(status, lease_end, now), lease_end > now - expiry),
    )


def claimed_sql(status, lease_end, now):
    """status_sql(...) == "claimed": a claim whose lease still runs."""
    return and_(status == "claimed", lease_end > now)


def lapsed_sql(status, lease_end, now):
    """A claim whose lease has lapsed, still stored as claimed."""
    return and_(status == "claimed", lease_end <= now)


def past_expiry_sql(status, expires_at, now):
    """An open request past its expiry, still stored as open."""
    return and_(status == "open", expires_at <= now)
