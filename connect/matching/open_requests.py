"""The in-memory side of the read model: open requests by place, ready to list.

Holds every open or claimed request: what a nearby list shows, in compact columns (numpy
arrays by request id, and the descriptions pre-encoded as JSON in one byte arena), and,
for those open now, the exact point in a PointIndex. Time-based changes (a lapsed lease
reopens a request, an open request expires: the rule of ``requests.state``) are applied
here from memory, so a list is right even before anyone persists them: each request keeps
when it stops being open, and a held claim waits in a heap of lease ends. No database
access: ``readmodel`` feeds it.
"""

import heapq
import math
import threading
import time
from datetime import datetime

import numpy as np
import orjson

from connect.geo import PointIndex, ranking, round_distance_m_np
from connect.requests.categories import BITS
from connect.requests.state import (
    ACTIVE,
    CODES,
    effective_state,
    effective_state_np,
    reopened_expiry,
)

# The order of the values in a row, as the read model selects them.
ROW_FIELDS = (
    "id",
    "status",
    "categories",
    "description",
    "household_size",
    "urgency",
    "lat",
    "lon",
    "public_lat",
    "public_lon",
    "created_at",
    "expires_at",
    "lease_expires_at",
    "location_precision",
)
# One nearby item. Formatting 50 of these per list costs ~1 us each, and keeping only the
# values (not a whole JSON object per request) halves the memory of a million requests.
ITEM = (
    b'{"id":%d,"categories":%b,"description":%b,"household_size":%d,"urgency":%b,'
    b'"location":{"lat":%.5f,"lon":%.5f},"location_precision":%b,'
    b'"created_at":"%04d-%02d-%02dT%02d:%02d:%02dZ","status":"open","distance_m":%d}'
)
URGENCY = (b'"normal"', b'"urgent"')
# "area": placed at its commune's point (texted in), approximate until placed exactly.
PRECISION = (b'"exact"', b'"area"')
# The first batch of a ranked search, in multiples of the limit. With waiting times spread
# over two days (bench/bench.py) the answer was proven from 1.8 x limit candidates at the
# median, 2.3 x at p99 and 2.4 x at most: one walk, where 2 x needed a second in 14 %.
_FIRST_BATCH = 2.5
_COLUMNS = (
    ("masks", None),
    ("expires", np.float64),
    ("households", np.uint8),
    ("urgent", np.uint8),
    ("approximate", np.uint8),
    ("public_lats", np.float64),
    ("public_lons", np.float64),
    ("created", np.int64),
    ("text_at", np.int64),
    ("text_len", np.int32),
)
_HELD = CODES["claimed"]


_EPOCH = datetime(1970, 1, 1)


def epoch(value):
    """Seconds since 1970 of a naive-UTC datetime (0 for None)."""
    return (value - _EPOCH).total_seconds() if value else 0.0


class OpenRequests:
    """Open (and claimed) requests in memory; thread-safe; see the module docstring."""

    def __init__(self, expiry_seconds, weights=None, bits=BITS):
        self.expiry_seconds = expiry_seconds
        self.weights = weights or ranking.Weights()
        self.bits = bits  # the category bits of masks (categories.CategoryBits)
        self._lock = threading.RLock()
        self._index = PointIndex()
        self._alive = 0
        for name, dtype in _COLUMNS:
            setattr(self, "_" + name, np.zeros(0, dtype=dtype or bits.dtype))
        self._text = bytearray()  # JSON-encoded descriptions, appended; see _compact
        self._text_garbage = 0
        self._claimed = {}  # request id -> (lease end, lat, lon) while a claim holds
        self._leases = []  # heap of (lease end, request id)
        self._next_sweep = 0.0
        # The oldest posting time held, of normal [0] and urgent [1] requests: no request can
        # rank better than its distance / the divisor these have now (see _reach). Lowered on
        # every change, so always a bound; raised back after closes by a sweep now and then.
        self._oldest = [math.inf, math.inf]
        self._next_oldest = 0.0

    # -- changes --------------------------------------------------------------------

    def load(self, rows, now):
        """Replace everything with these rows (tuples in ROW_FIELDS order)."""
        with self._lock:
            self.__init__(self.expiry_seconds, self.weights, self.bits)
            rows = [row for row in rows if row[1] in ACTIVE]
            n = len(rows)
            self._grow(max((row[0] for row in rows), default=0))
            for row in rows:
                self._keep(row)
            ids = np.fromiter((row[0] for row in rows), np.int64, n)
            leases = np.fromiter((epoch(row[12]) for row in rows), np.float64, n)
            status, ends = effective_state_np(
                np.fromiter((CODES[row[1]] for row in rows), np.uint8, n),
                leases,
                np.fromiter((epoch(row[11]) for row in rows), np.float64, n),
                now,
                self.expiry_seconds,
            )
            held = status == _HELD
            # A held claim lists its request again when its lease lapses, for a full period.
            ends[held] = reopened_expiry(leases[held], self.expiry_seconds)
            self._expires[ids] = ends
            for i in np.flatnonzero(held).tolist():
                self._hold(rows[i][0], float(leases[i]), rows[i][6], rows[i][7])
            self._find_oldest(now)
            listed = np.flatnonzero(~held).tolist()
            self._index = PointIndex.from_arrays(
                ids[listed],
                np.array([rows[i][6] for i in listed], dtype=np.float64),
                np.array([rows[i][7] for i in listed], dtype=np.float64),
            )

    def apply(self, row, now):
        """Bring one request (a tuple in ROW_FIELDS order) up to date."""
        id_, status = row[0], row[1]
        with self._lock:
            if status not in ACTIVE:
                self._drop(id_)
                return
            self._grow(id_)
            self._keep(row)
            lease = epoch(row[12])
            status, ends = effective_state(status, lease, epoch(row[11]), now, self.expiry_seconds)
            self._claimed.pop(id_, None)
            if status == "claimed":
                ends = reopened_expiry(lease, self.expiry_seconds)
                self._hold(id_, lease, row[6], row[7])
            self._expires[id_] = ends
            urgent, created = int(self._urgent[id_]), int(self._created[id_])
            if created < self._oldest[urgent]:
                self._oldest[urgent] = created
            if status == "claimed":
                self._index.delete(id_)
            else:
                self._index.insert(id_, row[6], row[7])

    def _hold(self, id_, lease_end, lat, lon):
        """Keep a claim whose lease runs: listed again once it lapses (reopen_lapsed)."""
        self._claimed[id_] = (lease_end, lat, lon)
        heapq.heappush(self._leases, (lease_end, id_))

    def _keep(self, row):
        """Keep what a list shows of an active request (its state is set by the caller)."""
        (
            id_,
            _,
            categories,
            description,
            household_size,
            urgency,
            _,
            _,
            public_lat,
            public_lon,
            created_at,
            _,
            _,
            precision,
        ) = row
        if self._text_len[id_]:
            self._text_garbage += int(self._text_len[id_])
        else:
            self._alive += 1
        text = orjson.dumps(description)
        self._text_at[id_] = len(self._text)
        self._text_len[id_] = len(text)
        self._text += text
        self._masks[id_] = self.bits.mask(categories)
        self._households[id_] = household_size
        self._urgent[id_] = urgency == "urgent"
        self._approximate[id_] = precision == "area"
        self._public_lats[id_] = public_lat
        self._public_lons[id_] = public_lon
        self._created[id_] = int(epoch(created_at))

    def _drop(self, id_):
        self._claimed.pop(id_, None)
        self._index.delete(id_)
        if id_ < len(self._text_len) and self._text_len[id_]:
            self._text_garbage += int(self._text_len[id_])
            self._text_len[id_] = 0
            self._expires[id_] = 0
            self._alive -= 1
            if self._text_garbage > max(len(self._text) // 2, 1 << 20):
                self._compact()

    def _compact(self):
        """Rewrite the description arena without the texts of changed or closed requests."""
        live = np.flatnonzero(self._text_len)
        text, old = bytearray(), memoryview(self._text)
        for id_ in live.tolist():
            at, length = int(self._text_at[id_]), int(self._text_len[id_])
            self._text_at[id_] = len(text)
            text += old[at : at + length]
        old.release()
        self._text, self._text_garbage = text, 0

    def reopen_lapsed(self, now):
        """Put requests whose claim lease has passed back into the index."""
        with self._lock:
            # A lease lapses at its end, as requests.state has it.
            while self._leases and self._leases[0][0] <= now:
                lease_end, id_ = heapq.heappop(self._leases)
                held = self._claimed.get(id_)
                # Entries made stale by a later claim, release or close are skipped.
                if held is not None and held[0] == lease_end:
                    del self._claimed[id_]
                    self._index.insert(id_, held[1], held[2])

    def _grow(self, id_):
        if id_ < len(self._masks):
            return
        size = max(id_ + 1, 2 * len(self._masks), 1024)
        for name, _ in _COLUMNS:
            old = getattr(self, "_" + name)
            grown = np.zeros(size, dtype=old.dtype)
            grown[: len(old)] = old
            setattr(self, "_" + name, grown)

    def _sweep_expired(self, now):
        self._next_sweep = now + 1.0
        for id_ in np.flatnonzero((self._expires > 0) & (self._expires <= now)).tolist():
            if id_ not in self._claimed:
                self._drop(id_)
        if now >= self._next_oldest:
            self._find_oldest(now)

    def _find_oldest(self, now):
        """Set the oldest posting times from what is held (~5 ms for a million, once a minute)."""
        self._next_oldest = now + 60.0
        held = self._text_len > 0
        urgent = self._urgent != 0
        for flag, which in ((0, held & ~urgent), (1, held & urgent)):
            created = self._created[which]
            self._oldest[flag] = int(created.min()) if created.size else math.inf

    def _reach(self, now):
        """The largest divisor any request held has now: at most weights.max_divisor."""
        # While every need is fresh (a new deployment, a sudden emergency) this is far below
        # the maximum, and a ranked search need not look as far out.
        return max(
            (
                ranking.divisor(flag, now - oldest, self.weights)
                for flag, oldest in enumerate(self._oldest)
                if oldest != math.inf
            ),
            default=1.0,
        )

    # -- answers --------------------------------------------------------------------

    def nearby(self, lat, lon, radius_m, limit, categories, now, sort=ranking.DEFAULT_SORT):
        """(ids, distances in metres) of open requests: best fair rank first (sort="rank",
        see connect.geo.ranking) or nearest first (sort="distance"); then nearest, then
        by id."""
        if sort not in ranking.SORTS:
            raise ValueError(f"sort must be one of {ranking.SORTS}, got {sort!r}")
        wanted = self.bits.mask(categories) if categories else 0
        with self._lock:
            if now >= self._next_sweep:
                self._sweep_expired(now)
            masks, expires = self._masks, self._expires

            def accept(ids):
                ok = expires[ids] > now
                if wanted:
                    ok &= (masks[ids] & wanted) != 0
                return ok

            if sort == ranking.RANK:
                return self._ranked(lat, lon, radius_m, limit, accept if wanted else None, now)
            # Expired requests are swept out every second, so the plain search (a few
            # microseconds cheaper) is almost always right; check its answer, and search
            # again with the filter when something expired since the last sweep.
            ids, distances = self._index.nearest(
                lat, lon, limit, max_distance_m=radius_m, accept=accept if wanted else None
            )
            if not wanted and ids.size and (expires[ids] <= now).any():
                ids, distances = self._index.nearest(
                    lat, lon, limit, max_distance_m=radius_m, accept=accept
                )
            return ids, distances

    def _ranked(self, lat, lon, radius_m, limit, accept, now):
        """The limit best by fair rank within radius_m, exactly, without listing the radius."""
        # Walk outwards in distance order. Nothing further out than r can rank better than
        # r / reach (the largest divisor held), so the answer is complete once the limit-th
        # best rank in hand is below last / reach, or once everything within limit-th rank x
        # reach has been seen (docs/ranking.md). Listing the whole radius and sorting would
        # explode on dense clusters; this looks at about limit x (reach / typical divisor)^2
        # candidates, whatever the density.
        if limit <= 0:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float64)
        weights, index, expires = self.weights, self._index, self._expires
        reach = self._reach(now)
        size = len(index)
        bound, num, kth = radius_m, int(limit * _FIRST_BATCH) + 1, None
        while True:
            ids, distances = index.nearest(lat, lon, num, max_distance_m=bound, accept=accept)
            # Fewer than asked for: every accepted request within the bound is in hand.
            complete = ids.size < num or num >= size
            last = distances.item(-1) if ids.size else 0.0
            if accept is None:
                # As in nearby(): drop what expired since the last sweep; `last` stays the
                # bound, as everything up to it has been seen.
                live = expires[ids] > now
                if not live.all():
                    ids, distances = ids[live], distances[live]
            ranks = ranking.scores_np(
                distances, self._urgent[ids], now - self._created[ids], weights
            )
            # Candidates come nearest first, then by id, so a stable sort by rank is
            # ranking.order(): equal ranks nearest first, then by id.
            by_rank = np.argsort(ranks, kind="stable")
            if ranks.size >= limit:
                kth = ranks.item(by_rank.item(limit - 1))
            if complete:
                break
            estimate = 4 * num
            if kth is not None:
                if last / reach > kth:
                    break
                # Only requests within kth x reach can still make the list; the slack keeps
                # rounding from leaving out one at exactly that distance. The bound keeps the
                # next walk from looking further than it must.
                bound = min(bound, kth * reach * (1.0 + 1e-9))
                if last > 0:
                    estimate = ids.size * (bound / last) ** 2 * 1.25
            num = int(min(max(2 * num, estimate + limit), size))
        pick = by_rank[:limit]
        return ids[pick], distances[pick]

    def nearby_json(self, lat, lon, radius_m, limit, categories, now, sort=ranking.DEFAULT_SORT):
        """The nearby list as a JSON document (bytes), in the order of nearby()."""
        with self._lock:
            ids, distances = self.nearby(lat, lon, radius_m, limit, categories, now, sort)
            if not ids.size:
                return b'{"items":[]}'
            columns = (
                ids.tolist(),
                self._masks[ids].tolist(),
                self._text_at[ids].tolist(),
                self._text_len[ids].tolist(),
                self._households[ids].tolist(),
                self._urgent[ids].tolist(),
                self._approximate[ids].tolist(),
                self._public_lats[ids].tolist(),
                self._public_lons[ids].tolist(),
                self._created[ids].tolist(),
                round_distance_m_np(distances).tolist(),
            )
            text, category_json = self._text, self.bits.json
            items = [
                ITEM
                % (
                    id_,
                    category_json[mask],
                    text[at : at + length],
                    household,
                    URGENCY[urgent],
                    plat,
                    plon,
                    PRECISION[approximate],
                    *time.gmtime(created)[:6],
                    distance,
                )
                for (
                    id_,
                    mask,
                    at,
                    length,
                    household,
                    urgent,
                    approximate,
                    plat,
                    plon,
                    created,
                    distance,
                ) in zip(*columns)
            ]
        return b'{"items":[' + b",".join(items) + b"]}"

    def memory_bytes(self):
        """Bytes held by the list columns and the description arena (not the index)."""
        return sum(getattr(self, "_" + name).nbytes for name, _ in _COLUMNS) + len(self._text)

    def __len__(self):
        return len(self._index)

    @property
    def claimed_count(self):
        return len(self._claimed)
