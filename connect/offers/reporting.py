"""Offers can be reported ("Báo xấu") like requests: how safety locks, checks and hides one."""

from connect.errors import Conflict
from connect.offers.models import REPORTABLE
from connect.offers.queries import effective_status
from connect.offers.services import hide_offer, lock_offer
from connect.safety import reports


def _check_open(offer):
    status = effective_status(offer)
    if status not in REPORTABLE:
        raise Conflict(
            f"This offer is {status}; it can no longer be reported.",
            code="offer_closed",
            details={"status": status},
        )


def _hide(offer, _reporters):
    hide_offer(offer.id)


def init_app(app):
    """Take reports on offers (create_app calls this in every process)."""
    reports.add_subject(
        "offer",
        reports.Subject(
            lock=lock_offer,
            is_owner=lambda subject, user: subject.user_id == user.id,
            check_open=_check_open,
            hide=_hide,
        ),
    )
