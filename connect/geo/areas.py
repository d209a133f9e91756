"""Administrative areas: GeoJSON geometry in, point-in-polygon answers out (Shapely STRtree)."""

import math

import numpy as np
import shapely
from shapely.geometry import MultiPolygon, Polygon, shape
from shapely.validation import make_valid

AREA_TYPES = ("Polygon", "MultiPolygon")


def area_geometry(geojson):
    """A valid MultiPolygon in lon/lat from a GeoJSON Polygon or MultiPolygon; ValueError else."""
    if not isinstance(geojson, dict) or geojson.get("type") not in AREA_TYPES:
        raise ValueError("an area's geometry must be a GeoJSON Polygon or MultiPolygon")
    try:
        geometry = shape(geojson)
    except (
        TypeError,
        ValueError,
        KeyError,
        IndexError,
        AttributeError,
        shapely.errors.GEOSException,
    ) as exc:
        raise ValueError(f"unreadable geometry: {exc}") from exc
    if geometry.is_empty:
        raise ValueError("the geometry is empty")
    min_lon, min_lat, max_lon, max_lat = geometry.bounds
    if not all(math.isfinite(v) for v in geometry.bounds) or not (
        -180 <= min_lon <= max_lon <= 180 and -90 <= min_lat <= max_lat <= 90
    ):
        raise ValueError("coordinates must be longitude, latitude in WGS84 (RFC 7946)")
    if not geometry.is_valid:
        # Real boundary files have self-touching rings; repairing keeps their area.
        geometry = make_valid(geometry)
    polygons = _polygons(geometry)
    if not polygons:
        raise ValueError("the geometry has no area")
    return MultiPolygon(polygons)


def inner_point(geometry):
    """(lat, lon) of a point inside an area: its centroid when that lies in it, else a point
    Shapely guarantees inside (a crescent's or a ring's centroid can lie outside)."""
    centroid = geometry.centroid
    point = centroid if geometry.covers(centroid) else geometry.representative_point()
    return point.y, point.x


def _polygons(geometry):
    if isinstance(geometry, Polygon):
        return [geometry] if not geometry.is_empty else []
    if isinstance(geometry, MultiPolygon):
        return [p for p in geometry.geoms if not p.is_empty]
    if hasattr(geometry, "geoms"):  # a collection left by make_valid: keep what has area
        return [p for part in geometry.geoms for p in _polygons(part)]
    return []


class AreaIndex:
    """Which areas cover a point, through an STRtree over the area polygons."""

    def __init__(self, areas):
        areas = list(areas)
        self._ids = np.array([area_id for area_id, _ in areas], dtype=np.int64)
        geometries = [geometry for _, geometry in areas]
        shapely.prepare(geometries)
        self._geometries = geometries
        self._tree = shapely.STRtree(geometries)

    def __len__(self):
        return len(self._ids)

    def containing(self, lat, lon):
        """Ids of the areas covering (lat, lon), boundary included, ascending."""
        hits = self._tree.query(shapely.points(lon, lat), predicate="covered_by")
        return sorted(int(i) for i in self._ids[hits])

    def containing_many(self, lats, lons):
        """(point positions, area ids) pairs for arrays of points, one pair per hit."""
        points = shapely.points(np.asarray(lons, dtype=float), np.asarray(lats, dtype=float))
        if len(points) == 0 or len(self._ids) == 0:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
        positions, hits = self._tree.query(points, predicate="covered_by")
        return positions.astype(np.int64), self._ids[hits]
