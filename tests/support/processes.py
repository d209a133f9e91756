"""The processes of a deployment, for real, in tests: gunicorn, worker, scheduler, Redis."""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]
FLASK = Path(sys.executable).with_name("flask")
GUNICORN = Path(sys.executable).with_name("gunicorn")


def app_env(database_url, **extra):
    """The environment a connect process of the tests runs with."""
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "SECRET_KEY": "test-secret",
        "CONNECT_ENV": "development",
        "RATELIMIT_ENABLED": "false",
        "DEMO_DATA": "0",
        "FLASK_APP": "wsgi",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    env.update({key: str(value) for key, value in extra.items()})
    return env


class Process:
    """A command in its own process group, its output in a log file."""

    def __init__(self, argv, log_path, env, cwd=ROOT):
        self.log_path = Path(log_path)
        self._log = open(self.log_path, "w")
        self.process = subprocess.Popen(
            [str(arg) for arg in argv],
            cwd=cwd,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def log(self):
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text(errors="replace")

    def running(self):
        return self.process.poll() is None

    def terminate(self, timeout=10):
        """SIGTERM and wait: the clean stop systemd does; returns the exit code."""
        if self.running():
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        finally:
            self._log.close()

    def kill(self):
        """SIGKILL the whole group: a crash, a power cut."""
        if self.running():
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)
        self._log.close()


def wait_for(predicate, timeout=20.0, interval=0.05, what="condition"):
    """Poll ``predicate()`` until it is true; AssertionError after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Command(Process):
    """`flask connect <args>` of the checkout, on the test's database."""

    def __init__(self, args, database_url, log_path, **env):
        super().__init__([FLASK, "connect", *args], log_path, app_env(database_url, **env))


class Gunicorn(Process):
    """The checkout's web server as deployed: gunicorn.conf.py, gthread workers, loopback."""

    def __init__(self, database_url, log_path, workers=2, **env):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        super().__init__(
            [
                GUNICORN,
                "-c",
                ROOT / "gunicorn.conf.py",
                "-w",
                workers,
                "-b",
                f"127.0.0.1:{self.port}",
                "wsgi:app",
            ],
            log_path,
            app_env(database_url, **env),
        )

    def wait_ready(self, timeout=60):
        serving(self, self.base, timeout)
        return self


def serving(process, base, timeout=60):
    """Wait until the server at ``base`` answers /healthz; fail with its log if it exits."""

    def up():
        if not process.running():
            raise AssertionError(f"the server exited:\n{process.log()[-3000:]}")
        try:
            return requests.get(f"{base}/healthz", timeout=1).status_code == 200
        except requests.RequestException:
            return False

    wait_for(up, timeout=timeout, what=f"{base} to serve")


class Redis:
    """A throwaway redis-server: loopback, a free port, nothing written to disk."""

    def __init__(self, directory):
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._log = open(Path(directory) / "redis.log", "w")
        self.process = subprocess.Popen(
            [
                shutil.which("redis-server") or "redis-server",
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--dir",
                str(directory),
                "--save",
                "",
                "--appendonly",
                "no",
                "--daemonize",
                "no",
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def wait_ready(self, timeout=10):
        import redis

        client = redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=1)

        def up():
            try:
                return client.ping()
            except redis.exceptions.ConnectionError:
                if self.process.poll() is not None:
                    raise AssertionError("redis-server exited") from None
                return False

        try:
            wait_for(up, timeout=timeout, what="redis-server")
        finally:
            client.close()
        return self

    def stop(self):
        self.process.terminate()
        self.process.wait(10)
        self._log.close()
