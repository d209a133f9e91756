"""Conversions between GeoAlchemy2 point columns and (lat, lon) pairs."""
from geoalchemy2 import Geometry
from geoalchemy2.shape import from_shape, to_shape
from shapely.geometry import Point

SRID = 4326


def PointColumnType(spatial_index=True):
    return Geometry("POINT", srid=SRID, spatial_index=spatial_index)


def point(lat, lon):
    """A WGS84 point element for storing (lon is x, lat is y)."""
    return from_shape(Point(lon, lat), srid=SRID)


def latlon(element):
    """(lat, lon) of a stored point element, or None."""
    if element is None:
        return None
    shape = to_shape(element)
    return shape.y, shape.x
