"""Offers of help in the browser: a resident finds offers near them with their phone's
location and asks one, landing on their request; the map shows offers as blue dots whose card
leads to asking. All under the strict CSP (no inline script or style)."""

import re

from playwright.sync_api import expect

from .site_pages import _an_offer, fill_request, local_number, settle_map

BLUE = "rgb(11, 92, 173)"  # --offer


def test_a_resident_finds_an_offer_near_them_and_asks_it(contexts, shot, seed):
    offer = _an_offer(seed)
    resident = contexts.page()
    resident.goto("/")
    resident.get_by_role("link", name=re.compile("Help near you|Giúp đỡ gần bạn")).click()
    resident.get_by_role("button", name="Dùng vị trí của tôi").click()
    # The phone's location goes to the server rounded to 3 decimals (about 100 m).
    resident.wait_for_url(re.compile(r"lat=21\.273&lon=106\.195"))
    card = resident.locator(f"#offer-{offer['id']}")
    expect(card).to_contain_text("Rau sạch và trứng gà")
    expect(card).to_contain_text("200 m")
    shot(resident, "offers near me")
    card.get_by_role("link", name="Nhờ giúp đỡ").click()
    expect(resident.get_by_role("checkbox", name="Thực phẩm")).to_be_checked()
    fill_request(
        resident,
        phone=local_number(seed.new_phone()),
        description="Cần rau cho bà cụ sống một mình",
    )
    resident.get_by_role("button", name="Dùng vị trí của tôi").click()
    expect(resident.get_by_text("Đã tìm thấy bạn")).to_be_visible()
    shot(resident, "asking the offer")
    resident.locator("form.request-form button[type=submit]").click()
    resident.wait_for_url(re.compile(r"/m/[A-Za-z0-9_-]{20,}$"))
    shot(resident, "asked")
    # The request is the helper's already; the offer stays open for others.
    expect(resident.locator(".status-card")).to_have_attribute("data-status", "claimed")
    assert seed.client.get(f"/api/v1/offers/{offer['id']}").get_json()["status"] == "open"


def test_the_map_shows_offers_as_blue_dots_with_an_ask_link(contexts, shot, seed):
    # In Lạng Giang, away from the other tests' offers: the only blue dot on this map.
    lang_giang = (21.3620, 106.2500)
    offer = seed.client.post(
        "/api/v1/offers",
        headers=seed.user()[2],
        json={
            "kind": "group",
            "title": "Nhóm nấu cơm trưa",
            "categories": ["food"],
            "description": "Cơm hộp cho người già",
            "quantity": "30 suất",
            "location": {"lat": lang_giang[0] + 0.004, "lon": lang_giang[1]},
        },
    ).get_json()
    phone, _, _ = seed.volunteer(at=lang_giang, radius_m=1000)
    page = contexts.page()
    seed.log_in(page.context, phone)
    page.goto("/volunteer/map")
    expect(page.locator(".legend .dot-offer")).to_be_visible()
    dot = page.locator(".leaflet-marker-pane .dot-offer")
    expect(dot).to_have_count(1)
    settle_map(page)
    assert dot.evaluate("el => getComputedStyle(el).backgroundColor") == BLUE
    dot.click()
    popup = page.locator(".leaflet-popup")
    expect(popup).to_contain_text("Nhóm nấu cơm trưa")
    expect(popup).to_contain_text("30 suất")
    expect(popup.get_by_role("link", name="Nhờ giúp đỡ")).to_have_attribute(
        "href", f"/offers/{offer['id']}/ask"
    )
    shot(page, "offer card on the map")
    popup.get_by_role("link", name="Nhờ giúp đỡ").click()
    expect(page).to_have_url(re.compile(f"/offers/{offer['id']}/ask$"))
