"""PointIndex: exact great-circle kNN and radius queries over an Rtree of unit-sphere points."""

# Over 400 lines on purpose: one class whose query buffers, slot bookkeeping and C fast path
# (see docs/ARCHITECTURE.md, rtree) share invariants that splitting would scatter.
import ctypes
import math
import threading

import numpy as np
from rtree import finder as _rt_finder
from rtree import index as _rt_index
from rtree.exceptions import RTreeError

from .distance import (
    EARTH_RADIUS_M,
    check_distance,
    check_id,
    check_point,
    check_points,
    to_unit_xyz,
)

# Points are indexed as unit vectors in 3-D. Euclidean (chord) distance is a monotonic function of
# great-circle distance, so Rtree's exact Euclidean kNN is an exact great-circle kNN everywhere,
# including across the antimeridian and at the poles; no degree-space approximation is involved.

# Measured on 1 M clustered points (2 cores): 32-entry nodes make a k=50 walk ~30 % faster than
# the default 100 (fewer entries per visited node are deserialised and queued), for ~50 MB more
# RSS (175 vs 125 MB). 16-48 all perform alike; 8 is slower again.
_LEAF_CAPACITY = 32
_INDEX_CAPACITY = 32

# Slack on chord bounds so a point exactly at the radius is not lost to rounding in the tree;
# the exact distance filter afterwards decides.
_CHORD_REL_SLACK = 1e-9
_CHORD_ABS_SLACK = 1e-12

_TWO_R = 2.0 * EARTH_RADIUS_M

# The vectorised C entry points of libspatialindex, bound without argtypes or errcheck and called
# with prebuilt ctypes arguments: the public Index.nearest_v walks the same tree but adds ~11 us
# of argument preparation per call, +28 % on the read model's nearest-first p50 (measured on
# 1 M points; docs/ARCHITECTURE.md, "rtree"). rtree's public loader gives us a CDLL object of our
# own, so binding these without argtypes leaves rtree's bindings on its own copy untouched.
_lib = _rt_finder.load()
_knn_v = _lib.Index_NearestNeighbors_id_v
_knn_v.restype = ctypes.c_int
_isect_v = _lib.Index_Intersects_id_v
_isect_v.restype = ctypes.c_int
_last_error = _lib.Error_GetLastErrorMsg
_last_error.restype = ctypes.c_void_p  # a malloc'd string that we must free
_lib.Index_Free.restype = None
_ONE = ctypes.c_int64(1)
_DIM = ctypes.c_uint32(3)
_STRIDE_ROW = ctypes.c_uint64(3)
_STRIDE_COL = ctypes.c_uint64(1)


_OUT_SIZE = 4096

try:
    _malloc_trim = ctypes.CDLL("libc.so.6").malloc_trim
except (OSError, AttributeError):
    _malloc_trim = None


def _raise_rtree_error(name):
    ptr = _last_error()
    msg = ctypes.string_at(ptr).decode(errors="replace") if ptr else "unknown error"
    if ptr:
        _lib.Index_Free(ctypes.c_void_p(ptr))
    _lib.Error_Reset()
    raise RTreeError(f"{name} failed: {msg}")


def _handle_pointer(tree):
    """The libspatialindex index pointer behind tree's public handle, as a c_void_p."""
    # rtree's handle follows the ctypes argument protocol (rtree passes it to every C call), so
    # ctypes itself turns it into the pointer; no private attribute is read here.
    return ctypes.cast(tree.handle, ctypes.c_void_p)


def _properties():
    p = _rt_index.Property()
    p.dimension = 3
    p.leaf_capacity = _LEAF_CAPACITY
    p.index_capacity = _INDEX_CAPACITY
    return p


def _chord_bound(distance_m):
    """Chord length to ask the tree for, slightly padded; 4.0 (> any chord) for no bound."""
    if distance_m is None or distance_m >= math.pi * EARTH_RADIUS_M:
        return 4.0
    c = 2.0 * math.sin(distance_m / _TWO_R)
    return c * (1.0 + _CHORD_REL_SLACK) + _CHORD_ABS_SLACK


def _check_k(k):
    try:
        k = int(k.__index__())
    except (AttributeError, TypeError):
        raise ValueError(f"k must be an integer, got {k!r}") from None
    if k < 0:
        raise ValueError(f"k must be >= 0, got {k}")
    return k


class PointIndex:
    """Exact great-circle nearest-neighbour and radius search over caller int64 ids."""

    def __init__(self):
        """Create an empty index."""
        self._setup(
            ids=np.empty(0, dtype=np.int64),
            lats=np.empty(0, dtype=np.float64),
            lons=np.empty(0, dtype=np.float64),
            hxyz=np.empty((0, 3), dtype=np.float64),
            tree=_rt_index.Index(properties=_properties()),
        )

    def _setup(self, ids, lats, lons, hxyz, tree):
        # Every point lives in a slot; the Rtree stores slots, numpy arrays hold the per-slot data,
        # so a query turns tree hits into ids and distances with a few vectorised gathers.
        n = ids.size
        self._ids = ids
        self._lats = lats
        self._lons = lons
        # Half the unit vector: |p/2 - q/2| is the half-chord that arcsin wants, one numpy call
        # fewer per query; doubling it back is exact, which the tree's delete needs.
        self._hxyz = hxyz
        self._alive = np.ones(n, dtype=bool)
        self._size = n  # slots in use (alive or dead), <= capacity
        self._count = n  # live points
        # Bulk-loaded slots [0, _n_base) are in ascending id order, so id -> slot is a binary
        # search and costs no per-point Python objects (a dict of 1 M ints would be ~100 MB).
        # Later inserts of new ids go to _extra; their freed slots are recycled via _free.
        self._n_base = n
        self._extra = {}
        self._free = []
        self._tree = tree
        # One lock serialises tree access and guards the reused query buffers below.
        self._lock = threading.Lock()
        self._handle = _handle_pointer(tree)
        self._qbuf = np.empty(3, dtype=np.float64)
        self._qhi = np.empty(3, dtype=np.float64)
        self._dbuf = np.empty(1, dtype=np.float64)
        self._cbuf = np.empty(1, dtype=np.uint64)
        self._nr = ctypes.c_int64(0)
        self._qptr = ctypes.c_void_p(self._qbuf.ctypes.data)
        self._qhiptr = ctypes.c_void_p(self._qhi.ctypes.data)
        self._dptr = ctypes.c_void_p(self._dbuf.ctypes.data)
        self._cptr = ctypes.c_void_p(self._cbuf.ctypes.data)
        self._nrref = ctypes.byref(self._nr)
        # Result buffer for the common case; bigger answers use a one-off buffer so a single
        # huge query does not pin megabytes for the life of the index.
        self._obuf = np.empty(_OUT_SIZE, dtype=np.int64)
        self._optr = ctypes.c_void_p(self._obuf.ctypes.data)
        self._osize = ctypes.c_uint64(_OUT_SIZE)

    @classmethod
    def from_arrays(cls, ids, lats, lons):
        """Bulk-build an index from equal-length arrays of unique int64 ids and degrees."""
        ids = np.asarray(ids)
        if ids.dtype.kind not in "iu" and ids.size:  # [] arrives as float64
            raise ValueError("ids must be an integer array")
        if ids.dtype.kind == "u" and ids.size and ids.max() > np.iinfo(np.int64).max:
            raise ValueError("ids must fit in int64")
        ids = ids.astype(np.int64, copy=False).reshape(-1)
        lats, lons = check_points(lats, lons)
        if ids.size != lats.size:
            raise ValueError(f"ids and coordinates differ in length: {ids.size} != {lats.size}")
        if ids.size == 0:
            return cls()
        order = np.argsort(ids, kind="stable")
        ids = ids[order]
        if ids.size > 1 and not np.all(ids[1:] != ids[:-1]):
            dup = ids[1:][ids[1:] == ids[:-1]][0]
            raise ValueError(f"duplicate id {int(dup)}")
        lats = lats[order]
        lons = lons[order]
        del order
        xyz = to_unit_xyz(lats, lons)
        # Array bulk loading (libspatialindex >= 2.1) packs the tree in C: ~3x faster than a
        # Python generator stream and no per-point Python objects.
        tree = _rt_index.Index(
            (np.arange(ids.size, dtype=np.int64), xyz, xyz), properties=_properties()
        )
        xyz *= 0.5
        self = cls.__new__(cls)
        self._setup(ids=ids, lats=lats, lons=lons, hxyz=xyz, tree=tree)
        _trim_heap()
        return self

    # ---- id bookkeeping -------------------------------------------------------------------

    def _slot_of(self, id_):
        """Slot holding id_ (alive or a dead base slot that may be revived), or -1."""
        s = self._extra.get(id_)
        if s is not None:
            return s
        nb = self._n_base
        if nb:
            i = int(np.searchsorted(self._ids[:nb], id_))
            if i < nb and self._ids[i] == id_:
                return i
        return -1

    def _grow(self):
        cap = self._ids.size
        new_cap = max(16, cap + (cap >> 1))
        for name in ("_ids", "_lats", "_lons", "_alive"):
            old = getattr(self, name)
            new = np.zeros(new_cap, dtype=old.dtype)
            new[:cap] = old
            setattr(self, name, new)
        hxyz = np.zeros((new_cap, 3), dtype=np.float64)
        hxyz[:cap] = self._hxyz
        self._hxyz = hxyz

    def _tree_box(self, s):
        """The exact (x, y, z, x, y, z) box stored in the tree for slot s."""
        x, y, z = (self._hxyz[s] * 2.0).tolist()
        return (x, y, z, x, y, z)

    def __len__(self):
        """Number of points in the index."""
        return self._count

    def __contains__(self, id_):
        """True if id_ is in the index."""
        try:
            id_ = check_id(id_)
        except ValueError:
            return False
        with self._lock:
            s = self._slot_of(id_)
            return s >= 0 and bool(self._alive[s])

    def location(self, id_):
        """(lat, lon) in degrees of id_; KeyError if absent."""
        id_ = check_id(id_)
        with self._lock:
            s = self._slot_of(id_)
            if s < 0 or not self._alive[s]:
                raise KeyError(id_)
            return float(self._lats[s]), float(self._lons[s])

    def insert(self, id_, lat, lon):
        """Add id_ at (lat, lon), replacing its previous point if it is already present."""
        id_ = check_id(id_)
        lat, lon = check_point(lat, lon)
        xyz = to_unit_xyz(lat, lon)[0]
        with self._lock:
            s = self._slot_of(id_)
            if s >= 0:
                if self._alive[s]:
                    # The tree's delete matches the stored box exactly, hence the stored vector.
                    self._tree.delete(s, self._tree_box(s))
                else:
                    self._count += 1  # reviving a deleted base slot keeps the id order intact
            else:
                if self._free:
                    s = self._free.pop()
                else:
                    if self._size == self._ids.size:
                        self._grow()
                    s = self._size
                    self._size += 1
                self._extra[id_] = s
                self._ids[s] = id_
                self._count += 1
            self._lats[s] = lat
            self._lons[s] = lon
            self._hxyz[s] = xyz * 0.5
            self._alive[s] = True
            self._tree.insert(s, self._tree_box(s))

    def delete(self, id_):
        """Remove id_; True if it was present."""
        id_ = check_id(id_)
        with self._lock:
            s = self._slot_of(id_)
            if s < 0 or not self._alive[s]:
                return False
            self._tree.delete(s, self._tree_box(s))
            self._alive[s] = False
            self._count -= 1
            if s >= self._n_base:
                del self._extra[id_]
                self._free.append(s)
            return True

    # ---- queries ----------------------------------------------------------------------------

    def _hits(self, slots, hq, clamp):
        """(ids, metres) for tree slots, seen from the half unit vector hq."""
        ids = self._ids.take(slots)
        # take() on rows is ~3x cheaper than fancy indexing for a few dozen rows.
        g = self._hxyz.take(slots, axis=0)
        g -= hq
        g *= g
        d = g.sum(axis=1)
        np.sqrt(d, out=d)  # half-chord
        if clamp:
            # Rounding can lift a near-antipodal half-chord a hair above 1.
            np.minimum(d, 1.0, out=d)
        np.arcsin(d, out=d)
        d *= _TWO_R
        return ids, d

    def _knn(self, q, hq, num, bound):
        """(hits, ids, metres) of the num nearest within chord bound; ties at the last included."""
        with self._lock:
            if self._count == 0:
                return 0, *_empty()
            qb = self._qbuf
            qb[0], qb[1], qb[2] = q
            out, optr, osize = self._obuf, self._optr, self._osize
            if num >= out.size:
                out, optr, osize = _out_buffer(2 * num)
            num_c = ctypes.c_int64(num)
            nr = self._nr
            while True:
                self._dbuf[0] = bound  # in: max distance; out: distance of the last hit
                # The C side only writes the completed-query count on success; a stale 1 from
                # the previous call would pass a too-small buffer off as a full answer.
                nr.value = 0
                rc = _knn_v(
                    self._handle,
                    num_c,
                    _ONE,
                    _DIM,
                    osize,
                    _STRIDE_ROW,
                    _STRIDE_COL,
                    self._qptr,
                    self._qptr,
                    optr,
                    self._cptr,
                    self._dptr,
                    self._nrref,
                )
                if rc:
                    _raise_rtree_error("nearest")
                n = int(self._cbuf[0])
                if nr.value == 1:
                    # Gather under the lock so a concurrent delete cannot recycle a slot under us.
                    ids, d = self._hits(out[:n], hq, bound > 1.99)
                    return n, ids, d
                # Buffer too small (many equidistant points at the k-th distance): grow, retry.
                out, optr, osize = _out_buffer(max(2 * out.size, n + 1))

    def _box(self, q, hq, c):
        """(ids, metres) in the axis-aligned cube of half-side c around q (holds the chord ball)."""
        with self._lock:
            if self._count == 0:
                return _empty()
            lo = self._qbuf
            hi = self._qhi
            lo[0], lo[1], lo[2] = q[0] - c, q[1] - c, q[2] - c
            hi[0], hi[1], hi[2] = q[0] + c, q[1] + c, q[2] + c
            out, optr, osize = self._obuf, self._optr, self._osize
            nr = self._nr
            while True:
                nr.value = 0  # see _knn
                rc = _isect_v(
                    self._handle,
                    _ONE,
                    _DIM,
                    osize,
                    _STRIDE_ROW,
                    _STRIDE_COL,
                    self._qptr,
                    self._qhiptr,
                    optr,
                    self._cptr,
                    self._nrref,
                )
                if rc:
                    _raise_rtree_error("within")
                n = int(self._cbuf[0])
                if nr.value == 1:
                    return self._hits(out[:n], hq, c > 1.99)
                out, optr, osize = _out_buffer(max(2 * out.size, n + 1))

    def nearest(self, lat, lon, k, max_distance_m=None, accept=None):
        """The k nearest accepted (ids, metres) within max_distance_m, by distance then id."""
        # accept(int64 ids) -> bool mask is vectorised; when it rejects, the search widens until
        # k are accepted or it has passed max_distance_m or run out of points.
        lat, lon = check_point(lat, lon)
        k = _check_k(k)
        if max_distance_m is not None:
            max_distance_m = check_distance(max_distance_m, "max_distance_m")
        if k == 0:
            return _empty()
        q, hq = _query_vectors(lat, lon)
        bound = _chord_bound(max_distance_m)
        # With a filter, ask for some headroom so one that drops a few per cent does not cost a
        # second tree walk. Measured at k=50 on 1 M points: a 95 % filter went from 84 to 47 us;
        # each extra hit costs ~0.3 us, so the headroom stays small.
        num = k if accept is None else k + (k >> 3) + 4
        while True:
            got, ids, d = self._knn(q, hq, num, bound)
            # The tree answers in chord order, so only the tail can lie in the bound's slack;
            # one scalar look at the last hit usually saves the vectorised filter.
            passed_radius = False
            if max_distance_m is not None and got and d.item(-1) > max_distance_m - 1e-6:
                keep = d <= max_distance_m
                passed_radius = not keep.all()
                if passed_radius:
                    ids = ids[keep]
                    d = d[keep]
            if accept is None:
                break
            mask = np.asarray(accept(ids), dtype=bool)
            if mask.shape != ids.shape:
                raise ValueError("accept must return a bool mask of the same length as its input")
            if np.count_nonzero(mask) != ids.size:
                ids = ids[mask]
                d = d[mask]
            # Fewer hits than asked for means the tree ran out within the bound.
            if ids.size >= k or got < num or passed_radius or num >= self._count:
                break
            # Widen at least geometrically, more when the observed acceptance rate says so.
            est = (k * got) // ids.size + (k >> 2) + 4 if ids.size else num * 8
            num = min(max(num * 2, est), self._count)
        return _sorted_head(ids, d, k)

    def within(self, lat, lon, radius_m):
        """All (ids, metres) within radius_m great-circle metres, ascending by distance then id."""
        lat, lon = check_point(lat, lon)
        radius_m = check_distance(radius_m, "radius_m")
        q, hq = _query_vectors(lat, lon)
        ids, d = self._box(q, hq, _chord_bound(radius_m))
        keep = d <= radius_m
        if not keep.all():
            ids = ids[keep]
            d = d[keep]
        return _sorted_head(ids, d, ids.size)

    def __repr__(self):
        return f"<PointIndex {self._count} points>"


def _query_vectors(lat, lon):
    """(unit vector as a tuple, half of it as a float64 array) for (lat, lon) in degrees."""
    # Scalar math: numpy on one point costs ~4 us of call overhead for the same result.
    p = math.radians(lat)
    lam = math.radians(lon)
    c = math.cos(p)
    x, y, z = c * math.cos(lam), c * math.sin(lam), math.sin(p)
    return (x, y, z), np.array((0.5 * x, 0.5 * y, 0.5 * z))


def _empty():
    return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float64)


def _out_buffer(size):
    out = np.empty(size, dtype=np.int64)
    return out, ctypes.c_void_p(out.ctypes.data), ctypes.c_uint64(size)


def _trim_heap():
    """Give freed C heap back to the OS (glibc only)."""
    # Bulk loading leaves ~50 MB of freed sort buffers that glibc keeps mapped; measured on
    # 1 M points, RSS drops from +224 MB to +175 MB after malloc_trim.
    if _malloc_trim is not None:
        _malloc_trim(0)


def _sorted_head(ids, d, k):
    """The first k of (ids, d) ordered by distance then id."""
    n = ids.size
    if n > 1:
        # The tree usually hands them over already in order; checking is cheaper than sorting.
        if not (d[:-1] < d[1:]).all():
            order = np.lexsort((ids, d))
            ids = ids[order]
            d = d[order]
    if n > k:
        ids = ids[:k]
        d = d[:k]
    return ids, d
