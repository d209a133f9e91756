"""The authorization matrix (issue 4, "the proof"): every route × every actor.

MATRIX below is the whole expectation, one row per route and method of the app's url_map
(API and pages), one column per actor. test_every_route_is_in_the_matrix fails when the app
has a route the table does not cover, so no endpoint can slip in unchecked; the size of the
matrix (routes × actors) is printed by test_matrix_size (run it with -s or -rA).

Actors
  anon       no account, no manage link
  owner      the resident who posted the request, signed in (bearer token for the API, a
             cookie session for pages)
  link       the same resident holding only the request's manage link (X-Manage-Token, or
             the /m/<token> pages, and the short /s/<short> link texted to
             its phone); not signed in
  resident   another signed-in resident
  claimant   the volunteer holding the claim (on an open request: a volunteer about to
             claim it; on a helped one: the volunteer who helped)
  volunteer  a volunteer not holding it
  coord      a coordinator of area 24, the province holding the request
  coord2     a coordinator of area 24-220 (Lục Nam), which does not hold it
  admin      an admin

The "on" column is the request the call is made on: "-" none; open, claimed, helped, hidden
(moderation hid it), or flagged (a possible duplicate: <flag_id> is its flag). GET rows (and
POSTs that change nothing, READ_ONLY_POSTS) use one request per state for the whole module;
every other method gets a fresh one per case. Whoever has no link gets a random one for
<token>; <code> is AREA_CODE, the area holding the requests. On "offer" the call is made on
an open offer of help (<offer_id>) that the claimant posted, in area 24 like the requests: for
those rows "claimant" is its offerer, and its contact name, phone, address and exact point are
the personal data checked.

Outcomes
  ok     allowed: 2xx (pages: 200 or a redirect that is not to the login page); the
         request's contact name, phone, address and exact point are NOT in the response
  priv   allowed, and the response shows them (name, phone in some format, address; for the
         API also exact_location equal to the real point)
  place  allowed, and the response shows the exact point but no name, phone or address (the
         coordinators' map)
  401 403 404
         refused with exactly that status (API: the JSON error envelope; pages: the error
         page), with none of the personal data in it
  login  a page that sends the caller to /login?next=... first
  back   a page action refused the page way: a redirect (not to login) with a message
For every refusal on a request, the request is unchanged afterwards (status, claim, fields,
events, reports); for every allowed write to a request (not "-"), it changed.

CSRF protection is off in this module: it is proven by the page tests, and here every POST
must reach the authorization it tests.
"""

import functools
import re
import secrets
import shutil
import tempfile
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import pytest
from sqlalchemy import delete, func, select

from conftest import BACKENDS, ensure_demo_areas, make_app, new_phone
from leak_check import MIN_SEPARATION, Personal, find_leaks, shows_everything

ACTORS = ("anon", "owner", "link", "resident", "claimant", "volunteer", "coord", "coord2", "admin")

MATRIX_TABLE = """
method route                                        on       anon  owner link  resident claimant volunteer coord coord2 admin
# -- public pages and documents -----------------------------------------------------------------------------------------
GET    /                                            -        ok    ok    ok    ok       ok       ok        ok    ok     ok
GET    /api/v1/openapi.json                         -        ok    ok    ok    ok       ok       ok        ok    ok     ok
GET    /api/v1/stats                                -        ok    ok    ok    ok       ok       ok        ok    ok     ok
# -- Kannel's calls: its shared secret, which no actor holds ------------------------------------------------------------
GET    /sms/kannel/inbound                          -        403   403   403   403      403      403       403   403    403
POST   /sms/kannel/inbound                          -        403   403   403   403      403      403       403   403    403
GET    /sms/kannel/dlr                              -        403   403   403   403      403      403       403   403    403
POST   /sms/kannel/dlr                              -        403   403   403   403      403      403       403   403    403
# -- accounts ----------------------------------------------------------------------------------------------------------
POST   /api/v1/auth/register                        -        ok    ok    ok    ok       ok       ok        ok    ok     ok
POST   /api/v1/auth/token                           -        ok    ok    ok    ok       ok       ok        ok    ok     ok
DELETE /api/v1/auth/token                           -        401   ok    401   ok       ok       ok        ok    ok     ok
GET    /api/v1/auth/me                              -        401   ok    401   ok       ok       ok        ok    ok     ok
GET    /login                                       -        ok    ok    ok    ok       ok       ok        ok    ok     ok
POST   /login                                       -        ok    ok    ok    ok       ok       ok        ok    ok     ok
GET    /register                                    -        ok    ok    ok    ok       ok       ok        ok    ok     ok
POST   /register                                    -        ok    ok    ok    ok       ok       ok        ok    ok     ok
POST   /logout                                      -        ok    ok    ok    ok       ok       ok        ok    ok     ok
# -- one-time codes by SMS: a forgotten password, a lost manage link, a verified phone -----------------------------------
POST   /api/v1/auth/password-reset                  -        ok    ok    ok    ok       ok       ok        ok    ok     ok
POST   /api/v1/auth/password-reset/confirm          -        ok    ok    ok    ok       ok       ok        ok    ok     ok
GET    /password-reset                              -        ok    ok    ok    ok       ok       ok        ok    ok     ok
POST   /password-reset                              -        ok    ok    ok    ok       ok       ok        ok    ok     ok
GET    /password-reset/code                         -        ok    ok    ok    ok       ok       ok        ok    ok     ok
POST   /password-reset/code                         -        ok    ok    ok    ok       ok       ok        ok    ok     ok
GET    /m/resend                                    -        ok    ok    ok    ok       ok       ok        ok    ok     ok
POST   /m/resend                                    -        ok    ok    ok    ok       ok       ok        ok    ok     ok
GET    /m/resend/code                               -        ok    ok    ok    ok       ok       ok        ok    ok     ok
POST   /m/resend/code                               -        ok    ok    ok    ok       ok       ok        ok    ok     ok
POST   /m/<token>/verify                            claimed  404   404   ok    404      404      404       404   404    404
GET    /m/<token>/verify/code                       claimed  404   404   ok    404      404      404       404   404    404
POST   /m/<token>/verify/code                       claimed  404   404   ok    404      404      404       404   404    404
# -- help requests: the API --------------------------------------------------------------------------------------------
POST   /api/v1/requests                             -        ok    ok    ok    ok       ok       ok        ok    ok     ok
GET    /api/v1/requests/nearby                      open     ok    ok    ok    ok       ok       ok        ok    ok     ok
GET    /api/v1/requests/map                         open     ok    ok    ok    ok       ok       ok        ok    ok     ok
GET    /api/v1/requests/<request_id>                claimed  ok    priv  priv  ok       priv     ok        priv  ok     priv
PATCH  /api/v1/requests/<request_id>                claimed  403   priv  priv  403      403      403       priv  403    priv
POST   /api/v1/requests/<request_id>/claim          open     401   403   401   403      priv     priv      403   403    403
POST   /api/v1/requests/<request_id>/release        claimed  401   403   401   403      ok       403       priv  403    priv
POST   /api/v1/requests/<request_id>/helped         claimed  401   403   401   403      ok       403       403   403    403
POST   /api/v1/requests/<request_id>/confirm        helped   403   priv  priv  403      403      403       403   403    403
POST   /api/v1/requests/<request_id>/cancel         claimed  403   priv  priv  403      403      403       priv  403    priv
POST   /api/v1/requests/<request_id>/manage-token   claimed  403   priv  priv  403      403      403       403   403    403
GET    /api/v1/requests/<request_id>/reveals        claimed  401   ok    ok    403      403      403       ok    403    ok
# -- trust and safety: reports and moderation --------------------------------------------------------------------------
POST   /api/v1/requests/<request_id>/report         claimed  401   403   401   ok       ok       ok        ok    ok     ok
POST   /api/v1/requests/<request_id>/hide           claimed  401   403   401   403      403      403       ok    403    ok
POST   /api/v1/requests/<request_id>/restore        hidden   401   403   401   403      403      403       ok    403    ok
GET    /api/v1/moderation/queue                     flagged  401   403   401   403      403      403       ok    ok     ok
POST   /api/v1/moderation/flags/<flag_id>/resolve   flagged  401   403   401   403      403      403       ok    403    ok
# -- batch assignment: <code> is area 24, the province holding the request -----------------------------------------------
POST   /api/v1/areas/<code>/assignments/preview     open     401   403   401   403      403      403       ok    403    ok
POST   /api/v1/areas/<code>/assignments/apply       open     401   403   401   403      403      403       ok    403    ok
GET    /requests/<request_id>/report                claimed  login 403   login ok       ok       ok        ok    ok     ok
POST   /requests/<request_id>/report                claimed  login 403   login ok       ok       ok        ok    ok     ok
# -- offers of help: "on offer" is an open offer the claimant posted ----------------------------------------------------
POST   /api/v1/offers                               -        401   ok    401   ok       ok       ok        ok    ok     ok
GET    /api/v1/offers/nearby                        offer    ok    ok    ok    ok       ok       ok        ok    ok     ok
GET    /api/v1/offers/map                           offer    ok    ok    ok    ok       ok       ok        ok    ok     ok
GET    /api/v1/offers/<offer_id>                    offer    ok    ok    ok    ok       priv     ok        priv  ok     priv
PATCH  /api/v1/offers/<offer_id>                    offer    401   403   401   403      priv     403       priv  403    priv
POST   /api/v1/offers/<offer_id>/close              offer    401   403   401   403      priv     403       priv  403    priv
POST   /api/v1/offers/<offer_id>/ask                offer    ok    ok    ok    ok       403      ok        ok    ok     ok
POST   /api/v1/offers/<offer_id>/report             offer    401   ok    401   ok       403      ok        ok    ok     ok
GET    /offers                                      offer    ok    ok    ok    ok       ok       ok        ok    ok     ok
GET    /offers/<offer_id>/ask                       offer    ok    ok    ok    ok       403      ok        ok    ok     ok
POST   /offers/<offer_id>/ask                       offer    ok    ok    ok    ok       403      ok        ok    ok     ok
GET    /offers/<offer_id>/report                    offer    login ok    login ok       403      ok        ok    ok     ok
POST   /offers/<offer_id>/report                    offer    login ok    login ok       403      ok        ok    ok     ok
GET    /volunteer/offers                            offer    login ok    login ok       priv     ok        ok    ok     ok
GET    /volunteer/offers/new                        -        login ok    login ok       ok       ok        ok    ok     ok
POST   /volunteer/offers/new                        -        login ok    login ok       ok       ok        ok    ok     ok
POST   /volunteer/offers/<offer_id>/close           offer    login back  login back     ok       back      ok    back   ok
# -- volunteers: the API -----------------------------------------------------------------------------------------------
GET    /api/v1/volunteers/me                        -        401   404   401   404      ok       ok        404   404    404
PUT    /api/v1/volunteers/me                        -        401   ok    401   ok       ok       ok        ok    ok     ok
# -- notifications: each caller's own inbox (on "open": pushed to the claimant and the volunteer) -----------------------
GET    /api/v1/notifications                        open     401   ok    401   ok       ok       ok        ok    ok     ok
POST   /api/v1/notifications/read                   -        401   ok    401   ok       ok       ok        ok    ok     ok
# -- resident pages: post, and the private manage link -----------------------------------------------------------------
GET    /need-help                                   -        ok    ok    ok    ok       ok       ok        ok    ok     ok
POST   /need-help                                   -        ok    ok    ok    ok       ok       ok        ok    ok     ok
GET    /m/<token>                                   claimed  404   404   priv  404      404      404       404   404    404
GET    /m/<token>/edit                              claimed  404   404   priv  404      404      404       404   404    404
POST   /m/<token>/edit                              claimed  404   404   ok    404      404      404       404   404    404
GET    /m/<token>/cancel                            claimed  404   404   ok    404      404      404       404   404    404
POST   /m/<token>/cancel                            claimed  404   404   ok    404      404      404       404   404    404
POST   /m/<token>/confirm                           helped   404   404   ok    404      404      404       404   404    404
POST   /m/<token>/new-link                          claimed  404   404   ok    404      404      404       404   404    404
GET    /s/<short>                                   claimed  404   404   ok    404      404      404       404   404    404
POST   /s/<short>/cancel                            claimed  404   404   ok    404      404      404       404   404    404
POST   /s/<short>/confirm                           helped   404   404   ok    404      404      404       404   404    404
# -- volunteer pages ---------------------------------------------------------------------------------------------------
GET    /volunteer                                   -        ok    ok    ok    ok       ok       ok        ok    ok     ok
GET    /volunteer/map                               -        ok    ok    ok    ok       ok       ok        ok    ok     ok
GET    /volunteer/profile                           -        login ok    login ok       ok       ok        ok    ok     ok
POST   /volunteer/profile                           -        login ok    login ok       ok       ok        ok    ok     ok
GET    /volunteer/needs                             open     login ok    login ok       ok       ok        ok    ok     ok
POST   /volunteer/claim/<request_id>                open     login back  login back     ok       ok        back  back   back
GET    /volunteer/claims/<request_id>               claimed  login 403   login 403      priv     403       403   403    403
POST   /volunteer/claims/<request_id>/release       claimed  login back  login back     ok       back      ok    back   ok
POST   /volunteer/claims/<request_id>/helped        claimed  login back  login back     ok       back      back  back   back
GET    /volunteer/inbox                             open     login ok    login ok       ok       ok        ok    ok     ok
POST   /volunteer/inbox/read                        -        login ok    login ok       ok       ok        ok    ok     ok
# -- coordinator console: its front door leads to the map ----------------------------------
GET    /console                                     -        login 403   login 403      403      403       ok    ok     ok
# -- coordinator console: statistics --------------------------------------------------------
GET    /api/v1/stats/console                        -        401   403   401   403      403      403       ok    ok     ok
GET    /console/statistics                          -        login 403   login 403      403      403       ok    ok     ok
GET    /console/texts                               -        login 403   login 403      403      403       ok    ok     ok
# -- coordinator console: the map (each coordinator sees their own areas) ---------------------
GET    /api/v1/console/map                          open     401   403   401   403      403      403       place ok     place
GET    /console/map                                 -        login 403   login 403      403      403       ok    ok     ok
# -- coordinator console: a request's history, candidates and assignment ----------------------
GET    /api/v1/requests/<request_id>/events         claimed  401   403   401   403      403      403       ok    403    ok
GET    /api/v1/requests/<request_id>/candidates     open     401   403   401   403      403      403       ok    403    ok
POST   /api/v1/requests/<request_id>/assign         open     401   403   401   403      403      403       priv  403    priv
GET    /console/requests/<request_id>               claimed  login 403   login 403      403      403       priv  404    priv
POST   /console/requests/<request_id>/assign        open     login 403   login 403      403      403       ok    404    ok
# -- coordinator console: requests texted in, to place exactly ("place" moves the point) -----
GET    /console/to-place                            -        login 403   login 403      403      403       ok    ok     ok
POST   /console/requests/<request_id>/place         claimed  login 403   login 403      403      403       ok    404    ok
# -- coordinator console: hotline intake (the fresh band lies in area 24, not in 24-220) -------
POST   /api/v1/console/requests                     -        401   403   401   403      403      403       ok    403    ok
GET    /console/intake                              -        login 403   login 403      403      403       ok    ok     ok
POST   /console/intake                              -        login 403   login 403      403      403       ok    403    ok
# -- coordinator console: exports (streamed files; "priv" = the file holds the request) ------
GET    /api/v1/console/exports/requests.csv         claimed  401   403   401   403      403      403       priv  ok     priv
GET    /api/v1/console/exports/requests.geojson     claimed  401   403   401   403      403      403       priv  ok     priv
GET    /api/v1/console/exports/assists.csv          -        401   403   401   403      403      403       ok    ok     ok
GET    /api/v1/console/exports/assists.geojson      -        401   403   401   403      403      403       ok    ok     ok
GET    /api/v1/stats/areas.csv                      claimed  ok    ok    ok    ok       ok       ok        ok    ok     ok
GET    /api/v1/stats/areas.geojson                  claimed  ok    ok    ok    ok       ok       ok        ok    ok     ok
GET    /console/exports                             -        login 403   login 403      403      403       ok    ok     ok
# -- coordinator console: moderation and blocked phones ("blocked": its phone is blocked) -----
POST   /api/v1/requests/<request_id>/block-phone    claimed  401   403   401   403      403      403       ok    403    ok
GET    /api/v1/moderation/blocked-phones            -        401   403   401   403      403      403       ok    ok     ok
POST   /api/v1/moderation/blocked-phones/<block_id>/lift blocked 401 403 401   403      403      403       ok    403    ok
GET    /console/moderation                          flagged  login 403   login 403      403      403       ok    ok     ok
POST   /console/requests/<request_id>/hide          claimed  login 403   login 403      403      403       ok    403    ok
POST   /console/requests/<request_id>/restore       hidden   login 403   login 403      403      403       ok    403    ok
POST   /console/requests/<request_id>/block-phone   claimed  login 403   login 403      403      403       ok    403    ok
POST   /console/flags/<flag_id>/resolve             flagged  login 403   login 403      403      403       ok    403    ok
POST   /console/blocked-phones/<block_id>/lift      blocked  login 403   login 403      403      403       ok    403    ok
"""

# Routes that are plumbing, not features: nothing to authorize.
INFRASTRUCTURE = {
    "static": "files from static/",
    "healthz": "the liveness probe",
    "readyz": "the readiness probe",
    "metrics": "Prometheus metrics, for the metrics token only",
}
# Rows written ahead of routes being built: checked as soon as the app has them.
UPCOMING = set()
# POSTs that change nothing (a computation): they share one request per state, like GETs.
READ_ONLY_POSTS = {
    ("POST", "/api/v1/areas/<code>/assignments/preview"),
    ("POST", "/m/<token>/verify"),  # texts a code; the request is the same
}
# The area a <code> in a route names: the province holding every request of the matrix.
AREA_CODE = "24"

OUTCOMES = {"ok", "priv", "place", "401", "403", "404", "login", "back"}
STATES = {"-", "open", "claimed", "helped", "hidden", "flagged", "offer", "blocked"}
REFUSALS = {"401", "403", "404", "login", "back"}
PASSWORD = "mat-khau-ma-tran"
API = "/api/v1"


@dataclass(frozen=True)
class Row:
    method: str
    route: str
    on: str
    expect: dict

    @property
    def key(self):
        return (self.method, self.route)

    @property
    def is_api(self):
        # Kannel's calls are machine to machine: they answer in the JSON envelope too.
        return self.route.startswith(("/api/", "/sms/"))

    @property
    def fresh(self):
        """Whether each case gets its own request (it may change it)."""
        return self.on != "-" and self.method != "GET" and self.key not in READ_ONLY_POSTS


def parse_matrix(table):
    lines = [
        line
        for line in table.strip().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    header = lines[0].split()
    assert header == ["method", "route", "on", *ACTORS], header
    rows = {}
    for line in lines[1:]:
        method, route, on, *outcomes = line.split()
        assert len(outcomes) == len(ACTORS), line
        assert on in STATES and set(outcomes) <= OUTCOMES, line
        assert (method, route) not in rows, f"two rows for {method} {route}"
        rows[(method, route)] = Row(method, route, on, dict(zip(ACTORS, outcomes)))
    return rows


MATRIX = parse_matrix(MATRIX_TABLE)


def normalise_rule(rule):
    """/x/<int(max=2147483647):request_id> -> /x/<request_id>"""
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"<\1>", rule)


def routes_of(app):
    """{(method, route): endpoint} of every feature route of the app."""
    routes = {}
    for rule in app.url_map.iter_rules():
        if rule.endpoint in INFRASTRUCTURE:
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            routes[(method, normalise_rule(rule.rule))] = rule.endpoint
    return routes


@functools.cache
def app_routes():
    """The routes of the app as built now (at collection: parametrises the matrix)."""
    from connect.extensions import db

    folder = tempfile.mkdtemp(prefix="authz-routes-")
    try:
        app = make_app(f"sqlite:///{folder}/routes.db")
        routes = routes_of(app)
        with app.app_context():
            db.engine.dispose()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return routes


def cases():
    present = app_routes()
    return [
        pytest.param(row, actor, id=f"{row.method} {row.route} | {actor}")
        for row in MATRIX.values()
        if row.key in present
        for actor in ACTORS
    ]


# -- the seeded world: built once per backend -----------------------------------------


@dataclass
class Actor:
    name: str
    user_id: int | None = None
    phone: str | None = None
    headers: dict = field(default_factory=dict)
    cookie: str | None = None
    volunteer: bool = False


@dataclass
class Target:
    id: int
    person: Personal
    state: str
    flag_id: int | None = None
    block_id: int | None = None

    @property
    def token(self):
        return self.person.manage_token


# Points: requests for single cases in one band, the shared ones (which list pages show)
# in another, more than 400 m of blur apart, so no public point shown on a page is near the
# exact point checked there. Both inside district 24-213 (so province 24), outside 24-220.
FRESH_BAND = ((21.2600, 21.3200), (106.1400, 106.2300))
SHARED_BAND = ((21.2250, 21.2350), (106.2450, 106.2620))
GRID_STEP = 0.0021  # > 200 m: no two single-case requests are look-alikes (100 m)
VOLUNTEER_AT = (21.2731, 106.1946)  # the Bắc Giang place: already a public number


class World:
    def __init__(self, app):
        self.app = app
        self.api_client = app.test_client()
        self.actors = {}
        self.public_numbers = set()
        self._tags = _tag_words()
        self._points = {"fresh": self._grid(FRESH_BAND), "shared": self._grid(SHARED_BAND)}
        self.shared = {}

    # -- set-up ----------------------------------------------------------------------

    def build(self):
        from connect.extensions import db

        config = self.app.config
        self.public_numbers |= {v for _name, lat, lon in config["PLACES"] for v in (lat, lon)}
        self.public_numbers |= set(config["MAP_CENTER"]) | set(VOLUNTEER_AT)
        ensure_demo_areas(self.app)
        self.actors["anon"] = Actor("anon")
        self.actors["link"] = Actor("link")
        for name in ("owner", "resident", "claimant", "volunteer"):
            self.actors[name] = self._register(name)
        for name in ("claimant", "volunteer"):
            self._become_volunteer(self.actors[name])
        for name, role, areas in (
            ("coord", "coordinator", ("24",)),
            ("coord2", "coordinator", ("24-220",)),
            ("admin", "admin", ()),
        ):
            self.actors[name] = self._staff(name, role, areas)
        self.spare = self._register("spare")  # whose credentials POST /login and /token use
        for actor in self.actors.values():
            if actor.phone:
                actor.cookie = self._session_cookie(actor.phone)
        # The claimant has helped once, so may hold more than one claim at a time.
        first = self.new_target("helped")
        assert first.state == "helped"
        # Only the open one is on list pages (nearby, map, needs): it alone needs the band.
        self.shared["open"] = self.new_target("open", band="shared")
        for state in ("claimed", "helped", "hidden", "flagged", "blocked"):
            self.shared[state] = self.new_target(state)
        self.shared["offer"] = self.new_target("offer")
        with self.app.app_context():
            from connect.accounts.models import User
            from connect.areas.services import may_coordinate

            target = self.shared["claimed"]
            coord = db.session.get(User, self.actors["coord"].user_id)
            coord2 = db.session.get(User, self.actors["coord2"].user_id)
            assert may_coordinate(coord, target.id) and not may_coordinate(coord2, target.id)

    def _register(self, name):
        phone = new_phone()
        response = self.api_client.post(
            f"{API}/auth/register",
            json={"phone": phone, "password": PASSWORD, "name": f"Người {name.title()}"},
        )
        assert response.status_code == 201, response.get_json()
        user_id = response.get_json()["id"]
        return Actor(name, user_id, phone, self.bearer(phone))

    def code_for(self, phone, purpose):
        """A one-time code for the phone, as its text would carry it."""
        from connect.extensions import db
        from connect.sms import codes

        with self.app.app_context():
            code = codes.issue(phone, purpose)
            db.session.commit()
        return code

    def bearer(self, phone):
        response = self.api_client.post(
            f"{API}/auth/token", json={"phone": phone, "password": PASSWORD}
        )
        assert response.status_code == 200, response.get_json()
        return {"Authorization": f"Bearer {response.get_json()['token']}"}

    def _become_volunteer(self, actor):
        response = self.api_client.put(
            f"{API}/volunteers/me", headers=actor.headers, json=volunteer_profile()
        )
        assert response.status_code == 200, response.get_json()
        actor.volunteer = True

    def _staff(self, name, role, areas):
        phone = new_phone()
        result = self.app.test_cli_runner().invoke(
            args=[
                "connect",
                "create-user",
                "--phone",
                phone,
                "--name",
                f"Điều phối {name}",
                "--role",
                role,
                "--password",
                PASSWORD,
                *[arg for code in areas for arg in ("--area", code)],
            ]
        )
        assert result.exit_code == 0, result.output
        headers = self.bearer(phone)
        me = self.api_client.get(f"{API}/auth/me", headers=headers).get_json()
        return Actor(name, me["id"], phone, headers)

    def _session_cookie(self, phone):
        client = self.app.test_client()
        response = client.post("/login", data={"phone": phone, "password": PASSWORD, "next": ""})
        assert response.status_code == 302, response.get_data(as_text=True)[:500]
        return client.get_cookie(self.app.config["SESSION_COOKIE_NAME"]).value

    # -- requests ------------------------------------------------------------------------

    @staticmethod
    def _grid(band):
        (lat0, lat1), (lon0, lon1) = band
        lat = lat0 + 0.00037123
        while lat < lat1:
            lon = lon0 + 0.00041987
            while lon < lon1:
                yield (round(lat, 7), round(lon, 7))
                lon += GRID_STEP
            lat += GRID_STEP

    def next_point(self, band="fresh"):
        for point in self._points[band]:
            if all(abs(v - q) >= MIN_SEPARATION for v in point for q in self.public_numbers):
                return point
        raise AssertionError(f"the {band} band is used up")

    def new_person(self, at):
        name_tag, address_tag = next(self._tags), next(self._tags)
        return dict(
            contact_name=f"Phạm Thị Lan {name_tag}",
            phone=new_phone(),
            address=f"Số 9 ngõ {address_tag}, phường Trần Phú",
            at=at,
            markers={"name": name_tag, "address": address_tag},
        )

    def post(self, band="fresh", at=None, categories=("food",)):
        """A request posted by the owner's account, its public point clear of its exact one
        (at a given point: None when it is not)."""
        while True:
            person = self.new_person(at or self.next_point(band))
            lat, lon = person["at"]
            response = self.api_client.post(
                f"{API}/requests",
                headers=self.actors["owner"].headers,
                json={
                    "categories": list(categories),
                    "description": "Cần gạo cho 3 người",
                    "household_size": 3,
                    "urgency": "normal",
                    "location": {"lat": lat, "lon": lon},
                    "contact_name": person["contact_name"],
                    "phone": person["phone"],
                    "address": person["address"],
                },
            )
            assert response.status_code == 201, response.get_json()
            body = response.get_json()
            public = self.public_point(body["id"])
            if all(abs(p - e) >= MIN_SEPARATION for p, e in zip(public, (lat, lon))):
                return Target(
                    body["id"],
                    Personal(
                        body["id"],
                        person["contact_name"],
                        person["phone"],
                        person["address"],
                        (lat, lon),
                        person["markers"],
                        body["manage_token"],
                    ),
                    "open",
                )
            self.cancel(body["id"])  # its blur is too close on one axis: take another point
            if at is not None:
                return None

    def public_point(self, request_id, model=None):
        from connect.extensions import db
        from connect.requests.models import HelpRequest
        from connect.spatial import latlon

        with self.app.app_context():
            return latlon(db.session.get(model or HelpRequest, request_id).public_location)

    def new_target(self, state, band="fresh"):
        if state == "offer":
            return self.post_offer(band)
        if state == "flagged":
            target = None
            while target is None:
                first = self.post(band)
                lat, lon = first.person.point
                # 30 m north, another phone, the same category: a possible duplicate.
                target = self.post(band, at=(round(lat + 0.00027, 7), lon))
                self.cancel(first.id)  # flags stay; the first need not stay listed
            target.flag_id = self.flag_of(target.id)
            target.state = "flagged"
            return target
        target = self.post(band)
        if state == "blocked":
            response = self.api_client.post(
                f"{API}/requests/{target.id}/block-phone",
                headers=self.actors["admin"].headers,
                json={"reason": "blocked by the authorization matrix"},
            )
            assert response.status_code == 201, response.get_json()
            target.block_id = response.get_json()["id"]
        if state in ("claimed", "helped"):
            claimant = self.actors["claimant"].headers
            response = self.api_client.post(f"{API}/requests/{target.id}/claim", headers=claimant)
            assert response.status_code == 200, response.get_json()
            if state == "helped":
                response = self.api_client.post(
                    f"{API}/requests/{target.id}/helped", headers=claimant
                )
                assert response.status_code == 200, response.get_json()
        if state == "hidden":
            self.hide(target.id)
        target.state = state
        return target

    def short_link(self, request_id):
        """The code of the short link texted when the request was posted."""
        from connect.extensions import db
        from connect.sms.models import SmsMessage

        with self.app.app_context():
            body = db.session.execute(
                select(SmsMessage.body).where(
                    SmsMessage.request_id == request_id, SmsMessage.kind == "posted"
                )
            ).scalar_one()
        return body.rsplit("/s/", 1)[1]

    def flag_of(self, request_id):
        from connect.extensions import db
        from connect.safety.models import RequestFlag

        with self.app.app_context():
            flag_id = db.session.execute(
                select(RequestFlag.id).where(RequestFlag.request_id == request_id)
            ).scalar()
        assert flag_id is not None, "posting a look-alike made no flag"
        return flag_id

    def hide(self, request_id):
        from connect.extensions import db
        from connect.requests.services import hide_request

        with self.app.app_context():
            hide_request(request_id, None, "hidden by the authorization matrix")
            db.session.commit()

    def cancel(self, request_id):
        response = self.api_client.post(
            f"{API}/requests/{request_id}/cancel", headers=self.actors["admin"].headers
        )
        assert response.status_code in (200, 409), response.get_json()

    def snapshot(self, request_id):
        from connect.extensions import db
        from connect.requests.models import HelpRequest, RequestEvent
        from connect.requests.sms_links import phone_proven
        from connect.safety.models import Report, RequestFlag

        with self.app.app_context():
            r = db.session.get(HelpRequest, request_id)
            return {
                "status": r.status,
                "phone_proven": phone_proven(r),
                "claimed_by": r.claimed_by_id,
                "manage_token_hash": r.manage_token_hash,
                "household_size": r.household_size,
                "updated_at": r.updated_at,
                "events": db.session.execute(
                    select(func.count(RequestEvent.id)).where(
                        RequestEvent.request_id == request_id
                    )
                ).scalar_one(),
                "reports": db.session.execute(
                    select(func.count(Report.id)).where(
                        Report.subject_type == "request", Report.subject_id == request_id
                    )
                ).scalar_one(),
                "open_flags": db.session.execute(
                    select(func.count(RequestFlag.id)).where(
                        RequestFlag.request_id == request_id, RequestFlag.resolved_at.is_(None)
                    )
                ).scalar_one(),
            }

    def status(self, request_id):
        return self.snapshot(request_id)["status"]

    # -- offers of help --------------------------------------------------------------------

    def post_offer(self, band="fresh"):
        """An open offer the claimant posted, its public point clear of its exact one."""
        from connect.offers.models import Offer

        while True:
            person = self.new_person(self.next_point(band))
            response = self.api_client.post(
                f"{API}/offers", headers=self.actors["claimant"].headers, json=offer_json(person)
            )
            assert response.status_code == 201, response.get_json()
            body = response.get_json()
            public = self.public_point(body["id"], Offer)
            if all(abs(p - e) >= MIN_SEPARATION for p, e in zip(public, person["at"])):
                return Target(
                    body["id"],
                    Personal(
                        body["id"],
                        person["contact_name"],
                        person["phone"],
                        person["address"],
                        person["at"],
                        person["markers"],
                    ),
                    "offer",
                )
            self.close_offer(body["id"])

    def close_offer(self, offer_id):
        response = self.api_client.post(
            f"{API}/offers/{offer_id}/close", headers=self.actors["admin"].headers
        )
        assert response.status_code in (200, 409), response.get_json()

    def offer_snapshot(self, offer_id):
        from connect.extensions import db
        from connect.offers.models import Offer
        from connect.requests.models import HelpRequest
        from connect.safety.models import Report

        with self.app.app_context():
            o = db.session.get(Offer, offer_id)
            return {
                "status": o.status,
                "quantity": o.quantity,
                "updated_at": o.updated_at,
                "asks": db.session.execute(
                    select(func.count(HelpRequest.id)).where(HelpRequest.offer_id == offer_id)
                ).scalar_one(),
                "reports": db.session.execute(
                    select(func.count(Report.id)).where(
                        Report.subject_type == "offer", Report.subject_id == offer_id
                    )
                ).scalar_one(),
            }

    def state_of(self, target):
        """What a refused call must leave alone, of a request or an offer."""
        if target.state == "offer":
            return self.offer_snapshot(target.id)
        return self.snapshot(target.id)

    def tidy_target(self, target):
        if target.state != "offer":
            self.tidy(target.id)
        elif self.offer_snapshot(target.id)["status"] == "open":
            self.close_offer(target.id)

    def newest_offer_of(self, actor):
        from connect.extensions import db
        from connect.offers.models import Offer

        with self.app.app_context():
            return db.session.execute(
                select(func.max(Offer.id)).where(Offer.user_id == actor.user_id)
            ).scalar()

    def tidy(self, request_id):
        """Close a case's request, so the claimant's claims and the lists stay small."""
        if self.status(request_id) in ("open", "claimed"):
            self.cancel(request_id)

    def drop_profile(self, actor):
        """Undo a volunteer profile a case gave to someone who had none."""
        from connect.accounts.models import Volunteer
        from connect.extensions import db

        if actor.volunteer or actor.user_id is None:
            return
        with self.app.app_context():
            db.session.execute(delete(Volunteer).where(Volunteer.user_id == actor.user_id))
            db.session.commit()

    def client_for(self, actor):
        """A fresh browser for one case: the actor's session, nothing left from other cases."""
        client = self.app.test_client()
        if actor.cookie:
            client.set_cookie(self.app.config["SESSION_COOKIE_NAME"], actor.cookie)
        return client


def _tag_words():
    """Distinctive ASCII words for names and addresses (found even in escaped JSON)."""
    rng = secrets.SystemRandom()
    used = set()
    while True:
        word = "Q" + "".join(rng.choice("bcdfghjkmnpqrstvwxz") for _ in range(6))
        if word not in used:
            used.add(word)
            yield word


def volunteer_profile():
    return {
        "location": {"lat": VOLUNTEER_AT[0], "lon": VOLUNTEER_AT[1]},
        "radius_m": 20_000,
        "categories": ["food", "supplies", "medicine", "medical_advice", "other"],
        "on_duty": True,
        "capacity": 5,
    }


def profile_form():
    return {
        "place": "",
        "lat": repr(VOLUNTEER_AT[0]),
        "lon": repr(VOLUNTEER_AT[1]),
        "radius_m": "20000",
        "categories": ["food", "supplies", "medicine", "medical_advice", "other"],
        "on_duty": "y",
        "capacity": "5",
    }


def offer_json(person):
    lat, lon = person["at"]
    return {
        "kind": "shop",
        "title": "Rau sạch",
        "description": "Rau từ vườn nhà",
        "categories": ["food"],
        "quantity": "10 kg",
        "location": {"lat": lat, "lon": lon},
        "contact_name": person["contact_name"],
        "phone": person["phone"],
        "address": person["address"],
    }


def offer_form(person):
    lat, lon = person["at"]
    return {
        "kind": "shop",
        "title": "Rau sạch",
        "description": "Rau từ vườn nhà",
        "categories": ["food"],
        "quantity": "10 kg",
        "available_days": "7",
        "place": "",
        "lat": repr(lat),
        "lon": repr(lon),
        "contact_name": person["contact_name"],
        "phone": person["phone"],
        "address": person["address"],
    }


def request_form(person, household_size="3"):
    lat, lon = person["at"] if isinstance(person, dict) else person.point
    get = person.get if isinstance(person, dict) else lambda key: getattr(person, key)
    return {
        "categories": ["food"],
        "description": "Cần gạo cho 3 người",
        "household_size": household_size,
        "urgency": "normal",
        "place": "",
        "lat": repr(lat),
        "lon": repr(lon),
        "contact_name": get("contact_name"),
        "phone": get("phone"),
        "address": get("address"),
    }


@pytest.fixture(scope="module", params=BACKENDS)
def world(request):
    from argon2 import PasswordHasher

    from connect.accounts import services
    from connect.extensions import db

    patch = pytest.MonkeyPatch()
    fast = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    patch.setattr(services, "_hasher", fast)
    patch.setattr(services, "_DUMMY_HASH", fast.hash("not a real password"))
    folder = None
    if request.param == "sqlite":
        folder = tempfile.mkdtemp(prefix="authz-matrix-")
        shutil.copyfile(request.getfixturevalue("sqlite_template"), f"{folder}/connect.db")
        url = f"sqlite:///{folder}/connect.db"
    else:
        from conftest import _clone_postgis

        url = _clone_postgis(
            request.getfixturevalue("pg_cluster"), request.getfixturevalue("postgis_template")
        )
    app = make_app(url, WTF_CSRF_ENABLED=False, BLUR_SECRET="authorization-matrix")
    try:
        built = World(app)
        built.build()
        yield built
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
        patch.undo()
        if folder:
            shutil.rmtree(folder, ignore_errors=True)


# -- how each route is called ----------------------------------------------------------


@dataclass
class Case:
    world: World
    row: Row
    actor: Actor
    target: Target | None
    created: list = field(default_factory=list)  # request ids a case made, to tidy
    created_offers: list = field(default_factory=list)  # offer ids a case made, to close


def _box(point, half=0.01):
    lat, lon = point
    return f"{lon - half},{lat - half},{lon + half},{lat + half}"


def _new_request_json(case):
    person = case.world.new_person(case.world.next_point())
    lat, lon = person["at"]
    return {
        "json": {
            "categories": ["food"],
            "description": "Cần sữa cho em bé",
            "household_size": 2,
            "location": {"lat": lat, "lon": lon},
            "contact_name": person["contact_name"],
            "phone": person["phone"],
            "address": person["address"],
        }
    }


def _asker(case):
    """Someone asking the target offer, living on another grid row and column than its
    offerer (the answer shows the asker's own exact point)."""
    while True:
        at = case.world.next_point()
        if all(abs(a - b) >= MIN_SEPARATION for a, b in zip(at, case.target.person.point)):
            return case.world.new_person(at)


def _ask_json(person):
    lat, lon = person["at"]
    return {
        "categories": ["food"],
        "description": "Cần rau cho 2 người",
        "household_size": 2,
        "location": {"lat": lat, "lon": lon},
        "contact_name": person["contact_name"],
        "phone": person["phone"],
        "address": person["address"],
    }


def _fresh_token(case):
    if case.actor.phone is None:
        return {}
    return {"headers": case.world.bearer(case.actor.phone)}


def _reset(case):
    """A fresh account (no actor's password changes) and the code texted to reset it."""
    phone = case.world._register("reset").phone
    return {
        "phone": phone,
        "code": case.world.code_for(phone, "reset"),
        "password": "moi-" + PASSWORD,
    }


def _link_again(case):
    """A phone with no open request and its code: the page says so (no token changes)."""
    phone = new_phone()
    return {"phone": phone, "code": case.world.code_for(phone, "resend")}


# Arguments per route beyond the path: json=, data=, query_string=, headers= (merged).
ARGUMENTS = {
    ("POST", f"{API}/auth/password-reset"): lambda case: {
        "json": {"phone": case.world.spare.phone}
    },
    ("POST", f"{API}/auth/password-reset/confirm"): lambda case: {"json": _reset(case)},
    ("POST", "/password-reset"): lambda case: {"data": {"phone": case.world.spare.phone}},
    ("POST", "/password-reset/code"): lambda case: {"data": _reset(case)},
    ("POST", "/m/resend"): lambda case: {"data": {"phone": new_phone()}},
    ("POST", "/m/resend/code"): lambda case: {"data": _link_again(case)},
    ("POST", "/m/<token>/verify/code"): lambda case: {
        "data": {"code": case.world.code_for(case.target.person.phone, "verify")}
    },
    ("POST", f"{API}/auth/register"): lambda case: {
        "json": {"phone": new_phone(), "password": PASSWORD, "name": "Người Mới"}
    },
    ("POST", f"{API}/auth/token"): lambda case: {
        "json": {"phone": case.world.spare.phone, "password": PASSWORD}
    },
    # Revoke a token of its own, not the one the other cases use.
    ("DELETE", f"{API}/auth/token"): _fresh_token,
    ("POST", f"{API}/requests"): _new_request_json,
    ("GET", f"{API}/requests/nearby"): lambda case: {
        "query_string": {
            "lat": case.target.person.point[0],
            "lon": case.target.person.point[1],
            "radius_m": 1000,
        }
    },
    ("GET", f"{API}/requests/map"): lambda case: {
        "query_string": {"bbox": _box(case.target.person.point)}
    },
    ("PATCH", f"{API}/requests/<request_id>"): lambda case: {"json": {"household_size": 7}},
    ("POST", f"{API}/requests/<request_id>/report"): lambda case: {
        "json": {"reason": "scam", "comment": "Có vẻ lừa đảo"}
    },
    ("POST", f"{API}/requests/<request_id>/hide"): lambda case: {"json": {"reason": "quảng cáo"}},
    ("POST", f"{API}/requests/<request_id>/restore"): lambda case: {
        "json": {"reason": "không phải quảng cáo"}
    },
    ("POST", f"{API}/moderation/flags/<flag_id>/resolve"): lambda case: {"json": {}},
    ("POST", f"{API}/console/requests"): _new_request_json,
    ("GET", f"{API}/console/map"): lambda case: {
        "query_string": {"bbox": _box(case.target.person.point), "zoom": 16}
    },
    ("POST", f"{API}/requests/<request_id>/assign"): lambda case: {
        "json": {"volunteer_id": case.world.actors["volunteer"].user_id}
    },
    ("POST", "/console/requests/<request_id>/assign"): lambda case: {
        "data": {"volunteer_id": str(case.world.actors["volunteer"].user_id)}
    },
    # 120 m north of where it was: still in the fresh band, clear of the other grid points.
    ("POST", "/console/requests/<request_id>/place"): lambda case: {
        "data": {"point": "{:.7f}, {:.7f}".format(*moved_north(case.target.person.point))}
    },
    ("POST", "/console/intake"): lambda case: {
        "data": request_form(case.world.new_person(case.world.next_point()))
    },
    ("POST", f"{API}/requests/<request_id>/block-phone"): lambda case: {
        "json": {"reason": "lừa đảo"}
    },
    ("GET", f"{API}/moderation/blocked-phones"): lambda case: {"query_string": {"per_page": 100}},
    ("POST", f"{API}/moderation/blocked-phones/<block_id>/lift"): lambda case: {
        "json": {"reason": "nhầm số"}
    },
    ("POST", "/console/requests/<request_id>/hide"): lambda case: {
        "data": {"reason": "quảng cáo", "next": "/console/moderation"}
    },
    ("POST", "/console/requests/<request_id>/restore"): lambda case: {
        "data": {"reason": "không phải quảng cáo", "next": "/console/moderation"}
    },
    ("POST", "/console/requests/<request_id>/block-phone"): lambda case: {
        "data": {"reason": "lừa đảo", "next": "/console/moderation"}
    },
    ("POST", "/console/flags/<flag_id>/resolve"): lambda case: {
        "data": {"reason": "khác nhà", "next": "/console/moderation"}
    },
    ("POST", "/console/blocked-phones/<block_id>/lift"): lambda case: {
        "data": {"reason": "nhầm số", "next": "/console/moderation"}
    },
    ("POST", f"{API}/areas/<code>/assignments/preview"): lambda case: {"json": {}},
    # The volunteer who holds no claim (between cases) is given the request.
    ("POST", f"{API}/areas/<code>/assignments/apply"): lambda case: {
        "json": {
            "pairs": [
                {
                    "request_id": case.target.id,
                    "volunteer_id": case.world.actors["volunteer"].user_id,
                }
            ]
        }
    },
    ("PUT", f"{API}/volunteers/me"): lambda case: {"json": volunteer_profile()},
    ("POST", "/login"): lambda case: {
        "data": {"phone": case.world.spare.phone, "password": PASSWORD, "next": ""}
    },
    ("POST", "/register"): lambda case: {
        "data": {"name": "Người Mới", "phone": new_phone(), "password": PASSWORD, "next": ""}
    },
    ("POST", "/need-help"): lambda case: {
        "data": request_form(case.world.new_person(case.world.next_point()))
    },
    ("POST", "/m/<token>/edit"): lambda case: {
        "data": request_form(case.target.person, household_size="8")
    },
    ("POST", "/volunteer/profile"): lambda case: {"data": profile_form()},
    ("POST", "/requests/<request_id>/report"): lambda case: {
        "data": {"reason": "scam", "comment": ""}
    },
    ("POST", f"{API}/offers"): lambda case: {
        "json": offer_json(case.world.new_person(case.world.next_point()))
    },
    ("GET", f"{API}/offers/nearby"): lambda case: {
        "query_string": {
            "lat": case.target.person.point[0],
            "lon": case.target.person.point[1],
            "radius_m": 1000,
        }
    },
    ("GET", f"{API}/offers/map"): lambda case: {
        "query_string": {"bbox": _box(case.target.person.point)}
    },
    ("PATCH", f"{API}/offers/<offer_id>"): lambda case: {"json": {"quantity": "7 bao"}},
    ("POST", f"{API}/offers/<offer_id>/ask"): lambda case: {"json": _ask_json(_asker(case))},
    ("POST", f"{API}/offers/<offer_id>/report"): lambda case: {"json": {"reason": "scam"}},
    ("POST", "/offers/<offer_id>/ask"): lambda case: {"data": request_form(_asker(case))},
    ("POST", "/offers/<offer_id>/report"): lambda case: {
        "data": {"reason": "scam", "comment": ""}
    },
    ("POST", "/volunteer/offers/new"): lambda case: {
        "data": offer_form(case.world.new_person(case.world.next_point()))
    },
}


def moved_north(point, degrees=0.0011):
    return round(point[0] + degrees, 7), point[1]


def path_for(case):
    path, target = case.row.route, case.target
    if "<token>" in path:
        token = target.token if case.actor.name == "link" else secrets.token_urlsafe(32)
        path = path.replace("<token>", token)
    if "<request_id>" in path:
        path = path.replace("<request_id>", str(target.id))
    if "<flag_id>" in path:
        path = path.replace("<flag_id>", str(target.flag_id))
    if "<block_id>" in path:
        path = path.replace("<block_id>", str(target.block_id))
    if "<offer_id>" in path:
        path = path.replace("<offer_id>", str(target.id))
    if "<short>" in path:  # the link texted to the request's phone: "link" holds it too
        short = case.world.short_link(target.id) if case.actor.name == "link" else "2" * 12
        path = path.replace("<short>", short)
    if "<code>" in path:
        path = path.replace("<code>", AREA_CODE)
    assert "<" not in path, f"the matrix does not know how to fill {path}"
    return path


def call(case):
    row, actor = case.row, case.actor
    kwargs = ARGUMENTS.get(row.key, lambda case: {})(case)
    headers = {}
    if row.is_api:
        headers.update(actor.headers)
        if actor.name == "link":
            headers["X-Manage-Token"] = (
                getattr(case.target, "token", None) or case.world.shared["claimed"].token
            )
    headers.update(kwargs.pop("headers", {}))
    client = case.world.client_for(actor)
    return client.open(path_for(case), method=row.method, headers=headers, **kwargs)


def remember_created(case, response):
    """Requests a case posted, so they can be closed afterwards."""
    if (
        case.row.key in (("POST", f"{API}/requests"), ("POST", f"{API}/console/requests"))
        and response.status_code == 201
    ):
        case.created.append(response.get_json()["id"])
    if case.row.key == ("POST", "/console/intake") and response.status_code == 200:
        done = re.search(r'data-intake-done="(\d+)"', response.get_data(as_text=True))
        if done:
            case.created.append(int(done.group(1)))
    if case.row.key == ("POST", f"{API}/offers/<offer_id>/ask") and response.status_code == 201:
        case.created.append(response.get_json()["id"])
    if case.row.key == ("POST", f"{API}/offers") and response.status_code == 201:
        case.created_offers.append(response.get_json()["id"])
    if (
        case.row.key == ("POST", "/volunteer/offers/new")
        and response.status_code == 302
        and not to_login(response)
    ):
        case.created_offers.append(case.world.newest_offer_of(case.actor))
    if (
        case.row.key in (("POST", "/need-help"), ("POST", "/offers/<offer_id>/ask"))
        and response.status_code in (302, 303)
        and not to_login(response)
    ):
        token = urlsplit(response.headers["Location"]).path.rsplit("/", 1)[-1]
        from connect.requests.queries import find_by_manage_token

        with case.world.app.app_context():
            found = find_by_manage_token(token)
            if found is not None:
                case.created.append(found.id)


# -- checking one case -------------------------------------------------------------------


def describe(response):
    return (
        f"{response.status_code} {response.headers.get('Location', '')}\n"
        f"{response.get_data(as_text=True)[:1500]}"
    )


def is_redirect(response):
    return response.status_code in (301, 302, 303, 307, 308)


def to_login(response):
    return is_redirect(response) and urlsplit(response.headers["Location"]).path == "/login"


def check_outcome(case, response):
    expected, row = case.row.expect[case.actor.name], case.row
    what = (
        f"{row.method} {row.route} as {case.actor.name}: expected {expected}, got "
        f"{describe(response)}"
    )
    status = response.status_code
    if expected in ("ok", "priv", "place"):
        if row.is_api:
            assert 200 <= status < 300, what
        else:
            assert status == 200 or (is_redirect(response) and not to_login(response)), what
    elif expected == "login":
        assert to_login(response), what
    elif expected == "back":
        assert is_redirect(response) and not to_login(response), what
    else:
        assert status == int(expected), what
        if row.is_api:
            error = (response.get_json(silent=True) or {}).get("error", {})
            assert error.get("code") and error.get("message"), what
        else:
            assert response.mimetype == "text/html", what
    if case.target is None:
        return
    body = response.get_data(as_text=True)
    parsed = response.get_json(silent=True) if response.is_json else None
    if expected == "priv":
        missing = shows_everything(body, case.target.person, parsed)
        assert not missing, f"{what}\nmissing: {missing}"
        lat, lon = case.target.person.point
        if row.is_api and response.headers.get("Content-Disposition", "").startswith("attachment"):
            assert repr(lat) in body and repr(lon) in body, what  # a file holds the point
        elif row.is_api:
            assert parsed["exact_location"] == {"lat": lat, "lon": lon}, what
    elif expected == "place":
        leaks = find_leaks(body, [case.target.person], parsed)
        places = [leak for leak in leaks if leak[1].startswith("exact coordinate")]
        assert places, f"{what}\nthe exact point is not shown"
        assert len(places) == len(leaks), f"{what}\nleaks: {leaks}"
    else:
        leaks = find_leaks(body, [case.target.person], parsed)
        assert not leaks, f"{what}\nleaks: {leaks}"


@pytest.mark.parametrize("row, actor_name", cases())
def test_matrix(world, row, actor_name):
    """One cell of MATRIX: this actor on this route gets the expected outcome, no more."""
    actor = world.actors[actor_name]
    target = None
    if row.on != "-":
        target = world.new_target(row.on) if row.fresh else world.shared[row.on]
    case = Case(world, row, actor, target)
    before = world.state_of(target) if target else None
    try:
        response = call(case)
        remember_created(case, response)
        check_outcome(case, response)
        if target is not None:
            after = world.state_of(target)
            if row.expect[actor_name] in REFUSALS:
                assert after == before, f"a refused call changed the request: {before} -> {after}"
            elif row.fresh:
                assert after != before, f"an allowed call changed nothing: {describe(response)}"
    finally:
        for request_id in case.created:
            world.tidy(request_id)
        for offer_id in case.created_offers:
            world.close_offer(offer_id)
        if row.fresh:
            world.tidy_target(target)
        if row.key in (("PUT", f"{API}/volunteers/me"), ("POST", "/volunteer/profile")):
            world.drop_profile(actor)


# -- the table covers the app, and says how big it is ------------------------------------


def test_every_route_is_in_the_matrix(world):
    """A route in the app without a row fails here: add its row (and its call if needed)."""
    routes = routes_of(world.app)
    missing = sorted(set(routes) - set(MATRIX))
    assert not missing, "routes without a row in MATRIX: " + ", ".join(
        f"{method} {route} ({routes[(method, route)]})" for method, route in missing
    )
    stale = sorted(set(MATRIX) - set(routes) - UPCOMING)
    assert not stale, f"rows in MATRIX for routes the app does not have: {stale}"
    spec = world.api_client.get(f"{API}/openapi.json").get_json()
    documented = {
        (method.upper(), re.sub(r"\{([^}]+)\}", r"<\1>", path))
        for path, item in spec["paths"].items()
        for method in item
        if method in ("get", "post", "put", "patch", "delete")
    }
    assert documented <= set(MATRIX), sorted(documented - set(MATRIX))


def test_matrix_size():
    """The size of the matrix: routes (API operations and page routes) × actors."""
    present = [row for row in MATRIX.values() if row.key in app_routes()]
    api = sum(row.is_api for row in present)
    size = len(present) * len(ACTORS)
    print(
        f"\nauthorization matrix: {len(present)} routes ({api} API operations, "
        f"{len(present) - api} page routes) × {len(ACTORS)} actors = {size} cases"
        + (
            f"; {len(MATRIX) - len(present)} rows await their routes"
            if len(present) < len(MATRIX)
            else ""
        )
    )
    assert size == len(cases())


# -- existence: a refusal must not tell what exists ----------------------------------------


def _without_csrf(body):
    return re.sub(r'(name="csrf_token"[^>]*value=")[^"]*|(data-csrf=")[^"]*', r"\1\2", body)


@pytest.mark.parametrize("actor_name", ["anon", "resident", "coord", "admin"])
def test_a_wrong_manage_link_looks_like_a_missing_one(world, actor_name):
    """Near misses of a real manage token (one character off, cut short, longer, another
    case) answer exactly like a random token, on every /m/ route and method."""
    actor = world.actors[actor_name]
    wrong = [secrets.token_urlsafe(32), "x", *_near_misses(world.shared["claimed"].token)]
    routes = [key for key in MATRIX if key[1].startswith("/m/<token>") and key in app_routes()]
    assert routes
    for method, route in routes:
        answers = set()
        for token in wrong:
            client = world.client_for(actor)
            response = client.open(route.replace("<token>", token), method=method)
            answers.add((response.status_code, _without_csrf(response.get_data(as_text=True))))
        assert len(answers) == 1, (method, route, [a[0] for a in answers])
        assert answers.pop()[0] == 404


def _near_misses(token):
    flipped = token[:-1] + ("A" if token[-1] != "A" else "B")
    return [flipped, token[:-4], token + "x", token.swapcase()]


@pytest.mark.parametrize(
    "method, suffix, body",
    [
        ("GET", "", None),
        ("PATCH", "", {"household_size": 5}),
        ("POST", "/confirm", None),
        ("POST", "/cancel", None),
        ("GET", "/reveals", None),
        ("POST", "/manage-token", None),
    ],
)
def test_a_wrong_manage_token_in_the_api_answers_like_any_wrong_token(world, method, suffix, body):
    """X-Manage-Token one character off (or cut, or longer) answers exactly as a random
    one; where no token is needed (GET), exactly as no token."""
    target = world.shared["claimed"]
    if (method, f"{API}/requests/<request_id>{suffix}") not in app_routes():
        pytest.fail(f"{method} {suffix} is gone: update this test")
    path = f"{API}/requests/{target.id}{suffix}"
    before = world.snapshot(target.id)

    def answer(headers):
        response = world.api_client.open(path, method=method, json=body, headers=headers)
        return response.status_code, response.get_json()

    random_answer = answer({"X-Manage-Token": secrets.token_urlsafe(32)})
    assert 400 <= random_answer[0] < 500 or method == "GET", random_answer
    for token in _near_misses(target.token):
        assert answer({"X-Manage-Token": token}) == random_answer, token
    if method == "GET" and not suffix:
        assert answer({}) == random_answer
    assert world.snapshot(target.id) == before


# Routes whose objects are private: someone not allowed must get the same answer for an
# object that exists and for one that does not.
PRIVATE_OBJECTS = {
    ("POST", f"{API}/moderation/flags/<flag_id>/resolve"): "flag_id",
    ("POST", "/console/flags/<flag_id>/resolve"): "flag_id",
    ("POST", f"{API}/moderation/blocked-phones/<block_id>/lift"): "block_id",
    ("POST", "/console/blocked-phones/<block_id>/lift"): "block_id",
}


@pytest.mark.parametrize("actor_name", [a for a in ACTORS if a not in ("coord", "admin")])
def test_private_objects_are_refused_alike_whether_they_exist_or_not(world, actor_name):
    actor = world.actors[actor_name]
    for key, name in PRIVATE_OBJECTS.items():
        if key not in app_routes():
            continue
        method, route = key
        target = world.shared["flagged" if name == "flag_id" else "blocked"]
        answers = {}
        for label, value in (("existing", getattr(target, name)), ("unknown", 2_000_000_000)):
            headers = dict(actor.headers)
            response = world.client_for(actor).open(
                route.replace(f"<{name}>", str(value)),
                method=method,
                headers=headers,
                **ARGUMENTS.get(key, lambda case: {})(None),
            )
            error = (response.get_json(silent=True) or {}).get("error", {})
            answers[label] = (response.status_code, error.get("code"))
        assert answers["existing"] == answers["unknown"], (route, actor_name, answers)


def test_the_moderation_queue_of_a_coordinator_holds_their_areas_only(world):
    """The flagged request (area 24) is in the queue of area 24's coordinator and the
    admin's, not in that of 24-220's coordinator, who is still allowed the (empty) queue."""
    flagged = world.shared["flagged"]

    def queue_ids(actor_name):
        response = world.api_client.get(
            f"{API}/moderation/queue",
            query_string={"per_page": 100},
            headers=world.actors[actor_name].headers,
        )
        assert response.status_code == 200, response.get_json()
        return {item["request"]["id"] for item in response.get_json()["items"]}

    assert flagged.id in queue_ids("coord")
    assert flagged.id in queue_ids("admin")
    assert flagged.id not in queue_ids("coord2")


def test_the_inbox_rows_check_a_request_pushed_to_the_callers(world):
    """GET /api/v1/notifications "on open" checks something: the shared open request was
    pushed to the claimant's and the volunteer's inboxes (its personal data is not there)."""
    target = world.shared["open"]
    for name in ("claimant", "volunteer"):
        response = world.api_client.get(
            f"{API}/notifications", query_string={"limit": 100}, headers=world.actors[name].headers
        )
        assert response.status_code == 200, response.get_json()
        assert target.id in {item["request_id"] for item in response.get_json()["items"]}, name
