"""connect's own long-running commands (worker, scheduler) as real processes for tests."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FLASK = Path(sys.executable).with_name("flask")


def app_env(database_url, **extra):
    """The environment a connect process of the tests runs with."""
    env = {**os.environ, "DATABASE_URL": database_url, "SECRET_KEY": "test-secret",
           "CONNECT_ENV": "development", "RATELIMIT_ENABLED": "false", "DEMO_DATA": "0",
           "FLASK_APP": "wsgi",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    env.update({key: str(value) for key, value in extra.items()})
    return env


class Command:
    """`flask connect <args>` running in its own process group, its output in a log file."""

    def __init__(self, args, database_url, log_path, **env):
        self.log_path = Path(log_path)
        self._log = open(self.log_path, "w")
        self.process = subprocess.Popen(
            [str(FLASK), "connect", *args], cwd=ROOT, env=app_env(database_url, **env),
            stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True)

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
