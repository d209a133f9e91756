"""The console's moderation page: the queue, blocked phones, and what was done, by whom, why."""

from datetime import datetime

from flask import flash, redirect, render_template, request, url_for
from flask_babel import format_datetime
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from connect.accounts.views import safe_next
from connect.coordination.console import bp, console_page
from connect.coordination.map.views import STATUS_LABELS
from connect.coordination.moderation.forms import BlockReasonForm, ModerationActionForm
from connect.errors import Forbidden, NotFound
from connect.requests.categories import LABELS as CATEGORY_LABELS
from connect.requests.errors import InvalidTransition, RequestPurged
from connect.requests.forms import local_phone
from connect.requests.phones import DuplicateRequest
from connect.safety import blocking, moderation
from connect.safety.models import REPORT_REASONS
from connect.web.boundary import when_refused
from connect.web.pages import message_page

REQUEST_ID = "<int(max=2147483647):request_id>"
PER_PAGE = 20
MAX_PAGE = 100_000
REASON_WORDS = {
    "joke": _l("joke"),
    "advertising": _l("advertising"),
    "scam": _l("scam"),
    "false": _l("false information"),
    "other": _l("other"),
}
FLAG_WORDS = {
    "possible_duplicate": _l("Possible duplicate"),
    "disputed": _l("Not helped, says the requester"),
}
# A refused action's conflict, in words.
CONFLICT_WORDS = {
    blocking.AlreadyBlocked: _l("This phone number is blocked already."),
    blocking.AlreadyLifted: _l("This block was lifted already."),
    moderation.AlreadyResolved: _l("This flag was resolved already."),
    DuplicateRequest: _l(
        "This phone number has another open request now, so this one cannot be listed again."
    ),
    RequestPurged: _l("This request's personal data was purged, so nothing was done."),
    InvalidTransition: _l(
        "This request changed meanwhile (it is %(status)s now), so nothing was done."
    ),
}


@bp.get("/moderation", endpoint="moderation")
@console_page
def moderation_page(user):
    """The queue, the blocked phones and the latest actions in the caller's areas."""
    page = _page_arg("page")
    blocks_page = _page_arg("blocks_page")
    items, total = moderation.queue(user, page, PER_PAGE)
    blocked = blocking.blocked_request_ids([item["request"]["id"] for item in items])
    blocks, blocks_total = blocking.blocks(user, blocks_page, PER_PAGE)
    # The phone numbers shown are contact details of the requests they were blocked from.
    blocking.log_shown(blocks, user, "page")
    here = request.full_path.rstrip("?")
    return render_template(
        "console/moderation.html",
        title=_("Moderation"),
        here=here,
        items=[_queue_item(item, item["request"]["id"] in blocked) for item in items],
        total=total,
        page=page,
        pages=_pages(total),
        blocks=[_block(block) for block in blocks],
        blocks_total=blocks_total,
        blocks_page=blocks_page,
        blocks_pages=_pages(blocks_total),
        actions=[_action(action) for action in moderation.recent_actions(user)],
    )


def _not_done(error, _user, **_view_args):
    """A refused moderation action: not yours (or gone) in a page, a conflict in a message."""
    if isinstance(error, (NotFound, Forbidden)):
        return _refused(error)
    flash(_conflict_words(error), "error")
    return redirect(_back(request.form.get("next")))


@bp.post(f"/requests/{REQUEST_ID}/hide")
@console_page
@when_refused(_not_done)
def hide_request(user, request_id):
    """Hide a request, or keep an auto-hidden one hidden."""
    return _act(
        lambda: moderation.require_moderator(user, request_id),
        lambda reason: moderation.hide(request_id, user, reason),
        ModerationActionForm,
        _("Request #%(id)s is hidden.", id=request_id),
    )


@bp.post(f"/requests/{REQUEST_ID}/restore")
@console_page
@when_refused(_not_done)
def restore_request(user, request_id):
    """Show a hidden request again."""
    return _act(
        lambda: moderation.require_moderator(user, request_id),
        lambda reason: moderation.restore(request_id, user, reason),
        ModerationActionForm,
        _("Request #%(id)s is listed again.", id=request_id),
    )


@bp.post(f"/requests/{REQUEST_ID}/block-phone")
@console_page
@when_refused(_not_done)
def block_phone(user, request_id):
    """Block the request's phone number (and hide the request)."""
    return _act(
        lambda: moderation.require_moderator(user, request_id),
        lambda reason: blocking.block_phone(request_id, user, reason),
        BlockReasonForm,
        _(
            "The phone number of request #%(id)s is blocked: it cannot post requests now.",
            id=request_id,
        ),
    )


@bp.post("/flags/<int(max=2147483647):flag_id>/resolve")
@console_page
@when_refused(_not_done)
def resolve_flag(user, flag_id):
    """Mark a flag looked at."""
    return _act(
        lambda: moderation.visible_flag(flag_id, user),
        lambda reason: moderation.resolve_flag(flag_id, user, reason),
        ModerationActionForm,
        _("The flag is resolved."),
    )


@bp.post("/blocked-phones/<int(max=2147483647):block_id>/lift", endpoint="lift_block")
@console_page
@when_refused(_not_done)
def lift_block(user, block_id):
    """Let a blocked phone post again."""
    return _act(
        lambda: blocking.visible_block(block_id, user),
        lambda reason: blocking.lift_block(block_id, user, reason),
        BlockReasonForm,
        _("The block is lifted: this phone can post requests again."),
    )


# -- helpers ---------------------------------------------------------------------------


def _act(authorize, action, form_class, done):
    """Authorize first (refusals change nothing and say nothing more), then ask why, then act;
    back to where the form was, with what happened (refusals: ``_not_done``)."""
    authorize()
    form = form_class()
    back = _back(form.next.data)
    if not form.validate_on_submit():
        flash(
            next(iter(form.reason.errors), None)
            or _("This form could not be sent. Reload the page and try again."),
            "error",
        )
        return redirect(back)
    action(form.reason.data)
    flash(done, "success")
    return redirect(back)


def _refused(error):
    if error.status == 404:
        title, message = _("Not found"), _("We could not find this. It may have been removed.")
    else:
        title, message = (
            _("Not in your areas"),
            _("Only a coordinator of its area, or an admin, can do this."),
        )
    return message_page(
        title, message, url_for("console.moderation"), _("Back to moderation"), error.status
    )


def _conflict_words(error):
    words = next(
        (words for kind, words in CONFLICT_WORDS.items() if isinstance(error, kind)), None
    )
    if words is None:
        return _("That could not be done. Reload the page and try again.")
    status = (error.details or {}).get("status", "")
    return str(words) % {"status": STATUS_LABELS.get(status, status)}


def _back(target):
    """Where the form asked to go back to, if it is a console page; else this page."""
    target = safe_next(target)
    if target and (
        target == "/console" or target.startswith("/console/") or target.startswith("/console?")
    ):
        return target
    return url_for("console.moderation")


def _page_arg(name):
    return min(max(request.args.get(name, 1, type=int) or 1, 1), MAX_PAGE)


def _pages(total):
    return max(1, -(-total // PER_PAGE))


def _when(value):
    if isinstance(value, str):
        value = datetime.fromisoformat(value.rstrip("Z"))
    return format_datetime(value, "short") if value else ""


def _queue_item(item, phone_blocked):
    need = item["request"]
    by_reason = item["reports"]["by_reason"]
    return {
        **item,
        "phone_blocked": phone_blocked,
        "status_label": STATUS_LABELS.get(need["status"], need["status"]),
        "category_labels": [CATEGORY_LABELS.get(name, name) for name in need["categories"]],
        "posted": _when(need["created_at"]),
        "reasons": [
            (REASON_WORDS[name], by_reason[name]) for name in REPORT_REASONS if by_reason.get(name)
        ],
        "flags": [
            {
                **flag,
                "label": FLAG_WORDS.get(flag["kind"], flag["kind"]),
                "when": _when(flag["created_at"]),
            }
            for flag in item["flags"]
        ],
    }


def _block(block):
    return {
        **block,
        "phone_display": local_phone(block["phone"]),
        "when": _when(block["created_at"]),
        "lifted_when": _when(block["lifted_at"]),
    }


def _action(action):
    return {**action, "when": _when(action["created_at"])}
