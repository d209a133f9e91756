"""Page weight: the post-request page's first load is at most 150 KB transferred before map
tiles, on a fresh phone (no cache). Every page's weight goes to
test-artifacts/browser/page-weights.json and the table is printed at the end of the run."""

import pytest

BUDGET = 150 * 1024
WEIGHED = (
    "home",
    "post form",
    "manage page",
    "register",
    "login",
    "profile",
    "needs",
    "claim page",
    "map",
)


def test_post_request_page_first_load_is_at_most_150_kb(weigh):
    total, page = weigh("post form")
    assert total <= BUDGET, f"post-request page: {total / 1024:.1f} KB > 150 KB before tiles"
    # The map is part of what is weighed: Leaflet came with the page.
    assert page.locator(".leaflet-container").count() == 1


def test_post_request_page_is_compressed_and_at_most_150_kb_for_older_browsers(
    weigh, weight_results
):
    """A browser that takes neither zstd nor brotli (Chrome on plain http sends this)."""
    total, _ = weigh("post form", accept_encoding="gzip, deflate")
    assert total <= BUDGET, f"post-request page (gzip, deflate): {total / 1024:.1f} KB > 150 KB"
    resources = weight_results.data["post form (gzip, deflate)"]["resources"]
    # Static URLs carry their content hash (?v=...): judged by the path.
    text = [r for r in resources if r["url"].split("?")[0].endswith((".js", ".css", "/need-help"))]
    assert len(text) >= 4 and all(r["encoding"] in ("gzip", "deflate") for r in text), resources


def test_post_request_page_weight_for_a_gzip_only_client_is_recorded(weigh):
    """Recorded, not asserted: Flask-Compress does not gzip streamed (static) responses, so
    a client offering only gzip gets Leaflet uncompressed (see the lead's notes)."""
    total, _ = weigh("post form", accept_encoding="gzip")
    assert total > 0


@pytest.mark.parametrize("name", [name for name in WEIGHED if name != "post form"])
def test_page_weight_is_recorded(name, weigh):
    total, _ = weigh(name)
    assert 0 < total
