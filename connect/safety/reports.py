"""“Báo xấu”: reports by accounts, counted once each, hiding a subject after enough of them.

Generic over the subject type: a subject kind says how to lock one, whose it is, whether it
can still be reported and how it is hidden: requests and offers.
"""

from collections import namedtuple

from flask import current_app
from sqlalchemy import exists, func, select, update
from sqlalchemy.exc import IntegrityError

from connect import clock
from connect.errors import Conflict, Forbidden, NotFound, ValidationFailed
from connect.extensions import db
from connect.requests.models import Assist, HelpRequest
from connect.requests.queries import is_requester
from connect.requests.services import hide_request
from connect.requests.state import ACTIVE, MODERATED
from connect.requests.timeouts import apply_timeouts
from connect.safety.models import REPORT_REASONS, REPORT_SUBJECTS, Report

# Reports still count while a request is live, and while it is hidden pending review.

Subject = namedtuple("Subject", "lock is_owner check_open hide")


class AlreadyReported(Conflict):
    code = "already_reported"
    message = "You have already reported this. Each account is counted once."


def hide_threshold():
    return current_app.config["REPORT_HIDE_THRESHOLD"]


# -- requests as subjects ---------------------------------------------------------------


def _lock_request(request_id):
    """The request with its timeouts applied, row-locked until commit."""
    # The lock makes reports made at the same moment count one after the other.
    if db.session.get(HelpRequest, request_id) is None:
        raise NotFound("No help request with this id.")
    apply_timeouts(request_id)
    return db.session.execute(
        select(HelpRequest)
        .where(HelpRequest.id == request_id)
        .with_for_update(key_share=True)
        .execution_options(populate_existing=True)
    ).scalar_one()


def _check_request_open(help_request):
    if help_request.status not in MODERATED:
        raise Conflict(
            f"This request is {help_request.status}; it can no longer be reported.",
            code="request_closed",
            details={"status": help_request.status},
        )


def _hide_request(help_request, reporters):
    if help_request.status in ACTIVE:
        hide_request(help_request.id, None, f"hidden after {reporters} reports")


# What can be reported, and how: offers (a package above this one) add theirs at start-up.
SUBJECTS = {
    "request": Subject(
        lock=_lock_request,
        is_owner=lambda subject, user: is_requester(subject, user),
        check_open=_check_request_open,
        hide=_hide_request,
    ),
}


def add_subject(subject_type, subject):
    """Take reports on another kind of thing (``Subject``: lock, is_owner, check_open, hide)."""
    SUBJECTS[subject_type] = subject


# -- reporting -------------------------------------------------------------------------


def report(subject_type, subject_id, reporter, reason, comment=None):
    """Record one account's report; hide the subject once enough accounts reported it."""
    if subject_type not in SUBJECTS or subject_type not in REPORT_SUBJECTS:
        raise ValidationFailed(
            f"Reports on {subject_type} are not taken yet.",
            details={"subject_type": list(SUBJECTS)},
        )
    if reason not in REPORT_REASONS:
        raise ValidationFailed("Choose a reason.", details={"reason": list(REPORT_REASONS)})
    kind = SUBJECTS[subject_type]
    subject = kind.lock(subject_id)
    if kind.is_owner(subject, reporter):
        raise Forbidden(
            "You cannot report your own request. To change or withdraw it, use its manage link."
            if subject_type == "request"
            else f"You cannot report your own {subject_type}.",
            code="own_subject",
        )
    kind.check_open(subject)
    if _reported_by(subject_type, subject_id, reporter.id):
        raise AlreadyReported()
    row = Report(
        subject_type=subject_type,
        subject_id=subject_id,
        reporter_id=reporter.id,
        reason=reason,
        comment=comment or None,
        created_at=clock.now(),
    )
    try:
        with db.session.begin_nested():
            db.session.add(row)
    except IntegrityError:
        # The unique (subject, reporter) constraint: the same account at the same moment.
        raise AlreadyReported() from None
    reporters = open_reporters(subject_type, subject_id)
    if reporters >= hide_threshold():
        kind.hide(subject, reporters)
    db.session.flush()
    return row


def _reported_by(subject_type, subject_id, reporter_id):
    return db.session.execute(
        select(
            exists().where(
                Report.subject_type == subject_type,
                Report.subject_id == subject_id,
                Report.reporter_id == reporter_id,
            )
        )
    ).scalar()


def open_reporters(subject_type, subject_id):
    """How many distinct accounts have unresolved reports on the subject."""
    return db.session.execute(
        select(func.count(func.distinct(Report.reporter_id))).where(
            Report.subject_type == subject_type,
            Report.subject_id == subject_id,
            Report.resolved_at.is_(None),
        )
    ).scalar_one()


def resolve_reports(subject_type, subject_id, actor, resolution):
    """Close every unresolved report on the subject as upheld or dismissed; returns how many."""
    result = db.session.execute(
        update(Report)
        .where(
            Report.subject_type == subject_type,
            Report.subject_id == subject_id,
            Report.resolved_at.is_(None),
        )
        .values(resolved_at=clock.now(), resolved_by_id=actor.id, resolution=resolution)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount


def review_hold(_model):
    """A hidden request with unresolved reports waits for a coordinator (a review_hold receiver)."""
    return exists().where(
        Report.subject_type == "request",
        Report.subject_id == HelpRequest.id,
        Report.resolved_at.is_(None),
    )


def withdrawn_from(request_id, volunteer_id):
    """Whether this volunteer's claim on the request was ended by hiding it."""
    return db.session.execute(
        select(
            exists().where(
                Assist.request_id == request_id,
                Assist.volunteer_id == volunteer_id,
                Assist.outcome == "hidden",
            )
        )
    ).scalar()
