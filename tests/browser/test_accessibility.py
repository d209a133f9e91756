"""Every page passes axe-core with no serious or critical violation, its tap targets are at
least 44 px, and a Vietnamese page carries no English from the libraries it uses, on a phone.
Results per page go to test-artifacts/browser/axe-summary.json."""

import pytest
from playwright.sync_api import expect

from .site_pages import SITE_PAGES

# Interactive elements smaller than 44 px. Exempt: links inside a sentence (WCAG 2.5.8
# "inline"), and on maps the markers (sized by their icons) and the attribution's links;
# map controls (zoom) are tap targets like any other.
SMALL_TAP_TARGETS = """() => {
    const selector = 'a[href], button, input:not([type=hidden]), select, textarea, summary, '
                   + '[role=button], [tabindex]:not([tabindex="-1"])';
    const small = [];
    for (const el of document.querySelectorAll(selector)) {
        let target = el;
        // A visually hidden checkbox or radio is tapped through its label.
        if (el.matches('input[type=checkbox], input[type=radio]')) {
            const box = el.getBoundingClientRect();
            if (box.width < 2 || box.height < 2) target = el.closest('label') || el.labels[0] || el;
        }
        const style = getComputedStyle(target);
        const rect = target.getBoundingClientRect();
        if (style.visibility === 'hidden' || style.display === 'none' || rect.width === 0
            || rect.height === 0 || rect.right < 0 || rect.bottom < 0) continue;
        if (el.classList.contains('skip-link')) continue;
        if (el.matches('a') && el.parentElement && style.display === 'inline'
            && el.parentElement.textContent.trim().length > el.textContent.trim().length + 10)
            continue;
        if (rect.height >= 44 && rect.width >= 44) continue;
        let kind = 'control';
        if (el.closest('.leaflet-marker-pane')) kind = 'map marker';
        else if (el.closest('.leaflet-control-attribution')) kind = 'map attribution';
        small.push({html: el.outerHTML.slice(0, 160), width: Math.round(rect.width),
                    height: Math.round(rect.height), kind: kind});
    }
    return small;
}"""

# Words that libraries (Leaflet) put into a page unless the page gives its own.
LIBRARY_ENGLISH = """() => {
    const words = ['Zoom in', 'Zoom out', 'Close popup', 'Marker'];
    const found = [];
    for (const el of document.querySelectorAll('[aria-label], [title], [alt]')) {
        for (const attr of ['aria-label', 'title', 'alt']) {
            const value = (el.getAttribute(attr) || '').trim();
            if (words.includes(value))
                found.push(`${attr}="${value}" on ${el.outerHTML.slice(0, 120)}`);
        }
    }
    return found;
}"""


def _map_with_a_card_open(page, seed):
    # Away from the other tests' needs, so the dot stands alone rather than in a cluster.
    luc_nam = (21.2930, 106.3960)
    seed.log_in(page.context, seed.volunteer(at=luc_nam, radius_m=1000)[0])
    seed.help_request(at=luc_nam, urgency="urgent")
    path = page.goto("/volunteer/map").url
    dot = page.locator(".leaflet-marker-pane .dot-open")
    expect(dot).to_have_count(1)
    dot.click()
    expect(page.locator(".leaflet-popup")).to_be_visible()
    return path


def _manage_page_claimed(page, seed):
    need = seed.help_request()
    seed.claim(need["id"], seed.volunteer()[2])
    page.goto(f"/m/{need['manage_token']}")
    return page.url


def _home_in_english(page, seed):
    page.goto("/?lang=en")
    return page.url


STATES = {
    **SITE_PAGES,
    "map with a dot's card open": _map_with_a_card_open,
    "manage page, claimed": _manage_page_claimed,
    "home in English": _home_in_english,
}


@pytest.mark.parametrize("name", STATES)
def test_page_is_accessible_on_a_phone(name, contexts, seed, shot, axe_check, axe_results):
    page = contexts.page()
    STATES[name](page, seed)
    page.wait_for_load_state("networkidle")
    shot(page, name)
    axe_check(page, name)
    small = page.evaluate(SMALL_TAP_TARGETS)
    english = [] if name.endswith("English") else page.evaluate(LIBRARY_ENGLISH)
    axe_results.record(
        name, {**axe_results.data[name], "small_tap_targets": small, "library_english": english}
    )
    controls = [target for target in small if target["kind"] == "control"]
    problems = []
    if controls:
        problems.append(
            f"tap targets under 44 px on {name}:\n"
            + "\n".join(f"  {t['width']}×{t['height']}: {t['html']}" for t in controls)
        )
    if english:
        problems.append(f"English left on the Vietnamese {name} page:\n  " + "\n  ".join(english))
    assert not problems, "\n".join(problems)
