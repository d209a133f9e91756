"""Browser fixtures: the app served for real on a fresh database, Chromium through Playwright,
phone contexts (geolocation granted or refused, map tiles served or failing), screenshots of
every step, axe-core checks and page weights.

Nothing here reaches the internet: map tiles are answered with a tiny local PNG (or made to
fail), and any other outside request is aborted and reported.
"""

import base64
import logging
import os
import re
import shutil
import threading
from itertools import count

import pytest

from .measure import ROOT, TILE_URL, Results, TransferMeter, describe_violations, run_axe
from .seed import HOME, Seed

ARTIFACTS = ROOT / "test-artifacts" / "browser"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PHONE = {
    "viewport": {"width": 360, "height": 640},
    "device_scale_factor": 2,
    "is_mobile": True,
    "has_touch": True,
    "locale": "vi-VN",
}
TIMEOUT_MS = 10_000
# Anything not served by the test server: tiles are answered or failed, the rest aborted.
OUTSIDE = re.compile(r"^(?!https?://127\.0\.0\.1[:/])[a-z][a-z0-9+.-]*://", re.I)
# A 1×1 light grey PNG: a tile that loads without the internet.
TILE_PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4//8/AAX+Av4N70a4AAAAAElFTkSuQmCC"
)
SERVER_CONFIG = {
    "CONNECT_ENV": "development",
    "SECRET_KEY": "browser-test-secret",
    "BLUR_SECRET": "browser-test-blur-secret",
    "RATELIMIT_ENABLED": False,
    "DEMO_DATA": False,
    "READ_MODEL_SYNC_INTERVAL": 0.05,
    "SESSION_COOKIE_SECURE": False,  # served over plain http on 127.0.0.1
}


# -- the server -----------------------------------------------------------------------------


class LiveServer:
    """connect served by a threaded werkzeug server on 127.0.0.1 and a free port, with its
    outbox worker beside it (notifications arrive as in a deployment, within a poll)."""

    def __init__(self, app):
        from werkzeug.serving import WSGIRequestHandler, make_server

        from connect.outbox.worker import Worker

        class QuietHandler(WSGIRequestHandler):
            def log_request(self, *args, **kwargs):
                pass

        self.app = app
        self.errors = []
        self._server = make_server(
            "127.0.0.1", 0, app, threaded=True, request_handler=QuietHandler
        )
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="live-server", daemon=True
        )
        self._handler = _ErrorCollector(self.errors)
        app.logger.addHandler(self._handler)
        self.worker = Worker(app, poll_seconds=0.05)
        self._worker_thread = threading.Thread(
            target=self.worker.run, name="outbox-worker", daemon=True
        )

    def start(self):
        self._thread.start()
        self._worker_thread.start()
        return self

    def stop(self):
        self._server.shutdown()
        self._thread.join(10)
        self.worker.stop()
        self._worker_thread.join(10)
        self.app.logger.removeHandler(self._handler)

    def api(self):
        """A test client on the served app itself (same database, same read model)."""
        return self.app.test_client()


class _ErrorCollector(logging.Handler):
    """Keeps every error the app logs (an unhandled exception in a view among them)."""

    def __init__(self, errors):
        super().__init__(logging.ERROR)
        self.errors = errors

    def emit(self, record):
        self.errors.append(self.format(record))


@pytest.fixture(scope="module")
def live_server(sqlite_template, tmp_path_factory, fast_hasher):
    """A fresh migrated SQLite database per test module, served over real HTTP."""
    from connect import create_app
    from connect.accounts import services
    from connect.extensions import db

    from conftest import share_compiled_templates

    path = tmp_path_factory.mktemp("browser-db") / "connect.db"
    shutil.copyfile(sqlite_template, path)
    app = create_app({**SERVER_CONFIG, "SQLALCHEMY_DATABASE_URI": f"sqlite:///{path}"})
    share_compiled_templates(app)
    server = LiveServer(app).start()
    # Cheap hashing for the module's own seeding too (the per-test fixture comes later).
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(services, "_hasher", fast_hasher[0])
        patch.setattr(services, "_DUMMY_HASH", fast_hasher[1])
        yield server
    server.stop()
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture(autouse=True)
def _no_server_errors(request):
    """A browser test fails when the server logged an error while it ran."""
    if "live_server" not in request.fixturenames:
        yield
        return
    server = request.getfixturevalue("live_server")
    before = len(server.errors)
    yield
    new = server.errors[before:]
    assert not new, "the server logged errors:\n" + "\n\n".join(new)


# -- the browser ----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def playwright_driver():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:  # a skip is a failure under CI (tests/conftest.py)
        pytest.skip(f"playwright is not installed ({exc}); run `make test`")
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip(f"{CHROMIUM} is missing; run `make test` (apt package chromium)")
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="session")
def browser(playwright_driver):
    browser = playwright_driver.chromium.launch(
        executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
    )
    yield browser
    browser.close()


class Contexts:
    """Opens browser contexts for one test and closes them after it."""

    def __init__(self, browser, live_server):
        self.browser = browser
        self.server = live_server
        self.contexts = []
        self.outside_requests = []  # (url, what was done) for every non-local request
        self.page_errors = []  # uncaught JavaScript exceptions and console errors, by URL

    def new(self, geolocation=True, tiles="ok", locale="vi-VN", phone=True, javascript=True):
        """A fresh context: a phone (360×640) by default, geolocation granted at HOME.

        geolocation=False refuses permission; tiles="ok" serves a local PNG, "fail" aborts;
        javascript=False is a browser with scripts off.
        """
        options = dict(PHONE) if phone else {"viewport": {"width": 1280, "height": 800}}
        options.update(locale=locale, java_script_enabled=javascript)
        if geolocation:
            options.update(
                geolocation={"latitude": HOME[0], "longitude": HOME[1]},
                permissions=["geolocation", "clipboard-read", "clipboard-write"],
            )
        context = self.browser.new_context(base_url=self.server.url, **options)
        context.set_default_timeout(TIMEOUT_MS)
        context.set_default_navigation_timeout(TIMEOUT_MS)
        context.route(OUTSIDE, lambda route: self._outside(route, tiles))
        context.on("page", self._watch)
        self.contexts.append(context)
        return context

    def page(self, **options):
        return self.new(**options).new_page()

    def _watch(self, page):
        page.on("pageerror", lambda exc: self.page_errors.append(f"{page.url}: {exc}"))
        page.on("console", lambda message: self._console(page, message))

    def _console(self, page, message):
        # A resource that failed to load (a tile made to fail, a 404 favicon, a 422 form
        # answer) is reported by its own test; anything else logged as an error is a bug.
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            self.page_errors.append(f"{page.url}: console: {message.text}")

    def _outside(self, route, tiles):
        url = route.request.url
        if TILE_URL.search(url):
            if tiles == "ok":
                self.outside_requests.append((url, "tile served"))
                route.fulfill(status=200, content_type="image/png", body=TILE_PNG)
            else:
                self.outside_requests.append((url, "tile failed"))
                route.abort("internetdisconnected")
            return
        self.outside_requests.append((url, "aborted"))
        route.abort("blockedbyclient")

    def close(self):
        for context in self.contexts:
            context.close()


@pytest.fixture
def contexts(browser, live_server):
    """Factory of browser contexts; fails the test on uncaught JS errors or stray requests."""
    made = Contexts(browser, live_server)
    yield made
    made.close()
    assert not made.page_errors, "JavaScript errors:\n" + "\n".join(made.page_errors)
    stray = [url for url, what in made.outside_requests if what == "aborted"]
    assert not stray, "pages asked for outside resources (only map tiles may be):\n" + "\n".join(
        stray
    )


@pytest.fixture
def phone(contexts):
    """A page on a phone (360×640, Vietnamese, geolocation granted at Bac Giang)."""
    return contexts.page()


# -- screenshots ----------------------------------------------------------------------------


def _slug(text):
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-")[:120] or "step"


@pytest.fixture
def shot(request):
    """shot(page, "step name"): save test-artifacts/browser/<test>/<nn>-<step>.png."""
    folder = ARTIFACTS / _slug(request.node.name)
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    numbers = count(1)

    def take(page, name, full_page=True):
        path = folder / f"{next(numbers):02d}-{_slug(name)}.png"
        page.screenshot(path=str(path), full_page=full_page)
        return path

    return take


# -- axe-core and page weight ---------------------------------------------------------------


AXE_RESULTS = Results(ARTIFACTS / "axe-summary.json")
WEIGHT_RESULTS = Results(ARTIFACTS / "page-weights.json")


@pytest.fixture(scope="session")
def axe_results():
    return AXE_RESULTS


@pytest.fixture(scope="session")
def weight_results():
    return WEIGHT_RESULTS


@pytest.fixture
def axe_check(axe_results):
    """axe_check(page, "page name"): no serious or critical violations; all are recorded."""

    def check(page, name):
        violations = run_axe(page)["violations"]
        blocking = [v for v in violations if v["impact"] in ("serious", "critical")]
        axe_results.record(
            name,
            {
                "url": page.url,
                "violations": len(violations),
                "serious_or_critical": len(blocking),
                "by_rule": {
                    v["id"]: {"impact": v["impact"], "nodes": len(v["nodes"])} for v in violations
                },
            },
        )
        if violations:
            print(f"\naxe on {name} ({page.url}):\n{describe_violations(violations)}")
        assert not blocking, (
            f"axe-core: serious/critical violations on {name} ({page.url}):\n"
            + describe_violations(blocking)
        )
        return violations

    return check


@pytest.fixture
def weigh(contexts, seed, weight_results):
    """weigh(page name): open it (site_pages) in a fresh phone context with the cache off and
    return (bytes transferred, map tiles excluded; the page)."""
    from .site_pages import SITE_PAGES

    def measure(name, accept_encoding=None):
        context = contexts.new()
        page = context.new_page()
        meter = TransferMeter(context, page, accept_encoding)
        path = SITE_PAGES[name](page, seed)
        page.wait_for_load_state("networkidle")
        rows = meter.rows()
        total = sum(row["bytes"] for row in rows)
        key = f"{name} ({accept_encoding})" if accept_encoding else name
        weight_results.record(
            key,
            {
                "path": path,
                "bytes": total,
                "kb": round(total / 1024, 1),
                "resources": [
                    {
                        "url": row["url"].replace(contexts.server.url, ""),
                        "status": row["status"],
                        "bytes": row["bytes"],
                        "encoding": row["encoding"],
                    }
                    for row in rows
                ],
            },
        )
        return total, page

    return measure


def pytest_sessionstart(session):
    if not hasattr(session.config, "workerinput"):  # not an xdist worker
        AXE_RESULTS.reset()
        WEIGHT_RESULTS.reset()


def pytest_terminal_summary(terminalreporter):
    """Print the page weights (and axe results) measured in this run."""
    for title, results in (
        ("page weights (first load, map tiles excluded)", WEIGHT_RESULTS),
        ("axe-core", AXE_RESULTS),
    ):
        data = results.read()
        if not data:
            continue
        terminalreporter.section(title)
        for name, row in data.items():
            if "kb" in row:
                terminalreporter.write_line(
                    f"{name:<28} {row['kb']:>7.1f} KB  {len(row['resources']):>3} resources"
                    f"  {row['path']}"
                )
                continue
            rules = (
                ", ".join(
                    f"{rule} ({v['impact']}, {v['nodes']})" for rule, v in row["by_rule"].items()
                )
                or "none"
            )
            small = [t for t in row.get("small_tap_targets", []) if t["kind"] == "control"]
            terminalreporter.write_line(
                f"{name:<28} serious/critical {row['serious_or_critical']}, "
                f"all {row['violations']}: {rules}; tap targets < 44 px: {len(small)}; "
                f"library English: {len(row.get('library_english', []))}"
            )


# -- data made through the JSON API --------------------------------------------------------


@pytest.fixture
def seed(live_server):
    """Requests, volunteers, claims made through the served app's API (see seed.py)."""
    return Seed(live_server)
