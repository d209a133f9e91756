"""Steps several browser tests share, and every page of the site by name with how to open it
in a given state (for axe-core and page weights).

Each page opener takes (page, seed), prepares what the page needs (an account, a request, a
claim) and navigates; it returns the path it opened.
"""

import itertools
import re

from playwright.sync_api import expect

POST_BUTTON = re.compile(r"^(Gửi|Đăng|Post|Send)", re.I)
MANAGE_URL = re.compile(r"/m/[A-Za-z0-9_-]{20,}$")
# One open request per phone: each posting step uses a number of its own unless told one.
_PHONES = (f"0913 {n // 1000:03d} {n % 1000:03d}" for n in itertools.count(1))


# -- steps --------------------------------------------------------------------------------


def fill_request(page, phone=None, description="Cần gạo và trứng cho 4 người"):
    """Answer the request form the way a resident does (everything but the location)."""
    phone = phone or next(_PHONES)
    page.get_by_role("checkbox", name="Thực phẩm").check()
    page.get_by_role("checkbox", name="Thuốc").check()
    page.get_by_label("Nói rõ hơn bạn cần gì").fill(description)
    page.get_by_label("Nhà bạn có mấy người?").fill("4")
    page.get_by_role("radio", name="Gấp: tôi cần ngay trong hôm nay").check()
    page.get_by_label("Tên của bạn").fill("Nguyễn Thị Mai")
    page.get_by_label("Số điện thoại của bạn").fill(phone)
    page.get_by_label("Địa chỉ của bạn (không bắt buộc)").fill("12 Ngõ 3, Trần Phú")


def send_request(page):
    page.get_by_role("button", name="Gửi yêu cầu").click()


def post_request_with_my_location(page, **answers):
    """The whole resident flow from the empty form; returns the manage page's URL."""
    page.goto("/need-help")
    fill_request(page, **answers)
    page.get_by_role("button", name="Dùng vị trí của tôi").click()
    expect(page.get_by_text("Đã tìm thấy bạn")).to_be_visible()
    send_request(page)
    expect(page).to_have_url(MANAGE_URL)
    return page.url


def settle_map(page):
    """Let a Leaflet map finish its zoom animation and redraw (for a faithful screenshot)."""
    # A function, not a string: the page's CSP forbids the eval a string predicate needs.
    page.wait_for_function("() => !document.querySelector('.leaflet-zoom-anim')")
    page.wait_for_timeout(300)


def local_number(e164):
    """+84981234567 as people type it: 0981234567."""
    return "0" + e164[3:]


# -- pages --------------------------------------------------------------------------------


def _goto(page, path):
    response = page.goto(path)
    assert response is not None and response.ok, (path, response and response.status)
    return path


def _as_volunteer(page, seed, with_need=True):
    phone, _, headers = seed.volunteer()
    seed.log_in(page.context, phone)
    if with_need:
        seed.help_request(description="Cần thuốc hạ sốt cho trẻ em", urgency="urgent")
    return headers


def home(page, seed):
    return _goto(page, "/")


def post_form(page, seed):
    return _goto(page, "/need-help")


def post_form_with_errors(page, seed):
    _goto(page, "/need-help")
    # Skip the browser's own checks so the server's per-field messages show.
    page.locator("form:has(textarea)").first.evaluate("form => form.noValidate = true")
    page.get_by_role("button", name=POST_BUTTON).click()
    page.wait_for_load_state()
    return "/need-help (posted empty)"


def manage(page, seed):
    return _goto(page, f"/m/{seed.help_request()['manage_token']}")


def register(page, seed):
    return _goto(page, "/register")


def login(page, seed):
    return _goto(page, "/login")


def volunteer_start(page, seed):
    return _goto(page, "/volunteer")


def profile(page, seed):
    _as_volunteer(page, seed, with_need=False)
    return _goto(page, "/volunteer/profile")


def needs(page, seed):
    _as_volunteer(page, seed)
    return _goto(page, "/volunteer/needs")


def inbox(page, seed):
    _as_volunteer(page, seed)  # the need posted after is pushed to this volunteer
    return _goto(page, "/volunteer/inbox")


def claim_page(page, seed):
    headers = _as_volunteer(page, seed, with_need=False)
    need = seed.help_request()
    seed.claim(need["id"], headers)
    return _goto(page, f"/volunteer/claims/{need['id']}")


def volunteer_map(page, seed):
    _as_volunteer(page, seed)
    return _goto(page, "/volunteer/map")


def report_form(page, seed):
    _as_volunteer(page, seed, with_need=False)
    need = seed.help_request(description="Bán thuốc giảm cân, gọi ngay")
    return _goto(page, f"/requests/{need['id']}/report?next=/volunteer/needs")


def _an_offer(seed, headers=None):
    """An open offer of help near HOME, posted through the API; returns its body."""
    headers = headers or seed.user(name="Cửa hàng Thu Hà")[2]
    response = seed.client.post(
        "/api/v1/offers",
        headers=headers,
        json={
            "kind": "shop",
            "title": "Rau sạch và trứng gà",
            "categories": ["food"],
            "description": "Rau muống, cải ngọt, trứng gà ta. Giao trong phường.",
            "quantity": "10 kg rau, 50 quả trứng",
            "location": {"lat": 21.2745, "lon": 106.1960},
        },
    )
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def offers_near_you(page, seed):
    _an_offer(seed)
    return _goto(page, "/offers?place=0")


def ask_an_offer(page, seed):
    return _goto(page, f"/offers/{_an_offer(seed)['id']}/ask")


def offer_form(page, seed):
    seed.log_in(page.context, seed.user()[0])
    return _goto(page, "/volunteer/offers/new")


def your_offers(page, seed):
    phone, _, headers = seed.user(name="Cửa hàng Thu Hà")
    seed.log_in(page.context, phone)
    offer = _an_offer(seed, headers)
    asked = seed.client.post(
        f"/api/v1/offers/{offer['id']}/ask",
        json={
            "categories": ["food"],
            "description": "Cần rau cho 3 người",
            "household_size": 3,
            "location": {"lat": 21.2760, "lon": 106.1990},
            "contact_name": "Bà Lan",
            "phone": seed.new_phone(),
        },
    )
    assert asked.status_code == 201, asked.get_json()
    return _goto(page, "/volunteer/offers")


def offer_report_form(page, seed):
    _as_volunteer(page, seed, with_need=False)
    return _goto(page, f"/offers/{_an_offer(seed)['id']}/report?next=/offers")


def forgot_password(page, seed):
    return _goto(page, "/password-reset")


def new_password_by_code(page, seed):
    return _goto(page, "/password-reset/code")


def lost_link(page, seed):
    return _goto(page, "/m/resend")


def lost_link_code(page, seed):
    return _goto(page, "/m/resend/code")


def verify_phone(page, seed):
    return _goto(page, f"/m/{seed.help_request()['manage_token']}/verify/code")


SITE_PAGES = {
    "home": home,
    "post form": post_form,
    "post form with errors": post_form_with_errors,
    "manage page": manage,
    "register": register,
    "login": login,
    "volunteer start": volunteer_start,
    "profile": profile,
    "needs": needs,
    "inbox": inbox,
    "claim page": claim_page,
    "map": volunteer_map,
    "report form": report_form,
    "offers near you": offers_near_you,
    "ask an offer": ask_an_offer,
    "offer form": offer_form,
    "your offers": your_offers,
    "offer report form": offer_report_form,
    "forgot password": forgot_password,
    "new password by code": new_password_by_code,
    "lost link": lost_link,
    "lost link code": lost_link_code,
    "verify phone": verify_phone,
}


# -- the coordinator console (desktop first) ---------------------------------------------


def _as_coordinator(page, seed):
    phone, _, _ = seed.coordinator(areas=("24",))
    seed.log_in(page.context, phone)
    return seed.help_request(description="Cần thuốc hạ sốt cho trẻ em", urgency="urgent")


def console_map(page, seed):
    _as_coordinator(page, seed)
    return _goto(page, "/console/map")


def console_request(page, seed):
    need = _as_coordinator(page, seed)
    seed.volunteer()
    return _goto(page, f"/console/requests/{need['id']}")


def console_intake(page, seed):
    _as_coordinator(page, seed)
    return _goto(page, "/console/intake")


def console_moderation(page, seed):
    _as_coordinator(page, seed)
    return _goto(page, "/console/moderation")


def console_statistics(page, seed):
    _as_coordinator(page, seed)
    return _goto(page, "/console/statistics")


def console_exports(page, seed):
    _as_coordinator(page, seed)
    return _goto(page, "/console/exports")


CONSOLE_PAGES = {
    "console map": console_map,
    "console request": console_request,
    "console intake": console_intake,
    "console moderation": console_moderation,
    "console statistics": console_statistics,
    "console exports": console_exports,
}
