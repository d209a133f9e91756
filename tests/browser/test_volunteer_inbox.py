"""A volunteer receives a pushed need live: the needs page is open on their phone, a resident
posts nearby from another phone, and the need appears on the volunteer's page without a reload
(long polling), announced politely, with a button to take it.

Its own module, so its own server: no held polls left over from other tests' closed pages.
"""

import re
import time

from playwright.sync_api import expect

from .site_pages import post_request_with_my_location

DESCRIPTION = "Cần sữa và bỉm cho em bé 2 tuổi"


def test_a_volunteer_sees_a_need_pushed_to_them_live(contexts, shot, seed):
    phone, _, _ = seed.volunteer(name="Phạm Thu Hà")
    volunteer = contexts.page()
    seed.log_in(volunteer.context, phone)
    # The live poll goes out once the page has settled; wait until it is held.
    with volunteer.expect_request(
        lambda r: "/api/v1/notifications?after=" in r.url and "wait=" in r.url
    ):
        volunteer.goto("/volunteer/needs")
    inbox = volunteer.locator("[data-inbox]")
    expect(inbox.get_by_role("heading", level=2)).to_be_visible()
    expect(inbox.locator("[data-inbox-empty]")).to_be_visible()
    expect(inbox.locator("[data-inbox-unread]")).to_be_hidden()
    expect(inbox.locator("[data-inbox-muted]")).to_be_hidden()
    volunteer.evaluate("() => { window.sameDocument = true; }")
    shot(volunteer, "needs page open, nothing sent yet")

    # A resident nearby asks for help on her own phone.
    resident = contexts.page()
    post_request_with_my_location(resident, description=DESCRIPTION)
    posted_at = time.monotonic()

    notice = inbox.locator("[data-inbox-list] .notice").filter(has_text=DESCRIPTION)
    expect(notice).to_be_visible(timeout=5000)
    arrived_s = time.monotonic() - posted_at
    print(f"\npushed need shown on the volunteer's page {arrived_s:.2f} s after the post")
    assert volunteer.evaluate("() => window.sameDocument === true"), "the page reloaded"
    expect(notice).to_contain_text("Thực phẩm, Thuốc")
    expect(notice).to_contain_text("Gấp")
    expect(notice).to_contain_text(re.compile(r"\d+ m"))
    expect(notice).not_to_contain_text("0913")  # no phone before the claim
    expect(inbox.locator("[data-inbox-empty]")).to_be_hidden()
    expect(inbox.locator("[data-inbox-unread]")).to_be_visible()
    expect(inbox.locator("[data-inbox-unread]")).to_contain_text("1")
    expect(inbox.locator("[data-inbox-announce]")).to_contain_text("Thực phẩm, Thuốc")
    assert inbox.locator("[data-inbox-announce]").get_attribute("aria-live") == "polite"
    take = notice.get_by_role("button", name="Tôi sẽ giúp")
    expect(take).to_be_visible()
    notice.scroll_into_view_if_needed()
    shot(volunteer, "the pushed need arrived live")

    # Taking it from the notice works like taking it from the list.
    take.click()
    expect(volunteer).to_have_url(re.compile(r"/volunteer/claims/\d+$"))
    expect(volunteer.get_by_text(DESCRIPTION)).to_be_visible()
    shot(volunteer, "taken from the notice")
