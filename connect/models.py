"""Imports every model so metadata and migrations see the whole schema."""
from connect.accounts.models import ApiToken, User  # noqa: F401
from connect.idempotency import IdempotencyKey  # noqa: F401
from connect.coordination.models import (  # noqa: F401
    Area, BlockedPhone, CoordinatorArea, RequestArea, VolunteerArea)
from connect.matching.models import Notification  # noqa: F401
from connect.offers.models import Offer  # noqa: F401
from connect.requests.models import Assist, HelpRequest, RequestEvent  # noqa: F401
from connect.volunteers.models import Volunteer  # noqa: F401
from connect.safety.models import ContactReveal, Report, RequestFlag  # noqa: F401
