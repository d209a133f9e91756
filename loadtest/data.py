"""The load test's database: `make bench`'s generated requests and volunteers, loaded with COPY.

Requests are bench/nearby.py's points (Bac Giang's bbox, 80 % clustered around its towns)
with bench/bench.py's row contents (categories, descriptions, household sizes, urgency,
waiting up to 48 h), all open; volunteers are bench/assignment.py's (radius 1-10 km,
categories, capacity 1-3), all on duty, each with an API token. Tokens are derived from a
per-run secret (``token_for``), so the load generator can act as any volunteer or requester
without logging in a hundred thousand times.
"""

import hashlib
import json
import os
import sys
import time
from datetime import timedelta

import numpy as np

_HERE = os.path.dirname(os.path.abspath(__file__))
_ROOT = os.path.dirname(_HERE)
for _p in (_ROOT, os.path.join(_ROOT, "bench")):  # bench/ is scripts, not a package
    if _p not in sys.path:
        sys.path.insert(0, _p)

import assignment  # noqa: E402
import nearby  # noqa: E402

import bench  # noqa: E402

CATEGORY_NAMES = ("food", "supplies", "medicine", "medical_advice", "other")  # assignment's bits
CHUNK = 50_000


def token_for(secret, kind, number):
    """The bearer token of volunteer ``number`` or the manage token of request ``number``."""
    return f"lt-{secret}-{kind}-{number}"


def _hash(token):
    return hashlib.sha256(token.encode()).hexdigest()


def _copy(cur, table, columns, lines):
    """COPY text lines (tab-separated, already escaped) into ``table`` in chunks."""
    with cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for start in range(0, len(lines), CHUNK):
            copy.write("".join(lines[start : start + CHUNK]))


def _ts(value):
    return value.isoformat(sep=" ")


def request_lines(n, secret, now):
    """COPY lines for n open requests generated like `make bench`'s."""
    ids, lats, lons = nearby.generate_points(n)
    rows, _ = bench.make_rows(ids, lats, lons, now=now)
    lines = []
    for (
        id_,
        status,
        categories,
        description,
        household,
        urgency,
        lat,
        lon,
        public_lat,
        public_lon,
        created,
        expires,
        _lease,
    ) in rows:
        created_s = _ts(created)
        lines.append(
            f"{id_}\t{json.dumps(categories)}\t{description}\t{household}\t{urgency}\t"
            f"SRID=4326;POINT({lon!r} {lat!r})\tSRID=4326;POINT({public_lon!r} {public_lat!r})\t"
            f"Người cần giúp {id_}\t+8491{id_:07d}\t{status}\tapi\t"
            f"{_hash(token_for(secret, 'req', id_))}\t{created_s}\t{created_s}\t{created_s}\t"
            f"{_ts(expires)}\t0\n"
        )
    return lines


REQUEST_COLUMNS = (
    "id",
    "categories",
    "description",
    "household_size",
    "urgency",
    "location",
    "public_location",
    "contact_name",
    "phone",
    "status",
    "source",
    "manage_token_hash",
    "created_at",
    "updated_at",
    "last_activity_at",
    "expires_at",
    "change_seq",
)


def volunteer_lines(n, secret, now):
    """COPY lines for n volunteers: (users, volunteers, api_tokens)."""
    _, vol = assignment.generate(1, n)
    stamp = _ts(now - timedelta(days=30))
    users, profiles, tokens = [], [], []
    for i, (lat, lon, radius, bits, capacity) in enumerate(
        zip(
            vol.lats.tolist(),
            vol.lons.tolist(),
            vol.radius_m.tolist(),
            vol.categories.tolist(),
            vol.capacity.tolist(),
        ),
        start=1,
    ):
        users.append(f"{i}\t+8490{i:07d}\tTình nguyện viên {i}\tx\tvolunteer\t{stamp}\n")
        categories = [name for bit, name in enumerate(CATEGORY_NAMES) if bits >> bit & 1]
        profiles.append(
            f"{i}\t{i}\tSRID=4326;POINT({lon!r} {lat!r})\t{int(radius)}\t"
            f"{json.dumps(categories)}\tt\t{capacity}\t{stamp}\t{stamp}\n"
        )
        tokens.append(f"{i}\t{i}\t{_hash(token_for(secret, 'vol', i))}\t{stamp}\n")
    return users, profiles, tokens


def load(dsn, n_requests, n_volunteers, secret, now, out=sys.stdout):
    """Generate and COPY everything into the migrated, empty database; (generate_s, load_s)."""
    import psycopg

    t0 = time.perf_counter()
    requests = request_lines(n_requests, secret, now)
    users, profiles, tokens = volunteer_lines(n_volunteers, secret, now)
    generate_s = time.perf_counter() - t0
    print(
        f"  generated {n_requests:,} requests and {n_volunteers:,} volunteers in "
        f"{generate_s:.1f} s",
        file=out,
        flush=True,
    )
    t0 = time.perf_counter()
    with psycopg.connect(dsn) as conn, conn.cursor() as cur:
        _copy(cur, "users", ("id", "phone", "name", "password_hash", "role", "created_at"), users)
        _copy(
            cur,
            "volunteers",
            (
                "id",
                "user_id",
                "location",
                "radius_m",
                "categories",
                "on_duty",
                "capacity",
                "created_at",
                "updated_at",
            ),
            profiles,
        )
        _copy(cur, "api_tokens", ("id", "user_id", "token_hash", "created_at"), tokens)
        _copy(cur, "help_requests", REQUEST_COLUMNS, requests)
        for table in ("users", "volunteers", "api_tokens", "help_requests"):
            cur.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"(SELECT max(id) FROM {table}))"
            )
    copy_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    # Analysed now, so autovacuum does not wake up in the middle of a measured phase.
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    vacuum_s = time.perf_counter() - t0
    print(
        f"  COPY into PostGIS (indexes kept up as rows arrive): {copy_s:.1f} s, "
        f"VACUUM ANALYZE {vacuum_s:.1f} s",
        file=out,
        flush=True,
    )
    return {"generate_s": generate_s, "copy_s": copy_s, "vacuum_s": vacuum_s}


def query_points(m, seed):
    """m (lat, lon) points drawn like the data (where people ask and look for requests)."""
    lats, lons = nearby.generate_queries(m, seed)
    return np.column_stack([lats, lons])
