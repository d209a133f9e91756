"""The one privacy decision (connect.requests.privacy.view_for) as a table: who looks, at a
request in which state, gets which view, and whether the reveal is logged."""

from datetime import timedelta

import pytest
from sqlalchemy import select

from conftest import BAC_GIANG, request_payload

# One row per viewer, one column per request state. A cell is the view the viewer gets:
# "public", "private" (nothing logged), or "logged" (private, and a reveal is written with
# the viewer's role and channel).
REQUEST_TABLE = """
                   open     claimed  lapsed   helped   cancelled hidden  purged
anyone             public   public   public   public   public    public  public
wrong_link         public   public   public   public   public    public  public
bystander          public   public   public   public   public    public  public
requester_link     private  private  private  private  private   private private
requester_account  private  private  private  private  private   private private
claimant           public   logged   public   public   public    public  public
coordinator        logged   logged   logged   logged   logged    logged  private
other_coordinator  public   public   public   public   public    public  public
admin              logged   logged   logged   logged   logged    logged  private
"""
ROLES = {"claimant": "claimant", "coordinator": "coordinator", "admin": "admin"}

OFFER_TABLE = """
                   view
anyone             public
bystander          public
offerer            private
coordinator        private
other_coordinator  public
admin              private
"""


def table(text):
    """{(row, column): cell} of a table whose first line names the columns."""
    header, *rows = [line.split() for line in text.strip("\n").splitlines()]
    return {(row[0], column): cell for row in rows for column, cell in zip(header, row[1:])}


def me(client, headers):
    return client.get("/api/v1/auth/me", headers=headers).get_json()["id"]


@pytest.fixture
def people(client, create_user, create_staff):
    """({viewer kind: (user id or None, manage token or None)}, {kind: API headers})."""
    headers = {
        "coordinator": create_staff(),
        "other_coordinator": create_staff(areas=("24-220",)),
        "admin": create_staff(role="admin"),
    }
    for kind in ("bystander", "claimant", "offerer", "requester_account"):
        headers[kind] = create_user()[1]
    found = {kind: (me(client, kind_headers), None) for kind, kind_headers in headers.items()}
    found.update(anyone=(None, None), wrong_link=(None, "not-the-link"))
    return found, headers


def set_state(help_request, state, claimant_id, now):
    """Put the request in one column's state (not committed)."""
    help_request.status = {"lapsed": "claimed", "purged": "cancelled"}.get(state, state)
    held = state in ("claimed", "lapsed", "helped")
    help_request.claimed_by_id = claimant_id if held else None
    help_request.lease_expires_at = (
        now + timedelta(hours=1)
        if state == "claimed"
        else now - timedelta(minutes=1)
        if held
        else None
    )
    help_request.purged_at = now if state == "purged" else None


@pytest.mark.parametrize("channel", ["api", "page"])
def test_who_sees_what_of_a_request_and_what_is_logged(app, client, people, channel):
    from connect import clock
    from connect.accounts.models import User
    from connect.extensions import db
    from connect.requests.models import ContactReveal, HelpRequest
    from connect.requests.privacy import PRIVATE, PUBLIC, Viewer, view_for

    found, headers = people
    posted = client.post(
        "/api/v1/requests",
        headers=headers["requester_account"],
        json=request_payload(at=BAC_GIANG),
    ).get_json()
    found["requester_link"] = (None, posted["manage_token"])
    expected, seen = table(REQUEST_TABLE), {}
    with app.app_context():
        for kind, state in expected:
            user_id, token = found[kind]
            help_request = db.session.get(HelpRequest, posted["id"])
            set_state(help_request, state, found["claimant"][0], clock.now())
            viewer = Viewer(db.session.get(User, user_id) if user_id else None, token, channel)
            view = view_for(help_request, viewer)
            assert view in (PUBLIC, PRIVATE)
            logged = [
                tuple(row)
                for row in db.session.execute(
                    select(
                        ContactReveal.viewer_id, ContactReveal.viewer_role, ContactReveal.channel
                    )
                )
            ]
            if logged:
                assert logged == [(user_id, ROLES[kind], channel)]
            seen[kind, state] = "public" if view == PUBLIC else "logged" if logged else "private"
            db.session.rollback()  # each cell from the same posted request, with no log yet
        db.session.remove()
    assert seen == expected


def test_who_sees_what_of_an_offer_and_nothing_is_logged(app, client, people):
    from connect.accounts.models import User
    from connect.extensions import db
    from connect.offers.models import Offer
    from connect.requests.models import ContactReveal
    from connect.requests.privacy import PUBLIC, Viewer, view_for

    found, headers = people
    offer = client.post(
        "/api/v1/offers",
        headers=headers["offerer"],
        json={
            "title": "Rau sạch",
            "description": "Rau muống mỗi sáng",
            "categories": ["food"],
            "location": {"lat": BAC_GIANG[0], "lon": BAC_GIANG[1]},
        },
    ).get_json()
    expected, seen = table(OFFER_TABLE), {}
    with app.app_context():
        for kind, column in expected:
            user_id = found[kind][0]
            viewer = Viewer(db.session.get(User, user_id) if user_id else None)
            view = view_for(db.session.get(Offer, offer["id"]), viewer)
            seen[kind, column] = "public" if view == PUBLIC else "private"
        assert db.session.execute(select(ContactReveal.id)).all() == []
        db.session.remove()
    assert seen == expected


def test_a_kind_without_a_rule_is_refused_not_shown(app):
    from connect.requests.privacy import Viewer, view_for

    with app.app_context(), pytest.raises(TypeError):
        view_for(object(), Viewer())
