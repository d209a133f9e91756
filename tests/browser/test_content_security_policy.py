"""Every page works under the Content-Security-Policy with not one violation: Leaflet draws
the location picker and, with markercluster, the volunteer map (dots, clusters, a card)."""

import re

import pytest
from playwright.sync_api import expect

from .site_pages import CONSOLE_PAGES, SITE_PAGES, settle_map

# Installed before any page script runs: every violation the browser reports is kept.
WATCH = """
window.__cspViolations = [];
document.addEventListener('securitypolicyviolation', function (e) {
  window.__cspViolations.push({directive: e.violatedDirective, blocked: e.blockedURI,
                               source: e.sourceFile, line: e.lineNumber, sample: e.sample});
});
"""
CSP_MESSAGE = re.compile(r"Content Security Policy|Refused to (apply|load|execute|evaluate)", re.I)


class Watched:
    """A phone whose pages report CSP violations (events and console lines)."""

    def __init__(self, contexts, **options):
        self.context = contexts.new(**options)
        self.context.add_init_script(WATCH)
        self.console = []
        self.context.on("console", self._console)
        self.page = self.context.new_page()

    def _console(self, message):
        if CSP_MESSAGE.search(message.text):
            self.console.append(message.text)

    def violations(self):
        found = list(self.console)
        for page in self.context.pages:
            found += page.evaluate("window.__cspViolations || []")
        return found


@pytest.mark.parametrize("name", list(SITE_PAGES))
def test_every_page_loads_under_the_csp_without_a_violation(contexts, seed, name):
    watched = Watched(contexts)
    page = watched.page
    path = SITE_PAGES[name](page, seed)
    page.wait_for_load_state("networkidle")
    if page.locator(".leaflet-container").count():
        expect(page.locator(".leaflet-tile-loaded").first).to_be_attached()
    response = page.request.get(page.url)
    assert "script-src 'self'" in response.headers["content-security-policy"]
    assert watched.violations() == [], f"{name} ({path})"


@pytest.mark.parametrize("name", list(CONSOLE_PAGES))
def test_every_console_page_loads_under_the_csp_without_a_violation(contexts, seed, name):
    """The coordinator console, on a desktop."""
    watched = Watched(contexts, phone=False)
    page = watched.page
    path = CONSOLE_PAGES[name](page, seed)
    page.wait_for_load_state("networkidle")
    if page.locator(".leaflet-container").count():
        expect(page.locator(".leaflet-tile-loaded").first).to_be_attached()
    assert watched.violations() == [], f"{name} ({path})"


def test_the_location_picker_works_under_the_csp(contexts):
    """The resident's map: it draws, finds the phone's location, and a tap moves the pin."""
    watched = Watched(contexts)
    page = watched.page
    page.goto("/need-help")
    page.get_by_role("button", name="Dùng vị trí của tôi").click()
    expect(page.get_by_text("Đã tìm thấy bạn")).to_be_visible()
    expect(page.locator(".leaflet-marker-icon, .leaflet-marker-pane > *").first).to_be_visible()
    expect(page.locator(".leaflet-tile-loaded").first).to_be_attached()
    settle_map(page)
    before = page.locator("input[name=lat]").input_value()
    box = page.locator(".leaflet-container").first.bounding_box()
    page.mouse.click(box["x"] + box["width"] * 0.25, box["y"] + box["height"] * 0.25)
    expect(page.locator("input[name=lat]")).not_to_have_value(before)
    assert watched.violations() == []


def test_the_volunteer_map_draws_dots_clusters_and_cards_under_the_csp(contexts, seed):
    """Leaflet.markercluster groups close needs into a cluster; a lone one opens its card."""
    lang_giang = (21.3620, 106.2500)
    phone, _, _ = seed.volunteer(at=lang_giang, radius_m=3000)
    # A few metres apart: each phone's blur puts them within 400 m of here, one cluster at
    # the zoom the map settles at; the lone one 2.3 km off stays out of that cluster.
    for i in range(4):
        seed.help_request(at=(lang_giang[0] + i * 0.00002, lang_giang[1]))
    seed.help_request(at=(lang_giang[0] + 0.017, lang_giang[1] + 0.012), urgency="urgent")
    watched = Watched(contexts)
    page = watched.page
    seed.log_in(watched.context, phone)
    page.goto("/volunteer/map")
    cluster = page.locator(
        ".leaflet-marker-pane .marker-cluster, .leaflet-marker-pane [class*=cluster-]"
    ).first
    expect(cluster).to_be_visible()
    lone = page.locator(".leaflet-marker-pane .dot-open").first
    expect(lone).to_be_visible()
    settle_map(page)
    lone.click()
    expect(page.locator(".leaflet-popup")).to_contain_text("Đang cần giúp")
    cluster.click()  # zooms in (or spiders out): markercluster's own drawing
    settle_map(page)
    assert watched.violations() == []


def test_a_violation_would_be_caught(browser, live_server):
    """The watch itself: an inline style and an inline script are refused and reported."""
    context = browser.new_context(base_url=live_server.url)
    try:
        context.add_init_script(WATCH)
        page = context.new_page()
        page.goto("/")
        page.evaluate("""() => {
            document.body.setAttribute('style', 'color: red');
            const script = document.createElement('script');
            script.textContent = 'window.__ran = true';
            document.body.appendChild(script);
        }""")
        page.wait_for_function("() => window.__cspViolations.length >= 2")
        directives = {v["directive"] for v in page.evaluate("window.__cspViolations")}
        assert {d.split("-elem")[0].split("-attr")[0] for d in directives} == {
            "style-src",
            "script-src",
        }
        assert page.evaluate("window.__ran === undefined")
    finally:
        context.close()
