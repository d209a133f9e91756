"""Areas: GeoJSON polygons are read strictly, and point-in-polygon answers are exact."""

import random

import pytest
from shapely.geometry import MultiPolygon, Point

from connect.geo import AreaIndex, area_geometry, inner_point


def square(west, south, east, north):
    return {
        "type": "Polygon",
        "coordinates": [
            [[west, south], [east, south], [east, north], [west, north], [west, south]]
        ],
    }


def test_a_polygon_becomes_a_multipolygon():
    geometry = area_geometry(square(106.0, 21.0, 106.1, 21.1))
    assert isinstance(geometry, MultiPolygon) and len(geometry.geoms) == 1
    assert geometry.area == pytest.approx(0.01)


def test_a_multipolygon_keeps_its_parts():
    doc = {
        "type": "MultiPolygon",
        "coordinates": [square(0, 0, 1, 1)["coordinates"], square(2, 2, 3, 3)["coordinates"]],
    }
    assert len(area_geometry(doc).geoms) == 2


def test_a_self_intersecting_ring_is_repaired_without_losing_area():
    bowtie = {"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]}
    geometry = area_geometry(bowtie)
    assert geometry.is_valid and geometry.area == pytest.approx(0.5)


@pytest.mark.parametrize(
    "geometry",
    [
        None,
        {},
        {"type": "Point", "coordinates": [106, 21]},
        {"type": "LineString", "coordinates": [[0, 0], [1, 1]]},
        {"type": "Polygon", "coordinates": []},
        {"type": "Polygon", "coordinates": [[[0, 0], [1, 1]]]},
        {"type": "Polygon", "coordinates": "nope"},
        square(500, 21, 501, 22),  # not longitude/latitude
        square(106, 95, 107, 96),
        {"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [2, 2], [0, 0]]]},  # no area
    ],
)
def test_bad_geometry_is_refused_with_a_message(geometry):
    with pytest.raises(ValueError):
        area_geometry(geometry)


def test_containing_includes_the_boundary_and_nested_areas():
    province = area_geometry(square(105.9, 21.0, 106.6, 21.6))
    district = area_geometry(square(106.1, 21.2, 106.3, 21.3))
    index = AreaIndex([(7, province), (3, district)])
    assert index.containing(21.25, 106.2) == [3, 7]
    assert index.containing(21.5, 106.5) == [7]
    assert index.containing(21.3, 106.2) == [3, 7]  # on the district's edge
    assert index.containing(10.0, 106.0) == []
    assert len(index) == 2


def test_empty_index_answers_nothing():
    index = AreaIndex([])
    assert index.containing(21, 106) == []
    positions, ids = index.containing_many([21.0], [106.0])
    assert len(positions) == len(ids) == 0


def test_containing_many_agrees_with_shapely_point_by_point():
    rng = random.Random(5)
    areas = []
    for area_id in range(40):
        west, south = rng.uniform(105, 107), rng.uniform(20, 22)
        areas.append(
            (
                area_id + 100,
                area_geometry(
                    square(
                        west, south, west + rng.uniform(0.01, 0.5), south + rng.uniform(0.01, 0.5)
                    )
                ),
            )
        )
    index = AreaIndex(areas)
    lats = [rng.uniform(20, 22.5) for _ in range(2000)]
    lons = [rng.uniform(105, 107.5) for _ in range(2000)]
    positions, ids = index.containing_many(lats, lons)
    got = sorted(zip(positions.tolist(), ids.tolist()))
    expected = sorted(
        (i, area_id)
        for i, (lat, lon) in enumerate(zip(lats, lons))
        for area_id, geometry in areas
        if geometry.covers(Point(lon, lat))
    )
    assert got == expected and expected
    assert all(
        index.containing(lats[i], lons[i]) == sorted(a for p, a in expected if p == i)
        for i in range(0, 2000, 97)
    )


def test_an_areas_inner_point_is_its_centroid_when_that_lies_inside():
    lat, lon = inner_point(area_geometry(square(106.0, 21.0, 106.2, 21.1)))
    assert (lat, lon) == pytest.approx((21.05, 106.1))


def test_an_areas_inner_point_lies_inside_even_when_its_centroid_does_not():
    # A "C" open to the east: its centroid falls in the gap, outside the commune.
    c_shape = {
        "type": "Polygon",
        "coordinates": [[[0, 0], [3, 0], [3, 1], [1, 1], [1, 2], [3, 2], [3, 3], [0, 3], [0, 0]]],
    }
    geometry = area_geometry(c_shape)
    assert not geometry.covers(geometry.centroid)
    lat, lon = inner_point(geometry)
    assert geometry.covers(Point(lon, lat))
