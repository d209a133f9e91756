"""The console's statistics page in Chromium: two weeks of history drawn as SVG charts on a
desktop and a tablet, the filters as a GET form, the JSON link, and no accessibility faults."""

import math
from datetime import timedelta

import pytest
from playwright.sync_api import expect

from .seed import Seed
from .test_content_security_policy import WATCH

CITY = (21.2700, 106.1900)  # Bắc Giang city (district 24-213)
LUC_NAM = (21.2930, 106.3960)  # Lục Nam (district 24-220)
DAYS = 14
CATEGORIES = (["food"], ["medicine"], ["food", "supplies"], ["other"], ["medical_advice"])


def near(at, i, step=0.0019):
    angle = i * 0.9
    return (
        at[0] + step * (1 + i // 7) * math.sin(angle),
        at[1] + step * (1 + i // 7) * math.cos(angle),
    )


@pytest.fixture(scope="module")
def world(live_server):
    """Requests over the last two weeks (the clock moved back while posting), most of them
    claimed and helped after a while, some confirmed, the rest left open."""
    from connect import clock

    seed = Seed(live_server)
    coordinator = seed.coordinator(areas=("24",))
    start = clock.now().replace(hour=1, minute=0, second=0, microsecond=0) - timedelta(
        days=DAYS - 1
    )
    moment = {"now": start}
    helped = 0
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(clock, "now", lambda: moment["now"])
        for day in range(DAYS):
            for i in range(4 if day == DAYS - 1 else day % 4 + 1):
                n = day * 4 + i
                moment["now"] = start + timedelta(days=day, minutes=25 * i)
                at = near(LUC_NAM if n % 3 == 0 else CITY, n)
                posted = seed.help_request(at=at, categories=CATEGORIES[n % len(CATEGORIES)])
                if day == DAYS - 1 or n % 4 == 3:
                    continue  # left open: the need now
                volunteer = seed.volunteer(at=at)[2]
                moment["now"] += timedelta(minutes=10 + 7 * (n % 5))
                seed.claim(posted["id"], volunteer)
                moment["now"] += timedelta(minutes=40 + 9 * (n % 7))
                seed.helped(posted["id"], volunteer)
                helped += 1
                if n % 2 == 0:
                    moment["now"] += timedelta(hours=3)
                    response = seed.client.post(
                        f"/api/v1/requests/{posted['id']}/confirm",
                        headers={"X-Manage-Token": posted["manage_token"]},
                    )
                    assert response.status_code == 200, response.get_json()
        for i in range(2):  # food needed in Lục Nam now
            moment["now"] = start + timedelta(days=DAYS - 1, hours=2, minutes=i)
            seed.help_request(at=near(LUC_NAM, 90 + i), categories=["food"])
    return {"seed": seed, "coordinator": coordinator, "helped": helped}


def statistics_page(contexts, world, viewport=None):
    context = contexts.new(phone=False)
    context.add_init_script(WATCH)
    world["seed"].log_in(context, world["coordinator"][0])
    page = context.new_page()
    if viewport:
        page.set_viewport_size(viewport)
    return page


def test_a_coordinator_sees_two_weeks_of_assists_and_the_open_need(
    contexts, world, shot, axe_check
):
    page = statistics_page(contexts, world)
    page.goto("/console/statistics?lang=en")
    expect(page.get_by_role("heading", name="Statistics", exact=True)).to_be_visible()
    chart = page.get_by_role("img", name="Assists per day")
    expect(chart).to_be_visible()
    helped_bars = page.locator('#assists-chart rect[data-series="Helped"]')
    assert helped_bars.count() >= DAYS - 2
    total = int(page.locator("#assists-table tfoot td").first.text_content())
    assert total == world["helped"]
    expect(page.get_by_role("img", name="Open need by area and category")).to_be_visible()
    assert page.locator("#need-table tbody tr").count() >= 3  # 24, 24-213, 24-220
    assert page.locator("#figure-rate dd").first.inner_text().endswith("%")
    shot(page, "statistics desktop")
    axe_check(page, "console statistics")
    assert page.evaluate("window.__cspViolations || []") == []


def test_the_filters_narrow_the_page_and_the_json_link_follows(contexts, world, shot):
    page = statistics_page(contexts, world, viewport={"width": 768, "height": 1024})
    page.goto("/console/statistics?lang=en")
    page.get_by_label("Area", exact=True).select_option("24-220")
    page.get_by_label("Category", exact=True).select_option("food")
    page.get_by_role("button", name="Show").click()
    page.wait_for_url("**area=24-220**")
    expect(page.locator('#need-table tbody tr[data-area="24-220"]')).to_have_count(1)
    assert page.locator("#need-table tbody tr").count() == 1
    href = page.get_by_role("link", name="Download JSON").get_attribute("href")
    assert "area=24-220" in href and "category=food" in href
    body = page.request.get(href).json()
    assert {cell["area_code"] for cell in body["open_need"]} <= {"24-220"}
    shot(page, "statistics tablet filtered")
    page.locator("#assists-table").evaluate("t => t.closest('details').open = true")
    shot(page, "statistics tablet with the table open")
