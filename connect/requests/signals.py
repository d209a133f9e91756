"""What happens to help requests, announced to the packages that react to it.

requests never imports its listeners (matching, notifications, safety): each connects its
receivers in its ``init_app``, which create_app calls, so a web, CLI or worker process has
them all (blinker holds receivers weakly, and a module nobody imported would listen to
nothing), in the order create_app connected them. Receivers run inside the sender's
transaction: they add and flush, never commit (a receiver that must write during a GET, as
the inbox catch-up does, uses its own short write transaction). The sender of every lifecycle
signal is the HelpRequest as stored after the change, but for lease-lapsed: its request id.
"""

from connect.signals import Namespace

_signals = Namespace()

# -- the lifecycle -------------------------------------------------------------------------
posted = _signals.signal(
    "posted",
    doc="A request was posted; kwargs: now, push (tell "
    "volunteers nearby), lat, lon (its exact point).",
)
claimed = _signals.signal("claimed", doc="A volunteer holds it now; kwargs: volunteer_id.")
released = _signals.signal("released", doc="The claimant gave it back; kwargs: claimant_id.")
lease_lapsed = _signals.signal(
    "lease-lapsed",
    doc="A claim's lease ran out and the request is open again; kwargs: claimant_id, now.",
)
helped = _signals.signal("helped", doc="The claimant marked it helped.")
confirmed = _signals.signal("confirmed", doc="The requester confirmed they were helped.")
disputed = _signals.signal(
    "disputed",
    doc="The requester said they were not helped after the claimant marked it helped: it is "
    "open again; kwargs: now, claimant_id (who marked it helped).",
)
cancelled = _signals.signal("cancelled", doc="The requester or a coordinator withdrew it.")
hidden = _signals.signal("hidden", doc="Moderation took it out of every list.")
restored = _signals.signal(
    "restored", doc="Moderation listed a hidden request again; kwargs: now."
)
moved = _signals.signal("moved", doc="Its exact point changed; kwargs: lat, lon.")

# -- questions the rules ask of the packages above -----------------------------------------
phone_check = _signals.signal(
    "phone-check",
    doc="A phone is about to post or take over a "
    "request: a receiver refuses it by raising "
    "PhoneBlocked. Sender: the phone (E.164).",
)
review_hold = _signals.signal(
    "review-hold",
    doc="Receivers return a SQL condition on "
    "HelpRequest under which a hidden request "
    "is held for a coordinator's review.",
)
