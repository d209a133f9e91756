"""Exports, on both databases: coordinators' CSV and GeoJSON of the filtered requests and
assists in their areas (streamed, every field, logged), and the public counts by area, which
never reveal a person (cells of 1-4 suppressed, with complementary cells).
"""

import csv
import html
import io
import json
import logging
import re
from datetime import timedelta

import pytest

from connect.coordination.exports import services as exports
from connect.coordination.exports.public import MEASURES, suppressed_cells

from conftest import BAC_GIANG, LUC_NAM, ensure_demo_areas, make_app, new_phone
from leak_check import Personal, find_leaks

API = "/api/v1"
EXPORTS = f"{API}/console/exports"
HANOI = (21.0285, 105.8542)  # in no demo area
REQUEST_COLUMNS = [
    "id",
    "status",
    "categories",
    "urgency",
    "household_size",
    "description",
    "contact_name",
    "phone",
    "address",
    "lat",
    "lon",
    "public_lat",
    "public_lon",
    "source",
    "entered_by_id",
    "created_at",
    "updated_at",
    "closed_at",
    "claimed_by_id",
    "areas",
]
ASSIST_COLUMNS = [
    "id",
    "request_id",
    "volunteer_id",
    "volunteer_name",
    "claimed_at",
    "outcome",
    "helped_at",
    "confirmed_at",
    "closed_at",
    "categories",
    "lat",
    "lon",
]


def near(point, i):
    """The i-th of some distinct points ~300 m apart around a point (same districts)."""
    return (point[0] + 0.003 * (i % 4), point[1] + 0.003 * (i // 4))


def download(client, path, headers, **params):
    response = client.get(f"{EXPORTS}/{path}", headers=headers, query_string=params)
    assert response.status_code == 200, response.get_data(as_text=True)[:400]
    return response


def read_csv(response):
    """(raw bytes, rows as dicts) of a CSV export: it starts with a UTF-8 byte-order mark."""
    raw = response.get_data()
    assert raw.startswith(b"\xef\xbb\xbf")
    return raw, list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"), newline="")))


def check_rfc7946(document, geometry_types=("Point",)):
    """Assert a parsed document is a valid RFC 7946 FeatureCollection; return its features."""
    assert document["type"] == "FeatureCollection"
    assert "crs" not in document  # RFC 7946 section 4: WGS84 only, no crs member
    assert isinstance(document["features"], list)
    for item in document["features"]:
        assert item["type"] == "Feature" and "crs" not in item
        assert isinstance(item["properties"], dict)
        assert isinstance(item.get("id", ""), (str, int, float))
        geometry = item["geometry"]
        assert geometry["type"] in geometry_types
        for lon, lat in positions(geometry):
            assert isinstance(lon, (int, float)) and isinstance(lat, (int, float))
            assert -180 <= lon <= 180 and -90 <= lat <= 90
        if geometry["type"] in ("Polygon", "MultiPolygon"):
            polygons = (
                [geometry["coordinates"]]
                if geometry["type"] == "Polygon"
                else geometry["coordinates"]
            )
            for rings in polygons:
                for number, ring in enumerate(rings):
                    assert len(ring) >= 4 and ring[0] == ring[-1]  # closed linear rings
                    # Section 3.1.6: exterior anticlockwise, holes clockwise.
                    assert (signed_area(ring) > 0) == (number == 0)
    return document["features"]


def positions(geometry):
    def walk(node):
        if node and isinstance(node[0], (int, float)):
            assert len(node) in (2, 3)
            yield node[0], node[1]
        else:
            for child in node:
                yield from walk(child)

    return list(walk(geometry["coordinates"]))


def signed_area(ring):
    return sum(x0 * y1 - x1 * y0 for (x0, y0), (x1, y1) in zip(ring, ring[1:])) / 2


def act(client, posted, action, headers):
    response = client.post(f"{API}/requests/{posted['id']}/{action}", headers=headers)
    assert response.status_code == 200, response.get_json()


@pytest.fixture
def coordinator_of(create_staff):
    return lambda *areas: create_staff(areas=areas)


# -- who may export what --------------------------------------------------------------------


def test_a_coordinator_of_luc_nam_exports_exactly_the_luc_nam_requests_with_every_field(
    client, post_request, coordinator_of
):
    city = post_request(at=BAC_GIANG)
    luc_nam = post_request(
        at=LUC_NAM, categories=["food", "medicine"], urgency="urgent", household_size=6
    )
    post_request(at=HANOI)
    response = download(client, "requests.csv", coordinator_of("24-220"))
    assert response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"].startswith(
        'attachment; filename="connect-requests-'
    )
    _, rows = read_csv(response)
    assert [row["id"] for row in rows] == [str(luc_nam["id"])]
    row = rows[0]
    assert list(row) == REQUEST_COLUMNS
    assert row["status"] == "open" and row["categories"] == "food;medicine"
    assert row["urgency"] == "urgent" and row["household_size"] == "6"
    assert row["contact_name"] == "Nguyễn Văn An" and row["address"] == "12 Ngõ 3, Trần Phú"
    assert row["description"] == "Cần gạo và trứng cho 4 người"
    assert row["phone"].startswith("+8491")
    assert (float(row["lat"]), float(row["lon"])) == LUC_NAM
    assert (float(row["public_lat"]), float(row["public_lon"])) != LUC_NAM
    assert row["areas"] == "24;24-220" and row["closed_at"] == "" and row["claimed_by_id"] == ""
    assert row["created_at"].endswith("Z") and row["source"]
    assert str(city["id"]) not in {r["id"] for r in rows}


def test_the_geojson_export_is_a_valid_rfc_7946_feature_collection_of_exact_points(
    client, app, post_request, create_staff
):
    ensure_demo_areas(app)
    posted = {post_request(at=at)["id"]: at for at in (BAC_GIANG, LUC_NAM, HANOI)}
    response = download(client, "requests.geojson", create_staff(role="admin", areas=()))
    assert response.mimetype == "application/geo+json"
    assert response.headers["Content-Disposition"].endswith('.geojson"')
    features = check_rfc7946(json.loads(response.get_data(as_text=True)))
    assert {
        item["id"]: tuple(reversed(item["geometry"]["coordinates"])) for item in features
    } == posted
    properties = features[0]["properties"]
    assert list(properties) == REQUEST_COLUMNS
    assert properties["categories"] == ["food"] and properties["household_size"] == 4
    assert isinstance(properties["lat"], float) and isinstance(properties["public_lon"], float)
    assert properties["areas"] == ["24", "24-213"]  # BAC_GIANG: the province and the city


@pytest.mark.parametrize(
    "path", ["requests.csv", "requests.geojson", "assists.csv", "assists.geojson"]
)
def test_only_coordinators_and_admins_may_export_and_only_in_their_areas(
    client, create_user, create_volunteer, coordinator_of, path
):
    assert client.get(f"{EXPORTS}/{path}").status_code == 401
    for headers in (create_user()[1], create_volunteer()):
        response = client.get(f"{EXPORTS}/{path}", headers=headers)
        assert response.status_code == 403
        assert response.get_json()["error"]["code"] == "not_coordinator"
    luc_nam = coordinator_of("24-220")
    response = client.get(f"{EXPORTS}/{path}", headers=luc_nam, query_string={"area": "24-213"})
    assert response.status_code == 403
    assert response.get_json()["error"]["code"] == "not_coordinator"
    assert (
        client.get(f"{EXPORTS}/{path}", headers=luc_nam, query_string={"area": "99"}).status_code
        == 404
    )
    assert (
        client.get(
            f"{EXPORTS}/{path}", headers=luc_nam, query_string={"status": "bogus"}
        ).status_code
        == 422
    )
    assert (
        client.get(
            f"{EXPORTS}/{path}", headers=coordinator_of("24"), query_string={"area": "24-220"}
        ).status_code
        == 200
    )


def test_the_filters_select_exactly_the_requests_the_console_shows(
    client, post_request, coordinator_of, create_volunteer, clock
):
    old = post_request(at=near(BAC_GIANG, 0), categories=["medicine"])
    clock.advance(hours=5)
    urgent = post_request(at=near(BAC_GIANG, 1), urgency="urgent")
    claimed = post_request(at=near(BAC_GIANG, 2), categories=["supplies", "medicine"])
    luc_nam = post_request(at=LUC_NAM, categories=["medicine"])
    act(client, claimed, "claim", create_volunteer(at=BAC_GIANG))
    province = coordinator_of("24")

    def ids(**params):
        _, rows = read_csv(download(client, "requests.csv", province, **params))
        return {int(row["id"]) for row in rows}

    assert ids() == {old["id"], urgent["id"], claimed["id"], luc_nam["id"]}
    assert ids(status="claimed") == {claimed["id"]}
    assert ids(status="open", category="medicine") == {old["id"], luc_nam["id"]}
    assert ids(category="medical_advice") == set()
    assert ids(urgency="urgent") == {urgent["id"]}
    assert ids(min_age_hours=4) == {old["id"]}
    assert ids(max_age_hours=1, area="24-213") == {urgent["id"], claimed["id"]}
    assert ids(area="24-220") == {luc_nam["id"]}


def test_a_lapsed_claim_is_exported_open_and_held_by_no_one(
    client, post_request, coordinator_of, create_volunteer, clock
):
    posted = post_request()
    act(client, posted, "claim", create_volunteer())
    clock.advance(days=1)
    _, rows = read_csv(download(client, "requests.csv", coordinator_of("24")))
    assert (rows[0]["status"], rows[0]["claimed_by_id"]) == ("open", "")


def test_the_assists_export_lists_who_helped_which_request_and_where(
    client, post_request, coordinator_of, create_volunteer, create_staff
):
    helped = post_request(categories=["food", "supplies"])
    held = post_request(at=near(BAC_GIANG, 1))
    elsewhere = post_request(at=LUC_NAM)
    volunteer = create_volunteer(name="Lê Văn Cường", at=BAC_GIANG)
    act(client, helped, "claim", volunteer)
    act(client, helped, "helped", volunteer)
    act(client, held, "claim", volunteer)
    act(client, elsewhere, "claim", create_volunteer(at=LUC_NAM))
    _, rows = read_csv(download(client, "assists.csv", coordinator_of("24-213")))
    assert [int(row["request_id"]) for row in rows] == [helped["id"], held["id"]]
    first = rows[0]
    assert list(first) == ASSIST_COLUMNS
    assert first["volunteer_name"] == "Lê Văn Cường" and first["outcome"] == "helped"
    assert first["helped_at"].endswith("Z") and first["categories"] == "food;supplies"
    assert (float(first["lat"]), float(first["lon"])) == BAC_GIANG
    assert rows[1]["outcome"] == "" and rows[1]["helped_at"] == ""
    geo = download(
        client, "assists.geojson", create_staff(role="admin", areas=()), status="helped"
    )
    features = check_rfc7946(json.loads(geo.get_data(as_text=True)))
    assert [item["properties"]["request_id"] for item in features] == [helped["id"]]
    assert features[0]["geometry"]["coordinates"] == [BAC_GIANG[1], BAC_GIANG[0]]
    assert features[0]["properties"]["categories"] == ["food", "supplies"]


def test_free_text_that_a_spreadsheet_would_run_as_a_formula_is_exported_inert(
    client, post_request, coordinator_of
):
    post_request(
        description='=HYPERLINK("http://evil.example","Bấm vào đây")',
        contact_name="@Nguyễn Văn An",
    )
    _, rows = read_csv(download(client, "requests.csv", coordinator_of("24")))
    assert rows[0]["description"] == '\'=HYPERLINK("http://evil.example","Bấm vào đây")'
    assert rows[0]["contact_name"] == "'@Nguyễn Văn An"
    assert rows[0]["phone"].startswith("+84")  # a phone is data, not a formula: kept as is


# -- streaming ------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["requests.csv", "requests.geojson"])
def test_exports_are_streamed_a_chunk_of_rows_at_a_time_after_the_request_boundary(
    client, post_request, coordinator_of, monkeypatch, path
):
    monkeypatch.setattr(exports, "CHUNK_ROWS", 2)
    posted = [post_request(at=near(BAC_GIANG, i))["id"] for i in range(5)]
    headers = coordinator_of("24")
    reads = []
    real = exports.chunked_rows

    def counting(*args, **kwargs):
        for chunk in real(*args, **kwargs):
            reads.append(len(chunk[0]))
            yield chunk

    monkeypatch.setattr(exports, "chunked_rows", counting)
    response = client.get(f"{EXPORTS}/{path}", headers=headers, buffered=False)
    assert response.status_code == 200 and response.is_streamed
    assert "Content-Length" not in response.headers
    assert reads == []  # nothing read before the body is consumed
    pieces = [piece for piece in response.response if piece]
    assert reads == [2, 2, 1]
    assert len(pieces) >= 4  # the header, then one piece per chunk
    body = b"".join(pieces).decode("utf-8-sig")
    if path.endswith(".csv"):
        ids = [int(row["id"]) for row in csv.DictReader(io.StringIO(body, newline=""))]
    else:
        ids = [item["id"] for item in check_rfc7946(json.loads(body))]
    assert ids == posted
    response.close()


def test_every_personal_data_export_is_logged_with_who_what_filters_and_rows(
    client, post_request, coordinator_of, caplog
):
    post_request()
    post_request(at=near(BAC_GIANG, 1), urgency="urgent")
    caplog.set_level(logging.INFO, logger="connect.exports")
    download(client, "requests.csv", coordinator_of("24"), urgency="urgent").get_data()
    lines = [r.getMessage() for r in caplog.records if r.name == "connect.exports"]
    assert len(lines) == 1
    assert "(coordinator) requests.csv" in lines[0]
    assert '"urgency": ["urgent"]' in lines[0] and lines[0].endswith("rows=1")


def test_an_export_the_client_abandons_is_logged_as_interrupted(
    client, post_request, coordinator_of, caplog, monkeypatch
):
    monkeypatch.setattr(exports, "CHUNK_ROWS", 1)
    for i in range(3):
        post_request(at=near(BAC_GIANG, i))
    headers = coordinator_of("24")
    caplog.set_level(logging.INFO, logger="connect.exports")
    response = client.get(f"{EXPORTS}/requests.geojson", headers=headers, buffered=False)
    pieces = iter(response.response)
    next(pieces), next(pieces)  # the opening, then the first request
    response.close()
    lines = [r.getMessage() for r in caplog.records if r.name == "connect.exports"]
    assert len(lines) == 1 and lines[0].endswith(
        "requests.geojson filters={} rows=1 (interrupted)"
    )


# -- the public counts by area --------------------------------------------------------------


def public_csv(client):
    response = client.get(f"{API}/stats/areas.csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    _, rows = read_csv(response)
    return {row["code"]: row for row in rows}, response


def test_the_public_counts_by_area_suppress_small_cells_and_their_complements(
    client, app, post_request, create_volunteer
):
    ensure_demo_areas(app)
    city = [post_request(at=near(BAC_GIANG, i)) for i in range(6)]
    for i in range(2):
        post_request(at=near(LUC_NAM, i), categories=["medicine"])
    volunteer = create_volunteer()
    act(client, city[0], "claim", volunteer)
    act(client, city[0], "helped", volunteer)
    rows, _ = public_csv(client)
    assert set(rows) == {"24", "24-213", "24-220", "24-222"}
    province, city_row, luc_nam_row, viet_yen = (
        rows[c] for c in ("24", "24-213", "24-220", "24-222")
    )
    assert (province["level"], province["parent_code"]) == ("province", "")
    assert city_row["parent_code"] == "24" and city_row["name"] == "Thành phố Bắc Giang (demo)"
    assert province["requests_open"] == "7" and province["open_food"] == "5"
    # Lục Nam's 2 open requests are withheld, and so is the city's 5, else 7 - 5 - 0 = 2.
    assert luc_nam_row["requests_open"] == "" and city_row["requests_open"] == ""
    assert viet_yen["requests_open"] == "0"
    assert "requests_open" in luc_nam_row["suppressed"].split(";")
    assert "requests_open" in city_row["suppressed"].split(";")
    # One helped request: withheld at every level (the city's by complement with its 0s).
    assert province["requests_helped"] == "" and province["assists_helped"] == ""
    assert city_row["open_food"] == "5" and luc_nam_row["open_food"] == "0"
    assert luc_nam_row["open_medicine"] == "" and province["open_medicine"] == ""
    people = [
        Personal(
            p["id"], "Nguyễn Văn An", "+84910000000", "12 Ngõ 3, Trần Phú", near(BAC_GIANG, i)
        )
        for i, p in enumerate(city)
    ]
    for path in ("areas.csv", "areas.geojson"):
        body = client.get(f"{API}/stats/{path}").get_data(as_text=True)
        assert "Nguyễn Văn An" not in body and "Trần Phú" not in body and "+849" not in body
        parsed = json.loads(body) if body.startswith("{") else None
        assert find_leaks(body, people, parsed) == []


def test_the_public_geojson_holds_each_area_simplified_with_nulls_for_withheld_counts(
    client, app, post_request
):
    ensure_demo_areas(app)
    for i in range(3):
        post_request(at=near(LUC_NAM, i))
    response = client.get(f"{API}/stats/areas.geojson")
    assert response.status_code == 200 and response.mimetype == "application/geo+json"
    features = check_rfc7946(
        json.loads(response.get_data(as_text=True)), ("Polygon", "MultiPolygon")
    )
    by_code = {item["id"]: item["properties"] for item in features}
    assert set(by_code) == {"24", "24-213", "24-220", "24-222"}
    luc_nam = by_code["24-220"]
    assert luc_nam["parent_code"] == "24" and luc_nam["level"] == "district"
    assert luc_nam["requests_open"] is None and "requests_open" in luc_nam["suppressed"]
    assert by_code["24"]["requests_open"] is None  # 3 in the province too
    assert by_code["24-213"]["requests_open"] == 0 and by_code["24-213"]["suppressed"] == []
    assert set(MEASURES) <= set(luc_nam)


def test_the_public_export_needs_no_account_and_is_empty_without_areas(client):
    rows, response = public_csv(client)
    assert rows == {} and "no-store" not in response.headers.get("Cache-Control", "")
    geo = client.get(f"{API}/stats/areas.geojson")
    assert check_rfc7946(json.loads(geo.get_data(as_text=True))) == []


# -- complementary suppression (pure) ------------------------------------------------------


def family(counts, parent=None):
    """Areas: a parent "P" (with count `parent`) and children c0, c1, ... with these counts."""
    areas = [
        {"id": f"c{i}", "code": f"c{i}", "parent_id": "P", "counts": {"n": n}}
        for i, n in enumerate(counts)
    ]
    if parent is not None:
        areas.insert(0, {"id": "P", "code": "P", "parent_id": None, "counts": {"n": parent}})
    return areas


def hidden(areas):
    return {area_id for area_id, _ in suppressed_cells(areas, ("n",))}


def test_counts_of_five_or_more_and_zero_are_shown():
    assert hidden(family([5, 0, 12], parent=17)) == set()


def test_a_lone_small_cell_takes_its_smallest_positive_sibling_with_it():
    assert hidden(family([3, 9, 0, 6], parent=18)) == {"c0", "c3"}


def test_two_small_siblings_protect_each_other():
    assert hidden(family([3, 2, 9], parent=14)) == {"c0", "c1"}


def test_an_only_child_that_is_small_hides_its_parent_too():
    assert hidden(family([3], parent=8)) == {"c0", "P"}


def test_a_hidden_parent_is_not_left_as_the_sum_of_its_children():
    # P and c0 are both 3 and both withheld: P = c0 + 0 tells neither.
    assert hidden(family([3, 0], parent=3)) == {"P", "c0"}
    # A parent withheld as a complement elsewhere, whose children are all shown, loses one.
    areas = family([6, 7], parent=13) + [
        {"id": "Q", "code": "Q", "parent_id": None, "counts": {"n": 2}}
    ]
    assert hidden(areas) == {"Q", "P", "c0"}


def test_complements_reach_across_levels_until_nothing_can_be_recovered():
    areas = family([2, 8], parent=10) + [
        {"id": "P2", "code": "P2", "parent_id": None, "counts": {"n": 30}},
        {"id": "d0", "code": "d0", "parent_id": "c1", "counts": {"n": 8}},
    ]
    result = hidden(areas)
    assert {"c0", "c1"} <= result
    assert "d0" in result  # else c1 = d0
    assert result & {"P", "P2"} in (set(), {"P", "P2"})


def test_the_export_timestamps_in_the_file_name_use_the_utc_date(clock):
    clock.set(clock.value.replace(year=2026, month=11, day=26, hour=23))
    assert exports.export_filename("requests", "csv") == "connect-requests-2026-11-26.csv"
    clock.advance(timedelta(hours=2))
    assert exports.export_filename("assists", "geojson") == "connect-assists-2026-11-27.geojson"


# -- the page -------------------------------------------------------------------------------

CSRF = re.compile(r'name="csrf_token"[^>]*?value="([^"]+)"')
PAGE = "/console/exports"


def signed_in(app, role="coordinator", areas=("24",)):
    """A test client with a cookie session of a new coordinator (or admin); English pages."""
    phone, password = new_phone(), "dieu-phoi-1"
    if areas:
        ensure_demo_areas(app)
    result = app.test_cli_runner().invoke(
        args=[
            "connect",
            "create-user",
            "--phone",
            phone,
            "--name",
            "Phạm Điều Phối",
            "--role",
            role,
            "--password",
            password,
            *[
                arg
                for code in (areas if role == "coordinator" else ())
                for arg in ("--area", code)
            ],
        ]
    )
    assert result.exit_code == 0, result.output
    browser = app.test_client()
    token = CSRF.search(browser.get("/login?lang=en").get_data(as_text=True)).group(1)
    response = browser.post(
        "/login", data={"phone": phone, "password": password, "next": "", "csrf_token": token}
    )
    assert response.status_code == 302, response.get_data(as_text=True)[:400]
    return browser


def links(page):
    """{data-export: href} of the download links on the page."""
    body = html.unescape(page.get_data(as_text=True))
    return dict(
        (kind, href)
        for href, kind in re.findall(
            r'<a class="button[^"]*" href="([^"]+)" download data-export="([^"]+)"', body
        )
    )


def test_the_exports_page_is_for_coordinators_and_admins(app, client, create_user):
    assert client.get(PAGE).status_code == 302
    assert "/login" in client.get(PAGE).headers["Location"]
    resident = signed_in(app, role="resident", areas=())
    assert resident.get(PAGE).status_code == 403
    assert signed_in(app, role="admin", areas=()).get(PAGE).status_code == 200


def test_the_exports_page_links_the_four_downloads_with_its_filters_and_counts_rows(
    app, post_request, create_volunteer
):
    browser = signed_in(app, areas=("24",))
    posted = [post_request(at=near(BAC_GIANG, i), urgency="urgent") for i in range(2)]
    post_request(at=LUC_NAM)
    page = browser.get(
        PAGE,
        query_string={
            "status": ["open", "claimed"],
            "urgency": "urgent",
            "area": "24-213",
            "min_age_hours": "",
            "max_age_hours": "",
            "category": "bogus",
        },
    )
    assert page.status_code == 200
    body = html.unescape(page.get_data(as_text=True))
    assert "These files hold personal data:" in body
    assert "2 requests match these filters" in body and "with 0 assists" in body
    found = links(page)
    assert set(found) == {
        "requests.csv",
        "requests.geojson",
        "assists.csv",
        "assists.geojson",
        "areas.csv",
        "areas.geojson",
    }
    assert found["requests.csv"] == (
        f"{EXPORTS}/requests.csv?status=open&status=claimed&urgency=urgent&area=24-213"
    )
    assert found["areas.geojson"] == f"{API}/stats/areas.geojson"
    # The links work with the page's cookie session, and hold what the page counted.
    response = browser.get(found["requests.csv"])
    assert response.status_code == 200
    _, rows = read_csv(response)
    assert sorted(int(row["id"]) for row in rows) == [p["id"] for p in posted]
    assists = browser.get(found["assists.geojson"])
    assert check_rfc7946(json.loads(assists.get_data(as_text=True))) == []


def test_the_exports_page_drops_an_area_outside_the_callers_scope(app, post_request):
    browser = signed_in(app, areas=("24-220",))
    post_request(at=BAC_GIANG)
    post_request(at=LUC_NAM)
    page = browser.get(PAGE, query_string={"area": "24-213"})
    assert page.status_code == 200
    body = html.unescape(page.get_data(as_text=True))
    assert "1 request matches these filters" in body
    assert links(page)["requests.csv"] == f"{EXPORTS}/requests.csv"
    assert 'value="24-213"' not in body and 'value="24-220"' in body


def test_the_public_export_is_rate_limited_per_address(database_url):
    """Anyone may download it, and each download scans every request: 429 past the limit."""
    from connect.extensions import db

    app = make_app(
        database_url, RATELIMIT_ENABLED=True, RATELIMIT_PUBLIC_EXPORT_PER_IP="2 per hour"
    )
    client = app.test_client()
    try:
        for name in ("areas.csv", "areas.geojson"):
            assert client.get(f"{API}/stats/{name}", buffered=True).status_code == 200
        refused = client.get(f"{API}/stats/areas.csv", buffered=True)
        assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
        assert refused.get_json()["error"]["code"] == "rate_limited"
        other = client.get(
            f"{API}/stats/areas.csv", buffered=True, environ_base={"REMOTE_ADDR": "10.9.9.9"}
        )
        assert other.status_code == 200
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
