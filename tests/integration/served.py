"""A real gunicorn serving the app with the production config file (gunicorn.conf.py), for
tests of what it logs and measures: its own port, logs in files, stopped with SIGTERM."""

import os
import signal
import subprocess
from pathlib import Path

from processes import GUNICORN, ROOT, free_port, serving

__all__ = ["ROOT", "Gunicorn", "free_port"]


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

    def running(self):
        return self.process.poll() is None

    def log(self):
        return self.logs()

    def wait_ready(self, timeout=60):
        serving(self, self.base, timeout)
        return self

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
