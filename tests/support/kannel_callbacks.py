"""connect's side of Kannel in tests: an HTTP server on a free loopback port that records what
Kannel calls (the get-url for messages from phones, dlr-urls for delivery reports) and answers
as the test says (``answer``, or ``handler(call)`` returning (status, body), e.g. a Flask test
client's answer)."""

import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


@dataclass(frozen=True)
class Call:
    """One request Kannel made."""

    method: str
    path: str
    query: str
    params: dict  # name -> first value, UTF-8 decoded

    def __getitem__(self, name):
        return self.params[name]


class KannelCallbacks:
    def __init__(self):
        self.calls: list[Call] = []
        self.answer = (200, "")
        self.handler = None
        self._changed = threading.Condition()
        callbacks = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                url = urlsplit(self.path)
                params = parse_qs(url.query, keep_blank_values=True, errors="replace")
                call = Call("GET", url.path, url.query, {k: v[0] for k, v in params.items()})
                status, body = (callbacks.handler or (lambda _: callbacks.answer))(call)
                body = body.encode() if isinstance(body, str) else body
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "text/plain; charset=utf-8")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # Kannel stopped (the end of a run) before reading the answer
                with callbacks._changed:
                    callbacks.calls.append(call)
                    callbacks._changed.notify_all()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self):
        self._thread.start()
        return self

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    def reset(self):
        with self._changed:
            self.calls.clear()
        self.answer, self.handler = (200, ""), None

    def received(self, path, **params):
        """The calls to ``path`` whose parameters include ``params``, oldest first."""
        with self._changed:
            return [
                call
                for call in self.calls
                if call.path == path and all(call.params.get(k) == v for k, v in params.items())
            ]

    def wait_for(self, count, path, timeout=10.0, **params):
        """The first ``count`` calls as ``received`` finds them; AssertionError after timeout."""
        with self._changed:
            if not self._changed.wait_for(
                lambda: len(self.received(path, **params)) >= count, timeout
            ):
                raise AssertionError(
                    f"Kannel called {path} {len(self.received(path, **params))} times "
                    f"with {params}, not {count}, in {timeout} s"
                )
            return self.received(path, **params)[:count]
