"""Pure geo helpers: great-circle distance, radius boxes, PointIndex, location blurring, areas."""

from .areas import AreaIndex, area_geometry, inner_point
from .blur import blur_candidates, blur_point
from .distance import (
    EARTH_RADIUS_M,
    bbox_for_radius,
    chord_for_distance_m,
    distance_m_for_chord,
    haversine_m,
    haversine_m_np,
    round_distance_m,
    round_distance_m_np,
    to_unit_xyz,
)
from .index import PointIndex

__all__ = [
    "AreaIndex",
    "EARTH_RADIUS_M",
    "PointIndex",
    "area_geometry",
    "bbox_for_radius",
    "blur_candidates",
    "blur_point",
    "chord_for_distance_m",
    "distance_m_for_chord",
    "haversine_m",
    "haversine_m_np",
    "inner_point",
    "round_distance_m",
    "round_distance_m_np",
    "to_unit_xyz",
]
