"""The console's moderation forms: each action asks why, and where to go back to."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import HiddenField, StringField
from wtforms.validators import DataRequired, Length

# The API's limits: hide, restore and flag notes 150 characters, blocks 200.
MAX_REASON = 150
MAX_BLOCK_REASON = 200


def _strip(value):
    return value.strip() if isinstance(value, str) else value


def _reason_field(most):
    return StringField(
        _l("Why"),
        filters=[_strip],
        validators=[
            DataRequired(message=_l("Write why: it is kept in the request's history.")),
            Length(
                max=most, message=_l("Please write less: at most %(most)s letters.", most=most)
            ),
        ],
    )


class ModerationActionForm(FlaskForm):
    """Hide, restore, resolve a flag."""

    reason = _reason_field(MAX_REASON)
    next = HiddenField()


class BlockReasonForm(FlaskForm):
    """Block a phone, lift a block."""

    reason = _reason_field(MAX_BLOCK_REASON)
    next = HiddenField()
