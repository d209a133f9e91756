"""The leak scan (issue 4): every public response of a seeded database, and not one hit.

A database is seeded once per backend with requests in every state (open, claimed, a lapsed
claim, released, helped, confirmed, cancelled, expired (persisted and not yet), hidden,
reported, flagged as a possible duplicate, edited), each with its own distinctive name,
phone, address and exact point. Then, as an anonymous visitor, a volunteer holding none of
them, a coordinator of another area (24-220, which holds none of them) and a requester
holding the manage link of one of them:

- every API operation in the OpenAPI document is called, on every seeded request where it
  takes one (GETs, and the POSTs these callers can make: claim where the request is not
  open, release, helped, confirm, cancel, edit, report, hide, restore, new manage link,
  resolve a flag, ...);
- every page route is fetched (GET) or posted (POST) with every seeded request, and every
  same-origin link, form action and data- URL found in the HTML is followed, with redirects;

and every response must hold no phone (any format), contact name, address or exact
coordinate (4+ decimals, lat or lon, text, JSON number, data- attribute or URL) of any
request the caller may not see (leak_check.py). Afterwards nothing the crawl did may have
changed who holds what. Pages with a manage token in their URL must not send it on: no
link to another origin carries a token, and those pages send Referrer-Policy: no-referrer.

Offers of help are seeded too (open, closed, hidden), by an account none of the callers is,
in a region of their own (OFFER_SPREAD); their offerer's name, phone, address and exact point
are secrets like a requester's.

tests/integration/test_privacy.py keeps the finer promises (blur distance, rounding, who
sees what after each transition); this file is the broad sweep.
"""

import itertools
import math
import random
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from datetime import timedelta
from urllib.parse import urljoin, urlsplit

import pytest
from sqlalchemy import select, update

from connect.geo.blur import blur_candidates

from conftest import BACKENDS, ensure_demo_areas, make_app, new_phone
from leak_check import Detector, Personal, find_leaks, separation_problems

API = "/api/v1"
PASSWORD = "mat-khau-quet"
PER_STATE = 2
STATES = (
    "open",
    "claimed",
    "lapsed",
    "released",
    "helped",
    "confirmed",
    "cancelled",
    "expired",
    "expired_unsaved",
    "hidden",
    "reported",
    "flagged",
    "edited",
)
# Spread over province 24 within 20 km of the volunteer, outside district 24-220 (whose
# coordinator is one of the callers: none of these requests is theirs).
SPREAD = ((21.16, 21.44), (105.96, 106.25))
VOLUNTEER_AT = (21.2731, 106.1946)  # the Bắc Giang place: already a public number
# The phone of the request each crawl posts (the second crawl's answer is a duplicate 409);
# its public point depends on it, so it is fixed (World.choose_crawl_post).
CRAWL_PHONE = "+84970000001"
INFRASTRUCTURE = {"static", "healthz", "readyz", "metrics"}
CALLERS = ("anonymous", "volunteer", "coordinator_elsewhere", "link_holder")
# Offers live north-east of the requests (other lat and lon values), in province 24 but not
# in district 24-220; the crawl's own offer far away from everything.
OFFER_SPREAD = ((21.47, 21.58), (106.28, 106.40))
OFFER_STATES = ("open", "closed", "hidden")
CRAWL_OFFER_AT = (20.0, 105.0)


@dataclass
class Seeded:
    person: Personal
    state: str
    flag_id: int | None = None
    offer_id: int | None = None  # for a seeded offer of help

    @property
    def id(self):
        return self.person.request_id


@dataclass
class Caller:
    name: str
    headers: dict = field(default_factory=dict)
    cookie: str | None = None
    phone: str | None = None
    manage: Seeded | None = None  # the one request whose link this caller holds


class Crawl:
    """One caller's sweep: the responses, what was reached, what was found."""

    def __init__(self, world, caller):
        self.world, self.caller = world, caller
        self.client = world.app.test_client()
        if caller.cookie:
            self.client.set_cookie(world.app.config["SESSION_COOKIE_NAME"], caller.cookie)
        own = caller.manage.id if caller.manage else None
        self.secrets = [s.person for s in world.seeded if s.id != own] + [
            o.person for o in world.offers
        ]
        self.reached = set()  # (method, endpoint)
        self.seen_pages = set()
        self.problems = []
        self.responses = 0

    # -- calling and checking -----------------------------------------------------------

    def api(self, method, path, **kwargs):
        headers = {**self.caller.headers, **kwargs.pop("headers", {})}
        if self.caller.manage is not None:
            headers.setdefault("X-Manage-Token", self.caller.manage.person.manage_token)
        response = self.client.open(path, method=method, headers=headers, **kwargs)
        self.check(method, path, response)
        return response

    def page(self, method, path, data=None, follow=True):
        if method == "POST":
            data = {**(data or {}), "csrf_token": self.csrf()}
        response = self.client.open(path, method=method, data=data)
        self.check(method, path, response)
        if follow and response.status_code in (301, 302, 303):
            location = response.headers["Location"]
            if same_origin(location):
                self.visit(relative(location))
        return response

    def check(self, method, path, response):
        self.responses += 1
        label = f"{self.caller.name}: {method} {path} -> {response.status_code}"
        self.reached.add((method, self.world.endpoint(method, path)))
        if response.status_code >= 500:
            self.problems.append(f"{label}: server error")
        body = response.get_data(as_text=True)
        parsed = response.get_json(silent=True) if response.is_json else None
        for request_id, kind, evidence in find_leaks(body, self.secrets, parsed):
            self.problems.append(f"{label}: {kind} of request {request_id}: {evidence!r}")
        self.check_referrer(path, response, body)

    def check_referrer(self, path, response, body):
        """A manage token never goes to another origin: not in a link to one, and pages
        whose URL holds a token tell the browser to send no referrer at all."""
        tokens = [s.person.manage_token for s in self.world.seeded]
        for url in external_urls(body):
            for token in tokens:
                if token in url:
                    self.problems.append(
                        f"{path}: a manage token in a link to another origin: {url}"
                    )
        if any(token in path for token in tokens) and response.mimetype == "text/html":
            policy = response.headers.get("Referrer-Policy", "")
            if policy not in ("no-referrer", "same-origin"):
                self.problems.append(
                    f"{path}: holds a manage token but sends Referrer-Policy {policy!r}"
                )
            if external_urls(body) and policy != "no-referrer":
                self.problems.append(f"{path}: links to another origin from a token page")
        if response.status_code in (301, 302, 303):
            location = response.headers.get("Location", "")
            if not same_origin(location) and any(token in location for token in tokens):
                self.problems.append(f"{path}: redirects a manage token to {location}")

    def csrf(self):
        """The CSRF token of this caller's session, read from a form as a browser would."""
        if getattr(self, "_csrf", None) is None:
            self._csrf = csrf_token_of(self.client)
        return self._csrf

    # -- pages: fetch, follow links ----------------------------------------------------------

    def visit(self, path):
        if path in self.seen_pages or not crawlable(path) or len(self.seen_pages) > 3000:
            return
        self.seen_pages.add(path)
        response = self.page("GET", path, follow=True)
        if response.mimetype == "text/html":
            for link in links(response.get_data(as_text=True)):
                if same_origin(link):
                    self.visit(relative(urljoin(path, link)))


# -- HTML helpers --------------------------------------------------------------------------

_URL_ATTRIBUTE = re.compile(
    r"""\s(?:href|src|action|srcset|poster|formaction|content|data-[\w-]+)\s*=\s*"""
    r"""(?:"([^"]*)"|'([^']*)')""",
    re.I,
)


_CSRF = re.compile(r'name="csrf_token"[^>]*?value="([^"]+)"')


def csrf_token_of(client):
    match = _CSRF.search(client.get("/need-help").get_data(as_text=True))
    assert match, "no CSRF token on /need-help"
    return match.group(1)


def links(body):
    import html

    found = []
    for match in _URL_ATTRIBUTE.finditer(body):
        value = html.unescape(match.group(1) if match.group(1) is not None else match.group(2))
        value = value.strip()
        if value.startswith(("/", "?", "http://", "https://")):
            found.append(value)
    return found


def external_urls(body):
    return [
        url
        for url in links(body) + re.findall(r"https?://[^\s\"'<>)]+", body)
        if not same_origin(url)
    ]


def same_origin(url):
    parts = urlsplit(url)
    if url.startswith("//"):
        return parts.netloc in ("localhost", "")
    return parts.scheme in ("", "http", "https") and parts.netloc in ("", "localhost")


def relative(url):
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def crawlable(path):
    # No static files (they hold no data), no logging out (it ends the caller's session),
    # no template URLs with placeholders.
    return (
        path.startswith("/")
        and not path.startswith(("/static/", "/logout"))
        and "{" not in path
        and "<" not in path
    )


# -- the seeded world -------------------------------------------------------------------


class World:
    def __init__(self, app):
        # Fixed phones: a public point depends on the phone, and the seed layout keeps every
        # public point clear of every exact coordinate only when it is the same each run.
        self.seed_phones = itertools.count(1)
        self.app = app
        self.client = app.test_client()
        self.rng = random.Random(4)
        self.seeded = []
        self.offers = []  # Seeded offers of help: person.request_id is -(10**6 + offer id)
        self.users = {}
        self.public_numbers = set()
        self.adapter = app.url_map.bind("localhost")

    def endpoint(self, method, path):
        try:
            return self.adapter.match(urlsplit(path).path, method=method)[0]
        except Exception:  # 404 or 405: no route
            return None

    # -- accounts -----------------------------------------------------------------------

    def account(self, name, role=None, areas=()):
        phone = new_phone()
        if role is None:
            response = self.client.post(
                f"{API}/auth/register",
                json={"phone": phone, "password": PASSWORD, "name": f"Người {name}"},
            )
            assert response.status_code == 201, response.get_json()
        else:
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
        token = self.client.post(f"{API}/auth/token", json={"phone": phone, "password": PASSWORD})
        assert token.status_code == 200, token.get_json()
        self.users[name] = {
            "phone": phone,
            "headers": {"Authorization": f"Bearer {token.get_json()['token']}"},
        }
        return self.users[name]

    def volunteer(self, name):
        user = self.account(name)
        response = self.client.put(
            f"{API}/volunteers/me",
            headers=user["headers"],
            json={
                "location": {"lat": VOLUNTEER_AT[0], "lon": VOLUNTEER_AT[1]},
                "radius_m": 20_000,
                "categories": ["food", "supplies", "medicine", "medical_advice", "other"],
                "on_duty": True,
                "capacity": 5,
            },
        )
        assert response.status_code == 200, response.get_json()
        return user

    def session_cookie(self, phone):
        client = self.app.test_client()
        response = client.post(
            "/login",
            data={
                "phone": phone,
                "password": PASSWORD,
                "next": "",
                "csrf_token": csrf_token_of(client),
            },
        )
        assert response.status_code == 302, response.get_data(as_text=True)[:500]
        return client.get_cookie(self.app.config["SESSION_COOKIE_NAME"]).value

    # -- requests -----------------------------------------------------------------------

    def random_point(self):
        (lat0, lat1), (lon0, lon1) = SPREAD
        return (round(self.rng.uniform(lat0, lat1), 7), round(self.rng.uniform(lon0, lon1), 7))

    def person_data(self, number):
        words = [
            "".join(self.rng.choice("bcdfghjkmnpqrstvwxz") for _ in range(6)) for _ in range(2)
        ]
        name_tag, address_tag = "Z" + words[0], "Z" + words[1]
        return {
            "contact_name": f"Đỗ Thị Hường {name_tag}",
            "phone": f"+8498{next(self.seed_phones):07d}",
            "address": f"Số {number} hẻm {address_tag}, phường Lê Lợi",
            "markers": {"name": name_tag, "address": address_tag},
        }

    def post(self, state, at=None, owner=None):
        data = self.person_data(len(self.seeded) + 1)
        lat, lon = at or self.random_point()
        headers = self.users["owner"]["headers"] if owner else {}
        response = self.client.post(
            f"{API}/requests",
            headers=headers,
            json={
                "categories": ["food", "medicine"],
                "description": "Cần thuốc hạ sốt và gạo",
                "household_size": 5,
                "urgency": "urgent",
                "location": {"lat": lat, "lon": lon},
                "contact_name": data["contact_name"],
                "phone": data["phone"],
                "address": data["address"],
            },
        )
        assert response.status_code == 201, response.get_json()
        body = response.get_json()
        seeded = Seeded(
            Personal(
                body["id"],
                data["contact_name"],
                data["phone"],
                data["address"],
                (lat, lon),
                data["markers"],
                body["manage_token"],
            ),
            state,
        )
        self.seeded.append(seeded)
        return seeded

    def as_owner(self, seeded):
        return {"X-Manage-Token": seeded.person.manage_token}

    def move(self, seeded):
        """A new exact point (the old one was too near some public number)."""
        lat, lon = self.random_point()
        response = self.client.patch(
            f"{API}/requests/{seeded.id}",
            headers=self.as_owner(seeded),
            json={"location": {"lat": lat, "lon": lon}},
        )
        assert response.status_code == 200, response.get_json()
        seeded.person.point = (lat, lon)

    def public_points(self):
        from connect.extensions import db
        from connect.requests.models import HelpRequest
        from connect.spatial import latlon

        with self.app.app_context():
            return {
                r.id: latlon(r.public_location)
                for r in db.session.execute(select(HelpRequest)).scalars()
            }

    def separate(self):
        """Move requests until no exact coordinate is near any number pages print."""
        for _ in range(30):
            publics = set(self.public_numbers)
            for point in self.public_points().values():
                publics.update(point)
            # An edited-away old point (negative id) is history: it cannot move.
            movers = {
                s.id: s
                for s in self.seeded
                for value in s.person.point
                if s.id > 0 and separation_problems([value], publics)
            }
            if not movers:
                return
            for seeded in movers.values():
                self.move(seeded)
        raise AssertionError("could not keep exact points clear of public ones")

    def choose_crawl_post(self):
        """A place for the crawl's own post whose public point is clear of every exact one."""
        exact = [value for s in self.seeded for value in s.person.point]
        key = self.app.config["BLUR_SECRET"].encode()
        for step in range(100):
            at = (VOLUNTEER_AT[0] + 0.0007 * step, VOLUNTEER_AT[1])
            numbers = {
                v
                for point in blur_candidates(*at, key, count=4, household=CRAWL_PHONE.encode())
                for v in point
            } | set(at)
            if not separation_problems(exact, numbers):
                self.crawl_at = at
                self.public_numbers |= numbers
                return
        raise AssertionError("no place for the crawl's post is clear of the exact points")

    def sql(self, request_id, **values):
        from connect.changes import change_stamp
        from connect.extensions import db
        from connect.requests.models import HelpRequest

        with self.app.app_context():
            db.session.execute(
                update(HelpRequest)
                .where(HelpRequest.id == request_id)
                .values(change_seq=change_stamp(db.session, HelpRequest.change_seq), **values)
            )
            db.session.commit()

    def act(self, method, path, headers, expect=200, **kwargs):
        response = self.client.open(path, method=method, headers=headers, **kwargs)
        assert response.status_code == expect, (path, response.get_json())
        return response

    def seed(self):
        from connect import clock

        config = self.app.config
        self.public_numbers |= {v for _name, lat, lon in config["PLACES"] for v in (lat, lon)}
        self.public_numbers |= set(config["MAP_CENTER"]) | set(VOLUNTEER_AT)
        ensure_demo_areas(self.app)
        self.account("owner")
        helpers = [self.volunteer(f"claimant {i}") for i in range(3)]
        self.volunteer("scanner")
        self.account("reporter 1")
        self.account("reporter 2")
        self.account("coordinator", "coordinator", ("24",))
        self.account("coordinator elsewhere", "coordinator", ("24-220",))
        for state in STATES:
            for i in range(PER_STATE):
                self.post(state, owner=i % 2 == 0)
        for seeded in [s for s in self.seeded if s.state == "flagged"]:
            lat, lon = seeded.person.point
            twin = self.post("flagged", at=(round(lat + 0.00031, 7), round(lon + 0.00017, 7)))
            self.flag(twin)
        for seeded in [s for s in self.seeded if s.state == "edited"]:
            data = self.person_data(seeded.id + 100)
            self.act(
                "PATCH",
                f"{API}/requests/{seeded.id}",
                self.as_owner(seeded),
                json={
                    "contact_name": data["contact_name"],
                    "phone": data["phone"],
                    "address": data["address"],
                },
            )
            old = seeded.person
            seeded.person = Personal(
                old.request_id,
                data["contact_name"],
                data["phone"],
                data["address"],
                old.point,
                data["markers"],
                old.manage_token,
            )
            # The old details must not show anywhere either.
            self.seeded.append(
                Seeded(
                    Personal(
                        -old.request_id,
                        old.contact_name,
                        old.phone,
                        old.address,
                        old.point,
                        old.markers,
                        old.manage_token,
                    ),
                    "edited (old)",
                )
            )
        self.separate()
        self.choose_crawl_post()
        self.seed_offers()
        # Now the states. Each claimant helps once first: proven, they may hold more.
        by_state = {}
        for seeded in self.seeded:
            by_state.setdefault(seeded.state, []).append(seeded)
        turn = iter(range(10_000))

        def helper():
            return helpers[next(turn) % len(helpers)]["headers"]

        for seeded in by_state["helped"] + by_state["confirmed"]:
            volunteer = helper()
            self.act("POST", f"{API}/requests/{seeded.id}/claim", volunteer)
            self.act("POST", f"{API}/requests/{seeded.id}/helped", volunteer)
            if seeded.state == "confirmed":
                self.act("POST", f"{API}/requests/{seeded.id}/confirm", self.as_owner(seeded))
        for seeded in (
            by_state["claimed"] + by_state["lapsed"] + by_state["released"] + by_state["edited"]
        ):
            volunteer = helper()
            self.act("POST", f"{API}/requests/{seeded.id}/claim", volunteer)
            if seeded.state == "released":
                self.act("POST", f"{API}/requests/{seeded.id}/release", volunteer)
        for seeded in by_state["lapsed"]:
            self.sql(seeded.id, lease_expires_at=clock.now() - timedelta(minutes=5))
        for seeded in by_state["cancelled"]:
            self.act("POST", f"{API}/requests/{seeded.id}/cancel", self.as_owner(seeded))
        for seeded in by_state["hidden"]:
            self.act(
                "POST",
                f"{API}/requests/{seeded.id}/hide",
                self.users["coordinator"]["headers"],
                json={"reason": "quảng cáo"},
            )
        for seeded in by_state["reported"]:
            for name in ("reporter 1", "reporter 2"):
                self.act(
                    "POST",
                    f"{API}/requests/{seeded.id}/report",
                    self.users[name]["headers"],
                    expect=201,
                    json={"reason": "false", "comment": "Không đúng sự thật"},
                )
        for seeded in by_state["expired"]:
            self.sql(seeded.id, expires_at=clock.now() - timedelta(hours=1))
        result = self.app.test_cli_runner().invoke(args=["connect", "expire"])
        assert result.exit_code == 0, result.output
        for seeded in by_state["expired_unsaved"]:
            self.sql(seeded.id, expires_at=clock.now() - timedelta(hours=1))
        # Where the scan starts from: who holds what.
        self.states = self.holdings()

    def seed_offers(self):
        """Offers by the "offerer" account, each moved until its exact point is clear of
        every public number and its public point clear of every exact one."""
        from connect.extensions import db
        from connect.offers.models import Offer
        from connect.offers.services import hide_offer
        from connect.spatial import latlon

        offerer = self.account("offerer")["headers"]
        rng = random.Random(7)
        (lat0, lat1), (lon0, lon1) = OFFER_SPREAD
        for state in OFFER_STATES:
            data = self.person_data(900 + len(self.offers))
            for _ in range(30):
                at = (round(rng.uniform(lat0, lat1), 7), round(rng.uniform(lon0, lon1), 7))
                body = self.act(
                    "POST",
                    f"{API}/offers",
                    offerer,
                    expect=201,
                    json={
                        "kind": "group",
                        "title": "Nhóm nấu cơm",
                        "description": "Cơm hộp trưa",
                        "categories": ["food"],
                        "quantity": "30 suất",
                        "location": {"lat": at[0], "lon": at[1]},
                        "contact_name": data["contact_name"],
                        "phone": data["phone"],
                        "address": data["address"],
                    },
                ).get_json()
                with self.app.app_context():
                    public = latlon(db.session.get(Offer, body["id"]).public_location)
                exact = [v for o in self.offers for v in o.person.point] + list(at)
                publics = (
                    set(self.public_numbers)
                    | set(public)
                    | {v for point in self.public_points().values() for v in point}
                )
                if not separation_problems(list(at), publics) and not separation_problems(
                    exact, set(public)
                ):
                    break
                self.act("POST", f"{API}/offers/{body['id']}/close", offerer)
            else:
                raise AssertionError("no place for an offer is clear of the public numbers")
            self.public_numbers |= set(public)
            self.offers.append(
                Seeded(
                    Personal(
                        -(10**6 + body["id"]),
                        data["contact_name"],
                        data["phone"],
                        data["address"],
                        at,
                        data["markers"],
                    ),
                    state,
                    offer_id=body["id"],
                )
            )
            if state == "closed":
                self.act("POST", f"{API}/offers/{body['id']}/close", offerer)
            if state == "hidden":
                with self.app.app_context():
                    hide_offer(body["id"])
                    db.session.commit()

    def flag(self, seeded):
        from connect.extensions import db
        from connect.safety.models import RequestFlag

        with self.app.app_context():
            seeded.flag_id = db.session.execute(
                select(RequestFlag.id).where(RequestFlag.request_id == seeded.id)
            ).scalar()
        assert seeded.flag_id, "a look-alike from another phone made no flag"

    def holdings(self):
        from connect.extensions import db
        from connect.requests.models import HelpRequest

        with self.app.app_context():
            return {
                r.id: (r.status, r.claimed_by_id, r.household_size, r.phone, r.manage_token_hash)
                for r in db.session.execute(select(HelpRequest)).scalars()
                if r.id in {s.id for s in self.seeded}
            }

    def short_link(self, request_id):
        """The code of the short link texted to a request's phone when it was posted (None:
        no text, as for an offer)."""
        from sqlalchemy import select

        from connect.extensions import db
        from connect.sms.models import SmsMessage

        with self.app.app_context():
            body = db.session.execute(
                select(SmsMessage.body).where(
                    SmsMessage.request_id == request_id, SmsMessage.kind == "posted"
                )
            ).scalar_one_or_none()
        return body.rsplit("/s/", 1)[1] if body else None

    def caller(self, name):
        if name == "anonymous":
            return Caller(name)
        if name == "link_holder":
            mine = next(s for s in self.seeded if s.state == "claimed")
            return Caller(name, manage=mine)
        user = self.users[
            {"volunteer": "scanner", "coordinator_elsewhere": "coordinator elsewhere"}[name]
        ]
        return Caller(
            name, dict(user["headers"]), self.session_cookie(user["phone"]), user["phone"]
        )


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
        folder = tempfile.mkdtemp(prefix="leak-scan-")
        shutil.copyfile(request.getfixturevalue("sqlite_template"), f"{folder}/connect.db")
        url = f"sqlite:///{folder}/connect.db"
    else:
        from conftest import _clone_postgis

        url = _clone_postgis(
            request.getfixturevalue("pg_cluster"), request.getfixturevalue("postgis_template")
        )
    # CSRF stays on, as in production: page POSTs carry the token a browser would. Reports
    # never hide here, so the sweep's own reports change no state.
    app = make_app(url, BLUR_SECRET="leak-scan", REPORT_HIDE_THRESHOLD=10_000)
    try:
        built = World(app)
        built.seed()
        yield built
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
        patch.undo()
        if folder:
            shutil.rmtree(folder, ignore_errors=True)


# -- the API sweep: every operation in the OpenAPI document --------------------------------


def _bbox(point, half):
    lat, lon = point
    return f"{lon - half},{lat - half},{lon + half},{lat + half}"


def _nearby(crawl, world):
    for radius, limit in ((50_000, 200), (20_000, 50)):
        crawl.api(
            "GET",
            f"{API}/requests/nearby",
            query_string={
                "lat": VOLUNTEER_AT[0],
                "lon": VOLUNTEER_AT[1],
                "radius_m": radius,
                "limit": limit,
                "categories": "food,medicine,supplies,medical_advice,other",
            },
        )
    for seeded in world.seeded:  # centred on each exact point, the smallest radius too
        for radius in (1, 400):
            lat, lon = seeded.person.point
            crawl.api(
                "GET",
                f"{API}/requests/nearby",
                query_string={"lat": lat, "lon": lon, "radius_m": radius},
            )


def _map(crawl, world):
    (lat0, lat1), (lon0, lon1) = SPREAD
    crawl.api(
        "GET",
        f"{API}/requests/map",
        query_string={"bbox": f"{lon0},{lat0},{lon1},{lat1}", "limit": 2000},
    )
    for seeded in world.seeded:
        crawl.api(
            "GET", f"{API}/requests/map", query_string={"bbox": _bbox(seeded.person.point, 0.004)}
        )


def _each_request(method, suffix="", **kwargs):
    def sweep(crawl, world):
        own = crawl.caller.manage.id if crawl.caller.manage else None
        for seeded in world.seeded:
            # The link holder may change their own request: only look at that one.
            if seeded.id > 0 and (method == "GET" or seeded.id != own):
                crawl.api(method, f"{API}/requests/{seeded.id}{suffix}", **kwargs)

    return sweep


def _claims(crawl, world):
    """Claiming an open request would make the volunteer its claimant: not those."""
    from connect.requests.queries import effective_status, get_request

    with world.app.app_context():
        open_ids = {
            s.id
            for s in world.seeded
            if s.id > 0 and effective_status(get_request(s.id)) == "open"
        }
    for seeded in world.seeded:
        if seeded.id > 0 and not (crawl.caller.name == "volunteer" and seeded.id in open_ids):
            crawl.api("POST", f"{API}/requests/{seeded.id}/claim")


def _flags(crawl, world):
    for seeded in world.seeded:
        if seeded.flag_id:
            crawl.api("POST", f"{API}/moderation/flags/{seeded.flag_id}/resolve", json={})


def _assignments(action):
    """Preview or apply in the province, a district holding seeded requests and the one that
    holds none (where the coordinator elsewhere may act: every seeded pair is not_in_area)."""

    def sweep(crawl, world):
        scanner = world.client.get(
            f"{API}/auth/me", headers=world.users["scanner"]["headers"]
        ).get_json()["id"]
        body = (
            {}
            if action == "preview"
            else {
                "pairs": [
                    {"request_id": s.id, "volunteer_id": scanner} for s in world.seeded if s.id > 0
                ]
            }
        )
        for code in ("24", "24-213", "24-220"):
            crawl.api("POST", f"{API}/areas/{code}/assignments/{action}", json=body)

    return sweep


def _each_offer(method, suffix="", **kwargs):
    def sweep(crawl, world):
        for offer in world.offers:
            crawl.api(method, f"{API}/offers/{offer.offer_id}{suffix}", **kwargs)

    return sweep


def _offers_nearby(crawl, world):
    crawl.api(
        "GET",
        f"{API}/offers/nearby",
        query_string={
            "lat": VOLUNTEER_AT[0],
            "lon": VOLUNTEER_AT[1],
            "radius_m": 50_000,
            "limit": 200,
        },
    )
    for seeded in world.offers + world.seeded:  # centred on each exact point too
        lat, lon = seeded.person.point
        for radius in (1, 400):
            crawl.api(
                "GET",
                f"{API}/offers/nearby",
                query_string={"lat": lat, "lon": lon, "radius_m": radius},
            )


def _offers_map(crawl, world):
    for (lat0, lat1), (lon0, lon1) in (SPREAD, OFFER_SPREAD):
        crawl.api(
            "GET",
            f"{API}/offers/map",
            query_string={"bbox": f"{lon0},{lat0},{lon1},{lat1}", "limit": 2000},
        )
    for offer in world.offers:
        crawl.api(
            "GET", f"{API}/offers/map", query_string={"bbox": _bbox(offer.person.point, 0.004)}
        )


def _asks(crawl, world):
    """Asking with a seeded requester's phone: the duplicate answer must not name it."""
    for offer in world.offers:
        for phone in (world.seeded[0].person.phone, CRAWL_PHONE):
            crawl.api(
                "POST",
                f"{API}/offers/{offer.offer_id}/ask",
                json={
                    "categories": ["food"],
                    "description": "Cần cơm",
                    "household_size": 2,
                    "location": {"lat": world.crawl_at[0], "lon": world.crawl_at[1]},
                    "contact_name": "Người Hỏi",
                    "phone": phone,
                },
            )


def _revoke(crawl, world):
    """Revoke a token of its own: the sweep goes on with the caller's usual one."""
    if crawl.caller.phone is None:
        crawl.api("DELETE", f"{API}/auth/token")
        return
    token = crawl.client.post(
        f"{API}/auth/token", json={"phone": crawl.caller.phone, "password": PASSWORD}
    ).get_json()
    crawl.api("DELETE", f"{API}/auth/token", headers={"Authorization": f"Bearer {token['token']}"})


def _own_phone(crawl):
    """A phone the caller may type and see again: their account's, else the crawl's post's."""
    return crawl.caller.phone or CRAWL_PHONE


def _password_resets(crawl, world):
    """A code asked for a seeded requester's phone (no account), a caller's, a new one."""
    for phone in (world.seeded[0].person.phone, _own_phone(crawl), new_phone()):
        crawl.api("POST", f"{API}/auth/password-reset", json={"phone": phone})


def _password_reset_confirms(crawl, world):
    """Wrong codes: the refusal names no one."""
    for phone in (world.seeded[0].person.phone, _own_phone(crawl)):
        crawl.api(
            "POST",
            f"{API}/auth/password-reset/confirm",
            json={"phone": phone, "code": "000000", "password": "mat-khau-quet-moi"},
        )


API_SWEEP = {
    ("get", "/api/v1/openapi.json"): lambda crawl, world: crawl.api("GET", f"{API}/openapi.json"),
    ("post", "/api/v1/auth/password-reset"): _password_resets,
    ("post", "/api/v1/auth/password-reset/confirm"): _password_reset_confirms,
    ("post", "/api/v1/auth/register"): lambda crawl, world: crawl.api(
        "POST",
        f"{API}/auth/register",
        json={"phone": new_phone(), "password": PASSWORD, "name": "Người Mới"},
    ),
    ("post", "/api/v1/auth/token"): lambda crawl, world: crawl.api(
        "POST",
        f"{API}/auth/token",
        json={"phone": world.seeded[0].person.phone, "password": PASSWORD},
    ),
    ("delete", "/api/v1/auth/token"): _revoke,
    ("get", "/api/v1/auth/me"): lambda crawl, world: crawl.api("GET", f"{API}/auth/me"),
    ("post", "/api/v1/requests"): lambda crawl, world: [
        crawl.api(
            "POST",
            f"{API}/requests",
            json={
                "categories": ["food"],
                "description": "Cần gạo",
                "household_size": 2,
                "location": {"lat": world.crawl_at[0], "lon": world.crawl_at[1]},
                "contact_name": "Người Gửi Mới",
                "phone": phone,
                "address": None,
            },
        )
        # Also a seeded phone: the duplicate answer must not name the other request.
        for phone in (CRAWL_PHONE, world.seeded[0].person.phone)
    ],
    ("get", "/api/v1/requests/nearby"): _nearby,
    ("get", "/api/v1/requests/map"): _map,
    ("get", "/api/v1/requests/{request_id}"): _each_request("GET"),
    ("patch", "/api/v1/requests/{request_id}"): _each_request("PATCH", json={"household_size": 9}),
    ("get", "/api/v1/requests/{request_id}/reveals"): _each_request("GET", "/reveals"),
    ("post", "/api/v1/requests/{request_id}/claim"): _claims,
    ("post", "/api/v1/requests/{request_id}/release"): _each_request("POST", "/release"),
    ("post", "/api/v1/requests/{request_id}/helped"): _each_request("POST", "/helped"),
    ("post", "/api/v1/requests/{request_id}/confirm"): _each_request("POST", "/confirm"),
    ("post", "/api/v1/requests/{request_id}/cancel"): _each_request("POST", "/cancel"),
    ("post", "/api/v1/requests/{request_id}/manage-token"): _each_request("POST", "/manage-token"),
    ("post", "/api/v1/requests/{request_id}/report"): _each_request(
        "POST", "/report", json={"reason": "scam", "comment": "Lừa đảo?"}
    ),
    ("post", "/api/v1/requests/{request_id}/hide"): _each_request(
        "POST", "/hide", json={"reason": "quét"}
    ),
    ("post", "/api/v1/requests/{request_id}/restore"): _each_request(
        "POST", "/restore", json={"reason": "quét"}
    ),
    ("get", "/api/v1/moderation/queue"): lambda crawl, world: [
        crawl.api("GET", f"{API}/moderation/queue", query_string={"page": page, "per_page": 100})
        for page in (1, 2)
    ],
    ("post", "/api/v1/moderation/flags/{flag_id}/resolve"): _flags,
    ("post", "/api/v1/areas/{code}/assignments/preview"): _assignments("preview"),
    ("post", "/api/v1/areas/{code}/assignments/apply"): _assignments("apply"),
    ("get", "/api/v1/volunteers/me"): lambda crawl, world: crawl.api(
        "GET", f"{API}/volunteers/me"
    ),
    ("put", "/api/v1/volunteers/me"): lambda crawl, world: (
        crawl.api(
            "PUT",
            f"{API}/volunteers/me",
            json={
                "location": {"lat": VOLUNTEER_AT[0], "lon": VOLUNTEER_AT[1]},
                "radius_m": 20_000,
                "categories": ["food", "supplies", "medicine", "medical_advice", "other"],
                "on_duty": True,
                "capacity": 5,
            },
        )
        if crawl.caller.name == "volunteer"
        else crawl.api("PUT", f"{API}/volunteers/me", json={})
    ),
    ("get", "/api/v1/stats"): lambda crawl, world: crawl.api("GET", f"{API}/stats"),
    # The caller's own inbox (the scanner volunteer's holds seeded requests pushed to it).
    ("get", "/api/v1/notifications"): lambda crawl, world: [
        crawl.api("GET", f"{API}/notifications", query_string=params)
        for params in ({}, {"after": 0, "limit": 100}, {"before": 2**31 - 1})
    ],
    ("post", "/api/v1/notifications/read"): lambda crawl, world: crawl.api(
        "POST", f"{API}/notifications/read", json={}
    ),
    ("post", "/api/v1/offers"): lambda crawl, world: crawl.api(
        "POST",
        f"{API}/offers",
        json={
            "title": "Đi chợ giúp",
            "description": "Mỗi sáng",
            "categories": ["food"],
            "location": {"lat": CRAWL_OFFER_AT[0], "lon": CRAWL_OFFER_AT[1]},
        },
    ),
    ("get", "/api/v1/offers/nearby"): _offers_nearby,
    ("get", "/api/v1/offers/map"): _offers_map,
    ("get", "/api/v1/offers/{offer_id}"): _each_offer("GET"),
    ("patch", "/api/v1/offers/{offer_id}"): _each_offer("PATCH", json={"quantity": "1 suất"}),
    ("post", "/api/v1/offers/{offer_id}/close"): _each_offer("POST", "/close"),
    ("post", "/api/v1/offers/{offer_id}/ask"): _asks,
    ("post", "/api/v1/offers/{offer_id}/report"): _each_offer(
        "POST", "/report", json={"reason": "scam", "comment": "Lừa đảo?"}
    ),
    # The coordinator console (files are streamed: read whole).
    **{
        ("get", f"/api/v1/console/exports/{name}"): (
            lambda name: (
                lambda crawl, world: [
                    crawl.api(
                        "GET", f"{API}/console/exports/{name}", query_string=params, buffered=True
                    )
                    for params in ({}, {"area": "24"}, {"area": "24-220"})
                ]
            )
        )(name)
        for name in ("requests.csv", "requests.geojson", "assists.csv", "assists.geojson")
    },
    **{
        ("get", f"/api/v1/stats/{name}"): (
            lambda name: (
                lambda crawl, world: crawl.api("GET", f"{API}/stats/{name}", buffered=True)
            )
        )(name)
        for name in ("areas.csv", "areas.geojson")
    },
    ("get", "/api/v1/console/map"): lambda crawl, world: [
        crawl.api(
            "GET",
            f"{API}/console/map",
            query_string={"bbox": "105.9,21.0,106.7,21.6", "zoom": zoom},
        )
        for zoom in (9, 16)
    ],
    ("get", "/api/v1/stats/console"): lambda crawl, world: [
        crawl.api("GET", f"{API}/stats/console", query_string=params)
        for params in ({}, {"area": "24"}, {"area": "24-220"})
    ],
    ("get", "/api/v1/requests/{request_id}/events"): _each_request("GET", "/events"),
    ("get", "/api/v1/requests/{request_id}/candidates"): _each_request(
        "GET", "/candidates", query_string={"limit": 50}
    ),
    ("post", "/api/v1/requests/{request_id}/assign"): _each_request(
        "POST", "/assign", json={"volunteer_id": 1}
    ),
    ("post", "/api/v1/console/requests"): lambda crawl, world: [
        crawl.api(
            "POST",
            f"{API}/console/requests",
            json={
                "categories": ["food"],
                "description": "Cần gạo",
                "household_size": 2,
                "location": {"lat": world.crawl_at[0], "lon": world.crawl_at[1]},
                "contact_name": "Người Gọi",
                "phone": phone,
                "confirm_duplicate": confirm,
            },
        )
        for phone, confirm in ((CRAWL_PHONE, False), (world.seeded[0].person.phone, True))
    ],
    ("post", "/api/v1/requests/{request_id}/block-phone"): _each_request(
        "POST", "/block-phone", json={"reason": "quét"}
    ),
    ("get", "/api/v1/moderation/blocked-phones"): lambda crawl, world: crawl.api(
        "GET", f"{API}/moderation/blocked-phones", query_string={"per_page": 100}
    ),
    ("post", "/api/v1/moderation/blocked-phones/{block_id}/lift"): lambda crawl, world: [
        crawl.api(
            "POST", f"{API}/moderation/blocked-phones/{block_id}/lift", json={"reason": "quét"}
        )
        for block_id in (1, 2, 3)
    ],
}


def sweep_api(crawl, world):
    spec = crawl.api("GET", f"{API}/openapi.json").get_json()
    listed = {
        (method, path)
        for path, item in spec["paths"].items()
        for method in item
        if method in ("get", "post", "put", "patch", "delete")
    }
    swept = set(API_SWEEP) - {("get", "/api/v1/openapi.json")}  # not in its own paths
    assert listed == swept, (
        "the API changed: teach the leak scan the new operations",
        listed ^ swept,
    )
    for key, sweep in API_SWEEP.items():
        if key != ("delete", "/api/v1/auth/token"):
            sweep(crawl, world)
    API_SWEEP[("delete", "/api/v1/auth/token")](crawl, world)


# -- the page sweep: every page route, then every link found ------------------------------


def sweep_pages(crawl, world):
    from connect.requests.queries import effective_status, get_request

    app = world.app
    ids = [s.id for s in world.seeded if s.id > 0]
    with app.app_context():
        open_ids = {i for i in ids if effective_status(get_request(i)) == "open"}
    tokens = ["Xq3kz9Yv-random-wrong-token-aaaaaaaaaaaaaaaa"]
    shorts = ["ZZZZZZZZZZZZ"]  # a texted link no one got
    if crawl.caller.manage is not None:
        tokens.append(crawl.caller.manage.person.manage_token)
        shorts.append(world.short_link(crawl.caller.manage.id))
    posts = []
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if rule.endpoint in INFRASTRUCTURE:
            continue
        paths = [rule.rule]
        if "request_id" in rule.arguments:
            paths = [re.sub(r"<[^>]*request_id>", str(i), rule.rule) for i in ids]
        if "token" in rule.arguments:
            paths = [rule.rule.replace("<token>", token) for token in tokens]
        if "short" in rule.arguments:
            paths = [rule.rule.replace("<short>", short) for short in shorts]
        if "offer_id" in rule.arguments:
            paths = [re.sub(r"<[^>]*offer_id>", str(o.offer_id), rule.rule) for o in world.offers]
        if "flag_id" in rule.arguments:
            paths = [
                re.sub(r"<[^>]*flag_id>", str(s.flag_id), rule.rule)
                for s in world.seeded
                if s.flag_id
            ]
        if "short" in rule.arguments:  # a texted link no caller was sent
            paths = [rule.rule.replace("<short>", "2" * 12)]
        if "block_id" in rule.arguments:
            paths = [re.sub(r"<[^>]*block_id>", str(n), rule.rule) for n in (1, 2, 3)]
        if "<" in "".join(paths) and not rule.rule.startswith(API):
            raise AssertionError(f"the leak scan does not know how to fill {rule.rule}")
        if rule.rule.startswith(API):
            continue  # the API sweep covers these
        for path in paths:
            if "GET" in rule.methods:
                crawl.visit(path)
            if "POST" in rule.methods:
                posts.append((rule.endpoint, path))
    for endpoint, path in posts:
        if endpoint == "account.logout":
            continue
        number = re.search(r"/(\d+)(?:/|$)", path)
        request_id = int(number.group(1)) if number else None
        if (
            endpoint == "volunteer.claim"
            and crawl.caller.name == "volunteer"
            and request_id in open_ids
        ):
            continue  # it would make them the claimant
        if crawl.caller.manage is not None and (
            crawl.caller.manage.person.manage_token in path
            or world.short_link(crawl.caller.manage.id) in path
        ):
            continue  # their own request: the owner may change it, and sees it all
        data = {"reason": "scam", "comment": ""} if endpoint.endswith("report_request") else {}
        # The code pages, filled in: a code texted, then a wrong one (a page shows the phone
        # typed, so the caller types their own).
        data = {
            "codes.password_reset": {"phone": _own_phone(crawl)},
            "codes.password_reset_code": {
                "phone": _own_phone(crawl),
                "code": "000000",
                "password": "mat-khau-quet-moi",
            },
            "codes.resend": {"phone": _own_phone(crawl)},
            "codes.resend_code": {"phone": _own_phone(crawl), "code": "000000"},
        }.get(endpoint, data)
        crawl.page("POST", path, data=data)
    # Last: log out (and see the page it leads to).
    crawl.page("POST", "/logout")


# -- the tests ----------------------------------------------------------------------------


@pytest.mark.parametrize("caller_name", CALLERS)
def test_no_public_response_holds_any_personal_data(world, caller_name):
    """The sweep: every API operation and page, every link, as this caller; not one hit."""
    caller = world.caller(caller_name)
    crawl = Crawl(world, caller)
    sweep_api(crawl, world)
    sweep_pages(crawl, world)
    assert not crawl.problems, (
        f"{len(crawl.problems)} problems in {crawl.responses} "
        "responses:\n" + "\n".join(crawl.problems[:40])
    )
    # Everything was reached: each API operation and each page route, each method.
    wanted = {
        (method, rule.endpoint)
        for rule in world.app.url_map.iter_rules()
        if rule.endpoint not in INFRASTRUCTURE
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }
    assert wanted <= crawl.reached, sorted(wanted - crawl.reached)
    # And nothing it did changed who holds what (its reports are counted, nothing more).
    assert world.holdings() == world.states
    assert crawl.responses > 500, crawl.responses


def test_the_seeded_database_has_every_state(world):
    """The sweep is only as good as its seed: every state is there, and the exact points
    stay clear of every number a page may print (so any match is a leak)."""
    from connect.requests.queries import effective_status, get_request

    with world.app.app_context():
        states = {effective_status(get_request(s.id)) for s in world.seeded if s.id > 0}
    assert states >= {
        "open",
        "claimed",
        "helped",
        "confirmed",
        "cancelled",
        "expired",
        "hidden",
    }, states
    assert any(s.flag_id for s in world.seeded)
    publics = set(world.public_numbers)
    for point in world.public_points().values():
        publics.update(point)
    exact = [v for s in world.seeded for v in s.person.point]
    assert not separation_problems(exact, publics)
    assert len({s.person.phone for s in world.seeded}) == len(world.seeded)


def test_the_scan_catches_a_planted_leak(world):
    """The checker itself, on this world: each kind of leak, in the forms pages use."""
    seeded = next(s for s in world.seeded if s.state == "claimed")
    person = seeded.person
    lat, lon = person.point
    local = "0" + person.phone[3:]
    plants = [
        person.phone,
        local,
        f"{local[:4]} {local[4:7]} {local[7:]}",
        f"{local[:4]}.{local[4:7]}.{local[7:]}",
        f"+84 {person.phone[3:5]} {person.phone[5:]}",
        f'<a href="tel:{person.phone}">x</a>',
        person.contact_name,
        person.address,
        person.markers["name"],
        person.markers["address"],
        f'<div data-lat="{lat:.5f}" data-lon="{lon:.4f}">',
        f'<div data-lat="{lat:.6f}">',
        f'<div data-lon="{lon:.7f}">',
        f'<a href="geo:{lat:.6f},{lon:.6f}">',
        f"{lon:.7f}, {lat:.7f}",
        f"https://www.openstreetmap.org/directions?route=%3B{lat:.4f}%2C{lon:.4f}",
        f"{lat:.4f}, {lon:.4f}".replace(".", ","),  # decimal commas
        f"{math.floor(lat * 10_000) / 10_000:.4f} "
        f"{math.floor(lon * 10_000) / 10_000:.4f}",  # cut, not rounded
    ]
    for plant in plants:
        assert find_leaks(f"<p>{plant}</p>", [person]), plant
    assert find_leaks('{"n": 1}', [person], {"n": [lon, lat]})
    # One coordinate alone at 4-5 decimals is what a public point due east or north of a
    # house shares by chance; it does not place the house, so it is not counted.
    assert not find_leaks(f'<div data-lat="{lat:.5f}">', [person])
    public = world.public_points()[seeded.id]
    harmless = (
        f'<div data-lat="{public[0]:.5f}" data-lon="{public[1]:.5f}">'
        f"{VOLUNTEER_AT[0]}, {VOLUNTEER_AT[1]} #{seeded.id} 2025-01-01T10:00:00.123456Z"
    )
    assert not find_leaks(harmless, [s.person for s in world.seeded])


def test_the_quick_phone_search_finds_what_the_whole_pattern_finds():
    """Phones are sought only in runs of digits holding someone's number: nothing is missed."""
    people = [
        Personal(i, f"Tên {i}", phone, f"Số {i}", (21.0, 106.0))
        for i, phone in enumerate(["+84981234567", "+84912000001", "+84912000011", "+84970000001"])
    ]
    detector = Detector(people)
    written = [
        "+84981234567",
        "0981234567",
        "84 98 123 45 67",
        "(098) 123.45.67",
        "0912000001",
        "912000011",
        "+84 (91) 2000-011",
        "0084981234567",
        "1912000001",
        "97000000",
    ]
    noise = list("0123456789+ .-()/\u00a0x8") + ["\u0663", "\n"]
    rng = random.Random(3)
    found = 0
    for _ in range(3000):
        text = "".join(
            rng.choice(written)
            if rng.random() < 0.4
            else "".join(rng.choice(noise) for _ in range(rng.randint(0, 8)))
            for _ in range(5)
        )
        whole = [(m.start(), m.group()) for m in detector._phone_re.finditer(text)]
        assert [(m.start(), m.group()) for m in detector._phone_matches(text)] == whole, text
        found += bool(whole)
    assert found > 1000


def test_the_referrer_check_catches_a_token_sent_elsewhere(world):
    """The Referer part of the sweep: a token in a link to another origin, a token page
    without no-referrer, and a redirect carrying a token away are all caught."""
    caller = world.caller("link_holder")
    token = caller.manage.person.manage_token
    crawl = Crawl(world, caller)

    def problems(path, body, headers=None, status=200):
        crawl.problems = []
        response = world.app.response_class(
            body, status=status, mimetype="text/html", headers=headers or {}
        )
        crawl.check_referrer(path, response, body)
        return crawl.problems

    assert problems("/", f'<a href="https://evil.example/share?u=/m/{token}">x</a>')
    assert problems("/", f'<img src="//tiles.example.org/{token}.png">')
    assert problems(
        f"/m/{token}", "<p>ok</p>", {"Referrer-Policy": "strict-origin-when-cross-origin"}
    )
    assert problems(
        f"/m/{token}",
        '<a href="https://www.openstreetmap.org/">map</a>',
        {"Referrer-Policy": "same-origin"},
    )
    assert problems("/need-help", "", {"Location": f"https://evil.example/m/{token}"}, 302)
    assert not problems(
        f"/m/{token}",
        f'<a href="/m/{token}/edit">edit</a><a href="https://www.openstreetmap.org/">map</a>',
        {"Referrer-Policy": "no-referrer"},
    )
    assert not problems("/", f'<a href="http://localhost/m/{token}">mine</a>')
