"""gunicorn's error and access logs in the app's form (connect.logs): JSON lines with the
request id, through the redaction filter, so no manage link, token or exact point is written."""

import os

from gunicorn.glogging import Logger

from connect.logs import output_format, prepare


class RedactingLogger(Logger):
    """gunicorn's logger, its handlers prepared as the app's; one structured access line."""

    def setup(self, cfg):
        super().setup(cfg)
        form = output_format(os.environ.get("LOG_FORMAT"))
        for log in (self.error_log, self.access_log):
            for handler in log.handlers:
                prepare(handler, form)

    def access(self, resp, req, environ, request_time):
        """One line a request: what was asked and answered; the handler's filter redacts the
        path, query (the nearby query holds the caller's position), referer and agent."""
        if not self.access_log_enabled:
            return
        path = environ.get("PATH_INFO", "")
        query = environ.get("QUERY_STRING")
        url = f"{path}?{query}" if query else path
        method, status = environ.get("REQUEST_METHOD", "-"), str(resp.status).split(None, 1)[0]
        request_id = next(
            (value for name, value in resp.headers if name.lower() == "x-request-id"), "-"
        )
        self.access_log.info(
            "%s %s %s",
            method,
            url,
            status,
            extra={
                "request_id": request_id,
                "remote_addr": environ.get("REMOTE_ADDR", "-"),
                "status": int(status) if status.isdigit() else status,
                "bytes": getattr(resp, "sent", None),
                "duration_s": round(request_time.total_seconds(), 6),
                "referer": environ.get("HTTP_REFERER", "-"),
                "user_agent": environ.get("HTTP_USER_AGENT", "-"),
            },
        )
