"""The per-process read model of open help requests: kept in step with the database.

``OpenRequests`` holds the data; this class decides when to catch up. The model loads in
bulk on first use and, before answering, reads every request changed since its watermark
(see ``changes``): at once after this process committed a change to a request, otherwise
at most every ``sync_interval`` seconds. If the database cannot be reached it answers from
memory for at most ``max_staleness`` seconds, then refuses with 503.
"""

import logging
import threading
import time

from sqlalchemy import Text, cast, func, select

from connect import clock, metrics
from connect.changes import read_watermark
from connect.errors import ServiceUnavailable, note_unavailable
from connect.geo import ranking
from connect.matching.open_requests import OpenRequests, epoch
from connect.requests.models import HelpRequest
from connect.requests.state import ACTIVE

log = logging.getLogger(__name__)


def _columns():
    """The columns of a row, in ``open_requests.ROW_FIELDS`` order."""
    r = HelpRequest
    return (
        r.id,
        r.status,
        cast(r.categories, Text),
        r.description,
        r.household_size,
        r.urgency,
        func.ST_Y(r.location),
        func.ST_X(r.location),
        func.ST_Y(r.public_location),
        func.ST_X(r.public_location),
        r.created_at,
        r.expires_at,
        r.lease_expires_at,
        r.location_precision,
    )


def _now():
    return epoch(clock.now())


class OpenRequestsReadModel:
    """Nearby open requests from memory, consistent with the database (see module doc)."""

    def __init__(
        self,
        engine,
        sync_interval=0.2,
        max_staleness=3.0,
        expiry_seconds=72 * 3600,
        rank_weights=None,
    ):
        self._engine = engine
        self.sync_interval = sync_interval
        self.max_staleness = max_staleness
        self.requests = OpenRequests(expiry_seconds, rank_weights)
        self._lock = threading.Lock()
        self._loaded = False
        self._watermark = 0
        self._last_sync = 0.0
        self._last_attempt = 0.0
        self._write_generation = 0
        self._synced_generation = 0

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
            if (
                self._loaded
                and self._synced_generation >= wanted
                and now - self._last_attempt < self.sync_interval / 2
            ):
                # The last attempt failed moments ago: do not hammer a database that is away.
                return self._check_staleness(now)
            self._last_attempt = now
            generation = self._write_generation
            try:
                self._sync()
            except Exception as exc:  # any database failure: serve from memory for a while
                log.warning("read model could not catch up: %s", exc)
                metrics.read_model_catch_up_failed()
                return self._check_staleness(time.monotonic())
            self._synced_generation = generation
            self._last_sync = time.monotonic()

    def _fresh(self, wanted):
        return (
            self._loaded
            and self._synced_generation >= wanted
            and time.monotonic() - self._last_sync < self.sync_interval
        )

    def _check_staleness(self, now):
        if not self._loaded or now - self._last_sync > self.max_staleness:
            note_unavailable("read_model_stale")
            raise ServiceUnavailable(
                "Nearby requests are briefly unavailable. Try again in a few seconds.",
                code="database_unavailable",
                headers={"Retry-After": "2"},
            )

    def _sync(self):
        started = time.perf_counter()
        with self._engine.connect().execution_options(readonly=True) as conn:
            watermark = read_watermark(conn, HelpRequest.change_seq)
            query = select(*_columns())
            if self._loaded:
                query = query.where(HelpRequest.change_seq >= self._watermark)
            else:
                query = query.where(HelpRequest.status.in_(ACTIVE))
            rows = conn.execute(query).all()
        now = _now()
        kind = "changes" if self._loaded else "load"
        if self._loaded:
            for row in rows:
                self.requests.apply(tuple(row), now)
        else:
            self.requests.load(rows, now)
            self._loaded = True
            log.info(
                "read model loaded %d requests in %.2f s", len(rows), time.perf_counter() - started
            )
        self._watermark = watermark
        self.requests.reopen_lapsed(now)
        metrics.read_model_caught_up(time.perf_counter() - started, kind)

    def nearby_json(self, lat, lon, radius_m, limit, categories=None, sort=ranking.DEFAULT_SORT):
        """The nearby list as a JSON document (bytes): fair rank first, or sort="distance"."""
        self.ensure_fresh()
        return self.requests.nearby_json(lat, lon, radius_m, limit, categories, _now(), sort)

    def __len__(self):
        return len(self.requests)

    def staleness(self):
        """Seconds since the model last caught up with the database; None before it loaded."""
        return time.monotonic() - self._last_sync if self._loaded else None

    def stats(self):
        return {
            "open_indexed": len(self.requests),
            "claimed": self.requests.claimed_count,
            "watermark": self._watermark,
            "last_sync_age_s": time.monotonic() - self._last_sync,
        }
