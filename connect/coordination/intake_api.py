"""Hotline intake: requests entered for callers."""
from flask_smorest import Blueprint

bp = Blueprint("intake", __name__, url_prefix="/api/v1", description="Hotline intake: requests entered for callers")
