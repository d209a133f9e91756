"""gunicorn's access log: one JSON line a request, with its request id, and no secrets."""

import io
import json
import logging
from datetime import timedelta
from types import SimpleNamespace

from gunicorn.config import Config

from connect.gunicorn_logging import RedactingLogger

TOKEN = "pRAs188fBVOWJsQE7cVy7iwKl-wMlebchww5GGtm84w"


def access_line(path, query="", headers=(), environ=None):
    """What the logger writes for one request (through its real handler and filters)."""
    config = Config()
    config.set("accesslog", "-")
    logger = RedactingLogger(config)
    stream = io.StringIO()
    handler = logger.access_log.handlers[0]
    handler.setStream(stream)
    environ = {
        "REQUEST_METHOD": "GET",
        "RAW_URI": path,
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        **(environ or {}),
    }
    resp = SimpleNamespace(
        status="200 OK",
        sent=10,
        response_length=10,
        headers=[("Content-Type", "text/html"), *headers],
    )
    logger.access(resp, SimpleNamespace(headers=[]), environ, timedelta(microseconds=1500))
    logging.getLogger("gunicorn.access").removeHandler(handler)
    (line,) = stream.getvalue().splitlines()
    return line, json.loads(line)


def test_manage_tokens_are_redacted_from_access_log_lines():
    """The path and referer of /m/<token> are logged as /m/[redacted]."""
    line, record = access_line(f"/m/{TOKEN}/edit", environ={"HTTP_REFERER": f"http://x/m/{TOKEN}"})
    assert TOKEN not in line
    assert record["message"] == "GET /m/[redacted]/edit 200"
    assert record["referer"] == "http://x/m/[redacted]"


def test_an_access_line_is_json_with_the_request_id_of_the_answer():
    line, record = access_line("/healthz", headers=[("X-Request-Id", "ab" * 16)])
    assert record["request_id"] == "ab" * 16 and record["logger"] == "gunicorn.access"
    assert record["status"] == 200 and record["bytes"] == 10
    assert record["duration_s"] == 0.0015 and record["remote_addr"] == "127.0.0.1"


def test_the_nearby_query_logs_a_rounded_position_only():
    """A volunteer's own position is in the nearby query: cut to 3 decimals (~100 m)."""
    line, record = access_line(
        "/api/v1/requests/nearby", "lat=21.273154&lon=106.194612&radius_m=5000"
    )
    assert "21.273154" not in line and "106.194612" not in line
    assert record["message"] == (
        "GET /api/v1/requests/nearby?lat=21.273&lon=106.194&radius_m=5000 200"
    )
