"""The coordinator console's map on a desktop and a tablet: requests of the caller's areas by
status colour (as points, or clusters when many), filters that change the count and live in
the URL, the heat and volunteer layers, a point's side panel with a link to the request, and
a coordinator of another area or a volunteer seeing none of it."""

import math
import re
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import expect

from connect.coordination.map import data as mapdata

from .seed import Seed
from .site_pages import settle_map
from .test_content_security_policy import WATCH

CITY = (21.2700, 106.1900)  # Bắc Giang city (district 24-213)
LUC_NAM = (21.2930, 106.3960)  # Lục Nam (district 24-220)
TABLET = {"width": 768, "height": 1024}
# Requests seeded: 30 in the city (6 medicine, 4 urgent), 8 in Lục Nam (2 medicine); one
# claimed, one helped. All are shown without a status filter (live and recently helped).
CITY_COUNT, LUC_NAM_COUNT = 30, 8
MEDICINE = 6 + 2
URGENT_MEDICINE = "Cần thuốc hạ sốt gấp cho cháu bé 3 tuổi"


def jitter(at, i, step=0.008):
    """A spread of points around `at` on rings of 8 (distinct, ~0.9 km apart per ring)."""
    ring = 1 + i // 8
    angle = (i % 8) * 0.785
    return (at[0] + step * ring * math.sin(angle), at[1] + step * ring * math.cos(angle))


@pytest.fixture(scope="module")
def world(live_server):
    """Requests in the city and in Lục Nam, two volunteers in the city (one claim, one help)
    and one in Lục Nam: made once for the module."""
    seed = Seed(live_server)
    coordinator = seed.coordinator(areas=("24",))
    posted = {"city": [], "luc_nam": []}
    for i in range(CITY_COUNT):
        medicine = i % 5 == 0
        posted["city"].append(
            seed.help_request(
                at=jitter(CITY, i),
                categories=["medicine"] if medicine else ["food"],
                urgency="urgent" if i in (0, 7, 14, 21) else "normal",
                description=URGENT_MEDICINE if i == 0 else "Cần gạo và trứng cho 4 người",
            )
        )
    for i in range(LUC_NAM_COUNT):
        posted["luc_nam"].append(
            seed.help_request(
                at=jitter(LUC_NAM, i), categories=["medicine"] if i < 2 else ["food", "supplies"]
            )
        )
    helper = seed.volunteer(at=CITY)
    seed.claim(posted["city"][3]["id"], helper[2])
    other = seed.volunteer(at=CITY)
    seed.claim(posted["city"][4]["id"], other[2])
    seed.helped(posted["city"][4]["id"], other[2])
    seed.volunteer(at=LUC_NAM)
    return {"seed": seed, "coordinator": coordinator, "posted": posted}


def console(contexts, world, viewport=None, areas=None, role="coordinator"):
    """A desktop (or tablet) page logged in as a coordinator that reports CSP violations."""
    phone = (
        world["coordinator"][0]
        if areas is None and role == "coordinator"
        else world["seed"].coordinator(areas=areas or (), role=role)[0]
    )
    context = contexts.new(phone=False)
    context.add_init_script(WATCH)
    world["seed"].log_in(context, phone)
    page = context.new_page()
    if viewport:
        page.set_viewport_size(viewport)
    return page


def map_loaded(page):
    """Wait until the map drew the answer for the current view and filters (a change to
    either marks the map busy at once)."""
    page.wait_for_function(
        "() => { const m = document.querySelector('[data-console-map]');"
        " return m && m.getAttribute('aria-busy') === 'false' && m.hasAttribute('data-loaded'); }"
    )
    settle_map(page)


def zoom_out(page):
    """Press the map's zoom-out button and wait for the wider view's answer."""
    before = page.locator("[data-console-map]").get_attribute("data-loaded")
    page.get_by_role("button", name="Zoom out").click()
    page.wait_for_function(
        "before => document.querySelector('[data-console-map]').getAttribute('data-loaded')"
        " !== before",
        arg=before,
    )
    map_loaded(page)


def drawn(page):
    """Requests drawn: single dots plus what the clusters on the map say they hold."""
    groups = page.locator(".leaflet-marker-pane .cmap-cluster-count")
    return page.locator(".leaflet-marker-pane .cmap-point").count() + sum(
        int(n) for n in groups.evaluate_all("els => els.map(e => e.dataset.count)")
    )


def shown_total(page):
    return int(page.locator("[data-cmap-count]").get_attribute("data-total"))


def csp_violations(page):
    return page.evaluate("window.__cspViolations || []")


def test_a_coordinator_sees_the_requests_of_their_province_filters_them_and_opens_one(
    contexts, world, shot, axe_check
):
    page = console(contexts, world)
    page.goto("/console/map?lang=en")
    expect(page.get_by_role("link", name="Map")).to_have_attribute("aria-current", "page")
    map_loaded(page)
    total = CITY_COUNT + LUC_NAM_COUNT
    count = page.locator("[data-cmap-count]")
    expect(count).to_have_text(f"{total} requests in view")
    # The whole province: the city's and Lục Nam's requests grouped, every one counted.
    assert drawn(page) == total
    badges = page.locator(".cmap-cluster .cmap-cluster-urgent").all_text_contents()
    assert sum(int(n) for n in badges) + page.locator(".cmap-point.is-urgent").count() == 4
    # The volunteers on duty: two in the city (one holds a claim), one in Lục Nam.
    tags = page.locator(".leaflet-pane .cmap-volunteer")
    expect(tags).to_have_count(2)
    assert sorted(tags.locator(".cmap-volunteer-count").all_text_contents()) == ["1", "2"]
    shot(page, "desktop province")
    axe_check(page, "console map")

    # Only medicine: the count follows, and the filter is in the address.
    page.get_by_role("checkbox", name="Medicine").check()
    map_loaded(page)
    expect(count).to_have_text(f"{MEDICINE} requests in view")
    assert parse_qs(urlsplit(page.url).query) == {"category": ["medicine"]}
    assert drawn(page) == MEDICINE
    shot(page, "desktop medicine only")
    page.get_by_label("Urgency").select_option("urgent")
    map_loaded(page)
    expect(count).to_have_text("1 request in view")
    points = page.locator(".leaflet-marker-pane .cmap-point")
    expect(points).to_have_count(1)
    expect(points).to_have_class(re.compile(r"\bstatus-open\b.*\bis-urgent\b"))
    page.get_by_label("Urgency").select_option("")
    map_loaded(page)
    page.get_by_role("checkbox", name="Medicine").uncheck()
    map_loaded(page)
    # Status colours: the claimed one is blue, the helped one green.
    page.get_by_role("checkbox", name="Claimed").check()
    map_loaded(page)
    expect(count).to_have_text("1 request in view")
    expect(points).to_have_count(1)
    assert points.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(31, 111, 209)"
    # Its panel tells its history: posted by the requester, claimed by a volunteer.
    points.click()
    history = page.locator("[data-panel=history] li")
    expect(history).to_have_count(2)
    expect(history.first).to_contain_text("Open → Claimed by Lê Văn Cường")
    expect(history.last).to_contain_text("Posted by the requester")
    shot(page, "desktop claimed request history")
    page.get_by_role("button", name="Close").click()
    expect(page.locator("[data-cmap-panel]")).to_be_hidden()
    page.get_by_role("checkbox", name="Helped").check()
    map_loaded(page)
    expect(count).to_have_text("2 requests in view")
    assert parse_qs(urlsplit(page.url).query) == {"status": ["claimed", "helped"]}
    page.get_by_role("checkbox", name="Claimed").uncheck()
    map_loaded(page)
    expect(count).to_have_text("1 request in view")
    assert points.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(46, 157, 79)"
    page.get_by_role("checkbox", name="Helped").uncheck()
    map_loaded(page)
    expect(count).to_have_text(f"{total} requests in view")

    # Bắc Giang city alone: the map moves onto it, and its requests spread out.
    page.get_by_label("Area").select_option("24-213")
    map_loaded(page)
    expect(count).to_have_text(f"{CITY_COUNT} requests in view")
    assert drawn(page) == CITY_COUNT
    assert parse_qs(urlsplit(page.url).query) == {"area": ["24-213"]}
    shot(page, "desktop city")
    page.get_by_label("Area").select_option("")
    map_loaded(page)
    expect(count).to_have_text(f"{total} requests in view")

    # The heat of unmet need draws on a canvas; the volunteers can be hidden.
    heat = page.locator("canvas.leaflet-heatmap-layer")
    expect(heat).to_have_count(0)
    page.get_by_role("checkbox", name="Heat of unmet need").check()
    expect(heat).to_have_count(1)
    expect(page.locator("[data-legend=heat]")).to_be_visible()
    assert heat.evaluate(
        "c => { const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;"
        " for (let i = 3; i < d.length; i += 4) { if (d[i] > 0) return true; } return false; }"
    )
    page.get_by_role("checkbox", name="Volunteers on duty").uncheck()
    expect(tags).to_have_count(0)
    shot(page, "desktop heat on volunteers off")
    page.get_by_role("checkbox", name="Heat of unmet need").uncheck()
    expect(heat).to_have_count(0)
    page.get_by_role("checkbox", name="Volunteers on duty").check()
    expect(tags).to_have_count(2)

    # A point opens the side panel, whose link goes to the request's page.
    urgent_id = world["posted"]["city"][0]["id"]
    page.get_by_role("checkbox", name="Medicine").check()
    map_loaded(page)
    page.get_by_label("Urgency").select_option("urgent")
    map_loaded(page)
    expect(count).to_have_text("1 request in view")
    page.get_by_role("button", name="Open · Urgent · Medicine").click()
    panel = page.locator("[data-cmap-panel]")
    expect(panel).to_be_visible()
    expect(panel.get_by_role("heading", level=2)).to_have_text(f"Request #{urgent_id}")
    expect(panel).to_contain_text(URGENT_MEDICINE)
    expect(panel).to_contain_text("Household of 4")
    link = panel.get_by_role("link", name="Open request")
    expect(link).to_have_attribute("href", f"/console/requests/{urgent_id}")
    shot(page, "desktop side panel")
    link.click()
    expect(page).to_have_url(re.compile(rf"/console/requests/{urgent_id}$"))
    assert page.title() and "404" not in page.title()
    assert csp_violations(page) == []


def test_a_cluster_shows_its_count_and_zooms_in_when_clicked(contexts, world, shot, monkeypatch):
    # Clusters from the first request on (the endpoint sends points while 500 or fewer).
    monkeypatch.setattr(mapdata, "POINTS_MAX", 0)
    page = console(contexts, world)
    page.goto("/console/map?lang=en")
    map_loaded(page)
    clusters = page.locator(".leaflet-marker-pane .cmap-cluster")
    expect(clusters.first).to_be_visible()
    expect(page.locator(".cmap-point")).to_have_count(0)
    counts = [int(text) for text in clusters.locator(".cmap-cluster-count").all_text_contents()]
    assert sum(counts) == shown_total(page) == CITY_COUNT + LUC_NAM_COUNT
    expect(page.locator(".cmap-cluster-urgent").first).to_be_visible()
    shot(page, "desktop clusters")
    zoom = page.evaluate(
        "() => document.querySelector('[data-loaded]').getAttribute('data-loaded')"
    )
    biggest = max(range(len(counts)), key=counts.__getitem__)
    clusters.nth(biggest).click()
    page.wait_for_function(
        "before => document.querySelector('[data-console-map]').getAttribute('data-loaded')"
        " !== before",
        arg=zoom,
    )
    map_loaded(page)
    zoom_before = int(parse_qs(urlsplit(zoom).query)["zoom"][0])
    zoom_after = int(
        parse_qs(urlsplit(page.locator("[data-console-map]").get_attribute("data-loaded")).query)[
            "zoom"
        ][0]
    )
    assert zoom_after == zoom_before + 2
    assert csp_violations(page) == []


def test_the_map_fits_a_tablet_with_the_filters_folded_above_it(contexts, world, shot):
    page = console(contexts, world, viewport=TABLET)
    page.goto("/console/map?lang=en&category=medicine")
    map_loaded(page)
    expect(page.locator("[data-cmap-count]")).to_have_text(f"{MEDICINE} requests in view")
    filters = page.locator("[data-cmap-filters]")
    assert filters.evaluate("d => d.open") is False
    expect(page.get_by_role("checkbox", name="Medicine")).to_be_hidden()
    box = page.locator("[data-console-map]").bounding_box()
    assert box["width"] >= 700 and box["height"] >= 520
    shot(page, "tablet folded", full_page=False)
    page.get_by_text("Filters and layers").click()
    expect(page.get_by_role("checkbox", name="Medicine")).to_be_checked()
    shot(page, "tablet filters open")
    page.get_by_role("checkbox", name="Medicine").uncheck()
    map_loaded(page)
    expect(page.locator("[data-cmap-count]")).to_have_text(
        f"{CITY_COUNT + LUC_NAM_COUNT} requests in view"
    )
    assert csp_violations(page) == []


def test_a_coordinator_of_luc_nam_sees_only_luc_nam(contexts, world, shot):
    page = console(contexts, world, areas=("24-220",))
    page.goto("/console/map?lang=en")
    map_loaded(page)
    expect(page.locator("[data-cmap-count]")).to_have_text(f"{LUC_NAM_COUNT} requests in view")
    assert drawn(page) == LUC_NAM_COUNT
    assert page.get_by_label("Area").locator("option").all_text_contents() == [
        "All my areas",
        "Huyện Lục Nam (demo)",
    ]
    # Zoomed out over the whole province, still only Lục Nam's requests and volunteer.
    for _ in range(2):
        zoom_out(page)
    assert shown_total(page) == drawn(page) == LUC_NAM_COUNT
    expect(page.locator(".cmap-volunteer")).to_have_count(1)
    shot(page, "luc nam coordinator")
    assert csp_violations(page) == []


def test_the_filters_work_without_javascript(contexts, world):
    context = contexts.new(phone=False, javascript=False)
    world["seed"].log_in(context, world["coordinator"][0])
    page = context.new_page()
    page.goto("/console/map?lang=en")
    page.get_by_role("checkbox", name="Medicine").check()
    page.get_by_label("Area").select_option("24-220")
    page.get_by_role("button", name="Apply filters").click()
    assert parse_qs(urlsplit(page.url).query) == {"area": ["24-220"], "category": ["medicine"]}
    expect(page.get_by_role("checkbox", name="Medicine")).to_be_checked()
    expect(page.get_by_text("2 filters on")).to_be_visible()


def test_a_volunteer_is_told_the_map_is_for_coordinators(contexts, world):
    phone, _, _ = world["seed"].volunteer(at=CITY)
    context = contexts.new(phone=False)
    world["seed"].log_in(context, phone)
    page = context.new_page()
    response = page.goto("/console/map?lang=en")
    assert response.status == 403
    expect(page.get_by_text("This page is for coordinators and admins.")).to_be_visible()
    expect(page.locator("[data-console-map]")).to_have_count(0)
