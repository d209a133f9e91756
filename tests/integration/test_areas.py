"""Areas: imported from GeoJSON, requests placed in them, coordinators scoped to them."""

import json

from sqlalchemy import select

from conftest import AREAS_FILE, BAC_GIANG, LUC_NAM, ensure_demo_areas


def area_codes(app, request_id):
    from connect.areas.models import Area, RequestArea
    from connect.extensions import db

    with app.app_context():
        try:
            return set(
                db.session.execute(
                    select(Area.code)
                    .join(RequestArea, RequestArea.area_id == Area.id)
                    .where(RequestArea.request_id == request_id)
                ).scalars()
            )
        finally:
            db.session.remove()


def write_areas(tmp_path, features):
    path = tmp_path / "areas.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    return path


def test_import_areas_reports_counts_and_reimport_updates_in_place(app, runner, tmp_path):
    first = runner.invoke(args=["connect", "import-areas", str(AREAS_FILE)])
    assert first.exit_code == 0, first.output
    assert "areas created: 4, updated: 0" in first.output
    again = runner.invoke(args=["connect", "import-areas", str(AREAS_FILE)])
    assert again.exit_code == 0 and "areas created: 0, updated: 4" in again.output


def test_a_bad_area_file_is_refused_and_stores_nothing(app, runner, tmp_path):
    from connect.areas.models import Area
    from connect.extensions import db

    good = json.loads(AREAS_FILE.read_text())["features"][0]
    bad = {
        "type": "Feature",
        "properties": {"code": "x", "name": "X"},
        "geometry": {"type": "Point", "coordinates": [106, 21]},
    }
    result = runner.invoke(
        args=["connect", "import-areas", str(write_areas(tmp_path, [good, bad]))]
    )
    assert result.exit_code == 1 and "feature 1 (x)" in result.output
    not_json = tmp_path / "broken.geojson"
    not_json.write_text("{")
    assert runner.invoke(args=["connect", "import-areas", str(not_json)]).exit_code == 1
    orphan = {**good, "properties": {"code": "9", "name": "Nine", "parent": "nowhere"}}
    result = runner.invoke(args=["connect", "import-areas", str(write_areas(tmp_path, [orphan]))])
    assert result.exit_code == 1 and "unknown parent" in result.output
    with app.app_context():
        assert db.session.execute(select(Area)).first() is None
        db.session.remove()


def test_requests_are_placed_in_every_area_that_covers_them(app, client, post_request):
    before = post_request(at=BAC_GIANG)  # posted before any area exists
    ensure_demo_areas(app)
    assert area_codes(app, before["id"]) == {"24", "24-213"}
    luc_nam = post_request(at=LUC_NAM)
    assert area_codes(app, luc_nam["id"]) == {"24", "24-220"}
    far = post_request(at=(10.78, 106.70))  # Hồ Chí Minh City: no demo area
    assert area_codes(app, far["id"]) == set()


def volunteer_area_codes(app, headers):
    from connect.accounts.models import ApiToken, Volunteer, hash_secret
    from connect.areas.models import Area, VolunteerArea
    from connect.extensions import db

    token = headers["Authorization"].split()[1]
    with app.app_context():
        try:
            user_id = db.session.execute(
                select(ApiToken.user_id).where(ApiToken.token_hash == hash_secret(token))
            ).scalar_one()
            return set(
                db.session.execute(
                    select(Area.code)
                    .join(VolunteerArea, VolunteerArea.area_id == Area.id)
                    .join(Volunteer, Volunteer.id == VolunteerArea.volunteer_id)
                    .where(Volunteer.user_id == user_id)
                ).scalars()
            )
        finally:
            db.session.remove()


def test_volunteers_are_placed_in_their_areas_on_import_and_when_they_move(
    app, client, runner, create_volunteer
):
    volunteer = create_volunteer(at=BAC_GIANG)  # before any area exists
    result = runner.invoke(args=["connect", "import-areas", str(AREAS_FILE)])
    assert "volunteer placements: 2" in result.output, result.output
    assert volunteer_area_codes(app, volunteer) == {"24", "24-213"}
    response = client.put(
        "/api/v1/volunteers/me",
        headers=volunteer,
        json={
            "location": {"lat": LUC_NAM[0], "lon": LUC_NAM[1]},
            "radius_m": 3000,
            "categories": ["food"],
            "on_duty": True,
            "capacity": 1,
        },
    )
    assert response.status_code == 200, response.get_json()
    assert volunteer_area_codes(app, volunteer) == {"24", "24-220"}


def test_moving_a_request_moves_it_between_areas(app, client, post_request):
    ensure_demo_areas(app)
    posted = post_request(at=BAC_GIANG)
    response = client.patch(
        f"/api/v1/requests/{posted['id']}",
        headers={"X-Manage-Token": posted["manage_token"]},
        json={"location": {"lat": LUC_NAM[0], "lon": LUC_NAM[1]}},
    )
    assert response.status_code == 200, response.get_json()
    assert area_codes(app, posted["id"]) == {"24", "24-220"}


def test_a_coordinator_acts_only_in_their_areas(client, post_request, create_staff):
    posted = post_request(at=BAC_GIANG)
    own = create_staff(areas=("24-213",))
    other = create_staff(areas=("24-220",))
    nowhere = create_staff(areas=())
    admin = create_staff(role="admin")
    url = f"/api/v1/requests/{posted['id']}"
    assert "phone" in client.get(url, headers=own).get_json()
    assert "phone" in client.get(url, headers=admin).get_json()
    for headers in (other, nowhere):
        body = client.get(url, headers=headers).get_json()
        assert "phone" not in body and "contact_name" not in body
        assert client.patch(url, headers=headers, json={"household_size": 2}).status_code == 403
        assert client.post(f"{url}/cancel", headers=headers, json={}).status_code == 403
    assert client.patch(url, headers=own, json={"household_size": 2}).status_code == 200
    assert client.post(f"{url}/cancel", headers=own, json={}).status_code == 200


def test_grant_area_extends_a_coordinators_scope(app, client, runner, post_request, create_staff):
    from connect.accounts.models import User
    from connect.extensions import db

    posted = post_request(at=LUC_NAM)
    headers = create_staff(areas=("24-213",))
    url = f"/api/v1/requests/{posted['id']}"
    assert "phone" not in client.get(url, headers=headers).get_json()
    with app.app_context():
        phone = db.session.execute(
            select(User.phone).where(User.role == "coordinator")
        ).scalar_one()
        db.session.remove()
    result = runner.invoke(args=["connect", "grant-area", "--phone", phone, "--area", "24-220"])
    assert result.exit_code == 0, result.output
    assert "phone" in client.get(url, headers=headers).get_json()
    unknown = runner.invoke(args=["connect", "grant-area", "--phone", phone, "--area", "nope"])
    assert unknown.exit_code == 1 and "No area with code nope" in unknown.output


def test_create_user_refuses_an_unknown_area(app, runner):
    ensure_demo_areas(app)
    result = runner.invoke(
        args=[
            "connect",
            "create-user",
            "--phone",
            "0912345678",
            "--name",
            "A",
            "--role",
            "coordinator",
            "--area",
            "nope",
            "--password",
            "dieu-phoi-1",
        ]
    )
    assert result.exit_code == 1 and "No area with code nope" in result.output
