"""Every kind of notification has its words in both languages, from one renderer."""

import pytest

from connect.notifications import render
from connect.notifications.models import NOTIFICATION_KINDS

PAYLOAD = {
    "categories": ["food", "medicine"],
    "distance_m": 1200,
    "urgency": "urgent",
    "household_size": 3,
    "description": "Cần gạo",
}


@pytest.mark.parametrize("kind", NOTIFICATION_KINDS)
def test_each_kind_reads_in_vietnamese_and_english(app, kind):
    with app.test_request_context("/"):
        vi = render.text(kind, PAYLOAD, locale="vi")
        en = render.text(kind, PAYLOAD, locale="en")
    assert vi and en and vi != en
    assert "1,2 km" in vi and "1.2 km" in en
    assert vi.endswith("Gấp") and en.endswith("Urgent")


def test_the_page_and_its_script_get_the_same_titles(app, client):
    with app.test_request_context("/?lang=en"):
        titles = render.titles()
    assert set(titles) == set(NOTIFICATION_KINDS)
    assert titles["new_request"] == "A need near you"


def test_a_text_carries_only_what_the_payload_holds(app):
    """SMS and push will send this line: it is built from public payload fields only."""
    with app.test_request_context("/"):
        line = render.text(
            "new_request",
            {**PAYLOAD, "phone": "+84901234567", "contact_name": "Nguyễn Văn A"},
            locale="vi",
        )
    assert "+8490" not in line and "Nguyễn Văn A" not in line and "Cần gạo" not in line
