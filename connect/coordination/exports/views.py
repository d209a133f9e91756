"""The console's exports page: pick filters, see how many rows match, download.

A plain GET form back to this page: the download links then carry exactly the filters given
(empty fields left out, which the export API would refuse as invalid numbers).
"""

from flask import render_template, request, url_for
from flask_babel import lazy_gettext as _l

from connect.coordination.console import bp, console_page
from connect.coordination.exports.services import export_counts
from connect.coordination.filters import ConsoleFilterSchema
from connect.coordination.map.views import (
    POSTED_CHOICES,
    STATUS_LABELS,
    URGENCY_CHOICES,
    WAITING_CHOICES,
    _areas_in_scope,
    _hours,
    _listed,
)
from connect.requests.categories import CATEGORIES
from connect.requests.categories import LABELS as CATEGORY_LABELS
from connect.requests.models import URGENCIES
from connect.requests.state import STATUSES

DOWNLOADS = (
    ("requests", "csv"),
    ("requests", "geojson"),
    ("assists", "csv"),
    ("assists", "geojson"),
)


def _chosen_filters(areas, waiting, posted):
    """The filters of the query string as the form shows them (unknown values dropped)."""
    area = request.args.get("area", "").strip()
    return {
        "status": _listed("status", STATUSES),
        "category": _listed("category", CATEGORIES),
        "urgency": (_listed("urgency", URGENCIES) + [""])[0],
        "min_age_hours": _hours("min_age_hours", waiting),
        "max_age_hours": _hours("max_age_hours", posted),
        "area": area if area in {row.code for row, _, _ in areas} else "",
    }


@bp.get("/exports")
@console_page
def exports(user):
    """Downloads of the filtered requests and assists (personal data), and the public counts."""
    areas = _areas_in_scope(user)
    waiting, posted = dict(WAITING_CHOICES), dict(POSTED_CHOICES)
    filters = _chosen_filters(areas, waiting, posted)
    query = {key: value for key, value in filters.items() if value not in ("", [])}
    counts = export_counts(user, ConsoleFilterSchema().load(query))
    downloads = [
        {"kind": kind, "format": fmt, "url": url_for(f"exports.{kind}_{fmt}", **query)}
        for kind, fmt in DOWNLOADS
    ]
    public = {fmt: url_for(f"exports.areas_{fmt}") for fmt in ("csv", "geojson")}
    options = [{"code": row.code, "name": row.name, "depth": depth} for row, depth, _ in areas]
    return render_template(
        "console/exports.html",
        title=_l("Exports"),
        filters=filters,
        active=bool(query),
        areas=options,
        statuses=STATUS_LABELS,
        categories=CATEGORY_LABELS,
        urgencies=URGENCY_CHOICES,
        waiting=waiting,
        posted=posted,
        counts=counts,
        downloads=downloads,
        public=public,
    )
