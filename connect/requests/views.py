"""Resident pages: post a request, follow it with the private manage link."""
from flask import Blueprint

bp = Blueprint("resident", __name__)


@bp.get("/need-help")
def new_request():
    return "todo"
