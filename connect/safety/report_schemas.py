"""Shapes of reports (Báo xấu) and of the moderation API."""

from marshmallow import Schema, fields, validate

from connect.clock import isoformat
from connect.safety.models import FLAG_KINDS, REPORT_REASONS
from connect.validation import Text

MAX_PER_PAGE = 100


class ReportCreateSchema(Schema):
    reason = fields.String(
        required=True,
        validate=validate.OneOf(
            REPORT_REASONS, error="Choose one of: " + ", ".join(REPORT_REASONS) + "."
        ),
        metadata={"description": "joke, advertising, scam, false (false information) or other."},
    )
    comment = Text(
        load_default=None,
        allow_none=True,
        validate=validate.Length(max=300),
        metadata={
            "description": "Optional, at most 300 characters; coordinators "
            "read it, without your name."
        },
    )


class ReportSchema(Schema):
    """Your report as recorded. Whether it hid the subject is not said."""

    id = fields.Integer()
    subject_type = fields.String(metadata={"description": "request or offer."})
    subject_id = fields.Integer()
    reason = fields.String()
    comment = fields.String(allow_none=True)
    created_at = fields.Function(lambda report: isoformat(report.created_at))


class ModerationActionSchema(Schema):
    reason = Text(
        required=True,
        validate=validate.Length(min=1, max=150),
        metadata={"description": "Why, for the request's history (at most 150 characters)."},
    )


class FlagResolveSchema(Schema):
    reason = Text(
        load_default=None,
        allow_none=True,
        validate=validate.Length(max=150),
        metadata={"description": "Optional note for the request's history."},
    )


class QueueQuerySchema(Schema):
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=100_000))
    per_page = fields.Integer(load_default=20, validate=validate.Range(1, MAX_PER_PAGE))


class _QueueRequestSchema(Schema):
    id = fields.Integer()
    status = fields.String()
    categories = fields.List(fields.String())
    description = fields.String()
    household_size = fields.Integer()
    urgency = fields.String()
    created_at = fields.String()


class _ReportCountsSchema(Schema):
    reporters = fields.Integer(
        metadata={"description": "Distinct accounts with unresolved reports."}
    )
    by_reason = fields.Dict(
        keys=fields.String(validate=validate.OneOf(REPORT_REASONS)), values=fields.Integer()
    )


class FlagSchema(Schema):
    id = fields.Integer()
    kind = fields.String(
        validate=validate.OneOf(FLAG_KINDS),
        metadata={
            "description": "possible_duplicate: a request sharing a category, posted from "
            "another phone within 100 m in the 48 h before this one."
        },
    )
    related_request_id = fields.Integer(allow_none=True)
    created_at = fields.String()


class ResolvedFlagSchema(FlagSchema):
    request_id = fields.Integer()
    resolved_at = fields.Function(lambda flag: isoformat(flag.resolved_at))
    created_at = fields.Function(lambda flag: isoformat(flag.created_at))


class QueueItemSchema(Schema):
    request = fields.Nested(_QueueRequestSchema)
    pending_review = fields.Boolean(
        metadata={"description": "Hidden (by reports or by hand) with reports not yet resolved."}
    )
    reports = fields.Nested(_ReportCountsSchema)
    comments = fields.List(
        fields.String(),
        metadata={"description": "The newest few report comments, without who wrote them."},
    )
    flags = fields.List(fields.Nested(FlagSchema))


class QueueSchema(Schema):
    items = fields.List(fields.Nested(QueueItemSchema))
    page = fields.Integer()
    per_page = fields.Integer()
    total = fields.Integer()


class ModeratedRequestSchema(Schema):
    """The request after a moderation action (public fields; GET it for the rest)."""

    id = fields.Integer()
    status = fields.Function(lambda r: r.effective_status)
    expires_at = fields.Function(lambda r: isoformat(r.expires_at))
    closed_at = fields.Function(lambda r: isoformat(r.closed_at) if r.closed_at else None)


# -- blocked phones ----------------------------------------------------------------------


class BlockPhoneSchema(Schema):
    reason = Text(
        required=True,
        validate=validate.Length(min=1, max=200),
        metadata={
            "description": "Why, for the block and the request's history (at most 200 characters)."
        },
    )


class LiftBlockSchema(Schema):
    reason = Text(
        required=True,
        validate=validate.Length(min=1, max=200),
        metadata={"description": "Why the phone may post again (at most 200 characters)."},
    )


class BlockSchema(Schema):
    """A block as just made or lifted (its phone is the request's: GET that for it)."""

    id = fields.Integer()
    request_id = fields.Integer(
        allow_none=True, metadata={"description": "The request it was blocked from."}
    )
    reason = fields.String()
    blocked_by = fields.String(metadata={"description": "The name of who blocked it."})
    created_at = fields.String()
    lifted_at = fields.String(allow_none=True)
    lifted_by = fields.String(allow_none=True)
    lift_reason = fields.String(allow_none=True)


class BlockedPhoneSchema(BlockSchema):
    """A block as the list shows it (dumped from connect.safety.blocking.block_item)."""

    phone = fields.String(
        metadata={
            "description": "E.164. Private: shown to coordinators of the request's area and "
            "admins, and logged as a contact reveal of the request."
        }
    )


class BlockedPhonesSchema(Schema):
    items = fields.List(fields.Nested(BlockedPhoneSchema))
    page = fields.Integer()
    per_page = fields.Integer()
    total = fields.Integer()
