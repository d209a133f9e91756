"""Home page: two big choices in Vietnamese by default, the live count, the English switch."""

import re

from playwright.sync_api import expect


def test_home_offers_two_big_choices_in_vietnamese_by_default(phone, shot):
    phone.goto("/")
    expect(phone.locator("html")).to_have_attribute("lang", "vi")
    need = phone.get_by_role("link", name=re.compile("Tôi cần giúp đỡ"))
    give = phone.get_by_role("link", name=re.compile("Tôi muốn giúp đỡ"))
    expect(need).to_be_visible()
    expect(give).to_be_visible()
    expect(phone.locator("#assist-count")).to_contain_text("0")
    for choice in (need, give):
        box = choice.bounding_box()
        assert box["height"] >= 44 and box["width"] >= 200, box
    shot(phone, "home in Vietnamese")


def test_english_switch_shows_english_and_is_remembered(phone, shot):
    phone.goto("/")
    shot(phone, "home in Vietnamese")
    phone.get_by_role("link", name="English").click()
    expect(phone.locator("html")).to_have_attribute("lang", "en")
    expect(phone.get_by_role("link", name=re.compile("I need help"))).to_be_visible()
    expect(phone.get_by_role("link", name=re.compile("I want to help"))).to_be_visible()
    shot(phone, "home in English")
    # The choice holds on the next page and back home, until switched back.
    phone.get_by_role("link", name=re.compile("I need help")).click()
    expect(phone.locator("html")).to_have_attribute("lang", "en")
    expect(phone.get_by_role("heading", name="Ask for help", level=1)).to_be_visible()
    expect(phone.get_by_role("button", name="Use my location")).to_be_visible()
    expect(phone.get_by_role("checkbox", name="Food")).to_be_visible()
    expect(phone.get_by_role("button", name="Send my request")).to_be_visible()
    shot(phone, "post form in English")
    phone.goto("/")
    expect(phone.get_by_role("link", name=re.compile("I need help"))).to_be_visible()
    phone.get_by_role("link", name="Tiếng Việt").click()
    expect(phone.get_by_role("link", name=re.compile("Tôi cần giúp đỡ"))).to_be_visible()
    shot(phone, "back to Vietnamese")


def test_assist_count_counts_helped_neighbours(phone, seed, shot):
    phone.goto("/")
    before = int(re.search(r"\d+", phone.locator("#assist-count").inner_text()).group())
    _, _, volunteer = seed.volunteer()
    need = seed.help_request()
    seed.claim(need["id"], volunteer)
    seed.helped(need["id"], volunteer)
    phone.reload()
    expect(phone.locator("#assist-count")).to_contain_text(str(before + 1))
    shot(phone, "one more neighbour helped")
