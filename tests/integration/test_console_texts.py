"""The console's texts page: coordinators see what waits or fell back about requests in their
areas; admins also see what failed for good. Numbers show only their last digits."""

from conftest import LUC_NAM, csrf_token, new_phone, request_payload

API = "/api/v1/requests"


def signed_in(app, headers):
    """A browser signed in as the staff member these API headers belong to."""
    browser = app.test_client()
    phone = browser.get("/api/v1/auth/me", headers=headers).get_json()["phone"]
    answer = browser.post(
        "/login",
        data={
            "phone": phone,
            "password": "dieu-phoi-1",
            "csrf_token": csrf_token(browser, "/login"),
        },
    )
    assert answer.status_code == 302, answer.status_code
    return browser


def test_coordinators_see_waiting_texts_of_their_areas_and_admins_see_failures(
    app, client, create_staff
):
    from connect.extensions import db
    from connect.sms.models import SmsMessage

    mine_phone, elsewhere_phone = new_phone(), new_phone()
    mine = client.post(API, json=request_payload(phone=mine_phone)).get_json()
    elsewhere = client.post(API, json=request_payload(phone=elsewhere_phone, at=LUC_NAM))
    elsewhere = elsewhere.get_json()
    with app.app_context():
        for message in db.session.query(SmsMessage):
            message.status, message.reason = "waiting", "quiet-hours"
        failed = db.session.query(SmsMessage).filter_by(request_id=elsewhere["id"]).one()
        failed.status, failed.reason = "failed", "refused by the gateway: 400"
        db.session.commit()
    coordinator = signed_in(app, create_staff(areas=("24-213",)))
    admin = signed_in(app, create_staff(role="admin"))
    for browser, sees, hides in (
        (coordinator, [mine], [elsewhere]),
        (admin, [mine, elsewhere], []),
    ):
        page = browser.get("/console/texts")
        assert page.status_code == 200
        html = page.get_data(as_text=True)
        for request in sees:
            assert f"/console/requests/{request['id']}" in html
        for request in hides:
            assert f"/console/requests/{request['id']}" not in html
        assert f"…{mine_phone[-3:]}" in html and mine_phone[3:] not in html
    assert "refused by the gateway" in admin.get("/console/texts").get_data(as_text=True)
