"""Build once, install anywhere: `make dist`'s wheel holds everything a host serves, and installed
alone in a fresh virtualenv (outside the checkout, pinned by constraints.txt) it migrates a
PostGIS database and serves the Vietnamese pages and Leaflet through gunicorn.

The wheel is built once per test run, by whichever test process asks first (tools/build-wheel.sh,
as `make dist`); the figures are printed (see them with -rP).
"""
import fcntl
import gettext
import io
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
import zipfile
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
LEAFLET = "connect/static/vendor/leaflet/leaflet.js"
# Settings a host has; nothing may point back into the checkout.
CHECKOUT_VARIABLES = ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "VIRTUAL_ENV", "FLASK_APP")


@pytest.fixture(scope="session")
def wheel(tmp_path_factory, worker_id):
    """connect's wheel, built once for the whole run and shared by its test processes."""
    shared = tmp_path_factory.getbasetemp()
    if worker_id != "master":
        shared = shared.parent  # the run's folder, above each xdist worker's own
    out = shared / "dist"
    with open(shared / "dist.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not list(out.glob("connect-*.whl")):
            started = time.monotonic()
            built = subprocess.run([str(ROOT / "tools" / "build-wheel.sh"), str(out)],
                                   env={**os.environ, "PYTHON": sys.executable},
                                   capture_output=True, text=True, timeout=300)
            assert built.returncode == 0, f"the wheel did not build:\n{built.stdout}{built.stderr}"
            print(f"wheel built in {time.monotonic() - started:.1f} s")
    (path,) = out.glob("connect-*.whl")
    return path


def _checkout_files(folder):
    """What the wheel must carry of a folder of the package: its files, built ones included."""
    return {path.relative_to(ROOT).as_posix() for path in (ROOT / folder).rglob("*")
            if path.is_file() and "__pycache__" not in path.parts
            and not path.name.startswith(".")}


def test_the_wheel_holds_pages_assets_catalogues_and_migrations(wheel):
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        leaflet = archive.read(LEAFLET)
        catalogues = {language: gettext.GNUTranslations(io.BytesIO(archive.read(
            f"connect/translations/{language}/LC_MESSAGES/messages.mo")))
            for language in ("vi", "en")}
        (dist_info,) = {name.split("/")[0] for name in names if ".dist-info/" in name}
        metadata = archive.read(f"{dist_info}/METADATA").decode()
    size = wheel.stat().st_size
    print(f"{wheel.name}: {size / 1024:.0f} KiB, {len(names)} files")

    for folder in ("connect/templates", "connect/static", "connect/migrations", "connect/data"):
        assert _checkout_files(folder) - names == set(), f"{folder} is not all in the wheel"
    assert {LEAFLET, "connect/static/vendor/leaflet/leaflet.css"} <= names
    assert b"Leaflet" in leaflet[:300] and leaflet == (ROOT / LEAFLET).read_bytes()
    # Compiled catalogues, not just sources: the Vietnamese one translates the post page.
    assert catalogues["vi"].info()["language"] == "vi"
    assert catalogues["vi"].gettext("Ask for help") == "Nhờ giúp đỡ"
    assert catalogues["en"].info()["language"] == "en"
    assert {"connect/migrations/env.py", "connect/migrations/script.py.mako"} <= names
    assert any(name.startswith("connect/migrations/versions/0001_") for name in names)

    assert {name for name in names if not name.startswith(("connect/", f"{dist_info}/"))} == set()
    assert [name for name in names if "tests/" in name or "instance/" in name
            or "__pycache__" in name or name.endswith(".pyc")] == []
    assert f"{dist_info}/licenses/LICENSE" in names
    assert "License-Expression: AGPL-3.0-or-later" in metadata
    assert size < 3 * 1024 * 1024, "something big slipped into the wheel"


def _free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _run(args, **kwargs):
    done = subprocess.run(args, capture_output=True, text=True, timeout=600, **kwargs)
    assert done.returncode == 0, f"{' '.join(map(str, args))} failed:\n{done.stdout}{done.stderr}"
    return done.stdout


def _head():
    from alembic.script import ScriptDirectory

    return ScriptDirectory(str(ROOT / "connect" / "migrations")).get_current_head()


def _revision(pg_cluster, database):
    import psycopg

    with psycopg.connect(pg_cluster.dsn_for(database)) as conn:
        return conn.execute("SELECT version_num FROM alembic_version").fetchone()[0]


def _wait_for_health(process, url, log_path, deadline):
    while True:
        if process.poll() is not None:
            pytest.fail(f"gunicorn exited ({process.returncode}):\n{log_path.read_text()}")
        try:
            if requests.get(url, timeout=1).status_code == 200:
                return
        except requests.RequestException:
            pass
        if time.monotonic() > deadline:
            pytest.fail(f"gunicorn did not come up:\n{log_path.read_text()}")
        time.sleep(0.1)


@pytest.mark.postgis
@pytest.mark.slow
def test_the_wheel_in_a_fresh_virtualenv_migrates_postgis_and_serves_the_pages(
        wheel, pg_cluster, tmp_path):
    """A host's walk: venv, pip install the wheel, flask db upgrade, gunicorn from the package."""
    started = time.monotonic()
    assert ROOT not in tmp_path.parents, "the host must be outside the checkout"
    venv, bin_ = tmp_path / "venv", tmp_path / "venv" / "bin"
    # The test run's own pip installs into the new virtualenv (--python), sparing the seconds
    # ensurepip takes; --no-compile spares byte-compiling every dependency (~30 s of ~40 s
    # here), and the processes below compile what they import.
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], cwd=tmp_path)
    made = time.monotonic()
    host = {name: value for name, value in os.environ.items() if name not in CHECKOUT_VARIABLES}
    _run([sys.executable, "-m", "pip", "--python", str(bin_ / "python"), "install", "--quiet",
          "--no-compile", "-c", str(ROOT / "constraints.txt"), str(wheel)],
         cwd=tmp_path, env=host)
    installed = time.monotonic()
    where = _run([str(bin_ / "python"), "-c", "import connect; print(connect.__file__)"],
                 cwd=tmp_path, env=host)
    assert Path(where.strip()).is_relative_to(venv), where

    database = f"wheel_{uuid.uuid4().hex[:8]}"
    host.update(DATABASE_URL=pg_cluster.create_database(database), CONNECT_ENV="production",
                SECRET_KEY="wheel-test-secret-key", BLUR_SECRET="wheel-test-blur-secret",
                DEMO_DATA="0")
    _run([str(bin_ / "flask"), "--app", "connect:create_app", "db", "upgrade"],
         cwd=tmp_path, env=host)
    assert _revision(pg_cluster, database) == _head()
    migrated = time.monotonic()

    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    log_path = tmp_path / "gunicorn.log"
    with open(log_path, "w") as log:
        server = subprocess.Popen(
            [str(bin_ / "gunicorn"), "-c", "python:connect.gunicorn_conf", "-w", "1",
             "-b", f"127.0.0.1:{port}", "connect:create_app()"],
            cwd=tmp_path, env=host, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    http = requests.Session()
    try:
        _wait_for_health(server, f"{base}/healthz", log_path, time.monotonic() + 60)
        page = http.get(f"{base}/need-help", timeout=10)
        assert page.status_code == 200
        assert '<html lang="vi"' in page.text and "Nhờ giúp đỡ" in page.text
        leaflet = http.get(f"{base}/static/vendor/leaflet/leaflet.js", timeout=10)
        assert leaflet.status_code == 200
        assert leaflet.headers["Content-Type"].split(";")[0] in ("application/javascript",
                                                                  "text/javascript")
        assert leaflet.content == (ROOT / LEAFLET).read_bytes()
        assert http.get(f"{base}/healthz", timeout=10).status_code == 200
    finally:
        http.close()
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(5)
        pg_cluster.drop_database(database)
    print(f"wheel install test: venv {made - started:.1f} s, pip install {installed - made:.1f} s, "
          f"db upgrade {migrated - installed:.1f} s, gunicorn up and answering "
          f"{time.monotonic() - migrated:.1f} s, total {time.monotonic() - started:.1f} s")
