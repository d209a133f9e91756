"""Adding a category is one change plus translations (connect/requests/categories.py).

What adding one touches now: LABELS in connect/requests/categories.py (its name and label),
its label in both catalogues (connect/translations/vi and en, LC_MESSAGES/messages.po), and
its name in docs/api.md (compared below). The forms and their choices, the API's schemas
and OpenAPI document, the console's filters and the public export's ``open_<category>``
columns follow CATEGORIES; the masks of the read model, the console map's snapshot and
batch assignment follow CategoryBits, whose integer type widens with the count. Nine
categories prove it: a request in the ninth is found by both filters.
"""

import re
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import orjson
import pytest
from sqlalchemy import update

from connect.coordination.exports.public import MEASURES
from connect.coordination.map.data import console_map
from connect.coordination.map.snapshot import RequestSnapshot
from connect.extensions import db
from connect.matching.open_requests import OpenRequests, epoch
from connect.requests.categories import BITS, CATEGORIES, CategoryBits
from connect.requests.forms import HelpRequestForm
from connect.requests.models import HelpRequest

from conftest import BAC_GIANG, request_payload

ROOT = Path(__file__).resolve().parents[2]
NINE = (*CATEGORIES, "water", "shelter", "transport", "pets")
PROVINCE = (105.50, 20.90, 107.50, 21.80)


def test_the_mask_type_follows_the_count():
    assert len(CATEGORIES) <= 8 and BITS.dtype == np.uint8
    assert [
        CategoryBits(f"c{i}" for i in range(count)).dtype for count in (8, 9, 16, 17, 32, 33, 64)
    ] == [np.uint8, np.uint16, np.uint16, np.uint32, np.uint32, np.uint64, np.uint64]
    with pytest.raises(ValueError):
        CategoryBits(f"c{i}" for i in range(65))
    nine = CategoryBits(NINE)
    assert nine.mask(["pets"]) == 1 << 8 and nine.mask('["food", "pets"]') == 1 + (1 << 8)
    masks = nine.masks([["pets"], None, '["water"]'])
    assert masks.dtype == np.uint16 and masks.tolist() == [1 << 8, 0, 1 << 5]
    assert nine.names_of(1 + (1 << 8)) == ["food", "pets"]


def _row(id_, categories, now):
    """A read model row (open_requests.ROW_FIELDS) of an open request at BAC_GIANG."""
    lat, lon = BAC_GIANG
    return (
        id_,
        "open",
        categories,
        "Cần thức ăn cho chó",
        1,
        "normal",
        lat,
        lon,
        lat,
        lon,
        now,
        now.replace(year=now.year + 1),
        None,
        "exact",
    )


def test_the_read_model_finds_a_request_in_the_ninth_category():
    now = datetime(2026, 11, 26, 8, 0, 0)
    model = OpenRequests(72 * 3600, bits=CategoryBits(NINE))
    model.load(
        [_row(1, ["pets"], now), _row(2, ["food"], now), _row(3, ["supplies", "pets"], now)],
        epoch(now),
    )
    model.apply(_row(4, ["pets", "water"], now), epoch(now))
    assert model._masks.dtype == np.uint16

    ids, _ = model.nearby(*BAC_GIANG, 1000, 10, ["pets"], epoch(now), "distance")
    assert sorted(ids.tolist()) == [1, 3, 4]
    items = orjson.loads(model.nearby_json(*BAC_GIANG, 1000, 10, ["pets"], epoch(now)))["items"]
    assert {item["id"]: item["categories"] for item in items} == {
        1: ["pets"],
        3: ["supplies", "pets"],
        4: ["water", "pets"],
    }


def test_the_map_snapshot_finds_a_request_in_the_ninth_category(app, client, monkeypatch):
    ids = [
        client.post("/api/v1/requests", json=request_payload(at=BAC_GIANG)).get_json()["id"]
        for _ in range(2)
    ]
    with app.app_context():
        db.session.execute(
            update(HelpRequest)
            .where(HelpRequest.id == ids[0])
            .values(categories=["other", "pets"])
        )
        db.session.commit()
        snapshot = RequestSnapshot(db.engine, bits=CategoryBits(NINE))
        monkeypatch.setitem(app.extensions, "request_snapshot", snapshot)
        admin = SimpleNamespace(role="admin")
        found = console_map(admin, {"bbox": PROVINCE, "zoom": 9, "category": ["pets"]})
        everything = console_map(admin, {"bbox": PROVINCE, "zoom": 9})
        assert snapshot.view().masks.dtype == np.uint16
        db.session.remove()
    assert [point["id"] for point in found["points"]] == [ids[0]]
    assert {point["id"] for point in everything["points"]} == set(ids)


@pytest.mark.parametrize("backend", ["sqlite"])  # a form needs an app, not a database
def test_forms_export_columns_and_docs_follow_the_categories(app):
    with app.test_request_context():
        choices = HelpRequestForm().categories.iter_choices()
        assert [value for value, *_ in choices] == list(CATEGORIES)
    assert [m for m in MEASURES if m.startswith("open_")] == [f"open_{c}" for c in CATEGORIES]
    api = (ROOT / "docs" / "api.md").read_text(encoding="utf-8")
    listed = next(line for line in api.splitlines() if line.startswith("- categories: one or"))
    assert re.findall(r"`(\w+)`", listed) == list(CATEGORIES), (
        "docs/api.md names the categories of connect/requests/categories.py"
    )
