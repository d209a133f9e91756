"""Account pages: register, log in, log out (cookie sessions, CSRF-protected forms)."""
from flask import Blueprint, redirect, url_for

from connect.accounts.auth import log_out

bp = Blueprint("account", __name__)


@bp.post("/logout")
def logout():
    log_out()
    return redirect(url_for("pages.home"))
