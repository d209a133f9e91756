"""Data made through the JSON API of the served app, for what a test does not exercise in
the browser: requests, volunteers, claims; and logging a browser context in."""

from itertools import count

HOME = (21.2731, 106.1946)  # Bac Giang city
_phones = count(1)


def new_phone():
    """A distinct valid Vietnamese mobile number (a block the integration suite does not use)."""
    return f"+8498{next(_phones):07d}"


class Seed:
    """Requests, volunteers and claims made through the API of the served app."""

    PASSWORD = "mat-khau-1"

    def __init__(self, live_server):
        self.server = live_server
        self.client = live_server.api()

    def _ok(self, response, status=200):
        assert response.status_code == status, (response.status_code, response.get_json())
        return response.get_json()

    new_phone = staticmethod(new_phone)

    def help_request(self, at=HOME, **overrides):
        """Post a request; returns the 201 body (id, manage_token, ...)."""
        lat, lon = at
        payload = {
            "categories": ["food"],
            "description": "Cần gạo và trứng cho 4 người",
            "household_size": 4,
            "urgency": "normal",
            "location": {"lat": lat, "lon": lon},
            "contact_name": "Nguyễn Văn An",
            "phone": new_phone(),
            "address": "12 Ngõ 3, Trần Phú",
            **overrides,
        }
        return self._ok(self.client.post("/api/v1/requests", json=payload), 201)

    def texted_link(self, request_id):
        """The path of the short link texted to the request's phone when it was posted."""
        from connect.extensions import db
        from connect.sms.models import SmsMessage

        with self.server.app.app_context():
            body = (
                db.session.query(SmsMessage.body)
                .filter_by(request_id=request_id, kind="posted")
                .scalar()
            )
        return "/s/" + body.rsplit("/s/", 1)[1]

    def user(self, name="Trần Thị Bình"):
        """Register an account; returns (phone, password, Authorization headers)."""
        phone = new_phone()
        self._ok(
            self.client.post(
                "/api/v1/auth/register",
                json={"phone": phone, "password": self.PASSWORD, "name": name},
            ),
            201,
        )
        token = self._ok(
            self.client.post(
                "/api/v1/auth/token", json={"phone": phone, "password": self.PASSWORD}
            )
        )["token"]
        return phone, self.PASSWORD, {"Authorization": f"Bearer {token}"}

    def volunteer(self, at=HOME, radius_m=5000, name="Lê Văn Cường"):
        """An on-duty volunteer; returns (phone, password, headers)."""
        phone, password, headers = self.user(name)
        self._ok(
            self.client.put(
                "/api/v1/volunteers/me",
                headers=headers,
                json={
                    "location": {"lat": at[0], "lon": at[1]},
                    "radius_m": radius_m,
                    "categories": ["food", "supplies", "medicine", "medical_advice", "other"],
                    "on_duty": True,
                    "capacity": 3,
                },
            )
        )
        return phone, password, headers

    def coordinator(self, areas=("24",), role="coordinator"):
        """A coordinator of these areas (the demo areas, imported once) made with the CLI, as
        in production; returns (phone, password, headers)."""
        from pathlib import Path

        from sqlalchemy import func, select

        from connect.areas.models import Area
        from connect.extensions import db

        app = self.server.app
        runner = app.test_cli_runner()
        with app.app_context():
            have_areas = db.session.execute(select(func.count(Area.id))).scalar_one()
            db.session.remove()
        if not have_areas:
            areas_file = Path(__file__).parents[2] / "connect" / "data" / "demo_areas.geojson"
            result = runner.invoke(args=["connect", "import-areas", str(areas_file)])
            assert result.exit_code == 0, result.output
        phone = new_phone()
        result = runner.invoke(
            args=[
                "connect",
                "create-user",
                "--phone",
                phone,
                "--name",
                "Điều phối viên",
                "--role",
                role,
                "--password",
                self.PASSWORD,
                *[
                    arg
                    for code in (areas if role == "coordinator" else ())
                    for arg in ("--area", code)
                ],
            ]
        )
        assert result.exit_code == 0, result.output
        token = self._ok(
            self.client.post(
                "/api/v1/auth/token", json={"phone": phone, "password": self.PASSWORD}
            )
        )["token"]
        return phone, self.PASSWORD, {"Authorization": f"Bearer {token}"}

    def claim(self, request_id, headers):
        return self._ok(self.client.post(f"/api/v1/requests/{request_id}/claim", headers=headers))

    def helped(self, request_id, headers):
        return self._ok(self.client.post(f"/api/v1/requests/{request_id}/helped", headers=headers))

    def log_in(self, context, phone, password=PASSWORD):
        """Log a browser context in through the login form (a page opened and closed)."""
        page = context.new_page()
        page.goto("/login")
        page.get_by_label("Số điện thoại di động").fill(phone)
        page.get_by_label("Mật khẩu").fill(password)
        page.get_by_role("button", name="Đăng nhập").click()
        page.wait_for_url(lambda url: "/login" not in url)
        page.close()

    def status(self, request_id):
        return self._ok(self.client.get(f"/api/v1/requests/{request_id}"))["status"]
