"""Demo data for a fresh install: requests and volunteers around Bac Giang."""

import json
import random
from pathlib import Path

from sqlalchemy import func, select

from connect.accounts.models import User
from connect.accounts.services import register_user
from connect.areas.models import Area
from connect.areas.services import grant_area, import_areas
from connect.config import DEFAULT_PLACES
from connect.extensions import db
from connect.requests.categories import CATEGORIES
from connect.requests.models import HelpRequest
from connect.requests.phones import DuplicateRequest
from connect.requests.services import post_request
from connect.volunteers.services import save_profile

TOWNS = DEFAULT_PLACES  # (name, lat, lon)
NEEDS = [
    (["food"], "Cần gạo và trứng cho cả nhà, đang cách ly."),
    (["food", "supplies"], "Hết gạo, mì tôm và nước rửa tay."),
    (["medicine"], "Cần thuốc hạ sốt cho trẻ nhỏ."),
    (["medical_advice"], "Bà cụ bị ho, cần tư vấn của bác sĩ."),
    (["supplies"], "Cần khẩu trang và sữa cho em bé."),
    (["other"], "Cần người đi chợ giúp, không ra ngoài được."),
]
DEMO_VOLUNTEER = {"phone": "+84901000001", "password": "tinhnguyen", "name": "Tình nguyện viên"}
DEMO_COORDINATOR = {
    "phone": "+84901000002",
    "password": "dieuphoi",
    "name": "Điều phối viên",
    "role": "coordinator",
}
DEMO_AREAS = Path(__file__).parent / "data" / "demo_areas.geojson"
# A few communes inside them, so a feature phone can text for help in the demo.
DEMO_COMMUNES = Path(__file__).parent / "data" / "demo_communes.geojson"


def seed_demo_data(force=False, count=120, seed=2021):
    """Seed only an empty database unless forced; returns what was created."""
    if not force and db.session.execute(select(func.count(HelpRequest.id))).scalar_one():
        return "skipped (database already has requests)"
    if not db.session.execute(select(func.count(Area.id))).scalar_one():
        # Rough hand-drawn areas, so coordinators have somewhere to act in the demo.
        for path in (DEMO_AREAS, DEMO_COMMUNES):  # parents first
            import_areas(json.loads(path.read_text(encoding="utf-8"))["features"])
    rng = random.Random(seed)
    for i in range(count):
        _, lat, lon = rng.choice(TOWNS)
        categories, description = rng.choice(NEEDS)
        data = {
            "categories": categories,
            "description": description,
            "household_size": rng.randint(1, 8),
            "urgency": "urgent" if rng.random() < 0.2 else "normal",
            "location": {"lat": lat + rng.gauss(0, 0.01), "lon": lon + rng.gauss(0, 0.01)},
            "contact_name": f"Người dân {i + 1}",
            "phone": f"+8491{rng.randint(0, 9999999):07d}",
            "address": None,
        }
        try:
            post_request(data, source="demo")
        except DuplicateRequest:
            # A forced re-seed draws the same phones; one open request per phone still holds.
            continue
    volunteer = db.session.execute(
        select(User).where(User.phone == DEMO_VOLUNTEER["phone"])
    ).scalar_one_or_none()
    if volunteer is None:
        volunteer = register_user(**DEMO_VOLUNTEER)
        save_profile(
            volunteer,
            {
                "location": {"lat": 21.2731, "lon": 106.1946},
                "radius_m": 5000,
                "categories": list(CATEGORIES),
                "on_duty": True,
                "capacity": 3,
            },
        )
    if (
        db.session.execute(select(User.id).where(User.phone == DEMO_COORDINATOR["phone"])).first()
        is None
    ):
        grant_area(register_user(**DEMO_COORDINATOR), "24")
    return (
        f"{count} requests, volunteer {DEMO_VOLUNTEER['phone']}, "
        f"coordinator {DEMO_COORDINATOR['phone']} (province 24)"
    )
