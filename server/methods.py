"""HEAD and OPTIONS on the API's routes.

FastAPI routes answer only the methods they declare, so ``HEAD /healthz`` fell through to
the static mount (404) and ``OPTIONS /v1/voices`` got 405 from it. HEAD is answered as GET
without the body (headers, Content-Length included, unchanged); OPTIONS on an API path says
which methods it takes (204 with ``Allow``). CORS preflights never get here when CORS is on:
its middleware sits outside this one and answers them.
"""

from __future__ import annotations

from starlette.routing import Match, Mount

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


class HeadAndOptions:
    def __init__(self, app, routes: list) -> None:
        self.app = app
        self.routes = routes  # the app's route list (the same object: later routes count)

    def allowed(self, scope) -> set[str]:
        """The methods the API's routes take at this path (the static mount not counted)."""
        methods: set[str] = set()
        for route in self.routes:
            if isinstance(route, Mount):
                continue
            for method in METHODS:
                if route.matches({**scope, "method": method})[0] == Match.FULL:
                    methods.add(method)
        if "GET" in methods:
            methods.add("HEAD")
        return methods

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        methods = self.allowed(scope)
        if scope["method"] == "OPTIONS" and methods:
            allow = ", ".join(sorted(methods | {"OPTIONS"}))
            await send({"type": "http.response.start", "status": 204,
                        "headers": [(b"allow", allow.encode())]})
            await send({"type": "http.response.body", "body": b""})
            return
        if scope["method"] == "HEAD" and "GET" in methods:
            async def without_body(message) -> None:
                if message["type"] == "http.response.body":
                    message = {**message, "body": b""}
                await send(message)

            await self.app({**scope, "method": "GET"}, receive, without_body)
            return
        await self.app(scope, receive, send)
