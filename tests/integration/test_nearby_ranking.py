"""Fair ranking through the API and the volunteer's needs page: `sort=rank` (the default) and
`sort=distance`, on both databases."""

from datetime import timedelta

from test_volunteer_pages import assert_page, need_ids, shifted, volunteer

from conftest import BAC_GIANG, make_app, request_payload

API = "/api/v1/requests"


def nearby_ids(client, **params):
    response = client.get(
        f"{API}/nearby", query_string={"lat": BAC_GIANG[0], "lon": BAC_GIANG[1], **params}
    )
    assert response.status_code == 200, response.get_json()
    return [item["id"] for item in response.get_json()["items"]]


def post_at(client, clock, hours_ago, **overrides):
    """Post a request as if hours_ago before the clock's present, then come back to now."""
    now = clock()
    clock.set(now - timedelta(hours=hours_ago))
    response = client.post(API, json=request_payload(**overrides))
    clock.set(now)
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"]


def test_nearby_ranks_an_old_urgent_need_above_a_fresh_one_nearer(client, clock):
    """The issue's promise: urgent, waiting 20 h at 1.5 km before normal, 1 min at 300 m."""
    old_urgent = post_at(client, clock, 20, urgency="urgent", at=shifted(BAC_GIANG, north_m=1500))
    fresh = post_at(client, clock, 1 / 60, at=shifted(BAC_GIANG, east_m=300))
    assert nearby_ids(client) == [old_urgent, fresh]
    assert nearby_ids(client, sort="rank") == [old_urgent, fresh]
    assert nearby_ids(client, sort="distance") == [fresh, old_urgent]
    assert nearby_ids(client, sort="distance", limit=1) == [fresh]
    assert nearby_ids(client, limit=1) == [old_urgent]


def test_nearby_among_equals_keeps_plain_distance_order(client, clock):
    posted = [
        post_at(client, clock, 3, at=shifted(BAC_GIANG, north_m=150 * (i + 1))) for i in range(6)
    ]
    assert nearby_ids(client) == posted == nearby_ids(client, sort="distance")


def test_nearby_items_are_the_same_in_both_sorts(client, clock):
    """Only the order changes: the same fields, the same rounded distance; no score leaks."""
    post_at(client, clock, 20, urgency="urgent", at=shifted(BAC_GIANG, north_m=1500))
    post_at(client, clock, 0, at=shifted(BAC_GIANG, east_m=300))
    query = {"lat": BAC_GIANG[0], "lon": BAC_GIANG[1]}
    ranked = client.get(f"{API}/nearby", query_string=query).get_json()["items"]
    nearest = client.get(f"{API}/nearby", query_string={**query, "sort": "distance"}).get_json()[
        "items"
    ]
    assert ranked == nearest[::-1]
    assert [item["distance_m"] for item in ranked] == [1500, 300]


def test_nearby_sort_must_be_rank_or_distance(client):
    for bad in ("age", "", "Distance", "rank,distance"):
        response = client.get(
            f"{API}/nearby", query_string={"lat": BAC_GIANG[0], "lon": BAC_GIANG[1], "sort": bad}
        )
        body = response.get_json()
        assert response.status_code == 422, body
        assert set(body) == {"error"} and body["error"]["code"] == "validation_error"
        assert "sort" in body["error"]["details"]["fields"]


def test_nearby_ranking_weights_come_from_the_settings(database_url, clock):
    """With urgency and waiting weighted 0, the ranked list is the nearest-first list."""
    app = make_app(database_url, RANK_URGENT_WEIGHT=0.0, RANK_WAIT_WEIGHT_PER_HOUR=0.0)
    client = app.test_client()
    try:
        old_urgent = post_at(
            client, clock, 20, urgency="urgent", at=shifted(BAC_GIANG, north_m=1500)
        )
        fresh = post_at(client, clock, 0, at=shifted(BAC_GIANG, east_m=300))
        assert nearby_ids(client) == [fresh, old_urgent]
    finally:
        from connect.extensions import db

        with app.app_context():
            db.session.remove()
            db.engine.dispose()


def test_volunteer_needs_page_uses_the_fair_ranking(app, client, clock):
    old_urgent = post_at(client, clock, 20, urgency="urgent", at=shifted(BAC_GIANG, north_m=1500))
    fresh = post_at(client, clock, 0, at=shifted(BAC_GIANG, east_m=300))
    phone = volunteer(app, radius_m="2000")
    page = phone.get("/volunteer/needs")
    assert_page(page)
    assert need_ids(page) == [old_urgent, fresh]
