"""The log scan: every page and API route driven (the leak scan's sweep), errors forced, and not
one log line holds a manage token, bearer token, password, phone, name or exact coordinate.

The app logs at DEBUG into a handler with the real JSON formatter, request ids and redaction filter
(connect.logs.prepare), as in production, while the leak scan's world is seeded and swept by a
requester holding a manage link and by a volunteer (one-time codes asked and tried on the way),
while an account's password is reset by a texted code, and while errors are forced: a 500 inside a
manage page whose message holds the token, a phone and a point; a real database error whose
statement names a requester; the database away (503s, the read model's too); 404s with tokens in
their paths; bad JSON; a form without its CSRF token. Then a real gunicorn (2 workers,
LOG_LEVEL=DEBUG) is driven with manage links, bearer and manage-token headers, an exact position in
the nearby query and a failing request, and its output, error and access logs are scanned too.
Every line is checked (leak_check.find_leaks for each seeded person, and each secret as a plain
string); the count of lines checked is printed.
"""

import json
import logging
import re
import time
from datetime import timedelta
from types import SimpleNamespace
from urllib.parse import urlencode

import pytest
import requests
from gunicorn.config import Config
from sqlalchemy import create_engine, text
from test_leak_scan import PASSWORD, Crawl, sweep_api, sweep_pages, world  # noqa: F401

from connect import logs
from connect.gunicorn_logging import RedactingLogger

from conftest import handed_texts, new_phone
from leak_check import find_leaks
from served import Gunicorn

SMS_SECRET = "log-scan-sms-secret"

API = "/api/v1"
SCANNED_CALLERS = ("link_holder", "volunteer")
# A token on its own: a long word mixing cases and digits (no id or request id looks so).
_TOKEN_LIKE = re.compile(r"(?<![\w-])(?=[\w-]*[A-Z])(?=[\w-]*[a-z])(?=[\w-]*\d)[\w-]{32,}")
# The code in a code's text ("... mã của bạn là 123456, ...", "... your code is 123456. ...").
CODE = re.compile(r"(?:là|is) (\d{6})(?!\d)")
CHECKED = {}  # backend -> lines checked, printed at the end


class Lines(logging.Handler):
    """Keeps each formatted line."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.lines = []

    def emit(self, record):
        self.lines.append(self.format(record))


@pytest.fixture(scope="module", autouse=True)
def captured():
    """All the app's logging at DEBUG, as production writes it (before the world is seeded)."""
    handler = logs.prepare(Lines(), "json")
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield handler
    root.removeHandler(handler)
    root.setLevel(level)


class AccessLines:
    """WSGI middleware: each request of the sweep written by gunicorn's own access logger
    (connect.gunicorn_logging), from the real environ and answer, into ``handler``."""

    def __init__(self, wsgi_app, handler):
        config = Config()
        config.set("accesslog", "/dev/null")
        self.logger = RedactingLogger(config)
        self.logger.access_log.addHandler(handler)
        self.wsgi_app = wsgi_app

    def __call__(self, environ, start_response):
        started, answered = time.perf_counter(), {}

        def start(status, headers, exc_info=None):
            answered.update(status=status, headers=headers)
            return start_response(status, headers, exc_info)

        body = self.wsgi_app(environ, start)
        try:
            chunks = list(body)
        finally:
            getattr(body, "close", lambda: None)()
        self.logger.access(
            SimpleNamespace(sent=sum(map(len, chunks)), **answered),
            None,
            environ,
            timedelta(seconds=time.perf_counter() - started),
        )
        return chunks


def secrets_of(world):
    """(what, text) of every secret no line may hold, and the seeded people."""
    people = [s.person for s in world.seeded] + [o.person for o in world.offers]
    plain = [("manage token", p.manage_token) for p in people if p.manage_token]
    plain += [("password", PASSWORD), ("password", "mat-khau-1"), ("SMS secret", SMS_SECRET)]
    shorts = [world.short_link(s.id) for s in world.seeded if s.id > 0]
    plain += [("texted link", short) for short in shorts if short]
    for user in world.users.values():
        plain.append(("bearer token", user["headers"]["Authorization"].split()[1]))
        plain.append(("account phone", user["phone"]))
        plain.append(("account phone", "0" + user["phone"][3:]))
    return plain, people


def texted_codes(handed):
    """The one-time codes in the texts handed to the gateway."""
    return [code for texts in handed.values() for text in texts for code in CODE.findall(text)]


def reset_password_by_code(world, handed):
    """A fresh account's password reset: a wrong code, then the right one (what it logs)."""
    client = world.app.test_client()
    phone = new_phone()
    assert (
        client.post(
            f"{API}/auth/register",
            json={"phone": phone, "password": PASSWORD, "name": "Người Quên"},
        ).status_code
        == 201
    )
    assert client.post(f"{API}/auth/password-reset", json={"phone": phone}).status_code == 202
    code = CODE.search(handed[phone][-1]).group(1)
    attempt = {"phone": phone, "password": "mat-khau-moi-quet"}
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    confirm = f"{API}/auth/password-reset/confirm"
    assert client.post(confirm, json={**attempt, "code": wrong}).status_code == 422
    assert client.post(confirm, json={**attempt, "code": code}).status_code == 204
    return phone


def problems_in(lines, world, codes=(), phones=()):
    plain, people = secrets_of(world)
    plain += [("account phone", phone) for phone in phones]
    plain += [("account phone", "0" + phone[3:]) for phone in phones]
    found = []
    for start in range(0, len(lines), 200):
        chunk = lines[start : start + 200]
        body = "\n".join(chunk)
        for request_id, kind, evidence in find_leaks(body, people):
            found.append(f"{kind} of request {request_id}: {evidence!r}")
        for what, secret in plain:
            if secret in body:
                found.append(f"{what}: {next(line for line in chunk if secret in line)}")
        for line in chunk:
            if _TOKEN_LIKE.search(line):
                found.append(f"a token: {line[:300]}")
            for code in codes:
                if re.search(rf"(?<!\d){code}(?!\d)", line):
                    found.append(f"a one-time code: {line[:300]}")
    return found


def force_errors(world, monkeypatch):
    """Errors of every kind, each with personal data at hand."""
    from connect.requests import queries

    app = world.app
    client = app.test_client()
    seeded = next(s for s in world.seeded if s.state == "claimed")
    person = seeded.person
    token, (lat, lon) = person.manage_token, person.point
    dead = create_engine(
        "postgresql+psycopg://nobody@127.0.0.1:9/none?connect_timeout=1", hide_parameters=True
    )

    def raising(*_args, **_kwargs):
        raise RuntimeError(
            f"failed for {token} ({person.phone}, 0{person.phone[3:]}) at {lat:.6f},{lon:.6f}"
        )

    def statement_naming_them(*_args, **_kwargs):
        from connect.extensions import db

        db.session.execute(
            text("SELECT * FROM no_such_table WHERE name = :name AND phone = :phone"),
            {"name": person.contact_name, "phone": person.phone},
        )

    def database_away(*_args, **_kwargs):
        with dead.connect():
            pass

    for fault, status in ((raising, 500), (statement_naming_them, 500), (database_away, 503)):
        with monkeypatch.context() as patch:
            patch.setattr(queries, "effective_status", fault)  # the manage page
            patch.setattr(queries, "get_request", fault)  # the API
            assert client.get(f"/m/{token}").status_code == status, fault.__name__
            assert (
                client.get(
                    f"{API}/requests/{seeded.id}", headers={"X-Manage-Token": token}
                ).status_code
                == status
            )
    read_model = app.extensions["read_model"]
    with monkeypatch.context() as patch:
        patch.setattr(read_model, "_engine", dead)
        patch.setattr(read_model, "_loaded", False)
        assert (
            app.test_client().get(f"{API}/requests/nearby?lat={lat}&lon={lon}").status_code == 503
        )
    assert client.get(f"/m/{token}/no/such/page").status_code == 404
    assert client.get(f"/m/{token}x").status_code == 404
    assert (
        client.get(
            f"{API}/requests/{seeded.id}/nothing", headers={"X-Manage-Token": token}
        ).status_code
        == 404
    )
    broken = (
        f'{{"contact_name": "{person.contact_name}", "phone": "{person.phone}", '
        f'"location": {{"lat": {lat}, "lon": {lon}'
    )
    assert (
        client.post(f"{API}/requests", data=broken, content_type="application/json").status_code
        == 400
    )
    assert (
        client.post(
            f"{API}/requests",
            json={
                "contact_name": person.contact_name,
                "phone": person.phone,
                "location": {"lat": lat, "lon": lon},
            },
        ).status_code
        == 422
    )
    assert client.post(f"/m/{token}/cancel", data={}).status_code in (302, 400)
    assert client.post(
        "/login", data={"phone": person.phone, "password": PASSWORD}
    ).status_code in (200, 302, 400)


def test_no_log_line_holds_a_secret(world, captured, monkeypatch, request):
    """The sweep of every route by two callers, the forced errors, a password reset by a
    texted code: every line is clean, of the codes too."""
    monkeypatch.setattr(world.app, "wsgi_app", AccessLines(world.app.wsgi_app, captured))
    handed = handed_texts(world.app, monkeypatch)
    for name in SCANNED_CALLERS:
        crawl = Crawl(world, world.caller(name))
        sweep_api(crawl, world)
        sweep_pages(crawl, world)
    force_errors(world, monkeypatch)
    reset_phone = reset_password_by_code(world, handed)
    codes = texted_codes(handed)
    assert len(codes) >= 3, codes  # the sweeps asked codes too
    lines = list(captured.lines)
    assert len(lines) > 1000, len(lines)
    assert any("unhandled error on GET /m/<token>" in line for line in lines)
    assert any('"message":"GET /m/[redacted] 500"' in line for line in lines)
    assert any("Traceback" in line for line in lines)
    problems = problems_in(lines, world, codes, [reset_phone])
    CHECKED[request.node.callspec.id] = len(lines)
    print(
        f"\nlog scan ({request.node.callspec.id}): {len(lines)} lines checked, "
        f"{len(problems)} problems"
    )
    assert not problems, "\n".join(problems[:30])


# gunicorn's log lines are the same whatever the database: one backend is enough.
@pytest.mark.parametrize("world", ["sqlite"], indirect=True)
def test_gunicorns_logs_hold_no_secret(world, tmp_path):
    """A real gunicorn: its output, error and access logs, all JSON, none with a secret."""
    url = world.app.config["SQLALCHEMY_DATABASE_URI"]
    seeded = next(s for s in world.seeded if s.state == "claimed")
    token, (lat, lon) = seeded.person.manage_token, seeded.person.point
    bearer = world.users["scanner"]["headers"]
    texted = urlencode(
        {
            "secret": SMS_SECRET,
            "from": seeded.person.phone.lstrip("+"),
            "to": "8088",
            "text": f"Tôi ở {seeded.person.address}",
        }
    )
    short = world.short_link(seeded.id)
    assert short, "the seeded request was texted its link"
    server = Gunicorn(
        url,
        tmp_path,
        workers=2,
        app="serve_errors:app",
        LOG_LEVEL="DEBUG",
        LOG_FORMAT="json",
        BLUR_SECRET="leak-scan",
        SMS_INBOUND_SECRET=SMS_SECRET,
    )
    try:
        server.wait_ready()
        base = server.base
        calls = [
            ("GET", f"/m/{token}", {"Referer": f"{base}/m/{token}/edit"}),
            ("GET", f"/m/{token}/edit", {}),
            ("GET", f"/m/{token}/no/such", {}),
            ("GET", f"{API}/requests/{seeded.id}", {"X-Manage-Token": token}),
            ("GET", f"{API}/requests/{seeded.id}", bearer),
            ("GET", f"{API}/requests/nearby?lat={lat:.7f}&lon={lon:.7f}&radius_m=5000", {}),
            ("GET", f"{API}/requests/nearby?lat={lat:.7f}&lon={lon:.7f}&radius_m=5000", {}),
            ("GET", f"/m/{token}", {"X-Fault-Raise": f"{token} {seeded.person.phone}"}),
            ("GET", f"{API}/notifications", {**bearer, "X-Fault-Raise": bearer["Authorization"]}),
            # Kannel's calls: a text from the requester's phone with their address in it, and
            # a delivery report; and the short link texted to them.
            ("GET", f"/sms/kannel/inbound?{texted}", {}),
            ("GET", f"/sms/kannel/dlr?secret={SMS_SECRET}&msg=1&status=1", {}),
            ("GET", f"/s/{short}", {}),
        ]
        for method, path, headers in calls:
            requests.request(method, base + path, headers=headers, timeout=10)
        requests.post(
            f"{base}{API}/auth/token",
            json={"phone": world.users["scanner"]["phone"], "password": PASSWORD},
            timeout=10,
        )
        requests.post(
            f"{base}/login", data={"phone": seeded.person.phone, "password": PASSWORD}, timeout=10
        )
    finally:
        server.stop()
    lines = server.logs().splitlines()
    records = [json.loads(line) for line in lines]  # every line is JSON
    access = [r for r in records if r["logger"] == "gunicorn.access"]
    assert len(access) >= 11 and all(
        re.fullmatch(r"[0-9a-f]{32}", r["request_id"]) for r in access
    )
    assert any("failed on purpose" in r.get("exc_info", "") for r in records)
    assert any(r["message"].startswith("GET /m/[redacted]") for r in access)
    assert any(r["message"].startswith("GET /s/[redacted]") for r in access)
    assert any(r["message"].startswith("GET /sms/kannel/inbound?[redacted]") for r in access)
    problems = problems_in(lines, world)
    print(f"\ngunicorn log scan: {len(lines)} lines checked, {len(problems)} problems")
    assert not problems, "\n".join(problems[:30])


def test_the_scan_finds_what_redaction_removes(world):
    """Without the filter each kind of secret is found; through a prepared handler none is."""
    seeded = next(s for s in world.seeded if s.state == "claimed")
    person = seeded.person
    lat, lon = person.point
    bearer = world.users["scanner"]["headers"]["Authorization"]
    said = [
        f"GET /m/{person.manage_token}/edit",
        f"Authorization: {bearer}",
        f"password={PASSWORD}",
        f"call 0{person.phone[3:5]} {person.phone[5:8]} {person.phone[8:]}",
        f"nearby?lat={lat:.6f}&lon={lon:.6f}",
        f"X-Manage-Token: {person.manage_token}",
    ]
    for line in said:
        assert problems_in([line], world), line
    assert problems_in(["sms code 123456 sent"], world, codes=["123456"])
    kept = Lines()
    logger = logging.getLogger("connect.test.scan")
    logger.addHandler(logs.prepare(kept, "json"))
    try:
        for line in said:
            logger.error("%s", line)
    finally:
        logger.handlers.clear()
    assert len(kept.lines) == len(said) and not problems_in(kept.lines, world)
