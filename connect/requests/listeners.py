"""What requests do when the areas they lie in change."""

from connect.areas import signals as area_signals
from connect.areas.models import RequestArea
from connect.areas.services import place_all
from connect.requests.models import HelpRequest


def place_all_requests(_sender=None, **_details):
    """Re-place every request (after an area import); returns the number of placements."""
    return place_all(HelpRequest, RequestArea, "request_id")


def init_app(app):
    """Connect requests' receivers (create_app calls this in every process)."""
    area_signals.imported.connect(place_all_requests)
