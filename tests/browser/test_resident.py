"""A resident on a cheap phone posts a need in Vietnamese and follows it with the private link."""

import re

from playwright.sync_api import expect

from .site_pages import MANAGE_URL, fill_request
from .site_pages import send_request as send


def test_resident_posts_a_request_with_my_location_on_a_phone(phone, shot):
    phone.goto("/")
    shot(phone, "home")
    phone.get_by_role("link", name=re.compile("Tôi cần giúp đỡ")).click()
    expect(phone.get_by_role("heading", name="Nhờ giúp đỡ", level=1)).to_be_visible()
    shot(phone, "empty form")
    fill_request(phone, phone="0912 345 678")
    # Category toggles are big tap targets that show their state.
    food = phone.locator("label.toggle", has_text="Thực phẩm")
    assert food.bounding_box()["height"] >= 44
    shot(phone, "answers filled in")

    phone.get_by_role("button", name="Dùng vị trí của tôi").click()
    expect(phone.get_by_role("status").filter(has_text="Đã tìm thấy bạn")).to_be_visible()
    assert abs(float(phone.locator("#lat").input_value()) - 21.2731) < 1e-4
    assert abs(float(phone.locator("#lon").input_value()) - 106.1946) < 1e-4
    expect(phone.locator(".leaflet-marker-icon")).to_have_count(1)
    shot(phone, "location found, pin on the map")

    send(phone)
    expect(phone).to_have_url(MANAGE_URL)
    manage_url = phone.url
    expect(phone.get_by_role("heading", name="Yêu cầu của bạn", level=1)).to_be_visible()
    expect(phone.get_by_text("Yêu cầu của bạn đã được gửi")).to_be_visible()
    expect(phone.get_by_text("Đang chờ tình nguyện viên")).to_be_visible()
    # The private link is shown with a warning that it is the only key, and can be copied.
    expect(phone.get_by_role("heading", name="Hãy giữ kỹ đường link này")).to_be_visible()
    expect(phone.locator("#manage-link")).to_have_text(manage_url)
    phone.get_by_role("button", name="Sao chép đường link").click()
    expect(phone.get_by_text("Đã sao chép đường link")).to_be_visible()
    assert phone.evaluate("navigator.clipboard.readText()") == manage_url
    # What was asked is shown back, in the resident's words.
    expect(phone.get_by_text("Cần gạo và trứng cho 4 người")).to_be_visible()
    expect(phone.get_by_text("0912 345 678", exact=True)).to_be_visible()
    shot(phone, "manage page with the private link")


def test_refused_location_shows_the_fallback_and_a_map_pin_still_posts(contexts, shot):
    page = contexts.page(geolocation=False)
    page.goto("/need-help")
    fill_request(page)
    page.get_by_role("button", name="Dùng vị trí của tôi").click()
    expect(page.get_by_text("Điện thoại của bạn không chia sẻ vị trí. Không sao")).to_be_visible()
    assert page.locator("#lat").input_value() == ""
    shot(page, "location refused: the fallback")
    map_box = page.get_by_role("application", name="Bản đồ: chạm vào chỗ nhà bạn")
    map_box.click(position={"x": 120, "y": 150})
    expect(page.get_by_text("Đã đặt ghim")).to_be_visible()
    assert page.locator("#lat").input_value() != ""
    shot(page, "pin placed on the map")
    send(page)
    expect(page).to_have_url(MANAGE_URL)
    expect(page.get_by_text("Đang chờ tình nguyện viên")).to_be_visible()
    shot(page, "posted")


def test_without_javascript_the_resident_posts_by_choosing_the_area(contexts, seed, shot):
    page = contexts.page(javascript=False)
    page.goto("/need-help")
    expect(page.get_by_role("button", name="Dùng vị trí của tôi")).to_be_hidden()
    fill_request(page)
    page.get_by_label("Hoặc chọn khu vực của bạn trong danh sách").select_option(label="Việt Yên")
    shot(page, "area chosen from the list, no JavaScript")
    send(page)
    expect(page).to_have_url(MANAGE_URL)
    expect(page.get_by_text("Đang chờ tình nguyện viên")).to_be_visible()
    token = page.url.rsplit("/", 1)[1]
    mine = seed.client.get(_own_request_url(seed, token), headers={"X-Manage-Token": token})
    exact = mine.get_json()["exact_location"]
    assert (round(exact["lat"], 4), round(exact["lon"], 4)) == (21.27, 106.1)
    shot(page, "posted without JavaScript")


def _own_request_url(seed, token):
    from connect.requests import queries

    with seed.server.app.app_context():
        return f"/api/v1/requests/{queries.find_by_manage_token(token).id}"


def test_bad_phone_number_shows_the_error_by_the_field_and_keeps_the_answers(phone, shot):
    phone.goto("/need-help")
    fill_request(phone, phone="12345")
    phone.get_by_role("button", name="Dùng vị trí của tôi").click()
    expect(phone.get_by_text("Đã tìm thấy bạn")).to_be_visible()
    send(phone)
    expect(phone).to_have_url(re.compile(r"/need-help$"))
    summary = phone.get_by_role("alert")
    expect(summary).to_contain_text("Vui lòng kiểm tra lại các câu trả lời này")
    expect(summary).to_contain_text("Số điện thoại này có vẻ chưa đúng")
    field = phone.get_by_label("Số điện thoại của bạn")
    expect(field).to_have_value("12345")
    expect(field).to_have_attribute("aria-invalid", "true")
    expect(field).to_have_accessible_description(re.compile("10 chữ số, bắt đầu bằng số 0"))
    # Every other answer is kept.
    expect(phone.get_by_label("Nói rõ hơn bạn cần gì")).to_have_value(
        "Cần gạo và trứng cho 4 người"
    )
    expect(phone.get_by_label("Nhà bạn có mấy người?")).to_have_value("4")
    expect(phone.get_by_role("checkbox", name="Thực phẩm")).to_be_checked()
    expect(phone.get_by_role("checkbox", name="Thuốc")).to_be_checked()
    expect(phone.get_by_role("checkbox", name="Việc khác")).not_to_be_checked()
    expect(phone.get_by_role("radio", name="Gấp: tôi cần ngay trong hôm nay")).to_be_checked()
    expect(phone.get_by_label("Tên của bạn")).to_have_value("Nguyễn Thị Mai")
    assert abs(float(phone.locator("#lat").input_value()) - 21.2731) < 1e-4
    shot(phone, "phone number error, answers kept")
    # The summary's link takes the resident to the field.
    summary.get_by_role("link", name=re.compile("Số điện thoại này")).click()
    expect(field).to_be_in_viewport()
    field.fill("0912 345 677")
    send(phone)
    expect(phone).to_have_url(MANAGE_URL)
    shot(phone, "posted after fixing the number")


def test_requester_sees_the_claim_appear_without_reloading(contexts, seed, shot):
    need = seed.help_request(description="Cần sữa cho em bé")
    resident = contexts.page()
    resident.clock.install()
    resident.goto(f"/m/{need['manage_token']}")
    expect(resident.get_by_text("Đang chờ tình nguyện viên")).to_be_visible()
    resident.evaluate("window.notReloaded = true")
    shot(resident, "waiting for a volunteer")

    phone_number, _, _ = seed.volunteer()
    volunteer = contexts.page()
    seed.log_in(volunteer.context, phone_number)
    volunteer.goto("/volunteer/needs")
    volunteer.get_by_role("listitem").filter(has_text="Cần sữa cho em bé").get_by_role(
        "button", name="Tôi sẽ giúp"
    ).click()
    expect(volunteer.get_by_role("heading", name="Bạn đang giúp", level=1)).to_be_visible()
    shot(volunteer, "a volunteer took it in another browser")

    resident.clock.fast_forward("00:11")  # one polling period (10 s)
    expect(resident.get_by_text("Đã có tình nguyện viên nhận giúp", exact=True)).to_be_visible()
    expect(resident.get_by_text("Đang chờ tình nguyện viên")).to_be_hidden()
    # Screen readers hear the change too.
    expect(
        resident.locator("[aria-live]").filter(has_text="Đã có tình nguyện viên nhận giúp")
    ).to_have_count(1)
    expect(resident.get_by_role("button", name="Đúng, tôi đã được giúp")).to_be_visible()
    assert resident.evaluate("window.notReloaded === true")
    shot(resident, "claimed, shown without a reload")


def test_requester_changes_then_cancels_the_request(phone, seed, shot):
    need = seed.help_request(description="Cần gạo")
    phone.goto(f"/m/{need['manage_token']}")
    phone.get_by_role("link", name="Sửa yêu cầu của tôi").click()
    expect(phone.get_by_role("heading", name="Sửa yêu cầu của bạn")).to_be_visible()
    expect(phone.get_by_label("Nói rõ hơn bạn cần gì")).to_have_value("Cần gạo")
    phone.get_by_label("Nói rõ hơn bạn cần gì").fill("Cần gạo và dầu ăn")
    shot(phone, "changing the request")
    phone.get_by_role("button", name="Lưu thay đổi").click()
    expect(phone.get_by_text("Đã lưu thay đổi của bạn.")).to_be_visible()
    expect(phone.get_by_text("Cần gạo và dầu ăn")).to_be_visible()
    phone.get_by_role("link", name="Hủy yêu cầu của tôi").click()
    expect(phone.get_by_role("heading", name="Hủy yêu cầu của bạn?")).to_be_visible()
    shot(phone, "are you sure?")
    phone.get_by_role("button", name="Có, hủy yêu cầu của tôi").click()
    expect(phone.get_by_text("Bạn đã hủy yêu cầu này.")).to_be_visible()
    expect(phone.get_by_role("link", name="Sửa yêu cầu của tôi")).to_be_hidden()
    expect(phone.get_by_role("link", name="Nhờ giúp lần nữa")).to_be_visible()
    assert seed.status(need["id"]) == "cancelled"
    shot(phone, "cancelled")


def test_post_page_works_when_map_tiles_cannot_load(contexts, shot):
    page = contexts.page(tiles="fail")
    page.goto("/need-help")
    expect(page.get_by_text("Không tải được bản đồ.")).to_be_visible(timeout=15_000)
    shot(page, "tiles failed: the message")
    fill_request(page)
    page.get_by_role("button", name="Dùng vị trí của tôi").click()
    expect(page.get_by_text("Đã tìm thấy bạn")).to_be_visible()
    send(page)
    expect(page).to_have_url(MANAGE_URL)
    shot(page, "posted without map tiles")
    assert any(what == "tile failed" for _, what in contexts.outside_requests)


def test_a_wrong_manage_link_shows_a_friendly_page(phone, shot):
    response = phone.goto("/m/not-a-real-token-at-all-123456")
    assert response.status == 404
    expect(phone.get_by_role("heading", name="Chúng tôi không tìm thấy trang này")).to_be_visible()
    expect(phone.get_by_role("link", name="Nhờ giúp đỡ")).to_be_visible()
    shot(phone, "wrong link")
