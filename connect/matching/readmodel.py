"""The per-process read model of open help requests, for fast nearby lists.

It holds every open or claimed request: a pre-encoded JSON fragment of what a nearby list
shows, and, for those that are open now, their exact point in a PointIndex. It is loaded
in bulk on first use and catches up from the database (see ``changes``) before answering:
at once after this process committed a change to a request, otherwise at most every
``sync_interval`` seconds. If the database cannot be reached it keeps answering from
memory for at most ``max_staleness`` seconds, then refuses with 503.
"""
import heapq
import json
import logging
import threading
import time
from datetime import datetime, timezone

import numpy as np
from sqlalchemy import func, select

from connect import clock
from connect.errors import ServiceUnavailable
from connect.geo import PointIndex, round_distance_m
from connect.matching.changes import read_watermark
from connect.requests.models import CATEGORIES, HelpRequest

log = logging.getLogger(__name__)

CATEGORY_BITS = {name: 1 << i for i, name in enumerate(CATEGORIES)}


def category_mask(categories):
    mask = 0
    for name in categories:
        mask |= CATEGORY_BITS[name]
    return mask


def _epoch(value):
    return int(value.replace(tzinfo=timezone.utc).timestamp()) if value else 0


def _now_epoch():
    return _epoch(clock.now())


def _columns():
    r = HelpRequest
    return (
        r.id, r.status, r.categories, r.description, r.household_size, r.urgency,
        func.ST_Y(r.location), func.ST_X(r.location),
        func.ST_Y(r.public_location), func.ST_X(r.public_location),
        r.created_at, r.expires_at, r.lease_expires_at,
    )


def encode_fragment(row):
    """The JSON of one nearby item, open-ended so the caller appends the distance."""
    body = json.dumps({
        "id": row.id,
        "categories": row.categories,
        "description": row.description,
        "household_size": row.household_size,
        "urgency": row.urgency,
        # Blurred by 150-400 m already; more decimals would only look precise.
        "location": {"lat": round(row.public_lat, 5), "lon": round(row.public_lon, 5)},
        "created_at": clock.isoformat(row.created_at),
        "status": "open",
    }, ensure_ascii=False, separators=(",", ":"))
    return body[:-1].encode()


def _extended(array, size):
    grown = np.zeros(size, dtype=array.dtype)
    grown[:len(array)] = array
    return grown


class _Row:
    __slots__ = ("id", "status", "categories", "description", "household_size", "urgency",
                 "lat", "lon", "public_lat", "public_lon", "created_at", "expires_at",
                 "lease_expires_at")

    def __init__(self, values):
        for name, value in zip(self.__slots__, values):
            setattr(self, name, value)


class OpenRequestsReadModel:
    """Nearby open requests from memory, consistent with the database (see module doc)."""

    def __init__(self, engine, sync_interval=0.2, max_staleness=3.0, expiry_seconds=72 * 3600):
        self._engine = engine
        self.sync_interval = sync_interval
        self.max_staleness = max_staleness
        self.expiry_seconds = expiry_seconds
        self._lock = threading.RLock()
        self._loaded = False
        self._last_sync = 0.0
        self._last_attempt = 0.0
        self._write_generation = 0
        self._synced_generation = 0
        self._reset()

    def _reset(self):
        self._index = PointIndex()
        self._fragments = []  # indexed by request id: ids are dense, a dict costs 10x more
        self._claimed = {}  # request id -> (lease end epoch, lat, lon) while a claim holds
        self._masks = np.zeros(1024, dtype=np.uint8)
        self._expires = np.zeros(1024, dtype=np.int64)
        self._leases = []  # heap of (lease end epoch, request id) for claimed requests
        self._watermark = 0

    # -- keeping up with the database -------------------------------------------------

    def note_local_write(self):
        """Called after this process commits a change to a request: next read catches up."""
        self._write_generation += 1

    def ensure_fresh(self):
        """Catch up with the database if due; 503 if it has been away too long."""
        wanted = self._write_generation
        if self._fresh(wanted):
            return
        with self._lock:
            if self._fresh(wanted):
                return
            now = time.monotonic()
            if self._loaded and now - self._last_attempt < self.sync_interval / 2 \
                    and self._synced_generation >= wanted:
                return self._check_staleness(now)
            self._last_attempt = now
            generation = self._write_generation
            try:
                self._sync()
            except Exception as exc:  # any database failure: serve from memory for a while
                log.warning("read model could not catch up: %s", exc)
                return self._check_staleness(time.monotonic(), exc)
            self._synced_generation = generation
            self._last_sync = time.monotonic()

    def _fresh(self, wanted):
        return (self._loaded and self._synced_generation >= wanted
                and time.monotonic() - self._last_sync < self.sync_interval)

    def _check_staleness(self, now, exc=None):
        if not self._loaded or now - self._last_sync > self.max_staleness:
            raise ServiceUnavailable(
                "Nearby requests are briefly unavailable. Try again in a few seconds.",
                code="database_unavailable", headers={"Retry-After": "2"})

    def _sync(self):
        started = time.perf_counter()
        with self._engine.connect().execution_options(readonly=True) as conn:
            watermark = read_watermark(conn, HelpRequest.change_seq)
            query = select(*_columns())
            if self._loaded:
                query = query.where(HelpRequest.change_seq >= self._watermark)
            else:
                query = query.where(HelpRequest.status.in_(("open", "claimed")))
            rows = conn.execute(query).all()
        if not self._loaded:
            self._bulk_load(rows)
            self._loaded = True
            log.info("read model loaded %d requests in %.2f s", len(rows),
                     time.perf_counter() - started)
        else:
            for row in rows:
                self._apply(_Row(row))
        self._watermark = watermark
        self._release_due_leases()

    def _bulk_load(self, rows):
        self._reset()
        open_ids, lats, lons = [], [], []
        now = _now_epoch()
        for values in rows:
            row = _Row(values)
            if not self._remember(row, now):
                continue
            if self._is_open(row, now):
                open_ids.append(row.id)
                lats.append(row.lat)
                lons.append(row.lon)
        self._index = PointIndex.from_arrays(np.asarray(open_ids, dtype=np.int64),
                                             np.asarray(lats, dtype=np.float64),
                                             np.asarray(lons, dtype=np.float64))

    def _remember(self, row, now):
        """Store what a list needs of an open or claimed request; False if it is neither."""
        if row.status not in ("open", "claimed"):
            self._forget(row.id)
            return False
        self._grow(row.id)
        self._fragments[row.id] = encode_fragment(row)
        self._claimed.pop(row.id, None)
        self._masks[row.id] = category_mask(row.categories)
        expires = _epoch(row.expires_at)
        if row.status == "claimed":
            lease_end = _epoch(row.lease_expires_at)
            # A lapsed lease makes the request open again, for a full expiry period.
            expires = max(expires, lease_end + self.expiry_seconds)
            if lease_end > now:
                self._claimed[row.id] = (lease_end, row.lat, row.lon)
                heapq.heappush(self._leases, (lease_end, row.id))
        self._expires[row.id] = expires
        return True

    @staticmethod
    def _is_open(row, now):
        return row.status == "open" or (
            row.status == "claimed" and _epoch(row.lease_expires_at) <= now)

    def _apply(self, row):
        now = _now_epoch()
        with self._lock:
            if self._remember(row, now) and self._is_open(row, now):
                self._index.insert(row.id, row.lat, row.lon)
            else:
                self._index.delete(row.id)

    def _forget(self, request_id):
        if request_id < len(self._fragments):
            self._fragments[request_id] = None
            self._masks[request_id] = 0
        self._claimed.pop(request_id, None)
        self._index.delete(request_id)

    def _grow(self, request_id):
        if request_id >= len(self._fragments):
            self._fragments.extend([None] * (request_id + 1 - len(self._fragments)))
        if request_id >= len(self._masks):
            size = max(request_id + 1, 2 * len(self._masks))
            self._masks = _extended(self._masks, size)
            self._expires = _extended(self._expires, size)

    def _release_due_leases(self):
        now = _now_epoch()
        while self._leases and self._leases[0][0] <= now:
            lease_end, request_id = heapq.heappop(self._leases)
            held = self._claimed.get(request_id)
            # Stale heap entries (re-claimed, released, closed since) are skipped.
            if held is not None and held[0] == lease_end:
                del self._claimed[request_id]
                self._index.insert(request_id, held[1], held[2])

    # -- answering --------------------------------------------------------------------

    def nearby(self, lat, lon, radius_m, limit, categories=None):
        """[(request id, distance in metres)] of open requests, nearest first."""
        self.ensure_fresh()
        wanted = category_mask(categories) if categories else 0
        now = _now_epoch()
        masks, expires = self._masks, self._expires

        def accept(ids):
            ok = expires[ids] > now
            if wanted:
                ok &= (masks[ids] & wanted) != 0
            return ok

        with self._lock:
            ids, distances = self._index.nearest(lat, lon, limit, max_distance_m=radius_m,
                                                 accept=accept)
            return [(self._fragments[i], d) for i, d in zip(ids.tolist(), distances.tolist())]

    def nearby_json(self, lat, lon, radius_m, limit, categories=None):
        """The nearby list as a JSON document, built from pre-encoded fragments."""
        found = self.nearby(lat, lon, radius_m, limit, categories)
        items = b",".join(b'%s,"distance_m":%d}' % (fragment, round_distance_m(d))
                          for fragment, d in found)
        return b'{"items":[' + items + b"]}"

    def __len__(self):
        return len(self._index)

    def stats(self):
        return {"open_indexed": len(self._index), "claimed": len(self._claimed),
                "watermark": self._watermark, "last_sync_age_s": time.monotonic() - self._last_sync}
