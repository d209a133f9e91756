"""The console's exports page in Chromium: filters, the row count, and downloads that arrive
as files (CSV with its byte-order mark, GeoJSON), on a desktop and a tablet."""

import csv
import io
import json

import pytest
from playwright.sync_api import expect

from .seed import Seed
from .test_content_security_policy import WATCH

CITY = (21.2700, 106.1900)  # Bắc Giang city (district 24-213)
LUC_NAM = (21.2930, 106.3960)  # Lục Nam (district 24-220)


@pytest.fixture(scope="module")
def world(live_server):
    seed = Seed(live_server)
    coordinator = seed.coordinator(areas=("24",))
    city = [
        seed.help_request(
            at=(CITY[0] + 0.003 * i, CITY[1]), urgency="urgent" if i % 2 else "normal"
        )
        for i in range(4)
    ]
    luc_nam = [seed.help_request(at=(LUC_NAM[0] + 0.003 * i, LUC_NAM[1])) for i in range(6)]
    volunteer = seed.volunteer(at=CITY)[2]
    seed.claim(city[0]["id"], volunteer)
    seed.helped(city[0]["id"], volunteer)
    return {"seed": seed, "coordinator": coordinator, "city": city, "luc_nam": luc_nam}


def exports_page(contexts, world, viewport=None):
    context = contexts.new(phone=False)
    context.add_init_script(WATCH)
    world["seed"].log_in(context, world["coordinator"][0])
    page = context.new_page()
    if viewport:
        page.set_viewport_size(viewport)
    return page


def test_a_coordinator_filters_and_downloads_the_requests_as_csv(contexts, world, shot, axe_check):
    page = exports_page(contexts, world)
    page.goto("/console/exports?lang=en")
    expect(page.get_by_role("heading", name="Exports", exact=True)).to_be_visible()
    expect(page.locator("[data-exports-count]")).to_contain_text("10 requests match")
    shot(page, "exports desktop")
    axe_check(page, "console exports")
    page.get_by_label("Area", exact=True).select_option("24-213")
    page.get_by_label("Urgency").select_option("urgent")
    page.get_by_role("button", name="Apply filters").click()
    page.wait_for_url("**area=24-213**")
    expect(page.locator("[data-exports-count]")).to_contain_text("2 requests match")
    with page.expect_download() as info:
        page.locator('[data-export="requests.csv"]').click()
    download = info.value
    assert download.suggested_filename.startswith("connect-requests-")
    raw = open(download.path(), "rb").read()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"), newline="")))
    assert sorted(int(row["id"]) for row in rows) == [r["id"] for r in world["city"][1::2]]
    assert all(row["urgency"] == "urgent" and "24-213" in row["areas"] for row in rows)
    shot(page, "exports filtered")
    assert page.evaluate("window.__cspViolations || []") == []


def test_the_public_counts_download_on_a_tablet(contexts, world, shot):
    page = exports_page(contexts, world, viewport={"width": 768, "height": 1024})
    page.goto("/console/exports?lang=en")
    with page.expect_download() as info:
        page.locator('[data-export="areas.geojson"]').click()
    collection = json.loads(open(info.value.path(), encoding="utf-8").read())
    by_code = {f["id"]: f["properties"] for f in collection["features"]}
    assert by_code["24"]["requests_open"] == 9 and by_code["24-222"]["requests_open"] == 0
    # The city's 3 are withheld, and Lục Nam's 6 with them: else 9 - 6 - 0 gives the 3.
    assert by_code["24-213"]["requests_open"] is None
    assert by_code["24-220"]["requests_open"] is None
    assert "requests_open" in by_code["24-220"]["suppressed"]
    shot(page, "exports tablet")
