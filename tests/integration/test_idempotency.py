"""Idempotent posting: a POST retried with the same Idempotency-Key answers the first success
again and changes nothing, on both databases; the answer goes only to the same caller."""

import uuid
from datetime import timedelta

from sqlalchemy import func, insert, inspect, select

from connect import clock as clock_module
from connect.extensions import db
from connect.requests.models import HelpRequest, RequestEvent
from connect.web import idempotency
from connect.web.idempotency import IdempotencyKey

from conftest import (
    _clone_postgis,
    ensure_demo_areas,
    fire_together,
    make_app,
    request_payload,
)

API = "/api/v1/requests"
REPLAYED = "Idempotent-Replayed"


def key():
    return str(uuid.uuid4())


def keyed(idempotency_key, headers=None):
    return {**(headers or {}), "Idempotency-Key": idempotency_key}


def assert_error(response, status, code):
    body = response.get_json()
    assert response.status_code == status, (response.status_code, body)
    assert body["error"]["code"] == code, body
    return body["error"]


def count(app, model, *where):
    with app.app_context():
        return db.session.execute(
            select(func.count()).select_from(model).where(*where)
        ).scalar_one()


def events(app, request_id, to_status):
    return count(
        app,
        RequestEvent,
        RequestEvent.request_id == request_id,
        RequestEvent.to_status == to_status,
    )


# -- posting a request ------------------------------------------------------------------------


def test_a_retried_post_answers_the_first_result_and_creates_one_request(app, client):
    payload, k = request_payload(), key()
    first = client.post(API, json=payload, headers=keyed(k))
    again = client.post(API, json=payload, headers=keyed(k))
    assert first.status_code == again.status_code == 201
    assert again.get_json() == first.get_json()
    assert REPLAYED not in first.headers and again.headers[REPLAYED] == "true"
    assert count(app, HelpRequest) == 1
    assert events(app, first.get_json()["id"], "open") == 1
    # The manage token answered again is the one that works.
    token = again.get_json()["manage_token"]
    mine = client.get(f"{API}/{first.get_json()['id']}", headers={"X-Manage-Token": token})
    assert mine.get_json()["phone"] == payload["phone"]


def test_the_same_body_in_another_key_order_or_spacing_is_the_same_request(app, client):
    payload, k = request_payload(), key()
    first = client.post(API, json=payload, headers=keyed(k))
    reordered = dict(reversed(list(payload.items())))
    again = client.post(API, json=reordered, headers=keyed(k))
    assert again.status_code == 201 and again.headers[REPLAYED] == "true"
    assert again.get_json()["id"] == first.get_json()["id"]
    assert count(app, HelpRequest) == 1


def test_without_a_key_a_repeated_post_behaves_as_before(app, client):
    payload = request_payload()
    assert client.post(API, json=payload).status_code == 201
    again = client.post(API, json=payload)
    assert_error(again, 409, "duplicate_request")
    assert REPLAYED not in again.headers
    assert count(app, HelpRequest) == 1


def test_the_same_key_with_another_body_is_refused_and_creates_nothing(app, client):
    k = key()
    assert client.post(API, json=request_payload(), headers=keyed(k)).status_code == 201
    other = client.post(API, json=request_payload(), headers=keyed(k))
    error = assert_error(other, 422, "idempotency_key_reused")
    assert "manage_token" not in str(error)
    assert count(app, HelpRequest) == 1


def test_an_error_is_not_stored_so_the_corrected_retry_goes_through(app, client):
    payload, k = request_payload(), key()
    bad = client.post(API, json={**payload, "household_size": 0}, headers=keyed(k))
    assert_error(bad, 422, "validation_error")
    fixed = client.post(API, json=payload, headers=keyed(k))
    assert fixed.status_code == 201 and REPLAYED not in fixed.headers
    assert count(app, HelpRequest) == 1


def test_concurrent_posts_with_one_key_create_exactly_one_request(app):
    payload, k = request_payload(), key()
    results = fire_together(app, [(API, keyed(k), payload)] * 6)
    assert all(status in (201, 409) for status, _ in results), results
    created = {body["id"] for status, body in results if status == 201}
    assert len(created) == 1, results
    # A request that could not wait for the first one is told to retry, never a duplicate.
    assert all(
        body["error"]["code"] == "idempotency_key_in_progress"
        for status, body in results
        if status == 409
    ), results
    assert count(app, HelpRequest) == 1
    assert events(app, created.pop(), "open") == 1


def test_a_post_kept_waiting_too_long_by_the_first_with_its_key_is_told_to_retry(
    request, monkeypatch
):
    # PostgreSQL only: there the second request waits on the first one's uncommitted key row
    # (bounded by LOCK_WAIT); SQLite queues every writer behind its busy timeout instead.
    app = make_app(
        _clone_postgis(
            request.getfixturevalue("pg_cluster"), request.getfixturevalue("postgis_template")
        )
    )
    monkeypatch.setattr(idempotency, "LOCK_WAIT", "300ms")
    client, payload, k = app.test_client(), request_payload(), key()
    with app.test_request_context(API, method="POST", json=payload, headers=keyed(k)):
        scope_hash = idempotency._digest(
            idempotency._secrets()[0], b"idempotency-scope", idempotency._scope(k)
        )
        first = db.engine.connect()  # the first request, still running
    now = clock_module.now()
    try:
        first.execute(
            insert(IdempotencyKey).values(
                scope_hash=scope_hash,
                request_hash="0" * 64,
                created_at=now,
                expires_at=now + timedelta(days=1),
            )
        )
        waiting = client.post(API, json=payload, headers=keyed(k))
        assert_error(waiting, 409, "idempotency_key_in_progress")
        assert waiting.headers["Retry-After"] == "1"
    finally:
        first.rollback()
        first.close()
    # The first one failed (rolled back): the retry runs.
    assert client.post(API, json=payload, headers=keyed(k)).status_code == 201
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


# -- the caller -------------------------------------------------------------------------------


def test_another_caller_with_the_same_key_never_gets_the_first_answer(
    app, client, post_request, create_volunteer
):
    posted = post_request()
    first, second = create_volunteer(), create_volunteer()
    k = key()
    claimed = client.post(f"{API}/{posted['id']}/claim", headers=keyed(k, first))
    assert claimed.status_code == 200 and claimed.get_json()["phone"]
    # The other volunteer's claim runs for them: the request is taken.
    other = client.post(f"{API}/{posted['id']}/claim", headers=keyed(k, second))
    assert_error(other, 409, "claim_conflict")
    assert REPLAYED not in other.headers and "phone" not in str(other.get_json())


def test_an_account_does_not_get_an_anonymous_post_answered_under_its_key(
    app, client, create_user
):
    payload, k = request_payload(), key()
    assert client.post(API, json=payload, headers=keyed(k)).status_code == 201
    _, account = create_user()
    other = client.post(API, json=payload, headers=keyed(k, account))
    # Posted afresh for the account: the phone is taken, and its request is not named to it.
    error = assert_error(other, 409, "duplicate_request")
    assert "request_id" not in error["details"] and REPLAYED not in other.headers


def test_a_manage_token_is_part_of_the_caller(app, client, post_request, create_volunteer):
    posted = post_request()
    volunteer = create_volunteer()
    client.post(f"{API}/{posted['id']}/claim", headers=volunteer)
    client.post(f"{API}/{posted['id']}/helped", headers=volunteer)
    k = key()
    owner = {"X-Manage-Token": posted["manage_token"]}
    confirmed = client.post(f"{API}/{posted['id']}/confirm", headers=keyed(k, owner))
    assert confirmed.status_code == 200 and confirmed.get_json()["phone"]
    # The key alone, without the token, is another (anonymous) caller: no replay.
    stranger = client.post(f"{API}/{posted['id']}/confirm", headers=keyed(k))
    assert stranger.status_code in (401, 403), stranger.get_json()
    assert REPLAYED not in stranger.headers and "phone" not in str(stranger.get_json())
    again = client.post(f"{API}/{posted['id']}/confirm", headers=keyed(k, owner))
    assert again.headers[REPLAYED] == "true" and again.get_json() == confirmed.get_json()


# -- the claim lifecycle ---------------------------------------------------------------------


def test_a_retried_claim_answers_the_first_200_not_claim_conflict(
    app, client, post_request, create_volunteer
):
    posted = post_request()
    volunteer = create_volunteer()
    k = key()
    first = client.post(f"{API}/{posted['id']}/claim", headers=keyed(k, volunteer))
    again = client.post(f"{API}/{posted['id']}/claim", headers=keyed(k, volunteer))
    assert first.status_code == again.status_code == 200
    assert again.get_json() == first.get_json() and again.headers[REPLAYED] == "true"
    assert events(app, posted["id"], "claimed") == 1
    # Without the key the same tap is a second claim, which conflicts.
    assert_error(
        client.post(f"{API}/{posted['id']}/claim", headers=volunteer), 409, "claim_conflict"
    )


def test_release_and_helped_retried_change_the_request_once(
    app, client, post_request, create_volunteer
):
    posted = post_request()
    volunteer = create_volunteer()
    path = f"{API}/{posted['id']}"
    release = key()
    assert client.post(f"{path}/claim", headers=volunteer).status_code == 200
    assert client.post(f"{path}/release", headers=keyed(release, volunteer)).status_code == 200
    # Claimed again meanwhile: a retried release still answers its first result.
    assert client.post(f"{path}/claim", headers=volunteer).status_code == 200
    retried = client.post(f"{path}/release", headers=keyed(release, volunteer))
    assert retried.status_code == 200 and retried.headers[REPLAYED] == "true"
    assert retried.get_json()["status"] == "open"
    assert client.get(path, headers=volunteer).get_json()["status"] == "claimed"
    assert events(app, posted["id"], "open") == 2  # posted, released once
    helped = key()
    for _ in range(2):
        assert client.post(f"{path}/helped", headers=keyed(helped, volunteer)).status_code == 200
    assert events(app, posted["id"], "helped") == 1


# -- coordinators ----------------------------------------------------------------------------


def test_hotline_intake_and_assignment_retried_act_once(
    app, client, create_staff, create_volunteer
):
    ensure_demo_areas(app)
    coordinator = create_staff()
    intake, payload = key(), request_payload()
    entered = [
        client.post("/api/v1/console/requests", json=payload, headers=keyed(intake, coordinator))
        for _ in range(2)
    ]
    assert [r.status_code for r in entered] == [201, 201]
    assert entered[1].get_json() == entered[0].get_json()
    assert count(app, HelpRequest) == 1
    request_id = entered[0].get_json()["id"]
    volunteer = create_volunteer()
    volunteer_id = client.get("/api/v1/auth/me", headers=volunteer).get_json()["id"]
    assign = key()
    answers = [
        client.post(
            f"{API}/{request_id}/assign",
            json={"volunteer_id": volunteer_id},
            headers=keyed(assign, coordinator),
        )
        for _ in range(2)
    ]
    assert [r.status_code for r in answers] == [200, 200], answers[1].get_json()
    assert answers[1].get_json() == answers[0].get_json()
    assert answers[1].headers[REPLAYED] == "true"
    assert events(app, request_id, "claimed") == 1


# -- keys -------------------------------------------------------------------------------------


def test_a_malformed_key_is_refused_and_nothing_is_posted(app, client):
    for bad in ("", "x" * 256, "caf\xe9", "tab\there"):
        response = client.post(API, json=request_payload(), headers={"Idempotency-Key": bad})
        assert_error(response, 400, "invalid_idempotency_key")
    longest = client.post(API, json=request_payload(), headers=keyed("~" * 255))
    assert longest.status_code == 201
    assert count(app, HelpRequest) == 1


def test_an_expired_key_is_a_new_key_and_purge_deletes_it(app, client, runner, clock):
    k = key()
    first = client.post(API, json=request_payload(), headers=keyed(k))
    assert first.status_code == 201
    assert "idempotency keys removed: 0" in runner.invoke(args=["connect", "purge"]).output
    clock.advance(seconds=app.config["IDEMPOTENCY_KEY_TTL_SECONDS"] + 1)
    # Past its expiry the key answers nothing: another request under it is posted.
    other = client.post(API, json=request_payload(), headers=keyed(k))
    assert other.status_code == 201 and REPLAYED not in other.headers
    assert other.get_json()["id"] != first.get_json()["id"]
    clock.advance(seconds=app.config["IDEMPOTENCY_KEY_TTL_SECONDS"] + 1)
    output = runner.invoke(args=["connect", "purge"]).output
    assert "idempotency keys removed: 1" in output, output
    assert count(app, IdempotencyKey) == 0


def test_stored_answers_hold_neither_the_key_nor_readable_personal_data(app, client):
    payload, k = request_payload(contact_name="Lê Thị Hoa"), key()
    posted = client.post(API, json=payload, headers=keyed(k)).get_json()
    with app.app_context():
        (row,) = db.session.execute(select(IdempotencyKey)).scalars().all()
        stored = b" ".join([row.scope_hash.encode(), row.request_hash.encode(), row.response])
        status, lifetime = row.status_code, row.expires_at - row.created_at
    for secret in (k, posted["manage_token"], payload["phone"], "Lê Thị Hoa", "Trần Phú"):
        assert secret.encode() not in stored, secret
    assert status == 201
    assert lifetime == timedelta(seconds=app.config["IDEMPOTENCY_KEY_TTL_SECONDS"])


def test_the_api_description_documents_the_header_on_each_keyed_operation(client):
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    keyed_operations = [
        "/api/v1/requests",
        "/api/v1/requests/{request_id}/claim",
        "/api/v1/requests/{request_id}/release",
        "/api/v1/requests/{request_id}/helped",
        "/api/v1/requests/{request_id}/confirm",
        "/api/v1/console/requests",
        "/api/v1/requests/{request_id}/assign",
    ]
    for path in keyed_operations:
        operation = paths[path]["post"]
        names = [p["name"] for p in operation.get("parameters", []) if p["in"] == "header"]
        assert names == ["Idempotency-Key"], path
        success = next(
            answer for status, answer in operation["responses"].items() if status.startswith("2")
        )
        assert REPLAYED in success["headers"], path
    assert "parameters" not in paths["/api/v1/requests/{request_id}/cancel"]["post"]


def test_the_idempotency_migration_goes_down_and_up(database_url):
    from flask_migrate import downgrade, upgrade

    app = make_app(database_url)
    try:
        with app.app_context():
            downgrade(revision="0004")
            assert "idempotency_keys" not in inspect(db.engine).get_table_names()
            upgrade()
            assert "idempotency_keys" in inspect(db.engine).get_table_names()
            db.session.remove()
        client, payload, k = app.test_client(), request_payload(), key()
        answers = [client.post(API, json=payload, headers=keyed(k)) for _ in range(2)]
        assert [a.status_code for a in answers] == [201, 201]
        assert answers[1].headers[REPLAYED] == "true"
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
