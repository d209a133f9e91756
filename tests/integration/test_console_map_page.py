"""GET /console/map, the console's map page, on both databases: the areas a coordinator may
pick (theirs and every area inside them; admins all) with their bounds, the start view
fitted to them, filters read back from the URL into the form, and everyone else refused.
The map's drawing is tested in tests/browser/test_console_map.py."""

import re

from conftest import new_phone

PAGE = "/console/map"
PASSWORD = "dieu-phoi-1"
CSRF = re.compile(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"')
STYLE_OR_SCRIPT = re.compile(r"\sstyle=|<script(?![^>]*\bsrc=)|\son[a-z]+=", re.I)
# The demo areas' bounds (connect/data/demo_areas.geojson).
PROVINCE = (105.88, 21.08, 106.66, 21.62)
LUC_NAM = (106.27, 21.18, 106.55, 21.45)


def signed_in(app, role="coordinator", areas=("24",)):
    """A test client with a cookie session (English pages) of a new account of this role."""
    from conftest import ensure_demo_areas

    ensure_demo_areas(app)
    phone = new_phone()
    result = app.test_cli_runner().invoke(
        args=[
            "connect",
            "create-user",
            "--phone",
            phone,
            "--name",
            "Điều phối viên",
            "--role",
            role,
            "--password",
            PASSWORD,
            *[a for code in areas for a in ("--area", code)],
        ]
    )
    assert result.exit_code == 0, result.output
    browser = app.test_client()
    page = browser.get("/login?lang=en").get_data(as_text=True)
    response = browser.post(
        "/login",
        data={
            "phone": phone,
            "password": PASSWORD,
            "next": "",
            "csrf_token": CSRF.search(page)[1],
        },
    )
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    return browser


def bounds(text):
    return tuple(round(float(n), 2) for n in text.split(","))


def area_options(page):
    """[(code, indent, name, bounds)] of the area select."""
    return [
        (code, len(indent), name, bounds(box))
        for code, box, indent, name in re.findall(
            r'<option value="([^"]+)" data-bounds="([^"]+)"(?: selected)?>(\u2003*)([^<]+)</option>',
            page,
        )
    ]


def map_attribute(page, name):
    return re.search(
        rf'<div class="cmap-map" data-console-map[^>]*\sdata-{name}="([^"]*)"', page, re.S
    )[1]


def test_a_province_coordinator_picks_from_the_province_and_its_districts(app):
    response = signed_in(app).get(PAGE)
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert not STYLE_OR_SCRIPT.search(page), "the CSP forbids style= and inline scripts"
    options = area_options(page)
    assert [(code, indent) for code, indent, _, _ in options] == [
        ("24", 0),
        ("24-220", 1),
        ("24-222", 1),
        ("24-213", 1),
    ]
    assert options[1][2] == "Huyện Lục Nam (demo)"
    assert options[1][3] == LUC_NAM
    # The map starts on the province.
    assert bounds(map_attribute(page, "bounds")) == PROVINCE
    assert map_attribute(page, "api") == "/api/v1/console/map"
    assert map_attribute(page, "request-url") == "/console/requests/0"


def test_a_district_coordinator_sees_only_their_district(app):
    page = signed_in(app, areas=("24-220",)).get(PAGE).get_data(as_text=True)
    assert [code for code, *_ in area_options(page)] == ["24-220"]
    assert bounds(map_attribute(page, "bounds")) == LUC_NAM


def test_a_coordinator_of_a_district_and_its_province_gets_each_area_once(app):
    page = signed_in(app, areas=("24-220", "24")).get(PAGE).get_data(as_text=True)
    assert [code for code, *_ in area_options(page)] == ["24", "24-220", "24-222", "24-213"]


def test_an_admin_picks_from_every_area(app):
    page = signed_in(app, role="admin", areas=()).get(PAGE).get_data(as_text=True)
    assert [code for code, *_ in area_options(page)] == ["24", "24-220", "24-222", "24-213"]
    assert "All areas" in page


def test_the_filters_in_the_url_are_ticked_in_the_form(app):
    browser = signed_in(app)
    page = browser.get(
        PAGE,
        query_string=[
            ("status", "open,claimed"),
            ("status", "nonsense"),
            ("category", "medicine"),
            ("urgency", "urgent"),
            ("min_age_hours", "24"),
            ("max_age_hours", "5"),
            ("area", "24-220"),
        ],
    ).get_data(as_text=True)
    ticked = re.findall(r'name="(\w+)" value="(\w+)" checked', page)
    assert ticked == [("status", "open"), ("status", "claimed"), ("category", "medicine")]
    assert '<option value="urgent" selected>' in page
    assert '<option value="24" selected>' in page  # "More than 24 hours"
    assert '<option value="5" selected>5 hours</option>' in page  # a hand-written age
    assert re.search(r'<option value="24-220" data-bounds="[^"]+" selected>', page)
    assert "6 filters on" in page


def test_an_area_the_caller_does_not_coordinate_is_not_picked(app):
    page = (
        signed_in(app, areas=("24-220",))
        .get(PAGE, query_string={"area": "24-213"})
        .get_data(as_text=True)
    )
    assert " selected>" not in page.split('name="area"')[1].split("</select>")[0]
    # Only the language links carry the caller's own query back; nothing else names it.
    assert "24-213" not in re.sub(r'href="\?[^"]*lang=\w+"', "", page)


def test_the_page_is_refused_to_everyone_else(app, client):
    assert client.get(PAGE).headers["Location"].startswith("/login")
    response = signed_in(app, role="volunteer", areas=()).get(PAGE)
    assert response.status_code == 403
    assert "data-console-map" not in response.get_data(as_text=True)


def test_switching_language_keeps_the_filters(app):
    browser = signed_in(app)
    page = browser.get(
        PAGE,
        query_string=[
            ("status", "open"),
            ("status", "claimed"),
            ("category", "medicine"),
            ("lang", "en"),
        ],
    ).get_data(as_text=True)
    assert 'href="?status=open&amp;status=claimed&amp;category=medicine&amp;lang=vi"' in page
