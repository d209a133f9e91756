"""Push matching reads only the nearest volunteers, yet tells whom ranking everyone would."""

import random
from datetime import timedelta

from conftest import BAC_GIANG, new_phone

KINDS = ["food", "supplies", "medicine", "medical_advice", "other"]


def test_the_nearest_first_search_tells_whom_ranking_everyone_would(app):
    """Dense towns (the row limit is hit, the search widens), sparse country, volunteers on
    the same spot (ties go to who was told less, then the lower id) and some already told."""
    from connect import clock
    from connect.accounts.models import User, Volunteer
    from connect.extensions import db
    from connect.matching.push import PUSH_KIND, candidates, nearest_candidates
    from connect.notifications.models import Notification
    from connect.requests.models import HelpRequest
    from connect.spatial import point

    rng = random.Random(11)
    now = clock.now()
    with app.app_context():
        spots = [
            (BAC_GIANG[0] + rng.uniform(-0.003, 0.003), BAC_GIANG[1] + rng.uniform(-0.003, 0.003))
            for _ in range(20)
        ]
        for i in range(400):
            user = User(phone=new_phone(), name=f"v{i}", password_hash="x", role="volunteer")
            db.session.add(user)
            db.session.flush()
            if i % 4 == 0:
                at = rng.choice(spots)  # several on one spot: equal distances
            else:
                spread = 0.01 if i % 4 == 1 else 0.4
                at = (
                    BAC_GIANG[0] + rng.uniform(-spread, spread),
                    BAC_GIANG[1] + rng.uniform(-spread, spread),
                )
            db.session.add(
                Volunteer(
                    user_id=user.id,
                    location=point(*at),
                    radius_m=rng.choice([500, 2000, 10_000, 50_000]),
                    categories=rng.sample(KINDS, rng.randint(1, 3)),
                    on_duty=True,
                    capacity=1,
                )
            )
            for _ in range(rng.choice([0, 0, 1, 2])):
                db.session.add(
                    Notification(
                        user_id=user.id,
                        kind=PUSH_KIND,
                        payload={},
                        created_at=now - timedelta(minutes=10),
                    )
                )
        db.session.flush()
        for _ in range(15):
            at = (
                rng.choice(spots)
                if rng.random() < 0.5
                else (
                    BAC_GIANG[0] + rng.uniform(-0.05, 0.05),
                    BAC_GIANG[1] + rng.uniform(-0.05, 0.05),
                )
            )
            request = HelpRequest(
                location=point(*at),
                categories=rng.sample(KINDS, 2),
                status="open",
                phone=new_phone(),
                id=None,
            )
            everyone = sorted(candidates(request, now=now), key=lambda c: c.rank)
            for k in (1, 3, 5, 12, 60):
                assert nearest_candidates(request, k, now=now) == everyone[:k]
        db.session.rollback()


def test_a_volunteer_nearer_in_metres_but_farther_in_degrees_is_not_missed(app):
    """At 21° N a degree of longitude is 0.93 of one of latitude: 50 volunteers 0.00100°
    north (111 m) come first by degrees, the one 0.00105° east (109 m) is the nearest."""
    from connect.accounts.models import User, Volunteer
    from connect.extensions import db
    from connect.matching.push import nearest_candidates
    from connect.requests.models import HelpRequest
    from connect.spatial import point

    def volunteer(at):
        user = User(phone=new_phone(), name="v", password_hash="x", role="volunteer")
        db.session.add(user)
        db.session.flush()
        db.session.add(
            Volunteer(
                user_id=user.id,
                location=point(*at),
                radius_m=2000,
                categories=["food"],
                on_duty=True,
                capacity=1,
            )
        )
        return user.id

    with app.app_context():
        for _ in range(50):
            volunteer((BAC_GIANG[0] + 0.00100, BAC_GIANG[1]))
        east = volunteer((BAC_GIANG[0], BAC_GIANG[1] + 0.00105))
        db.session.flush()
        request = HelpRequest(
            location=point(*BAC_GIANG),
            categories=["food"],
            status="open",
            phone=new_phone(),
            id=None,
        )
        assert [c.user_id for c in nearest_candidates(request, 1)] == [east]
        db.session.rollback()
