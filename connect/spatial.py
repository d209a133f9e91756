"""Conversions between GeoAlchemy2 point columns and (lat, lon) pairs."""

from geoalchemy2 import Geometry
from geoalchemy2.shape import from_shape, to_shape
from shapely.geometry import Point
from sqlalchemy import column, func, select, table

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


def filter_in_box(query, model, column_name, box, dialect):
    """``query`` kept to rows of ``model`` whose point lies in box (min_lat, min_lon, max_lat,
    max_lon), through the column's spatial index on SpatiaLite and on PostGIS."""
    min_lat, min_lon, max_lat, max_lon = box
    if dialect == "sqlite":
        # SpatiaLite does not use its R*Tree by itself: ask it for the row ids in the box.
        index = table(
            f"idx_{model.__tablename__}_{column_name}",
            column("pkid"),
            column("xmin"),
            column("xmax"),
            column("ymin"),
            column("ymax"),
        )
        return query.where(
            model.id.in_(
                select(index.c.pkid).where(
                    index.c.xmin <= max_lon,
                    index.c.xmax >= min_lon,
                    index.c.ymin <= max_lat,
                    index.c.ymax >= min_lat,
                )
            )
        )
    return query.where(
        getattr(model, column_name).op("&&")(
            func.ST_MakeEnvelope(min_lon, min_lat, max_lon, max_lat, SRID)
        )
    )
