"""Inbox endpoints: the caller's notifications (live by long polling) and marking them read."""

from flask_smorest import Blueprint
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from connect.notifications import inbox
from connect.notifications.models import NOTIFICATION_KINDS
from connect.web.access import require_user

bp = Blueprint(
    "notifications",
    __name__,
    url_prefix="/api/v1/notifications",
    description="The in-app inbox: pushed needs, lease reminders, assignments",
)

_ID = validate.Range(0, 2**31 - 1)
# Longer waits are cut to INBOX_WAIT_SECONDS; this bound only refuses nonsense.
MAX_WAIT = 120


class InboxQuerySchema(Schema):
    after = fields.Integer(
        validate=_ID,
        metadata={
            "description": "Only notifications with a greater id, oldest first (a live page "
            "passes the last id it has)."
        },
    )
    before = fields.Integer(
        validate=_ID,
        metadata={"description": "Older ones: the latest notifications with a smaller id."},
    )
    limit = fields.Integer(load_default=50, validate=validate.Range(1, inbox.MAX_LIMIT))
    wait = fields.Integer(
        load_default=0,
        validate=validate.Range(0, MAX_WAIT),
        metadata={
            "description": "With `after`: seconds to hold the answer until there is something "
            "new (at most INBOX_WAIT_SECONDS, 25 by default)."
        },
    )

    @validates_schema
    def _one_direction(self, data, **kwargs):
        if "after" in data and "before" in data:
            raise ValidationError("Give after or before, not both.", "before")
        if data.get("wait") and "after" not in data:
            raise ValidationError("wait needs after: the last id you have (0 for none).", "wait")


class NotificationSchema(Schema):
    id = fields.Integer()
    kind = fields.String(metadata={"enum": list(NOTIFICATION_KINDS)})
    request_id = fields.Integer(allow_none=True)
    created_at = fields.String()
    read = fields.Boolean()
    request_open = fields.Boolean(
        metadata={"description": "Whether the request is open to claim now."}
    )
    payload = fields.Dict(
        metadata={
            "description": "Public fields of the request only: categories, urgency, "
            "household_size, description (as it is now; left out once the "
            "request is hidden), location (the blurred point), distance_m (from "
            "your area, rounded to 100 m), created_at; lease_ends_at and "
            "minutes_left for a lease_reminder."
        }
    )


class InboxSchema(Schema):
    items = fields.List(fields.Nested(NotificationSchema))
    has_more = fields.Boolean(
        metadata={
            "description": "More after the last item (with `after`), or older ones (without)."
        }
    )
    last_id = fields.Integer(metadata={"description": "Pass it as `after` next time."})
    unread = fields.Integer()
    muted = fields.Boolean(
        metadata={
            "description": "No new needs are pushed to you: off duty, or no volunteer profile."
        }
    )
    live = fields.Boolean(
        metadata={
            "description": "False when the server holds as many waiting polls as it can: this "
            "one was answered at once; poll again after a pause (pages wait 10 s)."
        }
    )


class ReadSchema(Schema):
    up_to = fields.Integer(
        load_default=None,
        allow_none=True,
        validate=_ID,
        metadata={
            "description": "Mark your notifications with this id or lower; leave out for all."
        },
    )


class ReadResultSchema(Schema):
    marked = fields.Integer()
    unread = fields.Integer()


@bp.route("", methods=["GET"])
@bp.doc(
    description=(
        "Your own notifications only (any signed-in user: Authorization: Bearer, or the page's "
        "session cookie); 401 otherwise. Without `after`: the latest `limit`, newest last. "
        "Live (long polling): `?after=<last_id>&wait=25` answers as soon as something newer "
        "exists, or after the wait with no items; then ask again with the new `last_id`. A "
        "worker holds only a few polls at once (INBOX_MAX_WAITING): beyond that the answer "
        "comes at once with `live: false`. Reading also sends due lease reminders."
    )
)
@bp.arguments(InboxQuerySchema, location="query")
@bp.response(200, InboxSchema)
def list_notifications(args):
    """Your inbox, newest last."""
    user = require_user()
    return inbox.poll_inbox(user, **args), 200, {"Cache-Control": "no-store"}


@bp.route("/read", methods=["POST"])
@bp.doc(
    description="Marks your notifications read up to an id (all without `up_to`); "
    "other users' notifications are never touched. 401 without a token."
)
@bp.arguments(ReadSchema, required=False)
@bp.response(200, ReadResultSchema)
def mark_read(args):
    """Mark your notifications read."""
    user = require_user()
    return inbox.mark_read(user, (args or {}).get("up_to"))
