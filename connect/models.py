"""Imports every model so metadata and migrations see the whole schema."""

from connect.accounts.models import ApiToken, User, Volunteer  # noqa: F401
from connect.areas.models import Area, CoordinatorArea, RequestArea, VolunteerArea  # noqa: F401
from connect.notifications.models import Notification  # noqa: F401
from connect.offers.models import Offer  # noqa: F401
from connect.outbox.models import OutboxEvent  # noqa: F401
from connect.requests.models import (  # noqa: F401
    Assist,
    ContactReveal,
    HelpRequest,
    RequestEvent,
    SmsLink,
)
from connect.safety.models import BlockedPhone, Report, RequestFlag  # noqa: F401
from connect.scheduler.models import JobRun, ScheduledJob  # noqa: F401
from connect.sms.models import (  # noqa: F401
    PhoneCode,
    ProvenPhone,
    SmsMessage,
    SmsOptOut,
    SmsQuestion,
)
from connect.web.idempotency import IdempotencyKey  # noqa: F401
