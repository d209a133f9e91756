"""Rate limits are on by default, answer 429 in the envelope, and can be turned off."""
import pytest

from tests.conftest import make_app, new_phone


@pytest.mark.parametrize("backend", ["sqlite"])
def test_login_attempts_are_limited_with_retry_after(database_url):
    """The eleventh token request in a minute from one address is refused with 429."""
    client = make_app(database_url, RATELIMIT_ENABLED=True).test_client()
    body = {"phone": new_phone(), "password": "sai-mat-khau"}
    statuses = [client.post("/api/v1/auth/token", json=body).status_code for _ in range(11)]
    assert statuses == [401] * 10 + [429]
    refused = client.post("/api/v1/auth/token", json=body)
    assert refused.status_code == 429
    assert refused.get_json()["error"]["code"] == "rate_limited"
    assert int(refused.headers["Retry-After"]) > 0


@pytest.mark.parametrize("backend", ["sqlite"])
def test_rate_limits_can_be_turned_off_for_load_tests(database_url):
    """RATELIMIT_ENABLED=false lets any number of requests through."""
    client = make_app(database_url, RATELIMIT_ENABLED=False).test_client()
    body = {"phone": new_phone(), "password": "sai-mat-khau"}
    assert {client.post("/api/v1/auth/token", json=body).status_code
            for _ in range(15)} == {401}
