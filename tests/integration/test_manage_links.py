"""Manage links: 256-bit, stored hashed, and replaceable by the requester when one leaks."""

from sqlalchemy import select


def test_manage_tokens_are_long_random_and_stored_only_as_hashes(app, post_request):
    from connect.extensions import db
    from connect.requests.models import HelpRequest

    tokens = [post_request()["manage_token"] for _ in range(3)]
    assert len(set(tokens)) == 3 and all(len(token) >= 43 for token in tokens)  # 256 bits
    with app.app_context():
        stored = db.session.execute(select(HelpRequest.manage_token_hash)).scalars().all()
        db.session.remove()
    assert not set(tokens) & set(stored) and all(len(h) == 64 for h in stored)


def test_a_new_manage_link_replaces_the_old_one(client, post_request):
    posted = post_request()
    url = f"/api/v1/requests/{posted['id']}"
    old = {"X-Manage-Token": posted["manage_token"]}
    response = client.post(f"{url}/manage-token", headers=old)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    new = {"X-Manage-Token": body["manage_token"]}
    assert body["manage_token"] != posted["manage_token"] and body["phone"] == posted["phone"]
    assert "phone" not in client.get(url, headers=old).get_json()
    assert client.patch(url, headers=old, json={"household_size": 2}).status_code == 403
    assert client.get(f"/m/{posted['manage_token']}").status_code == 404
    assert client.get(f"/m/{body['manage_token']}").status_code == 200
    assert client.patch(url, headers=new, json={"household_size": 2}).status_code == 200
    assert client.get(url, headers=new).get_json()["location"] == posted["location"]  # same blur


def test_only_the_requester_can_replace_the_link(
    client, post_request, create_user, create_volunteer
):
    posted = post_request()
    url = f"/api/v1/requests/{posted['id']}/manage-token"
    _, stranger = create_user()
    for headers in ({}, stranger, create_volunteer(), {"X-Manage-Token": "guess"}):
        response = client.post(url, headers=headers)
        assert response.status_code in (401, 403)
        assert "manage_token" not in (response.get_json().get("error", {}).get("details") or {})
    assert (
        client.post(
            "/api/v1/requests/999999/manage-token",
            headers={"X-Manage-Token": posted["manage_token"]},
        ).status_code
        == 404
    )


def test_an_account_holder_can_replace_the_link_of_their_own_request(client, create_user):
    from conftest import request_payload

    _, headers = create_user()
    posted = client.post("/api/v1/requests", headers=headers, json=request_payload()).get_json()
    response = client.post(f"/api/v1/requests/{posted['id']}/manage-token", headers=headers)
    assert response.status_code == 200 and response.get_json()["manage_token"]


def test_the_manage_page_gives_a_new_link_and_the_old_one_stops_working(client, post_request):
    import re

    posted = post_request()
    old = f"/m/{posted['manage_token']}"
    page = client.get(old).get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    response = client.post(f"{old}/new-link", data={"csrf_token": csrf})
    assert response.status_code == 302
    new = response.headers["Location"]
    assert new.startswith("/m/") and new != old
    assert client.get(new).status_code == 200
    assert client.get(old).status_code == 404
    assert client.post(f"{old}/new-link", data={"csrf_token": csrf}).status_code == 404
