"""A request's state at a moment (connect.requests.state): one table through every form.

Each case is a stored (status, lease end, expires_at), as offsets from now, and what users
see: the effective (status, expires_at). The same table runs through the Python form (on a
HelpRequest, and on plain values: datetimes, and seconds as the read model keeps them), the
numpy form (microseconds as the map snapshot keeps them, and seconds), the SQL form on
SQLite and PostGIS (status only: SQL never computes the reopened expires_at, it compares),
the console map's snapshot, and the nearby read model, loaded in bulk and catching up row by
row (listed while open, held while claimed, until the expiry it keeps).
"""

from datetime import datetime, timedelta

import numpy as np
import pytest
from flask import Flask
from sqlalchemy import select, update

from connect.changes import change_stamp
from connect.coordination.map.snapshot import RequestSnapshot, effective_status, micros
from connect.extensions import db
from connect.matching.open_requests import epoch
from connect.matching.readmodel import OpenRequestsReadModel
from connect.requests.models import HelpRequest
from connect.requests.state import (
    ACTIVE,
    CLOSED,
    CODES,
    STATUSES,
    effective_state,
    effective_state_np,
    effective_status_np,
)

from conftest import BAC_GIANG

S, H, D = timedelta(seconds=1), timedelta(hours=1), timedelta(days=1)
E = timedelta(hours=72)  # the expiry period: REQUEST_EXPIRY_SECONDS as the tests run
EXPIRY_S = int(E.total_seconds())
# stored status, lease end, expires_at -> effective status, expires_at (offsets from now)
CASES = [
    ("open", None, H, "open", H),
    ("open", None, 0 * S, "expired", 0 * S),  # expiring at now is expired (<=)
    ("open", None, -S, "expired", -S),
    ("claimed", S, H, "claimed", H),
    ("claimed", H, -H, "claimed", -H),  # a held claim does not expire
    ("claimed", 0 * S, H, "open", E),  # a lease lapses at its end (<=) ...
    ("claimed", -H, 2 * D, "open", E - H),  # ... for a full period from the lapse
    ("claimed", S - E, -D, "open", S),
    ("claimed", -E, -D, "expired", 0 * S),  # reopened, and expired since
    ("claimed", -E - H, H, "expired", -H),
    *[(status, None, -H, status, -H) for status in CLOSED],
]


def _words(offset):
    if offset is None:
        return "none"
    seconds = int(offset.total_seconds())
    return f"{seconds // 3600:+d}h" if seconds % 3600 == 0 else f"{seconds:+d}s"


IDS = [f"{case[0]}-lease{_words(case[1])}-expires{_words(case[2])}" for case in CASES]
NOW = datetime(2026, 11, 26, 8, 0, 0)


def _at(now, offset):
    return None if offset is None else now + offset


@pytest.fixture
def config():
    """An app context with the expiry period (the Python and SQL forms read it)."""
    app = Flask(__name__)
    app.config["REQUEST_EXPIRY_SECONDS"] = EXPIRY_S
    with app.app_context():
        yield


@pytest.mark.parametrize("status, lease, expires, want, want_expires", CASES, ids=IDS)
def test_the_python_form(config, status, lease, expires, want, want_expires):
    request = HelpRequest(
        status=status, lease_expires_at=_at(NOW, lease), expires_at=_at(NOW, expires)
    )
    assert request.state_at(NOW) == (want, NOW + want_expires)
    assert request.status_at(NOW) == want
    assert request.is_open_at(NOW) == (want == "open")
    assert request.is_claimed_at(NOW) == (want == "claimed")
    assert request.lease_lapsed(NOW) == (status == "claimed" and want != "claimed")
    assert request.past_expiry(NOW) == (status == "open" and want == "expired")
    # On plain values, as the read model applies one changed row: in seconds.
    seconds = [epoch(_at(NOW, offset)) for offset in (lease, expires, timedelta())]
    assert effective_state(status, *seconds, EXPIRY_S) == (want, epoch(NOW + want_expires))


@pytest.mark.parametrize(
    "unit, none", [(micros, np.iinfo(np.int64).min), (epoch, 0.0)], ids=["micros", "seconds"]
)
def test_the_numpy_form(unit, none):
    def times(offsets):
        return np.array([none if offset is None else unit(NOW + offset) for offset in offsets])

    stored = (
        np.array([CODES[case[0]] for case in CASES], np.uint8),
        times(case[1] for case in CASES),
        times(case[2] for case in CASES),
        unit(NOW),
        unit(NOW + E) - unit(NOW),
    )
    status, expires = effective_state_np(*stored)
    assert [STATUSES[code] for code in status] == [case[3] for case in CASES]
    assert expires.tolist() == times(case[4] for case in CASES).tolist()
    # The status alone, as the console map asks for it.
    assert effective_status_np(*stored).tolist() == status.tolist()


def test_the_sql_form_the_map_snapshot_and_the_read_model(app, post_request, clock):
    now = clock.value
    ids = [post_request(at=BAC_GIANG)["id"] for _ in CASES]
    with app.app_context():
        engine = db.engine
        assert app.config["REQUEST_EXPIRY_SECONDS"] == EXPIRY_S
        # A read model holding them all open, then catching up with each change row by row.
        catching_up = OpenRequestsReadModel(engine, sync_interval=0, expiry_seconds=EXPIRY_S)
        catching_up.ensure_fresh()
        for id_, (status, lease, expires, _, _) in zip(ids, CASES):
            db.session.execute(
                update(HelpRequest)
                .where(HelpRequest.id == id_)
                .values(
                    status=status,
                    lease_expires_at=_at(now, lease),
                    expires_at=_at(now, expires),
                    change_seq=change_stamp(db.session, HelpRequest.change_seq),
                )
            )
        db.session.commit()
        catching_up.ensure_fresh()
        loaded = OpenRequestsReadModel(engine, sync_interval=0, expiry_seconds=EXPIRY_S)
        loaded.ensure_fresh()

        r = HelpRequest
        sql = {
            row[0]: tuple(row[1:])
            for row in db.session.execute(
                select(
                    r.id,
                    r.status_at(now),
                    r.is_open_at(now),
                    r.is_claimed_at(now),
                    r.lease_lapsed(now),
                    r.past_expiry(now),
                ).where(r.id.in_(ids))
            )
        }
        columns = RequestSnapshot(engine).view()
        mapped = effective_status(
            columns, np.array(ids), micros(now), E // timedelta(microseconds=1)
        )
        db.session.remove()

    for id_, (status, _, _, want, _), code in zip(ids, CASES, mapped.tolist()):
        assert sql[id_] == (
            want,
            want == "open",
            want == "claimed",
            status == "claimed" and want != "claimed",
            status == "open" and want == "expired",
        ), (status, want)
        assert STATUSES[code] == want, (status, want)
    for model in (loaded, catching_up):
        requests = model.requests
        listed, _ = requests.nearby(*BAC_GIANG, 1000, 100, None, epoch(now), "distance")
        listed = set(listed.tolist())
        for id_, (status, lease, _, want, want_expires) in zip(ids, CASES):
            assert (id_ in listed) == (want == "open"), (status, want)
            assert (id_ in requests._claimed) == (want == "claimed"), (status, want)
            if want == "open":
                assert requests._expires[id_] == epoch(now + want_expires)
            if want == "claimed":
                # Held until the lease lapses, then open for a full period from the lapse.
                assert requests._claimed[id_][0] == epoch(now + lease)
                assert requests._expires[id_] == epoch(now + lease + E)
            if status not in ACTIVE:
                assert not requests._text_len[id_], "a closed request is not held"
