"""Hotline intake in the browser: an operator at a desktop takes a call, checks the phone
first, places the caller on the map (or types the point), is warned of a look-alike request
nearby, posts anyway, and reads the caller's manage link off the confirmation."""

import re

from playwright.sync_api import expect

from .seed import HOME

ASKED = "Gạo và mì tôm cho 3 người, đang cách ly"
DESKTOP = {"width": 1280, "height": 800}
# About 33 m north of HOME, where a resident already asked for food.
TYPED = "21.273400, 106.194600"


def test_an_operator_enters_a_call_is_warned_of_a_look_alike_and_posts_anyway(
    contexts, shot, seed, axe_check
):
    existing = seed.help_request(at=HOME, categories=["food"])
    phone, _, _ = seed.coordinator(areas=("24",))
    context = contexts.new(phone=False, geolocation=False)
    seed.log_in(context, phone)
    page = context.new_page()
    page.set_viewport_size(DESKTOP)
    page.goto("/console/intake?lang=en")
    expect(page.get_by_role("heading", name="Hotline intake", level=1)).to_be_visible()
    expect(page.get_by_label("Caller's phone number")).to_be_focused()
    # The operator's own position is no use here: no "Use my location".
    expect(page.locator("[data-locate]")).to_be_hidden()

    # Phone first: checked before anything else is asked.
    page.get_by_label("Caller's phone number").fill("0916 123 456")
    page.get_by_role("button", name="Check phone").click()
    expect(page.locator("[data-phone-free]")).to_be_visible()
    expect(page.get_by_label("Caller's phone number")).to_have_value("0916 123 456")

    page.get_by_label("Caller's name").fill("Bà Nguyễn Thị Hoa")
    page.locator("#categories").get_by_text("Food", exact=True).click()
    page.locator("#urgency").get_by_text("Urgent: needed today").click()
    page.get_by_label("People in the household").fill("3")
    page.get_by_label("What they asked for").fill(ASKED)
    page.get_by_label("Address").fill("Số 5 ngõ 12, Trần Phú")

    # A click on the map places the pin and writes its point into the typed field ...
    the_map = page.locator("[data-map]")
    expect(the_map).to_be_visible()
    the_map.click(position={"x": 200, "y": 150})
    expect(page.locator(".leaflet-marker-icon")).to_have_count(1)
    typed = page.get_by_label("Or type the point: latitude, longitude")
    expect(typed).to_have_value(re.compile(r"^\d+\.\d{6}, \d+\.\d{6}$"))
    # ... and a typed point moves the pin and the form's point there.
    typed.fill(TYPED)
    typed.press("Tab")
    expect(page.locator("#lat")).to_have_value("21.273400")
    expect(page.locator("#lon")).to_have_value("106.194600")
    shot(page, "the call entered")

    page.get_by_role("button", name="Post the request").click()
    warning = page.locator("[data-warning='possible_duplicate']")
    expect(warning).to_be_visible()
    row = warning.locator(f"[data-nearby-request='{existing['id']}']")
    expect(row).to_contain_text("33 m")
    expect(row.get_by_role("link", name=f"#{existing['id']}")).to_have_attribute(
        "href", f"/console/requests/{existing['id']}"
    )
    # The answers are all still there.
    expect(page.get_by_label("Caller's name")).to_have_value("Bà Nguyễn Thị Hoa")
    expect(page.get_by_label("Or type the point: latitude, longitude")).to_have_value(TYPED)
    shot(page, "warned of a look-alike")
    axe_check(page, "console intake, warned of a look-alike")

    page.get_by_role("button", name="Post anyway").click()
    done = page.locator("[data-intake-done]")
    expect(done).to_be_visible()
    # Nothing to read out: the caller is texted their request number and link.
    expect(done.locator("[data-caller-texted]")).to_be_visible()
    expect(done.locator("[data-manage-link]")).to_have_count(0)
    expect(done).to_contain_text("Bà Nguyễn Thị Hoa")
    shot(page, "posted: the caller is texted their link")
    axe_check(page, "console intake, posted")

    # The texted link is the caller's: it opens their request's status page.
    request_id = int(done.get_attribute("data-intake-done"))
    caller = contexts.new().new_page()
    caller.goto(seed.texted_link(request_id))
    expect(caller.get_by_role("heading", level=1)).to_contain_text(str(request_id))
    body = seed.client.get(f"/api/v1/requests/{request_id}").get_json()
    assert body["status"] == "open" and body["categories"] == ["food"]

    page.get_by_role("link", name="Enter another call").click()
    expect(page.get_by_label("Caller's phone number")).to_have_value("")
    expect(page.locator("[data-warning]")).to_have_count(0)
