"""Exports: CSV and GeoJSON for coordinators, aggregates for the public."""
from flask_smorest import Blueprint

bp = Blueprint("exports", __name__, url_prefix="/api/v1", description="Exports: CSV and GeoJSON for coordinators, aggregates for the public")
