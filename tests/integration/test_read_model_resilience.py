"""The read model never serves stale data silently for long when the database goes away."""

import time

import pytest

from tests.conftest import _migrate, make_app, request_payload

NEARBY = "/api/v1/requests/nearby?lat=21.2731&lon=106.1946"


@pytest.fixture
def own_postgres():
    """A PostgreSQL cluster of this test's own, so stopping it disturbs no other test."""
    from pgcluster import TempPostgres

    cluster = TempPostgres().start()
    _migrate(cluster.url)
    yield cluster
    cluster.stop()


def test_nearby_answers_503_after_the_staleness_limit_and_recovers(own_postgres):
    """Database away: stale answers for at most max staleness, then 503; back: fresh again."""
    app = make_app(own_postgres.url, READ_MODEL_MAX_STALENESS=1.0, READ_MODEL_SYNC_INTERVAL=0.05)
    client = app.test_client()
    posted = client.post("/api/v1/requests", json=request_payload()).get_json()
    assert [i["id"] for i in client.get(NEARBY).get_json()["items"]] == [posted["id"]]

    own_postgres.stop_server("immediate")
    stopped = time.monotonic()
    statuses = []
    while time.monotonic() - stopped < 4.0:
        response = client.get(NEARBY)
        statuses.append((time.monotonic() - stopped, response.status_code))
        if response.status_code == 503:
            body = response.get_json()
            assert body["error"]["code"] == "database_unavailable"
            assert response.headers["Retry-After"]
            break
        time.sleep(0.05)
    # Stale answers from memory at first, then 503 once past the 1 s limit (with slack for
    # a loaded machine), never an old list for seconds on end.
    first_503 = next(t for t, status in statuses if status == 503)
    assert 0.8 <= first_503 <= 2.0, statuses
    assert statuses[0][1] == 200 and all(s == 200 for t, s in statuses if t < 0.7), statuses

    # Writes while the database is away fail cleanly, in the envelope.
    refused = client.post("/api/v1/requests", json=request_payload())
    assert refused.status_code == 503
    assert refused.get_json()["error"]["code"] == "database_unavailable"

    own_postgres.start_server()
    deadline = time.monotonic() + 10
    while client.get(NEARBY).status_code != 200:
        assert time.monotonic() < deadline, "did not recover within 10 s"
        time.sleep(0.1)
    second = client.post("/api/v1/requests", json=request_payload(at=(21.2735, 106.1946)))
    assert second.status_code == 201
    ids = [i["id"] for i in client.get(NEARBY).get_json()["items"]]
    assert ids == [posted["id"], second.get_json()["id"]]
