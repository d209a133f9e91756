"""Exports for coordinators: every field of the filtered requests and assists in their areas,
as CSV or GeoJSON, streamed.

Rows are read by keyset pagination on the id, CHUNK_ROWS at a time, each chunk in its own
short transaction on a connection of its own (``db.engine.connect()``). So an export of any
size holds one chunk in memory, never keeps a connection while a slow client reads, never
trips PostgreSQL's idle-in-transaction timeout, and does not depend on the request's session,
which the request boundary has committed before the body is sent. The price: a row changed
while the export runs appears as it was when its chunk was read.

CSV is UTF-8 with a byte-order mark, so that Excel opens Vietnamese text correctly (LibreOffice
and Python's csv module with encoding="utf-8-sig" read it too). GeoJSON is an RFC 7946
FeatureCollection: WGS84 [lon, lat] points, no "crs" member.
"""

import csv
import io
import json
import logging

from sqlalchemy import func, select
from sqlalchemy.orm import aliased

from connect import clock
from connect.accounts.models import User
from connect.areas.models import Area, RequestArea
from connect.coordination.filters import request_conditions
from connect.extensions import db
from connect.requests.models import Assist, HelpRequest

log = logging.getLogger("connect.exports")

CHUNK_ROWS = 2000
BOM = "\ufeff"
# A spreadsheet runs a cell starting with one of these as a formula (CSV injection, OWASP):
# free text a resident typed gets a leading apostrophe, which the spreadsheet hides.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

REQUEST_COLUMNS = (
    "id",
    "status",
    "categories",
    "urgency",
    "household_size",
    "description",
    "contact_name",
    "phone",
    "address",
    "lat",
    "lon",
    "public_lat",
    "public_lon",
    "source",
    "entered_by_id",
    "created_at",
    "updated_at",
    "closed_at",
    "claimed_by_id",
    "areas",
)
ASSIST_COLUMNS = (
    "id",
    "request_id",
    "volunteer_id",
    "volunteer_name",
    "claimed_at",
    "outcome",
    "helped_at",
    "confirmed_at",
    "closed_at",
    "categories",
    "lat",
    "lon",
)
_FREE_TEXT = frozenset({"description", "contact_name", "address", "volunteer_name"})
_LISTS = frozenset({"categories", "areas"})
_TIMES = frozenset(
    {"created_at", "updated_at", "closed_at", "claimed_at", "helped_at", "confirmed_at"}
)
EXPORTS = {"requests": REQUEST_COLUMNS, "assists": ASSIST_COLUMNS}
FORMATS = {"csv": "text/csv", "geojson": "application/geo+json"}


def coordinator_export(user, kind, fmt, args, now=None):
    """The chunks (str) of one export for a coordinator or admin, scoped and filtered.

    Authorization and the filters are checked here, before anything is sent (403 for an area
    outside the caller's scope); the rows are read as the returned generator is consumed.
    """
    now = now or clock.now()
    conditions = request_conditions(user, args, now)
    rows = (_request_rows if kind == "requests" else _assist_rows)(conditions, now)
    # Plain values: the request's session is committed before the body is streamed.
    audit = {
        "user_id": user.id,
        "role": user.role,
        "export": f"{kind}.{fmt}",
        "filters": {key: value for key, value in args.items() if value is not None},
    }
    if fmt == "csv":
        columns = EXPORTS[kind]
        converters = csv_converters(columns)
        chunks = write_csv(
            columns, ([csv_cells(converters, columns, item) for item in batch] for batch in rows)
        )
    else:
        times = _TIMES.intersection(EXPORTS[kind])
        chunks = write_geojson([feature(item, times) for item in batch] for batch in rows)
    return _audited(chunks, audit)


def export_filename(kind, fmt, now=None):
    """A dated file name, e.g. connect-requests-2026-11-26.csv."""
    return f"connect-{kind}-{(now or clock.now()):%Y-%m-%d}.{fmt}"


def _audited(chunks, audit):
    """Pass the chunks through, then log who exported what, and how many rows (personal data)."""
    rows, complete = 0, False
    try:
        for text, count in chunks:
            rows += count
            yield text
        complete = True
    finally:
        # Also when the client went away mid-file (GeneratorExit): what left is logged.
        log.info(
            "personal data export: user %s (%s) %s filters=%s rows=%d%s",
            audit["user_id"],
            audit["role"],
            audit["export"],
            json.dumps(audit["filters"], ensure_ascii=False, sort_keys=True),
            rows,
            "" if complete else " (interrupted)",
        )


# -- reading rows, a chunk at a time ----------------------------------------------------------


def chunked_rows(query, key, chunk_rows, extra=None):
    """Lists of rows of query (ordered by key), CHUNK_ROWS at a time, each in its own
    short transaction; extra(conn, rows) may read more for the chunk on the same connection."""
    last = 0
    while True:
        with db.engine.connect() as conn:
            rows = conn.execute(query.where(key > last).order_by(key).limit(chunk_rows)).all()
            more = extra(conn, rows) if extra is not None and rows else None
        if not rows:
            return
        yield rows, more
        if len(rows) < chunk_rows:
            return
        last = rows[-1][0]


def _request_rows(conditions, now):
    """Lists of request dicts (REQUEST_COLUMNS), a chunk at a time."""
    r = HelpRequest
    status = r.status_at(now)
    query = select(
        r.id,
        status,
        r.categories,
        r.urgency,
        r.household_size,
        r.description,
        r.contact_name,
        r.phone,
        r.address,
        func.ST_Y(r.location),
        func.ST_X(r.location),
        func.ST_Y(r.public_location),
        func.ST_X(r.public_location),
        r.source,
        r.entered_by_id,
        r.created_at,
        r.updated_at,
        r.closed_at,
        r.claimed_by_id,
        r.status,
    ).where(*conditions)

    def area_codes(conn, rows):
        return _area_codes(conn, rows, conditions)

    for rows, areas in chunked_rows(query, r.id, CHUNK_ROWS, area_codes):
        batch = []
        for row in rows:
            item = dict(zip(REQUEST_COLUMNS, row[:19]))
            # A lapsed claim is open again: the volunteer no longer holds it.
            if row[19] == "claimed" and item["status"] != "claimed":
                item["claimed_by_id"] = None
            item["categories"] = list(item["categories"] or ())
            item["areas"] = areas.get(item["id"], [])
            batch.append(item)
        yield batch


def _area_codes(conn, rows, conditions):
    """{request id: [area codes]} for a chunk of requests: by its id range and the export's
    conditions again, rather than a list of 2,000 ids to bind."""
    codes = {}
    # An alias: the conditions' own subqueries on request_areas must not correlate to it.
    placed = aliased(RequestArea)
    for request_id, code in conn.execute(
        select(placed.request_id, Area.code)
        .join(Area, Area.id == placed.area_id)
        .join(HelpRequest, HelpRequest.id == placed.request_id)
        .where(placed.request_id.between(rows[0][0], rows[-1][0]), *conditions)
        .order_by(placed.request_id, Area.code)
    ):
        codes.setdefault(request_id, []).append(code)
    return codes


def _assist_rows(conditions, _now):
    """Lists of assist dicts (ASSIST_COLUMNS) of the filtered requests, a chunk at a time."""
    a, r = Assist, HelpRequest
    query = (
        select(
            a.id,
            a.request_id,
            a.volunteer_id,
            User.name,
            a.claimed_at,
            a.outcome,
            a.helped_at,
            a.confirmed_at,
            a.closed_at,
            r.categories,
            func.ST_Y(r.location),
            func.ST_X(r.location),
        )
        .join(r, r.id == a.request_id)
        .join(User, User.id == a.volunteer_id)
        .where(*conditions)
    )
    for rows, _ in chunked_rows(query, a.id, CHUNK_ROWS):
        batch = []
        for row in rows:
            item = dict(zip(ASSIST_COLUMNS, row))
            item["categories"] = list(item["categories"] or ())
            batch.append(item)
        yield batch


# -- writing ---------------------------------------------------------------------------------


def _text_cell(value):
    return "'" + value if value and value.startswith(_FORMULA_START) else value


def _time_cell(value):
    return None if value is None else value.isoformat(timespec="seconds") + "Z"


def _list_cell(value):
    return ";".join(value)


def csv_converters(columns):
    """Per column, how a value becomes a CSV cell (None: as it is; csv writes None as "")."""
    return [
        _text_cell
        if column in _FREE_TEXT
        else _list_cell
        if column in _LISTS
        else _time_cell
        if column in _TIMES
        else None
        for column in columns
    ]


def csv_cells(converters, columns, item):
    """One CSV row: lists ";"-joined, times ISO 8601 UTC, free text safe from formulas."""
    return [
        value if convert is None else convert(value)
        for convert, value in zip(converters, map(item.__getitem__, columns))
    ]


def write_csv(header, batches):
    """(text, rows) chunks of a CSV file: BOM and header first, then one chunk per batch of
    rows (lists of cells)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header)
    yield BOM + buffer.getvalue(), 0
    for batch in batches:
        buffer.seek(0)
        buffer.truncate()
        writer.writerows(batch)
        yield buffer.getvalue(), len(batch)


def feature(item, times=()):
    """A GeoJSON Feature of a request or an assist: its request's exact point, every field
    (those named in times written as ISO 8601 UTC)."""
    properties = dict(item)
    for key in times:
        properties[key] = _time_cell(properties[key])
    return {
        "type": "Feature",
        "id": item["id"],
        "geometry": {"type": "Point", "coordinates": [item["lon"], item["lat"]]},
        "properties": properties,
    }


def write_geojson(feature_batches):
    """(text, rows) chunks of a GeoJSON FeatureCollection, written as the batches come."""
    yield '{"type": "FeatureCollection", "features": [\n', 0
    separator = ""
    for batch in feature_batches:
        if not batch:
            continue
        # One dumps per batch: the list's brackets cut off, the features stay comma-joined.
        text = json.dumps(batch, ensure_ascii=False, separators=(",", ":"))[1:-1]
        yield separator + text, len(batch)
        separator = ",\n"
    yield "\n]}\n", 0


def export_counts(user, args, now=None):
    """How many requests and assists an export with these filters holds (for the page)."""
    conditions = request_conditions(user, args, now or clock.now())
    requests = db.session.execute(
        select(func.count(HelpRequest.id)).where(*conditions)
    ).scalar_one()
    assists = db.session.execute(
        select(func.count(Assist.id))
        .join(HelpRequest, HelpRequest.id == Assist.request_id)
        .where(*conditions)
    ).scalar_one()
    return {"requests": requests, "assists": assists}
