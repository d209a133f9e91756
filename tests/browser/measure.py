"""What the browser tests measure: axe-core results and bytes transferred, per page."""

import fcntl
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
AXE_JS = ROOT / "node_modules" / "axe-core" / "axe.min.js"
# Map tiles: answered by the test (never from the internet) and left out of page weights.
TILE_URL = re.compile(r"tile\.openstreetmap\.org|/\d+/\d+/\d+\.png")


class Results:
    """Per-page results of the run, merged into a JSON file after each change (under a lock,
    so pytest-xdist workers add to one file; the controlling process empties it at start)."""

    def __init__(self, path):
        self.path = path
        self.data = {}

    def record(self, key, value):
        self.data[key] = value
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_suffix(".lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            merged = {**self.read(), **self.data}
            self.path.write_text(json.dumps(merged, indent=2, ensure_ascii=False) + "\n")

    def read(self):
        try:
            return json.loads(self.path.read_text())
        except (FileNotFoundError, ValueError):
            return {}

    def reset(self):
        self.data = {}
        self.path.unlink(missing_ok=True)
        self.path.with_suffix(".lock").unlink(missing_ok=True)


def run_axe(page):
    """Inject axe-core into the page and return its result (violations, passes, ...)."""
    if not AXE_JS.exists():
        pytest.fail(f"{AXE_JS} is missing: run `make test` (npm ci installs axe-core)")
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        # Evaluated through the driver: the page's CSP refuses an injected inline <script>.
        page.evaluate(AXE_JS.read_text())
    return page.evaluate("""async () => {
        const r = await axe.run(document, {resultTypes: ['violations']});
        return {violations: r.violations.map(v => ({
            id: v.id, impact: v.impact, help: v.help, helpUrl: v.helpUrl,
            nodes: v.nodes.map(n => ({target: n.target, html: n.html,
                                       summary: n.failureSummary}))}))};
    }""")


def describe_violations(violations):
    lines = []
    for v in violations:
        lines.append(f"[{v['impact']}] {v['id']}: {v['help']} ({v['helpUrl']})")
        for node in v["nodes"]:
            lines.append(f"    {' '.join(map(str, node['target']))}: {node['html'][:200]}")
            if node.get("summary"):
                lines.append("      " + node["summary"].replace("\n", "\n      "))
    return "\n".join(lines)


class TransferMeter:
    """Bytes received per response over CDP (Network.loadingFinished encodedDataLength)."""

    def __init__(self, context, page, accept_encoding=None):
        self.requests = {}
        self.finished = {}
        self.cdp = context.new_cdp_session(page)
        self.cdp.on("Network.responseReceived", self._response)
        self.cdp.on("Network.loadingFinished", self._finished)
        self.cdp.on("Network.loadingFailed", self._failed)
        self.cdp.send("Network.enable")
        self.cdp.send("Network.setCacheDisabled", {"cacheDisabled": True})
        if accept_encoding:  # e.g. an older phone browser without zstd or brotli
            self.cdp.send(
                "Network.setExtraHTTPHeaders", {"headers": {"Accept-Encoding": accept_encoding}}
            )

    def _response(self, event):
        response = event["response"]
        self.requests[event["requestId"]] = {
            "url": response["url"],
            "status": response["status"],
            "type": event.get("type", ""),
            "encoding": {k.lower(): v for k, v in response.get("headers", {}).items()}.get(
                "content-encoding", ""
            ),
        }

    def _finished(self, event):
        self.finished[event["requestId"]] = int(event["encodedDataLength"])

    def _failed(self, event):
        self.finished.setdefault(event["requestId"], 0)

    def rows(self, exclude=TILE_URL):
        rows = []
        for request_id, size in self.finished.items():
            info = self.requests.get(
                request_id, {"url": "?", "status": 0, "type": "", "encoding": ""}
            )
            if exclude.search(info["url"]) or (info["url"] == "?" and not size):
                continue
            rows.append({**info, "bytes": size})
        return sorted(rows, key=lambda row: -row["bytes"])
