"""The in-memory side of the read model: open requests by place, ready to list.

Holds every open or claimed request as a pre-encoded JSON fragment of what a nearby list
shows, and, for those open now, the exact point in a PointIndex. Time-based changes (a
lapsed lease reopens a request, an open request expires) are applied here from memory, so a
list is right even before anyone persists them. No database access: ``readmodel`` feeds it.
"""
import heapq
import threading
from datetime import timezone

import numpy as np
import orjson

from connect.geo import PointIndex, round_distance_m_np
from connect.requests.models import CATEGORIES

CATEGORY_BITS = {name: 1 << i for i, name in enumerate(CATEGORIES)}
# The order of the values in a row, as the read model selects them.
ROW_FIELDS = ("id", "status", "categories", "description", "household_size", "urgency",
              "lat", "lon", "public_lat", "public_lon", "created_at", "expires_at",
              "lease_expires_at")
ACTIVE = ("open", "claimed")


def category_mask(categories):
    mask = 0
    for name in categories:
        mask |= CATEGORY_BITS[name]
    return mask


def epoch(value):
    """Seconds since 1970 of a naive-UTC datetime (0 for None)."""
    return value.replace(tzinfo=timezone.utc).timestamp() if value else 0.0


def encode_fragment(id_, categories, description, household_size, urgency, public_lat,
                    public_lon, created_at):
    """The JSON of one nearby item, open-ended so the caller appends the distance."""
    return orjson.dumps({
        "id": id_,
        "categories": categories,
        "description": description,
        "household_size": household_size,
        "urgency": urgency,
        # Blurred by 150-400 m already; more decimals would only look precise.
        "location": {"lat": round(public_lat, 5), "lon": round(public_lon, 5)},
        "created_at": created_at.isoformat(timespec="seconds") + "Z",
        "status": "open",
    })[:-1]


def _extended(array, size):
    grown = np.zeros(size, dtype=array.dtype)
    grown[:len(array)] = array
    return grown


class OpenRequests:
    """Open (and claimed) requests in memory; thread-safe; see the module docstring."""

    def __init__(self, expiry_seconds):
        self.expiry_seconds = expiry_seconds
        self._lock = threading.RLock()
        self._index = PointIndex()
        # Indexed by request id: ids are dense, and a list costs a tenth of a dict.
        self._fragments = []
        self._masks = np.zeros(0, dtype=np.uint8)
        self._expires = np.zeros(0, dtype=np.float64)
        self._claimed = {}  # request id -> (lease end, lat, lon) while a claim holds
        self._leases = []  # heap of (lease end, request id)
        self._next_sweep = 0.0

    def load(self, rows, now):
        """Replace everything with these rows (tuples in ROW_FIELDS order)."""
        rows = [row for row in rows if row[1] in ACTIVE]
        size = max((row[0] for row in rows), default=0) + 1
        fragments = [None] * size
        masks = np.zeros(size, dtype=np.uint8)
        expires = np.zeros(size, dtype=np.float64)
        claimed, leases = {}, []
        open_ids, lats, lons = [], [], []
        expiry = self.expiry_seconds
        for (id_, status, categories, description, household_size, urgency, lat, lon,
             public_lat, public_lon, created_at, expires_at, lease_expires_at) in rows:
            fragments[id_] = encode_fragment(id_, categories, description, household_size,
                                             urgency, public_lat, public_lon, created_at)
            masks[id_] = category_mask(categories)
            ends = epoch(expires_at)
            if status == "claimed":
                lease_end = epoch(lease_expires_at)
                # A lapsed lease makes the request open again, for a full expiry period.
                ends = max(ends, lease_end + expiry)
                if lease_end > now:
                    claimed[id_] = (lease_end, lat, lon)
                    leases.append((lease_end, id_))
                    expires[id_] = ends
                    continue
            expires[id_] = ends
            open_ids.append(id_)
            lats.append(lat)
            lons.append(lon)
        heapq.heapify(leases)
        index = PointIndex.from_arrays(np.asarray(open_ids, dtype=np.int64),
                                       np.asarray(lats, dtype=np.float64),
                                       np.asarray(lons, dtype=np.float64))
        with self._lock:
            self._index, self._fragments, self._masks, self._expires = (
                index, fragments, masks, expires)
            self._claimed, self._leases = claimed, leases

    def apply(self, row, now):
        """Bring one request (a tuple in ROW_FIELDS order) up to date."""
        (id_, status, categories, description, household_size, urgency, lat, lon,
         public_lat, public_lon, created_at, expires_at, lease_expires_at) = row
        with self._lock:
            self._claimed.pop(id_, None)
            if status not in ACTIVE:
                if id_ < len(self._fragments):
                    self._fragments[id_] = None
                self._index.delete(id_)
                return
            self._grow(id_)
            self._fragments[id_] = encode_fragment(id_, categories, description,
                                                   household_size, urgency, public_lat,
                                                   public_lon, created_at)
            self._masks[id_] = category_mask(categories)
            ends = epoch(expires_at)
            if status == "claimed":
                lease_end = epoch(lease_expires_at)
                ends = max(ends, lease_end + self.expiry_seconds)
                if lease_end > now:
                    self._expires[id_] = ends
                    self._claimed[id_] = (lease_end, lat, lon)
                    heapq.heappush(self._leases, (lease_end, id_))
                    self._index.delete(id_)
                    return
            self._expires[id_] = ends
            self._index.insert(id_, lat, lon)

    def reopen_lapsed(self, now):
        """Put requests whose claim lease has passed back into the index."""
        with self._lock:
            while self._leases and self._leases[0][0] <= now:
                lease_end, id_ = heapq.heappop(self._leases)
                held = self._claimed.get(id_)
                # Entries made stale by a later claim, release or close are skipped.
                if held is not None and held[0] == lease_end:
                    del self._claimed[id_]
                    self._index.insert(id_, held[1], held[2])

    def _grow(self, id_):
        if id_ >= len(self._fragments):
            self._fragments.extend([None] * (id_ + 1 - len(self._fragments)))
        if id_ >= len(self._masks):
            size = max(id_ + 1, 2 * len(self._masks), 1024)
            self._masks = _extended(self._masks, size)
            self._expires = _extended(self._expires, size)

    def nearby(self, lat, lon, radius_m, limit, categories, now):
        """(ids, distances in metres) of open requests, nearest first."""
        wanted = category_mask(categories) if categories else 0
        with self._lock:
            masks, expires = self._masks, self._expires
            if now >= self._next_sweep:
                self._sweep_expired(now)

            def accept(ids):
                ok = expires[ids] > now
                if wanted:
                    ok &= (masks[ids] & wanted) != 0
                return ok

            # Expired requests are swept out every second, so the plain search (a few
            # microseconds cheaper) is almost always right; check its answer, and search
            # again with the filter when something expired since the last sweep.
            ids, distances = self._index.nearest(lat, lon, limit, max_distance_m=radius_m,
                                                 accept=accept if wanted else None)
            if not wanted and ids.size and (expires[ids] <= now).any():
                ids, distances = self._index.nearest(lat, lon, limit,
                                                     max_distance_m=radius_m, accept=accept)
            return ids, distances

    def _sweep_expired(self, now):
        self._next_sweep = now + 1.0
        expires = self._expires
        for id_ in np.flatnonzero((expires > 0) & (expires <= now)).tolist():
            if id_ not in self._claimed:
                self._index.delete(id_)
                self._fragments[id_] = None
                expires[id_] = 0

    def nearby_json(self, lat, lon, radius_m, limit, categories, now):
        """The nearby list as a JSON document, joined from the pre-encoded fragments."""
        with self._lock:
            ids, distances = self.nearby(lat, lon, radius_m, limit, categories, now)
            fragments = [self._fragments[i] for i in ids.tolist()]
        rounded = round_distance_m_np(distances).tolist()
        return b'{"items":[' + b",".join(
            b'%s,"distance_m":%d}' % pair for pair in zip(fragments, rounded)) + b"]}"

    def __len__(self):
        return len(self._index)

    @property
    def claimed_count(self):
        return len(self._claimed)
