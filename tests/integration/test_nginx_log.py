"""The shipped nginx log format (deploy/nginx/connect-logformat.conf) writes no manage token,
no query string (a volunteer's position) and no Authorization or Referer header: a real nginx
serves requests with them, and its access log is read back."""

import json
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
import requests

from served import ROOT, free_port

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
TOKEN = "pRAs188fBVOWJsQE7cVy7iwKl-wMlebchww5GGtm84w"


@pytest.fixture
def nginx(tmp_path):
    if not Path(NGINX).exists():
        pytest.skip("nginx is not installed (tools/install-system-deps.sh test)")
    port = free_port()
    (tmp_path / "nginx.conf").write_text(f"""
        daemon off;
        pid {tmp_path}/nginx.pid;
        error_log {tmp_path}/error.log;
        events {{}}
        http {{
            client_body_temp_path {tmp_path}; proxy_temp_path {tmp_path};
            fastcgi_temp_path {tmp_path}; uwsgi_temp_path {tmp_path}; scgi_temp_path {tmp_path};
            include {ROOT}/deploy/nginx/connect-logformat.conf;
            server {{
                listen 127.0.0.1:{port};
                access_log {tmp_path}/access.log connect_redacted;
                location / {{ return 200 "ok"; }}
            }}
        }}""")
    check = subprocess.run(
        [NGINX, "-t", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")],
        capture_output=True,
        text=True,
    )
    assert check.returncode == 0, check.stderr
    process = subprocess.Popen(
        [NGINX, "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")], stderr=subprocess.PIPE
    )
    base = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            requests.get(f"{base}/healthz", timeout=1)
            break
        except requests.ConnectionError:
            time.sleep(0.05)
    yield base, tmp_path / "access.log"
    process.send_signal(signal.SIGQUIT)
    process.wait(10)


def test_nginx_logs_no_manage_token_position_or_credentials(nginx):
    base, log = nginx
    secrets = {
        "Authorization": "Bearer s3cretBearerToken0123456789abcdefABCDEF",
        "Referer": f"{base}/m/{TOKEN}",
    }
    paths = [
        f"/m/{TOKEN}",
        f"/m/{TOKEN}/edit",
        f"/m/{TOKEN}/cancel?x=1",
        "/api/v1/requests/nearby?lat=21.2731234&lon=106.1946789&radius_m=5000",
        "/need-help",
    ]
    for path in paths:
        assert requests.get(base + path, headers=secrets, timeout=5).status_code == 200
    time.sleep(0.2)
    text = log.read_text()
    records = [json.loads(line) for line in text.splitlines()]
    assert [r["path"] for r in records[-5:]] == [
        "/m/[redacted]",
        "/m/[redacted]/edit",
        "/m/[redacted]/cancel",
        "/api/v1/requests/nearby",
        "/need-help",
    ]
    for secret in (TOKEN, "21.2731234", "106.1946789", "s3cretBearerToken"):
        assert secret not in text
    assert all(len(r["request_id"]) == 32 for r in records)
