"""Rate limits: each trips with 429, Retry-After and the envelope (a page in words on pages);
per-phone limits count across addresses, per-address limits across phones; failed logins back
off alike for known and unknown phones; limits are shared through Redis by many processes.

Tests set small limits through the config (as the environment does in production) and send
requests from chosen client addresses (REMOTE_ADDR).
"""

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests

from conftest import CI, make_app, new_phone, request_payload

ROOT = Path(__file__).resolve().parents[2]
GUNICORN = Path(sys.executable).with_name("gunicorn")
API = "/api/v1/requests"
TOKEN = "/api/v1/auth/token"
WRONG = "sai-mat-khau"
PASSWORD = "mat-khau-dai"


# -- fixtures and helpers ------------------------------------------------------------------


@pytest.fixture
def limited(database_url):
    """limited(**limits): a client of an app with rate limits on and these limits set (CSRF
    is off: these tests are about counting, and the CSRF tests are elsewhere)."""
    from connect.extensions import db

    apps = []

    def make(**limits):
        app = make_app(database_url, RATELIMIT_ENABLED=True, WTF_CSRF_ENABLED=False, **limits)
        apps.append(app)
        return app.test_client()

    yield make
    for app in apps:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


def ip(address):
    return {"environ_base": {"REMOTE_ADDR": address}}


def assert_rate_limited(response):
    """429 in the envelope, with Retry-After and details.retry_after saying the same."""
    assert response.status_code == 429, (response.status_code, response.get_data(as_text=True))
    wait = int(response.headers["Retry-After"])
    assert wait >= 1
    assert response.get_json() == {
        "error": {
            "code": "rate_limited",
            "message": "Too many requests. Please wait and try again.",
            "details": {"retry_after": wait},
        }
    }
    return wait


def assert_rate_limited_page(response):
    """429 as a page in words (never JSON), with Retry-After."""
    body = response.get_data(as_text=True)
    assert response.status_code == 429, (response.status_code, body[:500])
    assert response.mimetype == "text/html"
    assert int(response.headers["Retry-After"]) >= 1
    assert "Please wait" in body
    return body


def post(client, address="10.0.0.1", **overrides):
    """Post through the API; a posted request is cancelled at once, so that its phone may
    post again (a phone has one active request at a time)."""
    response = client.post(API, json=request_payload(**overrides), **ip(address))
    if response.status_code == 201:
        body = response.get_json()
        assert (
            client.post(
                f"{API}/{body['id']}/cancel",
                json={},
                headers={"X-Manage-Token": body["manage_token"]},
            ).status_code
            == 200
        )
    return response


def page_post(client, phone, address="10.0.0.1"):
    """Post with the form (no JavaScript); a posted request is cancelled at once, as above."""
    data = {
        "categories": ["food"],
        "description": "Cần gạo cho 4 người",
        "household_size": "4",
        "urgency": "normal",
        "lat": "21.2801",
        "lon": "106.2012",
        "place": "",
        "contact_name": "Nguyễn Văn An",
        "phone": phone,
        "address": "",
    }
    response = client.post("/need-help?lang=en", data=data, **ip(address))
    if response.status_code == 302:
        manage = urlsplit(response.headers["Location"]).path
        assert client.post(f"{manage}/cancel").status_code == 302
    return response


def login(client, phone, password=WRONG, address="10.0.0.1"):
    return client.post(TOKEN, json={"phone": phone, "password": password}, **ip(address))


def account(client, address="10.9.9.9"):
    """A registered phone number (the password is PASSWORD)."""
    phone = new_phone()
    response = client.post(
        "/api/v1/auth/register",
        **ip(address),
        json={"phone": phone, "password": PASSWORD, "name": "Trần Bình"},
    )
    assert response.status_code == 201, response.get_json()
    return phone


def volunteer(client, capacity=3, address="10.9.9.9"):
    """(phone, Authorization headers) of a new volunteer."""
    phone = account(client, address)
    token = login(client, phone, PASSWORD, address)
    assert token.status_code == 200, token.get_json()
    headers = {"Authorization": f"Bearer {token.get_json()['token']}"}
    response = client.put(
        "/api/v1/volunteers/me",
        headers=headers,
        json={
            "location": {"lat": 21.2731, "lon": 106.1946},
            "radius_m": 5000,
            "categories": ["food", "supplies", "medicine", "medical_advice", "other"],
            "on_duty": True,
            "capacity": capacity,
        },
    )
    assert response.status_code == 200, response.get_json()
    return phone, headers


def act(client, request_id, action, headers, address="10.0.0.1"):
    return client.post(f"{API}/{request_id}/{action}", headers=headers, **ip(address))


def needs(client, count):
    """Open requests, posted from an address of their own."""
    ids = []
    for _ in range(count):
        response = client.post(API, json=request_payload(), **ip("10.8.8.8"))
        assert response.status_code == 201, response.get_json()
        ids.append(response.get_json()["id"])
    return ids


# -- posting a request ----------------------------------------------------------------------


def test_posting_is_limited_per_phone_across_addresses_and_spellings(limited):
    """The per-phone budget follows the number, however it is written, from any address."""
    client = limited(RATELIMIT_POST_PER_PHONE="2 per day")
    number = new_phone()
    local = "0" + number[3:]
    assert post(client, "10.0.0.1", phone=number).status_code == 201
    assert (
        post(client, "10.0.0.2", phone=f"{local[:4]} {local[4:7]} {local[7:]}").status_code == 201
    )
    wait = assert_rate_limited(post(client, "10.0.0.3", phone=local))
    assert 23 * 3600 < wait <= 24 * 3600
    assert post(client, "10.0.0.3").status_code == 201  # another phone is not held back


def test_posting_is_limited_per_address_across_phones(limited):
    """Many phones from one address share the address's budget; other addresses do not."""
    client = limited(RATELIMIT_POST_PER_IP="3 per hour")
    assert [post(client, "10.0.0.1").status_code for _ in range(3)] == [201] * 3
    wait = assert_rate_limited(post(client, "10.0.0.1"))
    assert 3500 < wait <= 3600
    assert post(client, "10.0.0.2").status_code == 201


def test_only_posted_requests_count_not_form_mistakes(limited):
    """A resident who gets the form wrong a few times can still post."""
    client = limited(RATELIMIT_POST_PER_PHONE="1 per day", RATELIMIT_POST_PER_IP="1 per hour")
    number = new_phone()
    for _ in range(3):
        assert post(client, phone=number, household_size=0).status_code == 422
    assert post(client, phone=number).status_code == 201
    assert_rate_limited(post(client, phone=number))


def test_the_page_and_the_api_share_the_posting_budget(limited):
    """Posting through the form counts against the same phone as through the API, and the
    refusal is a page in words."""
    client = limited(RATELIMIT_POST_PER_PHONE="2 per day")
    number = new_phone()
    assert post(client, "10.0.0.1", phone=number).status_code == 201
    assert page_post(client, "0" + number[3:], "10.0.0.2").status_code == 302
    page = assert_rate_limited_page(page_post(client, number, "10.0.0.3"))
    assert "ask a neighbour to post for you" in page
    assert_rate_limited(post(client, "10.0.0.4", phone=number))


# -- login: failures back off, alike for every phone ---------------------------------------


def test_failed_logins_back_off_per_phone_alike_for_unknown_and_known_phones(limited):
    """Wrong password for an account and any password for a phone without one: the same
    answers in the same order, counted per phone across addresses."""
    client = limited(RATELIMIT_LOGIN_FAILURES_PER_PHONE="3 per minute;5 per hour")
    known, unknown = account(client), new_phone()

    def attempts(phone):
        answers = []
        for i in range(5):
            response = login(client, phone, address=f"10.1.{i}.1")
            body = response.get_json()
            body["error"]["details"].pop("retry_after", None)
            answers.append((response.status_code, body, "Retry-After" in response.headers))
        return answers

    seen = attempts(known)
    assert seen == attempts(unknown)
    assert [status for status, _, _ in seen] == [401, 401, 401, 429, 429]
    assert seen[0][1]["error"]["code"] == "invalid_credentials"
    assert seen[0][2] is False and seen[3][2] is True
    # The right password does not get through while the phone is held back: no oracle.
    assert_rate_limited(login(client, known, PASSWORD, "10.2.0.1"))
    assert login(client, new_phone(), address="10.2.0.1").status_code == 401


def test_backoff_grows_from_the_minute_to_the_hour(limited, monkeypatch):
    """After the per-minute allowance the wait is a minute; once the hour's is used up, an
    hour."""
    import limits.storage.memory

    from connect.web import ratelimits

    class Clock:
        offset = 0.0

        def time(self):
            return time.time() + self.offset

    clock = Clock()
    monkeypatch.setattr(limits.storage.memory, "time", clock)
    monkeypatch.setattr(ratelimits, "time", clock)
    client = limited(RATELIMIT_LOGIN_FAILURES_PER_PHONE="2 per minute;3 per hour")
    phone = new_phone()
    assert [login(client, phone).status_code for _ in range(2)] == [401, 401]
    assert assert_rate_limited(login(client, phone)) <= 60
    clock.offset += 61
    assert login(client, phone).status_code == 401
    assert assert_rate_limited(login(client, phone)) > 60 * 55


def test_a_successful_login_is_not_counted(limited):
    client = limited(
        RATELIMIT_LOGIN_FAILURES_PER_PHONE="2 per minute",
        RATELIMIT_LOGIN_FAILURES_PER_IP="2 per minute",
    )
    phone = account(client)
    assert {login(client, phone, PASSWORD).status_code for _ in range(5)} == {200}
    assert [login(client, phone).status_code for _ in range(3)] == [401, 401, 429]


def test_failed_logins_are_limited_per_address_across_phones(limited):
    client = limited(RATELIMIT_LOGIN_FAILURES_PER_IP="3 per minute")
    statuses = [login(client, new_phone(), address="10.3.0.1").status_code for _ in range(3)]
    assert statuses == [401] * 3
    assert_rate_limited(login(client, new_phone(), address="10.3.0.1"))
    assert login(client, new_phone(), address="10.3.0.2").status_code == 401


def test_the_login_page_counts_with_the_api_and_answers_with_a_page(limited):
    """Failures on the page and through the API share the phone's budget; a form mistake (no
    password) is not a failed login."""
    client = limited(RATELIMIT_LOGIN_FAILURES_PER_PHONE="3 per minute")
    phone = account(client)
    page = {"phone": "0" + phone[3:], "password": WRONG}
    assert client.post("/login", data={"phone": phone, "password": ""}).status_code == 422
    assert client.post("/login", data=page, **ip("10.4.0.1")).status_code == 422
    assert login(client, phone, address="10.4.0.2").status_code == 401
    assert client.post("/login", data=page, **ip("10.4.0.3")).status_code == 422
    body = assert_rate_limited_page(client.post("/login?lang=en", data=page, **ip("10.4.0.4")))
    assert "Too many tries" in body
    assert_rate_limited(login(client, phone, PASSWORD, "10.4.0.5"))


# -- registration -------------------------------------------------------------------------


def test_registration_is_limited_per_address(limited):
    client = limited(RATELIMIT_REGISTER_PER_IP="2 per hour")
    account(client, "10.5.0.1")
    account(client, "10.5.0.1")
    assert_rate_limited(
        client.post(
            "/api/v1/auth/register",
            **ip("10.5.0.1"),
            json={"phone": new_phone(), "password": PASSWORD, "name": "Trần Bình"},
        )
    )
    assert_rate_limited_page(
        client.post(
            "/register?lang=en",
            **ip("10.5.0.1"),
            data={"phone": new_phone(), "password": PASSWORD, "name": "Trần Bình"},
        )
    )
    account(client, "10.5.0.2")


# -- claims -------------------------------------------------------------------------------


def test_claims_are_limited_per_volunteer_on_the_api_and_the_page(limited):
    """Every claim attempt counts against the volunteer's account, whatever the address;
    another volunteer on the same address is not held back."""
    client = limited(RATELIMIT_CLAIMS_PER_VOLUNTEER="3 per hour")
    phone, headers = volunteer(client)
    first, second = needs(client, 2)
    assert act(client, first, "claim", headers, "10.6.0.1").status_code == 200
    assert act(client, first, "release", headers).status_code == 200
    assert act(client, first, "claim", headers, "10.6.0.2").status_code == 200
    assert act(client, second, "claim", headers, "10.6.0.3").status_code == 409  # one at a time
    assert_rate_limited(act(client, second, "claim", headers, "10.6.0.4"))
    # The page shares the account's budget.
    pages = make_page_session(client, phone)
    assert_rate_limited_page(pages.post(f"/volunteer/claim/{second}?lang=en"))
    _, other = volunteer(client)
    assert act(client, second, "claim", other, "10.6.0.4").status_code == 200


def make_page_session(client, phone):
    response = client.post("/login", data={"phone": phone, "password": PASSWORD})
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    return client


# -- new volunteers: one claim at a time until they have helped once ------------------------


def test_a_new_volunteer_holds_one_claim_until_they_have_helped(limited):
    client = limited()
    _, headers = volunteer(client, capacity=3)
    first, second, third, fourth = needs(client, 4)
    assert act(client, first, "claim", headers).status_code == 200
    refused = act(client, second, "claim", headers)
    assert refused.status_code == 409
    assert refused.get_json()["error"]["code"] == "new_volunteer_limit"
    assert refused.get_json()["error"]["details"] == {"capacity": 1}
    # Releasing does not lift it; helping does.
    assert act(client, first, "release", headers).status_code == 200
    assert act(client, second, "claim", headers).status_code == 200
    assert act(client, third, "claim", headers).get_json()["error"]["code"] == (
        "new_volunteer_limit"
    )
    assert act(client, second, "helped", headers).status_code == 200
    assert [act(client, rid, "claim", headers).status_code for rid in (first, third, fourth)] == [
        200,
        200,
        200,
    ]
    assert act(client, needs(client, 1)[0], "claim", headers).get_json()["error"]["code"] == (
        "capacity_reached"
    )


def test_a_new_volunteer_with_capacity_one_is_told_about_capacity(limited):
    """With capacity 1 the volunteer's own choice is the limit, and the message says so."""
    client = limited()
    _, headers = volunteer(client, capacity=1)
    first, second = needs(client, 2)
    assert act(client, first, "claim", headers).status_code == 200
    assert act(client, second, "claim", headers).get_json()["error"]["code"] == (
        "capacity_reached"
    )


def test_the_volunteer_page_explains_the_new_volunteer_limit(limited):
    client = limited()
    phone, _ = volunteer(client, capacity=3)
    first, second = needs(client, 2)
    make_page_session(client, phone)
    response = client.post(f"/volunteer/claim/{first}?lang=en")
    assert response.headers["Location"].endswith(f"/volunteer/claims/{first}")
    response = client.post(f"/volunteer/claim/{second}?lang=en")
    assert response.status_code == 302 and response.headers["Location"].endswith(
        "/volunteer/needs"
    )
    page = client.get("/volunteer/needs?lang=en").get_data(as_text=True)
    assert "New volunteers help with one need at a time." in page


# -- switches and client addresses --------------------------------------------------------


def test_rate_limits_can_be_turned_off_for_load_tests(database_url):
    """RATELIMIT_ENABLED=false lets any number of requests through."""
    client = make_app(
        database_url, RATELIMIT_ENABLED=False, RATELIMIT_LOGIN_FAILURES_PER_PHONE="1 per day"
    ).test_client()
    phone = new_phone()
    assert {login(client, phone).status_code for _ in range(5)} == {401}


@pytest.mark.parametrize("backend", ["sqlite"])
@pytest.mark.parametrize("proxies", [0, 1])
def test_client_addresses_come_from_trusted_proxies_only(limited, proxies):
    """Behind one trusted proxy (PROXY_FIX_X_FOR=1) each client has its own budget; with no
    proxy trusted a client cannot escape its budget by sending X-Forwarded-For."""
    client = limited(RATELIMIT_REGISTER_PER_IP="1 per hour", PROXY_FIX_X_FOR=proxies)

    def register(forwarded_for):
        return client.post(
            "/api/v1/auth/register",
            **ip("127.0.0.1"),
            headers={"X-Forwarded-For": forwarded_for},
            json={"phone": new_phone(), "password": PASSWORD, "name": "An"},
        )

    assert register("203.0.113.1").status_code == 201
    assert register("203.0.113.1").status_code == 429
    assert register("203.0.113.2").status_code == (201 if proxies else 429)


# -- many processes, one Redis ------------------------------------------------------------


def _free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def redis_url(tmp_path):
    """A throwaway redis-server: temp dir, loopback, a free port, nothing written to disk."""
    server = shutil.which("redis-server")
    if server is None:  # a skip is a failure under CI (tests/conftest.py)
        pytest.skip(
            "redis-server is not installed; run `make test-setup` (apt package redis-server)"
        )
    import redis

    port = _free_port()
    log = open(tmp_path / "redis.log", "w")
    process = subprocess.Popen(
        [
            server,
            "--bind",
            "127.0.0.1",
            "--port",
            str(port),
            "--dir",
            str(tmp_path),
            "--save",
            "",
            "--appendonly",
            "no",
            "--daemonize",
            "no",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    client = redis.Redis(host="127.0.0.1", port=port, socket_timeout=1)
    deadline = time.monotonic() + 10
    try:
        while True:
            try:
                client.ping()
                break
            except redis.exceptions.ConnectionError:
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(
                        "redis-server did not start:\n" + (tmp_path / "redis.log").read_text()
                    )
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        client.close()
        process.terminate()
        process.wait(10)
        log.close()


class AppProcess:
    """The app in its own gunicorn process (as on another host), configured by environment."""

    def __init__(self, database_url, log_path, **environment):
        self.base = f"http://127.0.0.1:{_free_port()}"
        self.log_path = log_path
        self._log = open(log_path, "w")
        env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "RATELIMIT_ENABLED": "true",
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
            **environment,
        }
        self.process = subprocess.Popen(
            [
                str(GUNICORN),
                "-c",
                str(ROOT / "gunicorn.conf.py"),
                "-w",
                "1",
                "-b",
                self.base.removeprefix("http://"),
                "--access-logfile",
                "/dev/null",
                "--pythonpath",
                f"{ROOT},{ROOT / 'tests' / 'support'}",
                "serve:app",
            ],
            cwd=ROOT,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_ready(self, deadline):
        while True:
            if self.process.poll() is not None:
                pytest.fail(f"the app exited:\n{self.log_path.read_text()[-3000:]}")
            try:
                if requests.get(f"{self.base}/healthz", timeout=1).status_code == 200:
                    return
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"the app did not come up:\n{self.log_path.read_text()[-3000:]}")
            time.sleep(0.05)

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, 9)
                self.process.wait(5)
        self._log.close()


@pytest.mark.parametrize("backend", ["sqlite"])
@pytest.mark.parametrize("storage", ["redis", "memory"])
def test_a_limit_is_counted_across_processes_sharing_redis(
    request, database_url, tmp_path, storage
):
    """Two app processes with RATELIMIT_STORAGE_URI on one Redis count one budget: failures
    alternated between them run out together. With memory:// (the control) each process
    counts only its own."""
    uri = request.getfixturevalue("redis_url") if storage == "redis" else "memory://"
    if storage == "memory" and not CI and shutil.which("redis-server") is None:
        pytest.skip("the control only matters beside the Redis run")
    environment = {
        "RATELIMIT_STORAGE_URI": uri,
        "RATELIMIT_LOGIN_FAILURES_PER_PHONE": "3 per minute",
    }
    hosts = [
        AppProcess(database_url, tmp_path / f"app-{name}.log", **environment) for name in "ab"
    ]
    try:
        deadline = time.monotonic() + 30
        for host in hosts:
            host.wait_ready(deadline)
        body = {"phone": new_phone(), "password": WRONG}
        with requests.Session() as http:
            statuses = [
                http.post(f"{hosts[i % 2].base}{TOKEN}", json=body, timeout=10) for i in range(4)
            ]
    finally:
        for host in hosts:
            host.stop()
    assert [r.status_code for r in statuses[:3]] == [401, 401, 401]
    if storage == "redis":
        last = statuses[3]
        assert last.status_code == 429, last.text
        assert last.json()["error"]["code"] == "rate_limited"
        assert int(last.headers["Retry-After"]) == last.json()["error"]["details"]["retry_after"]
    else:
        assert statuses[3].status_code == 401  # the second process had seen only one
