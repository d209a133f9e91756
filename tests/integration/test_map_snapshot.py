"""The console map's in-memory snapshot of requests stays in step with the database, on both
databases: writes made by another process (another app on the same database) show on the next
map call, area placements follow moved requests and new areas, and every column matches a
query of the database after a mix of writes."""

import numpy as np
from sqlalchemy import func, select

from connect.areas.models import RequestArea
from connect.coordination.map.snapshot import micros
from connect.requests.categories import category_mask
from connect.requests.models import HelpRequest
from connect.requests.state import STATUSES

from conftest import BAC_GIANG, LUC_NAM, make_app

API = "/api/v1"
MAP = f"{API}/console/map"
PROVINCE = "105.50,20.90,107.50,21.80"


def shown(client, headers, **params):
    """{id: status} of the requests on the map, as exact points."""
    response = client.get(
        MAP, headers=headers, query_string={"bbox": PROVINCE, "zoom": 9, **params}
    )
    assert response.status_code == 200, response.get_json()
    return {point["id"]: point["status"] for point in response.get_json()["points"]}


def ok(response):
    assert response.status_code in (200, 201), response.get_json()
    return response.get_json()


def test_writes_through_another_process_show_on_the_next_map_call(
    app, client, database_url, create_staff, create_volunteer, post_request
):
    city_staff = create_staff(areas=("24-213",))
    admin = create_staff(role="admin", areas=())
    first = post_request(at=BAC_GIANG)
    assert shown(client, city_staff) == {first["id"]: "open"}  # the snapshot is loaded

    # Another worker of the same deployment: its own app, engine and snapshot.
    other = make_app(database_url).test_client()
    volunteer = create_volunteer()
    second = ok(other.post(f"{API}/requests", json={**_payload(), "urgency": "urgent"}))
    moved = post_request(at=BAC_GIANG)
    hidden = post_request(at=BAC_GIANG)
    ok(other.post(f"{API}/requests/{first['id']}/claim", headers=volunteer))
    helper = create_volunteer()
    ok(other.post(f"{API}/requests/{second['id']}/claim", headers=helper))
    ok(other.post(f"{API}/requests/{second['id']}/helped", headers=helper))
    ok(
        other.patch(
            f"{API}/requests/{moved['id']}",
            headers={"X-Manage-Token": moved["manage_token"]},
            json={"location": {"lat": LUC_NAM[0], "lon": LUC_NAM[1]}},
        )
    )
    ok(
        other.post(
            f"{API}/requests/{hidden['id']}/hide", headers=admin, json={"reason": "quảng cáo"}
        )
    )

    assert shown(client, city_staff) == {first["id"]: "claimed", second["id"]: "helped"}
    assert shown(client, city_staff, urgency="urgent") == {second["id"]: "helped"}
    assert shown(client, create_staff(areas=("24-220",))) == {moved["id"]: "open"}
    assert shown(client, admin, status="hidden") == {hidden["id"]: "hidden"}


def test_areas_imported_by_another_process_place_the_requests_shown(
    app, client, database_url, create_staff, post_request
):
    admin = create_staff(role="admin", areas=())
    city, luc_nam = post_request(at=BAC_GIANG), post_request(at=LUC_NAM)
    assert set(shown(client, admin)) == {city["id"], luc_nam["id"]}
    # No areas yet, so no placements: the import (another app) places both at once.
    luc_nam_staff = _coordinator_via(make_app(database_url), client, "24-220")
    assert set(shown(client, luc_nam_staff)) == {luc_nam["id"]}
    assert set(shown(client, admin, area="24-213")) == {city["id"]}


def test_every_column_matches_the_database_after_a_mix_of_writes(
    app, client, create_staff, create_volunteer, post_request, clock
):
    staff = create_staff()
    posted = [
        post_request(
            at=(BAC_GIANG[0] + i * 1e-3, BAC_GIANG[1]),
            categories=["food", "medicine"] if i % 2 else ["other"],
        )
        for i in range(8)
    ]
    shown(client, staff)
    volunteer = create_volunteer()
    ok(client.post(f"{API}/requests/{posted[0]['id']}/claim", headers=volunteer))
    ok(client.post(f"{API}/requests/{posted[0]['id']}/helped", headers=volunteer))
    for request in posted[1:3]:
        ok(client.post(f"{API}/requests/{request['id']}/claim", headers=volunteer))
    ok(client.post(f"{API}/requests/{posted[1]['id']}/release", headers=volunteer))
    ok(
        client.post(
            f"{API}/requests/{posted[4]['id']}/cancel",
            headers={"X-Manage-Token": posted[4]["manage_token"]},
            json={"reason": "đã đủ"},
        )
    )
    ok(
        client.patch(
            f"{API}/requests/{posted[5]['id']}",
            headers={"X-Manage-Token": posted[5]["manage_token"]},
            json={"location": {"lat": LUC_NAM[0], "lon": LUC_NAM[1]}, "urgency": "urgent"},
        )
    )
    clock.advance(hours=80)
    post_request(at=LUC_NAM)
    shown(client, staff)

    from connect.extensions import db

    with app.app_context():
        c = app.extensions["request_snapshot"].view()
        r = HelpRequest
        rows = db.session.execute(
            select(
                r.id,
                r.status,
                r.urgency,
                r.categories,
                func.ST_X(r.location),
                func.ST_Y(r.location),
                r.created_at,
                r.expires_at,
                r.lease_expires_at,
                r.closed_at,
            )
        ).all()
        placements = db.session.execute(select(RequestArea.request_id, RequestArea.area_id)).all()
    assert np.flatnonzero(c.present).tolist() == sorted(row[0] for row in rows)
    for id_, status, urgency, categories, lon, lat, created, expires, lease, closed in rows:
        assert STATUSES[c.status[id_]] == status
        assert c.urgency[id_] == (urgency == "urgent")
        assert c.masks[id_] == category_mask(categories)
        assert (c.lon[id_], c.lat[id_]) == (lon, lat)
        assert [c.created[id_], c.expires[id_], c.lease[id_], c.closed[id_]] == [
            micros(created),
            micros(expires),
            micros(lease),
            micros(closed),
        ]
        areas = {area for request, area in placements if request == id_}
        assert set(c.areas[id_][c.areas[id_] >= 0].tolist()) == areas


def _payload():
    from conftest import request_payload

    return request_payload(at=BAC_GIANG)


def _coordinator_via(other, client, area):
    """Import the demo areas and make a coordinator of area with other's CLI; its headers."""
    from conftest import AREAS_FILE, new_phone

    runner = other.test_cli_runner()
    result = runner.invoke(args=["connect", "import-areas", str(AREAS_FILE)])
    assert result.exit_code == 0, result.output
    phone = new_phone()
    result = runner.invoke(
        args=[
            "connect",
            "create-user",
            "--phone",
            phone,
            "--name",
            "Điều phối",
            "--role",
            "coordinator",
            "--password",
            "dieu-phoi-1",
            "--area",
            area,
        ]
    )
    assert result.exit_code == 0, result.output
    token = client.post(f"{API}/auth/token", json={"phone": phone, "password": "dieu-phoi-1"})
    return {"Authorization": f"Bearer {token.get_json()['token']}"}
