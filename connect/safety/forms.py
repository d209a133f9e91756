"""The "Báo xấu" form: a reason, an optional comment, where to go back to."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import HiddenField, RadioField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from connect.requests.forms import SelectChoice
from connect.safety.models import REPORT_REASONS

MAX_COMMENT = 300

REASON_LABELS = {
    "joke": _l("A joke: not a real need"),
    "advertising": _l("Advertising"),
    "scam": _l("A scam, or asks for money"),
    "false": _l("False information"),
    "other": _l("Something else"),
}


def _strip(value):
    return value.strip() if isinstance(value, str) else value


class ReportForm(FlaskForm):
    reason_choices = [(name, REASON_LABELS[name]) for name in REPORT_REASONS]

    reason = RadioField(
        _l("What is wrong with this request?"),
        choices=[SelectChoice(name, label) for name, label in reason_choices],
        validators=[DataRequired(message=_l("Choose what is wrong."))],
    )
    comment = TextAreaField(
        _l("Anything else a coordinator should know? (if you want)"),
        filters=[_strip],
        validators=[
            Optional(),
            Length(
                max=MAX_COMMENT,
                message=_l("Please write less: at most %(most)s letters.", most=MAX_COMMENT),
            ),
        ],
        render_kw={"maxlength": MAX_COMMENT, "rows": 3},
    )
    next = HiddenField()
