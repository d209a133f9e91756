"""Coordinator review: the moderation queue, hiding, restoring, resolving flags.

Every action needs may_coordinate on the request (admins everywhere, coordinators in their
areas) and is recorded as a request event with who and why.
"""

from collections import defaultdict

from sqlalchemy import and_, case, func, or_, select, update

from connect import clock
from connect.accounts.models import STAFF_ROLES, User
from connect.areas.models import CoordinatorArea, RequestArea
from connect.areas.services import may_coordinate
from connect.clock import isoformat
from connect.errors import Conflict, Forbidden, NotFound
from connect.extensions import db
from connect.requests import services
from connect.requests.models import HelpRequest, RequestEvent
from connect.requests.queries import effective_status, get_request
from connect.requests.state import MODERATED
from connect.requests.timeouts import record_event
from connect.safety import reports
from connect.safety.models import Report, RequestFlag

# Only live requests need a decision: a cancelled or expired one asks for nothing any more.
MAX_COMMENTS = 5
_EVENT_REASON_LENGTH = 200
# How the reasons of the actions below begin (see _reason and connect.safety.blocking).
ACTION_PREFIXES = (
    "hidden",
    "kept hidden",
    "restored",
    "phone blocked",
    "flag %resolved",
    "block lifted",
)


class AlreadyResolved(Conflict):
    code, message = "already_resolved", "This flag is resolved already."


def require_moderator(user, request_id):
    """404 for an unknown request, 403 unless the user may coordinate it."""
    get_request(request_id)
    if not may_coordinate(user, request_id):
        raise Forbidden(
            "Only a coordinator of this request's area, or an admin, can do this.",
            code="not_coordinator",
        )


def _reason(prefix, reason):
    return f"{prefix}: {reason}"[:_EVENT_REASON_LENGTH] if reason else prefix


def hide(request_id, actor, reason):
    """Hide a request by hand, or keep an auto-hidden one hidden; its reports are upheld."""
    require_moderator(actor, request_id)
    help_request = reports.SUBJECTS["request"].lock(request_id)
    if help_request.status == "hidden":
        record_event(
            request_id, "hidden", "hidden", actor, actor.role, _reason("kept hidden", reason)
        )
    else:
        services.hide_request(request_id, actor, _reason("hidden", reason))
    reports.resolve_reports("request", request_id, actor, "upheld")
    db.session.flush()
    return _fresh(request_id)


def restore(request_id, actor, reason):
    """Open a hidden request again (fresh expiry); its reports are dismissed."""
    require_moderator(actor, request_id)
    services.restore_request(request_id, actor, _reason("restored", reason))
    reports.resolve_reports("request", request_id, actor, "dismissed")
    db.session.flush()
    return _fresh(request_id)


def resolve_flag(flag_id, actor, reason=None):
    """Mark a flag looked at; recorded on its request."""
    flag = visible_flag(flag_id, actor)
    now = clock.now()
    result = db.session.execute(
        update(RequestFlag)
        .where(RequestFlag.id == flag_id, RequestFlag.resolved_at.is_(None))
        .values(resolved_at=now, resolved_by_id=actor.id)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        raise AlreadyResolved()
    status = get_request(flag.request_id).status
    what = f"{flag.kind} of #{flag.related_request_id}" if flag.related_request_id else flag.kind
    record_event(
        flag.request_id,
        status,
        status,
        actor,
        actor.role,
        _reason(f"flag {flag_id} resolved ({what})", reason),
        at=now,
    )
    db.session.flush()
    db.session.refresh(flag)
    return flag


def visible_flag(flag_id, user):
    """The flag, if the user may resolve it; 403 whether it exists or not for anyone else."""
    flag = db.session.get(RequestFlag, flag_id)
    if flag is None or not may_coordinate(user, flag.request_id):
        # Flags are private: whoever may not resolve one cannot tell whether it exists.
        if flag is None and user is not None and user.role == "admin":
            raise NotFound("No flag with this id.")
        raise Forbidden(
            "Only a coordinator of the request's area, or an admin, can resolve this flag.",
            code="not_coordinator",
        )
    return flag


def _fresh(request_id):
    help_request = get_request(request_id)
    db.session.refresh(help_request)
    return help_request


# -- the queue ---------------------------------------------------------------------------


def queue(user, page=1, per_page=20):
    """(items, total): live requests in the caller's areas with unresolved reports or flags."""
    # Hidden ones pending review first, then the most reported, then the oldest.
    if user is None or user.role not in STAFF_ROLES:
        raise Forbidden(
            "Only coordinators and admins see the moderation queue.", code="not_coordinator"
        )
    r = HelpRequest
    open_reports = (
        select(
            Report.subject_id.label("request_id"),
            func.count(func.distinct(Report.reporter_id)).label("reporters"),
        )
        .where(Report.subject_type == "request", Report.resolved_at.is_(None))
        .group_by(Report.subject_id)
        .subquery()
    )
    reporters = func.coalesce(open_reports.c.reporters, 0)
    flagged = select(RequestFlag.request_id).where(RequestFlag.resolved_at.is_(None))
    condition = [
        r.status.in_(MODERATED),
        or_(open_reports.c.request_id.is_not(None), r.id.in_(flagged)),
    ]
    if user.role != "admin":
        condition.append(
            r.id.in_(
                select(RequestArea.request_id)
                .join(CoordinatorArea, CoordinatorArea.area_id == RequestArea.area_id)
                .where(CoordinatorArea.user_id == user.id)
            )
        )
    base = (
        select(r, reporters.label("reporters"))
        .outerjoin(open_reports, open_reports.c.request_id == r.id)
        .where(*condition)
    )
    total = db.session.execute(
        select(func.count()).select_from(base.with_only_columns(r.id).subquery())
    ).scalar_one()
    rows = db.session.execute(
        base.order_by(
            case((and_(r.status == "hidden", reporters > 0), 0), else_=1), reporters.desc(), r.id
        )
        .limit(per_page)
        .offset((page - 1) * per_page)
    ).all()
    ids = [help_request.id for help_request, _ in rows]
    by_reason, comments, flags = _report_details(ids), _comments(ids), _flags(ids)
    items = [
        {
            "request": {
                "id": help_request.id,
                "status": effective_status(help_request),
                "categories": help_request.categories,
                "description": help_request.description,
                "household_size": help_request.household_size,
                "urgency": help_request.urgency,
                "created_at": isoformat(help_request.created_at),
            },
            "pending_review": help_request.status == "hidden" and count > 0,
            "reports": {"reporters": count, "by_reason": by_reason.get(help_request.id, {})},
            "comments": comments.get(help_request.id, []),
            "flags": flags.get(help_request.id, []),
        }
        for help_request, count in rows
    ]
    return items, total


def _report_details(ids):
    counts = defaultdict(dict)
    for request_id, reason, count in db.session.execute(
        select(Report.subject_id, Report.reason, func.count(Report.id))
        .where(
            Report.subject_type == "request",
            Report.subject_id.in_(ids),
            Report.resolved_at.is_(None),
        )
        .group_by(Report.subject_id, Report.reason)
    ):
        counts[request_id][reason] = count
    return counts


def _comments(ids):
    """The newest few comments per request, without who wrote them."""
    found = defaultdict(list)
    for request_id, comment in db.session.execute(
        select(Report.subject_id, Report.comment)
        .where(
            Report.subject_type == "request",
            Report.subject_id.in_(ids),
            Report.resolved_at.is_(None),
            Report.comment.is_not(None),
        )
        .order_by(Report.created_at.desc(), Report.id.desc())
    ):
        if len(found[request_id]) < MAX_COMMENTS:
            found[request_id].append(comment)
    return found


def _flags(ids):
    found = defaultdict(list)
    for flag in db.session.execute(
        select(RequestFlag)
        .where(RequestFlag.request_id.in_(ids), RequestFlag.resolved_at.is_(None))
        .order_by(RequestFlag.id)
    ).scalars():
        found[flag.request_id].append(
            {
                "id": flag.id,
                "kind": flag.kind,
                "related_request_id": flag.related_request_id,
                "created_at": isoformat(flag.created_at),
            }
        )
    return found


def recent_actions(user, limit=50):
    """The latest moderation actions by coordinators and admins on requests in the caller's
    areas (all for admins): who, when, on which request, why."""
    if user is None or user.role not in STAFF_ROLES:
        raise Forbidden(
            "Only coordinators and admins see moderation actions.", code="not_coordinator"
        )
    e = RequestEvent
    condition = [
        e.actor_kind.in_(sorted(STAFF_ROLES)),
        or_(*(e.reason.like(f"{prefix}%") for prefix in ACTION_PREFIXES)),
    ]
    if user.role != "admin":
        condition.append(
            e.request_id.in_(
                select(RequestArea.request_id)
                .join(CoordinatorArea, CoordinatorArea.area_id == RequestArea.area_id)
                .where(CoordinatorArea.user_id == user.id)
            )
        )
    rows = db.session.execute(
        select(e, User.name)
        .join(User, User.id == e.actor_id)
        .where(*condition)
        .order_by(e.created_at.desc(), e.id.desc())
        .limit(limit)
    ).all()
    return [
        {
            "request_id": event.request_id,
            "actor": name,
            "actor_kind": event.actor_kind,
            "reason": event.reason,
            "from_status": event.from_status,
            "to_status": event.to_status,
            "created_at": event.created_at,
        }
        for event, name in rows
    ]
