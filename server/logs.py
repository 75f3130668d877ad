"""Structured logs: one JSON object per line, and one line per HTTP request."""

from __future__ import annotations

import json
import logging
import re
import sys
import time
import uuid

from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request

REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out = {"time": round(record.created, 3), "level": record.levelname,
               "logger": record.name, "message": record.getMessage()}
        out.update({k: v for k, v in vars(record).items() if k not in STANDARD})
        if record.exc_info:
            out["error"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)


def configure(json_lines: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if json_lines
                         else logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger("voiceadapt")
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    root.propagate = False


class RequestLog(BaseHTTPMiddleware):
    """Logs each request and counts it (method, route template, status) with its latency."""

    async def dispatch(self, request: Request, call_next):
        given = request.headers.get("x-request-id", "")
        # a client's id is echoed into headers and logs only when it is a plain token
        request_id = given if REQUEST_ID.fullmatch(given) else uuid.uuid4().hex[:12]
        start = time.perf_counter()
        status = 500
        try:
            response = await call_next(request)
            status = response.status_code
            response.headers["X-Request-Id"] = request_id
            return response
        finally:
            elapsed = time.perf_counter() - start
            route = getattr(request.scope.get("route"), "path", "unmatched")
            service = getattr(request.app.state, "service", None)
            if service is not None:
                service.metrics.requests.labels(request.method, route, str(status)).inc()
                service.metrics.latency.labels(route).observe(elapsed)
            logging.getLogger("voiceadapt.http").info(
                "%s %s %s", request.method, request.url.path, status,
                extra={"request_id": request_id, "route": route, "status": status,
                       "ms": round(1000 * elapsed, 1),
                       "owner": getattr(request.state, "owner", None)})
