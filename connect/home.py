"""The home page: two big choices, and how many neighbours have been helped."""

from flask import Blueprint, render_template

from connect.coordination.statistics.services import public_stats

bp = Blueprint("home", __name__)


@bp.get("/")
def index():
    """Two big choices, and how many neighbours have been helped."""
    return render_template("home.html", stats=public_stats())
