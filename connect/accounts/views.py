"""Account pages: register, log in, log out (cookie sessions, CSRF-protected forms)."""

from urllib.parse import urlsplit

from flask import Blueprint, redirect, render_template, request, session, url_for
from flask_babel import gettext as _

from connect.accounts import services
from connect.accounts.auth import current_user, log_in, log_out
from connect.accounts.forms import LoginForm, RegisterForm
from connect.errors import Conflict, Unauthorized
from connect.web import ratelimits
from connect.web.pages import answer_expired_forms

bp = Blueprint("account", __name__)
# A form posted from a stale page (or with cookies off) is shown again, with a message.
answer_expired_forms(bp, back="home.index", again=("account.login", "account.register"))


def safe_next(target):
    """``target`` if it is a path on this site, else None (no open redirects)."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return None
    # Browsers read a backslash as a slash and drop tabs and new lines: "/\\evil" or
    # "/\t/evil" would leave the site.
    if "\\" in target or any(ord(c) < 0x21 or ord(c) == 0x7F for c in target):
        return None
    parts = urlsplit(target)
    return target if not (parts.scheme or parts.netloc) else None


def start_page(user=None):
    """Where a user goes once logged in: coordinators and admins come to work on the console,
    everyone else to helping."""
    return url_for("console.index" if user is not None and user.is_staff else "volunteer.start")


def _after_login(form, user=None):
    return redirect(safe_next(form.next.data) or start_page(user))


def _start_session(user):
    # log_in starts a fresh session (no fixation); the chosen language survives it.
    lang = session.get("lang")
    log_in(user)
    if lang:
        session["lang"] = lang


def _form(form_class):
    form = form_class()
    if request.method == "GET":
        form.next.data = safe_next(request.args.get("next")) or ""
    return form


@bp.route("/register", methods=["GET", "POST"])
@ratelimits.register_per_ip
def register():
    """Create an account with a phone number, a name and a password."""
    form = _form(RegisterForm)
    if request.method == "GET" and current_user() is not None:
        return _after_login(form)
    if form.validate_on_submit():
        try:
            user = services.register_user(
                form.phone.normalised, form.password.data, form.name.data
            )
        except Conflict:
            form.phone.errors.append(_("This number already has an account. Log in instead."))
        else:
            _start_session(user)
            return _after_login(form, user)
    status = 422 if request.method == "POST" else 200
    return render_template("account/register.html", form=form), status


@bp.route("/login", methods=["GET", "POST"])
@ratelimits.login_per_ip
@ratelimits.login_per_phone
def login():
    """Log in with phone and password; one answer for every kind of wrong."""
    form = _form(LoginForm)
    if request.method == "GET" and current_user() is not None:
        return _after_login(form, current_user())
    if form.validate_on_submit():
        try:
            user = services.authenticate(form.phone.normalised, form.password.data)
        except Unauthorized:
            ratelimits.note_failed_login()
            form.form_errors.append(_("Wrong phone number or password."))
        else:
            _start_session(user)
            return _after_login(form, user)
    status = 422 if request.method == "POST" else 200
    return render_template("account/login.html", form=form), status


@bp.post("/logout")
def logout():
    log_out()
    return redirect(url_for("home.index"))
