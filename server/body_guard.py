"""Request bodies are counted and timed as they arrive, whatever their framing.

A declared ``Content-Length`` over the limit is refused before anything is read. Bodies
without one (``Transfer-Encoding: chunked``) or that lie about it are counted message by
message: at the limit the application is told the client left, stops reading, and the
client gets 413. A body that trickles in (slower than the idle timeout between pieces, or
not finished by the total timeout) gets 408. Either way the connection is closed, so
nothing more is spooled to disk or memory.

A pure ASGI middleware (not ``BaseHTTPMiddleware``): it must see every ``receive`` call.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass

MULTIPART_SLACK = 64 * 1024  # form fields and part headers beside the files


# the routes that take file uploads; every other body is held to the smaller limit, whatever
# Content-Type the client claims
UPLOAD_ROUTES = frozenset({("POST", "/v1/voices"), ("POST", "/v1/tts/oneshot"),
                           ("POST", "/v1/frontend/audio")})


@dataclass(frozen=True)
class BodyLimits:
    upload_bytes: int  # upload routes: the uploaded files together, plus framing
    other_bytes: int  # JSON and any other body
    idle_seconds: float  # longest wait for the next piece of a body
    total_seconds: float  # longest time to receive a whole body

    def for_route(self, method: str, path: str) -> int:
        if (method, path.rstrip("/") or "/") in UPLOAD_ROUTES:
            return self.upload_bytes + MULTIPART_SLACK
        return self.other_bytes


async def _send_error(send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})


class BodyGuard:
    def __init__(self, app, limits: BodyLimits) -> None:
        self.app = app
        self.limits = limits

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        limit = self.limits.for_route(scope["method"], scope["path"])
        declared = headers.get(b"content-length", b"").decode("latin-1")
        if declared.isdigit() and int(declared) > limit:
            await _send_error(send, 413, f"the request is {declared} bytes; this route takes at "
                                         f"most {limit} bytes")
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.limits.total_seconds
        state = {"bytes": 0, "done": False, "started": False, "failure": None}

        async def guarded_receive():
            if state["done"]:  # the body is in: later calls wait for a disconnect, untimed
                return await receive()
            if state["failure"] is not None:
                return {"type": "http.disconnect"}
            wait = min(self.limits.idle_seconds, deadline - loop.time())
            try:
                message = await asyncio.wait_for(receive(), max(wait, 0.001))
            except TimeoutError:
                state["failure"] = (408, "the request body arrived too slowly; send it within "
                                         f"{self.limits.total_seconds:g} s, with no pause over "
                                         f"{self.limits.idle_seconds:g} s")
                return {"type": "http.disconnect"}
            if message["type"] == "http.request":
                state["bytes"] += len(message.get("body", b""))
                if state["bytes"] > limit:
                    state["failure"] = (413, f"the request body is over {limit} bytes, the "
                                             "limit of this route")
                    return {"type": "http.disconnect"}
                if not message.get("more_body", False):
                    state["done"] = True
            else:
                state["done"] = True
            return message

        async def guarded_send(message) -> None:
            if state["failure"] is not None:  # whatever the app answers, the client gets ours
                if not state["started"]:
                    state["started"] = True
                    await _send_error(send, *state["failure"])
                return
            if message["type"] == "http.response.start":
                state["started"] = True
            await send(message)

        try:
            await self.app(scope, guarded_receive, guarded_send)
        except Exception:
            if state["failure"] is None:
                raise
        if state["failure"] is not None and not state["started"]:
            state["started"] = True
            await _send_error(send, *state["failure"])
