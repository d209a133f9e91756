"""What gunicorn serves in the load test: wsgi:app, answering with the worker's pid.

X-Worker-Pid tells the freshness probe (and the readiness check) which gunicorn worker
answered; the header is added here, around the app, so the app itself never sends it.
"""

import os


class WorkerPid:
    """WSGI middleware adding X-Worker-Pid; other attributes are the wrapped app's."""

    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        header = ("X-Worker-Pid", str(os.getpid()))

        def start(status, headers, exc_info=None):
            headers.append(header)
            return start_response(status, headers, exc_info)

        return self.app(environ, start)

    def __getattr__(self, name):
        # gunicorn.conf.py's post_worker_init warms the read model through app.extensions.
        return getattr(self.app, name)


def _app():
    if os.environ.get("LOADTEST_APP") == "ceiling":
        from loadtest.ceiling import app
    else:
        from wsgi import app
    return WorkerPid(app)


app = _app()
