"""Errors through the JSON API: one envelope, the right 4xx, nothing stored, never a 500."""

import json
import re
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from conftest import BAC_GIANG, new_phone, request_payload

API = "/api/v1/requests"
FUZZ = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


# -- helpers -----------------------------------------------------------------------------


def assert_envelope(response, status=None, code=None):
    """The response is the one error envelope (with this status and code); returns the error."""
    if status is not None:
        assert response.status_code == status, response.get_data(as_text=True)[:500]
    assert response.mimetype == "application/json", response.get_data(as_text=True)[:500]
    body = response.get_json()
    assert isinstance(body, dict) and set(body) == {"error"}, body
    error = body["error"]
    assert set(error) == {"code", "message", "details"}, error
    assert isinstance(error["code"], str) and re.fullmatch(r"[a-z_]+", error["code"]), error
    assert isinstance(error["message"], str) and error["message"].strip(), error
    assert isinstance(error["details"], dict), error
    if code is not None:
        assert error["code"] == code, error
    return error


def field_messages(response, *path, context=None):
    """The validation messages (flattened) for one field of a 422 answer."""
    node = assert_envelope(response, 422, "validation_error")["details"]["fields"]
    for key in path:
        assert key in node, (context, path, node)
        node = node[key]
    messages = []

    def collect(value):
        if isinstance(value, str):
            messages.append(value)
        elif isinstance(value, dict):
            for item in value.values():
                collect(item)
        else:
            for item in value:
                collect(item)

    collect(node)
    assert messages and all(m.strip() for m in messages), (context, node)
    return messages


def count(app, model_name):
    from connect.accounts.models import User
    from connect.extensions import db
    from connect.requests.models import HelpRequest

    model = {"help_requests": HelpRequest, "users": User}[model_name]
    with app.app_context():
        return db.session.execute(select(func.count()).select_from(model)).scalar_one()


def post_raw(client, body, content_type="application/json", **kwargs):
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return client.post(API, data=data, content_type=content_type, **kwargs)


def rejected(client, app, payload, *path):
    """Post a payload expecting 422 on one field; checks nothing was stored."""
    before = count(app, "help_requests")
    response = post_raw(client, payload)
    messages = field_messages(response, *path, context=payload)
    assert count(app, "help_requests") == before, payload
    return messages


# -- validation: 422 with per-field messages -----------------------------------------

BAD_LOCATIONS = [
    ({"lat": float("nan"), "lon": 106.2}, "lat"),
    ({"lat": 21.2, "lon": float("nan")}, "lon"),
    ({"lat": float("inf"), "lon": 106.2}, "lat"),
    ({"lat": 21.2, "lon": float("-inf")}, "lon"),
    ({"lat": 90.0001, "lon": 106.2}, "lat"),
    ({"lat": -91, "lon": 106.2}, "lat"),
    ({"lat": 21.2, "lon": 180.5}, "lon"),
    ({"lat": 21.2, "lon": -181}, "lon"),
    ({"lat": "north", "lon": 106.2}, "lat"),
    ({"lat": None, "lon": 106.2}, "lat"),
    ({"lat": 21.2}, "lon"),
]


def test_coordinates_must_be_finite_and_in_range(app, client):
    """NaN, Infinity, out-of-range, non-numeric or missing lat/lon are 422 on that coordinate."""
    for location, bad in BAD_LOCATIONS:
        rejected(client, app, request_payload(location=location), "location", bad)


def test_nan_and_infinity_as_json_literals_are_422(app, client):
    """The non-standard JSON literals NaN / Infinity are refused per field, not stored."""
    body = json.dumps(request_payload()).replace(
        '"location": {"lat": 21.2731, "lon": 106.1946}',
        '"location": {"lat": NaN, "lon": -Infinity}',
    )
    assert "NaN" in body
    response = post_raw(client, body)
    assert field_messages(response, "location", "lat")
    assert field_messages(response, "location", "lon")
    assert count(app, "help_requests") == 0


def test_categories_must_be_known_and_not_empty(app, client):
    """Unknown categories, an empty list or a non-list are 422 on categories."""
    for categories in (["petrol"], ["food", "weapons"], [], "food", ["food", 3], None):
        rejected(client, app, request_payload(categories=categories), "categories")


def test_description_is_required_and_at_most_2000_characters(app, client):
    """Up to 2,000 characters is fine; longer, empty or blank is 422."""
    ok = post_raw(client, request_payload(description="d" * 2000))
    assert ok.status_code == 201, ok.get_json()
    for description in ("d" * 2001, "", "   ", None, 42):
        rejected(client, app, request_payload(description=description), "description")
    assert count(app, "help_requests") == 1


def test_household_size_is_a_whole_number_from_1_to_50(app, client):
    """household_size must be a JSON integer from 1 to 50: not 0, 51, "3", 3.5 or true."""
    for size in (0, 51, -1, "3", 3.5, 3.0, True, None, [3]):
        rejected(client, app, request_payload(household_size=size), "household_size")
    for size in (1, 50):
        response = post_raw(client, request_payload(household_size=size))
        assert response.status_code == 201, response.get_json()


def test_urgency_is_normal_or_urgent(app, client):
    """Any urgency other than normal or urgent is 422."""
    for urgency in ("high", "URGENT", "", 1, None):
        rejected(client, app, request_payload(urgency=urgency), "urgency")


BAD_PHONES = [
    "024 3825 1234",
    "02438251234",
    "0243825123",
    "091234567",
    "09123456789",
    "09123abcde",
    "phone",
    "+1 415 555 0100",
    "+14155550100",
    "+84 24 3825 1234",
    "0012345678",
    "",
    912345678,
    None,
]


def test_phone_must_be_a_vietnamese_mobile(app, client):
    """Landlines (024...), wrong lengths, letters and foreign (+1) numbers are 422 on phone."""
    for phone in BAD_PHONES:
        messages = rejected(client, app, request_payload(phone=phone), "phone")
        if isinstance(phone, str) and phone:
            assert any("+84" in m or "0x" in m for m in messages), (phone, messages)


def test_phone_is_accepted_in_the_usual_written_forms(client):
    """Spaces, dots, dashes and +84 all normalise to one E.164 number."""
    for written in (
        "0912345678",
        "0912 345 678",
        "091.234.5678",
        "091-234-5678",
        "+84912345678",
        "+84 912 345 678",
    ):
        response = post_raw(client, request_payload(phone=written))
        assert response.status_code == 201, (written, response.get_json())
        assert response.get_json()["phone"] == "+84912345678"
        # One open request per phone: close this one before the next spelling posts.
        assert (
            client.post(
                f"/api/v1/requests/{response.get_json()['id']}/cancel",
                headers={"X-Manage-Token": response.get_json()["manage_token"]},
            ).status_code
            == 200
        )


def test_unknown_fields_are_rejected(app, client):
    """Fields the API does not know are 422, at the top level and inside location."""
    assert rejected(client, app, request_payload(priority="high"), "priority")
    assert rejected(
        client,
        app,
        request_payload(location={"lat": 21.2, "lon": 106.2, "alt": 3}),
        "location",
        "alt",
    )
    assert rejected(client, app, request_payload(status="confirmed"), "status")


def test_every_missing_required_field_is_named(app, client):
    """An empty object is 422 naming each required field."""
    response = post_raw(client, {})
    for name in (
        "categories",
        "description",
        "household_size",
        "location",
        "contact_name",
        "phone",
    ):
        assert field_messages(response, name)
    assert count(app, "help_requests") == 0


# -- bodies: size, type, syntax ------------------------------------------------------


def test_bodies_over_64_kb_are_413(app, client):
    """A body over 64 KB is 413 payload_too_large, whatever it holds."""
    big = json.dumps(request_payload(description="x" * (65 * 1024)))
    assert_envelope(post_raw(client, big), 413, "payload_too_large")
    assert_envelope(
        client.put("/api/v1/volunteers/me", data=big, content_type="application/json"),
        413,
        "payload_too_large",
    )
    assert count(app, "help_requests") == 0


def test_non_json_content_types_are_415(app, client):
    """A body sent as anything but application/json is 415, even if it is JSON text."""
    for content_type, body in [
        ("application/x-www-form-urlencoded", "categories=food&description=x"),
        ("text/plain", json.dumps(request_payload())),
        ("multipart/form-data; boundary=xyz", "--xyz\r\n\r\nfood\r\n--xyz--\r\n"),
        ("application/xml", "<request/>"),
    ]:
        assert_envelope(post_raw(client, body, content_type), 415, "unsupported_media_type")
    assert_envelope(
        client.put("/api/v1/volunteers/me", data="x", content_type="text/plain"),
        415,
        "unsupported_media_type",
    )
    assert count(app, "help_requests") == 0


def test_malformed_json_is_400(app, client):
    """Text that is not JSON (or not UTF-8) is 400 in the envelope."""
    for body in (
        "{bad",
        '{"categories": ["food"],}',
        "{'categories': ['food']}",
        '{"a": 1} trailing',
        b"\xff\xfe\x00{",
        "\x00",
    ):
        response = post_raw(client, body)
        assert response.status_code == 400, (body, response.get_data(as_text=True))
        assert_envelope(response)
    assert count(app, "help_requests") == 0


def test_json_that_is_not_an_object_is_rejected_not_500(app, client):
    """An array, string, number or null instead of an object is a 400 or 422 envelope."""
    for body in ("[]", json.dumps([request_payload()]), '"food"', "42", "null", "true"):
        response = post_raw(client, body)
        assert response.status_code in (400, 422), (body, response.get_data(as_text=True))
        assert_envelope(response)
    assert count(app, "help_requests") == 0


def test_deeply_nested_json_is_400_not_500(app, client):
    """A small body of deeply nested arrays is bad input (400), not a server error."""
    body = '{"categories": ' + "[" * 20_000 + "]" * 20_000 + "}"
    assert len(body) < 64 * 1024
    response = post_raw(client, body)
    assert count(app, "help_requests") == 0
    assert response.status_code in (400, 422)
    assert_envelope(response)


def test_huge_integer_literal_is_rejected_not_500(app, client):
    """A number with thousands of digits is bad input, not a server error."""
    body = json.dumps(request_payload()).replace(
        '"household_size": 4', '"household_size": 1' + "0" * 5000
    )
    response = post_raw(client, body)
    assert count(app, "help_requests") == 0
    assert response.status_code in (400, 422)
    assert_envelope(response)


def test_lone_surrogates_in_request_text_are_422_not_500(app, client):
    """A lone surrogate escape in a text field is a validation error, not a server error."""
    for field in ("description", "contact_name", "address"):
        body = json.dumps(request_payload(**{field: "Cần gạo \ud800"}))
        assert "\\ud800" in body
        response = post_raw(client, body)
        assert count(app, "help_requests") == 0
        field_messages(response, field, context=field)


def test_lone_surrogate_in_a_password_is_rejected_not_500(app, client):
    """Register and token with an unencodable password answer 4xx, never 500."""
    body = json.dumps({"phone": new_phone(), "password": "mat-khau-\udfff", "name": "An"})
    register = client.post("/api/v1/auth/register", data=body, content_type="application/json")
    token = client.post(
        "/api/v1/auth/token",
        data=body.replace(', "name": "An"', ""),
        content_type="application/json",
    )
    assert count(app, "users") == 0
    assert 400 <= register.status_code < 500 and 400 <= token.status_code < 500
    assert_envelope(register)
    assert_envelope(token)


# -- routes and methods ------------------------------------------------------------------


def test_unknown_routes_are_404_in_the_envelope(client):
    """Paths that do not exist are 404 not_found in the envelope."""
    for path in (
        "/api/v1/nope",
        "/api/v2/requests",
        "/nope",
        "/api/v1/requests/abc",
        "/api/v1/requests/1/explode",
        "/api/v1/requests/-1",
        "/api/v1/requests/1.5",
    ):
        assert_envelope(client.get(path), 404, "not_found")
        assert_envelope(client.post(path, json={}), 404, "not_found")


def test_unknown_request_ids_are_404_in_the_envelope(client, create_user, post_request):
    """Every per-request endpoint answers 404 for an id that was never issued."""
    posted = post_request()
    _, user = create_user()
    missing = posted["id"] + 1000
    assert_envelope(client.get(f"{API}/{missing}"), 404, "not_found")
    for action in ("release", "helped", "confirm", "cancel"):
        response = client.post(f"{API}/{missing}/{action}", headers=user)
        assert_envelope(response, 404, "not_found")
    for action in ("confirm", "cancel"):
        response = client.post(
            f"{API}/{missing}/{action}", headers={"X-Manage-Token": posted["manage_token"]}
        )
        assert_envelope(response, 404, "not_found")


def test_huge_request_ids_are_404_not_500(client, create_user):
    """An id too large for any row (2**31, 2**63, 10**30) is simply not found."""
    _, user = create_user()
    for request_id in (2**31, 2**63, 10**30):
        assert_envelope(client.get(f"{API}/{request_id}"), 404, "not_found")
        assert_envelope(client.post(f"{API}/{request_id}/release", headers=user), 404, "not_found")
        assert_envelope(client.post(f"{API}/{request_id}/cancel"), 404, "not_found")


def test_wrong_methods_are_405_in_the_envelope(client):
    """A known path with the wrong method is 405 method_not_allowed, with Allow."""
    for method, path in [
        ("put", f"{API}/nearby"),
        ("delete", API),
        ("get", API),
        ("get", f"{API}/1/claim"),
        ("delete", f"{API}/1"),
        ("patch", "/api/v1/stats"),
        ("get", "/api/v1/auth/register"),
        ("put", "/api/v1/auth/token"),
    ]:
        response = getattr(client, method)(path)
        assert_envelope(response, 405, "method_not_allowed")
        assert response.headers.get("Allow"), (method, path)


def test_nearby_query_errors_name_each_field(client):
    """Bad nearby parameters are 422 with a message per parameter."""
    response = client.get(
        f"{API}/nearby",
        query_string={
            "lat": "NaN",
            "lon": "Infinity",
            "radius_m": "far",
            "limit": "1.5",
            "categories": "food,petrol",
        },
    )
    for name in ("lat", "lon", "radius_m", "limit", "categories"):
        assert field_messages(response, name)
    assert field_messages(client.get(f"{API}/nearby"), "lat")
    assert field_messages(client.get(f"{API}/nearby?lat=91&lon=0"), "lat")
    assert field_messages(client.get(f"{API}/nearby?lat=0&lon=-180.01"), "lon")


# -- accounts and tokens -------------------------------------------------------------


def register(client, phone=None, password="mat-khau-1", name="Lê Văn Cường", **extra):
    return client.post(
        "/api/v1/auth/register",
        json={"phone": phone or new_phone(), "password": password, "name": name, **extra},
    )


def token_for(client, phone, password="mat-khau-1"):
    return client.post("/api/v1/auth/token", json={"phone": phone, "password": password})


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def test_register_creates_a_resident_account(client):
    """Registering answers 201 with the account (never the password), as a resident."""
    response = register(client, phone="0987 654 321", name="Lê Văn Cường")
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["phone"] == "+84987654321" and body["name"] == "Lê Văn Cường"
    assert body["role"] == "resident" and isinstance(body["id"], int)
    assert not {"password", "password_hash"} & set(body)


def test_register_with_a_taken_phone_is_409_phone_taken(app, client):
    """One account per phone, however the number is written."""
    assert register(client, phone="+84987654321").status_code == 201
    assert_envelope(register(client, phone="+84987654321"), 409, "phone_taken")
    assert_envelope(register(client, phone="0987 654 321"), 409, "phone_taken")
    assert count(app, "users") == 1


def test_register_rejects_bad_input_without_storing(app, client):
    """Short passwords, bad phones, missing names and self-chosen roles are 422."""
    assert field_messages(register(client, password="short7!"), "password")
    assert field_messages(register(client, phone="024 3825 1234"), "phone")
    assert field_messages(register(client, name=""), "name")
    assert field_messages(register(client, role="admin"), "role")
    assert field_messages(client.post("/api/v1/auth/register", json={}), "phone")
    assert count(app, "users") == 0


def test_token_is_issued_for_the_right_password(client):
    """Phone and password give a bearer token (in either phone form)."""
    assert register(client, phone="+84987654321").status_code == 201
    response = token_for(client, "0987654321")
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert re.fullmatch(r"[A-Za-z0-9_-]{22,}", body["token"])
    assert body["role"] == "resident"


def test_wrong_password_and_unknown_phone_get_the_same_401(client):
    """A login failure does not tell whether the phone has an account."""
    phone = new_phone()
    assert register(client, phone=phone).status_code == 201
    wrong_password = assert_envelope(token_for(client, phone, "not-the-password"), 401)
    unknown_phone = assert_envelope(token_for(client, new_phone(), "mat-khau-1"), 401)
    assert wrong_password == unknown_phone


def test_bearer_token_authenticates_auth_me(client):
    """GET /auth/me with the bearer token answers the caller's account; without it, 401."""
    phone = new_phone()
    user = register(client, phone=phone).get_json()
    token = token_for(client, phone).get_json()["token"]
    me = client.get("/api/v1/auth/me", headers=bearer(token))
    assert me.status_code == 200
    assert me.get_json()["id"] == user["id"] and me.get_json()["phone"] == phone
    assert_envelope(client.get("/api/v1/auth/me"), 401, "unauthorized")


def test_revoked_token_is_401(client):
    """DELETE /auth/token revokes the token it was sent with, and only that one."""
    phone = new_phone()
    register(client, phone=phone)
    revoked, kept = (token_for(client, phone).get_json()["token"] for _ in range(2))
    response = client.delete("/api/v1/auth/token", headers=bearer(revoked))
    assert response.status_code == 204
    assert_envelope(client.get("/api/v1/auth/me", headers=bearer(revoked)), 401, "invalid_token")
    assert_envelope(client.delete("/api/v1/auth/token", headers=bearer(revoked)), 401)
    assert client.get("/api/v1/auth/me", headers=bearer(kept)).status_code == 200
    assert_envelope(client.delete("/api/v1/auth/token"), 401, "unauthorized")


GARBAGE_AUTHORIZATION = [
    "Bearer",
    "Bearer ",
    "Bearer    ",
    "Basic dXNlcjpwYXNzd29yZA==",
    "Token abc",
    "abc",
    "Bearer not-a-real-token",
    "Bearer a b c",
    "Bearer " + "x" * 4000,
    "Bearer çàö",
    "Bearer\tabc",
]


def test_garbage_authorization_headers_are_401_in_the_envelope(client, post_request):
    """Malformed or unknown credentials are 401, never 500, wherever a token is read."""
    posted = post_request()
    for header in GARBAGE_AUTHORIZATION:
        headers = {"Authorization": header}
        assert_envelope(client.get("/api/v1/auth/me", headers=headers), 401)
        assert_envelope(client.post(f"{API}/{posted['id']}/claim", headers=headers), 401)
        assert_envelope(client.get(f"{API}/{posted['id']}", headers=headers), 401)
        assert_envelope(client.get("/api/v1/volunteers/me", headers=headers), 401)


# -- fuzz: client input never causes a 500 ---------------------------------------------

# Lone surrogates have their own tests above.
_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=20)
_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | _text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_text, inner, max_size=4),
    max_leaves=12,
)
_field_names = list(request_payload())


def _check_post(app, client, body):
    before = count(app, "help_requests")
    response = client.post(API, data=json.dumps(body), content_type="application/json")
    assert response.status_code < 500, (body, response.get_data(as_text=True)[:300])
    if response.status_code != 201:
        assert_envelope(response)
        assert count(app, "help_requests") == before, body


@FUZZ
@given(body=_json_values)
def test_fuzz_posting_any_json_value_never_500(app, client, body):
    """Whatever JSON value is posted, the answer is a 4xx envelope (or 201), never a 500."""
    _check_post(app, client, body)


@FUZZ
@given(
    replaced=st.dictionaries(st.sampled_from(_field_names), _json_values, min_size=1),
    dropped=st.sets(st.sampled_from(_field_names), max_size=3),
    extra=st.dictionaries(_text, _json_values, max_size=1),
)
def test_fuzz_request_fields_of_random_types_never_500(app, client, replaced, dropped, extra):
    """A request with random values for some fields is 201 or a 4xx envelope, never a 500."""
    body = {**request_payload(), **extra, **replaced}
    for name in dropped:
        body.pop(name, None)
    _check_post(app, client, body)


_query_values = st.one_of(
    _text,
    st.integers().map(str),
    st.floats().map(str),
    st.floats(-91, 91).map(str),
    st.lists(st.sampled_from(["food", "medicine", "other", "x", ""]), max_size=3).map(",".join),
)
_query_keys = st.sampled_from(["lat", "lon", "radius_m", "limit", "categories"]) | _text


@FUZZ
@given(
    params=st.lists(st.tuples(_query_keys, _query_values), max_size=7),
    raw=st.one_of(st.none(), _text),
)
def test_fuzz_nearby_query_strings_never_500(client, params, raw):
    """Random nearby query strings answer 200 with items or a 4xx envelope, never a 500."""
    if raw is not None:
        query = quote(raw, safe="=&,;+%")
    else:
        query = "&".join(f"{quote(k)}={quote(v)}" for k, v in params)
    response = client.get(f"{API}/nearby?{query}")
    assert response.status_code < 500, (query, response.get_data(as_text=True)[:300])
    if response.status_code == 200:
        assert isinstance(response.get_json()["items"], list)
    else:
        assert_envelope(response)


@pytest.fixture
def requests_around_the_world(post_request):
    """A few open requests at awkward places: poles, both sides of the antimeridian, Bac Giang."""
    for at in (
        BAC_GIANG,
        (89.999, 10.0),
        (-89.999, -170.0),
        (0.0, 179.9999),
        (0.0, -179.9999),
        (21.2731, 106.1947),
        (-33.86, 151.21),
    ):
        post_request(at=at)


@FUZZ
@given(
    lat=st.floats(-90, 90),
    lon=st.floats(-180, 180),
    radius_m=st.integers(1, 50_000),
    limit=st.integers(1, 200),
)
def test_fuzz_valid_nearby_queries_anywhere_answer_200(
    client, requests_around_the_world, lat, lon, radius_m, limit
):
    """Any valid point on Earth, radius and limit gives a 200 list (poles, antimeridian too)."""
    response = client.get(
        f"{API}/nearby",
        query_string={"lat": repr(lat), "lon": repr(lon), "radius_m": radius_m, "limit": limit},
    )
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    items = response.get_json()["items"]
    assert len(items) <= limit
    assert [i["distance_m"] for i in items] == sorted(i["distance_m"] for i in items)
