"""Coordinators: a request's history, suitable volunteers and assignment."""
from flask_smorest import Blueprint

bp = Blueprint("console_requests", __name__, url_prefix="/api/v1", description="Coordinators: a request's history, suitable volunteers and assignment")
