"""A request in the console, in the browser: a coordinator at a desktop sees everything about
it (with a small map of the exact and public points), and assigns the nearest volunteer."""

from playwright.sync_api import expect

from .seed import HOME

DESKTOP = {"width": 1280, "height": 900}
# Clear of where other browser tests post (HOME), still in Bắc Giang city (24-213).
HERE = (HOME[0] + 0.012, HOME[1] - 0.009)


def test_a_coordinator_sees_a_request_and_assigns_the_nearest_volunteer(
    contexts, shot, seed, axe_check
):
    need = seed.help_request(
        at=HERE,
        contact_name="Đỗ Thị Hằng",
        address="Số 7 ngõ 12, phường Trần Phú",
        description="Cần gạo và sữa cho 2 cháu nhỏ",
        urgency="urgent",
    )
    seed.volunteer(at=(HERE[0] + 0.003, HERE[1]), radius_m=2000, name="Phạm Văn Gần")
    phone, _, _ = seed.coordinator(areas=("24",))
    context = contexts.new(phone=False, geolocation=False)
    seed.log_in(context, phone)
    page = context.new_page()
    page.set_viewport_size(DESKTOP)
    page.goto(f"/console/requests/{need['id']}?lang=en")

    expect(page.get_by_role("heading", name=f"Request #{need['id']}", level=1)).to_be_visible()
    expect(page.locator("[data-contact-name]")).to_have_text("Đỗ Thị Hằng")
    expect(page.locator("[data-contact-phone]")).to_have_attribute("href", f"tel:{need['phone']}")
    expect(page.locator("[data-request-map].leaflet-container")).to_be_visible()
    expect(page.locator("[data-request-map] path.leaflet-interactive")).to_have_count(2)
    row = page.locator("[data-candidates] tr", has_text="Phạm Văn Gần")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("334 m")  # 0.003° of latitude
    shot(page, "the request")
    axe_check(page, "console request")

    row.get_by_role("button", name="Assign").click()
    expect(page.locator(".flash-success")).to_contain_text("Assigned")
    expect(page.locator("[data-status]")).to_have_text("Claimed")
    expect(page.locator("[data-claimant]")).to_contain_text("Phạm Văn Gần")
    expect(page.locator("[data-events]")).to_contain_text("assigned by coordinator")
    expect(page.locator("[data-assign]")).to_have_count(0)
    shot(page, "assigned")
    assert seed.status(need["id"]) == "claimed"
