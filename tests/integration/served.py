"""A real gunicorn serving the app with the production config file (gunicorn.conf.py), for
tests of what it logs and measures: its own port, logs in files, stopped with SIGTERM."""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]
GUNICORN = Path(sys.executable).with_name("gunicorn")


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Gunicorn:
    """gunicorn -c gunicorn.conf.py with ``workers`` gthread workers on an ``app`` of
    tests/support (serve.py by default)."""

    def __init__(self, database_url, folder, workers=2, app="serve:app", **env):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.access_log = Path(folder) / "access.log"
        self.error_log = Path(folder) / "error.log"
        # The app's own lines (the root logger writes to stderr) land here.
        self.output = Path(folder) / "output.log"
        self._output = open(self.output, "w")
        environment = {
            **os.environ,
            "DATABASE_URL": database_url,
            "SECRET_KEY": "test-secret",
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
            **env,
        }
        self.process = subprocess.Popen(
            [
                str(GUNICORN),
                "-c",
                str(ROOT / "gunicorn.conf.py"),
                "-w",
                str(workers),
                "-b",
                f"127.0.0.1:{self.port}",
                "--access-logfile",
                str(self.access_log),
                "--error-logfile",
                str(self.error_log),
                "--pythonpath",
                f"{ROOT},{ROOT / 'tests' / 'support'}",
                app,
            ],
            cwd=ROOT,
            env=environment,
            stdout=self._output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def logs(self):
        if not self._output.closed:
            self._output.flush()
        return "".join(
            path.read_text(errors="replace")
            for path in (self.output, self.error_log, self.access_log)
            if path.exists()
        )

    def wait_ready(self, timeout=60):
        deadline = time.monotonic() + timeout
        while True:
            assert self.process.poll() is None, f"gunicorn exited:\n{self.logs()[-4000:]}"
            try:
                if requests.get(f"{self.base}/healthz", timeout=1).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            assert time.monotonic() < deadline, f"gunicorn did not start:\n{self.logs()[-4000:]}"
            time.sleep(0.1)

    def workers(self):
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return sorted(int(pid) for pid in children.read_text().split())

    def stop(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)  # graceful (see test_read_model_processes)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(5)
        self._output.close()
