"""Refusals of the request rules that pages tell apart; each keeps the API's code."""

from connect.errors import Conflict


class InvalidTransition(Conflict):
    """The request's status (details: status) does not allow this change now."""

    code = "invalid_transition"


class RequestPurged(Conflict):
    """The request's personal data was purged: moderation cannot act on it any more."""

    code = "request_purged"


class NewVolunteerLimit(Conflict):
    """A volunteer who has not helped yet holds one claim at a time (details: capacity)."""

    code = "new_volunteer_limit"
    message = (
        "New volunteers hold one claim at a time until they have helped once. "
        "Mark your claim helped or release it first."
    )


class CapacityReached(Conflict):
    """The volunteer holds as many claims as they said they can take (details: capacity)."""

    code = "capacity_reached"
    message = (
        "You already hold as many claims as your capacity allows. "
        "Mark one helped or release it first."
    )
