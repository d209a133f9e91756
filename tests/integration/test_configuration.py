"""Configuration that fails loudly: CONNECT_ENV unset is production, which stops at start-up
(create_app, gunicorn, the flask command) on a missing or weak key or a missing database,
naming the variable; development keeps its convenient instance keys, BLUR_SECRET its own."""

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from connect import create_app
from connect.config import Config, ConfigError

from conftest import make_app

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
KEY, BLUR, OLD = "k" * 64, "b" * 64, "o" * 64


@pytest.fixture
def production(monkeypatch, tmp_path):
    """A production environment (CONNECT_ENV unset) with every required variable set."""
    monkeypatch.delenv("CONNECT_ENV")
    monkeypatch.delenv("SECRET_KEY_FALLBACKS", raising=False)
    settings = {
        "SECRET_KEY": KEY,
        "BLUR_SECRET": BLUR,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'connect.db'}",
    }
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    return monkeypatch


def test_connect_env_unset_means_production(production, tmp_path):
    assert Config(str(tmp_path)).CONNECT_ENV == "production"
    production.setenv("CONNECT_ENV", "")
    app = create_app()
    assert app.config["CONNECT_ENV"] == "production"
    assert (app.config["SECRET_KEY"], app.config["BLUR_SECRET"]) == (KEY, BLUR)


@pytest.mark.parametrize("name", ["SECRET_KEY", "BLUR_SECRET", "DATABASE_URL"])
def test_production_stops_without_a_required_variable(production, name):
    production.delenv(name)
    with pytest.raises(ConfigError, match=f"^{name} is not set: production") as refused:
        create_app()
    assert "CONNECT_ENV=development" in str(refused.value)


@pytest.mark.parametrize(
    "name, shown",
    [
        ("SECRET_KEY", "SECRET_KEY"),
        ("BLUR_SECRET", "BLUR_SECRET"),
        ("SECRET_KEY_FALLBACKS", "SECRET_KEY_FALLBACKS (item 2)"),
    ],
)
def test_production_stops_on_a_short_key(production, name, shown):
    production.setenv(name, f"{OLD},short-key" if name == "SECRET_KEY_FALLBACKS" else "x" * 31)
    expected = 9 if name == "SECRET_KEY_FALLBACKS" else 31
    with pytest.raises(
        ConfigError,
        match=rf"^{re.escape(shown)} is {expected} characters "
        r"long: production needs at least 32",
    ):
        create_app()


def test_an_empty_secret_key_is_a_missing_one(production):
    production.setenv("SECRET_KEY", "")
    with pytest.raises(ConfigError, match="^SECRET_KEY is not set"):
        create_app()


def test_an_unknown_environment_stops_start_up(production):
    production.setenv("CONNECT_ENV", "prod")
    with pytest.raises(
        ConfigError,
        match=r"CONNECT_ENV='prod' is not one of production, "
        r"development",
    ):
        create_app()


@pytest.mark.parametrize(
    "name, value, message",
    [
        ("CLAIM_LEASE_SECONDS", "4h", "CLAIM_LEASE_SECONDS='4h' is not a int"),
        ("READ_MODEL_MAX_STALENESS", "3s", "READ_MODEL_MAX_STALENESS='3s' is not a float"),
        ("FORCE_HTTPS", "ture", "FORCE_HTTPS='ture' is not a yes/no value"),
    ],
)
def test_a_malformed_setting_is_named_not_guessed(production, name, value, message):
    production.setenv(name, value)
    with pytest.raises(ConfigError, match=message):
        create_app()
    production.setenv("CONNECT_ENV", "development")
    with pytest.raises(ConfigError, match=message):
        create_app()


def test_rotation_settings_reach_sessions_and_csrf(production):
    production.setenv("SECRET_KEY_FALLBACKS", f"{OLD}, {'p' * 40} ,")
    config = create_app().config
    assert config["SECRET_KEY_FALLBACKS"] == [OLD, "p" * 40]
    # Flask-WTF signs with the newest (last) and accepts each.
    assert config["WTF_CSRF_SECRET_KEY"] == [OLD, "p" * 40, KEY]


def test_development_keeps_its_keys_in_the_instance_folder(monkeypatch):
    for name in ("SECRET_KEY", "BLUR_SECRET", "DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    first = create_app({"CONNECT_ENV": "development"})
    instance = Path(first.instance_path)
    assert first.config["SECRET_KEY"] == (instance / "secret_key").read_text().strip()
    assert first.config["BLUR_SECRET"] == (instance / "blur_secret").read_text().strip()
    assert len(first.config["SECRET_KEY"]) == len(first.config["BLUR_SECRET"]) == 64
    assert first.config["SECRET_KEY"] != first.config["BLUR_SECRET"]
    assert oct((instance / "blur_secret").stat().st_mode & 0o777) == "0o600"
    assert first.config["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{instance / 'connect.db'}"
    # Kept across restarts; a new SECRET_KEY leaves the blur key where it is.
    rotated = create_app({"CONNECT_ENV": "development", "SECRET_KEY": KEY})
    assert rotated.config["BLUR_SECRET"] == first.config["BLUR_SECRET"]
    assert (
        create_app({"CONNECT_ENV": "development"}).config["SECRET_KEY"]
        == (first.config["SECRET_KEY"])
    )


def test_development_takes_short_keys(tmp_path):
    app = make_app(f"sqlite:///{tmp_path / 'connect.db'}", SECRET_KEY="dev", BLUR_SECRET="blur")
    assert app.test_client().get("/healthz").status_code == 200


# -- the processes an operator starts show the message ---------------------------------------


def production_environment(tmp_path, **changes):
    env = {
        **os.environ,
        "SECRET_KEY": KEY,
        "BLUR_SECRET": BLUR,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'connect.db'}",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    for name in ("CONNECT_ENV", "SECRET_KEY_FALLBACKS"):
        env.pop(name, None)
    env.update(changes)
    return {name: value for name, value in env.items() if value is not None}


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_gunicorn_stops_at_start_naming_the_missing_secret_key(tmp_path):
    run = subprocess.run(
        [
            str(BIN / "gunicorn"),
            "-c",
            "gunicorn.conf.py",
            "-w",
            "1",
            "-b",
            f"127.0.0.1:{free_port()}",
            "wsgi:app",
        ],
        cwd=ROOT,
        env=production_environment(tmp_path, SECRET_KEY=None),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode != 0
    assert "SECRET_KEY is not set: production" in run.stderr, run.stderr[-3000:]


def test_the_flask_command_stops_naming_the_missing_blur_secret(tmp_path):
    run = subprocess.run(
        [str(BIN / "flask"), "--app", "wsgi", "db", "upgrade"],
        cwd=ROOT,
        env=production_environment(tmp_path, BLUR_SECRET=None),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode != 0
    assert "BLUR_SECRET is not set: production" in run.stderr, run.stderr[-3000:]
    assert not (tmp_path / "connect.db").exists()  # stopped before touching anything
