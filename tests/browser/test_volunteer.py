"""Volunteers find the needs near them, in a list and on the map, take one, call, help; the
requester confirms and the dot turns green."""

import re

from playwright.sync_api import expect

from .site_pages import local_number, post_request_with_my_location, settle_map

ORANGE = "rgb(179, 71, 0)"  # --need
GREEN = "rgb(29, 122, 53)"  # --helped


def need_in_list(page, description):
    return (
        page.get_by_role("list", name="Nhu cầu gần bạn")
        .get_by_role("listitem")
        .filter(has_text=description)
    )


def dots(page, kind):
    """The map's single dots of a kind ("open" or "helped"), and clusters holding any."""
    return page.locator(f".leaflet-marker-pane .dot-{kind}, .leaflet-marker-pane .cluster-{kind}")


def test_a_neighbour_is_helped_from_post_to_green_dot(contexts, shot, seed):
    # A resident asks for help on her phone.
    resident = contexts.page()
    manage_url = post_request_with_my_location(
        resident, phone="0912 345 678", description="Cần gạo và thuốc hạ sốt"
    )
    shot(resident, "resident posted")

    # A volunteer signs up from the home page and says where and how they help.
    volunteer = contexts.page()
    volunteer.goto("/")
    volunteer.get_by_role("link", name=re.compile("Tôi muốn giúp đỡ")).click()
    expect(volunteer.get_by_role("heading", name="Giúp đỡ hàng xóm")).to_be_visible()
    shot(volunteer, "volunteer start")
    volunteer.get_by_role("link", name="Tạo tài khoản tình nguyện viên").click()
    volunteer.get_by_label("Tên của bạn").fill("Lê Văn Cường")
    volunteer.get_by_label("Số điện thoại di động").fill(local_number(seed.new_phone()))
    volunteer.get_by_label("Mật khẩu").fill("giup-hang-xom-1")
    shot(volunteer, "register")
    volunteer.get_by_role("button", name="Tạo tài khoản của tôi").click()
    expect(
        volunteer.get_by_role("heading", name="Bạn có thể giúp ở đâu và giúp gì")
    ).to_be_visible()
    volunteer.get_by_role("button", name="Dùng vị trí của tôi").click()
    expect(volunteer.get_by_text("Đã tìm thấy bạn")).to_be_visible()
    volunteer.get_by_role("radio", name="2 km").check()
    expect(volunteer.get_by_role("checkbox", name="Thực phẩm")).to_be_checked()
    expect(volunteer.get_by_role("switch", name="Tôi có thể giúp ngay bây giờ")).to_be_checked()
    shot(volunteer, "profile")
    volunteer.get_by_role("button", name="Lưu và xem nhu cầu gần tôi").click()

    # The need is in "Needs near you", with distance, age and urgency.
    expect(volunteer.get_by_role("heading", name="Nhu cầu gần bạn", level=1)).to_be_visible()
    expect(volunteer.get_by_text("Đã lưu. Đây là những nhu cầu gần bạn.")).to_be_visible()
    need = need_in_list(volunteer, "Cần gạo và thuốc hạ sốt")
    expect(need).to_have_count(1)
    expect(need).to_contain_text("Gấp")
    expect(need).to_contain_text("Thực phẩm, Thuốc")
    expect(need).to_contain_text("4 người")
    expect(need).to_contain_text(re.compile(r"(\d+ m|km)"))
    expect(need).to_contain_text("đăng")
    expect(need).not_to_contain_text("0912")  # no phone before the claim
    shot(volunteer, "needs near you")

    # ... and on the map as an orange dot.
    volunteer.get_by_role("link", name="Bản đồ").click()
    expect(volunteer.get_by_role("heading", name="Phủ xanh khu bạn sống")).to_be_visible()
    expect(dots(volunteer, "open").first).to_be_visible()
    assert (
        dots(volunteer, "open").first.evaluate("e => getComputedStyle(e).backgroundColor")
        == ORANGE
    )
    expect(dots(volunteer, "helped")).to_have_count(0)
    settle_map(volunteer)
    shot(volunteer, "an orange dot on the map")
    dots(volunteer, "open").first.click()
    popup = volunteer.locator(".leaflet-popup")
    expect(popup).to_contain_text("Đang cần giúp")
    expect(popup.get_by_role("button", name="Tôi sẽ giúp")).to_be_visible()
    shot(volunteer, "the dot's card")

    # The volunteer takes it from the list and sees how to reach the resident.
    volunteer.go_back()
    need_in_list(volunteer, "Cần gạo và thuốc hạ sốt").get_by_role(
        "button", name="Tôi sẽ giúp"
    ).click()
    expect(volunteer.get_by_role("heading", name="Bạn đang giúp", level=1)).to_be_visible()
    expect(volunteer.get_by_role("heading", name="Nguyễn Thị Mai")).to_be_visible()
    call = volunteer.get_by_role("link", name=re.compile("^Gọi"))
    expect(call).to_have_attribute("href", "tel:+84912345678")
    expect(call).to_contain_text("091")
    expect(volunteer.get_by_text("12 Ngõ 3, Trần Phú")).to_be_visible()
    expect(volunteer.get_by_role("link", name="Mở trong ứng dụng bản đồ")).to_have_attribute(
        "href", re.compile(r"^geo:21\.27\d*,106\.19\d*")
    )
    expect(volunteer.get_by_role("link", name="Chỉ đường trên OpenStreetMap")).to_have_attribute(
        "href", re.compile(r"^https://www\.openstreetmap\.org/directions")
    )
    expect(volunteer.get_by_text(re.compile(r"còn \d+ giờ \d+ phút"))).to_be_visible()
    shot(volunteer, "claim page with the phone")

    volunteer.get_by_role("button", name="Tôi đã giúp xong: báo đã được giúp").click()
    expect(volunteer.get_by_text("Cảm ơn bạn đã giúp đỡ!")).to_be_visible()
    shot(volunteer, "marked helped")

    # The resident opens her link and confirms.
    resident.goto(manage_url)
    expect(resident.get_by_text("Tình nguyện viên báo là bạn đã được giúp")).to_be_visible()
    shot(resident, "the volunteer says helped")
    resident.get_by_role("button", name="Đúng, tôi đã được giúp").click()
    expect(resident.get_by_text("Bạn đã được giúp", exact=True)).to_be_visible()
    expect(resident.get_by_role("button", name="Đúng, tôi đã được giúp")).to_be_hidden()
    shot(resident, "confirmed")

    # The dot is green now.
    volunteer.goto("/volunteer/map")
    expect(dots(volunteer, "helped").first).to_be_visible()
    assert (
        dots(volunteer, "helped").first.evaluate("e => getComputedStyle(e).backgroundColor")
        == GREEN
    )
    expect(dots(volunteer, "open")).to_have_count(0)
    settle_map(volunteer)
    shot(volunteer, "the dot turned green")
    volunteer.goto("/")
    expect(volunteer.locator("#assist-count")).to_contain_text("Đã có 1 hàng xóm được giúp")
    shot(volunteer, "home counts the assist")


def test_second_volunteer_trying_to_claim_the_same_need_gets_a_friendly_message(
    contexts, seed, shot
):
    seed.help_request(description="Cần nước uống cho 2 cụ già")
    first, second = contexts.page(), contexts.page()
    for page in (first, second):
        seed.log_in(page.context, seed.volunteer()[0])
        page.goto("/volunteer/needs")
        expect(need_in_list(page, "Cần nước uống cho 2 cụ già")).to_have_count(1)
    need_in_list(first, "Cần nước uống cho 2 cụ già").get_by_role(
        "button", name="Tôi sẽ giúp"
    ).click()
    expect(first.get_by_role("heading", name="Bạn đang giúp", level=1)).to_be_visible()
    shot(first, "first volunteer took it")
    shot(second, "second volunteer's list, not reloaded")
    need_in_list(second, "Cần nước uống cho 2 cụ già").get_by_role(
        "button", name="Tôi sẽ giúp"
    ).click()
    expect(second).to_have_url(re.compile(r"/volunteer/needs$"))
    expect(
        second.get_by_text(
            "Đã có người khác nhận giúp việc này rồi. Bạn hãy chọn một nhu cầu khác nhé."
        )
    ).to_be_visible()
    expect(need_in_list(second, "Cần nước uống cho 2 cụ già")).to_have_count(0)
    shot(second, "someone else is already helping")


def test_volunteer_logs_in_and_comes_back_to_the_page_they_asked_for(phone, seed, shot):
    number, password, _ = seed.volunteer()
    phone.goto("/volunteer/needs")
    expect(phone).to_have_url(re.compile(r"/login\?next="))
    expect(phone.get_by_role("heading", name="Đăng nhập", level=1)).to_be_visible()
    phone.get_by_label("Số điện thoại di động").fill(local_number(number))
    phone.get_by_label("Mật khẩu").fill("not-the-password")
    phone.get_by_role("button", name="Đăng nhập").click()
    expect(phone.get_by_role("alert")).to_contain_text("Sai số điện thoại hoặc mật khẩu.")
    expect(phone.get_by_label("Số điện thoại di động")).to_have_value(local_number(number))
    expect(phone.get_by_label("Mật khẩu")).to_have_value("")
    shot(phone, "wrong password")
    phone.get_by_label("Mật khẩu").fill(password)
    phone.get_by_role("button", name="Đăng nhập").click()
    expect(phone).to_have_url(re.compile(r"/volunteer/needs$"))
    expect(phone.get_by_role("heading", name="Nhu cầu gần bạn", level=1)).to_be_visible()
    shot(phone, "logged in: needs near you")
    phone.get_by_role("button", name="Đăng xuất").click()
    expect(phone.get_by_role("link", name=re.compile("Tôi muốn giúp đỡ"))).to_be_visible()
    phone.goto("/volunteer/needs")
    expect(phone).to_have_url(re.compile(r"/login"))


def test_register_shows_errors_in_plain_words_and_keeps_answers(phone, shot):
    phone.goto("/register")
    phone.get_by_label("Tên của bạn").fill("Phạm Thu Hà")
    phone.get_by_label("Số điện thoại di động").fill("0123")
    phone.get_by_label("Mật khẩu").fill("ngan")
    phone.get_by_role("button", name="Tạo tài khoản của tôi").click()
    phone_field = phone.get_by_label("Số điện thoại di động")
    expect(phone_field).to_have_attribute("aria-invalid", "true")
    expect(phone_field).to_have_accessible_description(
        re.compile("Nhập số điện thoại di động của bạn, ví dụ 0912 345 678.")
    )
    expect(phone_field).to_have_value("0123")
    expect(phone.get_by_label("Mật khẩu")).to_have_accessible_description(
        re.compile("ít nhất 8 ký tự")
    )
    expect(phone.get_by_label("Tên của bạn")).to_have_value("Phạm Thu Hà")
    shot(phone, "register errors")


def test_claim_page_shows_a_cancellation_without_reloading(contexts, seed, shot):
    need = seed.help_request(description="Cần khẩu trang")
    number, _, headers = seed.volunteer()
    seed.claim(need["id"], headers)
    volunteer = contexts.page()
    seed.log_in(volunteer.context, number)
    volunteer.clock.install()
    volunteer.goto(f"/volunteer/claims/{need['id']}")
    expect(volunteer.get_by_role("link", name=re.compile("^Gọi"))).to_be_visible()
    volunteer.evaluate("window.notReloaded = true")
    shot(volunteer, "claim page")
    cancelled = seed.client.post(
        f"/api/v1/requests/{need['id']}/cancel", headers={"X-Manage-Token": need["manage_token"]}
    )
    assert cancelled.status_code == 200, cancelled.get_json()
    volunteer.clock.fast_forward("00:11")  # one polling period (10 s)
    expect(volunteer.get_by_role("status")).to_have_text(
        "Người nhờ giúp đã hủy yêu cầu này. Bạn không cần đến nữa."
    )
    expect(volunteer.get_by_role("link", name=re.compile("^Gọi"))).to_be_hidden()
    expect(
        volunteer.get_by_role("button", name="Tôi đã giúp xong: báo đã được giúp")
    ).to_be_hidden()
    assert volunteer.evaluate("window.notReloaded === true")
    shot(volunteer, "cancelled, shown without a reload")


def test_map_still_shows_the_dots_when_tiles_cannot_load(contexts, seed, shot):
    seed.help_request(description="Cần rau")
    page = contexts.page(tiles="fail")
    seed.log_in(page.context, seed.volunteer()[0])
    page.goto("/volunteer/map")
    expect(dots(page, "open").first).to_be_visible()
    expect(page.get_by_text("Không tải được hình bản đồ.")).to_be_visible(timeout=15_000)
    expect(page.get_by_role("link", name="Xem nhu cầu dạng danh sách")).to_be_visible()
    settle_map(page)
    shot(page, "no tiles, dots still there")
