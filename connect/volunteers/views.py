"""Volunteer pages: profile, needs near you, the map, claims."""
from flask import Blueprint

bp = Blueprint("volunteer", __name__)


@bp.get("/volunteer")
def start():
    return "todo"


@bp.get("/volunteer/needs")
def needs():
    return "todo"
