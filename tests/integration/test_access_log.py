"""Access logs never contain a requester's manage token."""
from types import SimpleNamespace

from gunicorn.config import Config

from connect.gunicorn_logging import RedactingLogger


def test_manage_tokens_are_redacted_from_access_log_lines():
    """The request line and path of /m/<token> are logged as /m/[redacted]."""
    logger = RedactingLogger(Config())
    token = "pRAs188fBVOWJsQE7cVy7iwKl-wMlebchww5GGtm84w"
    environ = {"REQUEST_METHOD": "GET", "RAW_URI": f"/m/{token}/edit", "PATH_INFO":
               f"/m/{token}/edit", "QUERY_STRING": "", "SERVER_PROTOCOL": "HTTP/1.1",
               "REMOTE_ADDR": "127.0.0.1", "HTTP_REFERER": f"http://x/m/{token}"}
    req = SimpleNamespace(headers=[], method="GET", path=f"/m/{token}/edit", query="",
                          version=(1, 1), uri=f"/m/{token}/edit")
    resp = SimpleNamespace(status="200 OK", sent=10, headers=[], response_length=10)
    atoms = logger.atoms(resp, req, environ, SimpleNamespace(seconds=0, microseconds=1000))
    assert token not in repr(atoms)
    assert atoms["U"] == "/m/[redacted]/edit"
