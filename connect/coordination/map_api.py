"""The coordinator console map: server-side aggregation."""
from flask_smorest import Blueprint

bp = Blueprint("console_map", __name__, url_prefix="/api/v1", description="The coordinator console map: server-side aggregation")
