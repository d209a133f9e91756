"""Volunteers who turn texts on get "a coordinator gave you a need" and "your time is nearly up"
by SMS, naming the need's categories and distance and linking to it, never the requester."""

from conftest import BAC_GIANG, new_phone, texts_to

API = "/api/v1"


def volunteer(client, create_user, phone, sms_alerts):
    _, headers = create_user(name="Vũ Minh Khoa", phone=phone)
    answer = client.put(
        f"{API}/volunteers/me",
        headers=headers,
        json={
            "location": {"lat": BAC_GIANG[0], "lon": BAC_GIANG[1]},
            "radius_m": 5000,
            "categories": ["food"],
            "on_duty": True,
            "sms_alerts": sms_alerts,
        },
    )
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["sms_alerts"] is sms_alerts
    return headers, client.get(f"{API}/auth/me", headers=headers).get_json()["id"]


def test_a_volunteer_who_asked_for_texts_is_texted_an_assignment(
    app, client, create_user, create_staff, post_request
):
    coordinator = create_staff()
    texted, quiet = new_phone(), new_phone()
    _, texted_id = volunteer(client, create_user, texted, True)
    _, quiet_id = volunteer(client, create_user, quiet, False)
    need = post_request(contact_name="Hoàng Thị Qwzx", address="Ngõ Qwzx 7", categories=["food"])
    other = post_request(categories=["food"])
    for request_id, volunteer_id in ((need["id"], texted_id), (other["id"], quiet_id)):
        answer = client.post(
            f"{API}/requests/{request_id}/assign",
            headers=coordinator,
            json={"volunteer_id": volunteer_id},
        )
        assert answer.status_code == 200, answer.get_json()
    ((kind, status, body),) = texts_to(app, texted)
    assert (kind, status) == ("assigned", "sent")
    assert f"/volunteer/claims/{need['id']}" in body
    assert "Thực phẩm" in body or "thực phẩm" in body.lower()
    assert "Qwzx" not in body and need.get("phone", "+84")[3:] not in body
    assert texts_to(app, quiet) == []


def test_a_lease_reminder_is_texted_with_the_time_it_ends(
    app, client, runner, create_user, post_request, clock
):
    phone = new_phone()
    headers, _ = volunteer(client, create_user, phone, True)
    need = post_request(categories=["food"])
    assert client.post(f"{API}/requests/{need['id']}/claim", headers=headers).status_code == 200
    clock.advance(seconds=app.config["CLAIM_LEASE_SECONDS"] - 60)
    assert "reminders sent: 1" in runner.invoke(args=["connect", "expire"]).output
    ((kind, status, body),) = texts_to(app, phone, "lease_reminder")
    assert status == "sent" and f"/volunteer/claims/{need['id']}" in body


def test_the_profile_page_turns_texts_on(app, client, create_user):
    from conftest import csrf_token

    phone = new_phone()
    headers, _ = volunteer(client, create_user, phone, False)
    assert (
        client.post(
            "/login",
            data={
                "phone": phone,
                "password": "mat-khau-1",
                "csrf_token": csrf_token(client, "/login"),
            },
        ).status_code
        == 302
    )
    page = client.get("/volunteer/profile").get_data(as_text=True)
    assert 'name="sms_alerts"' in page
