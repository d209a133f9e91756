"""Moderation in the browser: a coordinator at a desktop reviews what residents reported,
blocks the phone behind an auto-hidden request, and lifts the block again."""

from playwright.sync_api import expect

from .seed import HOME

DESKTOP = {"width": 1280, "height": 900}


def _report(seed, request_id, reason):
    _, _, headers = seed.user()
    response = seed.client.post(
        f"/api/v1/requests/{request_id}/report",
        headers=headers,
        json={"reason": reason, "comment": "Hỏi chuyển khoản trước"},
    )
    assert response.status_code == 201, response.get_json()


def test_a_coordinator_blocks_the_phone_behind_a_reported_request_and_lifts_it(
    contexts, shot, seed, axe_check
):
    hidden = seed.help_request(at=HOME, description="Bán gạo giá rẻ, gọi ngay")
    for reason in ("advertising", "advertising", "scam"):
        _report(seed, hidden["id"], reason)
    once = seed.help_request(at=(HOME[0] + 0.003, HOME[1]))
    _report(seed, once["id"], "joke")
    phone, _, _ = seed.coordinator(areas=("24",))
    context = contexts.new(phone=False, geolocation=False)
    seed.log_in(context, phone)
    page = context.new_page()
    page.set_viewport_size(DESKTOP)
    page.goto("/console/moderation?lang=en")
    expect(page.get_by_role("heading", name="Moderation", level=1)).to_be_visible()
    items = page.locator("[data-request-id]")
    expect(items).to_have_count(2)
    first = page.locator(f"[data-request-id='{hidden['id']}']")
    expect(items.first).to_have_attribute("data-request-id", str(hidden["id"]))
    expect(first.locator("[data-pending-review]")).to_be_visible()
    expect(first.locator("[data-reports]")).to_contain_text("advertising 2")
    shot(page, "the queue")
    axe_check(page, "console moderation")

    block = first.locator("[data-action='block-phone']")
    block.get_by_label("Why").fill("Quảng cáo bán gạo, nhiều báo cáo")
    block.get_by_role("button", name="Block phone").click()
    expect(page.locator(".flash-success")).to_contain_text("is blocked")
    # Its reports are upheld by the block: nothing left to review there.
    expect(first).to_have_count(0)
    expect(items).to_have_count(1)
    row = page.locator("[data-blocked-phones] [data-block-id]")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("Quảng cáo bán gạo")
    expect(page.locator("[data-recent-actions]")).to_contain_text(
        "phone blocked: Quảng cáo bán gạo, nhiều báo cáo"
    )
    shot(page, "blocked")

    lift = row.locator("[data-action='lift']")
    lift.get_by_label("Why").fill("Nhầm: chủ số gọi lên đường dây nóng")
    lift.get_by_role("button", name="Lift").click()
    expect(page.locator(".flash-success")).to_contain_text("can post requests again")
    expect(page.locator("[data-blocked-phones] [data-block-id]")).to_contain_text("Lifted by")
    shot(page, "lifted")
