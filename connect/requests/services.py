"""Help request rules: posting, the claim lifecycle, moderation transitions (timeouts.py
persists lapsed leases and expiry, editing.py the requester's edits, phones.py the phone rules).

Each change is announced on connect.requests.signals for the packages that react to it."""

from datetime import timedelta

from flask import current_app, has_request_context
from flask_babel import get_locale
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from connect import clock
from connect.accounts.models import hash_secret, new_secret
from connect.accounts.services import require_profile
from connect.areas.services import may_coordinate, place_request
from connect.errors import ClaimConflict, Forbidden, NotFound
from connect.extensions import db
from connect.requests import phones, signals
from connect.requests.blurring import public_point
from connect.requests.categories import CATEGORIES
from connect.requests.errors import (
    CapacityReached,
    InvalidTransition,
    NewVolunteerLimit,
    RequestPurged,
)
from connect.requests.models import PROVEN_OUTCOMES, Assist, HelpRequest
from connect.requests.queries import active_claims, get_request, is_requester
from connect.requests.state import ACTIVE, CONFIRMABLE, expiry_period
from connect.requests.timeouts import active_assist, apply_timeouts, record_event, stamp
from connect.spatial import point


def _lease():
    return timedelta(seconds=current_app.config["CLAIM_LEASE_SECONDS"])


def post_request(data, requester=None, source="api", manage_tokens=(), push=True, entered_by=None):
    """Create an open request; returns it and the manage token (shown once, stored hashed)."""
    # ``entered_by``: the coordinator or admin posting it for a caller (hotline intake); the
    # posting event then names them as the actor.
    # ``push`` False: the caller gives it to someone at once (asking an offer), so no
    # volunteer is to be told of it.
    # One open or claimed request per phone (DuplicateRequest); ``manage_tokens`` are the
    # caller's proofs of owning requests, so only an owner is told which one it is.
    phones.check_phone_allowed(data["phone"])
    phones.check_phone_free(data["phone"], requester or entered_by, manage_tokens)
    now = clock.now()
    token = new_secret()
    token_hash = hash_secret(token)
    lat, lon = data["location"]["lat"], data["location"]["lon"]
    precision = data.get("location_precision", "exact")
    # A commune's point is nobody's home: shown as it is, never blurred onto a stranger's.
    blurred = (lat, lon) if precision == "area" else public_point(lat, lon, data["phone"])
    help_request = HelpRequest(
        # Stored once each, in the fixed order lists show them in.
        categories=[name for name in CATEGORIES if name in data["categories"]],
        description=data["description"],
        household_size=data["household_size"],
        urgency=data.get("urgency", "normal"),
        location=point(lat, lon),
        public_location=point(*blurred),
        address=data.get("address") or None,
        contact_name=data["contact_name"],
        phone=data["phone"],
        status="open",
        source=source,
        locale=data.get("language") or _language(),
        sms_updates=data.get("sms_updates", True),
        location_precision=precision,
        requester_id=requester.id if requester else None,
        entered_by_id=entered_by.id if entered_by else None,
        manage_token_hash=token_hash,
        created_at=now,
        updated_at=now,
        last_activity_at=now,
        expires_at=now + expiry_period(),
        change_seq=stamp(),
    )
    try:
        with db.session.begin_nested():
            db.session.add(help_request)
    except IntegrityError as exc:
        # A post with the same phone committed after the check above: the partial unique
        # index refused this one.
        if not phones.is_active_phone_clash(exc):
            raise
        phones.raise_phone_clash(data["phone"], requester or entered_by, manage_tokens)
    place_request(help_request.id, lat, lon)
    record_event(
        help_request.id,
        None,
        "open",
        entered_by or requester,
        entered_by.role if entered_by else "requester",
        "posted",
        at=now,
    )
    db.session.flush()
    signals.posted.send(help_request, now=now, push=push, lat=lat, lon=lon)
    return help_request, token


def _language():
    """The page's language for a post made in a request; the default for the CLI (the demo)."""
    if has_request_context():
        return str(get_locale())
    return current_app.config["BABEL_DEFAULT_LOCALE"]


def claim_request(request_id, volunteer, assigned_by=None):
    """Give the request to this volunteer, if it is still open: exactly one claim wins."""
    # ``assigned_by``: the coordinator or admin giving it to them (batch assignment); the
    # event then names them as the actor, while the assist is the volunteer's.
    get_request(request_id)  # 404 for an unknown id before any other answer
    profile = require_profile(volunteer, for_update=True)
    now = clock.now()
    apply_timeouts(request_id, now)
    # Trust is earned: until one of their claims ends helped or confirmed, a volunteer holds
    # at most one claim, whatever capacity they asked for.
    proven = db.session.execute(
        select(Assist.id)
        .where(Assist.volunteer_id == volunteer.id, Assist.outcome.in_(PROVEN_OUTCOMES))
        .limit(1)
    ).first()
    capacity = profile.capacity if proven else min(profile.capacity, 1)
    # A request that is no longer open answers claim_conflict whoever asks (so a second tap
    # by its claimant is told apart), hence the limit is only raised for an open one.
    if (
        active_claims(volunteer.id) >= capacity
        and db.session.execute(
            select(HelpRequest.id).where(
                HelpRequest.id == request_id,
                HelpRequest.status == "open",
                HelpRequest.expires_at > now,
            )
        ).first()
    ):
        if capacity < profile.capacity:
            raise NewVolunteerLimit(details={"capacity": capacity})
        raise CapacityReached(details={"capacity": profile.capacity})
    lease_end = now + _lease()
    result = db.session.execute(
        update(HelpRequest)
        .where(
            HelpRequest.id == request_id,
            HelpRequest.status == "open",
            HelpRequest.expires_at > now,
        )
        .values(
            status="claimed",
            claimed_by_id=volunteer.id,
            lease_expires_at=lease_end,
            last_activity_at=now,
            updated_at=now,
            change_seq=stamp(),
        )
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        raise ClaimConflict()
    assist = Assist(
        request_id=request_id,
        volunteer_id=volunteer.id,
        claimed_at=now,
        lease_expires_at=lease_end,
    )
    db.session.add(assist)
    db.session.flush()
    if assigned_by is None:
        record_event(
            request_id,
            "open",
            "claimed",
            volunteer,
            "volunteer",
            "claimed",
            assist_id=assist.id,
            at=now,
        )
    else:
        record_event(
            request_id,
            "open",
            "claimed",
            assigned_by,
            assigned_by.role,
            "assigned by coordinator",
            assist_id=assist.id,
            at=now,
        )
    db.session.flush()
    return _announced(signals.claimed, reloaded(request_id), volunteer_id=volunteer.id)


def claim_for_offer(request_id, offerer_id, offer_id, asked_by=None):
    """Give an open request, just posted by asking an offer, to the offer's owner: a claim
    with a lease like any other, without capacity limits (connect.offers.services.ask_offer)."""
    now = clock.now()
    lease_end = now + _lease()
    result = db.session.execute(
        update(HelpRequest)
        .where(HelpRequest.id == request_id, HelpRequest.status == "open")
        .values(
            status="claimed",
            claimed_by_id=offerer_id,
            lease_expires_at=lease_end,
            offer_id=offer_id,
            last_activity_at=now,
            updated_at=now,
            change_seq=stamp(),
        )
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        raise ClaimConflict()
    assist = Assist(
        request_id=request_id, volunteer_id=offerer_id, claimed_at=now, lease_expires_at=lease_end
    )
    db.session.add(assist)
    db.session.flush()
    # The requester acted (they asked); the assist names the offerer who now holds it.
    record_event(
        request_id,
        "open",
        "claimed",
        asked_by,
        "requester",
        f"asked offer {offer_id}",
        assist_id=assist.id,
        at=now,
    )
    db.session.flush()
    return _announced(signals.claimed, reloaded(request_id), volunteer_id=offerer_id)


def reloaded(request_id):
    """The request as stored now (after a conditional UPDATE bypassed the session)."""
    help_request = get_request(request_id)
    db.session.refresh(help_request)
    return help_request


def _locked(request_id):
    """The request, re-read and row-locked until commit (PostgreSQL; SQLite writers are
    serialised already), so the status a transition starts from cannot change under it."""
    help_request = db.session.execute(
        # FOR NO KEY UPDATE: transitions still queue behind each other, while rows that only
        # reference the request (events, flags, reveals) can be written meanwhile.
        select(HelpRequest)
        .where(HelpRequest.id == request_id)
        .with_for_update(key_share=True)
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()
    if help_request is None:
        raise NotFound("No help request with this id.")
    return help_request


def _transition(
    help_request,
    allowed,
    to_status,
    actor,
    actor_kind,
    reason=None,
    assist_outcome=None,
    values=None,
    where=(),
):
    """Move a locked request to ``to_status`` with one conditional UPDATE, close its active
    assist with ``assist_outcome`` and record the event."""
    now = clock.now()
    from_status = help_request.status
    result = db.session.execute(
        update(HelpRequest)
        .where(HelpRequest.id == help_request.id, HelpRequest.status.in_(allowed), *where)
        .values(
            status=to_status,
            updated_at=now,
            last_activity_at=now,
            change_seq=stamp(),
            **(values or {}),
        )
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        raise InvalidTransition(
            f"This request is {from_status}; it cannot become {to_status}.",
            details={"status": from_status},
        )
    assist = None
    if assist_outcome:
        assist = active_assist(help_request.id) or _helped_assist(help_request.id)
        if assist is not None:
            assist.outcome = assist_outcome
            if assist_outcome == "helped":
                assist.helped_at = now
            else:
                assist.closed_at = now
            if assist_outcome == "confirmed":
                assist.confirmed_at = now
                assist.helped_at = assist.helped_at or now
    record_event(
        help_request.id,
        from_status,
        to_status,
        actor,
        actor_kind,
        reason,
        assist_id=assist.id if assist else None,
        at=now,
    )
    db.session.flush()
    return reloaded(help_request.id)


def _helped_assist(request_id):
    return db.session.execute(
        select(Assist)
        .where(Assist.request_id == request_id, Assist.outcome == "helped")
        .order_by(Assist.id.desc())
        .limit(1)
    ).scalar_one_or_none()


def prepared(request_id):
    """Apply lapsed leases and expiry first, then lock the request for a transition."""
    apply_timeouts(request_id)
    return _locked(request_id)


def release_request(request_id, user):
    """The claimant (or a coordinator) gives the request back to the open list."""
    help_request = prepared(request_id)
    if help_request.status != "claimed":
        raise InvalidTransition(
            f"This request is {help_request.status}; only a claimed request can be released.",
            details={"status": help_request.status},
        )
    if not (help_request.claimed_by_id == user.id or may_coordinate(user, request_id)):
        raise Forbidden(
            "Only the volunteer holding the claim can release it.", code="not_claimant"
        )
    claimant = help_request.claimed_by_id
    released = _transition(
        help_request,
        ("claimed",),
        "open",
        user,
        _kind(user),
        "released",
        assist_outcome="released",
        values=dict(
            claimed_by_id=None, lease_expires_at=None, expires_at=clock.now() + expiry_period()
        ),
    )
    return _announced(signals.released, released, claimant_id=claimant)


def mark_helped(request_id, user):
    """The claimant says the need was met; the requester can then confirm."""
    help_request = prepared(request_id)
    if help_request.claimed_by_id != user.id or help_request.status != "claimed":
        raise Forbidden(
            "Only the volunteer holding the claim can mark it helped.", code="not_claimant"
        )
    return _announced(
        signals.helped,
        _transition(
            help_request,
            ("claimed",),
            "helped",
            user,
            "volunteer",
            "marked helped by the volunteer",
            assist_outcome="helped",
            values=dict(lease_expires_at=None, closed_at=clock.now()),
            where=(HelpRequest.claimed_by_id == user.id,),
        ),
    )


def confirm_helped(request_id, user, manage_token):
    """The requester confirms they were helped; the assist is then counted as confirmed."""
    if not is_requester(get_request(request_id), user, manage_token):
        raise Forbidden("Only the person who posted the request can confirm it.")
    return _confirmed(prepared(request_id), user, "confirmed by the requester")


def confirm_by_phone(request_id, phone):
    """The requester answered "1" (yes, helped) by SMS from the request's own phone."""
    help_request = prepared(request_id)
    _check_phone(help_request, phone)
    return _confirmed(help_request, None, "confirmed by the requester by SMS")


def _confirmed(help_request, user, reason):
    """The requester's confirmation, however it came: the assist counts as confirmed."""
    return _announced(
        signals.confirmed,
        _transition(
            help_request,
            CONFIRMABLE,
            "confirmed",
            user,
            "requester",
            reason,
            assist_outcome="confirmed",
            values=dict(lease_expires_at=None, closed_at=clock.now()),
        ),
    )


def dispute_helped(request_id, phone):
    """The requester answered "2" (not helped) by SMS: the request opens again, with a fresh
    expiry, and coordinators are told (a helper who marks people helped without helping)."""
    help_request = prepared(request_id)
    _check_phone(help_request, phone)
    now, claimant = clock.now(), help_request.claimed_by_id
    disputed = _transition(
        help_request,
        ("helped",),
        "open",
        None,
        "requester",
        "the requester says they were not helped",
        assist_outcome="disputed",
        values=dict(
            claimed_by_id=None,
            lease_expires_at=None,
            closed_at=None,
            expires_at=now + expiry_period(),
        ),
    )
    return _announced(signals.disputed, disputed, now=now, claimant_id=claimant)


def cancel_by_phone(request_id, phone):
    """The requester answered "2" (no longer needed) to the check-in before expiry."""
    help_request = prepared(request_id)
    _check_phone(help_request, phone)
    return _announced(
        signals.cancelled,
        _transition(
            help_request,
            ACTIVE,
            "cancelled",
            None,
            "requester",
            "cancelled by the requester by SMS",
            assist_outcome="cancelled" if help_request.status == "claimed" else None,
            values=dict(claimed_by_id=None, lease_expires_at=None, closed_at=clock.now()),
        ),
    )


def keep_open_by_phone(request_id, phone):
    """The requester answered "1" (still need help) to the check-in before expiry: it stays
    open for another expiry period."""
    help_request = prepared(request_id)
    _check_phone(help_request, phone)
    if help_request.status not in ACTIVE:
        raise InvalidTransition(
            f"This request is {help_request.status}; it cannot be kept open.",
            details={"status": help_request.status},
        )
    now = clock.now()
    db.session.execute(
        update(HelpRequest)
        .where(HelpRequest.id == help_request.id)
        .values(expires_at=now + expiry_period(), last_activity_at=now, change_seq=stamp())
        .execution_options(synchronize_session=False)
    )
    record_event(
        help_request.id,
        help_request.status,
        help_request.status,
        None,
        "requester",
        "kept open by the requester by SMS",
        at=now,
    )
    db.session.flush()
    return reloaded(help_request.id)


def _check_phone(help_request, phone):
    if help_request.phone != phone:
        raise Forbidden("Only the phone the request was posted with can answer for it.")


def cancel_request(request_id, user, manage_token, reason=None):
    """The requester or a coordinator withdraws an open or claimed request."""
    staff = may_coordinate(user, request_id)
    if not (staff or is_requester(get_request(request_id), user, manage_token)):
        raise Forbidden("Only the person who posted the request or a coordinator can cancel it.")
    help_request = prepared(request_id)
    return _announced(
        signals.cancelled,
        _transition(
            help_request,
            ACTIVE,
            "cancelled",
            user,
            user.role if staff else "requester",
            reason or "cancelled",
            assist_outcome="cancelled" if help_request.status == "claimed" else None,
            values=dict(claimed_by_id=None, lease_expires_at=None, closed_at=clock.now()),
        ),
    )


def hide_request(request_id, actor, reason):
    """Moderation: take an open or claimed request out of every list; a held claim ends
    'hidden'. ``actor`` None is the system (auto-hide after reports)."""
    help_request = prepared(request_id)
    return _announced(
        signals.hidden,
        _transition(
            help_request,
            ACTIVE,
            "hidden",
            actor,
            _kind(actor) if actor is not None else "system",
            reason,
            assist_outcome="hidden" if help_request.status == "claimed" else None,
            values=dict(claimed_by_id=None, lease_expires_at=None, closed_at=clock.now()),
        ),
    )


def restore_request(request_id, actor, reason):
    """Moderation: a hidden request is open again, listed for a full expiry period."""
    help_request = prepared(request_id)
    if help_request.purged_at is not None:
        raise RequestPurged("This request's personal data was purged; it cannot be listed again.")
    if help_request.status == "hidden":
        # The phone may have posted again meanwhile: one active request per phone still holds.
        phones.check_phone_free(help_request.phone, actor, exclude_id=request_id)
    now, phone = clock.now(), help_request.phone
    try:
        with db.session.begin_nested():
            restored = _transition(
                help_request,
                ("hidden",),
                "open",
                actor,
                _kind(actor),
                reason,
                values=dict(
                    closed_at=None,
                    claimed_by_id=None,
                    lease_expires_at=None,
                    expires_at=now + expiry_period(),
                ),
            )
    except IntegrityError as exc:
        if not phones.is_active_phone_clash(exc):
            raise
        phones.raise_phone_clash(phone, actor, exclude_id=request_id)
    return _announced(signals.restored, restored, now=now)


def _announced(signal, help_request, **details):
    """Tell the packages that react (connect.requests.signals); returns the request."""
    signal.send(help_request, **details)
    return help_request


def _kind(user):
    return user.role if user.is_staff else "volunteer"
