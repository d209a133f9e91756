"""Console statistics: every figure of GET /api/v1/stats/console against a small history
computed by hand, the coordinator's scope, and the page that draws them as SVG charts.

The history (times UTC; the service's days are local, Asia/Ho_Chi_Minh = UTC+7), in
Bắc Giang city (BG: areas 24 and 24-213) and Lục Nam (LN: areas 24 and 24-220):

  req  area categories        posted  claimed        helped         confirmed    now
  A    BG   food              D1 01:00 D1 01:10 (600) D1 02:00 (3600) D2 03:00    confirmed
  B    BG   food, medicine    D1 02:00 D1 16:00 (50400) D1 18:00 = local D2 01:00 (57600) helped
  C    LN   supplies          D1 03:00 cancelled D1 04:00                         cancelled
  D    LN   medicine          D1 05:00                                            open
  E    LN   food              D2 01:00 D2 01:20 (1200) D2 03:00 (7200) D3 02:00   confirmed
  F    BG   other             D2 02:00 D2 04:00 (7200), released D2 05:00         open
  G    LN   food, supplies    D3 01:00                                            open
  H    BG   medicine          D3 02:00 D3 02:10 (600)                             claimed
  I    BG   supplies          D3 03:00 D3 03:30 (1800) confirmed straight from the claim
                                                       D3 04:00 (3600)            confirmed
  J    LN   food              D3 04:30                                            open
  now: D3 06:00 (local D3 13:00). (seconds from posting in brackets)
"""

import re
from datetime import date, datetime, timedelta

import pytest

from conftest import BAC_GIANG, LUC_NAM, OWN_AREA, ensure_demo_areas, new_phone

API = "/api/v1/requests"
STATS = "/api/v1/stats/console"
PAGE = "/console/statistics"
D1, D2, D3 = date(2024, 6, 10), date(2024, 6, 11), date(2024, 6, 12)
RANGE = {"from": "2024-06-10", "to": "2024-06-12"}
PASSWORD = "dieu-phoi-1"
CSRF = re.compile(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"')
STYLE_OR_SCRIPT = re.compile(r"\sstyle=|<script(?![^>]*\bsrc=)|\son[a-z]+=", re.I)


def utc(day, hour, minute=0):
    return datetime.combine(day, datetime.min.time()) + timedelta(hours=hour, minutes=minute)


@pytest.fixture
def history(app, client, clock, post_request, create_volunteer):
    """The table above, played through the API with the clock moved to each moment."""
    ensure_demo_areas(app)  # before posting, so the requests are placed in the areas
    posted, holders = {}, {}

    def post(name, at, categories, when):
        clock.set(when)
        posted[name] = post_request(at=at, categories=categories)

    def act(name, action, when, by=None):
        clock.set(when)
        request = posted[name]
        if action == "claim":
            holders[name] = create_volunteer(at=BAC_GIANG if by is None else by)
        headers = (
            {"X-Manage-Token": request["manage_token"]}
            if action in ("confirm", "cancel")
            else holders[name]
        )
        response = client.post(f"{API}/{request['id']}/{action}", headers=headers)
        assert response.status_code == 200, (name, action, response.get_json())

    post("A", BAC_GIANG, ["food"], utc(D1, 1))
    act("A", "claim", utc(D1, 1, 10))
    act("A", "helped", utc(D1, 2))
    post("B", BAC_GIANG, ["food", "medicine"], utc(D1, 2))
    post("C", LUC_NAM, ["supplies"], utc(D1, 3))
    act("C", "cancel", utc(D1, 4))
    post("D", LUC_NAM, ["medicine"], utc(D1, 5))
    act("B", "claim", utc(D1, 16))
    act("B", "helped", utc(D1, 18))
    post("E", LUC_NAM, ["food"], utc(D2, 1))
    act("E", "claim", utc(D2, 1, 20), by=LUC_NAM)
    post("F", BAC_GIANG, ["other"], utc(D2, 2))
    act("E", "helped", utc(D2, 3))
    act("A", "confirm", utc(D2, 3))
    act("F", "claim", utc(D2, 4))
    act("F", "release", utc(D2, 5))
    post("G", LUC_NAM, ["food", "supplies"], utc(D3, 1))
    act("E", "confirm", utc(D3, 2))
    post("H", BAC_GIANG, ["medicine"], utc(D3, 2))
    act("H", "claim", utc(D3, 2, 10))
    post("I", BAC_GIANG, ["supplies"], utc(D3, 3))
    act("I", "claim", utc(D3, 3, 30))
    act("I", "confirm", utc(D3, 4))
    post("J", LUC_NAM, ["food"], utc(D3, 4, 30))
    clock.set(utc(D3, 6))
    return posted


def stats(client, headers, **query):
    response = client.get(STATS, headers=headers, query_string=query)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def per_day(body):
    return [(day["date"], day["helped"], day["confirmed"]) for day in body["assists_per_day"]]


def need(body):
    return [(c["area_code"], c["category"], c["count"]) for c in body["open_need"]]


# -- the figures --------------------------------------------------------------------------


def test_assists_per_day_count_each_request_on_the_local_day_it_was_first_helped_and_confirmed(
    client, history, create_staff
):
    body = stats(client, create_staff(areas=(OWN_AREA,)), **RANGE)
    assert (body["from"], body["to"]) == ("2024-06-10", "2024-06-12")
    # B was marked helped at 18:00 UTC on the 10th: the 11th in Vietnam. I, confirmed
    # straight from its claim, is helped and confirmed on the same day.
    assert per_day(body) == [("2024-06-10", 1, 0), ("2024-06-11", 2, 1), ("2024-06-12", 1, 2)]


def test_requests_posted_and_the_fulfilment_rate_of_those_closed_now(
    client, history, create_staff
):
    body = stats(client, create_staff(areas=(OWN_AREA,)), **RANGE)
    assert body["requests_posted"] == 10
    # Closed now: A, B, E, I helped or confirmed, C cancelled. D, F, G, J open; H claimed.
    assert body["fulfilment_rate"] == pytest.approx(4 / 5)


def test_median_times_over_an_even_number_of_requests_average_the_middle_two(
    client, history, create_staff
):
    body = stats(client, create_staff(areas=(OWN_AREA,)), **RANGE)
    # Claims: 600, 600, 1200, 1800, 7200, 50400; help: 3600, 3600, 7200, 57600.
    assert body["median_time_to_claim_s"] == 1500.0
    assert body["median_time_to_help_s"] == 5400.0


def test_median_times_over_an_odd_number_of_requests_take_the_middle_one(
    client, history, create_staff
):
    body = stats(client, create_staff(areas=("24-213",)), **RANGE)
    # Bắc Giang city alone: claims of A, B, F, H, I; help of A, B, I.
    assert body["median_time_to_claim_s"] == 1800.0
    assert body["median_time_to_help_s"] == 3600.0
    assert body["requests_posted"] == 5
    assert body["fulfilment_rate"] == 1.0


def test_open_need_counts_open_requests_per_area_and_category(client, history, create_staff):
    body = stats(client, create_staff(areas=(OWN_AREA,)), **RANGE)
    # Open now: D (LN medicine), F (BG other), G (LN food, supplies), J (LN food).
    assert need(body) == [
        ("24", "food", 2),
        ("24", "supplies", 1),
        ("24", "medicine", 1),
        ("24", "other", 1),
        ("24-213", "other", 1),
        ("24-220", "food", 2),
        ("24-220", "supplies", 1),
        ("24-220", "medicine", 1),
    ]
    assert body["open_need"][0]["area_name"] == "Tỉnh Bắc Giang (demo)"
    assert body["open_total"] == 4


def test_a_later_range_counts_assists_of_earlier_requests_but_not_their_posting(
    client, history, create_staff
):
    body = stats(client, create_staff(role="admin"), **{"from": "2024-06-11", "to": "2024-06-12"})
    assert per_day(body) == [("2024-06-11", 2, 1), ("2024-06-12", 1, 2)]
    # Posted on the 11th or 12th: E, F, G, H, I, J; closed: E, I.
    assert body["requests_posted"] == 6
    assert body["fulfilment_rate"] == 1.0
    assert body["median_time_to_claim_s"] == 1500.0  # 600, 1200, 1800, 7200
    assert body["median_time_to_help_s"] == 5400.0  # 3600, 7200
    assert body["open_total"] == 4


def test_a_category_filter_narrows_every_figure(client, history, create_staff):
    body = stats(client, create_staff(areas=(OWN_AREA,)), category="food", **RANGE)
    # Food: A, B, E, G, J.
    assert per_day(body) == [("2024-06-10", 1, 0), ("2024-06-11", 2, 1), ("2024-06-12", 0, 1)]
    assert body["requests_posted"] == 5
    assert body["fulfilment_rate"] == 1.0
    assert body["median_time_to_claim_s"] == 1200.0  # 600, 1200, 50400
    assert body["median_time_to_help_s"] == 7200.0  # 3600, 7200, 57600
    # G and J are open; G counts in its other category too.
    assert need(body) == [
        ("24", "food", 2),
        ("24", "supplies", 1),
        ("24-220", "food", 2),
        ("24-220", "supplies", 1),
    ]
    assert body["open_total"] == 2


def test_a_range_with_nothing_in_it_has_zeros_and_nulls(client, history, create_staff):
    body = stats(
        client, create_staff(areas=(OWN_AREA,)), **{"from": "2024-05-01", "to": "2024-05-03"}
    )
    assert per_day(body) == [("2024-05-01", 0, 0), ("2024-05-02", 0, 0), ("2024-05-03", 0, 0)]
    assert body["requests_posted"] == 0
    assert body["fulfilment_rate"] is None
    assert body["median_time_to_claim_s"] is None
    assert body["median_time_to_help_s"] is None
    assert body["open_total"] == 4  # open need is now, whatever the range


def test_the_range_defaults_to_the_last_30_local_days(client, history, create_staff, clock):
    headers = create_staff(areas=(OWN_AREA,))
    body = stats(client, headers)
    assert (body["from"], body["to"]) == ("2024-05-14", "2024-06-12")
    assert len(body["assists_per_day"]) == 30
    assert per_day(body)[-3:] == [("2024-06-10", 1, 0), ("2024-06-11", 2, 1), ("2024-06-12", 1, 2)]
    clock.set(utc(D3, 17, 30))  # 00:30 on the 13th in Vietnam
    assert stats(client, headers)["to"] == "2024-06-13"
    assert stats(client, headers, to="2024-06-12")["from"] == "2024-05-14"


# -- scope ---------------------------------------------------------------------------------


def test_a_coordinator_of_luc_nam_gets_only_luc_nam_figures(client, history, create_staff):
    headers = create_staff(areas=("24-220",))
    body = stats(client, headers, **RANGE)
    # Lục Nam: C cancelled, D open, E confirmed, G and J open.
    assert per_day(body) == [("2024-06-10", 0, 0), ("2024-06-11", 1, 0), ("2024-06-12", 0, 1)]
    assert body["requests_posted"] == 5
    assert body["fulfilment_rate"] == 0.5
    assert body["median_time_to_claim_s"] == 1200.0
    assert body["median_time_to_help_s"] == 7200.0
    # The province holds these requests too, but is not theirs to see.
    assert need(body) == [
        ("24-220", "food", 2),
        ("24-220", "supplies", 1),
        ("24-220", "medicine", 1),
    ]
    assert body["open_total"] == 3
    assert stats(client, headers, area="24-220", **RANGE) == body


def test_a_coordinator_is_refused_an_area_not_theirs(client, history, create_staff):
    headers = create_staff(areas=("24-220",))
    for code in ("24-213", "24"):
        response = client.get(STATS, headers=headers, query_string={"area": code})
        assert response.status_code == 403
        assert response.get_json()["error"]["code"] == "not_coordinator"
    response = client.get(STATS, headers=headers, query_string={"area": "99"})
    assert response.status_code == 404


def test_an_area_filter_shows_that_area_and_the_areas_inside_it(client, history, create_staff):
    body = stats(client, create_staff(areas=(OWN_AREA,)), area="24-213", **RANGE)
    assert per_day(body) == [("2024-06-10", 1, 0), ("2024-06-11", 1, 1), ("2024-06-12", 1, 1)]
    assert need(body) == [("24-213", "other", 1)]
    assert body["open_total"] == 1


def test_only_coordinators_and_admins_get_console_statistics(
    client, create_user, create_volunteer, create_staff
):
    assert client.get(STATS).status_code == 401
    for headers in (create_user()[1], create_volunteer()):
        response = client.get(STATS, headers=headers)
        assert response.status_code == 403
        assert response.get_json()["error"]["code"] == "not_coordinator"
    assert client.get(STATS, headers=create_staff(role="admin")).status_code == 200
    # The public counts stay public.
    assert client.get("/api/v1/stats").status_code == 200


@pytest.mark.parametrize(
    "query, field",
    [
        ({"from": "2024-06-12", "to": "2024-06-10"}, "to"),
        ({"from": "2023-06-12", "to": "2024-06-12"}, "to"),  # 367 days
        ({"from": "2099-01-01"}, "to"),  # after today, the default end
        ({"from": "10/06/2024"}, "from"),
        ({"to": "2024-02-30"}, "to"),
        ({"category": "weapons"}, "category"),
    ],
)
def test_bad_dates_and_filters_are_refused_with_the_error_envelope(
    client, create_staff, clock, query, field
):
    clock.set(utc(D3, 6))
    response = client.get(STATS, headers=create_staff(), query_string=query)
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert error["code"] == "validation_error"
    assert field in error["details"]["fields"]


def test_a_range_of_366_days_is_allowed(client, create_staff, clock):
    clock.set(utc(D3, 6))
    body = stats(client, create_staff(), **{"from": "2023-06-13", "to": "2024-06-12"})
    assert len(body["assists_per_day"]) == 366


# -- the page ------------------------------------------------------------------------------


def signed_in(app, role="coordinator", areas=(OWN_AREA,)):
    """A test client with a cookie session (English pages) of a new account of this role."""
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


def test_the_page_draws_the_charts_and_figures_for_a_coordinator(app, history):
    browser = signed_in(app)
    response = browser.get(PAGE, query_string=RANGE)
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert not STYLE_OR_SCRIPT.search(page), "the CSP forbids style= and inline scripts"
    assert page.count('<svg class="chart-svg"') == 2
    assert 'aria-labelledby="assists-chart-title assists-chart-desc"' in page
    # One bar per non-zero count: helped 1, 2, 1 and confirmed 0, 1, 2.
    assert len(re.findall(r'<rect [^>]*data-series="Helped"', page)) == 3
    assert len(re.findall(r'<rect [^>]*data-series="Confirmed"', page)) == 2
    assert "Jun 11, 2024: 2 helped" in page
    headline = {
        name: re.search(rf'id="figure-{name}">\s*<dt>[^<]*</dt>\s*<dd>([^<]*)</dd>', page)[1]
        for name in ("rate", "claim", "help", "posted", "open")
    }
    assert headline == {
        "rate": "80%",
        "claim": "25 minutes",
        "help": "1 hour 30 minutes",
        "posted": "10",
        "open": "4",
    }
    rows = re.findall(
        r'<tr data-date="([\d-]+)"><th scope="row">[^<]*</th><td>(\d+)</td>'
        r"<td>(\d+)</td>",
        page,
    )
    assert rows == [("2024-06-10", "1", "0"), ("2024-06-11", "2", "1"), ("2024-06-12", "1", "2")]
    # The heat table: Lục Nam's row has 2 food, 1 supplies, 1 medicine, 0 other.
    luc_nam = re.search(r'<tr data-area="24-220">(.*?)</tr>', page, re.S)[1]
    assert re.findall(r'data-category="(\w+)">(\d+)<', luc_nam) == [
        ("food", "2"),
        ("supplies", "1"),
        ("medicine", "1"),
        ("medical_advice", "0"),
        ("other", "0"),
    ]
    assert len(re.findall(r"<rect [^>]*data-category=", page)) == 8
    assert 'href="/api/v1/stats/console?from=2024-06-10&amp;to=2024-06-12"' in page


def test_the_page_keeps_the_filters_and_links_the_same_json(app, history):
    browser = signed_in(app)
    page = browser.get(
        PAGE, query_string={"area": "24-220", "category": "food", **RANGE}
    ).get_data(as_text=True)
    assert '<option value="24-220" selected>' in page
    assert '<option value="food" selected>' in page
    link = re.search(r'href="(/api/v1/stats/console\?[^"]+)"[^>]*id="stats-json"', page)[1]
    body = browser.get(link.replace("&amp;", "&")).get_json()  # the cookie reads the API too
    assert body["requests_posted"] == 3  # E, G and J: food in Lục Nam
    assert need(body) == [("24-220", "food", 2), ("24-220", "supplies", 1)]


def test_the_page_shows_bad_dates_as_a_form_error(app, history):
    browser = signed_in(app)
    response = browser.get(PAGE, query_string={"from": "2024-06-12", "to": "2024-06-01"})
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert re.search(r'id="stats-to-error">The last day must be on or after the first', page)
    assert "chart-svg" not in page
    page = browser.get(PAGE, query_string={"from": "12/06/2024"}).get_data(as_text=True)
    assert re.search(r'id="stats-from-error">Enter a date', page)
    assert 'value="12/06/2024"' in page  # kept, to be corrected


def test_the_page_is_refused_to_others(app, client, history):
    assert client.get(PAGE).headers["Location"].startswith("/login")
    response = signed_in(app, role="volunteer", areas=()).get(PAGE)
    assert response.status_code == 403
    assert "chart-svg" not in response.get_data(as_text=True)
    response = signed_in(app, areas=("24-220",)).get(PAGE, query_string={"area": "24-213"})
    assert response.status_code == 403
    assert "chart-svg" not in response.get_data(as_text=True)
