"""The nearby fast path answers plain queries exactly as Flask would, and leaves the rest to it."""

import gzip
import os
import time

import pytest

from tests.conftest import make_app, request_payload

NEARBY = "/api/v1/requests/nearby"
HERE = "lat=21.2731&lon=106.1946"

PLAIN_QUERIES = [
    HERE,
    "lat=21.273100&lon=106.194600",  # the load test's spelling
    "lon=106.1946&lat=21.2731",
    HERE + "&radius_m=1",
    HERE + "&radius_m=50000",
    HERE + "&radius_m=700",
    HERE + "&limit=1",
    HERE + "&limit=200",
    HERE + "&limit=3",
    HERE + "&categories=food",
    HERE + "&categories=food,medicine",
    HERE + "&categories=medical_advice,other,supplies",
    HERE + "&categories=food,food",
    HERE + "&sort=distance",
    HERE + "&sort=rank",
    "sort=distance&limit=2&categories=medicine,food&radius_m=3000&lon=106.19&lat=21.27",
    "lat=90&lon=180",
    "lat=-90&lon=-180",
    "lat=0&lon=0",
    "lat=-0.0&lon=-0",
    "lat=-21.2731&lon=-106.1946",
]

ODD_QUERIES = [
    "",
    "lat=21.2731",
    "lon=106.1946",
    "lat=nan&lon=106.1946",
    "lat=NaN&lon=106.1946",
    "lat=inf&lon=106.1946",
    "lat=21.2731&lon=-inf",
    "lat=1e400&lon=106.1946",
    "lat=2.12731e1&lon=106.1946",
    "lat=21.0abc&lon=106.1946",
    "lat=2_1.2731&lon=106.1946",
    "lat=+21.2731&lon=106.1946",
    "lat=%2021.2731&lon=106.1946",
    "lat=21.2731+&lon=106.1946",
    "lat=%D9%A2%D9%A1&lon=106.1946",  # Arabic-Indic digits: float() takes them
    "lat=21.27310000000000000001&lon=106.1946",
    "lat=021.2731&lon=106.1946",
    "lat=91&lon=106.1946",
    "lat=21.2731&lon=180.5",
    "lat=21.2731&lat=50&lon=106.1946",
    "lat=&lon=106.1946",
    HERE + "&radius_m=",
    HERE + "&radius_m=0",
    HERE + "&radius_m=50001",
    HERE + "&radius_m=2000.0",
    HERE + "&radius_m=1e3",
    HERE + "&radius_m=2000&radius_m=10",
    HERE + "&limit=0",
    HERE + "&limit=201",
    HERE + "&limit=5.0",
    HERE + "&limit=05",
    HERE + "&limit=-1",
    HERE + "&categories=",
    HERE + "&categories=food,,medicine",
    HERE + "&categories=food%2Cmedicine",
    HERE + "&categories=food&categories=medicine",
    HERE + "&categories=Food",
    HERE + "&categories=pets",
    HERE + "&sort=",
    HERE + "&sort=nearest",
    HERE + "&sort=DISTANCE",
    HERE + "&foo=1",
    HERE + "&lang=en",
    HERE + "&",
    HERE + "&&",
    HERE + ";limit=3",
    HERE + "&limit",
]


@pytest.fixture
def posted(app, client, clock):
    """Requests of every category and urgency around Bac Giang, on a frozen clock."""
    categories = (["food"], ["medicine"], ["food", "supplies"], ["medical_advice"], ["other"])
    for i in range(24):
        response = client.post(
            "/api/v1/requests",
            json=request_payload(
                at=(21.2731 + (i % 6) * 0.002, 106.1946 + (i // 6) * 0.002),
                categories=categories[i % len(categories)],
                urgency="urgent" if i % 4 == 0 else "normal",
            ),
        )
        assert response.status_code == 201, response.get_json()
        clock.advance(minutes=7)


@pytest.fixture
def flask_only(database_url):
    """The same database served with the fast path off: every answer is Flask's."""
    app = make_app(database_url, NEARBY_FAST_PATH=False)
    yield app
    from connect.extensions import db

    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def flask_views(app):
    """How many times Flask's own nearby view ran in the app with the fast path."""
    calls = []
    view = app.view_functions["requests.nearby"]

    def counted(*args, **kwargs):
        calls.append(1)
        return view(*args, **kwargs)

    app.view_functions["requests.nearby"] = counted
    return calls


def fast_path(app):
    return app.extensions["nearby_fast_path"]


def answer(response):
    """Status, headers (minus Date and X-Request-Id, new each time) and body: what must be
    the same."""
    return (
        response.status,
        [(k, v) for k, v in response.headers if k not in ("Date", "X-Request-Id")],
        response.get_data(),
    )


def test_plain_queries_get_flasks_exact_answer_from_the_fast_path(
    app, flask_only, posted, flask_views
):
    client, flask_client = app.test_client(), flask_only.test_client()
    learned = flask_client.get(f"{NEARBY}?{HERE}")
    # The first answer of each variant is Flask's, which teaches the headers: a full list
    # and one under COMPRESS_MIN_SIZE (Flask-Compress treats those apart).
    for query in (HERE, HERE + "&limit=1"):
        assert client.get(f"{NEARBY}?{query}").status_code == 200
    answered, views = fast_path(app).answered, len(flask_views)
    for query in PLAIN_QUERIES:
        expected = flask_client.get(f"{NEARBY}?{query}")
        assert expected.status_code == 200, (query, expected.get_json())
        assert answer(client.get(f"{NEARBY}?{query}")) == answer(expected), query
    assert fast_path(app).answered - answered == len(PLAIN_QUERIES)
    assert len(flask_views) == views, "Flask's view ran for a query the fast path should take"
    assert len(learned.get_json()["items"]) == 24


def test_lists_are_not_empty_so_the_comparison_means_something(app, posted):
    items = app.test_client().get(f"{NEARBY}?{HERE}&categories=food&sort=distance").get_json()
    assert len(items["items"]) >= 5
    assert all("food" in item["categories"] for item in items["items"])


def test_odd_or_invalid_queries_get_exactly_flasks_answer(app, flask_only, posted):
    client, flask_client = app.test_client(), flask_only.test_client()
    client.get(f"{NEARBY}?{HERE}")  # learned: a miss below is not for want of learning
    answered = fast_path(app).answered
    for query in ODD_QUERIES:
        expected = flask_client.get(f"{NEARBY}?{query}")
        assert answer(client.get(f"{NEARBY}?{query}")) == answer(expected), query
        assert fast_path(app).answered == answered, f"the fast path answered {query!r}"
        if expected.status_code != 200:
            assert expected.status_code == 422, query
            assert expected.get_json()["error"]["code"] == "validation_error"


def test_invalid_numbers_get_the_422_envelope_not_a_list(app, posted):
    client = app.test_client()
    for query in (
        "lat=nan&lon=106.1946",
        "lat=inf&lon=106.1946",
        "lat=1e400&lon=106.1946",
        "lat=21.0abc&lon=106.1946",
        HERE + "&limit=201",
        HERE + "&categories=pets",
    ):
        response = client.get(f"{NEARBY}?{query}")
        assert response.status_code == 422, query
        assert response.get_json()["error"]["code"] == "validation_error"


def test_a_request_with_a_cookie_is_left_to_flask(app, flask_only, posted, flask_views):
    client, flask_client = app.test_client(), flask_only.test_client()
    client.get(f"{NEARBY}?{HERE}")
    answered, views = fast_path(app).answered, len(flask_views)
    # The test client sends its own cookie jar as the Cookie header (it drops a hand-set one).
    for each in (client, flask_client):
        each.set_cookie("session", "anything")
    expected = flask_client.get(f"{NEARBY}?{HERE}")
    assert answer(client.get(f"{NEARBY}?{HERE}")) == answer(expected)
    assert fast_path(app).answered == answered and len(flask_views) == views + 1


@pytest.mark.parametrize(
    "headers",
    [
        {"If-None-Match": '"x"'},
        {"Range": "bytes=0-9"},
        {"If-Modified-Since": "Thu, 01 Jan 2026 00:00:00 GMT"},
    ],
)
def test_conditional_and_range_requests_are_left_to_flask(app, flask_only, posted, headers):
    client, flask_client = app.test_client(), flask_only.test_client()
    headers = {"Accept-Encoding": "gzip", **headers}
    client.get(f"{NEARBY}?{HERE}", headers={"Accept-Encoding": "gzip"})
    answered = fast_path(app).answered
    expected = flask_client.get(f"{NEARBY}?{HERE}", headers=headers)
    assert answer(client.get(f"{NEARBY}?{HERE}", headers=headers))[:2] == answer(expected)[:2]
    assert fast_path(app).answered == answered


def test_head_and_other_paths_are_left_to_flask(app, flask_only, posted):
    client, flask_client = app.test_client(), flask_only.test_client()
    client.get(f"{NEARBY}?{HERE}")
    answered = fast_path(app).answered
    assert answer(client.head(f"{NEARBY}?{HERE}")) == answer(flask_client.head(f"{NEARBY}?{HERE}"))
    for path in (f"{NEARBY}/?{HERE}", f"/api/v1/requests/map?{HERE}"):
        assert answer(client.get(path)) == answer(flask_client.get(path))
    assert answer(client.post(f"{NEARBY}?{HERE}", json={})) == answer(
        flask_client.post(f"{NEARBY}?{HERE}", json={})
    )
    assert fast_path(app).answered == answered


def _without_gzip_time(body):
    # Bytes 4-8 of a gzip member are its mtime: gzip.compress stamps the current second.
    return body[:4] + body[8:]


def test_gzip_answers_are_flask_compress_bytes(app, flask_only, posted):
    client, flask_client = app.test_client(), flask_only.test_client()
    headers = {"Accept-Encoding": "gzip"}
    query = f"{NEARBY}?{HERE}&radius_m=5000"
    client.get(query, headers=headers)
    answered = fast_path(app).answered
    fast, expected = client.get(query, headers=headers), flask_client.get(query, headers=headers)
    assert fast_path(app).answered == answered + 1
    assert fast.headers["Content-Encoding"] == "gzip" and "Date" in fast.headers
    status, headers_seen, body = answer(fast)
    assert (status, headers_seen) == answer(expected)[:2]
    assert _without_gzip_time(body) == _without_gzip_time(expected.get_data())
    assert gzip.decompress(body) == flask_client.get(query).get_data()


def test_a_small_list_under_gzip_is_sent_as_flask_sends_it(app, flask_only, posted):
    """Flask-Compress leaves bodies under COMPRESS_MIN_SIZE alone: a variant of its own."""
    client, flask_client = app.test_client(), flask_only.test_client()
    headers = {"Accept-Encoding": "gzip"}
    big, small = f"{NEARBY}?{HERE}", f"{NEARBY}?{HERE}&limit=1"
    client.get(big, headers=headers)
    client.get(small, headers=headers)
    answered = fast_path(app).answered
    for query in (small, big, small):
        fast = client.get(query, headers=headers)
        expected = flask_client.get(query, headers=headers)
        assert fast.headers.get("Content-Encoding") == expected.headers.get("Content-Encoding")
        assert answer(fast)[:2] == answer(expected)[:2]
    assert "Content-Encoding" not in client.get(small, headers=headers).headers
    assert fast_path(app).answered == answered + 4


def test_brotli_is_left_to_flask(app, flask_only, posted):
    client, flask_client = app.test_client(), flask_only.test_client()
    headers = {"Accept-Encoding": "br"}
    client.get(f"{NEARBY}?{HERE}", headers=headers)
    answered = fast_path(app).answered
    fast = client.get(f"{NEARBY}?{HERE}", headers=headers)
    assert answer(fast) == answer(flask_client.get(f"{NEARBY}?{HERE}", headers=headers))
    assert fast_path(app).answered == answered


def test_https_headers_are_learned_per_scheme(database_url, posted):
    """Talisman sends HSTS only over https and redirects plain http: both follow Flask."""
    on = make_app(database_url, FORCE_HTTPS=True)
    off = make_app(database_url, FORCE_HTTPS=True, NEARBY_FAST_PATH=False)
    for base, headers in (
        ("https://localhost", {}),
        ("http://localhost", {}),
        ("http://localhost", {"X-Forwarded-Proto": "https"}),
    ):
        for _ in range(2):
            got = on.test_client().get(f"{NEARBY}?{HERE}", base_url=base, headers=headers)
            want = off.test_client().get(f"{NEARBY}?{HERE}", base_url=base, headers=headers)
            assert answer(got) == answer(want), (base, headers)
    assert fast_path(on).answered == 2  # the second https and the forwarded-https one
    assert (
        "Strict-Transport-Security"
        in on.test_client().get(f"{NEARBY}?{HERE}", base_url="https://localhost").headers
    )


def test_the_switch_turns_the_fast_path_off(app, flask_only, monkeypatch, tmp_path):
    from connect.config import Config

    assert "nearby_fast_path" in app.extensions
    assert "nearby_fast_path" not in flask_only.extensions
    monkeypatch.delenv("NEARBY_FAST_PATH", raising=False)
    assert Config(str(tmp_path)).NEARBY_FAST_PATH is True
    monkeypatch.setenv("NEARBY_FAST_PATH", "0")
    assert Config(str(tmp_path)).NEARBY_FAST_PATH is False


@pytest.fixture
def database_away(request, backend):
    """A database of this test's own and a way to take it away (pooled connections too)."""
    if backend == "postgis":
        from pgcluster import TempPostgres

        from tests.conftest import _migrate

        cluster = TempPostgres().start()
        _migrate(cluster.url)
        yield cluster.url, lambda engines: cluster.stop_server("immediate")
        cluster.stop()
        return
    url = request.getfixturevalue("database_url")
    path = url.removeprefix("sqlite:///")

    def take_away(engines):
        # A new connection then opens an empty file: every read fails, as if it were gone.
        os.rename(path, path + ".away")
        for engine in engines:
            engine.dispose()

    yield url, take_away


def test_a_503_while_the_database_is_away_is_still_the_envelope(database_away):
    url, take_away = database_away
    on = make_app(url, READ_MODEL_MAX_STALENESS=0.3, READ_MODEL_SYNC_INTERVAL=0.05)
    off = make_app(
        url, READ_MODEL_MAX_STALENESS=0.3, READ_MODEL_SYNC_INTERVAL=0.05, NEARBY_FAST_PATH=False
    )
    client = on.test_client()
    assert client.post("/api/v1/requests", json=request_payload()).status_code == 201
    for app in (on, off):
        assert app.test_client().get(f"{NEARBY}?{HERE}").status_code == 200
    assert client.get(f"{NEARBY}?{HERE}").status_code == 200
    assert fast_path(on).answered == 1
    take_away([on.extensions["read_model"]._engine, off.extensions["read_model"]._engine])
    time.sleep(0.6)
    refused, expected = client.get(f"{NEARBY}?{HERE}"), off.test_client().get(f"{NEARBY}?{HERE}")
    assert refused.status_code == 503
    assert refused.get_json()["error"]["code"] == "database_unavailable"
    assert refused.headers["Retry-After"] == "2"
    assert answer(refused) == answer(expected)
    assert fast_path(on).answered == 1
