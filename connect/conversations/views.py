"""The code pages: "Quên mật khẩu?", a lost manage link again, a requester's phone verified.

Each asks for a phone (or takes the request's), texts a code, and takes the code back on a
second page. The phone typed on the first page is kept in the session for the second one.
"""

from flask import (
    Blueprint,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import get_locale
from flask_babel import gettext as _

from connect.accounts.auth import log_in
from connect.accounts.views import start_page
from connect.conversations import codes
from connect.conversations.forms import CodeForm, PasswordResetForm, PhoneForm, VerifyForm
from connect.requests import queries, sms_links
from connect.requests.forms import local_phone
from connect.requests.state import ACTIVE
from connect.requests.views import by_manage_link, keep_private, not_found, remember_token
from connect.sms.codes import InvalidCode
from connect.web import ratelimits
from connect.web.pages import answer_expired_forms, message_page

bp = Blueprint("codes", __name__)
bp.register_error_handler(404, not_found)
answer_expired_forms(
    bp,
    back="home.index",
    again=(
        "codes.password_reset",
        "codes.password_reset_code",
        "codes.resend",
        "codes.resend_code",
    ),
)
PHONE_KEY = "code_phone"


def _locale():
    return str(get_locale() or current_app.config["BABEL_DEFAULT_LOCALE"])


def _minutes():
    return current_app.config["SMS_CODE_MINUTES"]


def _phone_page(template, ask, said, then):
    """The first page: the phone typed gets a code if ``ask`` finds it may, and is kept for
    the page ``then``; ``said`` is the same whatever the number."""
    form = PhoneForm()
    if form.validate_on_submit():
        session[PHONE_KEY] = form.phone.normalised
        ask(form.phone.normalised, _locale())
        flash(said, "success")
        return redirect(url_for(then))
    return _page(template, form)


def _code_form(form_class):
    form = form_class()
    if request.method == "GET" and session.get(PHONE_KEY):
        form.phone.data = local_phone(session[PHONE_KEY])
    return form


def _wrong_code(form):
    form.code.errors = [
        *form.code.errors,
        _(
            "This code is not right, or it no longer works: a code works once, for "
            "%(minutes)s minutes. Check the digits, or ask for a new code.",
            minutes=_minutes(),
        ),
    ]


def _page(template, form, **context):
    status = 422 if request.method == "POST" else 200
    return render_template(template, form=form, minutes=_minutes(), **context), status


# -- "Quên mật khẩu?": a code to the account's phone, then a new password -------------------


@bp.route("/password-reset", methods=["GET", "POST"])
@ratelimits.codes_per_ip
@ratelimits.codes_per_phone
def password_reset():
    said = _(
        "If this number has an account, we have sent it a code by text message. "
        "It works for %(minutes)s minutes.",
        minutes=_minutes(),
    )
    return _phone_page(
        "account/password_reset.html", codes.ask_password_reset, said, ".password_reset_code"
    )


@bp.route("/password-reset/code", methods=["GET", "POST"])
@ratelimits.code_tries_per_phone
def password_reset_code():
    form = _code_form(PasswordResetForm)
    if form.validate_on_submit():
        try:
            user = codes.reset_password(form.phone.normalised, form.code.data, form.password.data)
        except InvalidCode:
            _wrong_code(form)
        else:
            session.pop(PHONE_KEY, None)
            log_in(user)
            flash(_("Your password is changed. You are logged in."), "success")
            return redirect(start_page(user))
    return _page("account/password_reset_code.html", form)


# -- "Mất đường link?": a code to the request's phone, then a new manage link ----------------


@bp.route("/m/resend", methods=["GET", "POST"])
@ratelimits.codes_per_ip
@ratelimits.codes_per_phone
def resend():
    said = _(
        "If a request was posted with this number, we have sent it a code by text "
        "message. It works for %(minutes)s minutes.",
        minutes=_minutes(),
    )
    return _phone_page("resident/resend.html", codes.ask_link_again, said, ".resend_code")


@bp.route("/m/resend/code", methods=["GET", "POST"])
@ratelimits.code_tries_per_phone
def resend_code():
    form = _code_form(CodeForm)
    if form.validate_on_submit():
        try:
            help_request, token = codes.link_again(form.phone.normalised, form.code.data)
        except InvalidCode:
            _wrong_code(form)
        else:
            session.pop(PHONE_KEY, None)
            if help_request is None:
                return message_page(
                    _("No open request"),
                    _(
                        "This number has no open request now: it was helped, cancelled or "
                        "has expired. If you still need help, ask again."
                    ),
                    url_for("resident.new_request"),
                    _("Ask for help"),
                )
            remember_token(token)
            flash(
                _("This is your new link. The old one no longer works: save this one."),
                "success",
            )
            return redirect(url_for("resident.manage", token=token))
    return _page("resident/resend_code.html", form)


# -- "Xác minh số điện thoại": the manage page's holder proves the request's phone -----------


def _verifiable(token):
    """The request this manage link opens (else 404), and whether its phone can be verified:
    the request is open or claimed, its phone not yet proven."""
    help_request = by_manage_link(token)
    if queries.effective_status(help_request) not in ACTIVE:
        return help_request, False
    return help_request, not sms_links.phone_proven(help_request)


@bp.post("/m/<token>/verify")
@ratelimits.codes_per_ip
def verify(token):
    """Text the request's phone a code to prove it."""
    help_request, verifiable = _verifiable(token)
    if not verifiable:
        return redirect(url_for("resident.manage", token=token))
    codes.ask_to_verify(help_request)
    flash(
        _(
            "We have sent a code to the phone number of your request. It works for "
            "%(minutes)s minutes.",
            minutes=_minutes(),
        ),
        "success",
    )
    return keep_private(redirect(url_for(".verify_code", token=token)))


@bp.route("/m/<token>/verify/code", methods=["GET", "POST"])
def verify_code(token):
    help_request, verifiable = _verifiable(token)
    if not verifiable:
        return keep_private(redirect(url_for("resident.manage", token=token)))
    form = VerifyForm()
    if form.validate_on_submit():
        try:
            codes.verify_phone(help_request, form.code.data)
        except InvalidCode:
            _wrong_code(form)
        else:
            flash(_("Your phone number is verified. Thank you!"), "success")
            return keep_private(redirect(url_for("resident.manage", token=token)))
    page, status = _page("resident/verify.html", form, token=token)
    return keep_private(page), status
