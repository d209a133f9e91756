"""Communes and wards are found by the name people text: with or without diacritics, in any
case, with or without "xã", "phường" or "thị trấn", alone or inside a longer message."""

import json

import pytest

from conftest import ensure_demo_communes


@pytest.fixture
def communes(app):
    ensure_demo_communes(app)
    with app.app_context():
        yield


def names(found):
    return [commune.name for commune in found]


@pytest.mark.parametrize(
    "text", ["Tân Mỹ", "tan my", "TAN MY", "Xã Tân Mỹ", "xa tan my", " XÃ  TÂN MỸ. ", "x. tan my"]
)
def test_a_commune_is_found_by_its_name_written_any_way(communes, text):
    from connect.areas.names import find_by_name

    assert names(find_by_name(text)) == ["Xã Tân Mỹ (demo)"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("phuong tran phu", "Phường Trần Phú (demo)"),
        ("P.Dĩnh Kế", "Phường Dĩnh Kế (demo)"),
        ("thi tran bich dong", "Thị trấn Bích Động (demo)"),
        ("TT Đồi Ngô", "Thị trấn Đồi Ngô (demo)"),
        ("Đồi Ngô", "Thị trấn Đồi Ngô (demo)"),
    ],
)
def test_wards_and_towns_are_found_with_or_without_their_kind(communes, text, expected):
    from connect.areas.names import find_by_name

    assert names(find_by_name(text)) == [expected]


def test_districts_and_unknown_names_are_not_communes(communes):
    from connect.areas.names import find_by_name

    for text in ("Lục Nam", "Bắc Giang", "Tân", "Tân Mỹ Tây", "", "12"):
        assert find_by_name(text) == [], text


def test_a_name_inside_a_message_is_found_with_the_other_words_left(communes):
    from connect.areas.names import find_in_text

    found, rest = find_in_text("GAO THUOC 4 NGUOI XA TAN MY")
    assert names(found) == ["Xã Tân Mỹ (demo)"] and rest == ["GAO", "THUOC", "4", "NGUOI"]
    found, rest = find_in_text("cần thuốc, nhà 3 người ở phường Trần Phú ạ")
    assert names(found) == ["Phường Trần Phú (demo)"]
    assert rest == ["CAN", "THUOC", "NHA", "3", "NGUOI", "O", "A"]
    assert find_in_text("GAO 4 NGUOI") is None


def test_one_name_in_two_districts_gives_both_told_apart_by_district(
    app, communes, runner, tmp_path
):
    from connect.areas.names import find_by_name

    other = {
        "type": "Feature",
        "properties": {
            "code": "test-tan-my",
            "name": "Xã Tân Mỹ",
            "level": "commune",
            "parent": "24-220",
        },
        "geometry": {
            "type": "Polygon",
            "coordinates": [[[106.45, 21.35], [106.5, 21.35], [106.5, 21.4], [106.45, 21.35]]],
        },
    }
    path = tmp_path / "more.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [other]}))
    assert runner.invoke(args=["connect", "import-areas", str(path)]).exit_code == 0
    labels = [commune.label for commune in find_by_name("tan my")]
    assert labels == ["Tân Mỹ (Bắc Giang)", "Tân Mỹ (Lục Nam)"]


def test_a_communes_point_lies_inside_it(communes):
    from shapely.geometry import Point

    from connect.areas.models import Area
    from connect.areas.names import commune_point, find_by_name
    from connect.areas.services import area_index
    from connect.extensions import db

    (tan_my,) = find_by_name("Tân Mỹ")
    lat, lon = commune_point(tan_my.id)
    assert (round(lat, 6), round(lon, 6)) == (21.235, 106.21)  # the centre of the demo box
    assert tan_my.id in area_index().containing(lat, lon)
    from geoalchemy2.shape import to_shape

    assert to_shape(db.session.get(Area, tan_my.id).geometry).covers(Point(lon, lat))
