"""Exports: CSV and GeoJSON for coordinators, aggregates for the public.

The bodies are streamed: the view checks the caller and the filters, then returns a generator
that reads and writes a chunk of rows at a time (see connect.coordination.exports.services).
"""

from flask import Response, stream_with_context
from flask_smorest import Blueprint

from connect import clock
from connect.coordination.exports.public import (
    area_csv_rows,
    area_features,
    public_areas,
)
from connect.coordination.exports.services import (
    FORMATS,
    coordinator_export,
    export_filename,
    write_csv,
    write_geojson,
)
from connect.coordination.filters import ConsoleFilterSchema, require_coordinator
from connect.web import ratelimits
from connect.web.access import require_user

bp = Blueprint(
    "exports",
    __name__,
    url_prefix="/api/v1",
    description="Exports: CSV and GeoJSON for coordinators, aggregates for the public",
)

_PERSONAL = (
    "Every field of the filtered {what} in the caller's areas (admins: everywhere), "
    "personal data included; each export is logged. Streamed. CSV: UTF-8 with a BOM, "
    "lists joined with ';', times ISO 8601 UTC. GeoJSON: an RFC 7946 "
    "FeatureCollection of the requests' exact points."
)
_PUBLIC = (
    "Counts per area (requests by status group, open requests per category, assists "
    "that helped); no personal data. Counts of 1-4 are withheld (empty in CSV, null in "
    "GeoJSON), with complementary cells, and listed in `suppressed`."
)


# A GeoJSON file is JSON, which clients (and the fuzz tests) read against its schema.
_FILE_SCHEMAS = {
    "text/csv": {"type": "string"},
    "application/geo+json": {
        "type": "object",
        "required": ["type", "features"],
        "properties": {
            "type": {"type": "string", "enum": ["FeatureCollection"]},
            "features": {"type": "array", "items": {"type": "object"}},
        },
    },
}


def _file(content_type, description):
    """Document a 200 that is a file of this media type (a streamed body)."""

    def decorate(view):
        view = bp.doc(
            responses={200: {"content": {content_type: {"schema": _FILE_SCHEMAS[content_type]}}}}
        )(view)
        return bp.response(200, description=description, content_type=content_type)(view)

    return decorate


def _download(chunks, fmt, name, private=True):
    """A streamed attachment of text chunks with a dated file name."""
    response = Response(stream_with_context(chunks), mimetype=FORMATS[fmt])
    response.headers["Content-Disposition"] = (
        f'attachment; filename="{export_filename(name, fmt)}"'
    )
    if private:
        response.headers["Cache-Control"] = "no-store"
    return response


def _coordinator_download(kind, fmt, args):
    user = require_coordinator(require_user())
    chunks = coordinator_export(user, kind, fmt, args)
    return _download(chunks, fmt, kind)


@bp.route("/console/exports/requests.csv", methods=["GET"])
@bp.arguments(ConsoleFilterSchema, location="query")
@_file("text/csv", _PERSONAL.format(what="requests"))
def requests_csv(args):
    """The filtered requests as CSV (coordinators and admins)."""
    return _coordinator_download("requests", "csv", args)


@bp.route("/console/exports/requests.geojson", methods=["GET"])
@bp.arguments(ConsoleFilterSchema, location="query")
@_file("application/geo+json", _PERSONAL.format(what="requests"))
def requests_geojson(args):
    """The filtered requests as GeoJSON points (coordinators and admins)."""
    return _coordinator_download("requests", "geojson", args)


@bp.route("/console/exports/assists.csv", methods=["GET"])
@bp.arguments(ConsoleFilterSchema, location="query")
@_file("text/csv", _PERSONAL.format(what="requests' assists"))
def assists_csv(args):
    """The assists of the filtered requests as CSV (coordinators and admins)."""
    return _coordinator_download("assists", "csv", args)


@bp.route("/console/exports/assists.geojson", methods=["GET"])
@bp.arguments(ConsoleFilterSchema, location="query")
@_file("application/geo+json", _PERSONAL.format(what="requests' assists"))
def assists_geojson(args):
    """The assists of the filtered requests as GeoJSON, at their requests' points."""
    return _coordinator_download("assists", "geojson", args)


@bp.route("/stats/areas.csv", methods=["GET"])
@ratelimits.public_export_per_ip
@_file("text/csv", _PUBLIC)
def areas_csv():
    """Public counts per area as CSV; never an individual."""
    rows = list(area_csv_rows(public_areas(clock.now())))
    return _download(
        (text for text, _ in write_csv(rows[0], [rows[1:]])), "csv", "areas", private=False
    )


@bp.route("/stats/areas.geojson", methods=["GET"])
@ratelimits.public_export_per_ip
@_file("application/geo+json", _PUBLIC)
def areas_geojson():
    """Public counts per area as GeoJSON with simplified area polygons; never an individual."""
    features = area_features(public_areas(clock.now()))
    return _download(
        (text for text, _ in write_geojson(features)), "geojson", "areas", private=False
    )
