"""Fuzzing the JSON API from its served OpenAPI document (Schemathesis, on SQLite): every
operation, anonymous and signed in as a volunteer and as a coordinator, one call at a time and
in chains the document's links allow, never answers 5xx and always answers what the document
says (status, content type, headers, body). CI runs a short derandomized pass; `make fuzz` a
long random one (FUZZ_EXAMPLES examples per operation, mode and role; FUZZ_STEPS per chain)."""

import itertools
import os
import shutil
from collections import Counter
from contextlib import closing

import pytest
import schemathesis
from argon2 import PasswordHasher
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from connect.accounts import services
from connect.config import RATE_LIMITS as LIMITS
from connect.database import sqlite_driver
from connect.extensions import db

from conftest import (
    BAC_GIANG,
    LUC_NAM,
    OWN_AREA,
    ensure_demo_areas,
    make_app,
    new_phone,
    request_payload,
)

pytestmark = pytest.mark.slow

OPENAPI = "/api/v1/openapi.json"
SIGN_OUT = "DELETE /api/v1/auth/token"
# The WSGI transport reads bodies as they come; test_resident_pages.py tests compression.
PLAIN = {"Accept-Encoding": "identity"}
MAX_ID = 2**31 - 1
ROLES = ("anonymous", "volunteer", "coordinator")
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
# `make fuzz` sets FUZZ_EXAMPLES; without it, the bounded pass `make test` runs.
LONG = bool(os.environ.get("FUZZ_EXAMPLES"))
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES") or 8)
STEPS = int(os.environ.get("FUZZ_STEPS") or (50 if LONG else 10))
# Every limit on, but far above what a fuzz run sends: a 429 here would hide the answer
# behind it, and the limits themselves are tested in test_rate_limits.py.
HIGH_LIMITS = {
    "RATELIMIT_ENABLED": True,
    **{name: "1000000 per hour" for name in LIMITS},
}


def _settings(**extra):
    """Hypothesis settings: a fixed seed in CI (the same calls every run), random for make fuzz.
    Failures are collected, not raised (Seeded.check), so nothing is shrunk or replayed."""
    return settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=not LONG,
        database=None,
        phases=[Phase.explicit, Phase.generate, *([Phase.target] if LONG else [])],
        suppress_health_check=list(HealthCheck),
        **extra,
    )


class Seeded:
    """The fuzzed app, with the accounts and rows path ids point at."""

    def __init__(self, app):
        self.app = app
        self._copies = itertools.count()
        self.begin()
        self.client = app.test_client()
        ensure_demo_areas(app)
        self.accounts = {"coordinator": self._staff(), "volunteer": self._volunteer()}
        self.headers = {"anonymous": {}, **{role: self.sign_in(role) for role in self.accounts}}
        volunteer, coordinator = self.headers["volunteer"], self.headers["coordinator"]
        self._ok(
            self.client.put(
                "/api/v1/volunteers/me",
                headers=volunteer,
                json={
                    "location": {"lat": BAC_GIANG[0], "lon": BAC_GIANG[1]},
                    "radius_m": 20000,
                    "categories": ["food", "supplies", "medicine", "medical_advice", "other"],
                    "on_duty": True,
                    "capacity": 5,
                },
            ),
            200,
        )
        # The third is posted near the first, so it carries a possible_duplicate flag.
        requests = [
            self._ok(self.client.post("/api/v1/requests", json=request_payload(at=at)), 201)["id"]
            for at in (BAC_GIANG, LUC_NAM, BAC_GIANG)
        ]
        self._ok(self.client.post(f"/api/v1/requests/{requests[0]}/claim", headers=volunteer), 200)
        self._ok(
            self.client.post(
                f"/api/v1/requests/{requests[1]}/report",
                headers=volunteer,
                json={"reason": "scam"},
            ),
            201,
        )
        block = self._ok(
            self.client.post(
                f"/api/v1/requests/{requests[2]}/block-phone",
                headers=coordinator,
                json={"reason": "spam"},
            ),
            201,
        )
        offer = self._ok(
            self.client.post(
                "/api/v1/offers",
                headers=volunteer,
                json={
                    "title": "Đi chợ giúp",
                    "description": "Mua gạo, rau cho người cách ly",
                    "categories": ["food"],
                    "location": {"lat": BAC_GIANG[0], "lon": BAC_GIANG[1]},
                    "contact_name": "Lê Văn Cường",
                    "phone": new_phone(),
                },
            ),
            201,
        )
        queue = self._ok(self.client.get("/api/v1/moderation/queue", headers=coordinator), 200)
        flags = [flag["id"] for item in queue["items"] for flag in item["flags"]]
        assert flags, queue
        self.ids = {
            "request_id": requests,
            "offer_id": [offer["id"]],
            "flag_id": flags,
            "block_id": [block["id"]],
            "code": [OWN_AREA, "24-213"],
        }

    def _ok(self, response, status):
        assert response.status_code == status, response.get_json()
        return response.get_json()

    def _staff(self):
        phone, password = new_phone(), "dieu-phoi-1"
        result = self.app.test_cli_runner().invoke(
            args=[
                "connect",
                "create-user",
                "--phone",
                phone,
                "--name",
                "Điều phối viên",
                "--role",
                "coordinator",
                "--password",
                password,
                "--area",
                OWN_AREA,
            ]
        )
        assert result.exit_code == 0, result.output
        return phone, password

    def _volunteer(self):
        phone, password = new_phone(), "mat-khau-1"
        self._ok(
            self.client.post(
                "/api/v1/auth/register",
                json={"phone": phone, "password": password, "name": "Trần Thị Bình"},
            ),
            201,
        )
        return phone, password

    def sign_in(self, role):
        """Authorization headers with a new token of the role's account."""
        phone, password = self.accounts[role]
        token = self._ok(
            self.client.post("/api/v1/auth/token", json={"phone": phone, "password": password}),
            200,
        )
        return {"Authorization": f"Bearer {token['token']}"}

    def headers_for(self, role, case):
        """The role's headers; signing out spends a token of its own, not the shared one."""
        if role != "anonymous" and case.operation.label == SIGN_OUT:
            return {**PLAIN, **self.sign_in(role)}
        return {**PLAIN, **self.headers[role]}

    def keep_snapshot(self, path):
        """Save the seeded database, for apps that must start from it (chains)."""
        self.snapshot = path.with_name("seeded.db")
        # With the app's own SQLite driver: a second SQLite library in the process would drop
        # the first one's file locks when it closes the file (disk I/O errors follow).
        driver = sqlite_driver()
        with (
            closing(driver.connect(path)) as source,
            closing(driver.connect(self.snapshot)) as copy,
        ):
            source.backup(copy)

    def fresh_app(self):
        """An app on a new copy of the seeded database: same ids, same tokens."""
        path = self.snapshot.with_name(f"chain-{next(self._copies)}.db")
        shutil.copyfile(self.snapshot, path)
        return make_app(f"sqlite:///{path}", **HIGH_LIMITS)

    def begin(self):
        self.statuses, self.failures = Counter(), {}

    def check(self, case, response, role):
        """Run the checks on one answer; a failure is kept (one per operation and kind), not
        raised: shrinking would replay calls against a database they have changed."""
        self.statuses[response.status_code] += 1
        try:
            case.validate_response(response, checks=CHECKS)
        except FailureGroup as group:
            for failure in group.exceptions:
                key = (case.operation.label, type(failure).__name__)
                self.failures.setdefault(
                    key, f"{role} {key[0]}: {failure}\n{case.as_curl_command()}"
                )

    def report(self, what):
        print(f"{what}: {sum(self.statuses.values())} calls, by status {dict(self.statuses)}")
        assert not self.failures, "\n\n".join(self.failures.values())

    def aim(self, case):
        """Point most generated path ids at seeded rows, so calls get past the 404; an id
        made invalid on purpose (negative, too big, not a number) stays as it is."""
        for name, value in list((case.path_parameters or {}).items()):
            known = self.ids.get(name)
            if known and type(value) is int and 0 <= value <= MAX_ID and value % 4:
                case.path_parameters[name] = known[value % len(known)]
            elif name == "code" and isinstance(value, str) and len(value) % 4:
                case.path_parameters[name] = known[len(value) % len(known)]


@pytest.fixture(scope="module")
def seeded(sqlite_template, tmp_path_factory):
    path = tmp_path_factory.mktemp("fuzz") / "connect.db"
    shutil.copyfile(sqlite_template, path)
    app = make_app(f"sqlite:///{path}", **HIGH_LIMITS)
    # Cheap hashing, as conftest's fast_password_hashing gives each test: this lasts the module.
    fast = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(services, "_hasher", fast)
        patch.setattr(services, "_DUMMY_HASH", fast.hash("not a real password"))
        seeded = Seeded(app)
        seeded.keep_snapshot(path)
        yield seeded
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture(scope="module")
def api_schema(seeded):
    return schemathesis.openapi.from_wsgi(OPENAPI, seeded.app)


def fuzz_operation(operation, mode, role, seeded):
    """Hypothesis examples of one operation in one generation mode, each answer checked."""

    @given(case=operation.as_strategy(mode))
    @_settings()
    def run(case):
        seeded.aim(case)
        seeded.check(case, case.call(headers=seeded.headers_for(role, case)), role)

    run()


@pytest.mark.parametrize("role", ROLES)
def test_every_operation_answers_as_documented(role, seeded, api_schema):
    seeded.begin()
    operations = [result.ok() for result in api_schema.get_all_operations()]
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                fuzz_operation(operation, mode, role, seeded)
            except Unsatisfiable:
                # No parameters and no body: nothing of this call can be made invalid.
                assert mode is GenerationMode.NEGATIVE, operation.label
    seeded.report(f"{role}: {len(operations)} operations")
    assert len(operations) >= 50


def test_chains_of_calls_answer_as_documented(seeded, api_schema):
    links = api_schema.as_state_machine()

    class Chains(links):
        # Each chain starts from the seeded database: the links a step may follow depend on
        # earlier answers, and Hypothesis needs the same choices to lead to the same steps.
        def setup(self):
            self.app = seeded.fresh_app()

        def teardown(self):
            with self.app.app_context():
                db.session.remove()
                db.engine.dispose()

        def step(self, input):
            if not input.applied_parameters:  # a first step: no link chose the ids
                seeded.aim(input.case)
            return super().step(input)

        def get_call_kwargs(self, case):
            return {"headers": seeded.headers_for("coordinator", case), "app": self.app}

        def validate_response(self, response, case, additional_checks=None, **kwargs):
            seeded.check(case, response, "coordinator")

    seeded.begin()
    Chains.run(settings=_settings(stateful_step_count=STEPS))
    seeded.report("chains")


# What fuzzing found, kept as fixed calls (role, operation, query), checked like fuzzed ones.
FOUND = [
    ("coordinator", "GET /api/v1/stats/console", {"to": "0001-01-01"}),  # was a 500
    ("coordinator", "GET /api/v1/stats/console", {"from": "9999-12-31", "to": "9999-12-31"}),
    ("volunteer", "GET /api/v1/auth/me", {}),  # created_at had no offset: not a date-time
    ("anonymous", "GET /api/v1/stats/areas.geojson", {}),  # documented as a string
]


@pytest.mark.parametrize("role, label, query", FOUND)
def test_what_fuzzing_found_stays_fixed(role, label, query, seeded, api_schema):
    method, path = label.split()
    case = api_schema[path][method].Case(query=query)
    seeded.begin()
    seeded.check(case, case.call(headers=seeded.headers_for(role, case)), role)
    seeded.report(label)
    assert sum(seeded.statuses.values()) == 1


def test_an_answer_over_a_rate_limit_is_the_documented_429(sqlite_template, tmp_path):
    path = tmp_path / "connect.db"
    shutil.copyfile(sqlite_template, path)
    app = make_app(
        f"sqlite:///{path}", RATELIMIT_ENABLED=True, RATELIMIT_REGISTER_PER_IP="1 per hour"
    )
    register = schemathesis.openapi.from_wsgi(OPENAPI, app)["/api/v1/auth/register"]["POST"]
    statuses = []
    for _ in range(2):
        case = register.Case(
            body={"phone": new_phone(), "password": "mat-khau-1", "name": "Trần Thị Bình"},
            media_type="application/json",
        )
        statuses.append(case.call_and_validate(checks=CHECKS).status_code)
    assert statuses == [201, 429]
    with app.app_context():
        db.engine.dispose()
