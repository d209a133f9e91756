"""GET /api/v1/console/map: the coordinator console's map layers, on both databases.

Requests in the caller's areas, filtered, counted on a grid by zoom (or as exact points when
few or close), a heat layer of unmet need weighted by waiting, and on-duty volunteers with
their free capacity; coordinators of another area see none of it.
"""

import pytest

from connect.coordination.map import data as mapdata

from conftest import BAC_GIANG, LUC_NAM

API = "/api/v1"
MAP = f"{API}/console/map"
PROVINCE = "105.50,20.90,107.50,21.80"  # Bắc Giang and Hà Nội's east side
HANOI = (21.0285, 105.8542)  # in no demo area
NEAR_CITY = (21.2790, 106.2010)  # another point of Bắc Giang city, ~0.9 km away
POINT_KEYS = {
    "id",
    "lat",
    "lon",
    "status",
    "categories",
    "urgency",
    "created_at",
    "description",
    "household_size",
}
CLUSTER_KEYS = {"lat", "lon", "count", "by_status", "urgent", "oldest_created_at"}


def layers(client, headers, bbox=PROVINCE, zoom=9, **params):
    response = client.get(
        MAP, headers=headers, query_string={"bbox": bbox, "zoom": zoom, **params}
    )
    assert response.status_code == 200, response.get_data(as_text=True)[:400]
    body = response.get_json()
    assert set(body) == {
        "zoom",
        "cell_deg",
        "total",
        "clusters",
        "points",
        "heat",
        "heat_max",
        "volunteers",
    }
    return body


def point_ids(body):
    return {point["id"] for point in body["points"]}


def act(client, posted, action, headers):
    response = client.post(f"{API}/requests/{posted['id']}/{action}", headers=headers)
    assert response.status_code == 200, response.get_json()


@pytest.fixture
def cluster_always(monkeypatch):
    """Clusters from the first request on (the points threshold is otherwise 500)."""
    monkeypatch.setattr(mapdata, "POINTS_MAX", 0)


# -- who sees what ----------------------------------------------------------------------


def test_a_coordinator_sees_the_requests_of_their_area_only(client, create_staff, post_request):
    city = [post_request(at=BAC_GIANG)["id"], post_request(at=NEAR_CITY)["id"]]
    luc_nam = post_request(at=LUC_NAM)["id"]
    post_request(at=HANOI)
    province = layers(client, create_staff(areas=("24",)))
    assert province["total"] == 3
    assert point_ids(province) == {*city, luc_nam}
    assert point_ids(layers(client, create_staff(areas=("24-213",)))) == set(city)
    # A coordinator of Lục Nam only never sees the city's requests.
    other = layers(client, create_staff(areas=("24-220",)))
    assert other["total"] == 1 and point_ids(other) == {luc_nam}


def test_a_coordinator_of_another_area_gets_no_counts_from_clusters_either(
    client, create_staff, post_request, cluster_always
):
    for _ in range(3):
        post_request(at=BAC_GIANG)
    body = layers(client, create_staff(areas=("24-220",)))
    assert body["total"] == 0 and body["clusters"] == [] and body["heat"] == []


def test_an_admin_sees_every_request_even_outside_all_areas(client, create_staff, post_request):
    ids = {post_request(at=at)["id"] for at in (BAC_GIANG, LUC_NAM, HANOI)}
    body = layers(client, create_staff(role="admin", areas=()))
    assert body["total"] == 3 and point_ids(body) == ids


@pytest.mark.parametrize("who", ["resident", "volunteer"])
def test_residents_and_volunteers_are_refused(client, create_user, create_volunteer, who):
    headers = create_user()[1] if who == "resident" else create_volunteer()
    response = client.get(MAP, headers=headers, query_string={"bbox": PROVINCE, "zoom": 9})
    assert response.status_code == 403
    assert response.get_json()["error"]["code"] == "not_coordinator"


def test_without_a_token_it_answers_401(client):
    response = client.get(MAP, query_string={"bbox": PROVINCE, "zoom": 9})
    assert response.status_code == 401
    assert set(response.get_json()["error"]) == {"code", "message", "details"}


def test_the_session_cookie_of_a_coordinator_works_for_the_pages_script(
    app, client, create_staff, post_request
):
    from connect.accounts.models import User
    from connect.extensions import db

    posted = post_request(at=BAC_GIANG)
    me = client.get(f"{API}/auth/me", headers=create_staff()).get_json()
    with app.app_context():
        stamp = db.session.get(User, me["id"]).password_hash[-16:]
    browser = app.test_client()
    with browser.session_transaction() as session:
        session["user_id"], session["auth_stamp"] = me["id"], stamp
    assert point_ids(layers(browser, {})) == {posted["id"]}


def test_an_area_filter_outside_the_callers_areas_is_refused(client, create_staff):
    response = client.get(
        MAP,
        headers=create_staff(areas=("24-220",)),
        query_string={"bbox": PROVINCE, "zoom": 9, "area": "24-213"},
    )
    assert response.status_code == 403
    assert response.get_json()["error"]["code"] == "not_coordinator"


# -- clusters and points ----------------------------------------------------------------


def test_clusters_sum_to_the_total_and_sit_on_their_requests(
    client, create_staff, post_request, cluster_always
):
    for at in (BAC_GIANG, NEAR_CITY, LUC_NAM):
        post_request(at=at)
    post_request(at=BAC_GIANG, urgency="urgent")
    body = layers(client, create_staff(), zoom=10)
    assert body["points"] == [] and body["total"] == 4
    assert body["cell_deg"] == pytest.approx(360 / 2**10 / 256 * 60)
    assert sum(cluster["count"] for cluster in body["clusters"]) == 4
    assert all(set(cluster) == CLUSTER_KEYS for cluster in body["clusters"])
    # At zoom 10 a cell is ~0.08°: the city's three share one, Lục Nam has its own.
    city = max(body["clusters"], key=lambda cluster: cluster["count"])
    assert city["count"] == 3 and city["urgent"] == 1 and city["by_status"] == {"open": 3}
    assert city["lat"] == round((2 * BAC_GIANG[0] + NEAR_CITY[0]) / 3, 5)
    assert city["lon"] == round((2 * BAC_GIANG[1] + NEAR_CITY[1]) / 3, 5)
    luc_nam = min(body["clusters"], key=lambda cluster: cluster["count"])
    assert (luc_nam["lat"], luc_nam["lon"], luc_nam["count"]) == (*LUC_NAM, 1)


def test_clusters_count_by_effective_status_and_keep_the_oldest_time(
    client, create_staff, create_volunteer, post_request, cluster_always, clock
):
    first = post_request(at=BAC_GIANG)
    clock.advance(hours=2)
    claimed = post_request(at=NEAR_CITY)
    act(client, claimed, "claim", create_volunteer())
    body = layers(client, create_staff(), zoom=10)
    (cluster,) = body["clusters"]
    assert cluster["by_status"] == {"open": 1, "claimed": 1}
    assert cluster["oldest_created_at"] == first["created_at"]
    # A lapsed lease makes the claimed request open again on the map.
    clock.advance(hours=5)
    (cluster,) = layers(client, create_staff(), zoom=10)["clusters"]
    assert cluster["by_status"] == {"open": 2}


def test_at_street_zoom_requests_come_as_exact_points_with_ids(
    client, create_staff, post_request, cluster_always
):
    posted = post_request(at=BAC_GIANG, categories=["food", "medicine"], urgency="urgent")
    headers = create_staff()
    assert layers(client, headers, zoom=15)["points"] == []
    body = layers(client, headers, zoom=16)
    assert body["clusters"] == [] and body["cell_deg"] is None and body["total"] == 1
    (point,) = body["points"]
    assert set(point) == POINT_KEYS
    assert point == {
        "id": posted["id"],
        "lat": pytest.approx(BAC_GIANG[0], abs=1e-9),
        "lon": pytest.approx(BAC_GIANG[1], abs=1e-9),
        "status": "open",
        "categories": ["food", "medicine"],
        "urgency": "urgent",
        "created_at": posted["created_at"],
        "description": posted["description"],
        "household_size": posted["household_size"],
    }


def test_only_requests_inside_the_box_are_counted(client, create_staff, post_request):
    inside = post_request(at=BAC_GIANG)["id"]
    post_request(at=LUC_NAM)
    body = layers(client, create_staff(), bbox="106.10,21.20,106.30,21.35", zoom=12)
    assert body["total"] == 1 and point_ids(body) == {inside}


# -- filters -------------------------------------------------------------------------------


def test_by_default_live_and_lately_finished_requests_are_shown(
    client, create_staff, create_volunteer, post_request, clock
):
    open_ = post_request(at=BAC_GIANG)
    claimed = post_request(at=BAC_GIANG)
    helped = post_request(at=BAC_GIANG)
    cancelled = post_request(at=BAC_GIANG)
    helper = create_volunteer(capacity=1)
    act(client, helped, "claim", helper)
    act(client, helped, "helped", helper)
    act(client, claimed, "claim", create_volunteer())
    assert (
        client.post(
            f"{API}/requests/{cancelled['id']}/cancel",
            headers={"X-Manage-Token": cancelled["manage_token"]},
        ).status_code
        == 200
    )
    headers = create_staff()
    assert point_ids(layers(client, headers)) == {open_["id"], claimed["id"], helped["id"]}
    clock.advance(days=8)  # the helped one is past the week; the others have expired
    assert layers(client, headers)["total"] == 0
    assert point_ids(layers(client, headers, status="helped,cancelled")) == {
        helped["id"],
        cancelled["id"],
    }


def test_filters_by_status_category_urgency_age_and_area(
    client, create_staff, create_volunteer, post_request, clock
):
    old_food = post_request(at=BAC_GIANG, categories=["food"])
    clock.advance(hours=10)
    medicine = post_request(at=LUC_NAM, categories=["medicine", "other"], urgency="urgent")
    clock.advance(hours=2)
    advice = post_request(at=NEAR_CITY, categories=["medical_advice"])
    act(client, advice, "claim", create_volunteer())
    headers = create_staff()

    def ids(**params):
        return point_ids(layers(client, headers, **params))

    assert ids() == {old_food["id"], medicine["id"], advice["id"]}
    assert ids(status="open") == {old_food["id"], medicine["id"]}
    assert ids(status="claimed") == {advice["id"]}
    # "medicine" must not match inside "medical_advice".
    assert ids(category="medicine") == {medicine["id"]}
    assert ids(category="food,medical_advice") == {old_food["id"], advice["id"]}
    assert ids(urgency="urgent") == {medicine["id"]}
    assert ids(min_age_hours=5) == {old_food["id"]}  # 12 h; the others 2 h and 0 h
    assert ids(max_age_hours=3) == {medicine["id"], advice["id"]}
    assert ids(min_age_hours=1, max_age_hours=3) == {medicine["id"]}
    assert ids(area="24-220") == {medicine["id"]}
    assert ids(area="24-213", status="open") == {old_food["id"]}


def test_status_filters_follow_lapsed_leases_and_expiry_like_the_effective_status(
    client, create_staff, create_volunteer, post_request, clock
):
    stale = post_request(at=BAC_GIANG)  # never claimed: expired after 72 h
    dropped = post_request(at=BAC_GIANG)  # its lease lapsed long ago: expired
    act(client, dropped, "claim", create_volunteer())
    clock.advance(hours=70)
    lapsed = post_request(at=BAC_GIANG)  # its lease lapsed 6 h ago: open again
    act(client, lapsed, "claim", create_volunteer())
    clock.advance(hours=10)
    held = post_request(at=BAC_GIANG)
    act(client, held, "claim", create_volunteer())
    fresh = post_request(at=BAC_GIANG)
    headers = create_staff()

    def ids(**params):
        return point_ids(layers(client, headers, **params))

    assert ids(status="open") == {lapsed["id"], fresh["id"]}
    assert ids(status="claimed") == {held["id"]}
    assert ids(status="expired") == {stale["id"], dropped["id"]}
    assert ids() == {lapsed["id"], fresh["id"], held["id"]}
    statuses = {
        p["id"]: p["status"] for p in layers(client, headers, status="open,expired")["points"]
    }
    assert statuses == {
        lapsed["id"]: "open",
        fresh["id"]: "open",
        stale["id"]: "expired",
        dropped["id"]: "expired",
    }


# -- heat ----------------------------------------------------------------------------------


def test_heat_weighs_open_requests_by_how_long_they_have_waited(
    client, create_staff, create_volunteer, post_request, clock
):
    post_request(at=BAC_GIANG)
    clock.advance(hours=24)
    post_request(at=NEAR_CITY)
    post_request(at=LUC_NAM)
    claimed = post_request(at=LUC_NAM)
    clock.advance(hours=12)
    act(client, claimed, "claim", create_volunteer())
    body = layers(client, create_staff(), zoom=9)
    # Waited 36 h and 12 h in the city cell, 12 h in Lục Nam; the claimed one weighs nothing.
    heat = sorted(body["heat"], key=lambda cell: -cell[2])
    assert len(heat) == 2
    assert heat[0][2] == pytest.approx(36 / 72 + 12 / 72, abs=1e-3)
    assert heat[0][:2] == [
        round((BAC_GIANG[0] + NEAR_CITY[0]) / 2, 5),
        round((BAC_GIANG[1] + NEAR_CITY[1]) / 2, 5),
    ]
    assert heat[1] == [LUC_NAM[0], LUC_NAM[1], pytest.approx(12 / 72, abs=1e-3)]
    assert body["heat_max"] == pytest.approx(heat[0][2])


def test_heat_is_empty_when_nothing_is_open(client, create_staff, create_volunteer, post_request):
    act(client, post_request(at=BAC_GIANG), "claim", create_volunteer())
    body = layers(client, create_staff())
    assert body["total"] == 1 and body["heat"] == [] and body["heat_max"] == 0


# -- volunteers ------------------------------------------------------------------------------


def test_volunteers_layer_counts_on_duty_volunteers_with_their_free_capacity(
    client, create_staff, create_volunteer, post_request
):
    busy = create_volunteer(at=BAC_GIANG, capacity=3)
    create_volunteer(at=NEAR_CITY, capacity=3)  # new: one claim until they have helped
    off = create_volunteer(at=BAC_GIANG)
    assert (
        client.put(
            f"{API}/volunteers/me",
            headers=off,
            json={
                "location": {"lat": BAC_GIANG[0], "lon": BAC_GIANG[1]},
                "radius_m": 5000,
                "categories": ["food"],
                "on_duty": False,
                "capacity": 1,
            },
        ).status_code
        == 200
    )
    create_volunteer(at=LUC_NAM, capacity=2)
    act(client, post_request(at=BAC_GIANG), "claim", busy)
    city = layers(client, create_staff(areas=("24-213",)), zoom=10)["volunteers"]
    assert city == [
        {
            "lat": round((BAC_GIANG[0] + NEAR_CITY[0]) / 2, 5),
            "lon": round((BAC_GIANG[1] + NEAR_CITY[1]) / 2, 5),
            "count": 2,
            "free": 1,
        }
    ]
    province = layers(client, create_staff(areas=("24",)), zoom=10)["volunteers"]
    assert sorted((cell["count"], cell["free"]) for cell in province) == [(1, 1), (2, 1)]
    assert layers(client, create_staff(areas=("24",)), zoom=10, area="24-220")["volunteers"] == [
        {"lat": LUC_NAM[0], "lon": LUC_NAM[1], "count": 1, "free": 1}
    ]


def test_a_volunteer_who_has_helped_counts_their_whole_capacity(
    client, create_staff, create_volunteer, post_request
):
    proven = create_volunteer(at=BAC_GIANG, capacity=3)
    done = post_request(at=BAC_GIANG)
    act(client, done, "claim", proven)
    act(client, done, "helped", proven)
    act(client, post_request(at=BAC_GIANG), "claim", proven)
    (cell,) = layers(client, create_staff(), zoom=10)["volunteers"]
    assert (cell["count"], cell["free"]) == (1, 2)


# -- validation ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "query, field",
    [
        ({"zoom": 9}, "bbox"),
        ({"bbox": PROVINCE}, "zoom"),
        ({"bbox": "105,20,112,22", "zoom": 9}, "bbox"),  # 7 degrees wide
        ({"bbox": "106.3,21.2,106.1,21.3", "zoom": 9}, "bbox"),  # min past max
        ({"bbox": "a,b,c,d", "zoom": 9}, "bbox"),
        ({"bbox": PROVINCE, "zoom": 21}, "zoom"),
        ({"bbox": PROVINCE, "zoom": "far"}, "zoom"),
        ({"bbox": PROVINCE, "zoom": 9, "status": "lost"}, "status"),
        ({"bbox": PROVINCE, "zoom": 9, "max_age_hours": -1}, "max_age_hours"),
    ],
)
def test_a_bad_box_zoom_or_filter_is_a_422_envelope(client, create_staff, query, field):
    response = client.get(MAP, headers=create_staff(), query_string=query)
    assert response.status_code == 422, response.get_data(as_text=True)[:300]
    error = response.get_json()["error"]
    assert set(error) == {"code", "message", "details"}
    assert error["code"] == "validation_error"
    assert field in error["details"]["fields"], error


def test_a_whole_province_box_of_six_degrees_is_accepted(client, create_staff):
    body = layers(client, create_staff(), bbox="103.0,19.0,109.0,25.0", zoom=7)
    assert body["total"] == 0 and body["zoom"] == 7
