"""The shipped deploy/ files: the systemd units pass `systemd-analyze verify`, the nginx site
passes `nginx -t` inside Debian's own nginx.conf, and nginx in front of a real gunicorn
compresses static files, caches hashed ones for a year, tells the app the visitor came over
https, and keeps manage links out of its access log."""

import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from conftest import CI, ROOT
from processes import Gunicorn, free_port, wait_for

DEPLOY = ROOT / "deploy"
UNITS = sorted((DEPLOY / "systemd").glob("*.service"))
VENV_BIN = Path(sys.executable).parent
TOKEN = "pRAs188fBVOWJsQE7cVy7iwKl-wMlebchww5GGtm84w"


def need(tool):
    path = shutil.which(tool) or (
        f"/usr/sbin/{tool}" if os.access(f"/usr/sbin/{tool}", os.X_OK) else None
    )
    if path is None:
        if CI:
            pytest.fail(f"{tool} is required under CI (tools/install-system-deps.sh test)")
        pytest.skip(f"{tool} is not installed")
    return path


# -- systemd -------------------------------------------------------------------------------


def test_the_three_units_are_shipped():
    assert [unit.name for unit in UNITS] == [
        "connect-scheduler.service",
        "connect-web.service",
        "connect-worker.service",
    ]
    for unit in UNITS:
        text = unit.read_text()
        for line in (
            "EnvironmentFile=/etc/connect/env",
            "User=connect",
            "Restart=on-failure",
            "NoNewPrivileges=yes",
            "ProtectSystem=strict",
            "PrivateTmp=yes",
            "ReadWritePaths=/run/",
        ):
            assert line in text, f"{unit.name} lacks {line}"


def test_the_units_pass_systemd_analyze_verify(tmp_path):
    analyze = need("systemd-analyze")
    for unit in UNITS:
        # verify checks that ExecStart's program exists: point it at this run's virtualenv.
        text = unit.read_text()
        assert "/srv/connect/.venv/bin/" in text
        (tmp_path / unit.name).write_text(text.replace("/srv/connect/.venv/bin/", f"{VENV_BIN}/"))
    units = [str(tmp_path / unit.name) for unit in UNITS]
    result = subprocess.run([analyze, "verify", *units], capture_output=True, text=True)
    # verify exits 0 on unknown keys and bad values too: any word from it is a failure.
    assert result.returncode == 0 and not (result.stdout + result.stderr).strip(), (
        result.stdout + result.stderr
    )
    security = subprocess.run(
        [analyze, "security", "--offline=true", *units], capture_output=True, text=True
    )
    levels = re.findall(r"Overall exposure level for (\S+): ([\d.]+)", security.stdout)
    assert len(levels) == len(units) and all(float(level) < 4 for _, level in levels), (
        security.stdout[-2000:]
    )


# -- nginx ---------------------------------------------------------------------------------


def nginx_config(tmp_path, https_port, http_port, app_port):
    """The shipped site inside Debian's nginx.conf, with loopback ports, a self-signed
    certificate and paths of this test; every replacement must find its text."""
    need("openssl")
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(tmp_path / "key.pem"),
            "-out",
            str(tmp_path / "cert.pem"),
        ],
        check=True,
        capture_output=True,
    )
    (tmp_path / "connect.conf").write_text(
        replaced(
            DEPLOY / "nginx" / "connect.conf",
            {
                "listen 443 ssl http2;": f"listen 127.0.0.1:{https_port} ssl http2;",
                "listen [::]:443 ssl http2;": "",
                "listen 80;": f"listen 127.0.0.1:{http_port};",
                "listen [::]:80;": "",
                "/etc/letsencrypt/live/connect.example.org/fullchain.pem": str(
                    tmp_path / "cert.pem"
                ),
                "/etc/letsencrypt/live/connect.example.org/privkey.pem": str(tmp_path / "key.pem"),
                "/var/log/nginx/connect.": f"{tmp_path}/connect.",
                "/srv/connect/static/": f"{ROOT}/connect/static/",
                "server 127.0.0.1:8000;": f"server 127.0.0.1:{app_port};",
            },
        )
    )
    (tmp_path / "nginx.conf").write_text(
        replaced(
            Path("/etc/nginx/nginx.conf"),
            {
                "user www-data;": "user root;",
                "pid /run/nginx.pid;": f"pid {tmp_path}/nginx.pid;",
                "/var/log/nginx/access.log": f"{tmp_path}/default-access.log",
                "/var/log/nginx/error.log": f"{tmp_path}/default-error.log",
                "include /etc/nginx/sites-enabled/*;": f"include {tmp_path}/connect.conf;",
            },
        )
    )
    return tmp_path / "nginx.conf"


def replaced(path, replacements):
    """The file's text with each replacement made; each must find its text."""
    text = path.read_text()
    for old, new in replacements.items():
        assert old in text, f"{path} no longer has {old!r}"
        text = text.replace(old, new)
    return text


def nginx_command(config, *args):
    return [
        need("nginx"),
        "-c",
        str(config),
        "-e",
        str(config.parent / "default-error.log"),
        *args,
    ]


def test_the_nginx_site_passes_nginx_t(tmp_path):
    config = nginx_config(tmp_path, free_port(), free_port(), 8000)
    result = subprocess.run(nginx_command(config, "-t"), capture_output=True, text=True)
    assert result.returncode == 0 and "test is successful" in result.stderr, result.stderr


@pytest.fixture
def served(sqlite_template, tmp_path):
    """gunicorn (the production settings) with nginx in front, both on loopback."""
    database = tmp_path / "connect.db"
    shutil.copyfile(sqlite_template, database)
    # What deploy/nginx/connect.conf says to set.
    app = Gunicorn(
        f"sqlite:///{database}",
        tmp_path / "gunicorn.log",
        workers=1,
        PROXY_FIX_X_FOR=1,
        PROXY_FIX_X_PROTO=1,
        FORCE_HTTPS=1,
    )
    https_port, http_port = free_port(), free_port()
    config = nginx_config(tmp_path, https_port, http_port, app.port)
    nginx = subprocess.Popen(
        nginx_command(config, "-g", "daemon off;"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"https://127.0.0.1:{https_port}"
    http = requests.Session()
    http.trust_env = False  # no proxy or CA bundle from the environment: this certificate
    http.verify = str(tmp_path / "cert.pem")

    def through_nginx():
        # (Straight to gunicorn, FORCE_HTTPS would redirect: only nginx says https.)
        assert app.running(), app.log()[-3000:]
        assert nginx.poll() is None, nginx.stderr.read()
        try:
            return http.get(f"{base}/healthz", timeout=1).status_code == 200
        except requests.RequestException:
            return False

    try:
        wait_for(through_nginx, timeout=60, what="/healthz through nginx")
        yield http, base, tmp_path / "connect.access.log"
    finally:
        http.close()
        nginx.send_signal(signal.SIGQUIT)  # graceful: the log is flushed
        nginx.wait(10)
        app.terminate(15)


def test_nginx_in_front_of_gunicorn(served):
    http, base, access_log = served

    # The app sees https (X-Forwarded-Proto): FORCE_HTTPS serves the page, with HSTS.
    page = http.get(f"{base}/need-help", allow_redirects=False)
    assert page.status_code == 200 and "max-age" in page.headers["Strict-Transport-Security"]
    assets = re.findall(r'"(/static/[^"?]+)\?v=([0-9a-f]{12})"', page.text)
    assert {path for path, _ in assets} >= {
        "/static/css/app.css",
        "/static/vendor/leaflet/leaflet.js",
    }

    # Static files from nginx: gzip (JS, CSS), a year's cache for a hashed URL.
    for path, version in assets:
        hashed = http.get(f"{base}{path}?v={version}", headers={"Accept-Encoding": "gzip"})
        assert hashed.status_code == 200, path
        assert hashed.headers["Cache-Control"] == "public, max-age=31536000, immutable"
        assert hashed.headers["Content-Encoding"] == "gzip", path
        assert hashed.content == (ROOT / "connect" / path.lstrip("/")).read_bytes()
        assert hashlib.sha256(hashed.content).hexdigest()[:12] == version
    plain = http.get(f"{base}/static/css/app.css")
    assert plain.headers["Cache-Control"] == "public, max-age=300"

    # Plain http goes to https.
    http_port = int(
        re.search(
            r"listen 127.0.0.1:(\d+);", (access_log.parent / "connect.conf").read_text()
        ).group(1)
    )
    moved = http.get(f"http://127.0.0.1:{http_port}/m/{TOKEN}", allow_redirects=False)
    assert moved.status_code == 301

    http.get(f"{base}/m/{TOKEN}/edit?lang=en")
    http.get(f"{base}/login?next=/m/{TOKEN}")
    lines = access_log.read_text().splitlines()
    assert lines and TOKEN not in access_log.read_text()
    entries = [json.loads(line) for line in lines]
    assert {"/m/[redacted]", "/m/[redacted]/edit?lang=en", "/login?next=/m/[redacted]"} <= {
        entry["uri"] for entry in entries
    }
    assert all(re.fullmatch(r"[0-9a-f]{32}", entry["request_id"]) for entry in entries)
